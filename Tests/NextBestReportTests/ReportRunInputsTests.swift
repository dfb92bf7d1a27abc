import Foundation
import Testing
import NextBestReport

/// The report says when the run started, which nextbest ran it and which campaign and model versions it used
/// (issue 25), from `started`, `nextbest_version`, `campaign_version` and `model_versions` of `summary.json`.
@Suite struct ReportRunInputsTests {
    @Test func theRunTableNamesTheStartTheSoftwareAndTheVersions() throws {
        let json = #"""
        {"run_id": "00000000000000b2", "started": "2026-12-06T02:00:00.125Z", "nextbest_version": "nextbest 0.4",
         "campaign_version": 3, "model_versions": {"m_a": 2, "m_b": 7}, "customers": 10}
        """#
        let html = try ReportPage.render(summaryJSON: json, title: "Run report")
        #expect(html.contains("<th>Started</th><td>2026-12-06T02:00:00.125Z</td>") || html.contains(">2026-12-06T02:00:00.125Z<"))
        #expect(html.contains("nextbest 0.4"))
        #expect(html.contains("m_a v2, m_b v7"))
        #expect(html.contains("started 2026-12-06T02:00:00.125Z"))
        // A summary without them (an older run's) still renders, without those rows.
        let old = try ReportPage.render(summaryJSON: #"{"run_id": "00000000000000a1", "customers": 10}"#, title: "r")
        #expect(!old.contains("Model versions") && !old.contains("Campaign version"))
    }
}
