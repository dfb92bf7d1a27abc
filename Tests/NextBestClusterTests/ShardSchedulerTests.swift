import Foundation
import Testing
import NextBestCore
import NextBestWire
@testable import NextBestCluster

/// The coordinator's scheduler: one state per shard as it moves through the scoring stage (queued, scoring,
/// held, queued again), with no sockets and the time passed in.
@Suite struct ShardSchedulerTests {
    let a: [UInt8] = Array("a".utf8), b: [UInt8] = Array("b".utf8), c: [UInt8] = Array("c".utf8)
    let times = RequestTimes(factor: 10, floor: 2)

    @Test func aShardGoesFromQueuedToScoringToHeldAndBackToTheEndOfTheQueueWhenItsHolderIsLost() {
        var t = times
        var s = ShardScheduler(customers: [100, 100, 50], candidatesPerCustomer: 4)
        #expect(s.states.map(\.phase) == [.queued(order: 0), .queued(order: 1), .queued(order: 2)])
        #expect(s.assign(0, to: a, at: 0, times: times) == 1)
        #expect(s.states[0].phase == .scoring([.init(peer: a, attempt: 1)]))
        #expect(s.queue == [1, 2] && s.running == 1 && !s.stalled)
        #expect(s.scored(shard: 0, attempt: 1, customers: 90, candidates: 200, from: a, at: 1, times: &t) == .won(others: []))
        #expect(s.states[0] == .init(phase: .held(peer: a, customers: 90, candidates: 200), attempt: 1))
        #expect(s.owner == [a, nil, nil] && s.scoredCustomers == [90, 0, 0] && s.scoredCandidates == [200, 0, 0] && s.done == 1)
        // The holder is lost: the shard goes to the end of the queue, behind those never sent.
        s.lose(a)
        #expect(s.queue == [1, 2, 0])
        #expect(s.states[0].phase == .queued(order: 3) && s.states[0].attempt == 1)
        #expect(s.done == 0 && s.requeued == 1 && s.scoredCustomers == [0, 0, 0])
        // Sent again with the next attempt.
        #expect(s.assign(0, to: b, at: 2, times: times) == 2)
    }

    /// A rescore ranks the shards: a worker takes first the queued shards it holds the kept propensities of,
    /// in queue order, then those nobody holds, then another's; a shard it has no room for is passed over.
    @Test func aWorkerTakesTheShardsItHoldsFirst() {
        var s = ShardScheduler(customers: [100, 100, 100, 100, 50], candidatesPerCustomer: 4)
        let rank = { (shard: Int) -> Int in [2, 0, 1, 0, 0][shard] }
        #expect(s.pick(for: a, fits: { _ in true }, rank: rank)! == (1, false))
        #expect(s.pick(for: a, fits: { $0 < 100 }, rank: rank)! == (4, false))
        _ = s.assign(1, to: a, at: 0, times: times)
        _ = s.assign(3, to: a, at: 0, times: times)
        _ = s.assign(4, to: a, at: 0, times: times)
        #expect(s.pick(for: a, fits: { _ in true }, rank: rank)! == (2, false))
        _ = s.assign(2, to: a, at: 0, times: times)
        #expect(s.pick(for: a, fits: { _ in true }, rank: rank)! == (0, false))
        // Without ranks (not a rescore), the queue's order.
        #expect(ShardScheduler(customers: [1, 1], candidatesPerCustomer: 4).pick(for: a, fits: { _ in true })! == (0, false))
    }

    /// A standing worker's held propensities: one copy per shard index (keeping shard 1 of a new run drops
    /// shard 1 of the old), DROP forgets a shard, RELEASE keeps only the released run's, and HELLO announces
    /// them in order. A worker that holds nothing (`--once`) keeps nothing.
    @Test func aWorkerHoldsOneCopyOfEachShardsPropensities() {
        let metrics = WorkerMetrics()
        let hold = HeldShards(enabled: true, metrics: metrics)
        func gauges() -> [Double?] {
            let e = BatchMetricsTests.Exposition(metrics.telemetry.exposition())
            return [e.samples["nextbest_worker_rescore_shards_held"], e.samples["nextbest_worker_rescore_propensity_bytes"]]
        }
        func shard(_ v: Float) -> HeldShards.Shard { .init(lower: 0, upper: 10, models: ["m"], values: [v, v], served: 0) }
        hold.keep(run: 7, shard: 2, shard(1))
        hold.keep(run: 7, shard: 1, shard(2))
        #expect(hold.announcement == [HeldPropensities(run: 7, shards: [1, 2])] && hold.bytes == 16)
        #expect(gauges() == [2, 16])
        hold.keep(run: 9, shard: 1, shard(3))
        #expect(hold.announcement == [HeldPropensities(run: 7, shards: [2]), HeldPropensities(run: 9, shards: [1])])
        #expect(hold.shard(run: 9, 1)?.values == [3, 3] && hold.shard(run: 7, 1) == nil)
        hold.forget(run: 7, shard: 2)
        #expect(hold.announcement == [HeldPropensities(run: 9, shards: [1])])
        hold.keep(run: 7, shard: 0, shard(4))
        hold.released(run: 9)
        #expect(hold.announcement == [HeldPropensities(run: 9, shards: [1])])
        #expect(gauges() == [1, 8])
        let none = HeldShards(enabled: false)
        none.keep(run: 1, shard: 0, shard(1))
        #expect(none.announcement.isEmpty && none.shard(run: 1, 0) == nil)
    }

    @Test func aStragglerCopyIsAStateWithTwoCopiesAndTheLoserIsStale() {
        var t = times
        var s = ShardScheduler(customers: [100], candidatesPerCustomer: 4)
        _ = s.assign(0, to: a, at: 0, times: times)
        #expect(s.pick(for: a, fits: { _ in true }) == nil)
        #expect(s.pick(for: b, fits: { _ in true })! == (0, true))
        _ = s.assign(0, to: b, at: 1, times: times)
        #expect(s.states[0].copies == [.init(peer: a, attempt: 1), .init(peer: b, attempt: 2)])
        #expect(s.duplicates == 1 && s.running == 1)
        // A third worker is not given a third copy.
        #expect(s.pick(for: c, fits: { _ in true }) == nil)
        #expect(s.scored(shard: 0, attempt: 2, customers: 100, candidates: 1, from: b, at: 2, times: &t) == .won(others: [a]))
        #expect(s.scored(shard: 0, attempt: 1, customers: 100, candidates: 1, from: a, at: 3, times: &t) == .stale)
        #expect(s.owner == [b] && s.attempt == [2] && s.complete)
        // The waits of both copies are over.
        #expect(s.expired(at: 1_000).isEmpty)
    }

    @Test func losingOneOfTwoCopiesKeepsTheShardScoringAndLosingBothQueuesItOnce() {
        var s = ShardScheduler(customers: [10, 10], candidatesPerCustomer: 1)
        _ = s.assign(0, to: a, at: 0, times: times)
        _ = s.assign(1, to: b, at: 0, times: times)
        _ = s.assign(0, to: b, at: 0, times: times)
        s.lose(a)
        #expect(s.states[0].phase == .scoring([.init(peer: b, attempt: 2)]))
        #expect(s.queue.isEmpty && s.requeued == 0)
        s.lose(b)
        #expect(s.queue == [0, 1] && s.requeued == 2 && s.stalled)
        #expect(s.smallestQueued == 10)
    }

    /// What the coordinator sends a worker beyond its threads (one shard ahead) and when it scores a rescore's
    /// shard that another connected worker holds (`Coordinator.takes`).
    @Test func oneShardAheadAndAnotherWorkersHeldShards() {
        func takes(ahead: Bool = false, straggler: Bool = false, held: Bool = false, running: Int = 3, left: Int = 0) -> Bool {
            Coordinator.takes(ahead: ahead, straggler: straggler, heldByAnother: held, running: running, heldByOthersLeft: { left })
        }
        // A free thread takes what `pick` chose; the shard ahead is a queued one, never a straggler's copy.
        #expect(takes() && takes(straggler: true) && takes(ahead: true))
        #expect(!takes(ahead: true, straggler: true))
        // Another worker's held shard: only by a worker with a free thread, and only while 16 or more are left.
        #expect(!takes(held: true, left: Coordinator.stealAfter - 1) && takes(held: true, left: Coordinator.stealAfter))
        #expect(!takes(ahead: true, held: true, left: 100))
        // With nothing being scored, anything left is taken (its holder is not taking it).
        #expect(takes(held: true, running: 0, left: 1) && takes(ahead: true, held: true, running: 0))
    }
}
