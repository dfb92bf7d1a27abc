import Foundation
import Testing
@testable import NextBestCore

/// The summary's propensity bins, counted without branches, are the binary search's.
@Suite struct PropensityBinsTests {
    /// The binary search the bins used before, kept here as the reference.
    static func searchedBin(_ p: Double, _ e: [Double]) -> Int {
        var lo = 0, hi = e.count - 2
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if p >= e[mid] { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    @Test func binsAreTheBinarySearchsBins() {
        let e = RunTotals.propensityEdges
        var ps: [Double] = [.nan, -.infinity, .infinity, -1, 2, -0.0]
        for edge in e { ps += [edge, edge.nextUp, edge.nextDown] }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<100_000 { ps.append(Double(Float.random(in: 0...1, using: &rng))) }
        for _ in 0..<10_000 { ps.append(Double.random(in: 0...0.02, using: &rng)) }
        for p in ps {
            let want = Self.searchedBin(p, e), got = RunTotals.bin(p)
            if got != want { Issue.record("propensity \(p): bin \(got), the search's \(want)"); return }
        }
        #expect(RunTotals.bin(1.0) == RunTotals.binCount - 1)
        #expect(RunTotals.bin(0) == 0)
    }
}
