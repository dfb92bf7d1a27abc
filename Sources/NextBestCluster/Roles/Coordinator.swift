import Foundation
import Synchronization
import NextBestCore
import NextBestStore
import NextBestWire

/// The coordinator of a cluster run: binds a ROUTER socket, waits for workers, plans shards as
/// customer-id key ranges and hands them out as workers have free threads (readiness, not round-robin;
/// a worker that joins mid-scoring gets shards at once), drives the optimization rounds over the shards
/// the workers hold, then streams each shard's ranked lists into `nba.csv` in customer-id order.
public final class Coordinator {
    /// What to run and how.
    public struct Options: Sendable {
        public var bind: String
        public var storePath: String
        public var outDir: String
        public var shardSize: Int = 50_000
        public var minWorkers: Int = 1
        public var maxRounds: Int = 60
        /// Stop the price rounds once the gap to a repaired selection is below this (relative).
        public var gapTolerance: Double = DualSolver.Options().gapTolerance
        /// From a cold start, find the prices on a sample of at least this many customers first (0: never).
        public var presolveCustomers: Int = DualSolver.Options().presolveCustomers
        public var warmStart: Bool = true
        /// Seconds to wait for `minWorkers` (nil: forever).
        public var waitTimeout: Double? = nil
        /// Seconds between heartbeats, and how many missed ones make a worker dead.
        public var heartbeat: Double = 1
        public var deadAfter: Int = 10
        /// Request deadlines: a worker that has not answered within `deadlineFactor` times the longest per-shard
        /// time seen for that kind of request (and at least `deadlineFloor` seconds) is dropped and its shards go
        /// to other workers.
        public var deadlineFactor: Double = 10
        public var deadlineFloor: Double = 30
        /// Rescore a kept run: score only the offers of these models again (and any model whose version
        /// changed), take the other propensities from that run, start from its final prices.
        public var rescore: (from: UInt64, models: [String])? = nil
        /// CURVE: the coordinator's secret key (Z85) and the public keys of the workers allowed in.
        public var curveSecret: String? = nil
        public var allowedKeys: [[UInt8]] = []
        /// Show a live progress line (an interactive terminal) instead of a log line per stage only.
        public var liveProgress: Bool = false
        /// Where the run's metrics go (served at `/metrics` by the command's `--metrics-port`).
        public var metrics: RunMetrics? = nil
        public init(bind: String, storePath: String, outDir: String) {
            self.bind = bind; self.storePath = storePath; self.outDir = outDir
        }
    }

    let options: Options
    let context: RunContext
    let hub: Hub
    let log: RoleLog
    let progress: Progress
    let metrics: RunMetrics
    /// What a run has reached, for observers (tests, metrics).
    public enum Event: Sendable {
        case shardScored(done: Int, total: Int)
        case round(Int)
        /// A round of the presolve, on the sample of customers.
        case sampleRound(Int)
        case shardWritten(done: Int, total: Int)
    }
    /// Called on the coordinator's thread as the run moves on.
    public var onEvent: ((Event) -> Void)?

    /// Checked while waiting: a reason to stop (for example a local worker process died).
    public var abortCheck: (() -> String?)? {
        get { hub.abortCheck }
        set { hub.abortCheck = newValue }
    }

    /// Opens the store and binds the socket (so `endpoint` is known before any worker starts).
    public convenience init(_ options: Options, log: @escaping (String) -> Void) throws {
        try self.init(options, logger: RoleLog(log))
    }

    /// Opens the store and binds the socket, logging through `logger` (the run id is added to every
    /// line once known).
    public init(_ options: Options, logger log: RoleLog) throws {
        self.options = options
        self.log = log
        metrics = options.metrics ?? RunMetrics()
        // Writable: the run journal (and the remembered prices) go into the store.
        context = try RunContext(storePath: options.storePath, writable: true)
        progress = Progress(live: options.liveProgress, log: log)
        hub = try Hub(bind: options.bind, fingerprint: context.fingerprint, heartbeat: options.heartbeat, deadAfter: options.deadAfter,
                      curve: options.curveSecret.map { ($0, options.allowedKeys) },
                      times: RequestTimes(factor: options.deadlineFactor, floor: options.deadlineFloor),
                      frameLimit: try context.frameLimit(shardCustomers: Self.largestShard(options, journal: RunRepository(store: context.store))),
                      log: progress, metrics: metrics)
    }

    /// The most customers a shard of this coordinator's run can have: `--shard-size`, or a larger shard of a
    /// run in the journal (one this coordinator may resume or rescore).
    static func largestShard(_ options: Options, journal: RunRepository) throws -> Int {
        try journal.entries().reduce(options.shardSize) { max($0, $1.plan.customers.max() ?? 0) }
    }

    /// The endpoint workers connect to.
    public var endpoint: String { hub.endpoint }

    /// Runs one job: waits for workers, scores, optimizes, writes the outputs; then releases the workers.
    /// With `resume`, continues that run from its journal instead of starting a new one.
    public func run(resume: UInt64? = nil) throws -> LocalRunner.Result {
        do {
            let r = try runJob(resume: resume)
            metrics.finished(ok: true, timings: r.timings)
            return r
        } catch {
            metrics.finished(ok: false)
            log("run stopped: \(error)", level: .error)
            throw error
        }
    }

    func runJob(resume: UInt64?) throws -> LocalRunner.Result {
        let t0 = Date()
        let journal = RunRepository(store: context.store)
        var rescoreSet = Set<String>()
        var rescoreFrom: UInt64? = nil
        let runID: UInt64
        let shards: [ShardPlan.Shard]
        let warm: Prices?
        var warmMix: PriceMix? = nil
        var outcome: RunRepository.Outcome? = nil
        if let resume {
            let plan = try journal.plan(resume)
            guard plan.fingerprint == context.fingerprint.digest else {
                throw RunRepository.Failure.storeChanged(run: RunRepository.name(resume), then: plan.fingerprint, now: context.fingerprint.digest)
            }
            if try journal.state(resume) == "done" {
                throw ClusterError.aborted("run \(RunRepository.name(resume)) finished already: its nba.csv was written")
            }
            runID = resume; shards = plan.shards; warm = plan.warmStart; warmMix = plan.warmMix
            outcome = try journal.outcome(resume)
            progress.line("resuming run \(RunRepository.name(runID)) (\(try journal.state(resume) ?? "?")): " + (outcome == nil
                ? "its optimization had not finished, so it is redone from the same plan (\(try journal.rounds(resume).count) rounds were journaled)"
                : "optimized already; the shards not merged yet are rebuilt from their recipes"))
        } else if let (from, listed) = options.rescore {
            let base = try journal.plan(from)
            guard try journal.state(from) == "done", let baseOutcome = try journal.outcome(from) else {
                throw ClusterError.aborted("run \(RunRepository.name(from)) has not finished (or was pruned): rescore starts from a finished run")
            }
            if let stamp = base.dataStamp, stamp != (try context.dataStamp()) {
                throw ClusterError.aborted("profiles or contacts changed since run \(RunRepository.name(from)): its propensities no longer fit; run a full job instead")
            }
            let now = try context.store.env.read { txn in try context.store.modelVersions(in: txn) }
            let planIDs = Set(context.plan.models.map(\.id))
            for id in listed where !planIDs.contains(id) {
                throw ClusterError.aborted("model '\(id)' is not used by the campaign (models: \(planIDs.sorted().joined(separator: ", ")))")
            }
            rescoreSet = Set(listed).union(planIDs.filter { now[$0] != base.modelVersions?[$0] })
            rescoreFrom = from
            runID = UInt64.random(in: 1...UInt64.max)
            shards = base.shards
            warm = baseOutcome.prices
            warmMix = baseOutcome.mix
            try journal.begin(.init(run: runID, fingerprint: context.fingerprint.digest, shardSize: base.shardSize, maxRounds: options.maxRounds,
                                    warmStart: warm, warmMix: warmMix, lower: shards.map(\.lower), upper: shards.map(\.upper), customers: shards.map(\.customers),
                                    started: ISO8601DateFormatter().string(from: t0), campaignVersion: context.fingerprint.campaignVersion,
                                    modelVersions: now.filter { planIDs.contains($0.key) }, dataStamp: try context.dataStamp(), rescoredFrom: from))
            progress.line("rescoring run \(RunRepository.name(from)): models \(rescoreSet.sorted().joined(separator: ", ")) are scored again, the other \(planIDs.count - rescoreSet.count) come from that run")
        } else {
            let shardPlan = try ShardPlan.make(store: context.store, shardSize: options.shardSize)
            runID = UInt64.random(in: 1...UInt64.max)
            shards = shardPlan.shards
            let memory = options.warmStart ? try PriceMemory.load(store: context.store) : nil
            warm = memory?.prices
            warmMix = memory?.mix
            try journal.begin(.init(run: runID, fingerprint: context.fingerprint.digest, shardSize: options.shardSize, maxRounds: options.maxRounds,
                                    warmStart: warm, warmMix: warmMix, lower: shards.map(\.lower), upper: shards.map(\.upper), customers: shards.map(\.customers),
                                    started: ISO8601DateFormatter().string(from: t0), campaignVersion: context.fingerprint.campaignVersion,
                                    modelVersions: try context.store.env.read { txn in try context.store.modelVersions(in: txn) },
                                    dataStamp: try context.dataStamp()))
        }
        defer { hub.farewell(run: runID); log.set("run", nil) }
        log.set("run", RunRepository.name(runID))
        metrics.started(shards: shards.count, customers: shards.reduce(0) { $0 + $1.customers })
        metrics.workers(hub.peerCount)
        let tPlan = Date()
        progress.line("run \(RunRepository.name(runID)): \(shards.count) shards over \(shards.reduce(0) { $0 + $1.customers }) customers; store \(context.fingerprint); listening on \(endpoint) (frames up to \(hub.frameLimit >> 20) MiB)")

        // Wait for the minimum number of workers.
        let waitStart = Date()
        while hub.peerCount < options.minWorkers {
            if let limit = options.waitTimeout, Date().timeIntervalSince(waitStart) > limit {
                throw ClusterError.noWorkers(waitedSeconds: Int(limit), minimum: options.minWorkers)
            }
            if let (from, m) = try hub.pump(timeoutMs: 100) { progress.line("ignored \(m.kindName) from \(hub.name(from)) before the run started") }
        }
        let tWait = Date()

        var report: Optimizer.Report
        let group: ClusterShards
        var requeued = 0, duplicates = 0
        var latency = ShardLatency()
        var tScore = Date(), tOptimize = Date()
        var holders = 0
        if let outcome {
            // Optimized already: each shard not merged yet goes to a worker with its recipe.
            report = Optimizer.Report(objective: outcome.objective, dualBound: outcome.objective, gap: outcome.gap, rounds: outcome.rounds, history: [],
                                      prices: outcome.prices, constraints: [], relaxedObjective: 0, slot: outcome.slot)
            var recipes: [Int: [ShardOp]] = [:]
            var owner: [[UInt8]] = []
            var attempt: [UInt32] = []
            for s in shards.indices {
                if try journal.mergedRows(runID, shard: s) != nil {
                    // Merged already: nobody needs to hold it.
                    owner.append(hub.ordered.first!.routingID); attempt.append(1)
                    continue
                }
                let peer = try hub.roomiest(for: shards[s].customers, timeout: options.waitTimeout ?? .infinity)
                owner.append(peer.routingID); attempt.append(1)
                let r = try journal.recipe(runID, shard: s)
                recipes[s] = r.ops
                try hub.send(peer.routingID, .restore(run: runID, shard: UInt32(s), attempt: 1, lower: r.lower, upper: r.upper, ops: r.ops))
                hub.reserveHeld(peer.routingID, customers: shards[s].customers)
            }
            group = ClusterShards(hub: hub, run: runID, constraints: context.constraints, shards: shards, owner: owner, attempt: attempt)
            group.recipes = recipes
            for (s, ops) in recipes.sorted(by: { $0.key < $1.key }) { group.awaitRestore(s, ops: ops) }
            holders = Set(owner).count
            tScore = Date(); tOptimize = tScore
        } else {
        // Score: hand out shards as workers have free threads. A lost worker's shards go back in the
        // queue; when the queue is empty, an idle worker also takes a shard still being scored elsewhere
        // (a straggler) and the first copy scored wins.
        let scored = try score(shards, run: runID, journal: journal, rescore: rescoreFrom.map { ($0, rescoreSet) }, since: tWait)
        let owner = scored.owner, attempt = scored.attempt
        requeued = scored.requeued; duplicates = scored.duplicates; latency = scored.latency
        tScore = Date()
        holders = Set(owner).count
        for p in hub.ordered { progress.line("worker \(p.name) holds \(p.holds) shard(s), \(p.customers) customers" + (p.maxCustomers == .max ? "" : " (at most \(p.maxCustomers))")) }
        progress.line("scored \(scored.customers) customers into \(scored.candidates) candidates on \(holders) worker(s) in \(seconds(tScore.timeIntervalSince(tWait)))"
                      + (requeued + duplicates > 0 ? " (\(requeued) shard(s) re-queued from lost workers, \(duplicates) straggler copies)" : ""))

        // Optimize over the shards the workers hold.
        try journal.setState(runID, "optimizing")
        group = ClusterShards(hub: hub, run: runID, constraints: context.constraints, shards: shards, owner: owner, attempt: attempt)
        if let t = options.waitTimeout { group.replacementTimeout = max(t, 60) }
        group.onEvaluate = { n, request in try journal.round(runID, n, request.points[0]) }
        group.onSampleRound = { [progress, onEvent] n in
            onEvent?(.sampleRound(n))
            progress.update("optimizing: presolve round \(n)")
        }
        metrics.shards(pending: 0, running: 0, done: shards.count)
        report = try Optimizer.run(group, options: .init(maxRounds: options.maxRounds, warmStart: warm, warmMix: warmMix, gapTolerance: options.gapTolerance,
                                                          presolveCustomers: options.presolveCustomers), onRound: { [progress, onEvent, metrics] r in
            metrics.optimizationRound(r.round, gap: r.gap, dualBound: r.bestDual)
            onEvent?(.round(r.round))
            Failpoint.hit("coordinator.round", r.round)
            progress.update("optimizing: round \(r.round), gap \(r.gap.map { FixedDecimal.string($0 * 100, decimals: 3) + "%" } ?? "-")")
        })
        tOptimize = Date()
        let recipes = shards.indices.map { s in
            RunRepository.Recipe(lower: shards[s].lower, upper: shards[s].upper, ops: group.replay(for: s))
        }
        try journal.optimized(runID, recipes: recipes, outcome: .init(slot: report.slot, prices: report.prices, objective: report.objective, gap: report.gap,
                                                                      rounds: report.rounds, optimizationJSON: RunSummary.optimization(report).render(),
                                                                      mix: report.mix))
        outcome = try journal.outcome(runID)
        metrics.optimized(objective: report.objective, dualBound: report.dualBound, gap: report.gap, rounds: report.rounds)
        progress.line("optimized in \(Optimizer.roundsText(report)) (\(seconds(report.roundSeconds)) rounds, \(seconds(report.repairSeconds)) repair): objective \(FixedDecimal.string(report.objective, decimals: 2)), gap \(FixedDecimal.string(report.gap * 100, decimals: 4))%")

        }

        // Merge: each shard's lists in order, a few at a time, streamed into nba.csv; each shard's lists
        // are journaled as they arrive, and those journaled before a restart are not asked for again.
        let nbaPath = options.outDir + "/nba.csv"
        let writer = try AtomicFileWriter(path: nbaPath)
        writer.append(Array(NBAFormat.header.utf8))
        var totals = context.emptyTotals()
        var writeSeconds = 0.0
        try context.store.env.deferringSync {
        let journalQueue = JournalQueue()
        let run = runID
        try group.collect(slot: report.slot, window: max(4, 2 * holders), have: { s in try journalQueue.read { try journal.mergedRows(run, shard: s) } },
                          catalogueSizes: (context.plan.offers.count, context.plan.products.count, context.plan.channels.count),
                          keepProps: { s, models, values in try journalQueue.add { try journal.keepPropensities(run, shard: s, models: models, values: values) } },
                          progress: { [progress, onEvent, metrics] n in
                              metrics.written(n)
                              onEvent?(.shardWritten(done: n, total: shards.count))
                              Failpoint.hit("coordinator.written", n)
                              progress.update("writing: \(n)/\(shards.count) shards")
                          }) { s, rows, t, fresh in
            if fresh { try journalQueue.add { try journal.merged(run, shard: s, csv: rows, totals: t) } }
            let tw = Date()
            totals.merge(t)
            writer.append(rows)
            writeSeconds += Date().timeIntervalSince(tw)
        }
        try journalQueue.finish()
        }
        let tc = Date()
        try writer.commit()
        let tWrite = Date()
        writeSeconds += tWrite.timeIntervalSince(tc)
        if options.warmStart { try PriceMemory.save(report.prices, mix: report.mix, store: context.store) }
        var changedCustomers = 0
        if let from = rescoreFrom {
            changedCustomers = try Changes.write(base: from, new: runID, shards: shards.count, journal: journal, to: options.outDir + "/changes.csv")
            progress.line("\(changedCustomers) customers' lists changed (changes.csv)")
        }
        try journal.finish(runID, shards: shards.count)

        let timings: [(String, Double)] = [
            ("plan", tPlan.timeIntervalSince(t0)),
            ("wait_for_workers", tWait.timeIntervalSince(tPlan)),
            ("score", tScore.timeIntervalSince(tWait)),
            ("optimize", tOptimize.timeIntervalSince(tScore)),
            ("rounds", report.roundSeconds),
            ("repair", report.repairSeconds),
            ("merge_and_write", tWrite.timeIntervalSince(tOptimize)),
            ("write", writeSeconds),
            ("total", tWrite.timeIntervalSince(t0)),
        ]
        let summary = RunSummary.render(plan: context.plan, totals: totals, regions: context.regions, segments: context.segments,
                                        extra: [("run_id", .string(RunRepository.name(runID))), ("resumed", .bool(resume != nil)),
                                                ("rescored_from", rescoreFrom.map { .string(RunRepository.name($0)) } ?? .null),
                                                ("models_rescored", .array(rescoreSet.sorted().map { .string($0) })),
                                                ("customers_changed", rescoreFrom == nil ? .null : .int(Int64(changedCustomers))),
                                                ("optimization", .raw(outcome!.optimizationJSON)),
                                                ("store", .string(options.storePath)), ("shards", .int(Int64(shards.count))),
                                                ("workers", .int(Int64(holders))),
                                                ("messages", .object([("received", .int(Int64(hub.messagesIn))), ("sent", .int(Int64(hub.messagesOut))),
                                                                      ("dropped", .int(Int64(hub.dropped))), ("workers_refused", .int(Int64(hub.refused))),
                                                                      ("workers_dropped", .int(Int64(hub.expelled))),
                                                                      ("largest_frame_bytes", .int(Int64(hub.largestFrame))),
                                                                      ("frame_limit_bytes", .int(hub.frameLimit))])),
                                                ("shard_latency", latency.json),
                                                ("recovery", .object([("shards_requeued", .int(Int64(requeued))), ("straggler_copies", .int(Int64(duplicates))),
                                                                      ("shards_restored", .int(Int64(group.restored)))]))],
                                        timings: timings)
        let summaryPath = options.outDir + "/summary.json"
        try AtomicFile.write(summary, to: summaryPath)
        try RunReportFile.write(summary: summary, outDir: options.outDir)
        progress.line("wrote \(nbaPath) (\(writer.bytesWritten) bytes), \(summaryPath) and report.html in \(seconds(tWrite.timeIntervalSince(t0))) total")
        return LocalRunner.Result(nbaPath: nbaPath, summaryPath: summaryPath, totals: totals, shards: shards.count,
                                  timings: timings, summary: summary, report: report)
    }

    func rate(_ n: Int, since t: Date) -> String {
        let s = Date().timeIntervalSince(t)
        return s > 0 ? String(Int(Double(n) / s)) : "-"
    }

    func seconds(_ s: Double) -> String { FixedDecimal.string(s, decimals: 1) + " s" }
}

/// The coordinator's progress: a line per stage, and in an interactive terminal a live status line
/// rewritten in place (at most ten times a second).
/// The status line's state is under a `Mutex`: the coordinator's thread is the one that reports, but the
/// optimizer's round callbacks that update it are `@Sendable`.
final class Progress: Sendable {
    let live: Bool
    let log: RoleLog
    private let status = Mutex(Status())

    struct Status {
        var lastUpdate = Date.distantPast
        var showing = false
    }

    init(live: Bool, log: RoleLog) { self.live = live; self.log = log }

    func line(_ s: String, shard: Int? = nil) {
        status.withLock { st in
            if st.showing { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)); st.showing = false }
        }
        log(s, shard: shard)
    }

    /// Logs a line (clearing the live status line first).
    func callAsFunction(_ s: String, shard: Int? = nil) { line(s, shard: shard) }

    func update(_ s: String) {
        guard live else { return }
        let now = Date()
        status.withLock { st in
            guard now.timeIntervalSince(st.lastUpdate) >= 0.1 else { return }
            st.lastUpdate = now
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + s).utf8))
            st.showing = true
        }
    }
}
