import Foundation
import Testing
import NextBestCore
import NextBestStore
import NextBestWire
@testable import NextBestCluster

/// Worker processes killed with SIGKILL while scoring and while optimizing: their shards go to the other
/// workers and the output is byte-identical to a clean run.
@Suite(.serialized) struct ClusterFaultTests {
    let h = ClusterProcessTests()
    let fast: [String] = ["--heartbeat", "0.1"]

    func fastDetection(_ o: inout Coordinator.Options) { o.heartbeat = 0.1; o.deadAfter = 10 }

    /// Runs with three workers and kills the first one when `when` says so; returns the output and the summary.
    func runKilling(shardSize: Int, when: @escaping @Sendable (Coordinator.Event) -> Bool) throws -> (String, String, ClusterProcessTests.Lines) {
        let store = ClusterProcessTests.generated
        let out = ClusterFixtures.tempDir("fault")
        let log = ClusterProcessTests.Lines()
        let victim = Slots<Process>(count: 1)
        let killed = Counter()
        let (c, wait) = try h.startCoordinator(store: store, out: out, shardSize: shardSize, minWorkers: 3, log: log,
                                               configure: fastDetection, events: { e in
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
        #expect(out == reference)
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
        #expect(out == reference)
        #expect(log.contains("declared dead"))
        #expect(!summary.contains("\"shards_restored\": 0"), "no shard was restored")
    }

    @Test func aWorkerKilledWhileTheListsAreCollected() throws {
        let reference = try h.oneProcess(ClusterProcessTests.generated)
        let (out, summary, _) = try runKilling(shardSize: 100) { e in
            if case let .shardWritten(done, _) = e { return done == 3 }
            return false
        }
        #expect(out == reference)
        #expect(!summary.contains("\"shards_restored\": 0"), "no shard was restored")
    }
}
