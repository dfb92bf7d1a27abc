import Foundation
import Synchronization
import NextBestCore
import NextBestStore
import NextBestWire

/// The coordinator of a cluster run: binds a ROUTER socket (`Hub`, which keeps the workers' accounts),
/// and runs the job pipeline (`JobPipeline`) with the shards on workers (`ClusterJob`): it hands shards out
/// as workers have free threads (readiness, not round-robin; a worker that joins mid-scoring gets shards at
/// once; `ShardScheduler` decides), drives the optimization rounds over the shards the workers hold
/// (`ClusterShards`), then streams each shard's ranked lists into `nba.csv` in customer-id order.
public final class Coordinator {
    /// What to run and how.
    public struct Options: Sendable {
        public var bind: String
        public var storePath: String
        public var outDir: String
        /// Shard size, price rounds, gap tolerance and presolve sample.
        public var settings: OptimizerSettings = .standard
        public var minWorkers: Int = 1
        public var warmStart: Bool = true
        /// After a run that finished, the kept runs beyond the newest `keepRuns` are deleted from the store
        /// (0: every run is kept), so that the store stops growing night after night.
        public var keepRuns: Int = Coordinator.Options.defaultKeepRuns
        /// A week of nightly runs.
        public static let defaultKeepRuns = 7
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
        /// A new run reads the served responses up to this sequence number instead of the last one given (at
        /// most that one): the nightly chain passes the store's when it shipped the workers' copies, so a
        /// response served between the ship and the plan does not make the copies too old.
        public var servedThrough: UInt64? = nil
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
        /// Every shard is merged and the workers are released (before changes.csv and the summary).
        case released
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
        try journal.entries().reduce(options.settings.shardSize) { max($0, $1.plan.customers.max() ?? 0) }
    }

    /// The endpoint workers connect to.
    public var endpoint: String { hub.endpoint }

    /// Runs one job: waits for workers, scores, optimizes, writes the outputs; then releases the workers.
    /// With `resume`, continues that run from its journal instead of starting a new one.
    public func run(resume: UInt64? = nil) throws -> LocalRunner.Result {
        do {
            let job = ClusterJob(self, resume: resume)
            defer { job.end() }
            return try JobPipeline.run(metrics: metrics) { job }
        } catch {
            log("run stopped: \(error)", level: .error)
            throw error
        }
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
