/// Makes the selection found at the final prices satisfy every campaign-wide constraint, losing as little
/// objective as it can, then uses any slack left to add value. Deterministic: moves are ranked by
/// objective lost per unit of resource, ties by customer id, then candidate order.
///
/// A move changes one customer's list: drop a chosen offer, swap it for another candidate (another
/// channel, another offer), or add a candidate. No move may push another constraint past its max, or
/// below its min when it is met. The shards only propose moves; the choice among them is global.
public enum Repair {
    /// A proposed change to one customer's list.
    struct Move {
        var shard: Int
        var customer: Int
        /// Chosen candidate removed, or -1.
        var remove: Int32
        /// Candidate added, or -1.
        var add: Int32
        var deltaObjective: Double
        /// Change in the target row's use (signed).
        var deltaTarget: Int64
        var customerID: UInt64
        var score: Double
    }

    /// Row use of one candidate: (row, amount) for at most 5 rows, `none` marks no row.
    struct Use {
        var rows: (Int32, Int32, Int32, Int32, Int32)
        var amounts: (Int64, Int64, Int64, Int64, Int64)
    }

    static func rowUse(_ s: ShardOptimizer, customer i: Int, candidate ci: Int) -> Use {
        let none = Int32(s.constraints.count)
        let c = s.table.candidates[ci]
        let b = s.constraints.budgetRow >= 0 ? Int32(s.constraints.budgetRow) : none
        return Use(rows: (b, s.productRowOfOffer[Int(c.offer)], s.channelRowOf[Int(c.channel)], s.regionRow(i), s.segmentRow(i)),
                   amounts: (s.costMicros[ci], 1, 1, 1, 1))
    }

    @inline(__always) static func apply(_ u: Use, sign: Int64, to delta: inout [Int64]) {
        delta[Int(u.rows.0)] += sign * u.amounts.0
        delta[Int(u.rows.1)] += sign * u.amounts.1
        delta[Int(u.rows.2)] += sign * u.amounts.2
        delta[Int(u.rows.3)] += sign * u.amounts.3
        delta[Int(u.rows.4)] += sign * u.amounts.4
    }

    /// The global use of every row by the shards' current selections.
    public static func totalUse(_ shards: [ShardOptimizer]) -> [Int64] {
        guard let first = shards.first else { return [] }
        var use = [Int64](repeating: 0, count: first.constraints.count + 1)
        for s in shards {
            for i in 0..<s.table.customerCount {
                for j in 0..<s.maxOffers {
                    let ci = s.selection[i * s.maxOffers + j]
                    if ci >= 0 { apply(Self.rowUse(s, customer: i, candidate: Int(ci)), sign: 1, to: &use) }
                }
            }
        }
        return use
    }

    /// Is the customer's list still valid after removing `remove` and adding `add`?
    static func listAllows(_ s: ShardOptimizer, customer i: Int, remove: Int32, add: Int32) -> Bool {
        guard add >= 0 else { return true }
        let addOffer = s.table.candidates[Int(add)].offer
        let fam = s.plan.offers[Int(addOffer)].family
        var count = 0, famCount = 0
        for j in 0..<s.maxOffers {
            let ci = s.selection[i * s.maxOffers + j]
            if ci < 0 || ci == remove { continue }
            if ci == add { return false }
            let o = s.table.candidates[Int(ci)].offer
            if o == addOffer { return false }
            count += 1
            if s.plan.offers[Int(o)].family == fam { famCount += 1 }
        }
        return count < s.maxOffers && famCount < s.plan.campaign.perCustomer.maxPerFamily
    }

    /// Does applying `delta` keep every max (and every min that is met) satisfied, except the target row,
    /// which must move toward feasibility?
    static func keepsOthers(_ rows: [ConstraintSet.Row], use: [Int64], delta: [Int64], target: Int?) -> Bool {
        for (k, r) in rows.enumerated() where k != target {
            let d = delta[k]
            if d == 0 { continue }
            let after = use[k] + d
            if d > 0, let u = r.upper, after > u { return false }
            if d < 0, let l = r.lower, after < l, use[k] >= l { return false }
            if d < 0, let l = r.lower, use[k] < l { return false }
        }
        return true
    }

    enum Goal { case reduce(Int), increase(Int), improve }

    /// Every customer's best move toward `goal`.
    static func proposals(_ shards: [ShardOptimizer], goal: Goal, use: [Int64]) -> [Move] {
        guard let first = shards.first else { return [] }
        let rows = first.constraints.rows
        var moves: [Move] = []
        var delta = [Int64](repeating: 0, count: rows.count + 1)
        var chosen: [Int32] = []
        chosen.reserveCapacity(first.maxOffers)
        for (si, s) in shards.enumerated() {
            let mo = s.maxOffers
            for i in 0..<s.table.customerCount {
                let range = s.table.range(i)
                chosen.removeAll(keepingCapacity: true)
                for j in 0..<mo { let c = s.selection[i * mo + j]; if c >= 0 { chosen.append(c) } }
                // Skip customers who cannot move the target row: reducing needs a chosen offer that uses it;
                // a region or segment row can only grow through its own customers.
                switch goal {
                case .reduce(let k):
                    let k32 = Int32(k)
                    let touches = chosen.contains { c in
                        let u = rowUse(s, customer: i, candidate: Int(c))
                        return u.rows.0 == k32 || u.rows.1 == k32 || u.rows.2 == k32 || u.rows.3 == k32 || u.rows.4 == k32
                    }
                    if !touches { continue }
                case .increase(let k):
                    let kind = rows[k].kind
                    if kind == .region && s.regionRow(i) != Int32(k) { continue }
                    if kind == .segment && s.segmentRow(i) != Int32(k) { continue }
                case .improve: break
                }
                var best: Move? = nil
                func consider(remove: Int32, add: Int32) {
                    for k in 0..<delta.count { delta[k] = 0 }
                    var dObj = 0.0
                    if remove >= 0 { apply(rowUse(s, customer: i, candidate: Int(remove)), sign: -1, to: &delta); dObj -= s.table.candidates[Int(remove)].objective }
                    if add >= 0 { apply(rowUse(s, customer: i, candidate: Int(add)), sign: 1, to: &delta); dObj += s.table.candidates[Int(add)].objective }
                    let score: Double
                    var dTarget: Int64 = 0
                    switch goal {
                    case .reduce(let k):
                        dTarget = delta[k]
                        guard dTarget < 0, keepsOthers(rows, use: use, delta: delta, target: k) else { return }
                        score = -dObj / Double(-dTarget)
                    case .increase(let k):
                        dTarget = delta[k]
                        guard dTarget > 0, keepsOthers(rows, use: use, delta: delta, target: k) else { return }
                        // Never overshoot a max on the target row itself.
                        if let u = rows[k].upper, use[k] + dTarget > u { return }
                        score = -dObj / Double(dTarget)
                    case .improve:
                        guard dObj > 1e-12, keepsOthers(rows, use: use, delta: delta, target: nil) else { return }
                        score = -dObj
                    }
                    guard listAllows(s, customer: i, remove: remove, add: add) else { return }
                    if let b = best, !(score < b.score) { return }
                    best = Move(shard: si, customer: i, remove: remove, add: add, deltaObjective: dObj, deltaTarget: dTarget,
                                customerID: s.table.customerIDs[i], score: score)
                }
                for r in chosen { consider(remove: r, add: -1) }
                for a in range {
                    let a32 = Int32(a)
                    if chosen.contains(a32) { continue }
                    if s.table.candidates[a].objective <= 0 && { if case .improve = goal { return true }; return false }() { continue }
                    consider(remove: -1, add: a32)
                    for r in chosen { consider(remove: r, add: a32) }
                }
                if let best { moves.append(best) }
            }
        }
        // Ties: customer id; a customer proposes one move, so no further key is needed and the order
        // does not depend on how customers are split into shards.
        moves.sort { a, b in a.score < b.score || (a.score == b.score && a.customerID < b.customerID) }
        return moves
    }

    /// Applies moves in order while they still help and keep the other constraints; returns how many.
    static func applyMoves(_ moves: [Move], _ shards: inout [ShardOptimizer], goal: Goal, use: inout [Int64]) -> Int {
        let rows = shards[0].constraints.rows
        var applied = 0
        var delta = [Int64](repeating: 0, count: rows.count + 1)
        for m in moves {
            switch goal {
            case .reduce(let k): if let u = rows[k].upper, use[k] <= u { return applied }
            case .increase(let k): if let l = rows[k].lower, use[k] >= l { return applied }
            case .improve: break
            }
            let s = shards[m.shard]
            for k in 0..<delta.count { delta[k] = 0 }
            if m.remove >= 0 { apply(rowUse(s, customer: m.customer, candidate: Int(m.remove)), sign: -1, to: &delta) }
            if m.add >= 0 { apply(rowUse(s, customer: m.customer, candidate: Int(m.add)), sign: 1, to: &delta) }
            let target: Int?
            switch goal { case .reduce(let k), .increase(let k): target = k; case .improve: target = nil }
            guard keepsOthers(rows, use: use, delta: delta, target: target) else { continue }
            if case .increase(let k) = goal, let u = rows[k].upper, use[k] + delta[k] > u { continue }
            var sel = s.selection
            let base = m.customer * s.maxOffers
            if m.remove >= 0, let j = (0..<s.maxOffers).first(where: { sel[base + $0] == m.remove }) { sel[base + j] = -1 }
            if m.add >= 0, let j = (0..<s.maxOffers).first(where: { sel[base + $0] == -1 }) { sel[base + j] = m.add }
            shards[m.shard].setSelection(sel)
            for k in 0..<use.count { use[k] += delta[k] }
            applied += 1
        }
        return applied
    }

    /// A constraint the repair could not satisfy.
    public struct Shortfall: Sendable, Equatable {
        public var row: Int
        public var use: Int64
    }

    /// Repairs the shards' selections in place; returns the rows still violated (empty when feasible).
    @discardableResult
    public static func run(_ shards: inout [ShardOptimizer], maxPasses: Int = 50) -> [Shortfall] {
        guard let first = shards.first, !first.constraints.isEmpty else { return [] }
        let rows = first.constraints.rows
        var use = totalUse(shards)
        // 1. Every max, by moves that free the most resource per unit of objective lost.
        for _ in 0..<maxPasses {
            guard let k = rows.indices.first(where: { k in rows[k].upper.map { use[k] > $0 } ?? false }) else { break }
            let moves = proposals(shards, goal: .reduce(k), use: use)
            if applyMoves(moves, &shards, goal: .reduce(k), use: &use) == 0 { break }
        }
        // 2. Every unmet min, by the cheapest moves toward it that break nothing else.
        for _ in 0..<maxPasses {
            guard let k = rows.indices.first(where: { k in rows[k].lower.map { use[k] < $0 } ?? false }) else { break }
            let moves = proposals(shards, goal: .increase(k), use: use)
            if applyMoves(moves, &shards, goal: .increase(k), use: &use) == 0 { break }
        }
        // 3. Use the slack: moves that add objective and keep every constraint.
        if rows.indices.allSatisfy({ k in (rows[k].upper.map { use[k] <= $0 } ?? true) && (rows[k].lower.map { use[k] >= $0 } ?? true) }) {
            for _ in 0..<5 {
                let moves = proposals(shards, goal: .improve, use: use)
                if applyMoves(moves, &shards, goal: .improve, use: &use) == 0 { break }
            }
        }
        var out: [Shortfall] = []
        for (k, r) in rows.enumerated() {
            if let u = r.upper, use[k] > u { out.append(.init(row: k, use: use[k])) }
            else if let l = r.lower, use[k] < l { out.append(.init(row: k, use: use[k])) }
        }
        return out
    }
}
