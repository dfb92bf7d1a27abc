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

    /// One customer's lists (offer o1 by email, propensity 0.5, value 1.0) and the row they render to.
    static let lists = NBALists.header(offers: [Array("o1".utf8)], channels: [Array("email".utf8)]) + [1, 1, 0, 0, 0xc0, 0x84, 0x3d, 0xa0, 0x9c, 0x01]
    static let csv = Array("1,1,o1,email,0.500000,1.0000\n".utf8)

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
        try repo.merged(0xabc, shard: 0, lists: Self.lists, totals: totals())
        #expect(try repo.hasMergedRows(0xabc, shard: 0) && !repo.hasMergedRows(0xabc, shard: 1))
        let kept = try #require(try repo.mergedRows(0xabc, shard: 0))
        #expect(kept.lists == Self.lists && kept.totals == totals())
        #expect(try repo.mergedCSV(0xabc, shard: 0)?.csv == Self.csv)
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
            try repo.merged(run, shard: 0, lists: Self.lists, totals: totals())
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
        try repo.merged(5, shard: 0, lists: Self.lists, totals: totals())
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

    /// Version-2 records (issue 23): lists of version 1 (CSV text) are refused with the run named and what to
    /// do; version-1 records of other kinds, and propensities kept in the store, are still read.
    @Test func versionOneRecordsAreReadExceptListsAsText() throws {
        let store = try emptyStore()
        let repo = RunRepository(store: store)
        let p = plan(6, started: "x")
        var v1Plan = p.encoded()
        v1Plan[0] = 1
        var v1Props = KeptPropensities(models: ["a"], values: [0.5, 0.25]).encoded()
        v1Props[0] = 1
        var w = RunRecordWriter(.rows)
        w.raw(Self.csv)
        var v1Rows = w.bytes
        v1Rows[0] = 1
        try store.env.write { txn in
            try txn.put(store.runs, key: RunKeys.plan(6), value: v1Plan)
            try txn.put(store.results, key: RunKeys.props(6, 0), value: v1Props)
            try txn.put(store.results, key: RunKeys.rows(6, 0), value: v1Rows)
        }
        #expect(try repo.plan(6) == p)
        let props = try #require(try repo.propensities(6, shard: 0))
        #expect(props.models == ["a"] && props.values == [0.5, 0.25])
        do {
            _ = try repo.mergedRows(6, shard: 0)
            Issue.record("version-1 lists were read")
        } catch let e as RunRepository.Failure {
            #expect(e.description.contains(RunKeys.name(6)) && e.description.contains("runs prune"), "\(e)")
        }
    }

    /// Propensities live in a file beside the store, checked by a record: a round trip, then a flipped byte,
    /// a truncated file and a missing one are each refused with the file named; deleting the run removes
    /// its directory.
    @Test func propensityFilesRoundTripAndDamageIsDetected() throws {
        let store = try emptyStore()
        let repo = RunRepository(store: store)
        try repo.begin(plan(7, started: "x"))
        let values = (0..<3_000).map { Float($0) / 3_000 }
        try repo.keepPropensities(7, shard: 2, models: ["m1", "m2", "m3"], values: values)
        let path = repo.propensityFilePath(7, shard: 2)
        #expect(path == store.env.path + "/runs/\(RunKeys.name(7))/props-00000002.f32")
        let kept = try #require(try repo.propensities(7, shard: 2))
        #expect(kept.models == ["m1", "m2", "m3"] && kept.values == values)
        #expect(repo.filesOnDisk() == (1, 64 + 12_000))
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        func refused(_ words: [String]) {
            do {
                _ = try repo.propensities(7, shard: 2)
                Issue.record("a damaged propensity file was read")
            } catch let e as RunRepository.Failure {
                guard case .propensityFile(let p, _) = e else { Issue.record("\(e)"); return }
                #expect(p == path && words.allSatisfy { e.description.contains($0) }, "\(e)")
            } catch { Issue.record("\(error)") }
        }
        for offset in [5, 20, 40, 50, 64, 8_000, good.count - 1] {
            var bad = good
            bad[offset] ^= 0x10
            try bad.write(to: URL(fileURLWithPath: path))
            refused(offset == 8_000 || offset == good.count - 1 || offset == 64 ? ["CRC-32"] : [path])
        }
        try good.prefix(good.count - 4).write(to: URL(fileURLWithPath: path))
        refused(["torn or truncated"])
        try FileManager.default.removeItem(atPath: path)
        refused(["missing"])
        try good.write(to: URL(fileURLWithPath: path))
        #expect(try repo.propensities(7, shard: 2)?.values == values)
        try repo.delete(7)
        #expect(!FileManager.default.fileExists(atPath: repo.filesDirectory(7)))
        #expect(try repo.propensities(7, shard: 2) == nil)
    }

    /// A rescore keeps only the models it scored again in a file of its own and links the earlier runs'
    /// files for the others (version 5): reading gives every model's values in plan order, a rescore of a
    /// rescore links the files it needs and no other, deleting an earlier run leaves its linked files
    /// readable and counted once on disk, and a damaged linked file is refused naming it.
    @Test func aRescoresPropensitiesLinkTheBaseRunsFiles() throws {
        let store = try emptyStore()
        let repo = RunRepository(store: store)
        let models = ["m1", "m2", "m3"], customers = 1_000
        func column(_ seed: Int) -> [Float] { (0..<customers).map { Float(($0 * 7 + seed * 131) % 997) / 997 } }
        func rows(_ columns: [[Float]]) -> [Float] { (0..<customers).flatMap { c in columns.map { $0[c] } } }
        let (a1, a2, a3, b2, c1) = (column(1), column(2), column(3), column(4), column(5))
        for r in [7, 8, 9] as [UInt64] { try repo.begin(plan(r, started: "x")) }
        try repo.keepPropensities(7, shard: 2, models: models, values: rows([a1, a2, a3]))
        // Run 8 rescores m2 from run 7; run 9 rescores m1 from run 8.
        let base7 = try #require(try repo.propensitySource(7, shard: 2))
        try repo.recordPropensities(8, [try repo.writePropensityParts(8, shard: 2, models: models, scored: ["m2"], values: b2, base: base7)])
        let kept8 = try #require(try repo.propensities(8, shard: 2))
        #expect(kept8.models == models && kept8.values == rows([a1, b2, a3]))
        let base8 = try #require(try repo.propensitySource(8, shard: 2))
        try repo.recordPropensities(9, [try repo.writePropensityParts(9, shard: 2, models: models, scored: ["m1"], values: c1, base: base8)])
        #expect(try repo.propensities(9, shard: 2)?.values == rows([c1, b2, a3]))
        // Run 8's own file is 1 column; run 9 links run 8's file (m2) and run 7's (m3), the same inodes.
        let own8 = repo.propensityFilePath(8, shard: 2)
        #expect(try FileManager.default.attributesOfItem(atPath: own8)[.size] as? Int == 64 + 4 * customers)
        let dir9 = try FileManager.default.contentsOfDirectory(atPath: repo.filesDirectory(9)).sorted()
        #expect(dir9 == ["props-00000002-\(RunKeys.name(7)).f32", "props-00000002-\(RunKeys.name(8)).f32", "props-00000002.f32"])
        func inode(_ p: String) throws -> Int { try FileManager.default.attributesOfItem(atPath: p)[.systemFileNumber] as! Int }
        #expect(try inode(repo.filesDirectory(9) + "/props-00000002-\(RunKeys.name(8)).f32") == inode(own8))
        #expect(try inode(repo.filesDirectory(9) + "/props-00000002-\(RunKeys.name(7)).f32") == inode(repo.propensityFilePath(7, shard: 2)))
        // 3 files in all (run 7's, run 8's own, run 9's own); the links count once.
        #expect(repo.filesOnDisk() == (3, (64 + 12 * customers) + 2 * (64 + 4 * customers)))
        // The earlier runs deleted, run 9's propensities are still whole.
        try repo.delete(7)
        try repo.delete(8)
        #expect(try repo.propensities(9, shard: 2)?.values == rows([c1, b2, a3]))
        // A damaged linked file is refused, named.
        let linked = repo.filesDirectory(9) + "/props-00000002-\(RunKeys.name(7)).f32"
        var bad = try Data(contentsOf: URL(fileURLWithPath: linked))
        bad[64 + 40] ^= 0x10
        try bad.write(to: URL(fileURLWithPath: linked))
        do {
            _ = try repo.propensities(9, shard: 2)
            Issue.record("a damaged linked propensity file was read")
        } catch let e as RunRepository.Failure {
            guard case .propensityFile(let p, _) = e else { Issue.record("\(e)"); return }
            #expect(p == linked && e.description.contains("CRC-32"), "\(e)")
        }
    }

    /// A rescore's part that cannot be hard-linked (another file system: here /dev/shm, a tmpfs, when it is
    /// one) is copied instead; a file already at the target (a resumed merge) is replaced.
    @Test func aPartThatCannotBeLinkedIsCopied() throws {
        let dir = Fixtures.tempDir("link")
        let shm = "/dev/shm/nextbest-link-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: shm, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: shm) }
        let bytes = Data((0..<5_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        for (from, label) in [(shm + "/a.f32", "across file systems"), (dir + "/a.f32", "on one file system")] {
            try bytes.write(to: URL(fileURLWithPath: from))
            let to = dir + "/linked.f32"
            try Data("stale".utf8).write(to: URL(fileURLWithPath: to))
            try PropensityFile.link(from: from, to: to)
            #expect(try Data(contentsOf: URL(fileURLWithPath: to)) == bytes, "\(label)")
            var a = stat(), b = stat()
            #expect(stat(from, &a) == 0 && stat(to, &b) == 0)
            // Linked where the device is the same, a copy (another inode) where it is not.
            #expect((a.st_dev == b.st_dev) == (a.st_ino == b.st_ino), "\(label): devices \(a.st_dev), \(b.st_dev)")
            try FileManager.default.removeItem(atPath: to)
        }
        // A source that is gone is an error naming it.
        #expect(throws: RunRepository.Failure.self) { try PropensityFile.link(from: dir + "/gone.f32", to: dir + "/x.f32") }
    }

    /// A merged shard's lists live in a file beside the store (version 4), their totals in the record that
    /// checks it: a round trip; a flipped byte anywhere and a truncated file are refused naming the file, the
    /// run and the shard; a missing file is not counted as merged (a resume merges the shard again); lists
    /// kept in the store by version 3 are still read.
    @Test func listsFilesRoundTripAndDamageIsDetected() throws {
        let store = try emptyStore()
        let repo = RunRepository(store: store)
        try repo.begin(plan(8, started: "x"))
        try repo.merged(8, shard: 3, lists: Self.lists, totals: totals())
        let path = repo.listsFilePath(8, shard: 3)
        #expect(path == store.env.path + "/runs/\(RunKeys.name(8))/lists-00000003.nbl")
        #expect(try repo.hasMergedRows(8, shard: 3) && repo.mergedTotals(8, shard: 3) == totals())
        #expect(try repo.mergedCSV(8, shard: 3)?.csv == Self.csv)
        let record = try #require(try store.env.read { try $0.get(store.results, key: RunKeys.rows(8, 3)) })
        #expect(record[0] == RunRecordFormat.version && record[1] == RunRecordKind.rowsFile.rawValue, "the record holds the totals, not the lists")
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(good.count == 64 + Self.lists.count)
        func refused(_ words: [String]) {
            do {
                _ = try repo.mergedRows(8, shard: 3)
                Issue.record("damaged lists were read")
            } catch let e as RunRepository.Failure {
                guard case .listsFile(let p, _, 3, _) = e else { Issue.record("\(e)"); return }
                #expect(p == path && ([RunKeys.name(8), "shard 3"] + words).allSatisfy { e.description.contains($0) }, "\(e)")
            } catch { Issue.record("\(error)") }
        }
        for offset in [0, 9, 17, 30, 63, 64, good.count - 1] {
            var bad = good
            bad[offset] ^= 0x04
            try bad.write(to: URL(fileURLWithPath: path))
            refused([])
        }
        try good.prefix(good.count - 1).write(to: URL(fileURLWithPath: path))
        refused(["torn or truncated"])
        #expect(try !repo.hasMergedRows(8, shard: 3))
        try FileManager.default.removeItem(atPath: path)
        refused(["missing"])
        #expect(try !repo.hasMergedRows(8, shard: 3) && repo.mergedTotals(8, shard: 3) == totals())
        try good.write(to: URL(fileURLWithPath: path))
        #expect(try repo.mergedRows(8, shard: 3)?.lists == Self.lists)
        // Version 3 kept the lists in the store.
        var v3 = KeptRows(lists: Self.lists, totals: totals()).encoded()
        v3[0] = 3
        try store.env.write { txn in try txn.put(store.results, key: RunKeys.rows(8, 4), value: v3) }
        #expect(try repo.hasMergedRows(8, shard: 4) && repo.mergedRows(8, shard: 4)?.lists == Self.lists && repo.mergedTotals(8, shard: 4) == totals())
        try repo.delete(8)
        #expect(!FileManager.default.fileExists(atPath: repo.filesDirectory(8)))
    }

    @Test func pruningRemovesTheRunsFiles() throws {
        let store = try emptyStore()
        let repo = RunRepository(store: store)
        for (run, started) in [(UInt64(1), "2026-01-01"), (2, "2026-01-02")] {
            try repo.begin(plan(run, started: started))
            try repo.keepPropensities(run, shard: 0, models: ["a"], values: [0.5])
        }
        #expect(repo.filesOnDisk().files == 2)
        _ = try repo.prune(keep: 1)
        #expect(!FileManager.default.fileExists(atPath: repo.filesDirectory(1)) && FileManager.default.fileExists(atPath: repo.propensityFilePath(2, shard: 0)))
        #expect(repo.filesOnDisk().files == 1)
    }

    @Test func warmPricesAreRememberedPerCampaignAndReadFromTheEarlierFormat() throws {
        let store = try Fixtures.store()
        #expect(try PriceMemory.load(store: store) == nil)
        let mix = PriceMix(points: [prices(1)], buckets: Array(repeating: [0], count: CustomerBuckets.count))
        try PriceMemory.save(prices(2), mix: mix, store: store)
        let versions = try store.env.read { try store.modelVersions(in: $0) }
        #expect(!versions.isEmpty)
        let saved = try #require(try PriceMemory.load(store: store))
        #expect(saved == PriceMemory.Warm(prices: prices(2), mix: mix, modelVersions: versions))
        // The mix is explored again only while the run's models are those it was found with.
        let (id, version) = try #require(versions.first)
        #expect(saved.startingMix(modelVersions: [id: version]) == mix)
        #expect(saved.startingMix(modelVersions: [id: version + 1]) == nil)
        #expect(saved.startingMix(modelVersions: ["a model imported since": 1]) == nil)
        // Remembered by version 3 (no model versions): the mix is kept.
        var v3 = PriceMemory.Warm(prices: prices(2), mix: mix).encoded()
        v3.removeLast()
        v3[0] = 3
        let v3Warm = try v3.withUnsafeBytes { try PriceMemory.Warm.decode($0) }
        #expect(v3Warm == PriceMemory.Warm(prices: prices(2), mix: mix) && v3Warm.startingMix(modelVersions: [id: version + 1]) == mix)
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
        #expect(try PriceMemory.load(store: store) == PriceMemory.Warm(prices: prices(4), mix: nil, modelVersions: versions))
        #expect(try store.env.read { try $0.get(store.runs, key: legacy.prices) } == nil)
    }
}
