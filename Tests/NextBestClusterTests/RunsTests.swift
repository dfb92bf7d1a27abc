import Foundation
import Testing
import NextBestCore
import NextBestStore
@testable import NextBestCluster

/// Runs are kept in the store (journal and lists) and can be listed, shown and pruned.
@Suite struct RunsTests {
    /// Imports a new version of the fixture's `logit_all` with its intercept moved by `shift`, so its offers'
    /// propensities move for every customer.
    func importShiftedLogitAll(store path: String, by shift: Double = 0.8) throws {
        let text = try String(contentsOfFile: ClusterFixtures.root + "/models/logit_all.json", encoding: .utf8)
        var model = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        model["intercept"] = (model["intercept"] as! Double) + shift
        let file = ClusterFixtures.tempDir("m") + "/logit_all.json"
        try JSONSerialization.data(withJSONObject: model).write(to: URL(fileURLWithPath: file))
        #expect(try nextbest(["import", "model", file, "--id", "logit_all", "--format", "logistic-json", "--store", path]).0 == 0)
    }

    func nextbest(_ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    @Test func runsAreKeptListedShownAndPruned() throws {
        let path = try ClusterFixtures.store().1
        var ids: [String] = []
        for k in 0..<2 {
            let (status, _) = try nextbest(["run", "--store", path, "--out", ClusterFixtures.tempDir("r\(k)"), "--workers", "1", "--no-warm-start", "--quiet"])
            #expect(status == 0)
        }
        let (_, list) = try nextbest(["runs", "list", "--store", path])
        let lines = list.split(separator: "\n").dropFirst()
        #expect(lines.count == 2 && lines.allSatisfy { $0.contains("done") && $0.contains(" 300 ") })
        ids = lines.map { String($0.prefix(16)) }
        let (_, show) = try nextbest(["runs", "show", ids[1], "--store", path])
        #expect(show.contains("\"model_versions\"") && show.contains("\"xgb_deep\": 1") && show.contains("\"final_prices\""))
        // The kept lists of the first run are in the store until it is pruned.
        let first = try #require(RunRepository.parse(ids[0]))
        func kept() throws -> Bool { try RunRepository(store: try Store(path: path, readOnly: true, mustExist: true)).mergedRows(first, shard: 0) != nil }
        #expect(try kept())
        let (status, pruned) = try nextbest(["runs", "prune", "--store", path, "--keep", "1"])
        #expect(status == 0 && pruned.contains("pruned 1 run"))
        #expect(try !kept())
        let (_, after) = try nextbest(["runs", "list", "--store", path])
        #expect(after.contains(ids[1]) && !after.contains(ids[0]))
    }
}

/// `--keep-runs`: each finished run deletes the runs beyond the newest N, and the store stops growing.
@Suite struct KeptRunsTests {
    /// The bytes of the files under a directory.
    static func bytes(under dir: String) -> Int {
        let fm = FileManager.default
        return (fm.subpaths(atPath: dir) ?? []).reduce(0) { sum, p in
            sum + ((try? fm.attributesOfItem(atPath: dir + "/" + p)[.size] as? Int) ?? 0)
        }
    }

    @Test func eachRunPrunesToTheNewestNAndTheStoreStopsGrowing() throws {
        let path = try ClusterFixtures.store().1
        let runner = RunsTests()
        var inUse: [Int] = [], highWater: [Int] = [], fileBytes: [Int] = []
        for night in 0..<10 {
            let (status, _) = try runner.nextbest(["run", "--store", path, "--out", ClusterFixtures.tempDir("n\(night)"), "--workers", "1",
                                                   "--no-warm-start", "--quiet", "--keep-runs", "2"])
            #expect(status == 0)
            let (_, list) = try runner.nextbest(["runs", "list", "--store", path])
            #expect(list.split(separator: "\n").dropFirst().count == min(night + 1, 2), "night \(night)")
            // The propensity files of the pruned runs go with them.
            let files = (try? FileManager.default.contentsOfDirectory(atPath: path + "/runs")) ?? []
            #expect(files.count == min(night + 1, 2), "night \(night): run files \(files)")
            fileBytes.append(Self.bytes(under: path + "/runs"))
            let u = try Store(path: path, readOnly: true, mustExist: true).env.usage(databases: [])
            inUse.append(u.pagesUsed - u.freePages)
            highWater.append(u.pagesUsed)
        }
        print("KeptRunsTests: pages in use per night \(inUse), data file pages \(highWater)")
        // From the third night on, a night's run replaces a pruned one: the pages in use stay within a few
        // per cent of the third night's. The file's high-water mark lags (LMDB reuses a freed page only once
        // no reader can see it) by a few pages, so over the last four nights it grows by less than those
        // nights' worth, which a store without pruning would add. (A night is only a few pages of LMDB since
        // the propensities and lists went to files beside the store, whose bytes stay those of two nights.)
        // Ten nights, as the operations issue asks.
        let night = max(inUse[1] - inUse[0], 1)
        for n in 3..<10 {
            #expect(Double(inUse[n]) <= Double(inUse[2]) * 1.05, "night \(n): \(inUse)")
            #expect(fileBytes[n] <= fileBytes[1] + fileBytes[1] / 20, "night \(n): run file bytes \(fileBytes)")
        }
        #expect(fileBytes[1] > fileBytes[0], "\(fileBytes)")
        #expect(highWater[9] - highWater[3] < 6 * night, "\(highWater), a night: \(night) pages")
        // 0 keeps every run.
        #expect(try runner.nextbest(["run", "--store", path, "--out", ClusterFixtures.tempDir("all"), "--workers", "1", "--no-warm-start", "--quiet",
                                     "--keep-runs", "0"]).0 == 0)
        let (_, list) = try runner.nextbest(["runs", "list", "--store", path])
        #expect(list.split(separator: "\n").dropFirst().count == 3)
    }
}

/// What-if simulation from a kept run: a halved budget changes the figures and nothing in the store.
@Suite struct SimulateTests {
    @Test func simulateComparesWithTheRunAndLeavesTheStoreUnchanged() throws {
        let path = try ClusterFixtures.store(campaign: ClusterFixtures.root + "/lp/all_kinds/campaign.yaml").1
        let runner = RunsTests()
        #expect(try runner.nextbest(["run", "--store", path, "--out", ClusterFixtures.tempDir("base"), "--workers", "1", "--no-warm-start", "--quiet"]).0 == 0)
        let (_, list) = try runner.nextbest(["runs", "list", "--store", path])
        let id = try #require(list.split(separator: "\n").dropFirst().first.map { String($0.prefix(16)) })
        let changed = ClusterFixtures.tempDir("c") + "/half.yaml"
        try (try String(contentsOfFile: ClusterFixtures.root + "/lp/all_kinds/campaign.yaml", encoding: .utf8))
            .replacingOccurrences(of: "budget: 40", with: "budget: 20").write(toFile: changed, atomically: true, encoding: .utf8)
        func digest() throws -> UInt64 {
            let store = try Store(path: path, readOnly: true, mustExist: true)
            var h = FNV64()
            try store.env.read { txn in
                for db in [store.profiles, store.offers, store.models, store.history, store.runs, store.results, store.meta] {
                    try txn.scan(db) { k, v in h.add(k); h.add(v); return true }
                }
            }
            return h.value
        }
        let before = try digest()
        let out = ClusterFixtures.tempDir("sim")
        let (status, text) = try runner.nextbest(["simulate", "--store", path, "--from", id, "--campaign", changed, "--out", out])
        #expect(status == 0, "\(text)")
        #expect(try digest() == before, "simulate changed the store")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/comparison.json"))) as! [String: Any]
        let figures = Dictionary(uniqueKeysWithValues: (json["figures"] as! [[String: Any]]).map { ($0["name"] as! String, $0) })
        let cost = try #require(figures["cost"])
        #expect((cost["simulated"] as! Double) <= 20.0 + 1e-9)
        #expect((cost["base"] as! Double) > 20.0, "the base run did not spend more than the halved budget")
        let value = try #require(figures["expected_value"])
        #expect((value["simulated"] as! Double) < (value["base"] as! Double))
        #expect(text.contains("constraints.budget"))
        // The simulated run's summary and report carry the same comparison.
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any]
        let carried = try #require(summary["compared_with_base"] as? [String: Any])
        #expect(carried["base_run"] as? String == id && (carried["figures"] as? [[String: Any]])?.count == figures.count)
        let report = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(report.contains(">Compared with the base run<") && report.contains(id))
    }
}

/// Rescoring after a model update equals a full run with the new model (both start from the kept run's
/// prices) and lists the customers whose list changed.
@Suite struct RescoreTests {
    @Test func rescoreEqualsAFullRunWithTheNewModel() throws {
        let path = try ClusterFixtures.store(campaign: ClusterFixtures.root + "/lp/all_kinds/campaign.yaml").1
        let cli = RunsTests()
        let baseOut = ClusterFixtures.tempDir("b")
        #expect(try cli.nextbest(["run", "--store", path, "--out", baseOut, "--workers", "2", "--shard-size", "97", "--quiet"]).0 == 0)
        let (_, list) = try cli.nextbest(["runs", "list", "--store", path])
        let base = try #require(list.split(separator: "\n").dropFirst().last.map { String($0.prefix(16)) })
        // A new version of one model: another intercept.
        try cli.importShiftedLogitAll(store: path)
        // The full run starts from the remembered prices, which are the base run's final prices.
        let full = ClusterFixtures.tempDir("full"), re = ClusterFixtures.tempDir("re")
        #expect(try cli.nextbest(["run", "--store", path, "--out", full, "--workers", "2", "--shard-size", "97", "--quiet"]).0 == 0)
        let (status, said) = try cli.nextbest(["rescore", "--store", path, "--from", base, "--models", "logit_all", "--out", re, "--workers", "2", "--quiet"])
        #expect(status == 0, "\(said)")
        let a = try String(contentsOfFile: full + "/nba.csv", encoding: .utf8), b = try String(contentsOfFile: re + "/nba.csv", encoding: .utf8)
        #expect(a == b, "rescore differs from the full run")
        let summary = try String(contentsOfFile: re + "/summary.json", encoding: .utf8)
        #expect(summary.contains("\"models_rescored\": [\n    \"logit_all\"\n  ]") || summary.contains("\"logit_all\""))
        let changes = try String(contentsOfFile: re + "/changes.csv", encoding: .utf8).split(separator: "\n")
        #expect(changes.first == "customer_id,old_top_offer,new_top_offer")
        #expect(changes.count > 1, "a changed model changed nobody's list")
        // Exactly the customers whose rows differ between the two nba.csv files, with their rank-1 offers.
        func lists(_ dir: String) throws -> [String: [Substring]] {
            var out: [String: [Substring]] = [:]
            for line in try String(contentsOfFile: dir + "/nba.csv", encoding: .utf8).split(separator: "\n").dropFirst() {
                let f = line.split(separator: ",", maxSplits: 1)
                out[String(f[0]), default: []].append(f[1])
            }
            return out
        }
        let (old, new) = (try lists(baseOut), try lists(re))
        func top(_ rows: [Substring]?) -> String { rows.map { String($0[0].split(separator: ",")[1]) } ?? "" }
        let expected = Set(old.keys).union(new.keys).filter { old[$0] != new[$0] }
        #expect(Set(changes.dropFirst().map { String($0.split(separator: ",", omittingEmptySubsequences: false)[0]) }) == expected)
        for line in changes.dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            #expect(f.count == 3 && f[1] == top(old[f[0]]) && f[2] == top(new[f[0]]), "\(line)")
        }
        // The rescore's workers sent back only the model scored again; the propensities kept with it (the
        // others completed from the base run's) are the full run's, shard by shard.
        func runID(_ dir: String) throws -> UInt64 {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
            return try #require(RunRepository.parse(json["run_id"] as! String))
        }
        let repo = RunRepository(store: try Store(path: path, readOnly: true, mustExist: true))
        let (fullRun, reRun) = (try runID(full), try runID(re))
        let shards = try repo.plan(reRun).lower.count
        #expect(shards > 1)
        for s in 0..<shards {
            let a = try #require(try repo.propensities(fullRun, shard: s)), b = try #require(try repo.propensities(reRun, shard: s))
            #expect(a.models == b.models && a.values == b.values, "shard \(s)")
            // The rescore wrote only the model scored again; the base run's file is linked for the others.
            let own = try #require(try FileManager.default.attributesOfItem(atPath: repo.propensityFilePath(reRun, shard: s))[.size] as? Int)
            let baseRun = try #require(RunRepository.parse(base))
            let baseFile = try #require(try FileManager.default.attributesOfItem(atPath: repo.propensityFilePath(baseRun, shard: s))[.size] as? Int)
            #expect(own < baseFile && FileManager.default.fileExists(atPath: repo.filesDirectory(reRun) + "/props-\(String(format: "%08d", s))-\(base).f32"), "shard \(s)")
        }
    }

    /// `nextbest coordinator --rescore-from` rescores on the workers that connect to it (on other hosts): the
    /// same nba.csv and changes.csv as `nextbest rescore` on local workers.
    @Test func aRescoreOnConnectedWorkersEqualsTheLocalRescore() throws {
        let path = try ClusterFixtures.store(campaign: ClusterFixtures.root + "/lp/all_kinds/campaign.yaml").1
        let cli = RunsTests()
        #expect(try cli.nextbest(["run", "--store", path, "--out", ClusterFixtures.tempDir("b"), "--workers", "2", "--shard-size", "97", "--quiet"]).0 == 0)
        let (_, list) = try cli.nextbest(["runs", "list", "--store", path])
        let base = try #require(list.split(separator: "\n").dropFirst().last.map { String($0.prefix(16)) })
        try cli.importShiftedLogitAll(store: path)
        let local = ClusterFixtures.tempDir("local"), remote = ClusterFixtures.tempDir("remote")
        let (status, said) = try cli.nextbest(["rescore", "--store", path, "--from", base, "--models", "logit_all", "--out", local, "--workers", "2", "--quiet"])
        #expect(status == 0, "\(said)")
        let endpoint = "ipc://" + ClusterFixtures.tempDir("ipc") + "/coordinator.sock"
        let coordinator = Process()
        coordinator.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        coordinator.arguments = ["coordinator", "--bind", endpoint, "--store", path, "--out", remote, "--rescore-from", base, "--models", "logit_all",
                                 "--min-workers", "2", "--wait-timeout", "60", "--quiet"]
        let stdout = Pipe()
        coordinator.standardOutput = stdout
        try coordinator.run()
        let workers = try (0..<2).map { _ in try ClusterProcessTests().startWorker(connect: endpoint, store: path) }
        let printed = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        coordinator.waitUntilExit()
        for w in workers { w.waitUntilExit() }
        #expect(coordinator.terminationStatus == 0)
        #expect(printed.contains("changes: \(remote)/changes.csv"), "\(printed)")
        for file in ["nba.csv", "changes.csv"] {
            let a = try String(contentsOfFile: local + "/" + file, encoding: .utf8), b = try String(contentsOfFile: remote + "/" + file, encoding: .utf8)
            #expect(a == b, "\(file) of the rescore on connected workers differs from the local rescore's")
        }
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: remote + "/summary.json"))) as! [String: Any]
        #expect(summary["rescored_from"] as? String == base && summary["models_rescored"] as? [String] == ["logit_all"] && (1...2).contains(summary["workers"] as? Int ?? 0))
        #expect((summary["customers_changed"] as? Int ?? 0) > 0)
        // Each summary compares its run with the run before it, made during the merge: the local rescore's
        // with the run it rescored (its top offers tallied by changes.csv's walk), the remote one's with the
        // local rescore (walked by the comparison). Both are what comparing the finished runs in the store gives.
        let store = try Store(path: path, readOnly: true, mustExist: true)
        for (before, dir) in [(base, local), (try runID(local), remote)] {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
            let since = try #require(json["since_last_night"] as? [String: Any])
            let finished = try RunComparison.compare(journal: RunRepository(store: store), a: try #require(RunRepository.parse(before)),
                                                     b: try #require(RunRepository.parse(try runID(dir))), catalogue: RunComparison.Catalogue(store: store), psi: false)
            // The two rescores' lists are the same; the rescore's differ from the base run's.
            #expect((finished.topOffer.changed > 0) == (before == base))
            let want = try #require(try JSONSerialization.jsonObject(with: Data(finished.json.render().utf8)) as? NSDictionary)
            #expect(NSDictionary(dictionary: since) == want, "\(dir)")
        }
    }

    func runID(_ dir: String) throws -> String {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
        return json["run_id"] as! String
    }

    /// Standing workers hold the propensities and tables of the shards they scored. After a new version of a
    /// model is imported (the workers, refused for their old fingerprint, open their store again and rejoin),
    /// a rescore of that run on them sends those shards no kept columns (`shards_from_held_propensities`),
    /// rebuilds their tables for the changed model only (`shards_rebuilt_from_held_tables`) and writes the
    /// same nba.csv, changes.csv and kept propensities as the rescore on local workers, which score every
    /// shard from the store. So does a rescore of that rescore: the workers then hold its propensities and
    /// tables.
    @Test func standingWorkersRescoreFromThePropensitiesTheyHold() throws {
        let path = try ClusterFixtures.store(campaign: ClusterFixtures.root + "/lp/all_kinds/campaign.yaml").1
        let cli = RunsTests()
        let endpoint = "ipc://" + ClusterFixtures.tempDir("ipc") + "/coordinator.sock"
        let logs = ClusterFixtures.tempDir("logs")
        let workers = try (0..<2).map { try ClusterProcessTests().startWorker(connect: endpoint, store: path, once: false, logFile: logs + "/w\($0).log") }
        defer { for w in workers { w.terminate(); w.waitUntilExit() } }
        func job(_ args: [String]) throws -> (out: String, summary: [String: Any]) {
            let out = ClusterFixtures.tempDir("job")
            let (status, said) = try cli.nextbest(["coordinator", "--bind", endpoint, "--store", path, "--out", out, "--min-workers", "2",
                                                   "--wait-timeout", "60", "--quiet"] + args)
            #expect(status == 0, "\(said)")
            return (out, try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any])
        }
        func local(from base: String) throws -> String {
            let out = ClusterFixtures.tempDir("local")
            let (status, said) = try cli.nextbest(["rescore", "--store", path, "--from", base, "--models", "logit_all", "--out", out, "--workers", "2", "--quiet"])
            #expect(status == 0, "\(said)")
            return out
        }
        let repo = RunRepository(store: try Store(path: path, readOnly: true, mustExist: true))
        func same(_ a: String, _ b: String, _ what: String) throws {
            for file in ["nba.csv", "changes.csv"] {
                #expect(try String(contentsOfFile: a + "/" + file, encoding: .utf8) == String(contentsOfFile: b + "/" + file, encoding: .utf8), "\(what): \(file)")
            }
            let ra = try #require(RunRepository.parse(try runID(a))), rb = try #require(RunRepository.parse(try runID(b)))
            for s in 0..<(try repo.plan(ra).lower.count) {
                let x = try #require(try repo.propensities(ra, shard: s)), y = try #require(try repo.propensities(rb, shard: s))
                #expect(x.models == y.models && x.values == y.values, "\(what): propensities of shard \(s)")
            }
        }
        func runID(_ dir: String) throws -> String {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
            return json["run_id"] as! String
        }
        let base = try job(["--shard-size", "97", "--no-warm-start"])
        let shards = try repo.plan(try #require(RunRepository.parse(try runID(base.out)))).lower.count
        #expect(shards > 2)
        // A new version of the model, then the rescore on the standing workers, against the same rescore on
        // local workers.
        try cli.importShiftedLogitAll(store: path)
        let first = try job(["--rescore-from", try runID(base.out), "--models", "logit_all"])
        // Every shard sent without its columns is rebuilt from the held table, unless a straggler copy (sent
        // to a worker that does not hold it, scored from the store) won.
        func counts(_ summary: [String: Any]) -> (held: Int, rebuilt: Int, stragglers: Int) {
            ((summary["shards_from_held_propensities"] as? Int) ?? -1, (summary["shards_rebuilt_from_held_tables"] as? Int) ?? -1,
             ((summary["recovery"] as? [String: Any])?["straggler_copies"] as? Int) ?? -1)
        }
        let (held, rebuilt, stragglers) = counts(first.summary)
        #expect(held >= shards / 2 && held <= shards && rebuilt <= held && rebuilt >= held - stragglers && rebuilt > 0,
                "\(held) of \(shards) shards from held propensities, \(rebuilt) tables rebuilt, \(stragglers) straggler copies")
        #expect((first.summary["customers_changed"] as? Int ?? 0) > 0, "the new model changed nobody's list")
        try same(first.out, try local(from: try runID(base.out)), "rescore of the base run")
        // A rescore of that rescore: the workers hold its propensities and tables.
        let second = try job(["--rescore-from", try runID(first.out), "--models", "logit_all"])
        let again = counts(second.summary)
        #expect(again.held >= shards / 2 && again.rebuilt <= again.held && again.rebuilt >= again.held - again.stragglers && again.rebuilt > 0, "\(again)")
        try same(second.out, try local(from: try runID(first.out)), "rescore of the rescore")
        // Local workers (`--once`) hold nothing: a rescore on them is sent every column.
        let localSummary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: try local(from: try runID(base.out)) + "/summary.json"))) as! [String: Any]
        #expect(localSummary["shards_from_held_propensities"] as? Int == 0 && localSummary["shards_rebuilt_from_held_tables"] as? Int == 0)
        let log0 = (try? String(contentsOfFile: logs + "/w0.log", encoding: .utf8)) ?? ""
        let first0 = log0.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first0.contains("holding its shards' propensities and tables for rescores"), "standing worker's first line: \(first0)")
        #expect(log0.contains("its store changed since it was opened"), "the worker did not say why it opened its store again")
    }

    /// The coordinator accepts a rescored shard's PROPS only if they are exactly the models scored again, for
    /// the shard's customers; when the base run's propensities cannot be linked (kept in LMDB by a version-1
    /// store), it completes them with the kept columns, in plan order.
    @Test func aRescoredShardsPropensitiesAreCompletedFromTheKeptOnes() {
        // Plan models a, b, c; the base run kept (c, a) per customer; b is scored again.
        let kept = Coordinator.Reused(source: [1, -1, 0], stride: 2, customers: 2, values: [0.3, 0.1, 0.6, 0.4], files: nil)
        #expect(kept.completed(with: ["b"], values: [0.2, 0.5], planIDs: ["a", "b", "c"]) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
        #expect(kept.accepts(["b"], values: [0.2, 0.5], planIDs: ["a", "b", "c"]))
        for (models, values) in [(["a"], [0.2, 0.5]), (["b"], [0.2]), ([], [])] as [([String], [Float])] {
            #expect(kept.completed(with: models, values: values, planIDs: ["a", "b", "c"]) == nil)
            #expect(!kept.accepts(models, values: values, planIDs: ["a", "b", "c"]))
        }
        // Linked files: nothing is held to complete with, the PROPS are still checked.
        let linked = Coordinator.Reused(source: [1, -1, 0], stride: 2, customers: 2, values: nil, files: nil)
        #expect(linked.accepts(["b"], values: [0.2, 0.5], planIDs: ["a", "b", "c"]) && linked.completed(with: ["b"], values: [0.2, 0.5], planIDs: ["a", "b", "c"]) == nil)
    }

    /// After a model changed, a run from the remembered prices (and a rescore from the base run's) leaves the
    /// mix found under the old model and runs the presolve on samples from those prices: the rescore equals the
    /// full run, both presolve, and the next run (models unchanged since) explores the mix again, no presolve.
    @Test func afterAModelChangeTheWarmRunPresolvesFromThePricesAndTheRescoreAgrees() throws {
        let path = try ClusterFixtures.store(campaign: ClusterFixtures.root + "/lp/all_kinds/campaign.yaml").1
        let cli = RunsTests()
        let presolve = ["--presolve-customers", "60", "--workers", "2", "--quiet"]
        func run(_ args: [String]) throws -> (out: String, presolved: Bool) {
            let out = ClusterFixtures.tempDir("w")
            let (status, said) = try cli.nextbest(args + ["--store", path, "--out", out] + presolve)
            #expect(status == 0, "\(said)")
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any]
            let optimization = try #require(summary["optimization"] as? [String: Any])
            return (out, !(optimization["presolve"] is NSNull) && optimization["presolve"] != nil)
        }
        #expect(try run(["run"]).presolved, "a cold run presolves")
        #expect(try !run(["run"]).presolved, "a warm run with the same models explores the remembered mix")
        let (_, list) = try cli.nextbest(["runs", "list", "--store", path])
        let base = try #require(list.split(separator: "\n").dropFirst().last.map { String($0.prefix(16)) })
        try cli.importShiftedLogitAll(store: path)
        let full = try run(["run"])
        let re = try run(["rescore", "--from", base, "--models", "logit_all"])
        #expect(full.presolved && re.presolved, "the mix of the old model was explored")
        #expect(try String(contentsOfFile: full.out + "/nba.csv", encoding: .utf8) == String(contentsOfFile: re.out + "/nba.csv", encoding: .utf8))
        #expect(try !run(["run"]).presolved, "the models did not change since the last run")
    }

    /// A rescore whose base run's propensity files are damaged or missing scores those shards under every
    /// model, says which file and why, and writes the same nba.csv as with the files intact.
    @Test func damagedPropensityFilesAreScoredAgain() throws {
        let path = try ClusterFixtures.store(campaign: ClusterFixtures.root + "/lp/all_kinds/campaign.yaml").1
        let cli = RunsTests()
        #expect(try cli.nextbest(["run", "--store", path, "--out", ClusterFixtures.tempDir("b"), "--workers", "2", "--quiet", "--shard-size", "100"]).0 == 0)
        let (_, list) = try cli.nextbest(["runs", "list", "--store", path])
        let base = try #require(list.split(separator: "\n").dropFirst().last.map { String($0.prefix(16)) })
        let files = path + "/runs/" + base
        let names = try FileManager.default.contentsOfDirectory(atPath: files).filter { $0.hasSuffix(".f32") }.sorted()
        #expect(names.count >= 2 && names[0] == "props-00000000.f32", "\(names)")
        // Every shard's propensities were kept (sent by the workers as each shard was scored).
        do {
            let repo = RunRepository(store: try Store(path: path, readOnly: true, mustExist: true))
            let run = try #require(UInt64(base, radix: 16))
            let shards = try repo.plan(run).lower.count
            #expect(names.count == shards, "\(names.count) files for \(shards) shards")
            for s in 0..<shards {
                let kept = try repo.propensities(run, shard: s)
                #expect(kept != nil && kept!.values.count > 0, "shard \(s) of \(shards) has no kept propensities")
            }
        }
        let intact = ClusterFixtures.tempDir("intact"), damaged = ClusterFixtures.tempDir("damaged")
        #expect(try cli.nextbest(["rescore", "--store", path, "--from", base, "--models", "logit_all", "--out", intact, "--workers", "2", "--quiet"]).0 == 0)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: files + "/" + names[0]))
        bytes[bytes.count - 3] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: files + "/" + names[0]))
        try FileManager.default.removeItem(atPath: files + "/" + names[1])
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        p.arguments = ["rescore", "--store", path, "--from", base, "--models", "logit_all", "--out", damaged, "--workers", "2"]
        let out = Pipe()
        p.standardOutput = out; p.standardError = out
        try p.run()
        let said = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(said)")
        #expect(said.contains(names[0]) && said.contains("CRC-32") && said.contains(names[1]) && said.contains("missing"), "\(said)")
        let a = try String(contentsOfFile: intact + "/nba.csv", encoding: .utf8), b = try String(contentsOfFile: damaged + "/nba.csv", encoding: .utf8)
        #expect(a == b, "a rescore with damaged propensity files differs")
    }
}
