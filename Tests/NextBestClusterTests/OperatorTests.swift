import Foundation
import Testing
import NextBestCore
import NextBestStore
@testable import NextBestCluster
@testable import NextBestInspect
@testable import NextBestSynthetic
import NextBestTelemetry

/// What operators see: metrics that move during a run, JSON log lines with the run id, and `explain`
/// agreeing with the run's output.
@Suite(.serialized) struct OperatorTests {
    static let generated: String = {
        let dir = ClusterFixtures.tempDir("ops")
        let gen = PopulationGenerator(customers: 3_000, offers: 12, seed: 23, trees: 10, depth: 3)
        _ = try! BankWriter.write(gen, storePath: dir + "/store", filesDir: dir + "/files", threads: 2)
        return dir + "/store"
    }()

    /// GET over a plain socket (no HTTP client library): the status line and the body.
    static func get(port: Int, path: String) throws -> (status: String, body: String) {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(s >= 0)
        defer { close(s) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = in_port_t(UInt16(port)).bigEndian
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(ok == 0)
        let request = Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(s, $0.baseAddress, $0.count, 0) }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(s, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            data += buf[0..<n]
        }
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        return (String(parts[0].split(separator: "\r\n").first ?? ""), parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    /// The value of one series in a scrape (`name{labels}` exactly as exposed).
    static func value(_ body: String, _ series: String) -> Double? {
        for line in body.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2 && parts[0] == series { return Double(parts[1]) }
        }
        return nil
    }

    @Test func metricsEndpointMovesDuringARun() throws {
        let store = Self.generated
        let h = ClusterProcessTests()
        let metrics = RunMetrics()
        let server = try MetricsServer(address: "127.0.0.1", port: 0) { metrics.telemetry.exposition() }
        defer { server.stop() }
        #expect(try Self.get(port: server.port, path: "/nothing").status.contains("404"))
        let before = try Self.get(port: server.port, path: "/metrics")
        #expect(before.status.contains("200"))
        #expect(Self.value(before.body, "nextbest_customers_scored_total") == 0)
        #expect(Self.value(before.body, "nextbest_runs_total{state=\"started\"}") == 0)

        let scrapes = ClusterProcessTests.Lines()
        let port = server.port
        let (c, wait) = try h.startCoordinator(store: store, out: ClusterFixtures.tempDir("metrics"), shardSize: 300, minWorkers: 2,
                                               configure: { $0.metrics = metrics }, events: { e in
            // Scrape from the coordinator's own thread at fixed points of the run.
            let tag: String
            switch e {
            case .shardScored(let done, _) where done == 1: tag = "scored1"
            case .round(let r) where r == 3: tag = "round3"
            case .round(let r) where r == 5: tag = "round5"
            case .shardWritten(let n, _) where n == 5: tag = "written5"
            default: return
            }
            if let r = try? Self.get(port: port, path: "/metrics") { scrapes.add(tag + "\n" + r.body) }
        })
        let workers = try (0..<2).map { _ in try h.startWorker(connect: c.endpoint, store: store) }
        let result = try wait()
        for w in workers { w.waitUntilExit() }
        let after = try Self.get(port: server.port, path: "/metrics").body

        func scrape(_ tag: String) -> String? { scrapes.all.first { $0.hasPrefix(tag + "\n") } }
        let s1 = try #require(scrape("scored1")), r3 = try #require(scrape("round3")), r5 = try #require(scrape("round5"))
        let w5 = try #require(scrape("written5"))
        // Scoring: one shard in, the rest to come.
        #expect(Self.value(s1, "nextbest_customers_scored_total") == 300)
        #expect(Self.value(s1, "nextbest_shards{state=\"done\"}") == 1)
        #expect(Self.value(s1, "nextbest_workers_connected") == 2)
        #expect(Self.value(s1, "nextbest_runs_total{state=\"started\"}") == 1)
        // Rounds: every customer scored, the round counter moves, messages keep flowing.
        #expect(Self.value(r3, "nextbest_customers_scored_total") == 3000)
        #expect(Self.value(r3, "nextbest_optimization_round") == 3)
        #expect(Self.value(r5, "nextbest_optimization_round") == 5)
        let received3 = try #require(Self.value(r3, "nextbest_messages_total{direction=\"received\"}"))
        let received5 = try #require(Self.value(r5, "nextbest_messages_total{direction=\"received\"}"))
        #expect(received5 > received3)
        let dual = try #require(Self.value(r3, "nextbest_optimization_dual_bound"))
        #expect(dual > 0)
        // Writing, then done.
        #expect(Self.value(w5, "nextbest_shards{state=\"written\"}") == 5)
        #expect(Self.value(w5, "nextbest_runs_total{state=\"completed\"}") == 0)
        #expect(Self.value(after, "nextbest_shards{state=\"written\"}") == 10)
        #expect(Self.value(after, "nextbest_runs_total{state=\"completed\"}") == 1)
        #expect(Self.value(after, "nextbest_optimization_round") == Double(result.report.rounds))
        let gap = try #require(Self.value(after, "nextbest_optimization_gap"))
        #expect(abs(gap - result.report.gap) < 1e-9)
        #expect(Self.value(after, "nextbest_run_duration_seconds").map { $0 > 0 } == true)
        #expect(Self.value(after, "nextbest_stage_seconds{stage=\"total\"}") == nil)
        #expect(Self.value(after, "nextbest_stage_seconds{stage=\"wait_for_workers\"}") != nil)
        #expect(Self.value(after, "nextbest_stage_part_seconds{stage=\"merge_and_write\",part=\"write\"}") != nil)
        #expect(Self.value(after, "nextbest_shard_scoring_seconds_count") == 10)
        #expect(Self.value(after, "nextbest_optimization_round_seconds_count") == Double(result.report.history.count))
        #expect(Self.value(after, "nextbest_errors_total{kind=\"worker_lost\"}") == 0)
    }

    @Test func jsonLogLinesCarryTheRunID() throws {
        let out = ClusterFixtures.tempDir("jsonlog")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        p.arguments = ["run", "--store", Self.generated, "--out", out, "--workers", "1", "--no-warm-start", "--log-format", "json", "--shard-size", "1000"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any]
        let run = try #require(summary["run_id"] as? String)
        let lines = text.split(separator: "\n")
        #expect(lines.count >= 5)
        var withRun = 0
        for line in lines {
            let parsed = try JSONSerialization.jsonObject(with: Data(line.utf8))
            let o = try #require(parsed as? [String: Any], "not JSON: \(line)")
            #expect(o["time"] is String && o["level"] is String && o["message"] is String)
            if o["run"] as? String == run { withRun += 1 }
        }
        #expect(withRun >= 3)
        #expect(lines.contains { $0.contains("optimized in") && $0.contains("\"run\":\"\(run)\"") })
        // The report is written beside nba.csv.
        #expect(FileManager.default.fileExists(atPath: out + "/report.html"))
    }

    @Test func explainAgreesWithTheRunsOutput() throws {
        let out = ClusterFixtures.tempDir("explain")
        let r = try RunsTests().nextbest(["run", "--store", Self.generated, "--out", out, "--workers", "2", "--no-warm-start", "--quiet", "--shard-size", "700"])
        #expect(r.0 == 0)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as! [String: Any]
        let runText = try #require(summary["run_id"] as? String)
        let run = try #require(RunRepository.parse(runText))
        // nba.csv read on its own, row by row.
        var rows: [UInt64: [CustomerExplain.OutputRow]] = [:]
        for line in try String(contentsOfFile: out + "/nba.csv", encoding: .utf8).split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",").map(String.init)
            rows[UInt64(f[0])!, default: []].append(.init(rank: Int(f[1])!, offer: f[2], channel: f[3], propensity: f[4], expectedValue: f[5]))
        }
        // Every 97th customer id in the store (3,000 customers, ids from the generator), with and without offers.
        let all = rows.keys.sorted()
        #expect(all.count > 2_000)
        var sampled = stride(from: 0, to: all.count, by: 97).map { all[$0] }
        // And customers of the store with no offer at all.
        let storeIDs: [UInt64] = try {
            let store = try Store(path: Self.generated, readOnly: true, mustExist: true)
            return try store.env.read { txn in
                var ids: [UInt64] = []
                try txn.scan(store.profiles, from: ProfileCodec.key(0), to: nil) { k, _ in
                    if let id = ProfileCodec.customerID(key: k) { ids.append(id) }
                    return true
                }
                return ids
            }
        }()
        #expect(storeIDs.count == 3_000)
        let without = storeIDs.filter { rows[$0] == nil }
        sampled += without.prefix(3)
        var matches = 0
        for id in sampled {
            let e = try CustomerExplain.explain(storePath: Self.generated, run: run, customer: id)
            #expect(e.output == (rows[id] ?? []), "customer \(id)")
            #expect(e.valuesMatchOutput, "customer \(id)")
            #expect(!e.storeChanged)
            if e.choiceMatchesOutput { matches += 1 }
            for p in e.explanation.pairs {
                switch p.eligibility {
                case .belowThreshold(let m): #expect(Float(p.propensity) < Float(m))
                case .fatigued(let n, let limit, _): #expect(n >= limit)
                case .eligible: #expect((p.chosenRank == nil) != (p.notChosen == nil))
                }
                if p.chosenRank != nil { #expect(p.eligibility == .eligible && p.adjusted > 0) }
            }
            // Every offer in the run's list is eligible on its channel.
            for row in e.output {
                #expect(e.explanation.pairs.contains { $0.offer == row.offer && $0.channel == row.channel && $0.eligibility == .eligible })
            }
        }
        // The repair step changes a minority of lists: most equal the choice at the final prices.
        #expect(matches * 2 > sampled.count, "\(matches) of \(sampled.count)")
        // The command prints the same as JSON.
        let (status, json) = try RunsTests().nextbest(["explain", "--store", Self.generated, "--run", RunRepository.name(run), "--customer", String(sampled[0]), "--json"])
        #expect(status == 0)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8))
        let o = try #require(parsed as? [String: Any])
        #expect((o["output"] as? [[String: Any]])?.count == rows[sampled[0]]?.count)
        #expect(o["values_match_output"] as? Bool == true)
        // An unknown customer is refused by name.
        let (bad, _) = try RunsTests().nextbest(["explain", "--store", Self.generated, "--run", RunRepository.name(run), "--customer", "1"])
        #expect(bad != 0)
    }
}
