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
        public var shardSize: Int
        public var maxRounds: Int
        /// Stop the price rounds once the gap to a repaired selection is below this (relative).
        public var gapTolerance: Double = DualSolver.Options().gapTolerance
        /// From a cold start, find the prices on a sample of at least this many customers first (0: never;
        /// see `DualSolver.Options.presolveCustomers`).
        public var presolveCustomers: Int = DualSolver.Options().presolveCustomers
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
        public init(storePath: String, outDir: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount, shardSize: Int = 50_000,
                    maxRounds: Int = 60, warmStart: Bool = true) {
            self.storePath = storePath; self.outDir = outDir; self.threads = max(1, threads); self.shardSize = max(1, shardSize)
            self.maxRounds = maxRounds; self.warmStart = warmStart
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
        do {
            let r = try runJob(options, log: log, metrics: metrics)
            metrics.finished(ok: true, timings: r.timings)
            return r
        } catch {
            metrics.finished(ok: false)
            throw error
        }
    }

    static func runJob(_ options: Options, log: RoleLog, metrics: RunMetrics) throws -> Result {
        let t0 = Date()
        // One environment per process (LMDB's rule): writable only when the run remembers its prices.
        let remember = options.warmStart && options.campaign == nil
        let store = try Store(path: options.storePath, readOnly: !remember, mustExist: true)
        store.env.clearStaleReaders()
        let plan = try store.scoringPlan(campaign: options.campaign)
        let (regions, segments) = try store.env.read { txn in (try store.regions(in: txn), try store.segments(in: txn)) }
        let shardPlan = try ShardPlan.make(store: store, shardSize: options.shardSize)
        let tPlan = Date()
        log("planned \(shardPlan.shards.count) shards over \(shardPlan.customers) customers")
        metrics.started(shards: shardPlan.shards.count, customers: shardPlan.customers)

        // Score every shard into an in-memory candidate table, ready for the rounds.
        let constraints = ConstraintSet(plan: plan, regions: regions, segments: segments)
        let tables = Slots<Swift.Result<ShardOptimizer, Error>>(count: shardPlan.shards.count)
        let seconds = Slots<Double>(count: shardPlan.shards.count)
        let threads = min(options.threads, max(1, shardPlan.shards.count))
        let next = Counter()
        let progress = ScoringProgress(shards: shardPlan.shards.count)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            var scorer = ShardScorer(store: store, plan: plan)
            while let i = next.claim(below: shardPlan.shards.count) {
                let s = shardPlan.shards[i]
                let start = Date()
                progress.started(metrics)
                tables.set(i, Swift.Result { ShardOptimizer(plan: plan, constraints: constraints, table: try scorer.buildTable(lower: s.lower, upper: s.upper)) })
                seconds.set(i, Date().timeIntervalSince(start))
                progress.finished(customers: s.customers, since: tPlan, metrics)
            }
        }
        let shards = try tables.values().map { try $0.get() }
        var latency = ShardLatency()
        for s in seconds.values() { latency.record(seconds: s) }
        let tScore = Date()
        log("scored \(shardPlan.customers) customers into \(shards.reduce(0) { $0 + $1.table.candidates.count }) candidates")

        if let dir = options.exportCandidates { try CandidateExport.write(shards, regions: regions, segments: segments, to: dir) }
        // Optimize: rounds of prices over all shards, then repair.
        let warm = remember ? try PriceMemory.load(store: store) : nil
        let group = LocalShards(shards, constraints: constraints, threads: threads)
        let report = try Optimizer.run(group, options: .init(maxRounds: options.maxRounds, warmStart: warm?.prices, warmMix: warm?.mix,
                                                             gapTolerance: options.gapTolerance,
                                                                 presolveCustomers: options.presolveCustomers), onRound: { r in
            metrics.optimizationRound(r.round, gap: r.gap, dualBound: r.bestDual)
        })
        metrics.optimized(objective: report.objective, dualBound: report.dualBound, gap: report.gap, rounds: report.rounds)
        let tOptimize = Date()
        log("optimized in \(Optimizer.roundsText(report)): objective \(FixedDecimal.string(report.objective, decimals: 2)), dual bound \(FixedDecimal.string(report.dualBound, decimals: 2)), gap \(FixedDecimal.string(report.gap * 100, decimals: 4))%")

        // Merge shards in customer-id order.
        var totals = RunTotals(offers: plan.offers.count, products: plan.products.count, channels: plan.channels.count,
                               regions: regions.count, segments: segments.count)
        var chunks: [[UInt8]] = [Array(NBAFormat.header.utf8)]
        for s in group.shards {
            let (rows, t) = NBAWriter.rows(s, slot: report.slot, regions: regions.count, segments: segments.count)
            totals.merge(t)
            chunks.append(rows)
            metrics.written(chunks.count - 1)
        }
        let nbaPath = options.outDir + "/nba.csv"
        try AtomicFile.write(chunks, to: nbaPath)
        let tWrite = Date()
        if remember { try PriceMemory.save(report.prices, mix: report.mix, store: store) }
        let timings: [(String, Double)] = [
            ("plan", tPlan.timeIntervalSince(t0)),
            ("score", tScore.timeIntervalSince(tPlan)),
            ("optimize", tOptimize.timeIntervalSince(tScore)),
            ("rounds", report.roundSeconds),
            ("repair", report.repairSeconds),
            ("merge_and_write", tWrite.timeIntervalSince(tOptimize)),
            ("total", tWrite.timeIntervalSince(t0)),
        ]
        let summary = RunSummary.render(plan: plan, totals: totals, regions: regions, segments: segments,
                                        extra: [("optimization", RunSummary.optimization(report)),
                                                ("store", .string(options.storePath)), ("shards", .int(Int64(shardPlan.shards.count))),
                                                ("threads", .int(Int64(threads))), ("shard_latency", latency.json)],
                                        timings: timings)
        let summaryPath = options.outDir + "/summary.json"
        try AtomicFile.write(summary, to: summaryPath)
        if options.writeReport { try RunReportFile.write(summary: summary, outDir: options.outDir) }
        return Result(nbaPath: nbaPath, summaryPath: summaryPath, totals: totals, shards: shardPlan.shards.count,
                      timings: timings, summary: summary, report: report)
    }
}

/// Shard counts and the scoring rate of a one-process run, for its metrics (updated from the scoring
/// threads).
final class ScoringProgress: Sendable {
    private let total: Int
    private let counts = Mutex(Counts())

    struct Counts {
        var running = 0, done = 0, customers = 0
    }

    init(shards: Int) { total = shards }

    func started(_ m: RunMetrics) {
        counts.withLock { c in
            c.running += 1
            m.shards(pending: total - c.running - c.done, running: c.running, done: c.done)
        }
    }

    func finished(customers n: Int, since start: Date, _ m: RunMetrics) {
        counts.withLock { c in
            c.running -= 1; c.done += 1; c.customers += n
            m.shards(pending: total - c.running - c.done, running: c.running, done: c.done)
            let s = Date().timeIntervalSince(start)
            m.scored(customers: n, perSecond: s > 0 ? Double(c.customers) / s : 0)
        }
    }
}
