import Foundation
import Testing
import NextBestCore
import NextBestStore
import NextBestWire
@testable import NextBestCluster

/// A peer speaking the protocol with the project's ZeroMQ wrappers: says HELLO with the store's fingerprint,
/// heartbeats every 0.1 s, and answers ASSIGN as `answer` says (nil: never); it answers nothing else. Told
/// BYE, it says HELLO again, as a long-lived worker does.
final class FakePeer: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var counts: [String: Int] = [:]
    private let done = DispatchSemaphore(value: 0)

    init(endpoint: String, store: String, name: String, answer: @escaping @Sendable (WireMessage) -> WireMessage?) throws {
        let fingerprint = try RunContext(storePath: store).fingerprint.digest
        let t = Thread { [self] in
            defer { done.signal() }
            do { try serve(endpoint, name: name, fingerprint: fingerprint, answer: answer) } catch { count("error: \(error)") }
        }
        t.start()
    }

    private func serve(_ endpoint: String, name: String, fingerprint: UInt64, answer: (WireMessage) -> WireMessage?) throws {
        let ctx = try ZMQContext()
        let socket = try ctx.socket(.dealer)
        defer { socket.close() }
        try socket.setIdentity(Array(name.utf8))
        try socket.connect(endpoint)
        var welcomed = false
        var lastSent = Date.distantPast
        while !lock.withLock({ stopped }) {
            if Date().timeIntervalSince(lastSent) >= 0.1 {
                try socket.send([(welcomed ? WireMessage.heartbeat
                                           : .hello(workerID: name, software: "fake", cores: 1, fingerprint: fingerprint)).encode()])
                lastSent = Date()
            }
            guard try socket.poll(timeoutMs: 20), let frames = try socket.receive(), let m = try? WireMessage.decode(frames[0]) else { continue }
            count(m.kindName)
            switch m {
            case .welcome: welcomed = true
            case .bye: welcomed = false; lastSent = .distantPast
            case .assign: if let reply = answer(m) { try socket.send([reply.encode()]) }
            default: break
            }
        }
    }

    private func count(_ kind: String) { lock.withLock { counts[kind, default: 0] += 1 } }

    /// How many messages of `kind` (WELCOME, ASSIGN, BYE, …) it received.
    func received(_ kind: String) -> Int { lock.withLock { counts[kind] ?? 0 } }

    func stop() {
        lock.withLock { stopped = true }
        done.wait()
    }
}

/// Hostile peers (issue 21, items 9 and 10): one that takes shards and falls silent, one that lies about a
/// shard, and unwelcomed peers sending frames far past the largest legitimate one. Each run completes with
/// the one-process output, a real worker beside the hostile peer.
@Suite(.serialized) struct HostilePeerTests {
    let h = ClusterProcessTests()

    /// Coordinator with fast heartbeats and short deadlines; the fake peer joins first, then a real worker once
    /// the log says `workerWhen` (by default: when the fake peer has joined).
    func runBeside(name: String, minWorkers: Int = 2, workerWhen: String? = nil, answer: @escaping @Sendable (WireMessage) -> WireMessage?)
        throws -> (nba: String, result: LocalRunner.Result, log: ClusterProcessTests.Lines, peer: FakePeer, coordinator: Coordinator) {
        let store = ClusterProcessTests.generated
        let log = ClusterProcessTests.Lines()
        let (c, wait) = try h.startCoordinator(store: store, out: ClusterFixtures.tempDir("hostile"), shardSize: 300, minWorkers: minWorkers, log: log) { o in
            o.heartbeat = 0.1; o.deadAfter = 50; o.deadlineFloor = 2; o.deadlineFactor = 5
        }
        let peer = try FakePeer(endpoint: c.endpoint, store: store, name: name, answer: answer)
        let start = Date()
        while !log.contains(workerWhen ?? "worker \(name) joined") && Date().timeIntervalSince(start) < 60 { usleep(10_000) }
        let worker = try h.startWorker(connect: c.endpoint, store: store)
        let r = try wait()
        worker.waitUntilExit()
        peer.stop()
        #expect(worker.terminationStatus == 0)
        return (try String(contentsOfFile: r.nbaPath, encoding: .utf8), r, log, peer, c)
    }

    /// Answers ASSIGN with a SCORED for one customer (within the shard), heartbeats on, and ignores PRECHECK
    /// and everything after: dropped at the PRECHECK's deadline, its shards restored on the real worker.
    @Test func aPeerThatHeartbeatsButNeverAnswersIsDroppedAtItsDeadline() throws {
        let reference = try h.oneProcess(ClusterProcessTests.generated)
        let (nba, r, log, peer, c) = try runBeside(name: "mute") { m in
            guard case let .assign(run, shard, attempt, _, _, _) = m else { return nil }
            return .scored(run: run, shard: shard, attempt: attempt, customers: 1, candidates: 1)
        }
        expectSameNBA(nba, reference)
        #expect(peer.received("ASSIGN") > 0)
        #expect(log.contains("dropped worker mute: no FACTS for"), "\(log.all.filter { $0.contains("mute") })")
        #expect(!r.summary.contains("\"shards_restored\": 0"), "no shard was restored")
        // Dropped, it was told BYE and had to say HELLO again to be welcomed.
        #expect(peer.received("BYE") >= 1 && peer.received("WELCOME") >= 2)
        #expect(c.hub.expelled >= 1)
        // The largest frame of the run is within the limit even without its safety factor.
        #expect(c.hub.largestFrame > 0 && Int64(c.hub.largestFrame) * Int64(FrameLimit.safetyFactor) < c.hub.frameLimit)
    }

    /// Takes ASSIGNs and never answers them: dropped at the scoring deadline (alone at first, so no straggler
    /// copy takes its shard), then the real worker joins and scores everything.
    @Test func aPeerThatNeverScoresIsDroppedAtTheScoringDeadline() throws {
        let reference = try h.oneProcess(ClusterProcessTests.generated)
        let (nba, _, log, peer, _) = try runBeside(name: "sink", minWorkers: 1, workerWhen: "dropped worker sink") { _ in nil }
        expectSameNBA(nba, reference)
        #expect(peer.received("ASSIGN") > 0)
        #expect(log.contains("dropped worker sink: no SCORED for 1 shard(s) within"), "\(log.all.filter { $0.contains("sink") })")
    }

    /// Claims 10^16 customers for each shard it is given: refused, dropped, and the run completes.
    @Test func aForgedScoredIsRefusedAndTheRunCompletes() throws {
        let reference = try h.oneProcess(ClusterProcessTests.generated)
        let (nba, r, log, peer, _) = try runBeside(name: "forger") { m in
            guard case let .assign(run, shard, attempt, _, _, _) = m else { return nil }
            return .scored(run: run, shard: shard, attempt: attempt, customers: 10_000_000_000_000_000, candidates: 1)
        }
        expectSameNBA(nba, reference)
        #expect(peer.received("ASSIGN") > 0)
        #expect(log.contains("dropped worker forger: invalid reply: SCORED for shard"))
        #expect(log.contains("with 10000000000000000 customers; the shard has 300"))
        #expect(r.summary.contains("\"customers\": 3000"))
    }

    /// Four unwelcomed peers each send one 64 MB frame (the limit here is a few MB) to a `nextbest coordinator`
    /// process: libzmq closes their connections before buffering the frames, so the coordinator's peak
    /// resident memory does not grow by the frame size; a real worker then completes the run.
    @Test func oversizeFramesFromUnwelcomedPeersDoNotGrowTheCoordinator() throws {
        let store = ClusterProcessTests.generated
        let out = ClusterFixtures.tempDir("flood")
        let coordinator = Process()
        coordinator.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        coordinator.arguments = ["coordinator", "--bind", "tcp://127.0.0.1:*", "--store", store, "--out", out, "--shard-size", "300",
                                 "--no-warm-start", "--heartbeat", "0.2", "--wait-timeout", "60", "--keep-runs", "0"]
        let stderr = Pipe(), log = ClusterProcessTests.Lines()
        stderr.fileHandleForReading.readabilityHandler = { f in log.add(String(decoding: f.availableData, as: UTF8.self)) }
        coordinator.standardError = stderr
        try coordinator.run()
        defer { if coordinator.isRunning { coordinator.terminate() } }
        let endpoint = try #require(Self.endpoint(in: log), "no endpoint in the coordinator's log")
        let before = try #require(Self.peakKB(coordinator.processIdentifier))
        let ctx = try ZMQContext()
        let frame = [UInt8](repeating: 0x4E, count: 64 << 20)
        let rogues = try (0..<4).map { _ in try ctx.socket(.dealer) }
        for r in rogues { try r.connect(endpoint); try r.send([frame]) }
        Thread.sleep(forTimeInterval: 3)
        let after = try #require(Self.peakKB(coordinator.processIdentifier))
        for r in rogues { r.close() }
        #expect(coordinator.isRunning)
        #expect(after - before < 16 << 10, "the coordinator's peak grew from \(before) KB to \(after) KB")
        let worker = try h.startWorker(connect: endpoint, store: store)
        worker.waitUntilExit()
        coordinator.waitUntilExit()
        #expect(coordinator.terminationStatus == 0)
        #expect(try String(contentsOfFile: out + "/nba.csv", encoding: .utf8) == (try h.oneProcess(store)))
    }

    /// The endpoint in the coordinator's "listening on" line (waits up to a minute for it).
    static func endpoint(in log: ClusterProcessTests.Lines) -> String? {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let text = log.all.joined()
            if let r = text.range(of: "listening on ") {
                let rest = text[r.upperBound...]
                if let end = rest.firstIndex(where: { $0 == "\n" || $0 == " " }) { return String(rest[..<end]) }
            }
            usleep(20_000)
        }
        return nil
    }

    /// A process's peak resident memory (VmHWM), in KB.
    static func peakKB(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }
}
