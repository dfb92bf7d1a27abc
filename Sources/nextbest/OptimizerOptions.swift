import ArgumentParser
import NextBestCore

/// `--max-rounds` and `--gap-tolerance`: the optimizer's rounds, for every command that optimizes (`run`,
/// `coordinator` through `OptimizerOptions`; `rescore`, whose shards and start come from the run it rescores).
/// The defaults are `OptimizerSettings.standard`'s.
struct RoundOptions: ParsableArguments {
    @Option(help: "Most price rounds of the optimizer.") var maxRounds: Int = OptimizerSettings.standard.maxRounds
    @Option(help: "Stop the price rounds once the gap between the dual bound and a repaired selection is below this fraction.")
    var gapTolerance: Double = OptimizerSettings.standard.gapTolerance

    func validate() throws {
        try OptionChecks.rounds(maxRounds: maxRounds, gapTolerance: gapTolerance)
    }

    /// `settings` with these rounds.
    func applied(to settings: OptimizerSettings) -> OptimizerSettings {
        var s = settings
        s.maxRounds = maxRounds; s.gapTolerance = gapTolerance
        return s
    }
}

/// The optimizer's options of a job that plans its own shards (`run`, `coordinator`): `--shard-size`,
/// `--presolve-customers` and the rounds. The defaults are `OptimizerSettings.standard`'s.
struct OptimizerOptions: ParsableArguments {
    @Option(help: "Customers per shard.") var shardSize: Int = OptimizerSettings.standard.shardSize
    @OptionGroup var rounds: RoundOptions
    @Option(help: "From a cold start (or from remembered prices found under other model versions), find the prices on a fixed sample of at least this many customers first, when there are twice as many (0: never).")
    var presolveCustomers: Int = OptimizerSettings.standard.presolveCustomers

    /// (`rounds` validates itself.)
    func validate() throws {
        try OptionChecks.shardSize(shardSize)
        try OptionChecks.presolveCustomers(presolveCustomers)
    }

    /// The settings these options give.
    var settings: OptimizerSettings {
        rounds.applied(to: OptimizerSettings(shardSize: shardSize, presolveCustomers: presolveCustomers))
    }
}
