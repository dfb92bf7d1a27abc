import Foundation
import NextBestCore
import NextBestStore
import Synchronization
import Testing
@testable import NextBestCluster

/// The thread-safe helpers of the cluster: `Counter`, `Slots`, `Mailbox`, `ShardScoring` (issue 22).
@Suite struct ConcurrencyTests {
    @Test func counterHandsOutEachIndexOnceAcrossThreads() {
        let counter = Counter()
        let slots = Slots<Int>(count: 1_000)
        DispatchQueue.concurrentPerform(iterations: 4) { k in
            while let i = counter.claim(below: 1_000) { slots.set(i, k) }
        }
        #expect(slots.values().count == 1_000)
        #expect(counter.claim(below: 1_000) == nil)
        #expect(counter.claim(below: 1_001) == 1_000)
    }

    @Test func mailboxDrainsEverythingPostedOnce() {
        let box = Mailbox<Int>()
        DispatchQueue.concurrentPerform(iterations: 4) { k in
            for i in 0..<250 { box.post(k * 1_000 + i) }
        }
        let all = box.drain()
        #expect(all.count == 1_000)
        #expect(Set(all).count == 1_000)
        // Each thread's posts keep their order.
        for k in 0..<4 { #expect(all.filter { $0 / 1_000 == k } == (0..<250).map { k * 1_000 + $0 }) }
        #expect(box.drain().isEmpty)
    }

    /// `reopen` returns only once every scoring job has handed its table on, then serves the fresh store.
    @Test func shardScoringReopenWaitsForEveryJob() throws {
        let (_, path) = try ClusterFixtures.store()
        let scoring = ShardScoring(context: try RunContext(storePath: path), threads: 2)
        let before = scoring.context.fingerprint.digest
        let handed = Mutex<[Int]>([])
        for _ in 0..<4 {
            scoring.score(lower: 0, upper: nil, served: 0) { result, _ in
                let n = (try? result.get())?.customerCount ?? -1
                handed.withLock { $0.append(n) }
            }
        }
        let fresh = try scoring.reopen(storePath: path)
        let counts = handed.withLock { $0 }
        #expect(counts.count == 4)
        #expect(counts.allSatisfy { $0 > 0 }, "\(counts)")
        #expect(fresh.fingerprint.digest == before)
        #expect(scoring.context.fingerprint.digest == before)
    }

    /// SIGTERM makes a worker log that it stops and exit 0 (through `StopSignal`, UnixSignals underneath),
    /// even before a coordinator answered.
    @Test(arguments: [SIGTERM, SIGINT])
    func workerStopsOnASignal(sig: Int32) throws {
        let (_, path) = try ClusterFixtures.store()
        let log = ClusterFixtures.tempDir("worker-signal") + "/stderr"
        FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        // Nobody listens on port 9 (discard) of the loopback: the worker keeps saying HELLO.
        p.arguments = ["worker", "--connect", "tcp://127.0.0.1:9", "--store", path, "--threads", "1"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try p.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("connecting to") {
            Thread.sleep(forTimeInterval: 0.01)  // pacing of a test's wait for a child's log line
        }
        kill(p.processIdentifier, sig)
        p.waitUntilExit()
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(p.terminationReason == .exit && p.terminationStatus == 0, "\(p.terminationReason) \(p.terminationStatus): \(stderr)")
        #expect(stderr.contains("stopping on a signal"), "\(stderr)")
    }
}
