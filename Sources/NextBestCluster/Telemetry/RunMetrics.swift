import Foundation
import NextBestTelemetry
import Prometheus

/// Every metric family a nextbest process exposes, with its help text (the `# HELP` line): the
/// coordinator's (or one-process run's), the workers' and the one both have. docs/operations.md lists them
/// ("Metrics"); a test checks it does.
public enum MetricFamilies {
    // Both roles.
    public static let buildInfo = MetricFamily("nextbest_build_info", help: "Always 1; the version label names the nextbest that runs.")

    // The coordinator, or a one-process run.
    public static let runs = MetricFamily("nextbest_runs_total",
        help: "Runs by state: started, completed, failed. One process runs one job, so failed is 1 when this process's run failed.")
    public static let lastSuccess = MetricFamily("nextbest_last_success_timestamp_seconds",
        help: "Unix time the last completed run ended (carried over from the --metrics-textfile it replaces when this run did not complete); absent until there is one.")
    public static let runDuration = MetricFamily("nextbest_run_duration_seconds",
        help: "Wall time of the last completed run, plan to summary (the sum of nextbest_stage_seconds).")
    public static let stageSeconds = MetricFamily("nextbest_stage_seconds",
        help: "Wall time of each top-level stage of the last completed run: plan, wait_for_workers, score, optimize, merge_and_write.")
    public static let stagePartSeconds = MetricFamily("nextbest_stage_part_seconds",
        help: "Wall time of a part measured inside a stage of the last completed run: rounds and repair within optimize, write within merge_and_write.")
    public static let runCustomers = MetricFamily("nextbest_run_customers", help: "Customers in the run's plan.")
    public static let shards = MetricFamily("nextbest_shards", help: "Shards of the run by state: pending, running, done (scored), written (into nba.csv).")
    public static let workersConnected = MetricFamily("nextbest_workers_connected", help: "Workers connected to the coordinator now.")
    public static let customersScored = MetricFamily("nextbest_customers_scored_total",
        help: "Customers scored (one count per shard's customers once its scoring is accepted); rate() of it is the scoring speed.")
    public static let shardScoring = MetricFamily("nextbest_shard_scoring_seconds",
        help: "Seconds from handing a shard out to its accepted scores (a one-process run: scoring the shard's customers).")
    public static let round = MetricFamily("nextbest_optimization_round", help: "The optimization's price round (pass) reached.")
    public static let roundSeconds = MetricFamily("nextbest_optimization_round_seconds",
        help: "Wall time of each price round's pass over the shards (the master LP's solve not included), observed when the optimization ends.")
    public static let gap = MetricFamily("nextbest_optimization_gap",
        help: "Relative gap between the dual bound and the best feasible value (final once the run completed).")
    public static let objective = MetricFamily("nextbest_optimization_objective", help: "The chosen selection's objective (expected value less cost).")
    public static let dualBound = MetricFamily("nextbest_optimization_dual_bound", help: "The best Lagrangian dual value: an upper bound on the LP optimum.")
    public static let topOfferChanged = MetricFamily("nextbest_top_offer_changed_ratio",
        help: "Share of customers whose top offer differs from the previous kept run's (since_last_night in summary.json); absent when there is none to compare with.")
    public static let messages = MetricFamily("nextbest_messages_total", help: "Coordinator messages by direction: received, sent, dropped (malformed or unexpected).")
    public static let errors = MetricFamily("nextbest_errors_total", help: "Coordinator errors by kind: worker_refused, worker_lost, shard_failed.")

    // Workers.
    public static let workerShardsScored = MetricFamily("nextbest_worker_shards_scored_total", help: "Shards this worker scored.")
    public static let workerCustomersScored = MetricFamily("nextbest_worker_customers_scored_total", help: "Customers this worker scored.")
    public static let workerEvaluations = MetricFamily("nextbest_worker_evaluations_total", help: "Price rounds this worker was asked for (PRICES or SAMPLE), over the shards it holds.")
    public static let workerErrors = MetricFamily("nextbest_worker_errors_total", help: "Shards this worker failed to score.")
    public static let workerMessages = MetricFamily("nextbest_worker_messages_total", help: "Worker messages by direction: received, sent.")
    public static let workerReconnects = MetricFamily("nextbest_worker_reconnects_total", help: "Times this worker connected again after losing the coordinator.")
    public static let workerShardsHeld = MetricFamily("nextbest_worker_shards_held", help: "Scored shards this worker holds in memory for the optimization.")
    public static let workerConnected = MetricFamily("nextbest_worker_connected", help: "1 while this worker is welcomed by a coordinator, else 0.")
    public static let workerRescoreShards = MetricFamily("nextbest_worker_rescore_shards_held",
                                                         help: "Shards of earlier runs this worker holds for rescores of those runs (propensities, and tables once released).")
    public static let workerRescoreBytes = MetricFamily("nextbest_worker_rescore_propensity_bytes",
                                                        help: "Bytes of propensities this worker holds for rescores (the tables not counted).")

    /// A coordinator's families, in the order docs/operations.md lists them.
    public static let coordinator: [MetricFamily] = [buildInfo, runs, lastSuccess, runDuration, stageSeconds, stagePartSeconds, runCustomers, shards,
                                                     workersConnected, customersScored, shardScoring, round, roundSeconds, gap, objective, dualBound,
                                                     topOfferChanged, messages, errors]
    /// A worker's families.
    public static let worker: [MetricFamily] = [buildInfo, workerShardsScored, workerCustomersScored, workerEvaluations, workerErrors, workerMessages,
                                                workerReconnects, workerShardsHeld, workerConnected, workerRescoreShards, workerRescoreBytes]

    /// Upper bounds of `nextbest_shard_scoring_seconds`'s buckets: 10 ms to 10 minutes.
    public static let shardScoringBuckets: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]
    /// Upper bounds of `nextbest_optimization_round_seconds`'s buckets: 1 ms to 1 minute.
    public static let roundBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
}

extension Telemetry {
    /// `nextbest_build_info{version} 1`.
    func registerBuildInfo() {
        gauge(MetricFamilies.buildInfo, [("version", NextBestVersion.number)]).set(1.0)
    }
}

/// What a coordinator (or a one-process run) reports while it runs (`MetricFamilies.coordinator`): runs
/// and the last success, shards, workers, customers scored, shard scoring and round times as histograms,
/// the optimization's round, gap, objective and dual bound, messages, errors, stage times and the night's
/// top-offer churn.
public final class RunMetrics: Sendable {
    public let telemetry: Telemetry
    typealias F = MetricFamilies
    let runsStarted, runsCompleted, runsFailed: Prometheus.Counter
    let shardsPending, shardsRunning, shardsDone, shardsWritten: Prometheus.Gauge
    let workersConnected: Prometheus.Gauge
    let customersScored: Prometheus.Counter
    let shardScoring, roundSeconds: ValueHistogram
    let round, gap, objective, dualBound: Prometheus.Gauge
    let messagesReceived, messagesSent, messagesDropped: Prometheus.Counter
    let workersRefused, workersLost, shardsFailed: Prometheus.Counter
    let lastRunCustomers: Prometheus.Gauge

    public init(_ telemetry: Telemetry = Telemetry()) {
        self.telemetry = telemetry
        let t = telemetry
        t.registerBuildInfo()
        runsStarted = t.counter(F.runs, [("state", "started")])
        runsCompleted = t.counter(F.runs, [("state", "completed")])
        runsFailed = t.counter(F.runs, [("state", "failed")])
        shardsPending = t.gauge(F.shards, [("state", "pending")])
        shardsRunning = t.gauge(F.shards, [("state", "running")])
        shardsDone = t.gauge(F.shards, [("state", "done")])
        shardsWritten = t.gauge(F.shards, [("state", "written")])
        workersConnected = t.gauge(F.workersConnected)
        customersScored = t.counter(F.customersScored)
        shardScoring = t.histogram(F.shardScoring, buckets: F.shardScoringBuckets)
        roundSeconds = t.histogram(F.roundSeconds, buckets: F.roundBuckets)
        round = t.gauge(F.round)
        gap = t.gauge(F.gap)
        objective = t.gauge(F.objective)
        dualBound = t.gauge(F.dualBound)
        messagesReceived = t.counter(F.messages, [("direction", "received")])
        messagesSent = t.counter(F.messages, [("direction", "sent")])
        messagesDropped = t.counter(F.messages, [("direction", "dropped")])
        workersRefused = t.counter(F.errors, [("kind", "worker_refused")])
        workersLost = t.counter(F.errors, [("kind", "worker_lost")])
        shardsFailed = t.counter(F.errors, [("kind", "shard_failed")])
        lastRunCustomers = t.gauge(F.runCustomers)
        // Counters, gauges and histograms start at zero when registered, so a scrape before the first run
        // sees zeros, not gaps. The last success and the churn are registered once known: a zero would
        // read as "long ago" and "no change".
    }

    /// A run started over `shards` shards and `customers` customers.
    public func started(shards: Int, customers: Int) {
        runsStarted.increment()
        shardsPending.set(Double(shards)); shardsRunning.set(0.0); shardsDone.set(0.0); shardsWritten.set(0.0)
        round.set(0.0); gap.set(0.0); objective.set(0.0); dualBound.set(0.0)
        lastRunCustomers.set(Double(customers))
    }

    /// The shard counts while scoring.
    public func shards(pending: Int, running: Int, done: Int) {
        shardsPending.set(Double(pending)); shardsRunning.set(Double(running)); shardsDone.set(Double(done))
    }

    /// A shard of `customers` was scored in `seconds` (handed out to accepted, or scored in this process).
    public func scored(customers: Int, seconds: Double) {
        customersScored.increment(by: Int64(customers))
        shardScoring.record(seconds)
    }

    /// An optimization round finished.
    public func optimizationRound(_ n: Int, gap g: Double?, dualBound d: Double) {
        round.set(Double(n)); dualBound.set(d)
        if let g { gap.set(g) }
    }

    /// The optimization's outcome, with each round's pass time (`Optimizer.Report.history`'s seconds).
    public func optimized(objective o: Double, dualBound d: Double, gap g: Double, rounds: Int, roundSeconds passes: [Double] = []) {
        objective.set(o); dualBound.set(d); gap.set(g); round.set(Double(rounds))
        for s in passes { roundSeconds.record(s) }
    }

    /// Shards written into nba.csv so far.
    public func written(_ n: Int) { shardsWritten.set(Double(n)) }

    /// Workers connected now.
    public func workers(_ n: Int) { workersConnected.set(Double(n)) }

    /// The share of customers whose top offer changed since the previous kept run.
    public func topOfferChanged(ratio: Double) { telemetry.gauge(F.topOfferChanged).set(ratio) }

    /// The last success known from before this process (an earlier run's `--metrics-textfile`), shown until
    /// this run completes.
    public func remember(lastSuccess unixSeconds: Double) { telemetry.gauge(F.lastSuccess).set(unixSeconds) }

    /// Message counts.
    public func received() { messagesReceived.increment() }
    public func sent() { messagesSent.increment() }
    public func dropped() { messagesDropped.increment() }
    /// Errors.
    public func refused() { workersRefused.increment() }
    public func lost() { workersLost.increment() }
    public func shardFailed() { shardsFailed.increment() }

    /// The run's stage times: top-level stages, the parts measured inside them, and the whole.
    func timed(_ clock: StageClock) {
        for (stage, s) in clock.stages { telemetry.gauge(F.stageSeconds, [("stage", stage)]).set(s) }
        for p in clock.parts { telemetry.gauge(F.stagePartSeconds, [("stage", p.stage), ("part", p.part)]).set(p.seconds) }
        telemetry.gauge(F.runDuration).set(clock.total)
    }

    /// The run ended: written (`ok`; the last success is now), or stopped by an error.
    public func finished(ok: Bool, at end: Date = Date()) {
        (ok ? runsCompleted : runsFailed).increment()
        if ok { telemetry.gauge(F.lastSuccess).set(end.timeIntervalSince1970) }
    }
}

/// What a worker reports on its own `--metrics-port` (`MetricFamilies.worker`): shards and customers
/// scored, optimization evaluations, shards held, messages and errors, named `nextbest_worker_…`.
public final class WorkerMetrics: Sendable {
    public let telemetry: Telemetry
    typealias F = MetricFamilies
    let shardsScored, customersScored, evaluations, failures, messagesIn, messagesOut, reconnects: Prometheus.Counter
    let shardsHeld, connected, rescoreShards, rescoreBytes: Prometheus.Gauge

    public init(_ telemetry: Telemetry = Telemetry()) {
        self.telemetry = telemetry
        let t = telemetry
        t.registerBuildInfo()
        shardsScored = t.counter(F.workerShardsScored)
        customersScored = t.counter(F.workerCustomersScored)
        evaluations = t.counter(F.workerEvaluations)
        failures = t.counter(F.workerErrors)
        messagesIn = t.counter(F.workerMessages, [("direction", "received")])
        messagesOut = t.counter(F.workerMessages, [("direction", "sent")])
        reconnects = t.counter(F.workerReconnects)
        shardsHeld = t.gauge(F.workerShardsHeld)
        connected = t.gauge(F.workerConnected)
        rescoreShards = t.gauge(F.workerRescoreShards)
        rescoreBytes = t.gauge(F.workerRescoreBytes)
    }

    func scored(customers: Int) { shardsScored.increment(); customersScored.increment(by: Int64(customers)) }
    func evaluated() { evaluations.increment() }
    func failed() { failures.increment() }
    func received() { messagesIn.increment() }
    func sent() { messagesOut.increment() }
    func reconnected() { reconnects.increment() }
    func held(_ n: Int) { shardsHeld.set(Double(n)) }
    func welcomed(_ yes: Bool) { connected.set(yes ? 1.0 : 0.0) }
    func heldForRescores(shards: Int, bytes: Int) { rescoreShards.set(Double(shards)); rescoreBytes.set(Double(bytes)) }
}
