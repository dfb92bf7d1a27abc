import Foundation
import NextBestCore
import NextBestStore
import NextBestTestKit
import Testing

/// Fixture stores for the run tests (see `FixtureStore`).
enum ClusterFixtures {
    static var root: String { FixtureStore.root }
    static func tempDir(_ name: String = "t") -> String { FixtureStore.tempDir(name) }
    static func store(campaign: String? = nil) throws -> (Store, String) { try FixtureStore.make(campaign: campaign) }
}

extension ClusterFixtures {
    /// Where two nba.csv texts first differ (line number and both lines), with the run's summary facts that
    /// explain a difference (recovery, passes), for a failed comparison's message; nil when equal.
    static func difference(_ got: String, _ want: String, summary: String = "") -> String? {
        guard got != want else { return nil }
        let g = got.split(separator: "\n", omittingEmptySubsequences: false), w = want.split(separator: "\n", omittingEmptySubsequences: false)
        let i = (0..<min(g.count, w.count)).first { g[$0] != w[$0] } ?? min(g.count, w.count)
        let line = { (l: [Substring]) in i < l.count ? String(l[i]) : "(end)" }
        let facts = ["\"recovery\"", "\"rounds\"", "\"passes\"", "\"objective\"", "\"messages\""].compactMap { key in
            summary.range(of: key).map { r in String(summary[r.lowerBound...].prefix(160)).replacingOccurrences(of: "\n", with: " ") }
        }
        let differing = zip(g, w).filter { $0 != $1 }.count
        return "nba.csv differs from line \(i + 1) (\(differing) of \(w.count) lines differ, \(g.count) against \(w.count) lines): got \(line(g)) want \(line(w)); " + facts.joined(separator: "; ")
    }
}

/// Expects `got` to be `want` byte for byte; a difference is reported by its first differing line and the
/// run's recovery and passes (`ClusterFixtures.difference`), not as two whole files.
func expectSameNBA(_ got: String, _ want: String, _ what: String = "", summary: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    let d = ClusterFixtures.difference(got, want, summary: summary)
    #expect(d == nil, "\(what) \(d ?? "")", sourceLocation: sourceLocation)
}

/// The comparison message the cluster tests give when an nba.csv differs.
@Suite struct DifferenceMessageTests {
    @Test func namesTheFirstDifferingLineAndTheSummaryFacts() {
        #expect(ClusterFixtures.difference("a\nb\n", "a\nb\n") == nil)
        let m = ClusterFixtures.difference("h\n1,1,O1\n2,1,O2\n", "h\n1,1,O1\n2,1,O3\n", summary: "{\"recovery\": {\"shards_requeued\": 1}}") ?? ""
        #expect(m.contains("from line 3") && m.contains("got 2,1,O2 want 2,1,O3") && m.contains("1 of 4 lines differ"), "\(m)")
        #expect(m.contains("\"recovery\": {\"shards_requeued\": 1}"), "\(m)")
        #expect(ClusterFixtures.difference("h\n", "h\nx\n")?.contains("from line 2") == true)
    }
}
