import Foundation
import Testing
import NextBestWire
@testable import NextBestCluster

/// The pure parts of the coordinator's deadlines and scoring bookkeeping, with time passed in as values.
@Suite struct DeadlineTests {
    let a: [UInt8] = Array("a".utf8), b: [UInt8] = Array("b".utf8), c: [UInt8] = Array("c".utf8)

    @Test func aDeadlineIsAMultipleOfTheLongestPerShardTimeWithAFloor() {
        var t = RequestTimes(factor: 10, floor: 5)
        // Nothing seen: the floor.
        #expect(t.limit(expected: t.expected(.prices, shards: 4)) == 5)
        t.observe(.scoring, seconds: 3, shards: 1)
        // PRICES not seen yet: the slowest per-shard time of any kind stands in for it.
        #expect(t.expected(.prices, shards: 4) == 12)
        #expect(t.limit(expected: t.expected(.prices, shards: 4)) == 120)
        t.observe(.prices, seconds: 0.4, shards: 4)
        t.observe(.prices, seconds: 0.2, shards: 4)
        // The longest per-shard time is kept (0.1 s), not the last (0.05 s).
        #expect(t.expected(.prices, shards: 4) == 0.4)
        #expect(t.limit(expected: t.expected(.prices, shards: 4)) == 5)
        #expect(t.limit(expected: t.expected(.prices, shards: 40)) == 40)
        // Nonsense observations are not kept.
        t.observe(.state, seconds: .infinity, shards: 1)
        t.observe(.state, seconds: 1, shards: 0)
        #expect(t.perShard[.state] == nil)
    }

    @Test func aBatchWaitExpiresAfterItsAllowanceAndIsObservedWhenComplete() {
        var t = RequestTimes(factor: 4, floor: 1)
        t.observe(.precheck, seconds: 1, shards: 2)   // 0.5 s a shard
        var w = ReplyWaits<[UInt8]>()
        w.start(a, kind: .precheck, at: 100, replies: 3, times: t)   // 4 × 1.5 s = 6 s
        w.start(b, kind: .precheck, at: 100, replies: 1, times: t)   // 4 × 0.5 s = 2 s, above the floor
        #expect(w.waits[a]?.allowed == 6)
        #expect(w.waits[b]?.allowed == 2)
        #expect(w.expired(at: 101.9).isEmpty)
        #expect(w.expired(at: 102.1).map(\.key) == [b])
        // Replies do not move a batch's clock: two of three at 105, still due at 106.
        w.reply(a, at: 104, times: &t)
        w.reply(a, at: 105, times: &t)
        #expect(w.expired(at: 106.5).map(\.key) == [b, a])
        // Complete: forgotten, and its time (9 s over 3 shards) observed.
        w.reply(a, at: 109, times: &t)
        #expect(w.waits[a] == nil)
        #expect(t.perShard[.precheck] == 3)
        w.cancel(b)
        #expect(w.expired(at: 1_000).isEmpty)
    }

    @Test func aSerialWaitRunsFromTheLastReply() {
        var t = RequestTimes(factor: 2, floor: 1)
        var w = ReplyWaits<[UInt8]>()
        w.start(a, kind: .collect, at: 0, replies: 1, times: t, serial: true)
        w.start(a, kind: .collect, at: 0.5, replies: 1, times: t, serial: true)
        w.start(a, kind: .collect, at: 0.6, replies: 1, times: t, serial: true)
        #expect(w.waits[a]?.remaining == 3)
        #expect(w.waits[a]?.deadline == 1)
        w.reply(a, at: 0.9, times: &t)          // observed: 0.9 s for one shard
        #expect(t.perShard[.collect] == 0.9)
        #expect(w.waits[a]?.deadline == 0.9 + 1.8)
        #expect(w.expired(at: 2.6).isEmpty)
        #expect(w.expired(at: 2.8).count == 1)
        // A worker taking shards over first: its clock starts when it is done.
        w.restart(a, at: 10)
        #expect(w.expired(at: 11).isEmpty)
    }

    @Test func aWaitWithExtraWorkIsAllowedForItButNotObserved() {
        var t = RequestTimes(factor: 3, floor: 1)
        t.observe(.scoring, seconds: 2, shards: 1)
        var w = ReplyWaits<[UInt8]>()
        w.start(a, kind: .restore, at: 0, replies: 1, times: t, extra: 4, serial: true)
        #expect(w.waits[a]?.allowed == 18)     // 3 × (4 + 2)
        w.reply(a, at: 5, times: &t)
        #expect(t.perShard[.restore] == nil)
    }

    func scheduler() -> ShardScheduler { ShardScheduler(customers: [100, 100, 50], candidatesPerCustomer: 4) }

    @Test func shardsGoInQueueOrderThenAsStragglersAndTheFirstCopyWins() {
        let t = RequestTimes(factor: 10, floor: 2)
        var times = t
        var s = scheduler()
        #expect(s.pick(for: a, fits: { _ in true })! == (0, false))
        #expect(s.assign(0, to: a, at: 0, times: t) == 1)
        // b has room for 60 customers only: the 50-customer shard.
        #expect(s.pick(for: b, fits: { $0 <= 60 })! == (2, false))
        #expect(s.assign(2, to: b, at: 0, times: t) == 1)
        #expect(s.assign(1, to: c, at: 0, times: t) == 1)
        #expect(s.queue.isEmpty)
        // Queue empty: a straggler copy, never of the worker's own shard.
        #expect(s.pick(for: a, fits: { _ in true })! == (1, true))
        #expect(s.assign(1, to: a, at: 1, times: t) == 2)
        #expect(s.duplicates == 1)
        #expect(s.scored(shard: 1, attempt: 2, customers: 100, candidates: 400, from: a, at: 2, times: &times) == .won(others: [c]))
        #expect(s.scored(shard: 1, attempt: 1, customers: 100, candidates: 400, from: c, at: 3, times: &times) == .stale)
        #expect(s.attempt[1] == 2)
        #expect(s.owner[1] == a)
        #expect(times.perShard[.scoring] == 1)
        #expect(s.done == 1 && !s.complete)
    }

    @Test func aRepliesNotMatchingWhatWasAskedAreInvalid() {
        let t = RequestTimes(factor: 10, floor: 2)
        var times = t
        var s = scheduler()
        _ = s.assign(0, to: a, at: 0, times: t)
        #expect(s.scored(shard: 0, attempt: 1, customers: 10_000_000_000_000_000, candidates: 1, from: a, at: 1, times: &times)
                == .invalid("SCORED for shard 0 with 10000000000000000 customers; the shard has 100"))
        #expect(s.scored(shard: 7, attempt: 1, customers: 1, candidates: 1, from: a, at: 1, times: &times)
                == .invalid("SCORED for shard 7; the run has 3"))
        #expect(s.scored(shard: 0, attempt: 5, customers: 100, candidates: 1, from: a, at: 1, times: &times)
                == .invalid("SCORED for shard 0 attempt 5; it was given attempt 1"))
        #expect(s.scored(shard: 0, attempt: 1, customers: 100, candidates: 401, from: a, at: 1, times: &times)
                == .invalid("SCORED for shard 0 with 401 candidates for 100 customers (at most 4 each)"))
        // Shard 1 was never sent to a: not its copy.
        #expect(s.scored(shard: 1, attempt: 1, customers: 100, candidates: 1, from: a, at: 1, times: &times) == .stale)
        #expect(s.done == 0)
    }

    @Test func aCopyPastItsDeadlineIsReportedAndALostWorkersShardsAreQueuedAgain() {
        var times = RequestTimes(factor: 10, floor: 2)
        var s = scheduler()
        _ = s.assign(0, to: a, at: 0, times: times)
        _ = s.assign(1, to: b, at: 0, times: times)
        #expect(s.scored(shard: 1, attempt: 1, customers: 100, candidates: 100, from: b, at: 0.5, times: &times) == .won(others: []))
        // Shard 0 was sent before any time was seen: the floor, 2 s. Shard 2 after one of 0.5 s: 10 × 0.5 s = 5 s.
        _ = s.assign(2, to: b, at: 1, times: times)
        #expect(s.expired(at: 1.9).isEmpty)
        #expect(s.expired(at: 2.1).map(\.copy) == [.init(peer: a, shard: 0)])
        #expect(s.expired(at: 6.1).map(\.copy) == [.init(peer: a, shard: 0), .init(peer: b, shard: 2)])
        // a is dropped: shard 0 goes back in the queue. b is lost too: the shard it held and the one in flight.
        s.lose(a)
        #expect(s.queue == [0])
        s.lose(b)
        #expect(s.queue == [0, 1, 2])
        #expect(s.requeued == 3 && s.done == 0)
        #expect(s.expired(at: 100).isEmpty)
        // Sent again, with the next attempt.
        #expect(s.assign(1, to: c, at: 7, times: times) == 2)
    }

    @Test func theFrameLimitGrowsWithShardAndCampaignAndSaturates() {
        let small = FrameLimit.bytes(customers: 300, candidates: 24, maxOffers: 3, labels: 20, rows: 10)
        #expect(small == 2 * (1 << 20 + 10 * (1_024 + 16 * 24) + 300 * (128 + 3 * 116 + 40 * 24)))
        #expect(FrameLimit.bytes(customers: 600, candidates: 24, maxOffers: 3, labels: 20, rows: 10) > small)
        #expect(FrameLimit.bytes(customers: 300, candidates: 48, maxOffers: 3, labels: 20, rows: 10) > small)
        #expect(FrameLimit.bytes(customers: 300, candidates: 24, maxOffers: 6, labels: 20, rows: 10) > small)
        #expect(FrameLimit.bytes(customers: .max, candidates: 65_534, maxOffers: 65_534, labels: 510, rows: 65_533) == .max)
        // The default shard (50,000 customers) of the bench's campaign (32 offers on 3 channels, 3 a customer)
        // stays well below the 800 MB frames of issue 21.
        #expect(FrameLimit.bytes(customers: 50_000, candidates: 96, maxOffers: 3, labels: 24, rows: 60) < 500_000_000)
    }
}
