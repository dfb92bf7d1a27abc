// Times the forms of the price pass's inner loop with one offer per family (`SubProblemSolver.keepFamilyBests`):
// per entry `v = base − price[slot] − fixed`, and each family keeps its best positive entry (the first of
// equal values). Synthetic entries: 1 M customers, each offer of 32 eligible with probability 0.78 (about 25
// entries), 4 channel masks per offer, 8 families; `grouped` puts an offer's family in runs of 4 offers in a
// row (the generator's catalogue interleaves families, as `interleaved` does). Each form also picks the
// best families (3) and clears the tables per customer, as the pass does: by comparing values and indices
// (`pick`, the first release's) or by one key per family (`pickKeyed`, the pass's now).
//
//     swiftc -O -Xllvm -x86-cmov-converter=false bench/tools/family_best.swift -o /tmp/family-best
//     /tmp/family-best interleaved; /tmp/family-best grouped
//
// (`-x86-cmov-converter=false` as NextBestCore is built; bench/RESULTS.md has the forms built without it
// too.) Results: bench/RESULTS.md (2026-12-07, fifteenth session).
import Foundation

let customers = 1_000_000, offers = 32, families = 8, picks = 3
let grouped = CommandLine.arguments.dropFirst().first == "grouped"
var rng = SystemRandomNumberGenerator()
var offsets: [Int] = [0], bases: [Double] = [], slots: [UInt16] = []
for _ in 0..<customers {
    for o in 0..<offers where Int.random(in: 0..<100, using: &rng) < 78 {
        bases.append(Double.random(in: -50...200, using: &rng))
        slots.append(UInt16(o * 4 + Int.random(in: 0..<4, using: &rng)))
    }
    offsets.append(bases.count)
}
let slotFamily = (0..<offers * 4).map { s in UInt8(grouped ? (s / 4) / 4 : (s / 4) % families) }
let price = (0..<offers * 4).map { _ in Double.random(in: 0...60, using: &rng) }
// The tables through pointers, as the pass reads them (a global array's every read is checked).
let pricePointer = UnsafeMutablePointer<Double>.allocate(capacity: price.count)
pricePointer.initialize(from: price, count: price.count)
let familyPointer = UnsafeMutablePointer<UInt8>.allocate(capacity: slotFamily.count)
familyPointer.initialize(from: slotFamily, count: slotFamily.count)
let offsetPointer = UnsafeMutablePointer<Int>.allocate(capacity: offsets.count)
offsetPointer.initialize(from: offsets, count: offsets.count)

/// One customer's family bests as the first release kept them: a select of the value (compiled as a
/// conditional store, a branch per entry).
@inline(__always) func select(_ b: UnsafePointer<Double>, _ s: UnsafePointer<UInt16>, _ n: Int, _ fixed: Double,
                              _ best: UnsafeMutablePointer<Double>, _ index: UnsafeMutablePointer<Int32>) {
    let price = pricePointer, slotFamily = familyPointer
    for k in 0..<n {
        let slot = Int(s[k]), v = b[k] - price[slot] - fixed, f = Int(slotFamily[slot])
        let current = best[f], better = v > current
        best[f] = better ? v : current
        index[f] = better ? Int32(truncatingIfNeeded: k) : index[f]
    }
}

/// Written at its family's place or at the spare one (`families`): the place is a conditional move.
@inline(__always) func place(_ b: UnsafePointer<Double>, _ s: UnsafePointer<UInt16>, _ n: Int, _ fixed: Double,
                             _ best: UnsafeMutablePointer<Double>, _ index: UnsafeMutablePointer<Int32>, from: Int = 0) {
    let price = pricePointer, slotFamily = familyPointer
    for k in 0..<n {
        let slot = Int(s[k]), v = b[k] - price[slot] - fixed, f = Int(slotFamily[slot])
        let to = v > best[f] ? f : families
        best[to] = v; index[to] = Int32(truncatingIfNeeded: from + k)
    }
}

/// The first `picks` families by value (ties: the earlier entry); clears the tables.
@inline(__always) func pick(_ best: UnsafeMutablePointer<Double>, _ index: UnsafeMutablePointer<Int32>) -> Double {
    var total = 0.0
    for _ in 0..<picks {
        var bf = -1, bv = 0.0, bi = Int32.max
        for f in 0..<families where index[f] >= 0 {
            if best[f] > bv || (best[f] == bv && index[f] < bi) { bf = f; bv = best[f]; bi = index[f] }
        }
        if bf < 0 { break }
        total += bv + Double(bi); best[bf] = 0; index[bf] = -1
    }
    for f in 0..<families { best[f] = 0; index[f] = -1 }
    return total
}

/// The pick as the pass makes it now (`SubProblemSolver.pickFamilyBests`): one 128-bit key per family (its
/// value's bits, then its entry reversed), the largest found by conditional moves; clears the tables.
@inline(__always) func pickKeyed(_ best: UnsafeMutablePointer<Double>, _ index: UnsafeMutablePointer<Int32>) -> Double {
    withUnsafeTemporaryAllocation(of: UInt128.self, capacity: families) { keys in
        for f in 0..<families {
            let i = index[f]
            let key = UInt128(best[f].bitPattern) << 64 | UInt128(UInt32(bitPattern: Int32.max &- i))
            keys[f] = i >= 0 ? key : 0
            best[f] = 0; index[f] = -1
        }
        var total = 0.0
        for _ in 0..<picks {
            var bk: UInt128 = 0, bf = 0
            for f in 0..<families { let k = keys[f], larger = k > bk; bk = larger ? k : bk; bf = larger ? f : bf }
            if bk == 0 { break }
            total += Double(bitPattern: UInt64(truncatingIfNeeded: bk >> 64)) + Double(Int32.max &- Int32(bitPattern: UInt32(truncatingIfNeeded: bk)))
            keys[bf] = 0
        }
        return total
    }
}

func time(_ name: String, _ body: (UnsafePointer<Double>, UnsafePointer<UInt16>, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Int32>) -> Double) {
    let best = UnsafeMutablePointer<Double>.allocate(capacity: 2 * (families + 1)), index = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * (families + 1))
    best.initialize(repeating: 0, count: 2 * (families + 1)); index.initialize(repeating: -1, count: 2 * (families + 1))
    var fastest = Double.infinity, sum = 0.0
    for _ in 0..<5 {
        let t = Date()
        sum = bases.withUnsafeBufferPointer { b in slots.withUnsafeBufferPointer { s in body(b.baseAddress!, s.baseAddress!, best, index) } }
        fastest = min(fastest, Date().timeIntervalSince(t))
    }
    print(String(format: "%-36@ %.3f s  %.1f ns per entry  (%.0f)", name as NSString, fastest, fastest * 1e9 / Double(bases.count), sum))
}

print("\(bases.count) entries, families \(grouped ? "grouped" : "interleaved")")
typealias Pick = (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Int32>) -> Double

/// One customer at a time with `keep`, then `pick`.
func oneByOne(_ pick: @escaping Pick, _ keep: @escaping (UnsafePointer<Double>, UnsafePointer<UInt16>, Int, Double, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Int32>) -> Void)
    -> (UnsafePointer<Double>, UnsafePointer<UInt16>, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Int32>) -> Double {
    { b, s, best, index in
        let offsets = offsetPointer
        var sum = 0.0
        for c in 0..<customers {
            keep(b + offsets[c], s + offsets[c], offsets[c + 1] - offsets[c], 1.5, best, index)
            sum += pick(best, index)
        }
        return sum
    }
}
time("select (the first release)", oneByOne({ pick($0, $1) }) { select($0, $1, $2, $3, $4, $5) })
time("place", oneByOne({ pick($0, $1) }) { place($0, $1, $2, $3, $4, $5) })
time("place, keyed pick", oneByOne({ pickKeyed($0, $1) }) { place($0, $1, $2, $3, $4, $5) })
/// Two customers at a time, entry by entry, then `pick` for each.
func twoAtOnce(_ pick: @escaping Pick) -> (UnsafePointer<Double>, UnsafePointer<UInt16>, UnsafeMutablePointer<Double>, UnsafeMutablePointer<Int32>) -> Double {
    { b, s, best, index in
        let best2 = best + families + 1, index2 = index + families + 1
        let price = pricePointer, slotFamily = familyPointer, offsets = offsetPointer
        var sum = 0.0, c = 0
        while c + 1 < customers {
            let lo = offsets[c], mid = offsets[c + 1], hi = offsets[c + 2]
            let n = mid - lo, n2 = hi - mid, common = min(n, n2)
            for k in 0..<common {
                let slot = Int(s[lo + k]), slot2 = Int(s[mid + k])
                let v = b[lo + k] - price[slot] - 1.5, v2 = b[mid + k] - price[slot2] - 1.5
                let f = Int(slotFamily[slot]), f2 = Int(slotFamily[slot2])
                let to = v > best[f] ? f : families, to2 = v2 > best2[f2] ? f2 : families
                best[to] = v; index[to] = Int32(truncatingIfNeeded: k)
                best2[to2] = v2; index2[to2] = Int32(truncatingIfNeeded: k)
            }
            place(b + lo + common, s + lo + common, n - common, 1.5, best, index, from: common)
            place(b + mid + common, s + mid + common, n2 - common, 1.5, best2, index2, from: common)
            sum += pick(best, index) + pick(best2, index2)
            c += 2
        }
        if c < customers {
            place(b + offsets[c], s + offsets[c], offsets[c + 1] - offsets[c], 1.5, best, index)
            sum += pick(best, index)
        }
        return sum
    }
}
time("place, two customers at once", twoAtOnce { pick($0, $1) })
time("place, two at once, keyed pick (the pass)", twoAtOnce { pickKeyed($0, $1) })
