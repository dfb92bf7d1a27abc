import Foundation
import Testing
import NextBestCore
import NextBestStore
@testable import NextBestCluster
@testable import NextBestSynthetic

/// The optimizer against HiGHS on a family of generated campaigns of varied shape
/// (Tests/Fixtures/optimality/*: the `nextbest generate` options, the campaign, and HiGHS's LP and integer
/// optima of the exact instance, written by Tests/Fixtures/optimality/make_family.py).
@Suite struct OptimalityFamilyTests {
    static let root = ClusterFixtures.root + "/optimality"

    static var cases: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: root + "/\($0)/highs.json") }.sorted()
    }

    static func highs(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/\(name)/highs.json"))) as! [String: Any]
    }

    /// The case's bank: generated as `generate.args` says, with the case's campaign imported.
    static func bank(_ name: String) throws -> String {
        let args = try String(contentsOfFile: root + "/\(name)/generate.args", encoding: .utf8).split(whereSeparator: \.isWhitespace).map(String.init)
        func arg(_ key: String, _ fallback: Int) -> Int { args.firstIndex(of: key).flatMap { Int(args[$0 + 1]) } ?? fallback }
        let gen = PopulationGenerator(customers: arg("--customers", 1_000), offers: arg("--offers", 32), seed: UInt64(arg("--seed", 42)),
                                      trees: arg("--trees", 100), depth: arg("--depth", 6))
        let base = ClusterFixtures.tempDir("family-\(name)")
        _ = try BankWriter.write(gen, storePath: base + "/store", filesDir: base + "/files", threads: 2)
        let store = try Store(path: base + "/store")
        _ = try CampaignImporter.run(file: root + "/\(name)/campaign.yaml", store: store)
        return base + "/store"
    }

    @Test(arguments: cases)
    func reachesHiGHSOrProvesTheConflict(name: String) throws {
        let h = try Self.highs(name)
        let store = try Self.bank(name)
        let out = ClusterFixtures.tempDir("family-out")
        let customers = try #require(h["customers"] as? Int)
        guard h["feasible"] as? Bool == true else {
            // Infeasible by design: refused, naming every constraint of the conflict, and nothing written.
            let conflict = try #require(h["conflict"] as? [String])
            do {
                _ = try LocalRunner.run(.init(storePath: store, outDir: out, warmStart: false))
                Issue.record("\(name): the run should have been refused")
            } catch let e as Optimizer.Infeasible {
                for key in conflict { #expect(e.description.contains(key), "\(name): \(key) not named in: \(e)") }
            }
            #expect(!FileManager.default.fileExists(atPath: out + "/nba.csv"))
            return
        }
        let lp = try #require(h["lp_optimum"] as? Double)
        let mip = try #require(h["mip_optimum"] as? Double)
        let r = try LocalRunner.run(.init(storePath: store, outDir: out, warmStart: false))
        let rep = r.report
        // Every rule kept.
        for c in rep.constraints {
            let used = c.row.kind == .budget ? Int64((c.used * 1e6).rounded()) : Int64(c.used.rounded())
            if let u = c.row.upper { #expect(used <= u, "\(name): \(c.row.key) used \(c.used) over its max \(u)") }
            if let l = c.row.lower { #expect(used >= l, "\(name): \(c.row.key) used \(c.used) under its min \(l)") }
        }
        // At least 99.9 % of the integer optimum (and of the LP optimum from 5,000 customers up), never above the LP.
        #expect(rep.objective >= mip - 0.001 * abs(mip), "\(name): objective \(rep.objective) vs HiGHS integer optimum \(mip)")
        if customers >= 5_000 { #expect(rep.objective >= lp - 0.001 * abs(lp), "\(name): objective \(rep.objective) vs LP optimum \(lp)") }
        #expect(rep.objective <= lp + 1e-6 * abs(lp) + 1e-3)
        // The reported bound is a true bound on the LP optimum (micro-rounding of each customer's value aside).
        #expect(rep.dualBound >= lp - 1e-7 * abs(lp) - 1e-2, "\(name): dual bound \(rep.dualBound) below the LP optimum \(lp)")
    }

    /// The same bytes whatever the threads, shard sizes or worker processes, on two shapes with binding
    /// rows of several kinds.
    @Test func outputIsTheSameForAnyWorkersAndShards() throws {
        let names = Self.cases.filter { (try? Self.highs($0))?["feasible"] as? Bool == true }
        for name in [names.first, names.last].compactMap({ $0 }) {
            let store = try Self.bank(name)
            var outputs: [String: String] = [:]
            for (threads, shard) in [(1, 50_000), (3, 777)] {
                let r = try LocalRunner.run(.init(storePath: store, outDir: ClusterFixtures.tempDir("fam-det"), threads: threads, settings: .init(shardSize: shard), warmStart: false))
                outputs["0 workers, \(threads) threads, shards of \(shard)"] = try String(contentsOfFile: r.nbaPath, encoding: .utf8)
            }
            for (workers, shard) in [(1, 2_000), (3, 500)] {
                var co = Coordinator.Options(bind: "tcp://127.0.0.1:*", storePath: store, outDir: ClusterFixtures.tempDir("fam-lc"))
                co.settings.shardSize = shard; co.warmStart = false
                let r = try LocalCluster.run(LocalCluster.Options(coordinator: co, workers: workers, threadsPerWorker: 1, executable: ClusterProcessTests.executable),
                                             log: { _ in })
                outputs["\(workers) workers, shards of \(shard)"] = try String(contentsOfFile: r.nbaPath, encoding: .utf8)
            }
            let distinct = Set(outputs.values)
            #expect(distinct.count == 1, "\(name): outputs differ between \(outputs.keys.sorted())")
            #expect(outputs.values.first.map { $0.split(separator: "\n").count > 100 } == true)
        }
    }
}
