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
        /// The selection slot holding the chosen (repaired) selection.
        public var slot: Int = Slot.evaluated
        /// The rounds on a sample of the customers that set the starting prices, when there were any.
        public var presolve: Presolve? = nil

        public init(objective: Double, dualBound: Double, gap: Double, rounds: Int, history: [DualSolver.Round], prices: Prices,
                    constraints: [ConstraintUse], relaxedObjective: Double, roundSeconds: Double = 0, repairSeconds: Double = 0,
                    slot: Int = Slot.evaluated) {
            self.objective = objective; self.dualBound = dualBound; self.gap = gap; self.rounds = rounds; self.history = history
            self.prices = prices; self.constraints = constraints; self.relaxedObjective = relaxedObjective
            self.roundSeconds = roundSeconds; self.repairSeconds = repairSeconds; self.slot = slot
        }
    }

    /// The presolve: price rounds over a fixed sample of the customers (`CustomerSample`), against the
    /// limits scaled to the sample, whose prices start the rounds over everybody.
    public struct Presolve: Sendable, Equatable {
        /// One customer in `modulus` took part.
        public var modulus: Int
        public var rounds: Int
        public var seconds: Double
    }

    /// How many rounds, for logs: "12 rounds", or "1 round after 37 presolve rounds on 1 customer in 4".
    public static func roundsText(_ r: Report) -> String {
        let main = "\(r.rounds) round\(r.rounds == 1 ? "" : "s")"
        guard let p = r.presolve else { return main }
        return main + " after \(p.rounds) presolve rounds on 1 customer in \(p.modulus)"
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
    public static func precheck(_ facts: PrecheckFacts, constraints cs: ConstraintSet) throws {
        let rows = cs.rows
        var conflicts: [String] = []
        let minRows = rows.indices.filter { rows[$0].lower != nil && rows[$0].kind != .budget }
        if minRows.isEmpty { return }
        for k in minRows where facts.capacity[k] < rows[k].lower! {
            conflicts.append("\(rows[k].key) min \(rows[k].lower!) exceeds the \(facts.capacity[k]) offers its eligible customers can receive at most (short by \(rows[k].lower! - facts.capacity[k]))")
        }
        if cs.budgetRow >= 0, let budget = rows[cs.budgetRow].upper {
            for kind in [ConstraintSet.Kind.product, .region, .segment, .channel] {
                var need: Int64 = 0
                var names: [String] = []
                for k in minRows where rows[k].kind == kind {
                    // The `lower` cheapest customers (or all of them).
                    var left = rows[k].lower!
                    for bar in facts.cheapest[k] where left > 0 {
                        let m = min(left, bar.count)
                        need += m * bar.cost
                        left -= m
                    }
                    names.append(rows[k].key + " min \(rows[k].lower!)")
                }
                if need > budget {
                    conflicts.append("meeting \(names.joined(separator: ", ")) costs at least \(amount(rows[cs.budgetRow], need)), over constraints.budget \(amount(rows[cs.budgetRow], budget)) by \(amount(rows[cs.budgetRow], need - budget))")
                }
            }
        }
        if !conflicts.isEmpty { throw Infeasible(conflicts: conflicts) }
    }

    /// Selection slots of a shard during the optimization.
    public enum Slot {
        /// What the last round chose; the final repair works here.
        public static let evaluated = 0
        /// A trial repair during the rounds (sets the polishing target).
        public static let trial = 1
        /// The last successful trial repair.
        public static let bestTrial = 2
        public static let count = 3
    }

    /// Runs the whole optimization over a group of shards: price rounds, repair, and the choice of the
    /// better repaired selection, whose slot is `Report.slot`.
    public static func run<G: ShardGroup>(_ group: G, options: DualSolver.Options = .init(),
                                          onRound: ((DualSolver.Progress) -> Void)? = nil) throws -> Report {
        let cs = group.constraints
        guard group.shardCount > 0 else {
            return Report(objective: 0, dualBound: 0, gap: 0, rounds: 0, history: [], prices: Prices(count: cs.count), constraints: [], relaxedObjective: 0)
        }
        try precheck(try group.precheckFacts(), constraints: cs)
        // The polish phase aims at the value of the current selection once repaired (in a trial slot).
        var bestTrial: SelectionState? = nil
        let target: (Prices) throws -> Double? = { _ in
            try group.copySelection(from: Slot.evaluated, to: Slot.trial)
            guard try Repair.run(group, slot: Slot.trial).isEmpty else { return nil }
            try group.copySelection(from: Slot.trial, to: Slot.bestTrial)
            let st = try group.state(slot: Slot.trial)
            bestTrial = st
            return Double(st.objectiveMicros) / 1e6
        }
        let clock = ContinuousClock()
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let t0 = clock.now
        var options = options
        var presolve: Presolve? = nil
        let sample = CustomerSample.of(customers: group.customerCount, target: options.presolveCustomers)
        if options.warmStart == nil, !sample.isAll {
            // Cold start on a large population: find the prices on a sample first (each of its rounds costs
            // 1/modulus of a full one), then polish them over everybody from there.
            var o = options
            o.presolveCustomers = 0
            let r = try DualSolver.solve(rows: sample.scaled(cs.rows), options: o) { prices in try group.evaluate(prices, sample: sample) }
            options.warmStart = r.prices
            options.fromPresolve = true
            presolve = Presolve(modulus: sample.modulus, rounds: r.rounds.count, seconds: seconds(clock.now - t0))
        }
        let dual = try DualSolver.solve(rows: cs.rows, options: options, primalTarget: target, onRound: onRound) { prices in try group.evaluate(prices) }
        let t1 = clock.now
        // The last evaluation was at the final prices: its selection is what repair starts from; when the
        // trial repair was made at these very prices (the target met the gap at once), it is that repair.
        var slot = Slot.evaluated
        var shortfalls: [Repair.Shortfall] = []
        var final: SelectionState
        if dual.atTargetPrices, let trial = bestTrial {
            slot = Slot.bestTrial; final = trial
        } else {
            shortfalls = try Repair.run(group, slot: Slot.evaluated)
            final = try group.state(slot: slot)
            // Keep the better of the two repaired solutions (both feasible; ties keep the final one).
            if shortfalls.isEmpty, let other = bestTrial, other.objectiveMicros > final.objectiveMicros { slot = Slot.bestTrial; final = other }
        }
        let t2 = clock.now
        let use = final.use
        if !shortfalls.isEmpty {
            let binding = cs.rows.indices.filter { k in cs.rows[k].upper.map { use[k] >= $0 } ?? false }.map { cs.rows[$0].key }
            throw Infeasible(conflicts: shortfalls.map { s in
                let r = cs.rows[s.row]
                if let u = r.upper, s.use > u { return "\(r.key) max \(amount(r, u)) exceeded: \(amount(r, s.use)) (over by \(amount(r, s.use - u)))" }
                return "\(r.key) min \(amount(r, r.lower ?? 0)) reached only \(amount(r, s.use)) (short by \(amount(r, (r.lower ?? 0) - s.use)))"
                    + (binding.isEmpty ? "" : " while at their max: \(binding.joined(separator: ", "))")
            })
        }
        let objective = Double(final.objectiveMicros) / 1e6
        let bound = max(dual.bestDual, objective)
        let gap = bound > 0 ? (bound - objective) / bound : 0
        let net = dual.prices
        let constraints = cs.rows.enumerated().map { k, r in
            ConstraintUse(row: r, used: r.kind == .budget ? Double(use[k]) / 1e6 : Double(use[k]), price: net.upper[k] - net.lower[k])
        }
        var report = Report(objective: objective, dualBound: bound, gap: gap, rounds: dual.rounds.count, history: dual.rounds,
                      prices: dual.prices, constraints: constraints, relaxedObjective: Double(dual.last.primalMicros) / 1e6,
                      roundSeconds: seconds(t1 - t0), repairSeconds: seconds(t2 - t1), slot: slot)
        report.presolve = presolve
        return report
    }
}
