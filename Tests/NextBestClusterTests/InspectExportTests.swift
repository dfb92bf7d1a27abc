import Foundation
import Testing
import NextBestCore
@testable import NextBestStore
@testable import NextBestCluster
@testable import NextBestSynthetic

/// `nextbest inspect` and `nextbest export` with the built binary: exports equal the run's nba.csv byte
/// for byte (csv) or carry the same rows (jsonl), refusals name the run, the shard or the option, and
/// inspect reports a generated store's counts and features.
@Suite struct InspectExportTests {
    /// Runs the built `nextbest`; returns the exit status, standard output and standard error.
    func nextbest(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        p.arguments = args
        // Standard error goes to a file, so neither stream can fill a pipe and stall the child.
        let errPath = ClusterFixtures.tempDir("stderr") + "/err"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer { try? err.close() }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), try String(contentsOfFile: errPath, encoding: .utf8))
    }

    /// A fixture store (300 customers) with one finished cluster run of several shards; returns the store
    /// path, the run's output directory and its id.
    func storeWithRun() throws -> (store: String, out: String, run: String) {
        let path = try ClusterFixtures.store().1
        let out = ClusterFixtures.tempDir("run")
        let r = try nextbest(["run", "--store", path, "--out", out, "--workers", "1", "--shard-size", "64", "--no-warm-start", "--quiet"])
        #expect(r.status == 0, "\(r.err)")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any]
        return (path, out, try #require(summary["run_id"] as? String))
    }

    @Test func exportCSVIsTheRunsNBAByteForByteAndJSONLCarriesTheSameRows() throws {
        let (store, out, run) = try storeWithRun()
        let nba = try Data(contentsOf: URL(fileURLWithPath: out + "/nba.csv"))
        // csv, to a file and to standard output.
        let file = ClusterFixtures.tempDir("export") + "/nba.csv"
        let e = try nextbest(["export", "--store", store, "--run", run, "--format", "csv", "--out", file])
        #expect(e.status == 0, "\(e.err)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == nba, "exported csv differs from the run's nba.csv")
        let piped = try nextbest(["export", "--store", store, "--run", run, "--format", "csv"])
        #expect(piped.status == 0 && Data(piped.out.utf8) == nba)
        // jsonl: one line per customer with offers, in csv order, numbers as the csv's text.
        let rows = String(decoding: nba, as: UTF8.self).split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        var byCustomer: [(String, [[String]])] = []
        for r in rows {
            if byCustomer.last?.0 == r[0] { byCustomer[byCustomer.count - 1].1.append(r) } else { byCustomer.append((r[0], [r])) }
        }
        let j = try nextbest(["export", "--store", store, "--run", run, "--format", "jsonl"])
        #expect(j.status == 0, "\(j.err)")
        let lines = j.out.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "")
        #expect(lines.count - 1 == byCustomer.count && byCustomer.count > 10)
        for (line, (id, list)) in zip(lines, byCustomer) {
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect((obj["customer_id"] as? NSNumber)?.uint64Value == UInt64(id))
            let offers = try #require(obj["offers"] as? [[String: Any]])
            #expect(offers.count == list.count)
            for (o, r) in zip(offers, list) {
                #expect((o["rank"] as? NSNumber)?.intValue == Int(r[1]) && o["offer_id"] as? String == r[2] && o["channel"] as? String == r[3])
                #expect((o["propensity"] as? NSNumber)?.doubleValue == Double(r[4]) && (o["expected_value"] as? NSNumber)?.doubleValue == Double(r[5]))
            }
            // The csv's number text, copied.
            let text = list.map { "{\"rank\":\($0[1]),\"offer_id\":\"\($0[2])\",\"channel\":\"\($0[3])\",\"propensity\":\($0[4]),\"expected_value\":\($0[5])}" }
            #expect(line == "{\"customer_id\":\(id),\"offers\":[\(text.joined(separator: ","))]}")
        }
        // inspect counts the kept run.
        let i = try nextbest(["inspect", "--store", store, "--json"])
        let report = try #require(try JSONSerialization.jsonObject(with: Data(i.out.utf8)) as? [String: Any])
        #expect((report["counts"] as? [String: Any])?["kept_runs"] as? Int == 1)
    }

    @Test func exportRefusesUnknownUnfinishedAndIncompleteRunsAndUnknownFormats() throws {
        let (store, _, run) = try storeWithRun()
        let unknown = try nextbest(["export", "--store", store, "--run", "00000000deadbeef", "--format", "csv"])
        #expect(unknown.status != 0 && unknown.err.contains("00000000deadbeef") && unknown.out.isEmpty, "\(unknown.err)")
        let format = try nextbest(["export", "--store", store, "--run", run, "--format", "parquet"])
        #expect(format.status != 0 && format.err.contains("--format") && format.err.contains("parquet"), "\(format.err)")
        let id = try #require(RunRepository.parse(run))
        // Not finished: name the state and how to finish it. (The store is opened here only between CLI calls.)
        try { let j = RunRepository(store: try Store(path: store)); try j.setState(id, "merging") }()
        let target = ClusterFixtures.tempDir("x") + "/nba.csv"
        let unfinished = try nextbest(["export", "--store", store, "--run", run, "--format", "csv", "--out", target])
        #expect(unfinished.status != 0 && unfinished.err.contains("merging") && unfinished.err.contains("--resume \(run)"), "\(unfinished.err)")
        #expect(!FileManager.default.fileExists(atPath: target))
        // A shard's kept lists lost: name the run and the shard; nothing reaches standard output.
        try {
            let s = try Store(path: store)
            let j = RunRepository(store: s)
            try j.setState(id, "done")
            try s.env.write { txn in _ = try txn.delete(s.results, key: RunKeys.rows(id, 2)) }
        }()
        let missing = try nextbest(["export", "--store", store, "--run", run, "--format", "jsonl"])
        #expect(missing.status != 0 && missing.err.contains("run \(run)") && missing.err.contains("shard 2") && missing.out.isEmpty, "\(missing.err)")
    }

    @Test func inspectReportsAGeneratedStore() throws {
        let dir = ClusterFixtures.tempDir("gen") + "/store"
        let g = try nextbest(["generate", "--customers", "400", "--offers", "6", "--seed", "5", "--trees", "4", "--depth", "3", "--store", dir])
        #expect(g.status == 0, "\(g.err)")
        let data = dir + "/data.mdb"
        let before = try Data(contentsOf: URL(fileURLWithPath: data))
        let i = try nextbest(["inspect", "--store", dir, "--json"])
        #expect(i.status == 0, "\(i.err)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(i.out.utf8)) as? [String: Any])
        let counts = try #require(report["counts"] as? [String: Int])
        #expect(counts["customers"] == 400 && counts["offers"] == 6 && counts["models"] == 6 && counts["kept_runs"] == 0)
        #expect((counts["contact_history"] ?? 0) > 0 && (counts["channels"] ?? 0) > 0 && (counts["regions"] ?? 0) > 0)
        let gen = PopulationGenerator(customers: 400, offers: 6, seed: 5, trees: 4, depth: 3)
        #expect(report["features"] as? [String] == gen.schema.names)
        let models = try #require(report["models"] as? [[String: Any]])
        #expect(models.count == 6)
        for m in models {
            #expect((m["used_by"] as? [String])?.count == 1)
            if m["kind"] as? String == "trees" { #expect(m["trees"] as? Int == 4 && m["max_depth"] as? Int == 3) }
            else { #expect(m["kind"] as? String == "logistic" && (m["coefficients"] as? Int ?? 0) > 0) }
        }
        let campaign = try #require(report["campaign"] as? [String: Any])
        #expect(campaign["version"] as? Int == 1 && (campaign["offers"] as? [Any])?.count == 6)
        let size = try #require(report["size"] as? [String: Any])
        #expect(size["data_file_bytes"] as? Int == before.count && (size["pages_used"] as? Int ?? 0) > 0)
        let dbs = try #require(size["databases"] as? [String: [String: Int]])
        #expect(dbs["profiles"]?["entries"] == 400 && dbs["models"]?["entries"] == 6)
        // The text form, and nothing written.
        let t = try nextbest(["inspect", "--store", dir])
        #expect(t.status == 0 && t.out.contains("customers (profiles)") && t.out.contains("400") && t.out.contains("map size"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: data)) == before, "inspect changed the store")
    }

    @Test func inspectRefusesADirectoryThatIsNotAStore() throws {
        let empty = ClusterFixtures.tempDir("empty")
        for path in [empty, empty + "/absent"] {
            let r = try nextbest(["inspect", "--store", path])
            #expect(r.status != 0 && r.err.contains("cannot open store at \(path)") && r.err.contains("no store there"), "\(r.err)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty).isEmpty, "inspect created files")
    }
}
