/// The constrained offer optimization end to end over a set of shards: feasibility checks, dual price
/// rounds, repair, and the report (objective, dual bound, gap, rounds, use of every constraint).
public enum Optimizer {
    /// A constraint's use against its limits, as reported in `summary.json`.
    public struct ConstraintUse: Sendable {
        public var row: ConstraintSet.Row
        /// In offers, or money for the budget.
        public var used: Double
        public var price: Double
    }

    /// What the optimization did.
    public struct Report: Sendable {
        public var objective: Double
        public var dualBound: Double
        public var gap: Double
        public var rounds: Int
        public var history: [DualSolver.Round]
        public var prices: Prices
        public var constraints: [ConstraintUse]
        public var relaxedObjective: Double
        /// Wall time of the price rounds (including the repair that sets the polish target) and of the final repair.
        public var roundSeconds: Double = 0
        public var repairSeconds: Double = 0
    }

    /// The run cannot satisfy the campaign's constraints: which ones conflict, and by how much.
    public struct Infeasible: Error, CustomStringConvertible, Sendable {
        public var conflicts: [String]
        public var description: String {
            "the campaign's constraints cannot all hold:\n" + conflicts.map { "  - " + $0 }.joined(separator: "\n")
                + "\nrelax the constraints named above (lower a min, raise a max or the budget) and run again"
        }
    }

    static func amount(_ row: ConstraintSet.Row, _ v: Int64) -> String {
        row.kind == .budget ? FixedDecimal.string(Double(v) / 1e6, decimals: 2) : String(v)
    }

    /// Necessary conditions checked before any round: each min can be reached at all, and the cheapest
    /// way to meet the mins of one kind fits in the budget.
    public static func precheck(_ shards: [ShardOptimizer]) throws {
        guard let first = shards.first else { return }
        let cs = first.constraints
        let rows = cs.rows
        var conflicts: [String] = []
        // Most offers each min row can receive: per customer, the number of distinct offers using the row
        // limited by max_offers and max_per_family.
        var capacity = [Int64](repeating: 0, count: rows.count + 1)
        var cheapest: [[Int64]] = Array(repeating: [], count: rows.count)
        let minRows = rows.indices.filter { rows[$0].lower != nil && rows[$0].kind != .budget }
        if minRows.isEmpty { return }
        let maxPerFamily = first.plan.campaign.perCustomer.maxPerFamily
        var famCount = [Int](repeating: 0, count: first.plan.families.count)
        var seen = [Bool](repeating: false, count: first.plan.offers.count)
        for s in shards {
            for i in 0..<s.table.customerCount {
                for k in minRows {
                    let k32 = Int32(k)
                    for f in famCount.indices { famCount[f] = 0 }
                    for o in seen.indices { seen[o] = false }
                    var n = 0
                    var best: Int64 = .max
                    for ci in s.table.range(i) {
                        let c = s.table.candidates[ci]
                        let u = Repair.rowUse(s, customer: i, candidate: ci)
                        guard u.rows.1 == k32 || u.rows.2 == k32 || u.rows.3 == k32 || u.rows.4 == k32 else { continue }
                        best = min(best, u.amounts.0)
                        if seen[Int(c.offer)] { continue }
                        let fam = s.plan.offers[Int(c.offer)].family
                        if famCount[fam] >= maxPerFamily || n >= s.maxOffers { continue }
                        seen[Int(c.offer)] = true; famCount[fam] += 1; n += 1
                    }
                    capacity[k] += Int64(n)
                    if best != .max { cheapest[k].append(cs.budgetRow >= 0 ? best : 0) }
                }
            }
        }
        for k in minRows where capacity[k] < rows[k].lower! {
            conflicts.append("\(rows[k].key) min \(rows[k].lower!) exceeds the \(capacity[k]) offers its eligible customers can receive at most (short by \(rows[k].lower! - capacity[k]))")
        }
        if cs.budgetRow >= 0, let budget = rows[cs.budgetRow].upper {
            for kind in [ConstraintSet.Kind.product, .region, .segment, .channel] {
                var need: Int64 = 0
                var names: [String] = []
                for k in minRows where rows[k].kind == kind {
                    let costs = cheapest[k].sorted()
                    let m = Int(min(Int64(costs.count), rows[k].lower!))
                    need += costs.prefix(m).reduce(0, +)
                    names.append(rows[k].key + " min \(rows[k].lower!)")
                }
                if need > budget {
                    conflicts.append("meeting \(names.joined(separator: ", ")) costs at least \(amount(rows[cs.budgetRow], need)), over constraints.budget \(amount(rows[cs.budgetRow], budget)) by \(amount(rows[cs.budgetRow], need - budget))")
                }
            }
        }
        if !conflicts.isEmpty { throw Infeasible(conflicts: conflicts) }
    }

    /// The objective of the shards' current selections (exact: summed in micro-units).
    static func objective(_ shards: [ShardOptimizer]) -> Double {
        var micros: Int64 = 0
        for s in shards {
            for ci in s.selection where ci >= 0 { micros += RunTotals.micros(s.table.candidates[Int(ci)].objective) }
        }
        return Double(micros) / 1e6
    }

    /// Runs the whole optimization. `evaluateAll` must evaluate every shard at the prices and combine the
    /// aggregates in shard order (in one process or over the wire).
    public static func run(_ shards: inout [ShardOptimizer], options: DualSolver.Options = .init(),
                           evaluateAll: (inout [ShardOptimizer], Prices) -> Aggregates) throws -> Report {
        guard let first = shards.first else {
            return Report(objective: 0, dualBound: 0, gap: 0, rounds: 0, history: [], prices: Prices(count: 0), constraints: [], relaxedObjective: 0)
        }
        let cs = first.constraints
        try precheck(shards)
        var local = shards
        // The polish phase aims at the value of the current selection once repaired (on a copy).
        var bestRepaired: [ShardOptimizer]? = nil
        let target: (Prices) -> Double? = { _ in
            var copy = local
            guard Repair.run(&copy).isEmpty else { return nil }
            bestRepaired = copy
            return Optimizer.objective(copy)
        }
        let clock = ContinuousClock()
        let t0 = clock.now
        let dual = DualSolver.solve(rows: cs.rows, options: options, primalTarget: target) { prices in evaluateAll(&local, prices) }
        let t1 = clock.now
        shards = local
        // The last evaluation was at the final prices: its selection is what repair starts from.
        let shortfalls = Repair.run(&shards)
        let t2 = clock.now
        // Keep the better of the two repaired solutions (both feasible; ties keep the final one).
        if shortfalls.isEmpty, let other = bestRepaired, Optimizer.objective(other) > Optimizer.objective(shards) { shards = other }
        if !shortfalls.isEmpty {
            let use = Repair.totalUse(shards)
            let binding = cs.rows.indices.filter { k in cs.rows[k].upper.map { use[k] >= $0 } ?? false }.map { cs.rows[$0].key }
            throw Infeasible(conflicts: shortfalls.map { s in
                let r = cs.rows[s.row]
                if let u = r.upper, s.use > u { return "\(r.key) max \(amount(r, u)) exceeded: \(amount(r, s.use)) (over by \(amount(r, s.use - u)))" }
                return "\(r.key) min \(amount(r, r.lower ?? 0)) reached only \(amount(r, s.use)) (short by \(amount(r, (r.lower ?? 0) - s.use)))"
                    + (binding.isEmpty ? "" : " while at their max: \(binding.joined(separator: ", "))")
            })
        }
        let objective = Self.objective(shards)
        let use = Repair.totalUse(shards)
        let bound = max(dual.bestDual, objective)
        let gap = bound > 0 ? (bound - objective) / bound : 0
        let net = dual.prices
        let constraints = cs.rows.enumerated().map { k, r in
            ConstraintUse(row: r, used: r.kind == .budget ? Double(use[k]) / 1e6 : Double(use[k]), price: net.upper[k] - net.lower[k])
        }
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        return Report(objective: objective, dualBound: bound, gap: gap, rounds: dual.rounds.count, history: dual.rounds,
                      prices: dual.prices, constraints: constraints, relaxedObjective: Double(dual.last.primalMicros) / 1e6, roundSeconds: seconds(t1 - t0), repairSeconds: seconds(t2 - t1))
    }
}
