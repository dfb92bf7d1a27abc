import Foundation
import Synchronization
import NextBestCore
import NextBestWire

/// The shards of a run held by workers, as a `ShardGroup`: every operation is one request to each worker
/// holding shards and one reply per shard, checked (run, request number, owner, sizes) and combined in
/// shard order. Stale replies (an earlier request, a shard the sender no longer holds) are ignored; a reply
/// that cannot be an answer to what was asked (a later request, a shard that does not exist, sizes for
/// another campaign or shard) drops its sender, and so does a request not answered by its deadline
/// (`RequestTimes`): its shards go to other workers as a lost worker's do.
///
/// Lost workers: every operation that changes a shard's selections is logged (prices evaluated, slot
/// copies, applied changes). When a worker is lost, each of its shards goes to the least loaded live
/// worker with RESTORE (score the key range, replay the log), and the request in progress is sent to it
/// again; replies of the lost worker that still arrive are dropped, since it no longer owns the shards.
final class ClusterShards: ShardGroup {
    let hub: Hub
    let run: UInt64
    let constraints: ConstraintSet
    let bounds: [ShardPlan.Shard]
    /// The routing id of the worker holding each shard, and the attempt it holds.
    var owner: [[UInt8]]
    var attempt: [UInt32]
    var seq: UInt32 = 0
    var shardCount: Int { owner.count }
    var customerCount: Int { bounds.reduce(0) { $0 + $1.customers } }
    /// Called after each round with its number.
    var onRound: ((Int) -> Void)?
    var rounds = 0
    var lastFrom: [UInt8] = []
    /// How long to wait for a replacement when every worker is lost.
    var replacementTimeout: Double = 300
    /// The last served response the run reads, sent with each RESTORE (the run's plan's `servedThrough`).
    var servedThrough: UInt64 = 0
    /// Shards taken over from lost workers.
    var restored = 0
    /// RESTOREs not answered yet (their SCORED), one serial wait per worker; and the replies of the request in
    /// progress, per worker (its clock starts again once the worker has taken its shards over).
    var restores = ReplyWaits<[UInt8]>()
    var requests = ReplyWaits<[UInt8]>()

    /// An operation that changed the shards' selections.
    enum Logged {
        case evaluate(PricingRequest)
        case copy(UInt8, UInt8)
        case apply(UInt8, [[Repair.Change]])
    }
    var journal: [Logged] = []
    /// Operations to replay per shard when they come from a stored recipe rather than this run's log.
    var recipes: [Int: [ShardOp]] = [:]
    /// Called after each round of a sample with its number.
    var onSampleRound: ((Int) -> Void)?
    var sampleRounds = 0
    /// Called after each evaluation with the round number and its prices (to journal them).
    var onEvaluate: ((Int, PricingRequest) throws -> Void)?

    init(hub: Hub, run: UInt64, constraints: ConstraintSet, shards: [ShardPlan.Shard], owner: [[UInt8]], attempt: [UInt32]) {
        self.hub = hub; self.run = run; self.constraints = constraints; self.bounds = shards; self.owner = owner; self.attempt = attempt
    }

    /// Holders in a stable order.
    var holders: [[UInt8]] {
        var seen = Set<[UInt8]>(), out: [[UInt8]] = []
        for o in owner where seen.insert(o).inserted { out.append(o) }
        return out
    }

    /// The operations to replay on a new holder of `shard`: an evaluation is kept only when slot 0 is read
    /// (copied from or changed) before the next one, and the last one always.
    func replay(for shard: Int) -> [ShardOp] {
        if let r = recipes[shard] { return r }
        var ops: [ShardOp] = []
        var pending: PricingRequest? = nil
        func flush() { if let p = pending { ops.append(.evaluate(p)); pending = nil } }
        for op in journal {
            switch op {
            case .evaluate(let p): pending = p
            case let .copy(from, to):
                if from == 0 { flush() }
                ops.append(.copy(from: from, to: to))
            case let .apply(slot, changes):
                guard shard < changes.count, !changes[shard].isEmpty else { continue }
                if slot == 0 { flush() }
                ops.append(.apply(slot: slot, changes: changes[shard]))
            }
        }
        flush()
        return ops
    }

    /// Gives the shards of lost workers to live ones; returns the shards that moved and their new holders.
    func recover() throws -> [(shard: Int, to: [UInt8])] {
        let lost = hub.takeLost()
        guard !lost.isEmpty else { return [] }
        let gone = Set(lost.map(\.routingID))
        for id in gone { restores.cancel(id); requests.cancel(id) }
        var moved: [(Int, [UInt8])] = []
        for s in owner.indices where gone.contains(owner[s]) {
            // The live worker with room for it holding the fewest shards (ties: earliest arrival).
            let target = try hub.roomiest(for: bounds[s].customers, timeout: replacementTimeout)
            attempt[s] += 1
            let b = bounds[s]
            let ops = replay(for: s)
            try hub.send(target.routingID, .restore(run: run, shard: UInt32(s), attempt: attempt[s], lower: b.lower, upper: b.upper, ops: ops,
                                                   served: servedThrough))
            owner[s] = target.routingID
            awaitRestore(s, ops: ops)
            hub.reserveHeld(target.routingID, customers: bounds[s].customers)
            restored += 1
            moved.append((s, target.routingID))
            hub.log("shard \(s) goes to worker \(target.name) (attempt \(attempt[s]))", shard: s)
        }
        // Shards moved off a worker lost during a restore move again on the next call.
        return moved
    }

    /// Records a RESTORE of shard `s` sent to its owner: its SCORED is awaited (by a deadline allowing for the
    /// evaluations to replay), and the owner's replies to requests are not before it.
    func awaitRestore(_ s: Int, ops: [ShardOp]) {
        let evaluations = ops.reduce(0) { n, op in if case .evaluate = op { return n + 1 } else { return n } }
        restores.start(owner[s], kind: .restore, at: hub.clock, replies: 1, times: hub.times,
                       extra: Double(evaluations) * hub.times.expected(.prices, shards: 1), serial: true)
    }

    /// Waits up to 100 ms for a message, after dropping the workers past a deadline; takes the SCOREDs of
    /// RESTOREs itself and returns anything else.
    func receive(timeoutMs: Int = 100) throws -> ([UInt8], WireMessage)? {
        let now = hub.clock
        for (peer, w) in restores.expired(at: now) { expel(peer, hub.times.missed(.restore, replies: w.remaining, allowed: w.allowed)) }
        for (peer, w) in requests.expired(at: now) where restores.waits[peer] == nil {
            expel(peer, hub.times.missed(w.kind, replies: w.remaining, allowed: w.allowed))
        }
        guard let (from, m) = try hub.pump(timeoutMs: timeoutMs) else { return nil }
        lastFrom = from
        guard case let .scored(r, shard, att, customers, _, _) = m, r == run else { return (from, m) }
        let s = Int(shard)
        guard s < owner.count else { expel(from, "invalid reply: SCORED for shard \(shard); the run has \(owner.count)"); return nil }
        guard owner[s] == from, att == attempt[s] else { return nil }
        guard customers <= UInt64(bounds[s].customers) else {
            expel(from, "invalid reply: SCORED for shard \(s) with \(customers) customers; the shard has \(bounds[s].customers)")
            return nil
        }
        restores.reply(from, at: hub.clock, times: &hub.times)
        if restores.waits[from] == nil { requests.restart(from, at: hub.clock) }
        return nil
    }

    /// Drops a worker (past a deadline, or lying) and forgets what it was waited for.
    func expel(_ peer: [UInt8], _ why: String) {
        hub.expel(peer, why)
        restores.cancel(peer)
        requests.cancel(peer)
    }

    /// Sends `request` to every holder and waits for one reply per shard.
    func gather<T>(_ kind: RequestTimes.Kind, _ request: (UInt32) -> WireMessage,
                   _ reply: (WireMessage) throws -> (shard: UInt32, seq: UInt32, value: T)?) throws -> [T] {
        seq &+= 1
        let msg = request(seq)
        var got = [T?](repeating: nil, count: owner.count)
        func ask(_ holder: [UInt8]) throws {
            try hub.send(holder, msg)
            requests.start(holder, kind: kind, at: hub.clock, replies: owner.indices.filter { owner[$0] == holder && got[$0] == nil }.count, times: hub.times)
        }
        requests = ReplyWaits()
        for h in holders { try ask(h) }
        var remaining = owner.count
        while remaining > 0 {
            // A new holder gets the request again after its RESTORE (answers for shards already in are dropped).
            for newHolder in Set(try recover().filter { got[$0.shard] == nil }.map(\.to)) { try ask(newHolder) }
            guard let (from, m) = try receive() else { continue }
            let r: (shard: UInt32, seq: UInt32, value: T)?
            do { r = try reply(m) } catch let ClusterError.badReply(_, what) { expel(from, "invalid \(m.kindName): \(what)"); continue }
            guard let r else { continue }
            guard r.seq <= seq, Int(r.shard) < owner.count else {
                expel(from, "invalid \(m.kindName): request \(r.seq), shard \(r.shard); asked request \(seq) over \(owner.count) shards")
                continue
            }
            let s = Int(r.shard)
            guard r.seq == seq, owner[s] == from, got[s] == nil else { continue }
            got[s] = r.value
            remaining -= 1
            requests.reply(from, at: hub.clock, times: &hub.times)
        }
        return got.map { $0! }
    }

    func check(_ ok: Bool, _ what: String) throws {
        if !ok { throw ClusterError.badReply(worker: hub.name(lastFrom), what: what) }
    }

    func precheckFacts() throws -> PrecheckFacts {
        let rows = constraints.count
        let all: [PrecheckFacts] = try gather(.precheck, { .precheck(run: run, seq: $0) }) { m in
            guard case let .facts(r, shard, seq, f) = m, r == run else { return nil }
            try check(f.capacity.count == rows && f.cheapest.count == rows, "feasibility facts for \(f.capacity.count) rows, not \(rows)")
            return (shard, seq, f)
        }
        var total = PrecheckFacts(rows: rows)
        for f in all { total.add(f) }
        return total
    }

    func evaluate(_ request: PricingRequest, sample: CustomerSample) throws -> Aggregates {
        let rows = constraints.count
        let all: [Aggregates] = try gather(sample.isAll ? .prices : .sample, { seq in sample.isAll
            ? .prices(run: run, round: seq, request: request)
            : .sample(run: run, seq: seq, modulus: UInt32(sample.modulus), request: request)
        }) { m in
            guard case let .aggregates(r, shard, att, seq, a) = m, r == run,
                  Int(shard) < attempt.count, att == attempt[Int(shard)] else { return nil }
            try check(a.use.count == rows && a.bucketUse.count == rows * CustomerBuckets.count && a.bucketPrimal.count == CustomerBuckets.count,
                      "aggregates for \(a.use.count) rows, not \(rows)")
            return (shard, seq, a)
        }
        var total = Aggregates(rows: rows)
        for a in all { total.add(a) }
        // A sample's rounds change no selection: nothing to replay or journal.
        guard sample.isAll else {
            sampleRounds += 1
            onSampleRound?(sampleRounds)
            return total
        }
        journal.append(.evaluate(request))
        rounds += 1
        try onEvaluate?(rounds, request)
        onRound?(rounds)
        return total
    }

    func splitCustomers(_ request: PricingRequest, active: [[UInt8]], passes: [[UInt32]]) throws -> [[SplitCustomer]] {
        let rows = constraints.count
        return try gather(.split, { .split(run: run, seq: $0, request: request, active: active, passes: passes) }) { m in
            guard case let .splits(r, shard, seq, customers) = m, r == run else { return nil }
            try check(customers.allSatisfy { $0.isValid(rows: rows) }, "a split customer naming a row that does not exist")
            return (shard, seq, customers)
        }
    }

    func withAllCandidates(_ customers: [[Int32]]) throws -> [[SplitCustomer]] {
        let rows = constraints.count
        return try gather(.split, { .candidates(run: run, seq: $0, customers: customers) }) { m in
            guard case let .splits(r, shard, seq, found) = m, r == run else { return nil }
            try check(found.allSatisfy { $0.isValid(rows: rows) }, "a customer naming a row that does not exist")
            return (shard, seq, found)
        }
    }

    func copySelection(from: Int, to: Int) throws {
        seq &+= 1
        journal.append(.copy(UInt8(from), UInt8(to)))
        let m = WireMessage.copySlot(run: run, seq: seq, from: UInt8(from), to: UInt8(to))
        for h in holders { try hub.send(h, m) }
    }

    func state(slot: Int) throws -> SelectionState {
        let rows = constraints.count + 1
        let all: [SelectionState] = try gather(.state, { .stateRequest(run: run, seq: $0, slot: UInt8(slot)) }) { m in
            guard case let .state(r, shard, seq, st) = m, r == run else { return nil }
            try check(st.use.count == rows, "a selection state for \(st.use.count) rows, not \(rows)")
            return (shard, seq, st)
        }
        var total = SelectionState(rows: rows)
        for s in all { total.add(s) }
        return total
    }

    func proposals(slot: Int, goal: Repair.Goal, use: [Int64], limit: Int) throws -> [Repair.MoveList] {
        let rows = constraints.count
        let wireLimit = limit >= Int(UInt32.max) ? 0 : UInt32(limit)
        let all: [Repair.MoveList] = try gather(.propose, { .propose(run: run, seq: $0, slot: UInt8(slot), goal: goal, limit: wireLimit, use: use) }) { m in
            guard case let .moves(r, shard, seq, moves) = m, r == run else { return nil }
            try check(moves.allSatisfy { $0.removeUse.isValid(rows: rows) && $0.addUse.isValid(rows: rows) && $0.score.isFinite }
                      && moves.rest.allSatisfy { $0.remove.isValid(rows: rows) && $0.add.isValid(rows: rows) && $0.minCost <= $0.maxCost },
                      "a repair move naming a row that does not exist")
            try check(wireLimit == 0 || moves.count <= Int(wireLimit), "more repair moves than the limit asked for")
            return (shard, seq, moves)
        }
        return all
    }

    func apply(_ changes: [[Repair.Change]], slot: Int) throws {
        seq &+= 1
        journal.append(.apply(UInt8(slot), changes))
        for (s, c) in changes.enumerated() where !c.isEmpty {
            try hub.send(owner[s], .apply(run: run, seq: seq, slot: UInt8(slot), shard: UInt32(s), changes: c))
        }
    }

    /// A shard's merged output: its `nba.csv` rows, the same lists in binary (`NBALists`) and their totals.
    typealias Merged = (csv: [UInt8], lists: [UInt8], totals: RunTotals)

    /// Asks for each shard's lists of `slot` in order, `window` at a time, and hands them to `write` in
    /// shard order with their totals.
    /// Shards whose lists `have` returns are not asked for. `write` gets (shard, output, fresh).
    ///
    /// Workers send the lists only (ROWS carries no CSV): the rows are rendered here from the very bytes the
    /// journal keeps, on background threads as the lists arrive (`ShardRendering`), so nba.csv is an export of
    /// the journal by construction and a gigabyte of text at 10 M customers never crosses the wire. Lists
    /// that do not render are a worker's fault: it is expelled and the shard asked again of its new holder.
    func collect(slot: Int, window: Int, have: (Int) throws -> Merged?, catalogueSizes: (offers: Int, products: Int, channels: Int),
                 progress: (Int) -> Void, write: (Int, Merged, Bool) throws -> Void) throws {
        seq &+= 1
        let seq = self.seq
        var pending: [Int: Merged] = [:]
        var rendering: [Int: ShardRendering] = [:]
        var stored = Set<Int>()
        var next = 0, requested = 0
        func ask(_ s: Int) throws {
            try hub.send(owner[s], .collect(run: run, seq: seq, slot: UInt8(slot), shard: UInt32(s)))
            requests.start(owner[s], kind: .collect, at: hub.clock, replies: 1, times: hub.times, serial: true)
        }
        requests = ReplyWaits()
        func flush() throws {
            while var merged = pending[next] {
                if let job = rendering[next] {
                    // Not rendered yet: receive (and ask for) more meanwhile, and come back.
                    guard let done = job.result else { return }
                    rendering[next] = nil
                    switch done {
                    case .success(let csv): merged.csv = csv
                    case .failure(let e):
                        pending[next] = nil
                        expel(owner[next], "invalid ROWS: the lists of shard \(next) do not render: \(e)")
                        return
                    }
                }
                pending[next] = nil
                try write(next, merged, !stored.contains(next))
                next += 1
                progress(next)
            }
        }
        // More shards in flight than the workers' window: the rendering of those arrived overlaps the writing.
        let window = window * 2
        while next < owner.count {
            while requested < owner.count && requested < next + window {
                if let known = try have(requested) { pending[requested] = known; stored.insert(requested) } else { try ask(requested) }
                requested += 1
            }
            try flush()
            if next >= owner.count { break }
            for (s, _) in try recover() where s >= next && s < requested && pending[s] == nil { try ask(s) }
            // While a shard is being rendered, the main loop looks back often.
            guard let (from, m) = try receive(timeoutMs: rendering.isEmpty ? 100 : 1) else { continue }
            // Workers of this version send no CSV in ROWS (n = 0): the rows are rendered from the lists here.
            guard case let .rows(r, shard, sq, _, lists, t) = m, r == run else { continue }
            let s = Int(shard)
            guard sq <= seq, s < owner.count else {
                expel(from, "invalid ROWS: request \(sq), shard \(shard); asked request \(seq) over \(owner.count) shards")
                continue
            }
            guard sq == seq, s >= next, s < requested, owner[s] == from, pending[s] == nil else { continue }
            guard t.byOffer.count <= catalogueSizes.offers && t.byProduct.count <= catalogueSizes.products
                    && t.byChannel.count <= catalogueSizes.channels, t.customers >= 0, t.customers <= Int64(bounds[s].customers) else {
                expel(from, "invalid ROWS: totals of \(t.customers) customers sized for another catalogue or shard (shard \(s) has \(bounds[s].customers) customers)")
                continue
            }
            guard lists.first == NBALists.version else {
                expel(from, "invalid ROWS: lists of shard \(s) are not lists of layout version \(NBALists.version)")
                continue
            }
            requests.reply(from, at: hub.clock, times: &hub.times)
            pending[s] = ([], lists, t)
            rendering[s] = ShardRendering(lists)
            try flush()
        }
    }
}

/// One shard's `nba.csv` rows being rendered from its lists on a background thread (`NBALists.render`).
final class ShardRendering: Sendable {
    private let done = Mutex<Result<[UInt8], NBALists.Failure>?>(nil)

    init(_ lists: [UInt8]) {
        DispatchQueue.global().async { [self] in
            let r = Result { () throws(NBALists.Failure) in try NBALists.render(lists) }
            done.withLock { $0 = r }
        }
    }

    /// The rows, or why the lists do not render; nil while rendering.
    var result: Result<[UInt8], NBALists.Failure>? { done.withLock { $0 } }
}
