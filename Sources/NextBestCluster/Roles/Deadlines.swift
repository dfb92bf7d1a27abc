import Foundation
import NextBestCore

/// How long a worker may take to answer: the longest time per shard observed so far for each kind of
/// request, times `factor`, never under `floor` seconds. A kind not seen yet is given the slowest per-shard
/// time of any kind seen (scoring is seen first), so the first request of a kind is not held to the floor
/// alone. Times are seconds on the hub's listening clock (time the coordinator spends away from the
/// socket is not counted), passed in as values: the type reads no clock.
public struct RequestTimes: Sendable, Equatable {
    /// The requests the coordinator waits on.
    public enum Kind: String, Sendable, CaseIterable {
        case scoring, restore, precheck, prices, sample, split, state, propose, collect

        /// The reply awaited, for log lines.
        public var reply: String {
            switch self {
            case .scoring, .restore: return "SCORED"
            case .precheck: return "FACTS"
            case .prices, .sample: return "AGGREGATES"
            case .split: return "SPLITS"
            case .state: return "STATE"
            case .propose: return "MOVES"
            case .collect: return "ROWS"
            }
        }
    }

    /// Multiple of the observed per-shard time a request may take.
    public var factor: Double
    /// Seconds any request may take, however fast the earlier ones were.
    public var floor: Double
    /// The longest seconds per shard observed, by kind.
    public private(set) var perShard: [Kind: Double] = [:]

    public init(factor: Double, floor: Double) {
        self.factor = factor; self.floor = floor
    }

    /// Records a request of `kind` answered for `shards` shards in `seconds`.
    public mutating func observe(_ kind: Kind, seconds: Double, shards: Int) {
        guard shards > 0, seconds.isFinite, seconds >= 0 else { return }
        perShard[kind] = max(perShard[kind] ?? 0, seconds / Double(shards))
    }

    /// The expected seconds of a request of `kind` over `shards` shards (0 when nothing was observed yet).
    public func expected(_ kind: Kind, shards: Int) -> Double {
        (perShard[kind] ?? perShard.values.max() ?? 0) * Double(max(shards, 1))
    }

    /// The seconds allowed for work expected to take `expected` seconds.
    public func limit(expected: Double) -> Double { max(floor, factor * expected) }

    /// Why a worker past `allowed` seconds was dropped, for log lines.
    public func missed(_ kind: Kind, replies: Int, allowed: Double) -> String {
        "no \(kind.reply) for \(replies) shard(s) within \(FixedDecimal.string(allowed, decimals: 1)) s (the deadline: "
            + "\(FixedDecimal.string(factor, decimals: 1)) × the longest per-shard time seen, at least \(FixedDecimal.string(floor, decimals: 1)) s)"
    }
}

/// The replies the coordinator is waiting for, by key (a worker, or a worker and a shard), each with the
/// time it was asked and the seconds it is allowed. A pure value: the caller passes the time in.
///
/// A batch wait (one request, one reply per shard, all computed before any is sent) is timed from the
/// request; a serial wait (requests answered one by one, as COLLECT) from the later of the request and
/// the last reply, so a worker with many requests queued is held to the time of one.
public struct ReplyWaits<Key: Hashable & Sendable>: Sendable {
    /// One outstanding wait.
    public struct Wait: Sendable, Equatable {
        public var kind: RequestTimes.Kind
        public var since: Double
        /// Replies still expected, and how many were expected when the clock started.
        public var remaining: Int
        public var counted: Int
        /// Extra seconds of work expected for each reply beyond its kind's (a RESTORE's replay); a wait with
        /// extra work is not observed, since its time is not that of its kind alone.
        public var extra: Double
        public var serial: Bool
        public var allowed: Double
        public var deadline: Double { since + allowed }
    }

    public private(set) var waits: [Key: Wait] = [:]

    public init() {}

    /// Starts (or, for a serial wait already running, extends) waiting for `replies` replies from `key`;
    /// a batch wait started again replaces the one running.
    public mutating func start(_ key: Key, kind: RequestTimes.Kind, at now: Double, replies: Int, times: RequestTimes,
                               extra: Double = 0, serial: Bool = false) {
        guard replies > 0 else { return }
        if serial, var w = waits[key] {
            w.remaining += replies
            waits[key] = w
            return
        }
        let counted = serial ? 1 : replies
        waits[key] = Wait(kind: kind, since: now, remaining: replies, counted: counted, extra: extra, serial: serial,
                          allowed: times.limit(expected: extra + times.expected(kind, shards: counted)))
    }

    /// A reply from `key` arrived at `now`; observes the time when a batch is complete or on each serial reply.
    public mutating func reply(_ key: Key, at now: Double, times: inout RequestTimes) {
        guard var w = waits[key] else { return }
        w.remaining -= 1
        if w.serial || w.remaining <= 0, w.extra == 0 { times.observe(w.kind, seconds: now - w.since, shards: w.counted) }
        if w.remaining <= 0 { waits[key] = nil; return }
        if w.serial {
            w.since = now
            w.allowed = times.limit(expected: w.extra + times.expected(w.kind, shards: 1))
        }
        waits[key] = w
    }

    /// Starts the clock of `key`'s wait again at `now` (it could not answer before: it was taking over shards).
    public mutating func restart(_ key: Key, at now: Double) {
        waits[key]?.since = now
    }

    /// Stops waiting on `key` (its worker was lost, or its shard no longer needs a reply).
    public mutating func cancel(_ key: Key) { waits[key] = nil }

    /// Stops waiting on every key `matching`.
    public mutating func cancel(where matching: (Key) -> Bool) {
        for k in waits.keys where matching(k) { waits[k] = nil }
    }

    /// The waits past their deadline at `now`, earliest deadline first.
    public func expired(at now: Double) -> [(key: Key, wait: Wait)] {
        waits.filter { $0.value.deadline < now }.map { (key: $0.key, wait: $0.value) }.sorted { $0.wait.deadline < $1.wait.deadline }
    }
}
