import Foundation
import NextBestCore
import NextBestStore

/// What a job's plan stage decides: the shards (customer-id key ranges) and the prices the optimization
/// starts from.
struct JobPlan: Sendable {
    var shards: [ShardPlan.Shard]
    var warmStart: Prices?
    var warmMix: PriceMix?
    /// The last response served by `nextbest serve` the run reads (its plan's `servedThrough`).
    var servedThrough: UInt64
    var customers: Int { shards.reduce(0) { $0 + $1.customers } }
}

/// The parts of `summary.json` a backend adds to the totals, in the order they appear.
struct JobSummaryFields: Sendable {
    /// Before the optimization (the run's identity).
    var run: [(String, JSONText)] = []
    /// The optimization report as the summary shows it.
    var optimization: JSONText
    /// After the shard count (what scored and held the shards).
    var capacity: [(String, JSONText)]
    var latency: ShardLatency
    /// Last (what was recovered from lost workers).
    var recovery: [(String, JSONText)] = []
    /// After the recovery: the comparison with the previous kept run and the trend over the kept runs.
    var history: [(String, JSONText)] = []
}

/// Where a job's shards are scored and held, for `JobPipeline`: in this process (`LocalJob`, over
/// `LocalShards`) or on workers (`ClusterJob`, over `ClusterShards`). The pipeline runs the stages in order
/// and keeps their timings; the backend does each stage's work its own way.
protocol JobBackend: AnyObject {
    /// The shards the optimizer works on.
    associatedtype Group: ShardGroup
    var context: RunContext { get }
    /// The store as the options named it (for the summary) and the output directory.
    var storePath: String { get }
    var outDir: String { get }
    var settings: OptimizerSettings { get }
    var metrics: RunMetrics { get }
    /// Whether the run's final prices are remembered in the store for the next run's warm start.
    var remembersPrices: Bool { get }
    /// Whether `report.html` is written next to `summary.json`.
    var writesReport: Bool { get }
    /// Whether `summary.json`'s timings have a `wait_for_workers` and a `write` entry.
    var timesWorkers: Bool { get }

    /// Plans the shards (`t0`: when the job started).
    func plan(startedAt t0: Date) throws -> JobPlan
    /// Waits for what scoring needs (workers) before the score stage.
    func prepare() throws
    /// Scores every shard of `plan` into the group the optimizer works on (`since`: when scoring started).
    func score(_ plan: JobPlan, since: Date) throws -> Group
    /// The optimization's report when it was made already (a resumed run); nil: the pipeline optimizes.
    func optimizedAlready() -> Optimizer.Report?
    /// A price round finished.
    func round(_ progress: DualSolver.Progress)
    /// The optimization finished with `report` over `group`.
    func optimized(_ report: Optimizer.Report, group: Group) throws
    /// Hands each shard's lists of selection `slot` to `sink` in shard order, with their totals.
    func merge(_ group: Group, slot: Int, into sink: ([UInt8], RunTotals) throws -> Void) throws
    /// After nba.csv is written: what else the run leaves.
    func finish(_ plan: JobPlan) throws
    /// The backend's fields of `summary.json`.
    func summaryFields(_ report: Optimizer.Report, plan: JobPlan) -> JobSummaryFields
    /// Everything is written (`bytes`: nba.csv's size; `seconds`: the job's).
    func wrote(nbaPath: String, bytes: Int, summaryPath: String, seconds: Double)
}

/// One job, whatever holds its shards: plan → score → optimize → merge → report. Writes `nba.csv`
/// (streamed in shard order) and `summary.json` atomically, and times every stage.
struct JobPipeline<Backend: JobBackend> {
    let backend: Backend

    /// Makes the backend and runs the job, reporting its end (ok or not) to `metrics` (a backend that cannot
    /// be made, for example a store that cannot be opened, is a job that failed).
    static func run(metrics: RunMetrics, _ backend: () throws -> Backend) throws -> LocalRunner.Result {
        do {
            let backend = try backend()
            // Held shared until the job ends: imports of profiles and contacts wait for it (`RunLock`).
            let lock = RunLock.holdForRun(storePath: backend.storePath, description: "a run started \(ClusterJob.startStamp(Date())) by process \(getpid()) on \(ProcessInfo.processInfo.hostName)")
            defer { withExtendedLifetime(lock) {} }
            let r = try JobPipeline(backend: backend).runStages()
            metrics.finished(ok: true)
            return r
        } catch {
            metrics.finished(ok: false)
            throw error
        }
    }

    /// The stages in order; the prices are remembered once nba.csv is written, before the backend finishes.
    func runStages() throws -> LocalRunner.Result {
        var clock = StageClock()
        let plan = try backend.plan(startedAt: clock.start)
        backend.metrics.started(shards: plan.shards.count, customers: plan.customers)
        clock.mark("plan")
        try backend.prepare()
        if backend.timesWorkers { clock.mark("wait_for_workers") }
        let group = try backend.score(plan, since: clock.last)
        clock.mark("score")
        let report = try optimize(group, plan: plan)
        clock.mark("optimize")
        clock.add("rounds", within: "optimize", report.roundSeconds)
        clock.add("repair", within: "optimize", report.repairSeconds)
        let merged = try merge(group, slot: report.slot)
        clock.mark("merge_and_write")
        if backend.timesWorkers { clock.add("write", within: "merge_and_write", merged.writeSeconds) }
        clock.finish()
        if backend.remembersPrices { try PriceMemory.save(report.prices, mix: report.mix, store: backend.context.store) }
        try backend.finish(plan)
        let result = try self.report(report, plan: plan, merged: merged, timings: clock.timings, started: clock.start)
        backend.metrics.timed(clock)
        return result
    }

    /// What the run was made of, for the summary and the report: when it started, the nextbest that ran it,
    /// the campaign's version, the last response served by `nextbest serve` that it reads (its plan's bound),
    /// and each model's version.
    func inputs(started: Date, plan: JobPlan) throws -> [(String, JSONText)] {
        let c = backend.context
        let used = Set(c.plan.models.map(\.id))
        let versions = try c.store.env.read { txn in try c.store.modelVersions(in: txn) }.filter { used.contains($0.key) }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return [("started", .string(f.string(from: started))), ("nextbest_version", .string(NextBestVersion.software)),
                ("campaign_version", .int(Int64(c.fingerprint.campaignVersion))),
                ("served_responses_through", .int(Int64(plan.servedThrough))),
                ("model_versions", .object(versions.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) }))]
    }

    /// The optimization over the scored shards, unless the run has it already.
    func optimize(_ group: Backend.Group, plan: JobPlan) throws -> Optimizer.Report {
        if let done = backend.optimizedAlready() { return done }
        let metrics = backend.metrics, backend = self.backend
        let report = try Optimizer.run(group, options: backend.settings.solverOptions(warmStart: plan.warmStart, warmMix: plan.warmMix),
                                       onRound: { r in
            metrics.optimizationRound(r.round, gap: r.gap, dualBound: r.bestDual)
            backend.round(r)
        })
        metrics.optimized(objective: report.objective, dualBound: report.dualBound, gap: report.gap, rounds: report.rounds,
                          roundSeconds: report.history.map(\.seconds))
        try backend.optimized(report, group: group)
        return report
    }

    /// What the merge stage leaves.
    struct Merged: Sendable {
        var nbaPath: String
        var bytes: Int
        var totals: RunTotals
        /// Seconds spent writing (appending and committing), within the stage.
        var writeSeconds: Double
    }

    /// Streams every shard's lists into `nba.csv` in shard order.
    func merge(_ group: Backend.Group, slot: Int) throws -> Merged {
        let nbaPath = backend.outDir + "/nba.csv"
        let writer = try AtomicFileWriter(path: nbaPath)
        writer.append(Array(NBAFormat.header.utf8))
        var totals = backend.context.emptyTotals()
        var writeSeconds = 0.0
        try backend.merge(group, slot: slot) { rows, t in
            let tw = Date()
            totals.merge(t)
            writer.append(rows)
            writeSeconds += Date().timeIntervalSince(tw)
        }
        let tc = Date()
        try writer.commit()
        writeSeconds += Date().timeIntervalSince(tc)
        return Merged(nbaPath: nbaPath, bytes: writer.bytesWritten, totals: totals, writeSeconds: writeSeconds)
    }

    /// Writes `summary.json` (and `report.html`) and returns the job's result.
    func report(_ report: Optimizer.Report, plan: JobPlan, merged: Merged, timings: [(String, Double)], started: Date) throws -> LocalRunner.Result {
        let c = backend.context
        let f = backend.summaryFields(report, plan: plan)
        let extra: [(String, JSONText)] = f.run + (try inputs(started: started, plan: plan)) + [("optimization", f.optimization), ("store", .string(backend.storePath)),
                                                   ("shards", .int(Int64(plan.shards.count)))]
            + f.capacity + [("shard_latency", f.latency.json)] + f.recovery + f.history
        let summary = RunSummary.render(plan: c.plan, totals: merged.totals, regions: c.regions, segments: c.segments, extra: extra, timings: timings)
        let summaryPath = backend.outDir + "/summary.json"
        try AtomicFile.write(summary, to: summaryPath)
        if backend.writesReport { try RunReportFile.write(summary: summary, outDir: backend.outDir) }
        backend.wrote(nbaPath: merged.nbaPath, bytes: merged.bytes, summaryPath: summaryPath, seconds: timings.last?.1 ?? 0)
        return LocalRunner.Result(nbaPath: merged.nbaPath, summaryPath: summaryPath, totals: merged.totals, shards: plan.shards.count,
                                  timings: timings, summary: summary, report: report)
    }
}

/// A job's stage timings: each stage from the end of the one before, the parts measured inside a stage,
/// and the whole job. `timings` lists them as `summary.json` has them: stages and parts in the order
/// measured, then `total`.
struct StageClock: Sendable {
    let start = Date()
    private(set) var last: Date
    /// The top-level stages, in order.
    private(set) var stages: [(String, Double)] = []
    /// Parts of a stage measured elsewhere (the optimization's rounds and repair, the merge's writing).
    private(set) var parts: [(stage: String, part: String, seconds: Double)] = []
    /// Stages and parts in the order measured.
    private var measured: [(String, Double)] = []
    /// The whole job, once `finish()`ed.
    private(set) var total: Double = 0

    init() { last = start }

    /// The stage `name` ends now.
    mutating func mark(_ name: String) {
        let now = Date()
        stages.append((name, now.timeIntervalSince(last)))
        measured.append(stages[stages.count - 1])
        last = now
    }

    /// A part `name` of `stage`, measured elsewhere.
    mutating func add(_ name: String, within stage: String, _ seconds: Double) {
        parts.append((stage, name, seconds))
        measured.append((name, seconds))
    }

    /// The job ends with the last stage marked.
    mutating func finish() { total = last.timeIntervalSince(start) }

    /// As `summary.json`'s `timings_seconds` has them.
    var timings: [(String, Double)] { measured + [("total", total)] }
}
