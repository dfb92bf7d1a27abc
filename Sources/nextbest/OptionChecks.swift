import ArgumentParser
import Foundation
import NextBestCluster
import NextBestCore

/// Range checks of numeric options, shared by the commands (`validate()`): a value out of range is a
/// usage error naming the option and the range, before any work. `--shard-size 0` was taken as 1,
/// `--workers -1` and `--gap-tolerance nan` were accepted, and `--workers 1000` started a thousand
/// processes on two cores.
enum OptionChecks {
    static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }
    /// The most local worker processes: four per core, at least 8. More only compete for the cores (and
    /// each holds its shards in memory); a larger cluster runs workers on other hosts with `coordinator`.
    static var maxLocalWorkers: Int { max(8, 4 * cores) }
    /// The most threads of one process.
    static let maxThreads = 1_024
    /// The smallest shard: a run pays a round trip per shard and round.
    static let minShardSize = 10

    /// Refuses `value` of `option` outside `range`, with `why` appended when given.
    static func check<T: Comparable>(_ option: String, _ value: T, _ range: ClosedRange<T>, _ why: String? = nil) throws {
        guard range.contains(value) else {
            throw ValidationError("\(option) must be between \(range.lowerBound) and \(range.upperBound), not \(value)" + (why.map { ": \($0)" } ?? ""))
        }
    }

    /// Refuses a non-finite `value` or one outside `range` (NaN is outside every range).
    static func check(_ option: String, _ value: Double, _ range: ClosedRange<Double>, _ why: String? = nil) throws {
        guard value.isFinite, range.contains(value) else {
            throw ValidationError("\(option) must be a number between \(range.lowerBound) and \(range.upperBound), not \(value)" + (why.map { ": \($0)" } ?? ""))
        }
    }

    static func localWorkers(_ n: Int, minimum: Int = 0) throws {
        try check("--workers", n, minimum...maxLocalWorkers,
                  "at most four local workers per core (this machine has \(cores)); run more on other hosts with `nextbest coordinator` and `nextbest worker`")
    }

    static func threads(_ n: Int?, option: String = "--threads") throws {
        if let n { try check(option, n, 1...maxThreads) }
    }

    static func shardSize(_ n: Int) throws {
        try check("--shard-size", n, minShardSize...100_000_000, "each shard costs a round trip per round; the default is \(OptimizerSettings.standard.shardSize)")
    }

    /// The optimizer's rounds (`--max-rounds`, `--gap-tolerance`).
    static func rounds(maxRounds: Int, gapTolerance: Double) throws {
        try check("--max-rounds", maxRounds, 0...100_000)
        try check("--gap-tolerance", gapTolerance, 0...1)
    }

    static func presolveCustomers(_ n: Int) throws {
        try check("--presolve-customers", n, 0...1_000_000_000)
    }

    /// A duration in seconds: finite, positive, at most `maximum`.
    static func seconds(_ option: String, _ value: Double, minimum: Double = 0.001, maximum: Double = 30 * 86_400) throws {
        try check(option, value, minimum...maximum)
    }
}

extension ObservabilityOptions {
    func validate() throws {
        if let metricsPort { try OptionChecks.check("--metrics-port", metricsPort, 0...65_535) }
        try OptionChecks.check("--metrics-linger", metricsLinger, 0...86_400)
        _ = try endpoint()
    }
}
