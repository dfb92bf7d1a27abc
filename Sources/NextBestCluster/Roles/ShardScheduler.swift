import Foundation

/// The scoring stage's bookkeeping, one state per shard: queued, in flight on some workers (each copy with
/// the attempt it was given and its deadline), or scored and held by one worker. A pure value: it sends
/// nothing and reads no clock (the caller passes the hub's listening clock in), so every decision is unit
/// tested without sockets or sleeping.
///
/// Workers are asked for shards in the order the caller offers them: each gets the first queued shard it has
/// room for, or, when none is left, a copy of an unscored shard in flight on one other worker only (a
/// straggler; the first copy scored wins, later ones are stale). A lost worker's shards go back in the queue,
/// scored or not. A SCORED is checked against what was asked (shard, attempt, customer and candidate counts
/// within the shard's real size); one that does not match is `invalid` and the caller drops its sender.
public struct ShardScheduler: Sendable {
    /// A worker, by routing id.
    public typealias Peer = [UInt8]
    /// One copy of a shard being scored.
    public struct Copy: Hashable, Sendable {
        public var peer: Peer
        public var shard: Int
    }

    /// One copy in flight: its worker and the attempt it was given.
    public struct InFlight: Equatable, Sendable {
        public var peer: Peer
        public var attempt: UInt32
    }

    /// One shard's state.
    public struct ShardState: Equatable, Sendable {
        /// Where the shard is.
        public enum Phase: Equatable, Sendable {
            /// In the queue; `order` places it there (lower first: the order it was queued in).
            case queued(order: Int)
            /// Being scored by these workers (more than one: straggler copies).
            case scoring([InFlight])
            /// Scored, and held by `peer`, with the customers and candidates it reported.
            case held(peer: Peer, customers: Int, candidates: UInt64)
        }
        public var phase: Phase
        /// The latest attempt given (once held: the attempt of the copy that won; its AGGREGATES carry it).
        public var attempt: UInt32 = 0

        /// The copies in flight.
        public var copies: [InFlight] {
            if case .scoring(let c) = phase { return c }
            return []
        }
        /// The holder, once scored.
        public var holder: Peer? {
            if case .held(let p, _, _) = phase { return p }
            return nil
        }
        /// The place in the queue, while queued.
        public var queueOrder: Int? {
            if case .queued(let o) = phase { return o }
            return nil
        }
    }

    /// What became of a SCORED.
    public enum Verdict: Equatable, Sendable {
        /// The first copy scored: the shard is held by its sender; the other copies (their workers) are not needed.
        case won(others: [Peer])
        /// Not a copy in flight on the sender (dropped, taken back from a lost worker, or another copy won):
        /// ignored.
        case stale
        /// It does not match what the sender was asked.
        case invalid(String)
    }

    /// Customers of each shard, as planned.
    public let customers: [Int]
    /// Candidates a customer can have at most (each offer once per channel).
    public let candidatesPerCustomer: Int
    /// Each shard's state.
    public private(set) var states: [ShardState]
    /// The next place in the queue.
    private var nextOrder: Int
    public private(set) var done = 0
    /// Shards put back in the queue from lost workers, and straggler copies handed out.
    public private(set) var requeued = 0
    public private(set) var duplicates = 0
    public private(set) var waits = ReplyWaits<Copy>()

    public init(customers: [Int], candidatesPerCustomer: Int) {
        self.customers = customers
        self.candidatesPerCustomer = candidatesPerCustomer
        states = customers.indices.map { ShardState(phase: .queued(order: $0)) }
        nextOrder = customers.count
    }

    public var shardCount: Int { customers.count }
    public var complete: Bool { done == customers.count }
    /// Queued shards, in queue order.
    public var queue: [Int] {
        // A plain loop: the closure form crashed the 6.3.1 compiler's release pipeline (CopyPropagation).
        var queued: [(shard: Int, order: Int)] = []
        for (s, state) in states.enumerated() {
            if case .queued(let order) = state.phase { queued.append((s, order)) }
        }
        queued.sort { $0.order < $1.order }
        return queued.map(\.shard)
    }
    /// The latest attempt of each shard.
    public var attempt: [UInt32] { states.map(\.attempt) }
    /// The workers scoring each shard and the attempt each was given.
    public var inflight: [[InFlight]] { states.map(\.copies) }
    /// Each shard's holder, once scored.
    public var owner: [Peer?] { states.map(\.holder) }
    /// Customers and candidates of each scored shard, as its holder reported them (0 until scored).
    public var scoredCustomers: [Int] { states.map { if case .held(_, let n, _) = $0.phase { return n } else { return 0 } } }
    public var scoredCandidates: [UInt64] { states.map { if case .held(_, _, let n) = $0.phase { return n } else { return 0 } } }
    /// Shards being scored now.
    public var running: Int { states.reduce(0) { $0 + ($1.copies.isEmpty ? 0 : 1) } }
    /// Shards queued while none is being scored: no worker had room for them.
    public var stalled: Bool { !queue.isEmpty && states.allSatisfy(\.copies.isEmpty) }
    /// The smallest queued shard, in customers.
    public var smallestQueued: Int? { queue.map { customers[$0] }.min() }

    /// The shard `peer` should score next: of the queued ones `fits` says it has room for, the first of the
    /// lowest `rank` (a rescore ranks first the shards whose kept propensities `peer` holds, then those no
    /// worker holds, then another's), or a straggler.
    public func pick(for peer: Peer, fits: (Int) -> Bool, rank: (Int) -> Int = { _ in 0 }) -> (shard: Int, straggler: Bool)? {
        var best: (shard: Int, rank: Int)? = nil
        for s in queue where fits(customers[s]) {
            let r = rank(s)
            if best == nil || r < best!.rank { best = (s, r) }
            if r <= 0 { break }
        }
        if let best { return (best.shard, false) }
        let s = customers.indices.first { s in
            let c = states[s].copies
            return c.count == 1 && c[0].peer != peer && fits(customers[s])
        }
        return s.map { ($0, true) }
    }

    /// Records that `shard` (queued, or being scored: a straggler copy) was sent to `peer` at `now`; returns
    /// the attempt to send with it.
    public mutating func assign(_ shard: Int, to peer: Peer, at now: Double, times: RequestTimes) -> UInt32 {
        var copies = states[shard].copies
        if states[shard].queueOrder == nil { duplicates += 1 }
        states[shard].attempt += 1
        copies.append(InFlight(peer: peer, attempt: states[shard].attempt))
        states[shard].phase = .scoring(copies)
        waits.start(Copy(peer: peer, shard: shard), kind: .scoring, at: now, replies: 1, times: times)
        return states[shard].attempt
    }

    /// A worker is gone: the shards only it was scoring, and those it held, go back in the queue.
    public mutating func lose(_ peer: Peer) {
        waits.cancel { $0.peer == peer }
        for s in states.indices {
            switch states[s].phase {
            case .scoring(let copies) where copies.contains(where: { $0.peer == peer }):
                let left = copies.filter { $0.peer != peer }
                if left.isEmpty { requeue(s) } else { states[s].phase = .scoring(left) }
            case .held(let holder, _, _) where holder == peer:
                done -= 1
                requeue(s)
            default: continue
            }
        }
    }

    /// Puts shard `s` at the end of the queue.
    private mutating func requeue(_ s: Int) {
        states[s].phase = .queued(order: nextOrder)
        nextOrder += 1
        requeued += 1
    }

    /// Takes a SCORED from `peer` at `now` (observing its time in `times`) and says what became of it.
    public mutating func scored(shard: UInt32, attempt att: UInt32, customers n: UInt64, candidates: UInt64, from peer: Peer,
                                at now: Double, times: inout RequestTimes) -> Verdict {
        let s = Int(shard)
        guard s < customers.count else { return .invalid("SCORED for shard \(shard); the run has \(customers.count)") }
        let copies = states[s].copies
        guard let copy = copies.first(where: { $0.peer == peer }) else { return .stale }
        guard att == copy.attempt else { return .invalid("SCORED for shard \(s) attempt \(att); it was given attempt \(copy.attempt)") }
        guard n <= UInt64(customers[s]) else { return .invalid("SCORED for shard \(s) with \(n) customers; the shard has \(customers[s])") }
        guard candidates <= n * UInt64(candidatesPerCustomer) else {
            return .invalid("SCORED for shard \(s) with \(candidates) candidates for \(n) customers (at most \(candidatesPerCustomer) each)")
        }
        waits.reply(Copy(peer: peer, shard: s), at: now, times: &times)
        let others = copies.filter { $0.peer != peer }.map(\.peer)
        for o in others { waits.cancel(Copy(peer: o, shard: s)) }
        states[s] = ShardState(phase: .held(peer: peer, customers: Int(n), candidates: candidates), attempt: att)
        done += 1
        return .won(others: others)
    }

    /// Copies past their deadline at `now`, earliest first, with the seconds they were allowed.
    public func expired(at now: Double) -> [(copy: Copy, allowed: Double)] {
        waits.expired(at: now).map { ($0.key, $0.wait.allowed) }
    }
}
