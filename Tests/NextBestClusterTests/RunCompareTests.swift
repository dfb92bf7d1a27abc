import Foundation
import Testing
import NextBestCore
import NextBestStore
@testable import NextBestCluster
import NextBestInspect

/// `nextbest runs compare`: two runs with a known change (one model re-imported with a higher intercept)
/// against figures worked out independently from the two runs' nba.csv files; identical runs compare as
/// unchanged with a PSI of 0; the nightly run's summary and report carry the comparison with the previous run.
@Suite struct RunCompareTests {
    /// nba.csv as rows: (customer, rank, offer, channel).
    func rows(_ dir: String) throws -> [(customer: String, rank: Int, offer: String, channel: String)] {
        try String(contentsOfFile: dir + "/nba.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            return (f[0], Int(f[1]) ?? 0, f[2], f[3])
        }
    }

    func counts(_ values: [String]) -> [String: Int] { values.reduce(into: [:]) { $0[$1, default: 0] += 1 } }

    /// `by_*` of the JSON as name → (a, b, delta).
    func table(_ json: [String: Any], _ key: String) -> [String: (a: Int, b: Int, delta: Int)] {
        Dictionary(uniqueKeysWithValues: (json[key] as? [[String: Any]] ?? []).map {
            ($0["name"] as! String, ($0["a"] as! Int, $0["b"] as! Int, $0["delta"] as! Int))
        })
    }

    @Test func aChangedModelAgainstTheTwoNbaFiles() throws {
        let path = try ClusterFixtures.store(campaign: ClusterFixtures.root + "/lp/all_kinds/campaign.yaml").1
        let cli = RunsTests()
        func run(_ name: String) throws -> (id: String, out: String) {
            let out = ClusterFixtures.tempDir(name)
            let (status, said) = try cli.nextbest(["run", "--store", path, "--out", out, "--workers", "1", "--quiet", "--keep-runs", "0"])
            #expect(status == 0, "\(said)")
            // The run's id from its summary: `runs list` orders runs by their start second, and these start
            // within the same second.
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any]
            return (try #require(summary["run_id"] as? String), out)
        }
        let first = try run("n1"), second = try run("n2")
        // A new version of logit_all: another intercept, so its offers' propensities rise for every customer.
        try cli.importShiftedLogitAll(store: path)
        let third = try run("n3")

        let (status, out) = try cli.nextbest(["runs", "compare", second.id, third.id, "--store", path, "--json"])
        #expect(status == 0, "\(out)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        let a = try rows(second.out), b = try rows(third.out)
        // Churn: customers whose rank-1 offer differs between the two nba.csv files (a list in one only counts).
        let topA = Dictionary(uniqueKeysWithValues: a.filter { $0.rank == 1 }.map { ($0.customer, $0.offer) })
        let topB = Dictionary(uniqueKeysWithValues: b.filter { $0.rank == 1 }.map { ($0.customer, $0.offer) })
        let customers = Set(topA.keys).union(topB.keys)
        let changed = customers.filter { topA[$0] != topB[$0] }.count
        let top = try #require(json["top_offer"] as? [String: Any])
        #expect(top["changed"] as? Int == changed && top["customers"] as? Int == customers.count)
        #expect(top["gained"] as? Int == customers.filter { topA[$0] == nil }.count && top["lost"] as? Int == customers.filter { topB[$0] == nil }.count)
        #expect(changed > 0, "a changed model changed nobody's top offer")
        // Offers per offer and per channel, and their change, as the files count them.
        let byOffer = table(json, "by_offer"), byChannel = table(json, "by_channel")
        let offersA = counts(a.map(\.offer)), offersB = counts(b.map(\.offer))
        for name in Set(offersA.keys).union(offersB.keys) {
            let want = (offersA[name] ?? 0, offersB[name] ?? 0)
            let got = try #require(byOffer[name], "offer \(name)")
            #expect(got.a == want.0 && got.b == want.1 && got.delta == want.1 - want.0, "offer \(name): \(got)")
        }
        let channelsA = counts(a.map(\.channel)), channelsB = counts(b.map(\.channel))
        for name in Set(channelsA.keys).union(channelsB.keys) {
            let got = try #require(byChannel[name], "channel \(name)")
            #expect(got.a == channelsA[name] ?? 0 && got.b == channelsB[name] ?? 0, "channel \(name): \(got)")
        }
        let made = try #require(json["offers_made"] as? [String: Any])
        #expect(made["a"] as? Int == a.count && made["b"] as? Int == b.count)
        // Products and regions add up to the offers made.
        for key in ["by_product", "by_region", "by_segment"] {
            #expect(table(json, key).values.map(\.a).reduce(0, +) == a.count && table(json, key).values.map(\.b).reduce(0, +) == b.count, "\(key)")
        }
        // The PSI: above 0 for the offers of the changed model, exactly 0 for every other offer (same models, same profiles).
        let psi = try #require((json["psi"] as? [String: Any])?["offers"] as? [[String: Any]])
        #expect(!psi.isEmpty)
        for o in psi {
            let value = try #require(o["psi"] as? Double, "offer \(o["offer_id"] ?? "?") has no PSI")
            if o["model"] as? String == "logit_all" { #expect(value > 0.01, "\(o)") } else { #expect(value == 0, "\(o)") }
        }
        #expect(psi.contains { $0["model"] as? String == "logit_all" })
        // Constraints side by side, and the objective of both runs.
        #expect((json["constraints"] as? [[String: Any]])?.contains { $0["used_a"] is Double && $0["price_b"] is Double } == true)
        let objective = try #require(json["objective"] as? [String: Any])
        #expect(objective["a"] is Double && objective["b"] is Double && objective["delta"] is Double)

        // `previous` / `latest` name the same runs; the text says the churn.
        let (_, text2) = try cli.nextbest(["runs", "compare", "previous", "latest", "--store", path])
        #expect(text2.contains("top offer (rank 1) changed for \(changed) of \(customers.count) customers"), "\(text2)")
        #expect(text2.contains("offers by product") && text2.contains("PSI"))

        // Identical inputs: nothing changed, PSI 0 everywhere.
        let (_, same) = try cli.nextbest(["runs", "compare", first.id, second.id, "--store", path, "--json"])
        let sameJSON = try #require(try JSONSerialization.jsonObject(with: Data(same.utf8)) as? [String: Any])
        let a1 = try rows(first.out)
        let churn1 = Set(a1.filter { $0.rank == 1 }.map { "\($0.customer)/\($0.offer)" }).symmetricDifference(Set(a.filter { $0.rank == 1 }.map { "\($0.customer)/\($0.offer)" }))
        #expect((sameJSON["top_offer"] as? [String: Any])?["changed"] as? Int == Set(churn1.map { $0.split(separator: "/")[0] }).count)
        let samePSI = try #require((sameJSON["psi"] as? [String: Any])?["offers"] as? [[String: Any]])
        #expect(samePSI.allSatisfy { $0["psi"] as? Double == 0 })
        let (_, self_) = try cli.nextbest(["runs", "compare", "latest", "latest", "--store", path, "--json"])
        let selfJSON = try #require(try JSONSerialization.jsonObject(with: Data(self_.utf8)) as? [String: Any])
        #expect((selfJSON["top_offer"] as? [String: Any])?["changed"] as? Int == 0)
        #expect(table(selfJSON, "by_offer").values.allSatisfy { $0.delta == 0 })

        // The third night's summary compares it with the second (counts only) and lists the three nights.
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: third.out + "/summary.json"))) as? [String: Any])
        let since = try #require(summary["since_last_night"] as? [String: Any])
        #expect((since["run_a"] as? [String: Any])?["run_id"] as? String == second.id)
        #expect((since["top_offer"] as? [String: Any])?["changed"] as? Int == changed)
        #expect(since["psi"] is NSNull)
        // It is made while the third night's lists are merged, from the lists in memory: the same as comparing
        // the two finished runs from the store.
        let store = try Store(path: path, readOnly: true, mustExist: true)
        let finished = try RunComparison.compare(journal: RunRepository(store: store), a: try #require(UInt64(second.id, radix: 16)),
                                                 b: try #require(UInt64(third.id, radix: 16)), catalogue: RunComparison.Catalogue(store: store), psi: false)
        let want = try #require(try JSONSerialization.jsonObject(with: Data(finished.json.render().utf8)) as? NSDictionary)
        #expect(NSDictionary(dictionary: since) == want)
        let trend = try #require(summary["trend"] as? [[String: Any]])
        #expect(trend.map { $0["run_id"] as? String } == [first.id, second.id, third.id])
        #expect(trend.last?["offers_made"] as? Int == b.count)
        let report = try String(contentsOfFile: third.out + "/report.html", encoding: .utf8)
        #expect(report.contains(">Since last night<") && report.contains(">Trend over the kept nights<"))
        // The first night has nothing to compare with.
        let firstSummary = try String(contentsOfFile: first.out + "/summary.json", encoding: .utf8)
        #expect(firstSummary.contains("\"since_last_night\": null"))
    }

    @Test func referencesThatNameNoRunAreRefused() throws {
        let path = try ClusterFixtures.store().1
        let cli = RunsTests()
        let (status, out) = try cli.nextbest(["runs", "compare", "previous", "latest", "--store", path])
        #expect(status != 0 && out.isEmpty)
        let journal = RunRepository(store: try Store(path: path, readOnly: true, mustExist: true))
        #expect(throws: RunCompare.Failure.noSuchRun(reference: "previous", finished: 0, store: path)) {
            _ = try RunCompare.resolve("previous", journal: journal, store: path)
        }
        #expect(throws: RunCompare.Failure.badReference("tomorrow")) { _ = try RunCompare.resolve("tomorrow", journal: journal, store: path) }
        #expect(throws: RunCompare.Failure.badReference("abc")) { _ = try RunCompare.resolve("abc", journal: journal, store: path) }
        #expect(try RunCompare.resolve("00000000000000AB", journal: journal, store: path) == 0xab)
    }
}
