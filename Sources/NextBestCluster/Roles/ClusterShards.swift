import Foundation
import NextBestCore
import NextBestWire

/// The shards of a run held by workers, as a `ShardGroup`: every operation is one request to each worker
/// holding shards and one reply per shard, checked (run, request number, owner, sizes) and combined in
/// shard order. Replies that do not match are dropped; a reply that is malformed stops the run.
final class ClusterShards: ShardGroup {
    let hub: Hub
    let run: UInt64
    let constraints: ConstraintSet
    /// The routing id of the worker holding each shard.
    let owner: [[UInt8]]
    var seq: UInt32 = 0
    var shardCount: Int { owner.count }
    /// Called after each round with its number.
    var onRound: ((Int) -> Void)?
    var rounds = 0
    var lastFrom: [UInt8] = []

    init(hub: Hub, run: UInt64, constraints: ConstraintSet, owner: [[UInt8]]) {
        self.hub = hub; self.run = run; self.constraints = constraints; self.owner = owner
    }

    /// Holders in a stable order.
    var holders: [[UInt8]] {
        var seen = Set<[UInt8]>(), out: [[UInt8]] = []
        for o in owner where seen.insert(o).inserted { out.append(o) }
        return out
    }

    /// Sends `request` to every holder and waits for one reply per shard.
    func gather<T>(_ request: (UInt32) -> WireMessage, _ reply: (WireMessage) throws -> (shard: UInt32, seq: UInt32, value: T)?) throws -> [T] {
        seq &+= 1
        let msg = request(seq)
        for h in holders { try hub.send(h, msg) }
        var got = [T?](repeating: nil, count: owner.count)
        var remaining = owner.count
        while remaining > 0 {
            guard let (from, m) = try hub.pump(timeoutMs: 100) else { continue }
            lastFrom = from
            guard let r = try reply(m), r.seq == seq else { continue }
            let s = Int(r.shard)
            guard s < owner.count, owner[s] == from, got[s] == nil else { continue }
            got[s] = r.value
            remaining -= 1
        }
        return got.map { $0! }
    }

    func check(_ ok: Bool, _ from: WireMessage, _ what: String) throws {
        if !ok { throw ClusterError.badReply(worker: hub.name(lastFrom), what: what) }
    }

    func precheckFacts() throws -> PrecheckFacts {
        let rows = constraints.count
        let all: [PrecheckFacts] = try gather({ .precheck(run: run, seq: $0) }) { m in
            guard case let .facts(r, shard, seq, f) = m, r == run else { return nil }
            try check(f.capacity.count == rows && f.cheapest.count == rows, m, "feasibility facts for \(f.capacity.count) rows, not \(rows)")
            return (shard, seq, f)
        }
        var total = PrecheckFacts(rows: rows)
        for f in all { total.add(f) }
        return total
    }

    func evaluate(_ prices: Prices) throws -> Aggregates {
        let rows = constraints.count
        let all: [Aggregates] = try gather({ .prices(run: run, round: $0, upper: prices.upper, lower: prices.lower) }) { m in
            guard case let .aggregates(r, shard, _, seq, use, dual, primal, offers, cost) = m, r == run else { return nil }
            try check(use.count == rows, m, "aggregates for \(use.count) rows, not \(rows)")
            var a = Aggregates(rows: rows)
            a.use = use; a.dualMicros = dual; a.primalMicros = primal; a.offers = offers; a.costMicros = cost
            return (shard, seq, a)
        }
        var total = Aggregates(rows: rows)
        for a in all { total.add(a) }
        rounds += 1
        onRound?(rounds)
        return total
    }

    func copySelection(from: Int, to: Int) throws {
        seq &+= 1
        let m = WireMessage.copySlot(run: run, seq: seq, from: UInt8(from), to: UInt8(to))
        for h in holders { try hub.send(h, m) }
    }

    func state(slot: Int) throws -> SelectionState {
        let rows = constraints.count + 1
        let all: [SelectionState] = try gather({ .stateRequest(run: run, seq: $0, slot: UInt8(slot)) }) { m in
            guard case let .state(r, shard, seq, st) = m, r == run else { return nil }
            try check(st.use.count == rows, m, "a selection state for \(st.use.count) rows, not \(rows)")
            return (shard, seq, st)
        }
        var total = SelectionState(rows: rows)
        for s in all { total.add(s) }
        return total
    }

    func proposals(slot: Int, goal: Repair.Goal, use: [Int64]) throws -> [Repair.Move] {
        let rows = constraints.count
        let all: [[Repair.Move]] = try gather({ .propose(run: run, seq: $0, slot: UInt8(slot), goal: goal, use: use) }) { m in
            guard case let .moves(r, shard, seq, moves) = m, r == run else { return nil }
            try check(moves.allSatisfy { $0.removeUse.isValid(rows: rows) && $0.addUse.isValid(rows: rows) && $0.score.isFinite },
                      m, "a repair move naming a row that does not exist")
            return (shard, seq, moves)
        }
        return Array(all.joined())
    }

    func apply(_ changes: [[Repair.Change]], slot: Int) throws {
        seq &+= 1
        for (s, c) in changes.enumerated() where !c.isEmpty {
            try hub.send(owner[s], .apply(run: run, seq: seq, slot: UInt8(slot), shard: UInt32(s), changes: c))
        }
    }
}
