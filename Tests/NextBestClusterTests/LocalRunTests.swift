import Foundation
import Testing
import NextBestCore
import NextBestStore
@testable import NextBestCluster

/// The one-process run: output format, ordering, per-customer rules, determinism.
@Suite struct LocalRunTests {
    func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    @Test func writesSortedNBAWithRulesApplied() throws {
        let (_, path) = try ClusterFixtures.store()
        let out = ClusterFixtures.tempDir("out")
        let r = try LocalRunner.run(.init(storePath: path, outDir: out, threads: 2, settings: .init(shardSize: 64)))
        let lines = try read(r.nbaPath).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "customer_id,rank,offer_id,channel,propensity,expected_value")
        #expect(lines.last == "")
        let rows = lines.dropFirst().dropLast().map { $0.split(separator: ",").map(String.init) }
        #expect(rows.count == Int(r.totals.offersMade))
        #expect(r.totals.customers == 300)
        // Sorted by customer id then rank; ranks 1..k; at most 2 offers; at most one per family.
        let family = ["CARD1": "cards", "CARD2": "cards", "MORT1": "mortgage", "SAV1": "savings", "SAV2": "savings"]
        var previous: (UInt64, Int) = (0, 0)
        var perCustomer: [UInt64: [[String]]] = [:]
        for row in rows {
            #expect(row.count == 6)
            let id = UInt64(row[0])!, rank = Int(row[1])!
            #expect(id > previous.0 ? rank == 1 : (id == previous.0 && rank == previous.1 + 1))
            previous = (id, rank)
            perCustomer[id, default: []].append(row)
            let p = Double(row[4])!, ev = Double(row[5])!
            #expect(p >= 0 && p <= 1)
            #expect(row[4].split(separator: ".").last?.count == 6 && row[5].split(separator: ".").last?.count == 4)
            // Channel thresholds of the campaign.
            if row[2] == "MORT1" && row[3] == "branch" { #expect(p >= 0.2) }
            if row[2] == "CARD1" && row[3] == "direct_mail" { #expect(p >= 0.3) }
            #expect(ev > 0)
        }
        for (_, list) in perCustomer {
            #expect(list.count <= 2)
            let fams = list.map { family[$0[2]]! }
            #expect(Set(fams).count == fams.count)
            // Ranked by expected value.
            let evs = list.map { Double($0[5])! }
            #expect(evs == evs.sorted(by: >))
        }
        // Customer 474640 ignored CARD1 twice within 90 days: fatigue removes it. Its MORT1 ignores are old.
        let c = try #require(perCustomer[474640])
        #expect(!c.contains { $0[2] == "CARD1" })
        #expect(r.totals.fatigued == 1)
        // The summary names every product and the totals agree with the rows.
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: r.summaryPath))) as! [String: Any]
        #expect(summary["customers"] as? Int == 300)
        #expect(summary["offers_made"] as? Int == rows.count)
        let byProduct = summary["by_product"] as! [String: Int]
        #expect(byProduct.values.reduce(0, +) == rows.count)
        let ev = rows.map { Double($0[5])! }.reduce(0, +)
        #expect(abs((summary["total_expected_value"] as! Double) - ev) < 0.01 * Double(rows.count))
    }

    @Test func sameBytesForAnyThreadCountAndShardSize() throws {
        let (_, path) = try ClusterFixtures.store()
        var outputs: [String] = []
        for (threads, shard) in [(1, 1000), (2, 7), (4, 50), (3, 1)] {
            let out = ClusterFixtures.tempDir("det")
            let r = try LocalRunner.run(.init(storePath: path, outDir: out, threads: threads, settings: .init(shardSize: shard)))
            outputs.append(try read(r.nbaPath))
        }
        #expect(Set(outputs).count == 1)
        #expect(outputs[0].count > 1000)
    }

    @Test func propensityObjectiveChangesTheLists() throws {
        let text = try String(contentsOfFile: ClusterFixtures.root + "/campaign_small.yaml", encoding: .utf8)
            .replacingOccurrences(of: "objective: expected_value", with: "objective: propensity")
        let f = ClusterFixtures.tempDir("c") + "/c.yaml"
        try text.write(toFile: f, atomically: true, encoding: .utf8)
        let (_, path) = try ClusterFixtures.store(campaign: f)
        let out = ClusterFixtures.tempDir("out")
        let r = try LocalRunner.run(.init(storePath: path, outDir: out))
        let rows = try read(r.nbaPath).split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
        var lists: [Substring: [Double]] = [:]
        for row in rows { lists[row[0], default: []].append(Double(row[4])!) }
        for (_, ps) in lists { #expect(ps == ps.sorted(by: >)) }
    }

    @Test func missingCampaignIsAClearError() throws {
        let path = ClusterFixtures.tempDir("s") + "/s"
        let store = try Store(path: path)
        _ = try ProfileImporter.run(file: ClusterFixtures.root + "/models/profiles.csv", store: store)
        let out = ClusterFixtures.tempDir("out")
        do {
            _ = try LocalRunner.run(.init(storePath: path, outDir: out))
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("no campaign"))
        }
        #expect(!FileManager.default.fileExists(atPath: out + "/nba.csv"))
    }
}
