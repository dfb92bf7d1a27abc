/// Makes the selection found at the final prices satisfy every campaign-wide constraint, losing as little
/// objective as it can, then uses any slack left to add value. Deterministic: moves are ranked by
/// objective lost per unit of resource, ties by customer id.
///
/// A move changes one customer's list: drop a chosen offer, swap it for another candidate (another
/// channel, another offer), or add a candidate. No move may push another constraint past its max, or
/// below its min when it is met. The shards only propose moves (each customer its best one); the choice
/// among them is global and made where the prices are kept (`Repair.run` over a `ShardGroup`), so it is the
/// same in one process and over the wire.
public enum Repair {
    /// Row use of one candidate: its budget row (cost in micro-money), product, channel, region and segment
    /// rows (one offer each). A row equal to the number of constraints means "no such row".
    public struct Use: Sendable, Equatable {
        public var budget: Int32, product: Int32, channel: Int32, region: Int32, segment: Int32
        public var cost: Int64
        public init(budget: Int32, product: Int32, channel: Int32, region: Int32, segment: Int32, cost: Int64) {
            self.budget = budget; self.product = product; self.channel = channel; self.region = region; self.segment = segment; self.cost = cost
        }
        /// No use at all (an absent side of a move).
        public static func none(rows: Int) -> Use {
            let n = Int32(rows)
            return Use(budget: n, product: n, channel: n, region: n, segment: n, cost: 0)
        }
        @inline(__always) func touches(_ k: Int32) -> Bool {
            budget == k || product == k || channel == k || region == k || segment == k
        }
        /// Every row index is in `0...rows` (rows itself being "none").
        public func isValid(rows: Int) -> Bool {
            let n = Int32(rows)
            return [budget, product, channel, region, segment].allSatisfy { $0 >= 0 && $0 <= n }
        }
    }

    /// A proposed change to one customer's list, with the row use of both sides so that whoever chooses
    /// among moves needs nothing else.
    public struct Move: Sendable, Equatable {
        public var shard: Int32
        /// The customer's index within its shard.
        public var customer: Int32
        /// Chosen candidate removed, or -1.
        public var remove: Int32
        /// Candidate added, or -1.
        public var add: Int32
        public var deltaObjective: Double
        /// Change in the target row's use (signed).
        public var deltaTarget: Int64
        public var customerID: UInt64
        /// Objective lost per unit of the target row (lower is better).
        public var score: Double
        public var removeUse: Use
        public var addUse: Use
        public init(shard: Int32, customer: Int32, remove: Int32, add: Int32, deltaObjective: Double, deltaTarget: Int64,
                    customerID: UInt64, score: Double, removeUse: Use, addUse: Use) {
            self.shard = shard; self.customer = customer; self.remove = remove; self.add = add
            self.deltaObjective = deltaObjective; self.deltaTarget = deltaTarget; self.customerID = customerID
            self.score = score; self.removeUse = removeUse; self.addUse = addUse
        }
        /// The change the shard applies when the move is accepted.
        public var change: Change { Change(customer: customer, remove: remove, add: add) }
    }

    /// An accepted move as its shard applies it.
    public struct Change: Sendable, Equatable {
        public var customer: Int32
        public var remove: Int32
        public var add: Int32
        public init(customer: Int32, remove: Int32, add: Int32) { self.customer = customer; self.remove = remove; self.add = add }
    }

    /// What a repair pass aims at: bring a max row down, a min row up, or add value within every limit.
    public enum Goal: Sendable, Equatable {
        case reduce(Int), increase(Int), improve
        var target: Int? { switch self { case .reduce(let k), .increase(let k): return k; case .improve: return nil } }
        /// Its row (if any) is one of `rows` constraint rows.
        public func isValid(rows: Int) -> Bool { target.map { $0 >= 0 && $0 < rows } ?? true }
    }

    /// A constraint the repair could not satisfy.
    public struct Shortfall: Sendable, Equatable {
        public var row: Int
        public var use: Int64
    }

    static func rowUse(_ s: ShardOptimizer, customer i: Int, candidate ci: Int) -> Use {
        let none = Int32(s.constraints.count)
        let c = s.table.candidates[ci]
        let b = s.constraints.budgetRow >= 0 ? Int32(s.constraints.budgetRow) : none
        return Use(budget: b, product: s.productRowOfOffer[Int(c.offer)], channel: s.channelRowOf[Int(c.channel)],
                   region: s.regionRow(i), segment: s.segmentRow(i), cost: s.costMicros[ci])
    }

    @inline(__always) static func apply(_ u: Use, sign: Int64, to delta: inout [Int64]) {
        delta[Int(u.budget)] += sign * u.cost
        delta[Int(u.product)] += sign
        delta[Int(u.channel)] += sign
        delta[Int(u.region)] += sign
        delta[Int(u.segment)] += sign
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

    // MARK: The shard's side

    /// Use of every row (plus a trailing "none" entry) and the objective of a slot's selection.
    public static func state(_ s: ShardOptimizer, slot: Int) -> SelectionState {
        var st = SelectionState(rows: s.constraints.count + 1)
        let sel = s.selections[slot]
        for i in 0..<s.table.customerCount {
            for j in 0..<s.maxOffers {
                let ci = sel[i * s.maxOffers + j]
                if ci >= 0 {
                    apply(rowUse(s, customer: i, candidate: Int(ci)), sign: 1, to: &st.use)
                    st.objectiveMicros += RunTotals.micros(s.table.candidates[Int(ci)].objective)
                }
            }
        }
        return st
    }

    /// Is the customer's list still valid after removing `remove` and adding `add`?
    static func listAllows(_ s: ShardOptimizer, _ sel: ContiguousArray<Int32>, customer i: Int, remove: Int32, add: Int32) -> Bool {
        guard add >= 0 else { return true }
        let addOffer = s.table.candidates[Int(add)].offer
        let fam = s.plan.offers[Int(addOffer)].family
        var count = 0, famCount = 0
        for j in 0..<s.maxOffers {
            let ci = sel[i * s.maxOffers + j]
            if ci < 0 || ci == remove { continue }
            if ci == add { return false }
            let o = s.table.candidates[Int(ci)].offer
            if o == addOffer { return false }
            count += 1
            if s.plan.offers[Int(o)].family == fam { famCount += 1 }
        }
        return count < s.maxOffers && famCount < s.plan.campaign.perCustomer.maxPerFamily
    }

    /// Every customer's best move toward `goal` in one shard's slot, given the global `use`
    /// (`rows + 1` entries), in customer order.
    public static func proposals(_ s: ShardOptimizer, shard si: Int, slot: Int, goal: Goal, use: [Int64]) -> [Move] {
        let rows = s.constraints.rows
        var moves: [Move] = []
        var delta = [Int64](repeating: 0, count: rows.count + 1)
        var chosen: [Int32] = []
        chosen.reserveCapacity(s.maxOffers)
        let none = Use.none(rows: rows.count)
        let sel = s.selections[slot]
        let mo = s.maxOffers
        for i in 0..<s.table.customerCount {
            let range = s.table.range(i)
            chosen.removeAll(keepingCapacity: true)
            for j in 0..<mo { let c = sel[i * mo + j]; if c >= 0 { chosen.append(c) } }
            // Skip customers who cannot move the target row: reducing needs a chosen offer that uses it;
            // a region or segment row can only grow through its own customers.
            switch goal {
            case .reduce(let k):
                let k32 = Int32(k)
                if !chosen.contains(where: { rowUse(s, customer: i, candidate: Int($0)).touches(k32) }) { continue }
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
                let ru = remove >= 0 ? rowUse(s, customer: i, candidate: Int(remove)) : none
                let au = add >= 0 ? rowUse(s, customer: i, candidate: Int(add)) : none
                if remove >= 0 { apply(ru, sign: -1, to: &delta); dObj -= s.table.candidates[Int(remove)].objective }
                if add >= 0 { apply(au, sign: 1, to: &delta); dObj += s.table.candidates[Int(add)].objective }
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
                guard listAllows(s, sel, customer: i, remove: remove, add: add) else { return }
                if let b = best, !(score < b.score) { return }
                best = Move(shard: Int32(si), customer: Int32(i), remove: remove, add: add, deltaObjective: dObj, deltaTarget: dTarget,
                            customerID: s.table.customerIDs[i], score: score, removeUse: ru, addUse: au)
            }
            for r in chosen { consider(remove: r, add: -1) }
            let improving: Bool = { if case .improve = goal { return true }; return false }()
            for a in range {
                let a32 = Int32(a)
                if chosen.contains(a32) { continue }
                if improving && s.table.candidates[a].objective <= 0 { continue }
                consider(remove: -1, add: a32)
                for r in chosen { consider(remove: r, add: a32) }
            }
            if let best { moves.append(best) }
        }
        return moves
    }

    // MARK: The global side

    /// The global order of moves: by score, ties by customer id. A customer proposes one move, so no
    /// further key is needed and the order does not depend on how customers are split into shards.
    public static func order(_ a: Move, _ b: Move) -> Bool {
        a.score < b.score || (a.score == b.score && a.customerID < b.customerID)
    }

    /// Accepts moves in order while they still help and keep the other constraints; returns the accepted
    /// changes per shard and updates `use`.
    static func choose(_ moves: [Move], rows: [ConstraintSet.Row], shards: Int, goal: Goal, use: inout [Int64]) -> (changes: [[Change]], applied: Int) {
        var changes = [[Change]](repeating: [], count: shards)
        var applied = 0
        var delta = [Int64](repeating: 0, count: rows.count + 1)
        for m in moves {
            switch goal {
            case .reduce(let k): if let u = rows[k].upper, use[k] <= u { return (changes, applied) }
            case .increase(let k): if let l = rows[k].lower, use[k] >= l { return (changes, applied) }
            case .improve: break
            }
            for k in 0..<delta.count { delta[k] = 0 }
            if m.remove >= 0 { apply(m.removeUse, sign: -1, to: &delta) }
            if m.add >= 0 { apply(m.addUse, sign: 1, to: &delta) }
            guard keepsOthers(rows, use: use, delta: delta, target: goal.target) else { continue }
            if case .increase(let k) = goal, let u = rows[k].upper, use[k] + delta[k] > u { continue }
            changes[Int(m.shard)].append(m.change)
            for k in 0..<use.count { use[k] += delta[k] }
            applied += 1
        }
        return (changes, applied)
    }

    /// Repairs the selection in `slot` of every shard of the group; returns the rows still violated
    /// (empty when feasible).
    @discardableResult
    public static func run<G: ShardGroup>(_ group: G, slot: Int, maxPasses: Int = 50) throws -> [Shortfall] {
        let rows = group.constraints.rows
        guard !rows.isEmpty else { return [] }
        var use = try group.state(slot: slot).use
        func pass(_ goal: Goal) throws -> Int {
            var moves = try group.proposals(slot: slot, goal: goal, use: use)
            moves.sort(by: order)
            let (changes, applied) = choose(moves, rows: rows, shards: group.shardCount, goal: goal, use: &use)
            if applied > 0 { try group.apply(changes, slot: slot) }
            return applied
        }
        // 1. Every max, by moves that free the most resource per unit of objective lost.
        for _ in 0..<maxPasses {
            guard let k = rows.indices.first(where: { k in rows[k].upper.map { use[k] > $0 } ?? false }) else { break }
            if try pass(.reduce(k)) == 0 { break }
        }
        // 2. Every unmet min, by the cheapest moves toward it that break nothing else.
        for _ in 0..<maxPasses {
            guard let k = rows.indices.first(where: { k in rows[k].lower.map { use[k] < $0 } ?? false }) else { break }
            if try pass(.increase(k)) == 0 { break }
        }
        // 3. Use the slack: moves that add objective and keep every constraint.
        if rows.indices.allSatisfy({ k in (rows[k].upper.map { use[k] <= $0 } ?? true) && (rows[k].lower.map { use[k] >= $0 } ?? true) }) {
            for _ in 0..<5 {
                if try pass(.improve) == 0 { break }
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

/// Use of every constraint row (plus a trailing "none" entry) and the objective, in micro-units, of a
/// selection: exact, so shards' states add up the same in any order.
public struct SelectionState: Sendable, Equatable {
    public var use: [Int64]
    public var objectiveMicros: Int64 = 0
    public init(rows: Int) { use = Array(repeating: 0, count: rows) }
    public init(use: [Int64], objectiveMicros: Int64) { self.use = use; self.objectiveMicros = objectiveMicros }
    public mutating func add(_ o: SelectionState) {
        for k in 0..<min(use.count, o.use.count) { use[k] += o.use[k] }
        objectiveMicros += o.objectiveMicros
    }
}
