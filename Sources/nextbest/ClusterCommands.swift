import ArgumentParser
import Foundation
import NextBestCore
import NextBestCluster
import NextBestStore
import NextBestWire

/// `nextbest coordinator --bind tcp://0.0.0.0:PORT --store DIR --out DIR`: one cluster job.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coordinator",
        abstract: "Run one job as the coordinator of workers on any hosts; exit 0 once nba.csv and summary.json are written.")
    @Option(help: "The ZeroMQ endpoint to bind, e.g. tcp://0.0.0.0:5555.") var bind: String
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "The output directory.") var out: String
    @Option(help: "Wait for this many workers before handing out work.") var minWorkers: Int = 1
    @Option(help: "Seconds to wait for --min-workers before giving up (default: wait forever).") var waitTimeout: Double?
    @Option(help: "Seconds between heartbeats.") var heartbeat: Double = 1
    @Option(help: "Missed heartbeats after which a worker is declared dead and its shards go to other workers.") var deadAfter: Int = 10
    @OptionGroup var optimizer: OptimizerOptions
    @Option(help: "A worker that has not answered a request within this multiple of the longest per-shard time seen for that kind of request (and --deadline-floor) is dropped and its shards go to other workers.")
    var deadlineFactor: Double = 10
    @Option(help: "Seconds any request may take however fast the earlier ones were (see --deadline-factor).") var deadlineFloor: Double = 30
    @Flag(help: "Do not start from (or remember) the previous run's prices.") var noWarmStart = false
    @Option(help: "After the run, delete the kept runs beyond the newest N from the store (0 keeps every run).") var keepRuns: Int = Coordinator.Options.defaultKeepRuns
    @Flag(help: "Print only the output paths.") var quiet = false
    @Option(help: "Continue this run (its id is in the first log line) from the journal in the store, after the coordinator was stopped or killed.") var resume: String?
    @Option(help: "A new run reads the responses served by `nextbest serve` up to this sequence number (default: the last one; see `nextbest fingerprint --served-sequence`, taken when the workers' store copies were made).") var servedThrough: UInt64?
    @Option(help: "Rescore this kept run (16 hex digits; see `nextbest runs list`) on the workers that connect, as `nextbest rescore` does on local ones: only --models (and any model whose version changed since the run) are scored again, the rest come from the run, the optimization starts from its prices; writes changes.csv too.")
    var rescoreFrom: String?
    @Option(parsing: .upToNextOption, help: "With --rescore-from: the models that changed.") var models: [String] = []
    @Option(help: "CURVE: the coordinator's secret key file (from `nextbest keys generate`); requires --allow-keys.") var curveSecret: String?
    @Option(help: "CURVE: a directory of workers' *.pub files (or one file) allowed to connect.") var allowKeys: String?
    @OptionGroup var observability: ObservabilityOptions

    func validate() throws {
        try OptionChecks.check("--min-workers", minWorkers, 1...100_000)
        if servedThrough != nil && resume != nil { throw ValidationError("--served-through is for a new run: a resumed run reads the responses of its plan") }
        if rescoreFrom == nil && !models.isEmpty { throw ValidationError("--models names the changed models of a rescore: give --rescore-from too") }
        if rescoreFrom != nil {
            if resume != nil { throw ValidationError("--rescore-from starts a new run and --resume continues a stopped one: give one of them") }
            if servedThrough != nil { throw ValidationError("--served-through is not for a rescore: it reads the responses the run it rescores read") }
            if noWarmStart { throw ValidationError("--no-warm-start is not for a rescore: it starts from the prices of the run it rescores") }
        }
        if let waitTimeout { try OptionChecks.seconds("--wait-timeout", waitTimeout) }
        try OptionChecks.seconds("--heartbeat", heartbeat, minimum: 0.01, maximum: 3_600)
        try OptionChecks.check("--dead-after", deadAfter, 1...100_000)
        try OptionChecks.check("--deadline-factor", deadlineFactor, 1...1_000)
        try OptionChecks.seconds("--deadline-floor", deadlineFloor, minimum: 0.1)
    }

    func run() throws {
        try reportingErrors(observability.logFormat) {
            try OutputPlace.prepareDirectory(out, option: "--out")
            var o = Coordinator.Options(bind: bind, storePath: storeOptions.store, outDir: out)
            o.deadlineFactor = deadlineFactor; o.deadlineFloor = deadlineFloor
            switch (curveSecret, allowKeys) {
            case (nil, nil): break
            case let (s?, a?): o.curveSecret = try CurveKeyFiles.readSecret(s); o.allowedKeys = try CurveKeyFiles.allowList(a)
            default: throw ValidationError("--curve-secret and --allow-keys go together")
            }
            o.minWorkers = minWorkers; o.waitTimeout = waitTimeout; o.heartbeat = heartbeat; o.deadAfter = deadAfter
            o.settings = optimizer.settings; o.warmStart = !noWarmStart; o.keepRuns = max(0, keepRuns)
            o.servedThrough = servedThrough
            o.rescore = try rescoreFrom.map { (try parseRunID($0, option: "--rescore-from"), models) }
            o.liveProgress = !quiet && isatty(2) != 0 && observability.logFormat == .text
            let resumeID = try resume.map { try parseRunID($0, option: "--resume") }
            let log = observability.logger(prefix: "nextbest coordinator: ", quiet: quiet)
            let metrics = RunMetrics()
            o.metrics = metrics
            let r = try observability.serving(metrics.telemetry, run: metrics, log: log) { try Coordinator(o, logger: log).run(resume: resumeID) }
            RunReport.print(r, quiet: quiet)
            if o.rescore != nil { print("changes: \(out)/changes.csv") }
        }
    }
}

/// `nextbest worker --connect tcp://HOST:PORT --store DIR`: a long-lived worker.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker",
        abstract: "Serve coordinators: score the shards given, hold their candidates, answer the optimizer; reconnect when the coordinator goes away.")
    @Option(help: "The coordinator's endpoint, e.g. tcp://10.0.0.5:5555.") var connect: String
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Threads (default: the number of cores).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "This worker's name in the coordinator's logs (default: host-pid).") var id: String?
    @Option(help: "Seconds without word from the coordinator before reconnecting.") var coordinatorTimeout: Double = 30
    @Option(help: "Seconds between heartbeats.") var heartbeat: Double = 1
    @Option(help: "The most customers this worker holds at once (its shards stay in memory for the optimization, 0.7–0.8 KB per customer measured at 32 offers); the coordinator gives it no shard beyond. 0: no limit.")
    var maxCustomers: Int = 0
    @Flag(help: "Exit after one run, or when the coordinator leaves.") var once = false
    @Flag(help: "Give memory back to the system between jobs. By default a standing worker keeps the memory of its largest job for the next, which then need not fault in and clear fresh pages (on the project machine, the later 10 M rescores of a series took 0.06–0.3 M page faults in both workers together instead of 0.2–1.5 M), and holds its shards' propensities (4 bytes per customer and model) and tables so that a rescore of that run need not send the propensities and makes again only the changed models' candidates.")
    var releaseMemory = false
    @Option(help: "Exit when this process is gone (used by `run`).") var parentPid: Int32?
    @Flag(help: "Log only errors.") var quiet = false
    @Option(help: "CURVE: this worker's secret key file (from `nextbest keys generate`).") var curveSecret: String?
    @Option(help: "CURVE: the coordinator's public key file (its .pub).") var coordinatorKey: String?
    @OptionGroup var observability: ObservabilityOptions

    func validate() throws {
        try OptionChecks.threads(threads)
        try OptionChecks.seconds("--coordinator-timeout", coordinatorTimeout, minimum: 0.1)
        try OptionChecks.seconds("--heartbeat", heartbeat, minimum: 0.01, maximum: 3_600)
        guard maxCustomers >= 0 else { throw ValidationError("--max-customers must be 0 (no limit) or more, not \(maxCustomers)") }
    }

    func run() throws {
        // Before any thread starts (the metrics server's, libzmq's): see `Worker.listenForStopSignals` and
        // `ProcessMemory.holdBetweenJobs`.
        let holding = !once && !releaseMemory && ProcessMemory.holdBetweenJobs()
        Worker.listenForStopSignals()
        try reportingErrors(observability.logFormat) {
            var o = Worker.Options(connect: connect, storePath: storeOptions.store, threads: threads, workerID: id ?? Worker.defaultID())
            switch (curveSecret, coordinatorKey) {
            case (nil, nil): break
            case let (s?, c?): o.curveSecret = try CurveKeyFiles.readSecret(s); o.coordinatorKey = try CurveKeyFiles.readPublic(c)
            default: throw ValidationError("--curve-secret and --coordinator-key go together")
            }
            guard maxCustomers >= 0 else { throw ValidationError("--max-customers must be 0 (no limit) or more, not \(maxCustomers)") }
            o.maxCustomers = maxCustomers
            o.holdsMemory = holding
            o.holdsShards = !once && !releaseMemory
            o.once = once; o.parentPID = parentPid; o.coordinatorTimeout = coordinatorTimeout; o.heartbeat = heartbeat
            let log = observability.logger(prefix: "nextbest: ", quiet: quiet)
            let metrics = WorkerMetrics()
            o.metrics = metrics
            try observability.serving(metrics.telemetry, log: log) { try Worker(o, logger: log).serve() }
        }
    }
}

/// What `run` and `coordinator` print at the end.
enum RunReport {
    static func print(_ r: LocalRunner.Result, quiet: Bool) {
        let report = URL(fileURLWithPath: r.nbaPath).deletingLastPathComponent().appendingPathComponent("report.html").path
        Swift.print("wrote \(r.nbaPath), \(r.summaryPath)" + (FileManager.default.fileExists(atPath: report) ? " and \(report)" : ""))
        if !quiet {
            let t = r.totals
            Swift.print("customers \(t.customers), offers made \(t.offersMade), expected value \(FixedDecimal.string(Double(t.expectedValueMicros) / 1e6, decimals: 2)), cost \(FixedDecimal.string(Double(t.costMicros) / 1e6, decimals: 2))")
            Swift.print("timings: " + r.timings.map { "\($0.0) \(FixedDecimal.string($0.1, decimals: 2))s" }.joined(separator: ", "))
        }
    }
}

/// `nextbest fingerprint --store DIR`: what a coordinator compares with each worker's store.
struct FingerprintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fingerprint",
        abstract: "Print the store's fingerprint (schema, dictionaries, campaign, models, profile count, data stamp) as the coordinator compares it.")
    @OptionGroup var storeOptions: StoreOptions
    @Flag(help: "Print instead the last sequence number of the responses `nextbest serve` recorded in the store (for `nextbest coordinator --served-through`; recording a response does not change the fingerprint).") var servedSequence = false

    func run() throws {
        try reportingErrors {
            let store = try Store(path: storeOptions.store, readOnly: true, mustExist: true)
            print(servedSequence ? "\(try ResponseRecorder.lastSequence(store: store))" : "\(try StoreFingerprint.of(store))")
        }
    }
}

/// `nextbest keys generate --dir DIR --name NAME`: a CURVE key pair for a coordinator or a worker.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "CURVE keys for the cluster.",
                                                    subcommands: [Generate.self])

    /// Writes `DIR/NAME.secret` (created with mode 0600) and `DIR/NAME.pub`; an existing pair is kept
    /// unless `--force`.
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a key pair: NAME.secret (keep it on its host, mode 0600) and NAME.pub (give it to the other side).")
        @Option(help: "The directory to write into.") var dir: String
        @Option(help: "The key's name, e.g. coordinator or worker-host-3.") var name: String
        @Flag(help: "Replace an existing key pair of that name.") var force = false

        func run() throws {
            try reportingErrors {
                let pub = try CurveKeyFiles.generate(dir: dir, name: name, force: force)
                print("wrote \(dir)/\(name).secret and \(dir)/\(name).pub (public key \(pub))")
            }
        }
    }
}
