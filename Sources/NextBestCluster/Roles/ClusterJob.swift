import Foundation
import NextBestCore
import NextBestStore
import NextBestWire

/// The backend of a coordinator's job: a new run, a resumed one or a rescore is planned from the run
/// journal; shards are scored on workers as they have room (`Coordinator.score`, decided by
/// `ShardScheduler`) and held there (`ClusterShards`, the optimizer's group over the wire); each shard's
/// lists are journaled as they are merged.
final class ClusterJob: JobBackend {
    let coordinator: Coordinator
    let journal: RunRepository
    /// The run to continue, if any.
    let resume: UInt64?
    /// The run, once planned.
    private(set) var runID: UInt64? = nil
    /// The last served response the run reads (its plan's `servedThrough`), once planned.
    private(set) var servedThrough: UInt64 = 0
    /// A rescore: the run rescored and the models scored again.
    private(set) var rescoreFrom: UInt64? = nil
    private(set) var rescoreSet = Set<String>()
    /// The journaled optimization (a resumed run optimized already, or this run once optimized).
    private(set) var outcome: RunRepository.Outcome? = nil
    private(set) var group: ClusterShards? = nil
    /// The scoring stage's figures.
    private(set) var holders = 0
    private(set) var requeued = 0, duplicates = 0
    /// A rescore's shards sent to workers that held their kept propensities.
    private(set) var fromHeld = 0, fromTables = 0
    private(set) var latency = ShardLatency()
    private(set) var changedCustomers = 0
    /// `summary.json`'s `since_last_night` and `trend`, worked out once the run is finished.
    private(set) var nightOverNight: [(String, JSONText)] = []
    /// changes.csv and the comparison with the previous run, made while the merge streams.
    private var readers: MergeReaders? = nil
    /// Writes the shards' propensity files as their PROPS arrive during scoring (files only: the store is
    /// in use on this thread meanwhile); their records are kept when the merge starts.
    private let propsFiles = PropensityFiles()

    var context: RunContext { coordinator.context }
    var options: Coordinator.Options { coordinator.options }
    var hub: Hub { coordinator.hub }
    var progress: Progress { coordinator.progress }
    var metrics: RunMetrics { coordinator.metrics }
    var storePath: String { options.storePath }
    var outDir: String { options.outDir }
    var settings: OptimizerSettings { options.settings }
    var remembersPrices: Bool { options.warmStart }
    var writesReport: Bool { true }
    var timesWorkers: Bool { true }

    init(_ coordinator: Coordinator, resume: UInt64?) {
        self.coordinator = coordinator
        self.resume = resume
        journal = RunRepository(store: coordinator.context.store)
    }

    /// Releases the workers from the run (once planned).
    func end() {
        if let runID { hub.farewell(run: runID) }
        coordinator.log.set("run", nil)
    }

    // MARK: plan

    func plan(startedAt t0: Date) throws -> JobPlan {
        let plan: JobPlan
        if let resume {
            plan = try planResume(resume)
        } else if let (from, listed) = options.rescore {
            plan = try planRescore(from: from, models: listed, startedAt: t0)
        } else {
            plan = try planNew(startedAt: t0)
        }
        let runID = self.runID!
        servedThrough = plan.servedThrough
        coordinator.log.set("run", RunRepository.name(runID))
        // Workers whose store lacks served responses the run reads are refused, as a store of another fingerprint.
        hub.require(servedThrough: plan.servedThrough)
        metrics.workers(hub.peerCount)
        progress.line("run \(RunRepository.name(runID)): \(plan.shards.count) shards over \(plan.customers) customers; store \(context.fingerprint); listening on \(coordinator.endpoint) (frames up to \(hub.frameLimit >> 20) MiB)")
        return plan
    }

    /// Continues a run from its journal: the same plan; optimized already or not.
    func planResume(_ resume: UInt64) throws -> JobPlan {
        let plan = try journal.plan(resume)
        guard plan.fingerprint == context.fingerprint.digest else {
            throw RunRepository.Failure.storeChanged(run: RunRepository.name(resume), then: plan.fingerprint, now: context.fingerprint.digest)
        }
        if try journal.state(resume) == "done" {
            throw ClusterError.runRefused("run \(RunRepository.name(resume)) finished already: its nba.csv was written")
        }
        runID = resume
        outcome = try journal.outcome(resume)
        progress.line("resuming run \(RunRepository.name(resume)) (\(try journal.state(resume) ?? "?")): " + (outcome == nil
            ? "its optimization had not finished, so it is redone from the same plan (\(try journal.rounds(resume).count) rounds were journaled)"
            : "optimized already; the shards not merged yet are rebuilt from their recipes"))
        return JobPlan(shards: plan.shards, warmStart: plan.warmStart, warmMix: plan.warmMix, servedThrough: plan.servedBound)
    }

    /// A new run over a finished run's shards, scoring only the models listed (and those whose version
    /// changed) again, from that run's final prices.
    func planRescore(from: UInt64, models listed: [String], startedAt t0: Date) throws -> JobPlan {
        let base = try journal.plan(from)
        guard try journal.state(from) == "done", let baseOutcome = try journal.outcome(from) else {
            throw ClusterError.runRefused("run \(RunRepository.name(from)) has not finished (or was pruned): rescore starts from a finished run")
        }
        if let stamp = base.dataStamp, stamp != (try context.dataStamp()) {
            throw ClusterError.runRefused("profiles or contacts changed since run \(RunRepository.name(from)): its propensities no longer fit; run a full job instead")
        }
        let versions = try context.modelVersions(), now = versions.all
        let planIDs = Set(context.plan.models.map(\.id))
        for id in listed where !planIDs.contains(id) {
            throw ClusterError.runRefused("model '\(id)' is not used by the campaign (models: \(planIDs.sorted().joined(separator: ", ")))")
        }
        rescoreSet = Set(listed).union(planIDs.filter { now[$0] != base.modelVersions?[$0] })
        rescoreFrom = from
        let runID = UInt64.random(in: 1...UInt64.max)
        self.runID = runID
        // The same served responses as the run rescored: its propensities and history are the ones kept. From
        // that run's prices, and its mix unless a model changed since (as a full run would start from them,
        // `PriceMemory.Warm.startingMix`).
        let modelChanged = planIDs.contains { now[$0] != base.modelVersions?[$0] }
        let plan = JobPlan(shards: base.shards, warmStart: baseOutcome.prices, warmMix: modelChanged ? nil : baseOutcome.mix,
                           servedThrough: base.servedBound)
        let shards = plan.shards, warm = plan.warmStart, warmMix = plan.warmMix
        try journal.begin(.init(run: runID, fingerprint: context.fingerprint.digest, shardSize: base.shardSize, maxRounds: options.settings.maxRounds,
                                warmStart: warm, warmMix: warmMix, lower: shards.map(\.lower), upper: shards.map(\.upper), customers: shards.map(\.customers),
                                started: Self.startStamp(t0), campaignVersion: context.fingerprint.campaignVersion,
                                modelVersions: versions.campaign, dataStamp: try context.dataStamp(), rescoredFrom: from,
                                servedThrough: plan.servedThrough))
        progress.line("rescoring run \(RunRepository.name(from)): models \(rescoreSet.sorted().joined(separator: ", ")) are scored again, the other \(planIDs.count - rescoreSet.count) come from that run")
        return plan
    }

    /// A new run: shards of `--shard-size`, from the remembered prices unless `--no-warm-start`.
    func planNew(startedAt t0: Date) throws -> JobPlan {
        let shardPlan = try ShardPlan.make(store: context.store, shardSize: options.settings.shardSize)
        let runID = UInt64.random(in: 1...UInt64.max)
        self.runID = runID
        let shards = shardPlan.shards
        let memory = options.warmStart ? try PriceMemory.load(store: context.store) : nil
        let versions = try context.modelVersions()
        let warm = memory?.prices
        let warmMix = memory?.startingMix(modelVersions: versions.campaign)
        let last = try ResponseRecorder.lastSequence(store: context.store)
        if let asked = options.servedThrough, asked > last {
            throw ClusterError.runRefused("--served-through \(asked) is past the last response served on this store (sequence number \(last))")
        }
        let served = options.servedThrough ?? last
        try journal.begin(.init(run: runID, fingerprint: context.fingerprint.digest, shardSize: options.settings.shardSize, maxRounds: options.settings.maxRounds,
                                warmStart: warm, warmMix: warmMix, lower: shards.map(\.lower), upper: shards.map(\.upper), customers: shards.map(\.customers),
                                started: Self.startStamp(t0), campaignVersion: context.fingerprint.campaignVersion,
                                modelVersions: versions.all, dataStamp: try context.dataStamp(), servedThrough: served))
        return JobPlan(shards: shards, warmStart: warm, warmMix: warmMix, servedThrough: served)
    }

    // MARK: score

    /// Waits for the minimum number of workers.
    func prepare() throws {
        let waitStart = Date()
        while hub.peerCount < options.minWorkers {
            if let limit = options.waitTimeout, Date().timeIntervalSince(waitStart) > limit {
                throw ClusterError.noWorkers(waitedSeconds: Int(limit), minimum: options.minWorkers)
            }
            if let (from, m) = try hub.pump(timeoutMs: 100) { progress.line("ignored \(m.kindName) from \(hub.name(from)) before the run started") }
        }
    }

    /// Scores the shards on the workers, or, when the run was optimized already, gives each shard not merged
    /// yet to a worker with its recipe.
    func score(_ plan: JobPlan, since tWait: Date) throws -> ClusterShards {
        let group = outcome == nil ? try scoreOnWorkers(plan.shards, since: tWait) : try restore(plan.shards)
        self.group = group
        return group
    }

    /// Hands out shards as workers have free threads. A lost worker's shards go back in the queue; when the
    /// queue is empty, an idle worker also takes a shard still being scored elsewhere (a straggler) and the
    /// first copy scored wins.
    func scoreOnWorkers(_ shards: [ShardPlan.Shard], since tWait: Date) throws -> ClusterShards {
        let runID = self.runID!
        let journal = self.journal, propsFiles = self.propsFiles
        let scored = try coordinator.score(shards, run: runID, journal: journal, rescore: rescoreFrom.map { ($0, rescoreSet) },
                                          served: servedThrough, since: tWait) { [planIDs = context.plan.models.map(\.id)] arrived in
            try propsFiles.write(journal, run: runID, arrived, planModels: planIDs)
        }
        requeued = scored.requeued; duplicates = scored.duplicates; latency = scored.latency; fromHeld = scored.fromHeld; fromTables = scored.fromTables
        holders = Set(scored.owner).count
        for p in hub.ordered { progress.line("worker \(p.name) holds \(p.holds) shard(s), \(p.customers) customers" + (p.maxCustomers == .max ? "" : " (at most \(p.maxCustomers))")) }
        progress.line("scored \(scored.customers) customers into \(scored.candidates) candidates on \(holders) worker(s) in \(coordinator.seconds(Date().timeIntervalSince(tWait)))"
                      + (requeued + duplicates > 0 ? " (\(requeued) shard(s) re-queued from lost workers, \(duplicates) straggler copies)" : ""))
        if rescoreFrom != nil {
            progress.line("\(fromHeld) of \(shards.count) shard(s) rescored from the propensities their workers held (none sent), "
                          + "\(fromTables) rebuilt from the tables they held (only the changed models' offers made again)")
        }

        // The optimization runs over the shards the workers hold.
        try journal.setState(runID, "optimizing")
        let group = ClusterShards(hub: hub, run: runID, constraints: context.constraints, shards: shards, owner: scored.owner, attempt: scored.attempt)
        group.servedThrough = servedThrough
        if let t = options.waitTimeout { group.replacementTimeout = max(t, 60) }
        group.onEvaluate = { n, request in try journal.round(runID, n, request.points[0]) }
        group.onSampleRound = { [progress, onEvent = coordinator.onEvent] n in
            onEvent?(.sampleRound(n))
            progress.update("optimizing: presolve round \(n)")
        }
        metrics.shards(pending: 0, running: 0, done: shards.count)
        return group
    }

    /// Optimized already: each shard not merged yet goes to a worker with its recipe.
    func restore(_ shards: [ShardPlan.Shard]) throws -> ClusterShards {
        let runID = self.runID!
        var recipes: [Int: [ShardOp]] = [:]
        var owner: [[UInt8]] = []
        var attempt: [UInt32] = []
        for s in shards.indices {
            if try journal.hasMergedRows(runID, shard: s) {
                // Merged already: nobody needs to hold it.
                owner.append(hub.ordered.first!.routingID); attempt.append(1)
                continue
            }
            let peer = try hub.roomiest(for: shards[s].customers, timeout: options.waitTimeout ?? .infinity)
            owner.append(peer.routingID); attempt.append(1)
            let r = try journal.recipe(runID, shard: s)
            recipes[s] = r.ops
            try hub.send(peer.routingID, .restore(run: runID, shard: UInt32(s), attempt: 1, lower: r.lower, upper: r.upper, ops: r.ops,
                                                 served: servedThrough))
            hub.reserveHeld(peer.routingID, customers: shards[s].customers)
        }
        let group = ClusterShards(hub: hub, run: runID, constraints: context.constraints, shards: shards, owner: owner, attempt: attempt)
        group.recipes = recipes
        group.servedThrough = servedThrough
        for (s, ops) in recipes.sorted(by: { $0.key < $1.key }) { group.awaitRestore(s, ops: ops) }
        holders = Set(owner).count
        return group
    }

    // MARK: optimize

    func optimizedAlready() -> Optimizer.Report? {
        outcome.map { o in
            Optimizer.Report(objective: o.objective, dualBound: o.objective, gap: o.gap, rounds: o.rounds, history: [],
                             prices: o.prices, constraints: [], relaxedObjective: 0, slot: o.slot)
        }
    }

    func round(_ r: DualSolver.Progress) {
        coordinator.onEvent?(.round(r.round))
        Failpoint.hit("coordinator.round", r.round)
        progress.update("optimizing: round \(r.round), gap \(r.gap.map { FixedDecimal.string($0 * 100, decimals: 3) + "%" } ?? "-")")
    }

    /// Journals each shard's recipe and the outcome, so a restart rebuilds the shards instead of optimizing again.
    func optimized(_ report: Optimizer.Report, group: ClusterShards) throws {
        let runID = self.runID!, shards = group.bounds
        let recipes = shards.indices.map { s in
            RunRepository.Recipe(lower: shards[s].lower, upper: shards[s].upper, ops: group.replay(for: s))
        }
        try journal.optimized(runID, recipes: recipes, outcome: .init(slot: report.slot, prices: report.prices, objective: report.objective, gap: report.gap,
                                                                      rounds: report.rounds, optimizationJSON: RunSummary.optimization(report).render(),
                                                                      mix: report.mix))
        outcome = try journal.outcome(runID)
        let seconds = coordinator.seconds
        progress.line("optimized in \(Optimizer.roundsText(report)) (\(seconds(report.roundSeconds)) rounds, \(seconds(report.repairSeconds)) repair): objective \(FixedDecimal.string(report.objective, decimals: 2)), gap \(FixedDecimal.string(report.gap * 100, decimals: 4))%")
    }

    // MARK: merge and report

    /// Each shard's lists in order, a few at a time; each shard's lists are journaled as they arrive, and
    /// those journaled before a restart are not asked for again.
    func merge(_ group: ClusterShards, slot: Int, into sink: ([UInt8], RunTotals) throws -> Void) throws {
        let journal = self.journal, run = runID!, shards = group.shardCount
        let catalogue = (context.plan.offers.count, context.plan.products.count, context.plan.channels.count)
        // The propensity files written while scoring (long done by now) get their records.
        try journal.recordPropensities(run, try propsFiles.finish())
        let env = context.store.env
        let store = context.store
        // A journal that cannot say which run came before leaves the comparison out, as a failed comparison does.
        let previous: UInt64?
        do { previous = try RunComparison.previous(to: run, journal: journal) } catch {
            progress.line("could not compare with the previous run: \(error)")
            previous = nil
        }
        let readers = MergeReaders(journal: journal, run: run, shards: shards, changesAgainst: rescoreFrom, changesPath: options.outDir + "/changes.csv",
                                   previous: previous, catalogue: { try RunComparison.Catalogue(store: store) })
        self.readers = readers
        var streamed = false
        defer { if !streamed { readers.cancel(); self.readers = nil } }
        try env.deferringSync {
            let journalQueue = JournalQueue()
            try group.collect(slot: slot, window: max(4, 2 * holders), have: { s in try journalQueue.read { try Self.kept(journal, run: run, shard: s) } },
                              catalogueSizes: catalogue,
                              progress: { [progress, onEvent = coordinator.onEvent, metrics] n in
                                  metrics.written(n)
                                  onEvent?(.shardWritten(done: n, total: shards))
                                  Failpoint.hit("coordinator.written", n)
                                  progress.update("writing: \(n)/\(shards) shards")
                              }) { s, merged, fresh in
                if fresh {
                    try journalQueue.add { try journal.merged(run, shard: s, lists: merged.lists, totals: merged.totals) }
                }
                readers.post(s, lists: merged.lists, totals: merged.totals)
                try sink(merged.csv, merged.totals)
            }
            try journalQueue.finish()
        }
        streamed = true
    }

    /// A shard's lists kept before a restart, with its `nba.csv` rows rendered from them.
    /// A shard whose lists file went missing since is merged again.
    static func kept(_ journal: RunRepository, run: UInt64, shard: Int) throws -> ClusterShards.Merged? {
        guard try journal.hasMergedRows(run, shard: shard), let kept = try journal.mergedRows(run, shard: shard) else { return nil }
        return (try journal.render(kept.lists, run: run, shard: shard), kept.lists, kept.totals)
    }

    /// A rescore's changes.csv; the run is marked done. Every shard's lists are merged by now: the workers
    /// are released first, and free their memory (local ones exit) while this writes the rest.
    func finish(_ plan: JobPlan) throws {
        hub.release(run: runID!)
        coordinator.onEvent?(.released)
        let made = try readers?.finish()
        readers = nil
        if rescoreFrom != nil, let changed = made?.changedCustomers {
            changedCustomers = changed
            progress.line("\(changedCustomers) customers' lists changed (changes.csv)")
        }
        try journal.finish(runID!, shards: plan.shards.count)
        if options.keepRuns > 0 {
            let pruned = try journal.prune(keep: options.keepRuns)
            if pruned.runs > 0 { progress.line("pruned \(pruned.runs) older run\(pruned.runs == 1 ? "" : "s") from the store (--keep-runs \(options.keepRuns))") }
        }
        nightOverNight = compareWithLastNight(made?.sincePrevious)
    }

    /// The comparison with the previous kept run (`since`, made during the merge; nil without a previous
    /// run) and the trend over the kept runs, for the summary and the report. Counts only: the PSI reads every
    /// customer's propensity under every model of both runs again (`nextbest runs compare` has it). A
    /// comparison that fails is said and left out; the run stands.
    func compareWithLastNight(_ since: Result<RunComparison, any Error>?) -> [(String, JSONText)] {
        do {
            let catalogue = try RunComparison.Catalogue(store: context.store)
            let trend = try RunComparison.trend(journal: journal, catalogue: catalogue)
            let since = try since?.get()
            if let since {
                metrics.topOfferChanged(ratio: since.topOffer.share)
                progress.line("since run \(since.a.run): \(since.topOffer.changed) customers' top offer changed, offers made \(since.a.offersMade) → \(since.b.offersMade) (compared during the merge)")
            }
            return [("since_last_night", since?.json ?? .null), ("trend", RunComparison.trendJSON(trend))]
        } catch {
            progress.line("could not compare with the previous run: \(error)")
            return [("since_last_night", .null), ("trend", .null)]
        }
    }

    func summaryFields(_ report: Optimizer.Report, plan: JobPlan) -> JobSummaryFields {
        JobSummaryFields(run: [("run_id", .string(RunRepository.name(runID!))), ("resumed", .bool(resume != nil)),
                               ("rescored_from", rescoreFrom.map { .string(RunRepository.name($0)) } ?? .null),
                               ("models_rescored", .array(rescoreSet.sorted().map { .string($0) })),
                               ("customers_changed", rescoreFrom == nil ? .null : .int(Int64(changedCustomers))),
                               ("shards_from_held_propensities", rescoreFrom == nil ? .null : .int(Int64(fromHeld))),
                               ("shards_rebuilt_from_held_tables", rescoreFrom == nil ? .null : .int(Int64(fromTables)))],
                         optimization: .raw(outcome!.optimizationJSON),
                         capacity: [("workers", .int(Int64(holders))), ("messages", messageCounts)],
                         latency: latency,
                         recovery: [("recovery", .object([("shards_requeued", .int(Int64(requeued))), ("straggler_copies", .int(Int64(duplicates))),
                                                          ("shards_restored", .int(Int64(group?.restored ?? 0)))]))],
                         history: nightOverNight)
    }

    /// The hub's message and worker counts, for the summary.
    var messageCounts: JSONText {
        .object([("received", .int(Int64(hub.messagesIn))), ("sent", .int(Int64(hub.messagesOut))),
                 ("dropped", .int(Int64(hub.dropped))), ("workers_refused", .int(Int64(hub.refused))),
                 ("workers_dropped", .int(Int64(hub.expelled))),
                 ("largest_frame_bytes", .int(Int64(hub.largestFrame))),
                 ("frame_limit_bytes", .int(hub.frameLimit))])
    }

    func wrote(nbaPath: String, bytes: Int, summaryPath: String, seconds: Double) {
        progress.line("wrote \(nbaPath) (\(bytes) bytes), \(summaryPath) and report.html in \(coordinator.seconds(seconds)) total")
    }

    /// A run's start as kept in its plan: UTC with milliseconds, so runs started within the same second
    /// still list (and compare as "previous" and "latest") in the order they started.
    static func startStamp(_ t: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: t)
    }
}
