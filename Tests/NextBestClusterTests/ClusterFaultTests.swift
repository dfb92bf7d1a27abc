import Foundation
import Testing
import NextBestCore
import NextBestStore
import NextBestWire
@testable import NextBestCluster
@testable import NextBestSynthetic

/// Worker processes killed with SIGKILL while scoring and while optimizing: their shards go to the other
/// workers and the output is byte-identical to a clean run.
@Suite(.serialized) struct ClusterFaultTests {
    let h = ClusterProcessTests()
    let fast: [String] = ["--heartbeat", "0.1"]

    func fastDetection(_ o: inout Coordinator.Options) { o.heartbeat = 0.1; o.deadAfter = 10 }

    /// Runs with three workers and kills the first one when `when` says so; returns the output and the summary.
    func runKilling(shardSize: Int, presolveCustomers: Int? = nil,
                    when: @escaping @Sendable (Coordinator.Event) -> Bool) throws -> (String, String, ClusterProcessTests.Lines) {
        let store = ClusterProcessTests.generated
        let out = ClusterFixtures.tempDir("fault")
        let log = ClusterProcessTests.Lines()
        let victim = Slots<Process>(count: 1)
        let killed = Counter()
        let (c, wait) = try h.startCoordinator(store: store, out: out, shardSize: shardSize, minWorkers: 3, log: log,
                                               configure: { o in fastDetection(&o); if let p = presolveCustomers { o.settings.presolveCustomers = p } }, events: { e in
            if when(e), killed.claim(below: 1) != nil { kill(victim.values()[0].processIdentifier, SIGKILL) }
        })
        let workers = try (0..<3).map { _ in try h.startWorker(connect: c.endpoint, store: store, extra: fast) }
        victim.set(0, workers[0])
        let r = try wait()
        for w in workers { w.waitUntilExit() }
        #expect(workers[0].terminationReason == .uncaughtSignal, "the victim was not killed")
        return (try String(contentsOfFile: r.nbaPath, encoding: .utf8), r.summary, log)
    }

    @Test func aWorkerKilledWhileScoring() throws {
        let reference = try h.oneProcess(ClusterProcessTests.generated)
        let (out, summary, log) = try runKilling(shardSize: 25) { e in
            if case let .shardScored(done, _) = e { return done == 20 }
            return false
        }
        expectSameNBA(out, reference, summary: summary)
        #expect(log.contains("declared dead"))
        // Re-queued if the death was noticed while scoring, restored if only during the rounds.
        #expect(!summary.contains("\"shards_requeued\": 0,") || !summary.contains("\"shards_restored\": 0"), "no shard was recovered")
    }

    @Test func aWorkerKilledWhileOptimizing() throws {
        let reference = try h.oneProcess(ClusterProcessTests.generated)
        let (out, summary, log) = try runKilling(shardSize: 200) { e in
            if case let .round(n) = e { return n == 8 }
            return false
        }
        expectSameNBA(out, reference, summary: summary)
        #expect(log.contains("declared dead"))
        #expect(!summary.contains("\"shards_restored\": 0"), "no shard was restored")
    }

    /// Killed during the presolve's rounds on a sample: the new holders answer the SAMPLE asked again and
    /// the output equals the one-process run with the same presolve.
    @Test func aWorkerKilledDuringThePresolve() throws {
        var o = LocalRunner.Options(storePath: ClusterProcessTests.generated, outDir: ClusterFixtures.tempDir("one"), threads: 2, warmStart: false)
        o.settings.presolveCustomers = 300
        let one = try LocalRunner.run(o)
        #expect(one.report.presolve != nil)
        let (out, summary, log) = try runKilling(shardSize: 200, presolveCustomers: 300) { e in
            if case let .sampleRound(n) = e { return n == 3 }
            return false
        }
        #expect(out == (try String(contentsOfFile: one.nbaPath, encoding: .utf8)))
        #expect(log.contains("declared dead"))
        #expect(summary.contains("\"sample_modulus\": 8"))
        #expect(!summary.contains("\"shards_restored\": 0"), "no shard was restored")
    }

    @Test func aWorkerKilledWhileTheListsAreCollected() throws {
        let reference = try h.oneProcess(ClusterProcessTests.generated)
        let (out, summary, _) = try runKilling(shardSize: 100) { e in
            if case let .shardWritten(done, _) = e { return done >= 3 }
            return false
        }
        expectSameNBA(out, reference, summary: summary)
        #expect(!summary.contains("\"shards_restored\": 0"), "no shard was restored")
    }
}

/// Lists that do not render (wire protocol 6: the coordinator renders nba.csv from the lists a worker sends):
/// the worker that sent them is dropped, its shards are rebuilt on the other worker from their recipes, and
/// the run's output is the one-process output.
@Suite(.serialized) struct DamagedListsTests {
    let h = ClusterProcessTests()

    @Test func aWorkerSendingListsThatDoNotRenderIsDroppedAndTheRunCompletes() throws {
        let store = ClusterProcessTests.generated
        let reference = try h.oneProcess(store)
        let log = ClusterProcessTests.Lines()
        let (c, wait) = try h.startCoordinator(store: store, out: ClusterFixtures.tempDir("damaged"), shardSize: 300, minWorkers: 2, log: log)
        let good = try h.startWorker(connect: c.endpoint, store: store)
        let bad = Process()
        bad.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        bad.arguments = ["worker", "--connect", c.endpoint, "--store", store, "--threads", "1", "--once", "--parent-pid", String(getpid())]
        var env = ProcessInfo.processInfo.environment
        env["NEXTBEST_FAILPOINT"] = "worker.damage-lists:2"
        bad.environment = env
        bad.standardError = FileHandle.nullDevice
        try bad.run()
        defer { if bad.isRunning { bad.terminate() } }
        let r = try wait()
        good.waitUntilExit()
        expectSameNBA(try String(contentsOfFile: r.nbaPath, encoding: .utf8), reference, summary: r.summary)
        #expect(log.contains("invalid ROWS: the lists of shard"), "no word of the damaged lists: \(log.all.suffix(5))")
        let summary = try String(contentsOfFile: r.summaryPath, encoding: .utf8)
        #expect(!summary.contains("\"shards_restored\": 0"), "no shard was restored")
    }
}

/// CURVE authentication: only workers whose public key is in the coordinator's allow-list get in.
@Suite(.serialized) struct ClusterAuthTests {
    let h = ClusterProcessTests()

    @Test func workersWithoutAnAllowedKeyNeverGetWork() throws {
        let store = ClusterProcessTests.generated
        let keys = ClusterFixtures.tempDir("keys")
        try CurveKeyFiles.generate(dir: keys, name: "coordinator")
        try FileManager.default.createDirectory(atPath: keys + "/allowed", withIntermediateDirectories: true)
        try CurveKeyFiles.generate(dir: keys + "/allowed", name: "good")
        try CurveKeyFiles.generate(dir: keys, name: "intruder")
        #expect(FileManager.default.isReadableFile(atPath: keys + "/allowed/good.secret"))
        let mode = try FileManager.default.attributesOfItem(atPath: keys + "/coordinator.secret")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let log = ClusterProcessTests.Lines()
        let (c, wait) = try h.startCoordinator(store: store, out: ClusterFixtures.tempDir("auth"), shardSize: 500, log: log, configure: { o in
            o.curveSecret = try! CurveKeyFiles.read(keys + "/coordinator.secret")
            o.allowedKeys = try! CurveKeyFiles.allowList(keys + "/allowed")
        })
        // An intruder with a key pair of its own, and a worker with no CURVE at all.
        let intruderErr = Pipe(), plainErr = Pipe()
        let intruder = try h.startWorker(connect: c.endpoint, store: store, once: false, stderr: intruderErr,
                                         extra: ["--curve-secret", keys + "/intruder.secret", "--coordinator-key", keys + "/coordinator.pub"])
        let plain = try h.startWorker(connect: c.endpoint, store: store, once: false, stderr: plainErr)
        while !log.contains("refused a connection") { usleep(20_000) }
        let good = try h.startWorker(connect: c.endpoint, store: store,
                                     extra: ["--curve-secret", keys + "/allowed/good.secret", "--coordinator-key", keys + "/coordinator.pub"])
        let r = try wait()
        good.waitUntilExit()
        intruder.terminate(); plain.terminate()
        intruder.waitUntilExit(); plain.waitUntilExit()
        let said = String(decoding: intruderErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            + String(decoding: plainErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(!said.contains("welcomed"), "an unauthorised worker got in: \(said)")
        #expect(try String(contentsOfFile: r.nbaPath, encoding: .utf8) == (try h.oneProcess(store)))
        #expect(r.summary.contains("\"workers\": 1"))
        let intruderKey = try CurveKeyFiles.read(keys + "/intruder.pub")
        #expect(log.contains("public key \(intruderKey) not in the allow-list"))
    }
}

/// The coordinator killed with SIGKILL (a failpoint) and resumed from its journal with `--resume`.
@Suite(.serialized) struct CoordinatorResumeTests {
    let h = ClusterProcessTests()

    func freeEndpoint() throws -> String {
        let ctx = try ZMQContext()
        let s = try ctx.socket(.router)
        try s.setLinger(0)
        try s.bind("tcp://127.0.0.1:*")
        let e = try s.lastEndpoint()
        s.close()
        return e
    }

    func coordinator(_ endpoint: String, store: String, out: String, extra: [String], failpoint: String?) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        p.arguments = ["coordinator", "--bind", endpoint, "--store", store, "--out", out, "--min-workers", "2", "--no-warm-start",
                       "--shard-size", "300", "--heartbeat", "0.1", "--wait-timeout", "60", "--keep-runs", "0"] + extra
        var env = ProcessInfo.processInfo.environment
        env["NEXTBEST_FAILPOINT"] = failpoint
        p.environment = env
        let pipe = Pipe()
        p.standardError = pipe
        try p.run()
        return (p, pipe)
    }

    @Test(arguments: ["coordinator.scored:4", "coordinator.round:6", "coordinator.written:4"])
    func resumedRunGivesTheSameBytes(failpoint: String) throws {
        let store = ClusterProcessTests.generated
        let reference = try h.oneProcess(store)
        let endpoint = try freeEndpoint()
        let out = ClusterFixtures.tempDir("resume")
        let (first, firstErr) = try coordinator(endpoint, store: store, out: out, extra: [], failpoint: failpoint)
        let workers = try (0..<2).map { _ in try h.startWorker(connect: endpoint, store: store, once: false, extra: ["--heartbeat", "0.1"]) }
        first.waitUntilExit()
        let said = String(decoding: firstErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(first.terminationReason == .uncaughtSignal, "the first coordinator was not killed: \(said)")
        #expect(!FileManager.default.fileExists(atPath: out + "/nba.csv"), "a killed run left an nba.csv")
        let runID = try #require(said.split(separator: "\n").compactMap { line -> String? in
            guard let r = line.range(of: "coordinator: run ") else { return nil }
            return String(line[r.upperBound...].prefix(16))
        }.first)
        // The same command with --resume, on the same endpoint; the long-lived workers come back by themselves.
        let (second, secondErr) = try coordinator(endpoint, store: store, out: out, extra: ["--resume", runID], failpoint: nil)
        second.waitUntilExit()
        let said2 = String(decoding: secondErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        for w in workers { w.terminate(); w.waitUntilExit() }
        #expect(second.terminationStatus == 0, "resume failed: \(said2)")
        expectSameNBA(try String(contentsOfFile: out + "/nba.csv", encoding: .utf8), reference)
        let summary = try String(contentsOfFile: out + "/summary.json", encoding: .utf8)
        #expect(summary.contains("\"resumed\": true") && summary.contains(runID))
        if failpoint.hasPrefix("coordinator.written") { #expect(said2.contains("optimized already")) }
    }
}

/// A corrupt record met during a run stops the run with the record named.
@Suite struct CorruptStoreTests {
    let h = ClusterProcessTests()

    @Test func aCorruptProfileStopsTheRunNamingTheCustomer() throws {
        let dir = ClusterFixtures.tempDir("corrupt")
        let gen = PopulationGenerator(customers: 600, offers: 8, seed: 5, trees: 5, depth: 3)
        _ = try BankWriter.write(gen, storePath: dir + "/store", filesDir: dir + "/files", threads: 2)
        let victim: UInt64
        do {
            let store = try Store(path: dir + "/store")
            victim = try store.env.read { txn in
                var ids: [UInt64] = []
                try txn.scan(store.profiles) { k, _ in ids.append(ProfileCodec.customerID(key: k)!); return ids.count < 300 }
                return ids[299]
            }
            try store.env.write { txn in _ = try txn.put(store.profiles, key: ProfileCodec.key(victim), value: [9, 0, 1]) }
        }
        // With worker processes: the worker reports it, the coordinator stops with the customer named.
        let (c, wait) = try h.startCoordinator(store: dir + "/store", out: dir + "/out", shardSize: 100)
        let w = try h.startWorker(connect: c.endpoint, store: dir + "/store", once: true)
        #expect {
            _ = try wait()
        } throws: { e in "\(e)".contains("customer \(victim)") && "\(e)".contains("profiles") }
        w.terminate(); w.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/nba.csv"))
        // In one process too.
        #expect {
            _ = try LocalRunner.run(.init(storePath: dir + "/store", outDir: dir + "/out1", threads: 2, settings: .init(shardSize: 100), warmStart: false))
        } throws: { e in "\(e)".contains("customer \(victim)") }
    }
}
