import Foundation

/// The scoring stage's bookkeeping, one state per shard: queued, in flight on some workers (each copy with
/// the attempt it was given and its deadline), or scored and held by one worker. A pure value: it sends
/// nothing and reads no clock (the caller passes the hub's listening clock in), so every decision is unit
/// tested without sockets or sleeping.
///
/// Workers are asked for shards in the order the caller offers them: each gets the first queued shard it has
/// room for, or, when none is left, a copy of an unscored shard in flight on one other worker only (a
/// straggler; the first copy scored wins). A lost worker's shards go back in the queue, scored or not. A
/// SCORED is checked against what was asked (shard, attempt, customer and candidate counts within the shard's
/// real size); one that does not match is `invalid` and the caller drops its sender.
public struct ShardScheduler: Sendable {
    /// A worker, by routing id.
    public typealias Peer = [UInt8]
    /// One copy of a shard being scored.
    public struct Copy: Hashable, Sendable {
        public var peer: Peer
        public var shard: Int
    }

    /// What became of a SCORED.
    public enum Verdict: Equatable, Sendable {
        /// The first copy scored: the shard is held by its sender; the other copies (their workers) are not needed.
        case won(others: [Peer])
        /// Another copy won already: the sender's copy is not needed.
        case late
        /// Not a copy in flight on the sender (dropped, or taken back from a lost worker): ignored.
        case stale
        /// It does not match what the sender was asked.
        case invalid(String)
    }

    /// Customers of each shard, as planned.
    public let customers: [Int]
    /// Candidates a customer can have at most (each offer once per channel).
    public let candidatesPerCustomer: Int
    public private(set) var queue: [Int]
    public private(set) var attempt: [UInt32]
    /// The workers scoring each shard and the attempt each was given.
    public private(set) var inflight: [[(peer: Peer, attempt: UInt32)]]
    public private(set) var owner: [Peer?]
    /// Customers and candidates of each scored shard, as its holder reported them.
    public private(set) var scoredCustomers: [Int]
    public private(set) var scoredCandidates: [UInt64]
    public private(set) var done = 0
    /// Shards put back in the queue from lost workers, and straggler copies handed out.
    public private(set) var requeued = 0
    public private(set) var duplicates = 0
    public private(set) var waits = ReplyWaits<Copy>()

    public init(customers: [Int], candidatesPerCustomer: Int) {
        self.customers = customers
        self.candidatesPerCustomer = candidatesPerCustomer
        queue = Array(customers.indices)
        attempt = Array(repeating: 0, count: customers.count)
        inflight = Array(repeating: [], count: customers.count)
        owner = Array(repeating: nil, count: customers.count)
        scoredCustomers = Array(repeating: 0, count: customers.count)
        scoredCandidates = Array(repeating: 0, count: customers.count)
    }

    public var shardCount: Int { customers.count }
    public var complete: Bool { done == customers.count }
    /// Shards being scored now.
    public var running: Int { inflight.reduce(0) { $0 + ($1.isEmpty ? 0 : 1) } }
    /// Shards queued while none is being scored: no worker had room for them.
    public var stalled: Bool { !queue.isEmpty && inflight.allSatisfy(\.isEmpty) }
    /// The smallest queued shard, in customers.
    public var smallestQueued: Int? { queue.map { customers[$0] }.min() }

    /// The shard `peer` should score next: the first queued one `fits` says it has room for, or a straggler.
    public func pick(for peer: Peer, fits: (Int) -> Bool) -> (shard: Int, straggler: Bool)? {
        if let s = queue.first(where: { fits(customers[$0]) }) { return (s, false) }
        let s = customers.indices.first { owner[$0] == nil && inflight[$0].count == 1 && inflight[$0][0].peer != peer && fits(customers[$0]) }
        return s.map { ($0, true) }
    }

    /// Records that `shard` was sent to `peer` at `now`; returns the attempt to send with it.
    public mutating func assign(_ shard: Int, to peer: Peer, at now: Double, times: RequestTimes) -> UInt32 {
        if let k = queue.firstIndex(of: shard) { queue.remove(at: k) } else { duplicates += 1 }
        attempt[shard] += 1
        inflight[shard].append((peer, attempt[shard]))
        waits.start(Copy(peer: peer, shard: shard), kind: .scoring, at: now, replies: 1, times: times)
        return attempt[shard]
    }

    /// A worker is gone: the shards only it was scoring, and those it held, go back in the queue.
    public mutating func lose(_ peer: Peer) {
        waits.cancel { $0.peer == peer }
        for s in customers.indices {
            if inflight[s].contains(where: { $0.peer == peer }) {
                inflight[s].removeAll { $0.peer == peer }
                if inflight[s].isEmpty && owner[s] == nil { queue.append(s); requeued += 1 }
            }
            if owner[s] == peer {
                owner[s] = nil; done -= 1
                queue.append(s); requeued += 1
            }
        }
    }

    /// Takes a SCORED from `peer` at `now` (observing its time in `times`) and says what became of it.
    public mutating func scored(shard: UInt32, attempt att: UInt32, customers n: UInt64, candidates: UInt64, from peer: Peer,
                                at now: Double, times: inout RequestTimes) -> Verdict {
        let s = Int(shard)
        guard s < customers.count else { return .invalid("SCORED for shard \(shard); the run has \(customers.count)") }
        guard let copy = inflight[s].first(where: { $0.peer == peer }) else { return .stale }
        guard att == copy.attempt else { return .invalid("SCORED for shard \(s) attempt \(att); it was given attempt \(copy.attempt)") }
        guard n <= UInt64(customers[s]) else { return .invalid("SCORED for shard \(s) with \(n) customers; the shard has \(customers[s])") }
        guard candidates <= n * UInt64(candidatesPerCustomer) else {
            return .invalid("SCORED for shard \(s) with \(candidates) candidates for \(n) customers (at most \(candidatesPerCustomer) each)")
        }
        waits.reply(Copy(peer: peer, shard: s), at: now, times: &times)
        inflight[s].removeAll { $0.peer == peer }
        if owner[s] != nil { return .late }
        owner[s] = peer
        self.attempt[s] = att   // the copy that won; its AGGREGATES carry this attempt
        done += 1
        scoredCustomers[s] = Int(n)
        scoredCandidates[s] = candidates
        let others = inflight[s].map(\.peer)
        for o in others { waits.cancel(Copy(peer: o, shard: s)) }
        inflight[s] = []
        return .won(others: others)
    }

    /// Copies past their deadline at `now`, earliest first, with the seconds they were allowed.
    public func expired(at now: Double) -> [(copy: Copy, allowed: Double)] {
        waits.expired(at: now).map { ($0.key, $0.wait.allowed) }
    }
}
