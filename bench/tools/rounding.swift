// Times three ways to round a Double half away from zero to an Int64 (what `RunTotals.micros` and
// `FixedDecimal.code` do per customer and per printed number): the C library's `round` (what Swift's
// `rounded(.toNearestOrAwayFromZero)` calls on the x86-64 baseline), the integer part and a branch on the
// fraction, and the integer part and the step as a flag (`FixedDecimal.nearest`).
//
//     swiftc -O bench/tools/rounding.swift -o /tmp/rounding && /tmp/rounding
//
// Results: bench/RESULTS.md (2026-12-07, fourteenth session).
import Foundation

@inline(__always) func viaRound(_ v: Double) -> Int64 { Int64(v.rounded(.toNearestOrAwayFromZero)) }
@inline(__always) func viaBranch(_ v: Double) -> Int64 {
    let i = Int64(v), f = v - Double(i)
    return f >= 0.5 ? i &+ 1 : (f <= -0.5 ? i &- 1 : i)
}
@inline(__always) func viaFlag(_ v: Double) -> Int64 {
    let i = Int64(v), f = v - Double(i)
    let up: Int64 = f >= 0.5 ? 1 : 0, down: Int64 = f <= -0.5 ? 1 : 0
    return i &+ up &- down
}

var g = SystemRandomNumberGenerator()
// Money in micro-units, as the passes round it: fractions spread evenly, so a branch on them is a coin toss.
let xs = (0..<10_000_000).map { _ in Double.random(in: -1000...1000, using: &g) * 1_000_000 }
func time(_ name: String, _ f: (Double) -> Int64) {
    var best = Double.infinity, sum: Int64 = 0
    for _ in 0..<5 {
        let t = Date()
        for x in xs { sum &+= f(x) }
        best = min(best, Date().timeIntervalSince(t))
    }
    print(name, String(format: "%.2f ns per value", best / Double(xs.count) * 1e9), "(checksum \(sum))")
}
time("round  ", viaRound)
time("branch ", viaBranch)
time("flag   ", viaFlag)
