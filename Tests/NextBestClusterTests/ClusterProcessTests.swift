import Foundation
import Testing
import NextBestCore
import NextBestStore
import NextBestWire
@testable import NextBestCluster
@testable import NextBestSynthetic

/// The cluster with real processes on loopback: a coordinator in this process (on a thread) and
/// `nextbest worker` processes, checked against the one-process run.
@Suite(.serialized) struct ClusterProcessTests {
    /// The `nextbest` executable built beside this test bundle.
    static var executable: String {
        if let e = ProcessInfo.processInfo.environment["NEXTBEST_BIN"] { return e }
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("nextbest").path
    }

    /// A generated bank big enough for several shards per worker.
    static let generated: String = {
        let dir = ClusterFixtures.tempDir("gen")
        let gen = PopulationGenerator(customers: 3_000, offers: 12, seed: 11, trees: 10, depth: 3)
        _ = try! BankWriter.write(gen, storePath: dir + "/store", filesDir: dir + "/files", threads: 2)
        return dir + "/store"
    }()

    /// Lines logged by a role, readable from the test thread.
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [String] = []
        func add(_ s: String) { lock.withLock { items.append(s) } }
        var all: [String] { lock.withLock { items } }
        func contains(_ s: String) -> Bool { all.contains { $0.contains(s) } }
    }

    /// Starts `nextbest worker` processes.
    func startWorker(connect: String, store: String, threads: Int = 1, once: Bool = true, stderr: Pipe? = nil, logFile: String? = nil,
                     extra: [String] = []) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.executable)
        p.arguments = ["worker", "--connect", connect, "--store", store, "--threads", String(threads)] + (once ? ["--once"] : [])
            + ["--parent-pid", String(getpid())] + extra
        if let stderr { p.standardError = stderr }
        if let logFile {
            FileManager.default.createFile(atPath: logFile, contents: nil)
            p.standardError = FileHandle(forWritingAtPath: logFile)
        }
        try p.run()
        return p
    }

    /// Runs a coordinator on a thread; returns it (bound) and a function that waits for its result.
    func startCoordinator(store: String, out: String, shardSize: Int, minWorkers: Int = 1, bind: String = "tcp://127.0.0.1:*",
                          log: Lines = Lines(), configure: (inout Coordinator.Options) -> Void = { _ in },
                          events: ((Coordinator.Event) -> Void)? = nil) throws -> (Coordinator, () throws -> LocalRunner.Result) {
        var o = Coordinator.Options(bind: bind, storePath: store, outDir: out)
        o.settings.shardSize = shardSize; o.minWorkers = minWorkers; o.warmStart = false; o.waitTimeout = 60
        // Many tests run on the shared generated store at once: none prunes the others' runs in progress.
        o.keepRuns = 0
        configure(&o)
        let c = try Coordinator(o, log: { log.add($0) })
        c.onEvent = events
        let box = Slots<Result<LocalRunner.Result, Error>>(count: 1)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let coordinator = c
        let t = Thread { box.set(0, Result { try coordinator.run() }); done.signal() }
        t.stackSize = 8 << 20
        t.start()
        return (c, { done.wait(); return try box.values()[0].get() })
    }

    func oneProcess(_ store: String, shardSize: Int = 50_000) throws -> String {
        let out = ClusterFixtures.tempDir("one")
        let r = try LocalRunner.run(.init(storePath: store, outDir: out, threads: 2, settings: .init(shardSize: shardSize), warmStart: false))
        return try String(contentsOfFile: r.nbaPath, encoding: .utf8)
    }

    @Test func coordinatorAndWorkerProcessesGiveTheOneProcessOutput() throws {
        let store = Self.generated
        let reference = try oneProcess(store)
        #expect(reference.split(separator: "\n").count > 3_000)
        for (workers, shard) in [(1, 1_000), (2, 250), (3, 97)] {
            let out = ClusterFixtures.tempDir("cl")
            let (c, wait) = try startCoordinator(store: store, out: out, shardSize: shard, minWorkers: workers)
            let procs = try (0..<workers).map { _ in try startWorker(connect: c.endpoint, store: store) }
            let r = try wait()
            for p in procs { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
            let summary = try String(contentsOfFile: r.summaryPath, encoding: .utf8)
            expectSameNBA(try String(contentsOfFile: r.nbaPath, encoding: .utf8), reference, "\(workers) workers, shard size \(shard):", summary: summary)
            #expect(r.shards == (3_000 + shard - 1) / shard)
            #expect(summary.contains("\"workers\": \(workers)"))
        }
    }

    /// The workers are released once every shard is merged (nba.csv is written), before the coordinator writes
    /// the summary, and the output is the one-process output.
    @Test func theWorkersAreReleasedOnceTheListsAreMerged() throws {
        let store = Self.generated
        let out = ClusterFixtures.tempDir("rel")
        let seen = Lines()
        let (c, wait) = try startCoordinator(store: store, out: out, shardSize: 500, minWorkers: 2, events: { e in
            if case .released = e {
                let files = FileManager.default
                seen.add("nba.csv \(files.fileExists(atPath: out + "/nba.csv")), summary.json \(files.fileExists(atPath: out + "/summary.json"))")
            }
        })
        let procs = try (0..<2).map { _ in try startWorker(connect: c.endpoint, store: store) }
        let r = try wait()
        for p in procs { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        #expect(seen.all == ["nba.csv true, summary.json false"], "\(seen.all)")
        expectSameNBA(try String(contentsOfFile: r.nbaPath, encoding: .utf8), try oneProcess(store), summary: r.summary)
    }

    /// The presolve's rounds on a sample go over the wire (SAMPLE) and give what they give in one process.
    @Test func presolveOverTheWireGivesTheOneProcessOutput() throws {
        let store = Self.generated
        var o = LocalRunner.Options(storePath: store, outDir: ClusterFixtures.tempDir("one"), threads: 2, warmStart: false)
        o.settings.presolveCustomers = 300
        let one = try LocalRunner.run(o)
        let modulus = try #require(one.report.presolve?.modulus)
        #expect(modulus == 8)
        let out = ClusterFixtures.tempDir("cl")
        let (c, wait) = try startCoordinator(store: store, out: out, shardSize: 400, minWorkers: 2) { $0.settings.presolveCustomers = 300 }
        let procs = try (0..<2).map { _ in try startWorker(connect: c.endpoint, store: store) }
        let r = try wait()
        for p in procs { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        // The same presolve (timings aside): sample, passes per level.
        func passes(_ p: Optimizer.Presolve?) -> [Int] { p.map { [$0.modulus, $0.rounds] + $0.levels.flatMap { [$0.modulus, $0.passes] } } ?? [] }
        #expect(passes(r.report.presolve) == passes(one.report.presolve) && !passes(one.report.presolve).isEmpty)
        #expect(try String(contentsOfFile: r.nbaPath, encoding: .utf8) == String(contentsOfFile: one.nbaPath, encoding: .utf8))
    }

    /// A worker started with `--max-customers` is given no shard beyond its limit and the others take the
    /// rest; shards no connected worker has room for wait for another worker; and when none comes in time the
    /// run stops with an error naming every worker's use and limit, writing no output.
    @Test func aWorkersCustomerLimitIsKept() throws {
        let store = Self.generated
        let reference = try oneProcess(store)
        func held(_ log: Lines, _ worker: String) throws -> Int {
            let line = try #require(log.all.first { $0.contains("worker \(worker) holds ") }, "no holdings logged for \(worker)")
            let words = line.split(separator: " ")
            return try #require(words.firstIndex(of: "customers").flatMap { Int(words[$0 - 1].filter(\.isNumber)) }, "\(line)")
        }
        // Two workers, one capped at 450 customers (shards of 100): it holds at most 400, the other the rest.
        let log = Lines()
        let (c, wait) = try startCoordinator(store: store, out: ClusterFixtures.tempDir("cap"), shardSize: 100, minWorkers: 2, log: log)
        let capped = try startWorker(connect: c.endpoint, store: store, threads: 2, extra: ["--id", "capped", "--max-customers", "450"])
        let free = try startWorker(connect: c.endpoint, store: store, extra: ["--id", "free"])
        let r = try wait()
        for p in [capped, free] { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        expectSameNBA(try String(contentsOfFile: r.nbaPath, encoding: .utf8), reference, summary: r.summary)
        #expect(log.contains("worker capped joined (2 threads, at most 450 customers"))
        // (400 unless a straggler copy it took lost the race: never more than the limit.)
        let cappedHeld = try held(log, "capped")
        #expect(cappedHeld >= 100 && cappedHeld <= 400)
        #expect(try held(log, "free") == 3_000 - cappedHeld)

        // One worker with room for 1,000 of the 3,000 customers: the coordinator waits, a second worker joins
        // when it says so, and the run completes with the same output.
        let log2 = Lines()
        let (c2, wait2) = try startCoordinator(store: store, out: ClusterFixtures.tempDir("cap2"), shardSize: 500, log: log2)
        let small = try startWorker(connect: c2.endpoint, store: store, extra: ["--id", "small", "--max-customers", "1000"])
        let deadline = Date().addingTimeInterval(60)
        while !log2.contains("waiting for another worker") && Date() < deadline { usleep(10_000) }
        #expect(log2.contains("no worker has room for a shard of 500 customers (small holds 1000 of 1000 customers)"))
        let second = try startWorker(connect: c2.endpoint, store: store, extra: ["--id", "second"])
        let r2 = try wait2()
        for p in [small, second] { p.waitUntilExit() }
        expectSameNBA(try String(contentsOfFile: r2.nbaPath, encoding: .utf8), reference, summary: r2.summary)
        #expect(try held(log2, "small") == 1_000)
        #expect(try held(log2, "second") == 2_000)

        // Nobody else comes: the run stops after --wait-timeout with the limits in the message, no nba.csv.
        let out3 = ClusterFixtures.tempDir("cap3")
        let (c3, wait3) = try startCoordinator(store: store, out: out3, shardSize: 500, log: Lines()) { $0.waitTimeout = 2 }
        let lone = try startWorker(connect: c3.endpoint, store: store, extra: ["--id", "lone", "--max-customers", "1200"])
        #expect {
            _ = try wait3()
        } throws: { error in
            "\(error)".contains("no connected worker has room for a shard of 500 customers (lone holds 1000 of 1200 customers)")
                && "\(error)".contains("--max-customers")
        }
        lone.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: out3 + "/nba.csv"))
    }

    @Test func runWithLocalWorkersMatchesForOneTwoAndFourWorkers() throws {
        let store = Self.generated
        let reference = try oneProcess(store, shardSize: 400)
        for (workers, shard, transport) in [(1, 3_000, LocalCluster.Transport.unixSocket), (2, 500, .curveTCP), (4, 123, .unixSocket)] {
            var co = Coordinator.Options(bind: "tcp://127.0.0.1:*", storePath: store, outDir: ClusterFixtures.tempDir("lc"))
            co.settings.shardSize = shard; co.warmStart = false
            var o = LocalCluster.Options(coordinator: co, workers: workers, threadsPerWorker: 1, executable: Self.executable)
            o.transport = transport
            let lines = Lines()
            let r = try LocalCluster.run(o, log: { lines.add($0) })
            expectSameNBA(try String(contentsOfFile: r.nbaPath, encoding: .utf8), reference, "\(workers) local workers, shard size \(shard), \(transport)", summary: r.summary)
            // The workers were connected the way asked: a private Unix socket, or loopback TCP with CURVE.
            #expect(lines.contains(transport == .unixSocket ? "connected to ipc://" : "connected to tcp://127.0.0.1:"), "\(transport)")
        }
    }

    @Test func aWorkerWithAnotherStoreIsRefusedOnBothSides() throws {
        let store = Self.generated
        // Another store: the fixture bank (other catalogue, models and profile count).
        let (_, other) = try ClusterFixtures.store()
        let out = ClusterFixtures.tempDir("ref")
        let log = Lines()
        let (c, wait) = try startCoordinator(store: store, out: out, shardSize: 500, log: log)
        let pipe = Pipe()
        let bad = try startWorker(connect: c.endpoint, store: other, stderr: pipe)
        bad.waitUntilExit()
        let said = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // The refused worker exits with an error naming the reason…
        #expect(bad.terminationStatus != 0)
        #expect(said.contains("refused") && said.contains("store fingerprint"), "worker said: \(said)")
        // …the coordinator logged it, gave it no work, and completes the run with a good worker.
        #expect(log.contains("refused worker"))
        let good = try startWorker(connect: c.endpoint, store: store)
        let r = try wait()
        good.waitUntilExit()
        #expect(try String(contentsOfFile: r.nbaPath, encoding: .utf8) == (try oneProcess(store)))
        #expect(r.summary.contains("\"workers_refused\": 1"))
        #expect(r.summary.contains("\"workers\": 1"))
    }

    @Test func malformedFramesAreDroppedAndTheRunCompletes() throws {
        let store = Self.generated
        let out = ClusterFixtures.tempDir("junk")
        let log = Lines()
        let (c, wait) = try startCoordinator(store: store, out: out, shardSize: 300, log: log)
        // A rogue client speaking garbage, truncated messages, and well-formed messages out of turn.
        let ctx = try ZMQContext()
        let rogue = try ctx.socket(.dealer)
        try rogue.setLinger(0)
        try rogue.connect(c.endpoint)
        var rng = SplitMix64(seed: 99)
        let fingerprint = try RunContext(storePath: store).fingerprint.digest
        let valid: [WireMessage] = [
            .scored(run: 1, shard: 0, attempt: 0, customers: 10, candidates: 10),
            .aggregates(run: 1, shard: 0, attempt: 0, round: 1, aggregates: { var a = Aggregates(rows: 2); a.use = [1, 2]; return a }()),
            .hello(workerID: "rogue", software: "x", cores: 1, fingerprint: fingerprint ^ 1),
        ]
        func junk(_ n: Int) throws {
            for i in 0..<n {
                var frame = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if i % 3 == 0, let m = valid.randomElement(using: &rng) {
                    let b = m.encode()
                    frame = Array(b.prefix(Int(rng.next() % UInt64(b.count + 1))))
                }
                if i % 5 == 0 { frame = valid[i % valid.count].encode() }
                try rogue.send(i % 7 == 0 ? [frame, [1, 2, 3]] : [frame])
            }
        }
        try junk(300)
        let worker = try startWorker(connect: c.endpoint, store: store, threads: 2)
        try junk(300)
        let r = try wait()
        worker.waitUntilExit()
        rogue.close()
        #expect(try String(contentsOfFile: r.nbaPath, encoding: .utf8) == (try oneProcess(store)))
        #expect(log.contains("dropped a malformed message"))
        #expect(log.contains("refused worker rogue"))
        #expect(!r.summary.contains("\"dropped\": 0,"))
    }

    @Test func aLongLivedWorkerServesTwoJobsAndAWorkerJoiningMidRunGetsShards() throws {
        let store = Self.generated
        let reference = try oneProcess(store)
        // Job 1 on an ephemeral port; the worker stays up after it.
        let out1 = ClusterFixtures.tempDir("j1")
        let log = Lines()
        var (c, wait) = try startCoordinator(store: store, out: out1, shardSize: 20, log: log)
        let endpoint = c.endpoint
        let logs = ClusterFixtures.tempDir("logs")
        let stay = try startWorker(connect: endpoint, store: store, once: false, logFile: logs + "/stay.log")
        // A second worker joins once the run is under way (150 shards for one thread).
        while !log.contains("joined") { usleep(10_000) }
        let late = try startWorker(connect: endpoint, store: store, once: true, logFile: logs + "/late.log")
        let r1 = try wait()
        late.waitUntilExit()
        expectSameNBA(try String(contentsOfFile: r1.nbaPath, encoding: .utf8), reference, summary: r1.summary)
        #expect(r1.summary.contains("\"workers\": 2"), "the late worker got no shards")
        #expect(stay.isRunning)
        // Job 2: a new coordinator on the same endpoint; the long-lived worker reconnects by itself.
        // (The first coordinator's port is released once its last messages are flushed.)
        let deadline = Date().addingTimeInterval(10)
        while true {
            do { (c, wait) = try startCoordinator(store: store, out: ClusterFixtures.tempDir("j2"), shardSize: 700, bind: endpoint); break }
            catch let e as ZMQError where e.code == EADDRINUSE && Date() < deadline { usleep(100_000) }
        }
        let r2 = try wait()
        expectSameNBA(try String(contentsOfFile: r2.nbaPath, encoding: .utf8), reference, summary: r2.summary)
        #expect(stay.isRunning)
        stay.terminate()
        stay.waitUntilExit()
        // The standing worker keeps its memory for the next job (`ProcessMemory.holdBetweenJobs` took
        // effect); a worker that exits after one run does not.
        let first = { (f: String) in (try? String(contentsOfFile: logs + "/" + f, encoding: .utf8))?.split(separator: "\n").first.map(String.init) ?? "" }
        #expect(first("stay.log").contains("keeping its memory between jobs"), "standing worker's first line: \(first("stay.log"))")
        #expect(!first("late.log").contains("keeping its memory"), "--once worker's first line: \(first("late.log"))")
    }
}
