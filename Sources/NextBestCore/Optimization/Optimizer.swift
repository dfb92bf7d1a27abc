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
        /// The price points the final mix used, heaviest first (the next run's second pass).
        public var mix: PriceMix? = nil
        /// Where the settling of the integer answer spent its time.
        public var settle: SettleSteps? = nil

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
        /// Each sample in turn, smallest first.
        public var levels: [Level] = []

        /// The passes on one sample.
        public struct Level: Sendable, Equatable {
            public var modulus: Int
            public var passes: Int
            public var seconds: Double
            /// The level's passes, in the sample's own units (its rows are scaled to the sample).
            public var history: [DualSolver.Round] = []
        }
    }

    /// The steps of settling the integer answer (`settle`), for `summary.json`.
    public struct SettleSteps: Sendable, Equatable {
        /// The pass over everybody at each bucket's main point.
        public var passSeconds: Double = 0
        /// Finding the customers the mix leaves split, and how many there were.
        public var splitSeconds: Double = 0
        public var splitCustomers: Int = 0
        /// The LP and 0-1 program over the split customers, and applying their lists.
        public var programSeconds: Double = 0
        /// The final state (and the repair passes when they ran).
        public var finishSeconds: Double = 0
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
        /// What the last pricing pass chose; the integer answer is settled here.
        public static let evaluated = 0
        /// Working copies for the repair (the fallback when the integer program finds nothing).
        public static let trial = 1
        public static let bestTrial = 2
        public static let count = 3
    }

    /// Runs the whole optimization over a group of shards: the feasibility pre-checks, column generation
    /// with the LP master (on a sample first from a cold start), then the integer answer in slot 0.
    public static func run<G: ShardGroup>(_ group: G, options: DualSolver.Options = .init(),
                                          onRound: ((DualSolver.Progress) -> Void)? = nil) throws -> Report {
        let cs = group.constraints
        guard group.shardCount > 0 else {
            return Report(objective: 0, dualBound: 0, gap: 0, rounds: 0, history: [], prices: Prices(count: cs.count), constraints: [], relaxedObjective: 0)
        }
        try precheck(try group.precheckFacts(), constraints: cs)
        let clock = ContinuousClock()
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let t0 = clock.now
        var presolve: Presolve? = nil
        var start = options.warmStart.flatMap { $0.count == cs.count ? $0 : nil } ?? Prices(count: cs.count)
        var explore: PriceMix? = options.warmStart == nil ? nil : options.warmMix
        let settings = ColumnGeneration.Options(maxPasses: options.maxRounds, gapTolerance: options.gapTolerance)
        // Cold start on a large population: the passes on samples first, a small one then a larger one
        // (each pass costs 1/modulus of a full one); each level starts from the last one's prices and mix.
        // Likewise from warm prices without their mix (the models changed since it was found): from those
        // prices.
        if options.warmStart == nil || explore == nil, options.presolveCustomers > 0, !cs.isEmpty {
            var levels: [CustomerSample] = []
            for target in [max(1, options.presolveCustomers / 16), options.presolveCustomers] {
                let sample = CustomerSample.of(customers: group.customerCount, target: target)
                if !sample.isAll, !levels.contains(sample) { levels.append(sample) }
            }
            var passes = 0
            var done: [Presolve.Level] = []
            for sample in levels {
                var o = settings
                o.maxPasses = max(settings.maxPasses, 60)
                o.gapTolerance = settings.gapTolerance / 5
                let cg = ColumnGeneration(rows: sample.scaled(cs.rows), options: o) { try group.evaluate($0, sample: sample) }
                let l0 = clock.now
                guard let out = try? cg.run(start: start, explore: explore), case .feasible = out.status else { break }
                passes += out.passes
                done.append(.init(modulus: sample.modulus, passes: out.passes, seconds: seconds(clock.now - l0), history: out.history))
                start = out.bestPrices
                explore = out.mix
            }
            if let last = levels.last {
                presolve = Presolve(modulus: last.modulus, rounds: passes, seconds: seconds(clock.now - t0), levels: done)
            }
        }
        // Over everybody a pass costs what the presolve's whole level does: the second explore pass also
        // carries the ladder phase 1 would otherwise spend a pass on, or the first point of phase 2.
        var main = settings
        main.ladderInExplore = true
        main.nextPointInExplore = true
        let cg = ColumnGeneration(rows: cs.rows, options: main, onPass: onRound) { try group.evaluate($0, sample: .all) }
        let out = try cg.run(start: start, explore: explore)
        if case let .infeasible(rows, shortfall) = out.status { throw Infeasible(conflicts: [conflictText(cs.rows, rows, shortfall)]) }
        let t1 = clock.now
        var steps = SettleSteps()
        let final = try settle(group, out, tolerance: settings.gapTolerance, steps: &steps)
        let t2 = clock.now
        let use = final.use
        let objective = Double(final.objectiveMicros) / 1e6
        let bound = max(out.bound, objective)
        let gap = bound > 0 ? (bound - objective) / bound : 0
        let net = out.bestPrices
        let constraints = cs.rows.enumerated().map { k, r in
            ConstraintUse(row: r, used: r.kind == .budget ? Double(use[k]) / 1e6 : Double(use[k]), price: net.upper[k] - net.lower[k])
        }
        var report = Report(objective: objective, dualBound: bound, gap: gap, rounds: out.passes, history: out.history,
                            prices: out.bestPrices, constraints: constraints, relaxedObjective: out.masterValue,
                            roundSeconds: seconds(t1 - t0), repairSeconds: seconds(t2 - t1), slot: Slot.evaluated)
        report.presolve = presolve
        report.mix = out.mix
        report.settle = steps
        return report
    }

    /// The words for a proven conflict: its rows with their limits, and by how much they cannot all hold.
    static func conflictText(_ rows: [ConstraintSet.Row], _ set: [Int], _ shortfall: [Double]) -> String {
        func limits(_ r: ConstraintSet.Row) -> String {
            [r.lower.map { "min \(amount(r, $0))" }, r.upper.map { "max \(amount(r, $0))" }].compactMap { $0 }.joined(separator: " ")
        }
        let names = set.map { "\(rows[$0].key) \(limits(rows[$0]))" }.joined(separator: ", ")
        let parts = zip(set, shortfall).filter { $0.1 > 1e-6 }.map { k, v in
            "\(rows[k].key) by \(rows[k].kind == .budget ? FixedDecimal.string(v, decimals: 2) : String(Int64(v.rounded(.up))))"
        }
        let total = zip(set, shortfall).filter { rows[$0.0].kind != .budget }.reduce(0.0) { $0 + $1.1 }
        let budgetOver = zip(set, shortfall).first { rows[$0.0].kind == .budget }?.1 ?? 0
        let short = budgetOver > 1e-6
            ? "they need at least \(FixedDecimal.string(budgetOver, decimals: 2)) more budget"
            : "short by \(Int64(total.rounded(.up))) offers at the least"
        return "these constraints conflict (proven on the LP relaxation; drop any one of them and the rest can hold): \(names); "
            + short + (parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))")
    }

    /// The integer answer from the master's mix: each bucket's customers at its main point (slot 0); the
    /// customers whose choice differs between the points their bucket mixes go to an integer program over
    /// their candidates and the room the others leave (which its LP relaxation shows is there). Falls back
    /// to the repair passes if the program finds nothing.
    static func settle<G: ShardGroup>(_ group: G, _ out: ColumnGeneration.Outcome, tolerance: Double,
                                      steps: inout SettleSteps) throws -> SelectionState {
        let cs = group.constraints
        if cs.isEmpty {
            // No rows: the one pass at zero prices chose; slot 0 holds it.
            return try group.state(slot: Slot.evaluated)
        }
        var used: [Int] = []
        var compact: [Int: UInt8] = [:]
        for a in out.active { for p in a where compact[p] == nil { compact[p] = UInt8(used.count); used.append(p) } }
        // Each bucket's main point is one a pass solved it at: the shards that kept that pass copy its
        // choice (see `KeptPass`), the others solve it again.
        let passes = out.activePasses.count == out.active.count ? out.activePasses : out.active.map { $0.map { _ in UInt32(0) } }
        let request = PricingRequest(points: used.map { out.points[$0].prices }, weights: used.map { out.points[$0].weight },
                                     bucketPoint: out.active.map { $0.first.map { compact[$0]! } ?? 0 },
                                     bucketPass: passes.map { $0.first ?? 0 })
        let clock = ContinuousClock()
        var t = clock.now
        func lap() -> Double { let now = clock.now, d = now - t; t = now; return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        // The pass's aggregates are slot 0's use of every row: no separate state request is needed.
        let fixed = try group.evaluate(request, sample: .all)
        steps.passSeconds = lap()
        let active = out.active.map { $0.map { compact[$0]! } }
        let split = try group.splitCustomers(request, active: active, passes: passes)
        steps.splitSeconds = lap()
        steps.splitCustomers = split.reduce(0) { $0 + $1.count }
        if split.contains(where: { !$0.isEmpty }),
           let changes = try Settle.changes(split, rows: cs, slotUse: fixed.use, allCandidates: { try group.withAllCandidates($0) }) {
            try group.apply(changes, slot: Slot.evaluated)
        }
        steps.programSeconds = lap()
        defer { steps.finishSeconds = lap() }
        // Whole lists within the gap tolerance of the bound: done.
        let settled = try group.state(slot: Slot.evaluated)
        if holds(cs, settled.use), out.bound - Double(settled.objectiveMicros) / 1e6 <= tolerance * abs(out.bound) { return settled }
        // Else the repair passes: mend what the integer program left (if it found nothing), then one pass
        // that uses the slack the rounding leaves with moves that add value and keep every row (one: a
        // second pass rarely finds more).
        let shortfalls = try Repair.run(group, slot: Slot.evaluated, improvePasses: 1)
        if !shortfalls.isEmpty {
            throw Infeasible(conflicts: shortfalls.map { s in
                let r = cs.rows[s.row]
                if let u = r.upper, s.use > u { return "\(r.key) max \(amount(r, u)) exceeded: \(amount(r, s.use)) (over by \(amount(r, s.use - u)))" }
                return "\(r.key) min \(amount(r, r.lower ?? 0)) reached only \(amount(r, s.use)) (short by \(amount(r, (r.lower ?? 0) - s.use)))"
            } + ["the LP relaxation can meet every constraint, but no whole-offer selection was found that does"])
        }
        return try group.state(slot: Slot.evaluated)
    }

    /// Whether use meets every row.
    static func holds(_ cs: ConstraintSet, _ use: [Int64]) -> Bool {
        cs.rows.enumerated().allSatisfy { k, r in (r.upper.map { use[k] <= $0 } ?? true) && (r.lower.map { use[k] >= $0 } ?? true) }
    }
}
