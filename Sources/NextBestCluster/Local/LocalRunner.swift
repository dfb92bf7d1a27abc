import Foundation
import Synchronization
import NextBestCore
import NextBestStore

/// Runs a whole nightly job in one process: plans shards, scores them on several threads, merges the
/// shards' lists in customer-id order and writes `nba.csv` and `summary.json` atomically.
public enum LocalRunner {
    /// What to run.
    public struct Options: Sendable {
        public var storePath: String
        public var outDir: String
        public var threads: Int
        /// Shard size, price rounds, gap tolerance and presolve sample.
        public var settings: OptimizerSettings
        /// Start from the prices of the previous run of the same campaign (and remember this run's).
        public var warmStart: Bool
        /// Also write the optimization instance (candidates and constraints) into this directory.
        public var exportCandidates: String? = nil
        /// Run with this campaign instead of the store's (a what-if; nothing is written to the store).
        public var campaign: Campaign? = nil
        /// Where the run's metrics go (served at `/metrics` by `--metrics-port`).
        public var metrics: RunMetrics? = nil
        /// Also write report.html next to nba.csv.
        public var writeReport: Bool = true
        public init(storePath: String, outDir: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                    settings: OptimizerSettings = .standard, warmStart: Bool = true) {
            self.storePath = storePath; self.outDir = outDir; self.threads = max(1, threads); self.settings = settings
            self.settings.shardSize = max(1, settings.shardSize)
            self.warmStart = warmStart
        }
    }

    /// What a run produced.
    public struct Result: Sendable {
        public var nbaPath: String
        public var summaryPath: String
        public var totals: RunTotals
        public var shards: Int
        public var timings: [(String, Double)]
        public var summary: String
        public var report: Optimizer.Report
    }

    public static func run(_ options: Options, log: @escaping (String) -> Void = { _ in }) throws -> Result {
        try run(options, logger: RoleLog(log))
    }

    /// Runs the job, logging through `logger`.
    public static func run(_ options: Options, logger log: RoleLog) throws -> Result {
        let metrics = options.metrics ?? RunMetrics()
        return try JobPipeline.run(metrics: metrics) { try LocalJob(options, log: log, metrics: metrics) }
    }
}

/// Shard counts and shard scoring times of a one-process run, for its metrics (updated from the scoring
/// threads).
final class ScoringProgress: Sendable {
    private let total: Int
    private let counts = Mutex(Counts())

    struct Counts {
        var running = 0, done = 0
    }

    init(shards: Int) { total = shards }

    func started(_ m: RunMetrics) {
        counts.withLock { c in
            c.running += 1
            m.shards(pending: total - c.running - c.done, running: c.running, done: c.done)
        }
    }

    func finished(customers n: Int, seconds: Double, _ m: RunMetrics) {
        counts.withLock { c in
            c.running -= 1; c.done += 1
            m.shards(pending: total - c.running - c.done, running: c.running, done: c.done)
            m.scored(customers: n, seconds: seconds)
        }
    }
}
