import Foundation
import Testing
import NextBestCore
@testable import NextBestStore

/// The run repository: records round-trip, runs are listed oldest first, pruned and deleted whole, records
/// of another format or version are refused with the run named, and the latest finished run answers for a
/// customer.
@Suite struct RunRepositoryTests {
    func emptyStore() throws -> Store { try Store(path: Fixtures.tempDir("runs") + "/store") }

    func prices(_ seed: Double) -> Prices {
        var p = Prices(count: 3)
        p.upper = [seed, 0.1 / 3, .ulpOfOne]
        p.lower = [0, seed * 2, 1e-300]
        return p
    }

    func plan(_ run: UInt64, started: String) -> RunRepository.Plan {
        RunRepository.Plan(run: run, fingerprint: 0xfeed, shardSize: 100, maxRounds: 60, warmStart: prices(0.5),
                           warmMix: PriceMix(points: [prices(1), prices(2)], buckets: Array(repeating: [1, 0], count: CustomerBuckets.count)),
                           lower: [0, 100, 250], upper: [100, 250, nil], customers: [100, 150, 80], started: started,
                           campaignVersion: 3, modelVersions: ["b": 2, "a": 1], dataStamp: "00ff", rescoredFrom: 7)
    }

    func totals() -> RunTotals {
        var t = RunTotals(offers: 2, products: 1, channels: 1, regions: 2, segments: 1)
        t.customers = 3; t.offersMade = 4; t.byOffer = [1, 3]; t.expectedValueMicros = -5; t.propensityBins[7] = 9
        return t
    }

    @Test func everyRecordRoundTrips() throws {
        let repo = RunRepository(store: try emptyStore())
        let p = plan(0xabc, started: "2026-01-01T00:00:00Z")
        try repo.begin(p)
        #expect(try repo.plan(0xabc) == p)
        #expect(try repo.state(0xabc) == "scoring")
        try repo.round(0xabc, 1, prices(1))
        try repo.round(0xabc, 2, prices(2))
        #expect(try repo.rounds(0xabc) == [prices(1), prices(2)])
        let ops: [ShardOp] = [.evaluate(PricingRequest(points: [prices(1), prices(3)], weights: [1, 0], bucketPoint: [0, 1, 1])),
                              .copy(from: 0, to: 1), .apply(slot: 1, changes: [.init(customer: 4, remove: -1, add: 7)])]
        let recipes = [RunRepository.Recipe(lower: 0, upper: 100, ops: ops), RunRepository.Recipe(lower: 100, upper: nil, ops: [])]
        let outcome = RunRepository.Outcome(slot: 1, prices: prices(4), objective: 12.5, gap: 0.001, rounds: 2, optimizationJSON: "{\"x\": 1}",
                                            mix: p.warmMix)
        try repo.optimized(0xabc, recipes: recipes, outcome: outcome)
        #expect(try repo.state(0xabc) == "merging")
        #expect(try repo.outcome(0xabc) == outcome)
        #expect(try repo.recipe(0xabc, shard: 0) == recipes[0] && repo.recipe(0xabc, shard: 1) == recipes[1])
        let csv = Array("1,1,o1,email,0.5,1.0\n".utf8)
        try repo.merged(0xabc, shard: 0, csv: csv, totals: totals())
        #expect(try repo.hasMergedRows(0xabc, shard: 0) && !repo.hasMergedRows(0xabc, shard: 1))
        let kept = try #require(try repo.mergedRows(0xabc, shard: 0))
        #expect(kept.csv == csv && kept.totals == totals())
        try repo.keepPropensities(0xabc, shard: 0, models: ["a", "b"], values: [0.25, 1, .leastNonzeroMagnitude, 0])
        let props = try #require(try repo.propensities(0xabc, shard: 0))
        #expect(props.models == ["a", "b"] && props.values == [0.25, 1, .leastNonzeroMagnitude, 0])
        try repo.finish(0xabc, shards: 2)
        #expect(try repo.state(0xabc) == "done")
        #expect(throws: RunRepository.Failure.self) { try repo.recipe(0xabc, shard: 0) }
    }

    @Test func runsAreListedOldestFirstPrunedAndDeletedWhole() throws {
        let store = try emptyStore()
        let repo = RunRepository(store: store)
        let empty = try Fixtures.digest(store)
        for (run, started) in [(UInt64(3), "2026-01-03"), (1, "2026-01-01"), (2, "2026-01-02")] {
            try repo.begin(plan(run, started: started))
            try repo.round(run, 1, prices(1))
            try repo.merged(run, shard: 0, csv: [], totals: totals())
            try repo.keepPropensities(run, shard: 0, models: ["a"], values: [0.5])
        }
        try repo.finish(2, shards: 3)
        #expect(try repo.entries().map(\.plan.run) == [1, 2, 3])
        #expect(try repo.latestFinished()?.plan.run == 2)
        let pruned = try repo.prune(keep: 2)
        #expect(pruned == RunRepository.Pruned(runs: 1, records: 5, kept: 2))
        #expect(try repo.entries().map(\.plan.run) == [2, 3])
        #expect(throws: RunRepository.Failure.self) { try repo.plan(1) }
        #expect(try repo.mergedRows(1, shard: 0) == nil)
        #expect(try repo.delete(2) + repo.delete(3) == 10)
        #expect(try Fixtures.digest(store) == empty, "a deleted run left records behind")
    }

    @Test func theShardOfACustomerIsFoundByItsId() throws {
        let p = plan(1, started: "x")
        #expect([0, 99, 100, 249, 250, 1 << 40].map { p.shardIndex(of: $0) } == [0, 0, 1, 1, 2, 2])
        var gap = p
        gap.lower = [10, 100]; gap.upper = [50, 200]; gap.customers = [1, 1]
        #expect([5, 10, 50, 99, 150, 200].map { gap.shardIndex(of: $0) } == [nil, 0, nil, nil, 1, nil])
    }

    /// A run kept by an earlier build (JSON plan, protocol frames) is listed and deletable; reading it names
    /// the run and the command that deletes it.
    @Test func runsInTheEarlierJournalFormatAreListedRefusedAndPrunable() throws {
        let store = try emptyStore()
        let repo = RunRepository(store: store)
        let old = plan(0x1234, started: "2025-12-31")
        try store.env.write { txn in
            try txn.put(store.runs, key: RunKeys.legacyPlan(0x1234), value: Array(try JSONEncoder().encode(old)))
            try txn.put(store.runs, key: RunKeys.legacyState(0x1234), value: Array("done".utf8))
            try txn.put(store.results, key: Array("\(RunKeys.name(0x1234))/00000000".utf8), value: [0x4E, 0x42, 2, 19])
        }
        try repo.begin(plan(0x99, started: "2026-01-01"))
        let entries = try repo.entries()
        #expect(entries.map(\.plan.run) == [0x1234, 0x99] && entries[0].oldFormat && entries[0].state == "old-format")
        do {
            _ = try repo.plan(0x1234)
            Issue.record("an old-format run was read")
        } catch let e as RunRepository.Failure {
            #expect(e.description.contains(RunKeys.name(0x1234)) && e.description.contains("nextbest runs prune --old-format"), "\(e)")
        }
        #expect(try repo.pruneOldFormat() == RunRepository.Pruned(runs: 1, records: 3, kept: 1))
        #expect(try repo.entries().map(\.plan.run) == [0x99])
    }

    @Test func damagedAndNewerRecordsAreRefusedWithTheRunNamed() throws {
        let store = try emptyStore()
        let repo = RunRepository(store: store)
        try repo.begin(plan(5, started: "x"))
        try repo.merged(5, shard: 0, csv: Array("abc".utf8), totals: totals())
        let good = try #require(try store.env.read { try $0.get(store.results, key: RunKeys.rows(5, 0)) })
        func refused(_ value: [UInt8], _ words: [String]) throws {
            try store.env.write { txn in try txn.put(store.results, key: RunKeys.rows(5, 0), value: value) }
            do {
                _ = try repo.mergedRows(5, shard: 0)
                Issue.record("a bad record was read")
            } catch let e as RunRepository.Failure {
                #expect(words.allSatisfy { e.description.contains($0) }, "\(e)")
            }
        }
        try refused(Array(good.dropLast()), ["damaged", "shard 0", RunKeys.name(5), "truncated"])
        try refused(good + [0], ["damaged", "unexpected bytes"])
        try refused([RunRecordFormat.version + 1] + good.dropFirst(), ["newer nextbest", "version-\(RunRecordFormat.version + 1)"])
        try refused([RunRecordFormat.version, RunRecordKind.plan.rawValue] + good.dropFirst(2), ["damaged", "kind"])
        try refused([0x4E, 0x42, 2, 19] + good, ["earlier nextbest", "runs prune --old-format"])
        // Any prefix of a record is refused without trapping.
        for n in 0..<good.count {
            try store.env.write { txn in try txn.put(store.results, key: RunKeys.rows(5, 0), value: Array(good.prefix(n))) }
            #expect(throws: RunRepository.Failure.self) { try repo.mergedRows(5, shard: 0) }
        }
    }

    @Test func warmPricesAreRememberedPerCampaignAndReadFromTheEarlierFormat() throws {
        let store = try Fixtures.store()
        #expect(try PriceMemory.load(store: store) == nil)
        let mix = PriceMix(points: [prices(1)], buckets: Array(repeating: [0], count: CustomerBuckets.count))
        try PriceMemory.save(prices(2), mix: mix, store: store)
        #expect(try PriceMemory.load(store: store) == PriceMemory.Warm(prices: prices(2), mix: mix))
        // Remembered by an earlier build: JSON at prices/… and points/…, replaced by the next save.
        let digest = try #require(try store.env.read { try PriceMemory.campaignDigest(store, in: $0) })
        let legacy = RunKeys.legacyWarm(campaign: digest)
        try store.env.write { txn in
            _ = try txn.delete(store.runs, key: RunKeys.warm(campaign: digest))
            try txn.put(store.runs, key: legacy.prices, value: Array(try JSONEncoder().encode(prices(3))))
            try txn.put(store.runs, key: legacy.points, value: Array(try JSONEncoder().encode(mix)))
        }
        #expect(try PriceMemory.load(store: store) == PriceMemory.Warm(prices: prices(3), mix: mix))
        try PriceMemory.save(prices(4), mix: nil, store: store)
        #expect(try PriceMemory.load(store: store) == PriceMemory.Warm(prices: prices(4), mix: nil))
        #expect(try store.env.read { try $0.get(store.runs, key: legacy.prices) } == nil)
    }
}
