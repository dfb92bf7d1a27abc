import Foundation
import Testing
import NextBestReport

/// The report says when the run started, which nextbest ran it and which campaign and model versions it used
/// (issue 25), from `started`, `nextbest_version`, `campaign_version` and `model_versions` of `summary.json`.
@Suite struct ReportRunInputsTests {
    @Test func theRunTableNamesTheStartTheSoftwareAndTheVersions() throws {
        let json = #"""
        {"run_id": "00000000000000b2", "started": "2026-12-06T02:00:00.125Z", "nextbest_version": "nextbest 0.4",
         "campaign_version": 3, "model_versions": {"m_a": 2, "m_b": 7}, "served_responses_through": 42, "customers": 10}
        """#
        let html = try ReportPage.render(summaryJSON: json, title: "Run report")
        #expect(html.contains("<th>Started</th><td>2026-12-06T02:00:00.125Z</td>") || html.contains(">2026-12-06T02:00:00.125Z<"))
        #expect(html.contains("nextbest 0.4"))
        #expect(html.contains("m_a v2, m_b v7"))
        #expect(html.contains("up to #42") && !html.contains("Other fields"))
        #expect(html.contains("started 2026-12-06T02:00:00.125Z"))
        // A summary without them (an older run's) still renders, without those rows.
        let old = try ReportPage.render(summaryJSON: #"{"run_id": "00000000000000a1", "customers": 10}"#, title: "r")
        #expect(!old.contains("Model versions") && !old.contains("Campaign version"))
    }

    /// The presolve's passes get their own chart (scaled to the population), so a cold run's convergence is not
    /// one point at 1 M customers.
    @Test func thePresolvePassesAreCharted() throws {
        let json = #"""
        {"run_id": "00000000000000b2", "optimization": {"objective": 10, "rounds": 1,
          "history": [{"round": 1, "dual": 11, "relaxed_primal": 12, "max_violation": 0}],
          "presolve": {"sample_modulus": 4, "rounds": 3, "seconds": 0.1, "levels": [
            {"sample_modulus": 64, "passes": 1, "seconds": 0.01, "history": [{"round": 1, "dual": 0.2, "relaxed_primal": 0.1, "max_violation": 0.5}]},
            {"sample_modulus": 4, "passes": 2, "seconds": 0.09, "history": [{"round": 1, "dual": 2.9, "relaxed_primal": 2.5, "max_violation": 0.1},
                                                                            {"round": 2, "dual": 2.8, "relaxed_primal": 2.7, "max_violation": 0}]}]}}}
        """#
        let html = try ReportPage.render(summaryJSON: json, title: "r")
        #expect(html.contains("Presolve passes on samples (1 in 64, then 1 in 4 customers)"))
        let without = try ReportPage.render(summaryJSON: #"{"optimization": {"objective": 10, "history": [{"round": 1, "dual": 11, "relaxed_primal": 12, "max_violation": 0}]}}"#, title: "r")
        #expect(!without.contains("Presolve passes on samples"))
    }
}
