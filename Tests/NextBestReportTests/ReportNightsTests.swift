import Foundation
import Testing
import NextBestReport

/// The report's "Since last night" and "Trend over the kept nights" sections, drawn from `since_last_night`
/// and `trend` as a run writes them in `summary.json` (`RunComparison.json`, `RunComparison.trendJSON`).
@Suite struct ReportNightsTests {
    static let summary = #"""
    {
      "objective": "expected_value",
      "customers": 10,
      "offers_made": 12,
      "by_offer": {"O1": 7, "O2": 5},
      "run_id": "00000000000000b2",
      "since_last_night": {
        "run_a": {"run_id": "00000000000000a1", "started": "2026-12-05T02:00:00Z"},
        "run_b": {"run_id": "00000000000000b2", "started": "2026-12-06T02:00:00Z"},
        "objective": {"a": 100.5, "b": 110.25, "delta": 9.75},
        "gap": {"a": 0.0001, "b": 0.0002},
        "offers_made": {"a": 10, "b": 12, "delta": 2},
        "top_offer": {"customers": 9, "changed": 3, "share": 0.333333, "gained": 1, "lost": 0},
        "by_product": [{"name": "loans", "a": 10, "b": 12, "delta": 2}],
        "by_offer": [{"name": "O1", "a": 4, "b": 7, "delta": 3}, {"name": "O2 <x>", "a": 6, "b": 5, "delta": -1}],
        "by_channel": [{"name": "email", "a": 10, "b": 12, "delta": 2}],
        "by_region": [], "by_segment": [],
        "psi": null,
        "constraints": [],
        "notes": []
      },
      "trend": [
        {"run_id": "00000000000000a1", "started": "2026-12-05T02:00:00Z", "objective": 100.5, "gap": 0.0001,
         "customers_with_offers": 8, "offers_made": 10, "by_offer": {"O1": 4, "O2 <x>": 6}},
        {"run_id": "00000000000000b2", "started": "2026-12-06T02:00:00Z", "objective": 110.25, "gap": 0.0002,
         "customers_with_offers": 9, "offers_made": 12, "by_offer": {"O1": 7, "O2 <x>": 5}}
      ]
    }
    """#

    func section(_ id: String, _ html: String) -> String? {
        html.components(separatedBy: "<section id=\"\(id)\">").dropFirst().first?.components(separatedBy: "</section>").first
    }

    @Test func sinceLastNightAndTrendRender() throws {
        let html = try ReportPage.render(summaryJSON: Self.summary, title: "Run report")
        let since = try #require(section("since", html))
        #expect(since.contains(">Since last night<"))
        #expect(since.contains("00000000000000a1") && since.contains("3 of 9 customers with a list (33.33 %)"))
        #expect(since.contains("10 → 12 (+2)") && since.contains("100.50 → 110.25 (+9.75)"))
        // The offer mix, largest change first, names escaped.
        let o1 = try #require(since.range(of: ">O1<")), o2 = try #require(since.range(of: "O2 &lt;x&gt;"))
        #expect(o1.lowerBound < o2.lowerBound && since.contains(">+3<") && since.contains(">−1<"))
        #expect(since.contains("nextbest runs compare previous latest"), "no PSI: the section says where to find it")
        let trend = try #require(section("trend", html))
        #expect(trend.contains("Objective per night") && trend.contains("Offers made per night"))
        #expect(trend.components(separatedBy: "<svg").count - 1 == 2)
        #expect(trend.contains("00000000000000b2") && trend.contains("Night 2") && trend.contains("110.25"))
        // Both sections are in the navigation, before the stage timings' place.
        #expect(html.contains("href=\"#since\"") && html.contains("href=\"#trend\""))
    }

    @Test func largestPSIIsShownWhenPresent() throws {
        let withPSI = Self.summary.replacingOccurrences(of: "\"psi\": null", with: #"""
        "psi": {"bins": 10, "epsilon": 0.0001, "offers": [
          {"offer_id": "O1", "model": "m1", "psi": 0.031, "customers_a": 10, "customers_b": 10},
          {"offer_id": "O2", "model": "m2", "psi": 0.4, "customers_a": 10, "customers_b": 10}]}
        """#)
        let since = try #require(section("since", try ReportPage.render(summaryJSON: withPSI, title: "r")))
        #expect(since.contains("Largest propensity shifts") && since.contains("large shift") && since.contains("0.4000"))
        #expect(!since.contains("nextbest runs compare previous latest"))
        let m2 = try #require(since.range(of: ">m2<")), m1 = try #require(since.range(of: ">m1<"))
        #expect(m2.lowerBound < m1.lowerBound)
    }

    @Test func firstNightSaysThereIsNothingToCompare() throws {
        let html = try ReportPage.render(summaryJSON: #"{"run_id": "00000000000000a1", "since_last_night": null, "trend": []}"#, title: "r")
        #expect(section("since", html)?.contains("nothing to compare with yet") == true)
        #expect(section("trend", html) == nil)
        // A summary without the fields (a one-process run) has neither section.
        let plain = try ReportPage.render(summaryJSON: #"{"customers": 3}"#, title: "r")
        #expect(section("since", plain) == nil && section("trend", plain) == nil)
    }
}
