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
        public init(maxRounds: Int = 60, stepTolerance: Double = 1e-4, warmStart: Prices? = nil) {
            self.maxRounds = maxRounds; self.stepTolerance = stepTolerance; self.warmStart = warmStart
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
    }

    /// The settled prices, the best dual bound seen and the rounds.
    public struct Result: Sendable {
        public var prices: Prices
        public var bestDual: Double
        public var rounds: [Round]
        public var last: Aggregates
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
                             evaluate: (Prices) throws -> Aggregates) rethrows -> Result {
        let k = rows.count
        var prices = options.warmStart.flatMap { $0.count == k ? $0 : nil } ?? Prices(count: k)
        var agg = try evaluate(prices)
        var rounds: [Round] = []
        var best = dualValue(rows, prices, agg)
        rounds.append(Round(round: 1, dual: best, relaxedPrimal: Double(agg.primalMicros) / 1e6, maxViolation: maxViolation(rows, agg)))
        if k == 0 { return Result(prices: prices, bestDual: best, rounds: rounds, last: agg) }
        // First steps from the scale of the problem: the mean objective per offer (and per unit of cost).
        let offers = max(Double(agg.offers), 1)
        let meanObjective = max(Double(agg.primalMicros) / 1e6 / offers, 1e-9)
        let meanCost = max(Double(agg.costMicros) / 1e6 / offers, 1e-9)
        var stepU = rows.map { $0.kind == .budget ? 0.5 * meanObjective / meanCost : 0.5 * meanObjective }
        var stepL = stepU
        let firstStep = stepU
        var signU = [Int](repeating: 0, count: k), signL = [Int](repeating: 0, count: k)
        func adapt(_ step: inout Double, _ last: inout Int, _ sign: Int) {
            if sign == 0 { return }
            if last == sign { step *= 1.5 } else if last == -sign { step *= 0.5 }
            last = sign
        }
        var round = 1
        while round < options.maxRounds {
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
            let settled = (0..<k).allSatisfy { i in
                (rows[i].upper == nil || stepU[i] < options.stepTolerance * firstStep[i] || signU[i] == 0)
                    && (rows[i].lower == nil || stepL[i] < options.stepTolerance * firstStep[i] || signL[i] == 0)
            }
            if settled { break }
        }
        return Result(prices: prices, bestDual: best, rounds: rounds, last: agg)
    }
}
