/// The settings, round records and dual-function arithmetic shared by the optimizer's passes (the
/// passes themselves are `ColumnGeneration`'s).
public enum DualSolver {
    /// Settings of the optimization.
    public struct Options: Sendable {
        /// Pricing passes over everybody at most (passes on a presolve's sample are counted apart).
        public var maxRounds: Int = OptimizerSettings.standard.maxRounds
        /// The previous run's prices: the first pass is made there.
        public var warmStart: Prices? = nil
        /// The previous run's mix (with `warmStart`): the passes after the first start from it.
        public var warmMix: PriceMix? = nil
        /// Stop when the gap between the dual bound and the LP master's value is below this fraction.
        public var gapTolerance: Double = OptimizerSettings.standard.gapTolerance
        /// From a cold start, or from warm prices without their mix, `Optimizer.run` first runs the passes on a sample of at least this many
        /// customers when the population is at least twice as large (0: never): its prices and the points
        /// its mix uses start the passes over everybody.
        public var presolveCustomers: Int = OptimizerSettings.standard.presolveCustomers
        public init(maxRounds: Int = OptimizerSettings.standard.maxRounds, warmStart: Prices? = nil, warmMix: PriceMix? = nil,
                    gapTolerance: Double = OptimizerSettings.standard.gapTolerance,
                    presolveCustomers: Int = OptimizerSettings.standard.presolveCustomers) {
            self.maxRounds = maxRounds; self.warmStart = warmStart; self.warmMix = warmMix
            self.gapTolerance = gapTolerance; self.presolveCustomers = presolveCustomers
        }
    }

    /// One pass's figures.
    public struct Round: Sendable, Equatable {
        public var round: Int
        /// The best Lagrangian dual value so far: an upper bound on the LP optimum.
        public var dual: Double
        /// The objective of the pass's own (unconstrained by the rows) selection.
        public var relaxedPrimal: Double
        /// The largest violation relative to its bound of the pass's selection (0 when every row holds).
        public var maxViolation: Double
        /// The LP master's value before the pass (a feasible LP value), once there is one.
        public var feasible: Double? = nil
        /// Price points the pass solved customers at (1: everybody at one point).
        public var points: Int = 1
        /// Customer buckets the pass solved (`CustomerBuckets.count`: everybody; fewer when it left some out).
        public var buckets: Int = CustomerBuckets.count
        /// Wall time of the pass over the shards (the master's solve not included).
        public var seconds: Double = 0
    }

    /// Where the passes are, for progress displays.
    public struct Progress: Sendable {
        public var round: Int
        public var bestDual: Double
        /// The LP master's value, once it meets every row.
        public var target: Double?
        /// Relative gap between the two, once the target is known.
        public var gap: Double? { target.map { (bestDual - $0) / max(abs(bestDual), 1e-9) } }
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
}
