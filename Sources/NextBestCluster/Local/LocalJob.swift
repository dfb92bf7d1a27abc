import Foundation
import NextBestCore
import NextBestStore

/// The backend of a one-process job (`LocalRunner`): shards scored on this process's threads and held
/// here (`LocalShards`); the prices are remembered in the store unless the run is a what-if.
final class LocalJob: JobBackend {
    let options: LocalRunner.Options
    let context: RunContext
    let log: RoleLog
    let metrics: RunMetrics
    /// Threads the shards are scored and optimized on (no more than there are shards).
    private(set) var threads = 1
    private(set) var latency = ShardLatency()

    var storePath: String { options.storePath }
    var outDir: String { options.outDir }
    var settings: OptimizerSettings { options.settings }
    var writesReport: Bool { options.writeReport }
    var timesWorkers: Bool { false }
    /// Remembered when the run starts from them and runs with the store's own campaign.
    var remembersPrices: Bool { options.warmStart && options.campaign == nil }

    init(_ options: LocalRunner.Options, log: RoleLog, metrics: RunMetrics) throws {
        self.options = options
        self.log = log
        self.metrics = metrics
        // One environment per process (LMDB's rule): writable only when the run remembers its prices.
        context = try RunContext(storePath: options.storePath, writable: options.warmStart && options.campaign == nil,
                                 campaign: options.campaign)
    }

    func plan(startedAt t0: Date) throws -> JobPlan {
        let shardPlan = try ShardPlan.make(store: context.store, shardSize: settings.shardSize)
        log("planned \(shardPlan.shards.count) shards over \(shardPlan.customers) customers")
        threads = min(options.threads, max(1, shardPlan.shards.count))
        let warm = remembersPrices ? try PriceMemory.load(store: context.store) : nil
        return JobPlan(shards: shardPlan.shards, warmStart: warm?.prices, warmMix: warm?.startingMix(modelVersions: try context.modelVersions().campaign),
                       servedThrough: try ResponseRecorder.lastSequence(store: context.store))
    }

    func prepare() throws {}

    /// Scores every shard into an in-memory candidate table, ready for the rounds.
    func score(_ plan: JobPlan, since start: Date) throws -> LocalShards {
        let shards = plan.shards, context = self.context, metrics = self.metrics
        let tables = Slots<Swift.Result<ShardOptimizer, Error>>(count: shards.count)
        let seconds = Slots<Double>(count: shards.count)
        let next = Counter()
        let progress = ScoringProgress(shards: shards.count)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            var scorer = ShardScorer(store: context.store, plan: context.plan, servedThrough: plan.servedThrough)
            while let i = next.claim(below: shards.count) {
                let s = shards[i]
                let begun = Date()
                progress.started(metrics)
                tables.set(i, Swift.Result {
                    ShardOptimizer(plan: context.plan, constraints: context.constraints, table: try scorer.buildTable(lower: s.lower, upper: s.upper))
                })
                let took = Date().timeIntervalSince(begun)
                seconds.set(i, took)
                progress.finished(customers: s.customers, seconds: took, metrics)
            }
        }
        let scored = try tables.values().map { try $0.get() }
        for s in seconds.values() { latency.record(seconds: s) }
        log("scored \(plan.customers) customers into \(scored.reduce(0) { $0 + $1.table.candidates.count }) candidates")
        if let dir = options.exportCandidates {
            try CandidateExport.write(scored, regions: context.regions, segments: context.segments, to: dir)
        }
        return LocalShards(scored, constraints: context.constraints, threads: threads)
    }

    func optimizedAlready() -> Optimizer.Report? { nil }

    func round(_ progress: DualSolver.Progress) {}

    func optimized(_ report: Optimizer.Report, group: LocalShards) throws {
        log("optimized in \(Optimizer.roundsText(report)): objective \(FixedDecimal.string(report.objective, decimals: 2)), dual bound \(FixedDecimal.string(report.dualBound, decimals: 2)), gap \(FixedDecimal.string(report.gap * 100, decimals: 4))%")
    }

    /// Each shard's lists, in customer-id order.
    func merge(_ group: LocalShards, slot: Int, into sink: ([UInt8], RunTotals) throws -> Void) throws {
        for (i, s) in group.shards.enumerated() {
            let (rows, t) = NBAWriter.rows(s, slot: slot, regions: context.regions.count, segments: context.segments.count)
            try sink(rows, t)
            metrics.written(i + 1)
        }
    }

    func finish(_ plan: JobPlan) throws {}

    func summaryFields(_ report: Optimizer.Report, plan: JobPlan) -> JobSummaryFields {
        JobSummaryFields(optimization: RunSummary.optimization(report), capacity: [("threads", .int(Int64(threads)))], latency: latency)
    }

    func wrote(nbaPath: String, bytes: Int, summaryPath: String, seconds: Double) {}
}
