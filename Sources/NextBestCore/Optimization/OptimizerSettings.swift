/// The optimizer's settings a job takes from its options, each default stated here once: the customers per
/// shard, the most price rounds, the gap at which the rounds stop and the presolve's sample size. The
/// solver's options (`DualSolver.Options`), both pipelines' options and every command that takes these
/// options start from these values.
public struct OptimizerSettings: Sendable, Equatable {
    /// The defaults.
    public static let standard = OptimizerSettings()

    /// Customers per shard.
    public var shardSize: Int
    /// Pricing passes over everybody at most (passes on a presolve's sample are counted apart).
    public var maxRounds: Int
    /// Stop the price rounds once the gap between the dual bound and a repaired selection is below this fraction.
    public var gapTolerance: Double
    /// From a cold start (or from warm prices without their mix: the models changed), find the prices on a sample of at least this many customers first, when the
    /// population is at least twice as large (0: never).
    public var presolveCustomers: Int

    /// The defaults are these arguments' (and nowhere else).
    public init(shardSize: Int = 50_000, maxRounds: Int = 60, gapTolerance: Double = 5e-4, presolveCustomers: Int = 250_000) {
        self.shardSize = shardSize; self.maxRounds = maxRounds; self.gapTolerance = gapTolerance; self.presolveCustomers = presolveCustomers
    }

    /// The solver's options for these settings, starting from `warmStart` (and its `warmMix`) when given.
    public func solverOptions(warmStart: Prices? = nil, warmMix: PriceMix? = nil) -> DualSolver.Options {
        DualSolver.Options(maxRounds: maxRounds, warmStart: warmStart, warmMix: warmMix, gapTolerance: gapTolerance,
                           presolveCustomers: presolveCustomers)
    }
}
