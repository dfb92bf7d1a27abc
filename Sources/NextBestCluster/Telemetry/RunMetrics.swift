import CoreMetrics
import Foundation
import NextBestTelemetry

/// What a coordinator (or a one-process run) reports while it runs, all named `nextbest_…`: runs,
/// shards pending/running/done/written, workers connected, customers scored (total and per second), the
/// optimization's round, gap, objective and dual bound, messages, errors and stage times.
public final class RunMetrics: Sendable {
    public let telemetry: Telemetry
    let runsStarted, runsCompleted, runsFailed: CoreMetrics.Counter
    let shardsPending, shardsRunning, shardsDone, shardsWritten: CoreMetrics.Meter
    let workersConnected: CoreMetrics.Meter
    let customersScored: CoreMetrics.Counter
    let customersPerSecond: CoreMetrics.Meter
    let round, gap, objective, dualBound: CoreMetrics.Meter
    let messagesReceived, messagesSent, messagesDropped: CoreMetrics.Counter
    let workersRefused, workersLost, shardsFailed: CoreMetrics.Counter
    let lastRunCustomers: CoreMetrics.Meter

    public init(_ telemetry: Telemetry = Telemetry()) {
        self.telemetry = telemetry
        let t = telemetry
        runsStarted = t.counter("nextbest_runs_total", [("state", "started")])
        runsCompleted = t.counter("nextbest_runs_total", [("state", "completed")])
        runsFailed = t.counter("nextbest_runs_total", [("state", "failed")])
        shardsPending = t.gauge("nextbest_shards", [("state", "pending")])
        shardsRunning = t.gauge("nextbest_shards", [("state", "running")])
        shardsDone = t.gauge("nextbest_shards", [("state", "done")])
        shardsWritten = t.gauge("nextbest_shards", [("state", "written")])
        workersConnected = t.gauge("nextbest_workers_connected")
        customersScored = t.counter("nextbest_customers_scored_total")
        customersPerSecond = t.gauge("nextbest_customers_scored_per_second")
        round = t.gauge("nextbest_optimization_round")
        gap = t.gauge("nextbest_optimization_gap")
        objective = t.gauge("nextbest_optimization_objective")
        dualBound = t.gauge("nextbest_optimization_dual_bound")
        messagesReceived = t.counter("nextbest_messages_total", [("direction", "received")])
        messagesSent = t.counter("nextbest_messages_total", [("direction", "sent")])
        messagesDropped = t.counter("nextbest_messages_total", [("direction", "dropped")])
        workersRefused = t.counter("nextbest_errors_total", [("kind", "worker_refused")])
        workersLost = t.counter("nextbest_errors_total", [("kind", "worker_lost")])
        shardsFailed = t.counter("nextbest_errors_total", [("kind", "shard_failed")])
        lastRunCustomers = t.gauge("nextbest_run_customers")
        // Every series exists from the start (a scrape before the first run sees zeros, not gaps).
        for c in [runsStarted, runsCompleted, runsFailed, customersScored, messagesReceived, messagesSent, messagesDropped,
                  workersRefused, workersLost, shardsFailed] { c.increment(by: 0) }
        for g in [shardsPending, shardsRunning, shardsDone, shardsWritten, workersConnected, customersPerSecond, round, gap, objective,
                  dualBound, lastRunCustomers] { g.set(0.0) }
    }

    /// A run started over `shards` shards and `customers` customers.
    public func started(shards: Int, customers: Int) {
        runsStarted.increment()
        shardsPending.set(Double(shards)); shardsRunning.set(0.0); shardsDone.set(0.0); shardsWritten.set(0.0)
        round.set(0.0); gap.set(0.0); objective.set(0.0); dualBound.set(0.0); customersPerSecond.set(0.0)
        lastRunCustomers.set(Double(customers))
    }

    /// The shard counts while scoring.
    public func shards(pending: Int, running: Int, done: Int) {
        shardsPending.set(Double(pending)); shardsRunning.set(Double(running)); shardsDone.set(Double(done))
    }

    /// A shard of `customers` was scored; `perSecond` is the run's rate so far.
    public func scored(customers: Int, perSecond: Double) {
        customersScored.increment(by: Int64(customers))
        customersPerSecond.set(perSecond)
    }

    /// An optimization round finished.
    public func optimizationRound(_ n: Int, gap g: Double?, dualBound d: Double) {
        round.set(Double(n)); dualBound.set(d)
        if let g { gap.set(g) }
    }

    /// The optimization's outcome.
    public func optimized(objective o: Double, dualBound d: Double, gap g: Double, rounds: Int) {
        objective.set(o); dualBound.set(d); gap.set(g); round.set(Double(rounds))
    }

    /// Shards written into nba.csv so far.
    public func written(_ n: Int) { shardsWritten.set(Double(n)) }

    /// Workers connected now.
    public func workers(_ n: Int) { workersConnected.set(Double(n)) }

    /// Message counts.
    public func received() { messagesReceived.increment() }
    public func sent() { messagesSent.increment() }
    public func dropped() { messagesDropped.increment() }
    /// Errors.
    public func refused() { workersRefused.increment() }
    public func lost() { workersLost.increment() }
    public func shardFailed() { shardsFailed.increment() }

    /// The run ended (written, or stopped by an error), with its stage times.
    public func finished(ok: Bool, timings: [(String, Double)] = []) {
        (ok ? runsCompleted : runsFailed).increment()
        for (stage, s) in timings { telemetry.gauge("nextbest_stage_seconds", [("stage", stage)]).set(s) }
    }
}

/// What a worker reports on its own `--metrics-port`: shards and customers scored, optimization
/// evaluations, shards held, messages and errors, named `nextbest_worker_…`.
public final class WorkerMetrics: Sendable {
    public let telemetry: Telemetry
    let shardsScored, customersScored, evaluations, failures, messagesIn, messagesOut, reconnects: CoreMetrics.Counter
    let shardsHeld, connected: CoreMetrics.Meter

    public init(_ telemetry: Telemetry = Telemetry()) {
        self.telemetry = telemetry
        let t = telemetry
        shardsScored = t.counter("nextbest_worker_shards_scored_total")
        customersScored = t.counter("nextbest_worker_customers_scored_total")
        evaluations = t.counter("nextbest_worker_evaluations_total")
        failures = t.counter("nextbest_worker_errors_total")
        messagesIn = t.counter("nextbest_worker_messages_total", [("direction", "received")])
        messagesOut = t.counter("nextbest_worker_messages_total", [("direction", "sent")])
        reconnects = t.counter("nextbest_worker_reconnects_total")
        shardsHeld = t.gauge("nextbest_worker_shards_held")
        connected = t.gauge("nextbest_worker_connected")
        for c in [shardsScored, customersScored, evaluations, failures, messagesIn, messagesOut, reconnects] { c.increment(by: 0) }
        shardsHeld.set(0.0); connected.set(0.0)
    }

    func scored(customers: Int) { shardsScored.increment(); customersScored.increment(by: Int64(customers)) }
    func evaluated() { evaluations.increment() }
    func failed() { failures.increment() }
    func received() { messagesIn.increment() }
    func sent() { messagesOut.increment() }
    func reconnected() { reconnects.increment() }
    func held(_ n: Int) { shardsHeld.set(Double(n)) }
    func welcomed(_ yes: Bool) { connected.set(yes ? 1.0 : 0.0) }
}
