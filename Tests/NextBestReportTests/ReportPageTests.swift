import Foundation
import Testing
import NextBestReport

/// `report.html` from a summary: self-contained (nothing from the network), one chart per expected section,
/// text escaped, missing fields tolerated, non-objects refused, and the same bytes for the same summary.
@Suite struct ReportPageTests {
    /// A small, consistent summary with every field the page knows: 12 offers to 8 of 10 customers, the
    /// first product named with HTML metacharacters, categories deliberately not in alphabetical order.
    static let full = #"""
    {
      "objective": "expected_value",
      "customers": 10,
      "customers_with_offers": 8,
      "offers_made": 12,
      "total_expected_value": 1234567.89,
      "total_cost": 60.00,
      "expected_responses": 1.75,
      "fatigue_exclusions": 2,
      "by_product": {"zeta_loan": 5, "cards <script>&\"x\"": 7},
      "by_region": {"north": 8, "south": 4},
      "by_segment": {"young": 12},
      "by_channel": {"email": 9, "sms": 3},
      "by_offer": {"O2": 5, "O1": 7},
      "run_id": "00ff00ff00ff00ff",
      "resumed": false,
      "rescored_from": null,
      "models_rescored": [],
      "customers_changed": null,
      "optimization": {
        "objective": 1234567.8900, "dual_bound": 1234600.0000, "gap": 0.00002601, "rounds": 3,
        "relaxed_objective": 1234580.0000, "round_seconds": 0.120, "repair_seconds": 0.010,
        "history": [
          {"round": 1, "dual": 1300000.0000, "relaxed_primal": 1100000.0000, "max_violation": 0.500000},
          {"round": 2, "dual": 1250000.0000, "relaxed_primal": 1200000.0000, "max_violation": 0.000000},
          {"round": 3, "dual": 1234600.0000, "relaxed_primal": 1234580.0000, "max_violation": 0.001000}
        ],
        "constraints": [
          {"key": "constraints.budget", "kind": "budget", "name": "budget", "used": 60.00, "min": null, "max": 60.00, "price": 2.500000},
          {"key": "constraints.regions.north", "kind": "region", "name": "north", "used": 8, "min": 2, "max": null, "price": 0.000000}
        ]
      },
      "propensity_by_offer": {"bin_edges": [0, 0.5, 1.0], "offers": {"O2": [2, 3], "O1": [3, 4]}},
      "store": "work/store",
      "shards": 2,
      "workers": 2,
      "messages": {"received": 10, "sent": 12, "dropped": 0, "workers_refused": 0},
      "shard_latency": {"unit": "ms", "count": 2, "mean": 10.5, "p50": 10.0, "p90": 11.0, "p99": 11.0, "p999": 11.0,
                        "max": 11.0, "histogram": [{"le_ms": 15.0, "count": 2}]},
      "recovery": {"shards_requeued": 0, "straggler_copies": 0, "shards_restored": 0},
      "timings_seconds": {"plan": 0.100, "score": 0.200, "optimize": 0.150, "write": 0.010, "total": 0.500}
    }
    """#

    /// The page's sections by id, each with its HTML.
    func sections(_ html: String) -> [String: String] {
        var out: [String: String] = [:]
        for part in html.components(separatedBy: "<section id=\"").dropFirst() {
            let id = String(part.prefix { $0 != "\"" })
            out[id] = part.components(separatedBy: "</section>")[0]
        }
        return out
    }

    func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    @Test func nothingComesFromTheNetwork() throws {
        let html = try ReportPage.render(summaryJSON: Self.full, title: "Run report")
        #expect(!html.contains("http://") && !html.contains("https://"))
        #expect(!html.contains("src=") && !html.contains("<script") && !html.contains("<link") && !html.contains("@import"))
        #expect(html.contains("Content-Security-Policy") && html.contains("default-src 'none'"))
        // Links are only to the page's own sections.
        for href in html.components(separatedBy: "href=\"").dropFirst() { #expect(href.hasPrefix("#")) }
    }

    @Test func oneChartPerExpectedSection() throws {
        let html = try ReportPage.render(summaryJSON: Self.full, title: "Run report")
        let s = sections(html)
        let charts = ["summary": 1, "convergence": 2, "constraints": 1, "offers": 5, "propensity": 1, "timings": 2]
        #expect(Set(s.keys) == Set(charts.keys))
        for (id, n) in charts { #expect(count("<svg", in: s[id] ?? "") == n, "section \(id)") }
        #expect(count("<svg", in: html) == 12 && count("</svg>", in: html) == 12)
        for heading in ["Run summary", "Optimization convergence", "Constraint use against limits", "Offers made by category",
                        "Propensity distribution per offer", "Stage timings", "By product", "Shard latency", "Messages", "Recovery"] {
            #expect(html.contains(">\(heading)<"), "heading \(heading)")
        }
        // Readable numbers, categories in the order given, and "total" only as text.
        #expect(html.contains("1,234,567.89") && html.contains("0.0026 %"))
        let zeta = try #require(html.range(of: "zeta_loan")), cards = try #require(html.range(of: "cards &lt;script"))
        #expect(zeta.lowerBound < cards.lowerBound)
        let timings = s["timings"] ?? ""
        #expect(timings.contains("Total wall time") && timings.contains("0.500 s") && !timings.contains(">Total<"))
        #expect(s["constraints"]?.contains("binding") == true)
    }

    @Test func textIsEscaped() throws {
        let html = try ReportPage.render(summaryJSON: Self.full, title: "Bank <b>&\"ops\"")
        #expect(!html.contains("<script>") && !html.contains("<b>"))
        #expect(html.contains("cards &lt;script&gt;&amp;&quot;x&quot;"))
        #expect(html.contains("<title>Bank &lt;b&gt;&amp;&quot;ops&quot;</title>"))
    }

    @Test func missingFieldsAreLeftOut() throws {
        // A one-process run: no run id, workers, messages, latency, recovery or propensities.
        let html = try ReportPage.render(summaryJSON: #"{"objective": "responses", "customers": 5, "offers_made": 3, "by_channel": {"email": 3}}"#,
                                         title: "One process")
        let s = sections(html)
        #expect(Set(s.keys) == ["summary", "offers", "propensity"])
        #expect(count("<svg", in: html) == 1)
        #expect(s["propensity"]?.contains("no propensity_by_offer field") == true)
        #expect(html.contains("One-process run"))
        let empty = try ReportPage.render(summaryJSON: "{}", title: "Empty")
        #expect(empty.hasSuffix("</html>\n") && empty.contains("Propensity distribution per offer"))
    }

    @Test func nonObjectsAreRefused() {
        #expect(throws: ReportPage.Failure.notAnObject("an array")) { try ReportPage.render(summaryJSON: "[1, 2]", title: "x") }
        #expect(throws: ReportPage.Failure.notAnObject("a number")) { try ReportPage.render(summaryJSON: "42", title: "x") }
        #expect(throws: ReportPage.Failure.self) { try ReportPage.render(summaryJSON: "{\"a\": ", title: "x") }
        #expect(throws: ReportPage.Failure.self) { try ReportPage.render(summaryJSON: "", title: "x") }
        do {
            _ = try ReportPage.render(summaryJSON: "\"text\"", title: "x")
            Issue.record("a string was rendered")
        } catch {
            #expect(String(describing: error).contains("must be an object"))
        }
    }

    @Test func sameSummarySameBytes() throws {
        let a = try ReportPage.render(summaryJSON: Self.full, title: "Run report")
        let b = try ReportPage.render(summaryJSON: Self.full, title: "Run report")
        #expect(a == b)
        #expect(a.hasPrefix("<!DOCTYPE html>"))
    }
}
