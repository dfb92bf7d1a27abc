/// Updates the constraint prices from aggregated resource use, round after round, until they settle:
/// the coordinator's half of the Lagrangian method. Each coordinate moves by a step that grows while
/// its subgradient keeps its sign and halves when the sign flips (sign-based, per-constraint, so each
/// row finds its own scale), which handles the jumps of the piecewise-linear dual without stalling.
public enum DualSolver {
    /// Settings of the price search.
    public struct Options: Sendable {
        public var maxRounds: Int = 60
        /// Stop when every step is below this fraction of its first step.
        public var stepTolerance: Double = 1e-4
        public var warmStart: Prices? = nil
        /// Rounds of the sign-based phase before polishing toward a repaired solution's value.
        public var rprop: Int = 15
        /// Stop polishing when the relative gap to the repaired solution is below this.
        public var gapTolerance: Double = 5e-4
        /// From a cold start, polish toward a level this fraction below the best bound so far (moving
        /// with it), with no repaired solution during the rounds; nil (or a warm start) polishes toward the
        /// value of a trial repair instead. Measured (bench/RESULTS.md): 0.002 gave the best objective and
        /// the fewest rounds at 1 M and 10 M customers from cold, and saves the trial repair (as long as ~30
        /// rounds at 10 M); from a warm start the prices are near already and the trial repair's value
        /// usually closes the gap at once (that repair is then the result: one repair in all).
        public var targetMargin: Double? = 0.002
        /// From a cold start, `Optimizer.run` first finds prices on a sample of at least this many
        /// customers when the population is at least twice as large (0: never). The prices' error shrinks
        /// with the sample's size, not its share: 125 k customers left a 0.06 % gap after the first repair,
        /// 250 k and 312 k (1 M and 10 M populations) 0.016 % and 0.006 % (bench/RESULTS.md).
        public var presolveCustomers: Int = 250_000
        /// The warm start comes from a presolve (set by `Optimizer.run`): no sign-based rounds, the polish
        /// toward a trial repair's value starts at once (measured: at 1 M and 10 M customers the first
        /// trial repair at the presolve's prices met the gap tolerance; a few sign-based rounds first left
        /// the prices worse).
        public var fromPresolve: Bool = false
        public init(maxRounds: Int = 60, stepTolerance: Double = 1e-4, warmStart: Prices? = nil, rprop: Int = 15, gapTolerance: Double = 5e-4,
                    targetMargin: Double? = 0.002, presolveCustomers: Int = 250_000) {
            self.maxRounds = maxRounds; self.stepTolerance = stepTolerance; self.warmStart = warmStart
            self.rprop = rprop; self.gapTolerance = gapTolerance; self.targetMargin = targetMargin
            self.presolveCustomers = presolveCustomers
        }
    }

    /// One round's figures.
    public struct Round: Sendable {
        public var round: Int
        /// The Lagrangian dual value at this round's prices: an upper bound on the LP optimum.
        public var dual: Double
        /// The objective of the unrepaired selection at these prices.
        public var relaxedPrimal: Double
        /// The largest violation relative to its bound (0 when every constraint holds).
        public var maxViolation: Double
        /// The best feasible (repaired) objective known at this round, once there is one.
        public var feasible: Double? = nil
    }

    /// Where the search is after a round, for progress displays.
    public struct Progress: Sendable {
        public var round: Int
        public var bestDual: Double
        /// The value of a feasible (repaired) selection, once known.
        public var target: Double?
        /// Relative gap between the two, once the target is known.
        public var gap: Double? { target.map { (bestDual - $0) / max(abs(bestDual), 1e-9) } }
    }

    /// The settled prices, the best dual bound seen and the rounds.
    public struct Result: Sendable {
        public var prices: Prices
        public var bestDual: Double
        public var rounds: [Round]
        public var last: Aggregates
        /// The prices are the ones the primal target was computed at (no round since): the target's
        /// repaired selection is the one a repair at these prices would give.
        public var atTargetPrices: Bool = false
    }

    /// Scale of a row's amounts in objective units: the budget is counted in micro-money.
    static func unit(_ row: ConstraintSet.Row) -> Double { row.kind == .budget ? 1e-6 : 1 }

    /// The dual function value for prices and aggregates.
    public static func dualValue(_ rows: [ConstraintSet.Row], _ p: Prices, _ a: Aggregates) -> Double {
        var d = Double(a.dualMicros) / 1e6
        for (k, r) in rows.enumerated() {
            if let u = r.upper { d += p.upper[k] * Double(u) * unit(r) }
            if let l = r.lower { d -= p.lower[k] * Double(l) * unit(r) }
        }
        return d
    }

    static func maxViolation(_ rows: [ConstraintSet.Row], _ a: Aggregates) -> Double {
        var v = 0.0
        for (k, r) in rows.enumerated() {
            if let u = r.upper, a.use[k] > u { v = max(v, Double(a.use[k] - u) / Double(max(u, 1))) }
            if let l = r.lower, a.use[k] < l { v = max(v, Double(l - a.use[k]) / Double(max(l, 1))) }
        }
        return v
    }

    /// Runs rounds of `evaluate` (one per price vector; in the cluster, one broadcast and gather).
    public static func solve(rows: [ConstraintSet.Row], options: Options = .init(),
                             primalTarget: ((Prices) throws -> Double?)? = nil,
                             onRound: ((Progress) -> Void)? = nil,
                             evaluate: (Prices) throws -> Aggregates) throws -> Result {
        let k = rows.count
        var prices = options.warmStart.flatMap { $0.count == k ? $0 : nil } ?? Prices(count: k)
        var agg = try evaluate(prices)
        var rounds: [Round] = []
        var best = dualValue(rows, prices, agg)
        rounds.append(Round(round: 1, dual: best, relaxedPrimal: Double(agg.primalMicros) / 1e6, maxViolation: maxViolation(rows, agg)))
        onRound?(Progress(round: 1, bestDual: best, target: nil))
        if k == 0 { return Result(prices: prices, bestDual: best, rounds: rounds, last: agg) }
        // First steps from the scale of the problem: the mean objective per offer (and per unit of cost).
        let offers = max(Double(agg.offers), 1)
        let meanObjective = max(Double(agg.primalMicros) / 1e6 / offers, 1e-9)
        let meanCost = max(Double(agg.costMicros) / 1e6 / offers, 1e-9)
        // From a warm start the prices are already near: start with small steps.
        let scale = options.warmStart == nil ? 0.5 : 0.05
        var stepU = rows.map { $0.kind == .budget ? scale * meanObjective / meanCost : scale * meanObjective }
        var stepL = stepU
        let firstStep = stepU
        var signU = [Int](repeating: 0, count: k), signL = [Int](repeating: 0, count: k)
        func adapt(_ step: inout Double, _ last: inout Int, _ sign: Int) {
            if sign == 0 { return }
            if last == sign { step *= 1.5 } else if last == -sign { step *= 0.5 }
            last = sign
        }
        var round = 1
        // After a presolve the prices are close: straight to the polish (sign-based steps would leave them).
        while round < options.maxRounds && !options.fromPresolve {
            var moved = false
            for (i, r) in rows.enumerated() {
                if let u = r.upper {
                    let g = agg.use[i] - u
                    let s = g > 0 ? 1 : (g < 0 && prices.upper[i] > 0 ? -1 : 0)
                    adapt(&stepU[i], &signU[i], s)
                    if s != 0 { prices.upper[i] = max(0, prices.upper[i] + Double(s) * stepU[i]); moved = true }
                }
                if let l = r.lower {
                    let g = l - agg.use[i]
                    let s = g > 0 ? 1 : (g < 0 && prices.lower[i] > 0 ? -1 : 0)
                    adapt(&stepL[i], &signL[i], s)
                    if s != 0 { prices.lower[i] = max(0, prices.lower[i] + Double(s) * stepL[i]); moved = true }
                }
            }
            if !moved { break }
            round += 1
            agg = try evaluate(prices)
            let d = dualValue(rows, prices, agg)
            best = min(best, d)
            rounds.append(Round(round: round, dual: d, relaxedPrimal: Double(agg.primalMicros) / 1e6, maxViolation: maxViolation(rows, agg)))
            onRound?(Progress(round: round, bestDual: best, target: nil))
            let settled = (0..<k).allSatisfy { i in
                (rows[i].upper == nil || stepU[i] < options.stepTolerance * firstStep[i] || signU[i] == 0)
                    && (rows[i].lower == nil || stepL[i] < options.stepTolerance * firstStep[i] || signL[i] == 0)
            }
            if settled || round >= options.rprop { break }
        }
        // Polish: Polyak steps toward a level below the bound — the value of a feasible (repaired)
        // solution, or the best bound less a margin — which tighten the dual bound quickly once the prices
        // are near the optimum.
        var atTargetPrices = false
        let margin = options.warmStart == nil ? options.targetMargin : nil
        let firstTarget: Double? = round < options.maxRounds
            ? try margin.map { best * (1 - $0) } ?? primalTarget?(prices)
            : nil
        if var target = firstTarget {
            let targetRound = round
            if margin == nil { rounds[rounds.count - 1].feasible = target }
            var bestPrices = prices
            var bestAgg = agg
            var current = dualValue(rows, prices, agg)
            var alpha = 0.5
            var sinceBest = 0
            // Deflected subgradient (Camerini–Fratta–Maffioli): mixing in the previous direction when
            // the new subgradient turns against it damps the zigzag between coupled constraints.
            var dU = [Double](repeating: 0, count: k), dL = [Double](repeating: 0, count: k)
            var bestHistory: [Double] = []
            while round < options.maxRounds {
                if let margin { target = best * (1 - margin) }
                // Only a feasible target measures a gap.
                let gap = (best - target) / max(abs(best), 1e-9)
                if margin == nil && gap <= options.gapTolerance { break }
                // Stop when the bound has stalled: under 0.001 % better than ten rounds ago.
                bestHistory.append(best)
                if alpha < 0.1, bestHistory.count > 10, (bestHistory[bestHistory.count - 11] - best) <= 1e-5 * abs(best) { break }
                var gU = [Double](repeating: 0, count: k), gL = [Double](repeating: 0, count: k)
                for (i, r) in rows.enumerated() {
                    if let u = r.upper {
                        let g = Double(u - agg.use[i]) * unit(r)
                        if !(prices.upper[i] <= 0 && g > 0) { gU[i] = g }
                    }
                    if let l = r.lower {
                        let g = Double(agg.use[i] - l) * unit(r)
                        if !(prices.lower[i] <= 0 && g > 0) { gL[i] = g }
                    }
                }
                var dot = 0.0, prev2 = 0.0
                for i in 0..<k { dot += gU[i] * dU[i] + gL[i] * dL[i]; prev2 += dU[i] * dU[i] + dL[i] * dL[i] }
                let beta = (dot < 0 && prev2 > 0) ? -1.5 * dot / prev2 : 0
                var norm2 = 0.0
                for i in 0..<k {
                    dU[i] = gU[i] + beta * dU[i]
                    dL[i] = gL[i] + beta * dL[i]
                    norm2 += dU[i] * dU[i] + dL[i] * dL[i]
                }
                if norm2 == 0 { break }
                let step = alpha * (current - target) / norm2
                for i in 0..<k {
                    prices.upper[i] = max(0, prices.upper[i] - step * dU[i])
                    prices.lower[i] = max(0, prices.lower[i] - step * dL[i])
                }
                round += 1
                agg = try evaluate(prices)
                current = dualValue(rows, prices, agg)
                // A round whose selection breaks no constraint is itself a feasible solution: a better target.
                if margin == nil && maxViolation(rows, agg) == 0 { target = max(target, Double(agg.primalMicros) / 1e6) }
                rounds.append(Round(round: round, dual: current, relaxedPrimal: Double(agg.primalMicros) / 1e6, maxViolation: maxViolation(rows, agg),
                                    feasible: margin == nil ? target : nil))
                if current < best { best = current; bestPrices = prices; bestAgg = agg; sinceBest = 0 } else {
                    // The target (a feasible value) lies below the optimum, so full Polyak steps overshoot
                    // near it: halve the step after a few rounds without a better bound, from the best prices.
                    sinceBest += 1
                    if sinceBest >= 4 {
                        alpha *= 0.5; sinceBest = 0
                        prices = bestPrices; agg = bestAgg; current = best
                        for i in 0..<k { dU[i] = 0; dL[i] = 0 }
                    }
                }
                onRound?(Progress(round: round, bestDual: best, target: margin == nil ? target : nil))
            }
            // Finish at the best prices found (one more round if the last was not them).
            if prices != bestPrices {
                prices = bestPrices
                round += 1
                agg = try evaluate(prices)
                rounds.append(Round(round: round, dual: dualValue(rows, prices, agg), relaxedPrimal: Double(agg.primalMicros) / 1e6, maxViolation: maxViolation(rows, agg),
                                    feasible: margin == nil ? target : nil))
            }
            _ = bestAgg
            atTargetPrices = margin == nil && round == targetRound
        }
        return Result(prices: prices, bestDual: best, rounds: rounds, last: agg, atTargetPrices: atTargetPrices)
    }
}
