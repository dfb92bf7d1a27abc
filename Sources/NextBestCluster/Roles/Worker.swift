import Foundation
import NextBestCore
import NextBestStore
import NextBestWire
import Synchronization
import UnixSignals

/// A worker process: connects a DEALER socket to the coordinator, announces itself with its store's
/// fingerprint, scores the shards it is given on its threads and keeps their candidates in memory,
/// then answers the optimizer's requests (prices, repair, lists) for the shards it holds.
///
/// Long-lived by default: when the coordinator says BYE or falls silent, the worker drops the run,
/// opens a fresh connection and announces itself again, so it serves the next job (or a restarted
/// coordinator) without being restarted. With `once` it exits instead (local workers of `run`).
public final class Worker {
    /// How the worker connects and behaves.
    public struct Options: Sendable {
        public var connect: String
        public var storePath: String
        public var threads: Int
        public var workerID: String
        /// Exit when the run is released or the coordinator leaves (workers started by `run`).
        public var once: Bool = false
        /// The process keeps freed memory for its next job (`ProcessMemory.holdBetweenJobs`); said in its first line.
        public var holdsMemory: Bool = false
        /// Keep each scored shard's propensities and table in memory after the job (`HeldShards`), so a
        /// rescore of that run needs no kept columns sent and rebuilds only the changed models' candidates;
        /// said in its first line.
        public var holdsShards: Bool = false
        /// Exit when this process (the parent `run`) is gone.
        public var parentPID: Int32? = nil
        /// Seconds without any message from the coordinator before it is presumed gone.
        public var coordinatorTimeout: Double = 30
        /// Seconds between HELLOs while waiting to be welcomed.
        public var helloInterval: Double = 1
        /// Seconds between heartbeats.
        public var heartbeat: Double = 1
        /// CURVE: this worker's secret key and the coordinator's public key (Z85).
        public var curveSecret: String? = nil
        public var coordinatorKey: String? = nil
        /// The most customers this worker holds at once (its shards' candidates stay in memory for the
        /// optimization, 0.7–0.8 KB per customer measured at 32 offers); the coordinator gives it no shard beyond. 0: no limit.
        public var maxCustomers: Int = 0
        /// Where the worker's metrics go (served by `nextbest worker --metrics-port`).
        public var metrics: WorkerMetrics? = nil
        public init(connect: String, storePath: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                    workerID: String = Worker.defaultID()) {
            self.connect = connect; self.storePath = storePath; self.threads = max(1, threads); self.workerID = workerID
        }
    }

    /// Why a worker stopped.
    public enum Failure: Error, CustomStringConvertible {
        case refused(String)
        case badKey
        /// The run reads served responses this worker's store does not hold.
        case lacksResponses(String)
        public var description: String {
            switch self {
            case .refused(let r): return "the coordinator refused this worker: \(r)"
            case .lacksResponses(let r): return "this worker cannot score the run: \(r)"
            case .badKey: return "--curve-secret and --coordinator-key must be 40-character Z85 CURVE keys (make them with `nextbest keys generate`)"
            }
        }
    }

    /// `host-pid`, unique enough among the workers of a cluster.
    public static func defaultID() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(getpid())"
    }

    let options: Options
    let log: RoleLog
    let metrics: WorkerMetrics
    let zmq: ZMQContext
    var socket: ZMQSocket?
    var connection = 0
    var welcomed = false
    var lastHeard = Date()
    var lastSent = Date.distantPast
    var lastHello = Date.distantPast
    var stopping = false
    var connectedAt = Date()
    var helloBackoff = 1.0
    var lastHint = Date()
    /// The store's data file as opened (inode, device): a new copy put in its place has another.
    var storeFile: (inode: ino_t, device: dev_t)? = nil
    /// The store and the scoring threads: this thread starts scoring through it and reads the store's
    /// fingerprint and limits from it.
    let scoring: ShardScoring
    /// The shards of the run; touched only on `compute`, a serial queue, so requests are handled in the
    /// order they arrive while this thread keeps the socket (heartbeats go on during long requests).
    let shards: WorkerShards
    var compute: DispatchQueue { shards.queue }
    /// Messages produced on other threads, sent by this one.
    let outbox = Mailbox<WireMessage>()
    /// The propensities and tables of the shards scored, kept for rescores of their run.
    let hold: HeldShards

    public convenience init(_ options: Options, log: @escaping (String) -> Void) throws {
        try self.init(options, logger: RoleLog(log))
    }

    /// Opens the store, logging through `logger` (with the run and shard ids as metadata).
    public init(_ options: Options, logger log: RoleLog) throws {
        self.options = options
        self.log = log
        metrics = options.metrics ?? WorkerMetrics()
        log.set("worker", options.workerID)
        scoring = ShardScoring(context: try RunContext(storePath: options.storePath), threads: options.threads)
        hold = HeldShards(enabled: options.holdsShards, metrics: metrics)
        shards = WorkerShards(scoring: scoring, threads: options.threads, name: options.workerID, log: log, metrics: metrics, hold: hold)
        zmq = try ZMQContext()
    }

    /// Starts listening for SIGTERM and SIGINT (which make `serve` say BYE and return). Call it first thing
    /// in a worker process, before any thread starts: on Linux the signals must be blocked in every thread
    /// (see `StopSignal`), and threads inherit the mask of the thread that starts them. `serve` calls it too.
    public static func listenForStopSignals() {
        _ = StopSignal.process
    }

    /// Serves until told to stop (`once`), refused, or the parent process is gone.
    public func serve() throws {
        log("worker \(options.workerID): store \(scoring.context.fingerprint), \(options.threads) threads, "
            + (options.holdsMemory ? "keeping its memory between jobs, " : "")
            + (options.holdsShards ? "holding its shards' propensities and tables for rescores, " : "") + "connecting to \(options.connect)")
        let stop = StopSignal.process
        try reconnect()
        defer { socket?.close() }
        while !stopping {
            if stop.requested {
                log("worker \(options.workerID): stopping on a signal; telling the coordinator")
                if welcomed { try? send(.bye) }
                return
            }
            if let ppid = options.parentPID, kill(ppid, 0) != 0 && errno == ESRCH {
                log("worker \(options.workerID): the parent process \(ppid) is gone; stopping")
                return
            }
            let now = Date()
            if !welcomed && now.timeIntervalSince(lastHello) >= helloBackoff {
                try send(.hello(workerID: options.workerID, software: NextBestVersion.software, cores: UInt16(clamping: options.threads),
                                fingerprint: scoring.context.fingerprint.digest, maxCustomers: UInt64(max(0, options.maxCustomers)),
                                served: try ResponseRecorder.lastSequence(store: scoring.context.store), held: hold.announcement))
                lastHello = now
                // Back off while nobody answers (1, 2, 4, 8, 10, 10… s); a welcome resets it.
                helloBackoff = min(helloBackoff * 2, max(options.helloInterval, 10))
            }
            if welcomed && now.timeIntervalSince(lastSent) >= options.heartbeat { try send(.heartbeat) }
            if !welcomed && now.timeIntervalSince(connectedAt) >= 10 && now.timeIntervalSince(lastHint) >= 10 {
                lastHint = now
                log("worker \(options.workerID): no answer from \(options.connect) after \(Int(now.timeIntervalSince(connectedAt))) s: is the coordinator up"
                    + (options.curveSecret == nil ? ", and does it require CURVE keys (--curve-secret, --coordinator-key)?" : ", and is this worker's public key in its allow-list?"))
            }
            if welcomed && now.timeIntervalSince(lastHeard) > options.coordinatorTimeout {
                log("worker \(options.workerID): no word from the coordinator for \(Int(options.coordinatorTimeout)) s; reconnecting")
                if options.once { return }
                try reconnect()
                continue
            }
            if try socket!.poll(timeoutMs: 20, wake: outbox.wakeFD), let frames = try socket!.receive() {
                lastHeard = Date()
                metrics.received()
                guard let frame = frames.last else { continue }
                do {
                    try handle(try WireMessage.decode(frame))
                } catch let e as WireError {
                    log("worker \(options.workerID): dropped a malformed message from the coordinator: \(e)")
                }
            }
            for m in outbox.drain() { try send(m) }
        }
        // Let the last answers go out.
        compute.sync {}
        for m in outbox.drain() { try? send(m) }
    }

    /// The store's fingerprint when it differs from the one the worker opened (an import since, read through
    /// the open environment, or another data file at the store's path: a new copy); nil when it is the same.
    func storeChanged() -> String? {
        let context = scoring.context
        var st = stat()
        if stat(options.storePath + "/data.mdb", &st) == 0, let opened = storeFile, st.st_ino != opened.inode || st.st_dev != opened.device {
            return "another data file"
        }
        guard let now = try? StoreFingerprint.of(context.store), now.digest != context.fingerprint.digest else { return nil }
        return now.description
    }

    /// A fresh connection (and a fresh look at the store: tonight's copy may have been put in place since
    /// the last job).
    func reconnect() throws {
        socket?.close()
        if connection > 0 {
            let shards = self.shards, path = options.storePath
            try compute.sync {
                shards.drop(run: nil)
                try shards.reopen(storePath: path)
            }
            _ = outbox.drain()
        }
        connection += 1
        if connection > 1 { metrics.reconnected() }
        var st = stat()
        storeFile = stat(options.storePath + "/data.mdb", &st) == 0 ? (st.st_ino, st.st_dev) : nil
        metrics.welcomed(false)
        let s = try zmq.socket(.dealer)
        try s.setLinger(0)
        try s.setIdentity(Array("\(options.workerID)#\(connection)".utf8))
        // The worker does not know the coordinator's shard size: its shards are at most its --max-customers or
        // the whole store; twice the frame limit leaves room for a RESTORE's log of changes.
        let limit = try scoring.context.frameLimit(shardCustomers: options.maxCustomers > 0 ? options.maxCustomers : .max)
        try s.setMaxMessageSize(limit > .max / 2 ? .max : 2 * limit)
        if let secret = options.curveSecret, let server = options.coordinatorKey {
            guard let pub = CurveKeys.publicKey(ofSecret: secret), let sk = CurveKeys.decode(secret), let srv = CurveKeys.decode(server) else {
                throw Failure.badKey
            }
            try s.setCurveClient(serverKey: srv, publicKey: CurveKeys.decode(pub)!, secretKey: sk)
        }
        try s.connect(options.connect)
        connectedAt = Date()
        socket = s
        welcomed = false
        lastHello = .distantPast
        helloBackoff = options.helloInterval
        lastHeard = Date()
    }

    func send(_ m: WireMessage) throws {
        try socket!.send([m.encode()])
        lastSent = Date()
        metrics.sent()
    }

    func handle(_ m: WireMessage) throws {
        switch m {
        case .welcome(let id):
            welcomed = true
            metrics.welcomed(true)
            log("worker \(options.workerID): welcomed by \(id)")
        case .refuse(let reason):
            if !options.once, let now = storeChanged() {
                // An import (a new model version) or a new copy since the store was opened: a standing worker
                // opens it again and announces the new fingerprint, keeping what it holds.
                log("worker \(options.workerID): refused (\(reason)); its store changed since it was opened (fingerprint now \(now)): "
                    + "opening it again")
                try reconnect()
                return
            }
            log("worker \(options.workerID) (store \(options.storePath)): refused: \(reason)", level: .error)
            throw Failure.refused(reason)
        case .heartbeat:
            break
        case .bye:
            log("worker \(options.workerID): the coordinator left")
            if options.once { stopping = true } else { try reconnect() }
        case let .assign(run, shard, attempt, lower, upper, served):
            try checkServed(served, run: run)
            let shards = self.shards, outbox = self.outbox, compute = self.compute
            compute.async { shards.begin(run: run) }
            scoring.score(lower: lower, upper: upper, served: served, keepFatigue: hold.enabled) { table, _ in
                compute.async {
                    for reply in shards.holdScored(run: run, shard: shard, attempt: attempt, bounds: (lower, upper), served: served, table) { outbox.post(reply) }
                }
            }
        case let .rescore(run, shard, attempt, lower, upper, source, stride, stored, served, base, baseModels):
            try checkServed(served, run: run)
            let shards = self.shards, outbox = self.outbox, compute = self.compute
            let models = scoring.context.plan.models.count
            guard source.count == models, stride > 0, source.allSatisfy({ $0 >= -1 && $0 < Int64(stride) }), stored.count % Int(stride) == 0 else {
                outbox.post(.failed(run: run, reason: "RESCORE of shard \(shard) with \(source.count) model columns for \(models) models"))
                return
            }
            var kept = stored
            var table: CandidateTable? = nil
            if base != 0 {
                // The kept columns are the ones this worker holds of the run rescored (its HELLO said so).
                guard let held = hold.shard(run: base, shard), held.models == baseModels, held.models.count == Int(stride),
                      held.lower == lower, held.upper == upper else {
                    log("worker \(options.workerID): asked to rescore shard \(shard) from the propensities it holds of run \(RunRepository.name(base)), "
                        + "which it does not hold as described; leaving so that the coordinator sends them", level: .error)
                    // Not announced again: the coordinator sends the columns next time.
                    hold.forget(run: base, shard: shard)
                    try? send(.bye)
                    if options.once { stopping = true } else { try reconnect() }
                    return
                }
                kept = held.values
                // Its table too, when it was made from what this run reads.
                if let basis = held.basis, basis == (try? HeldShards.Basis(scoring.context, served: served)) { table = held.table }
            }
            compute.async { shards.begin(run: run) }
            let reuse = ShardScorer.Reuse(source: source.map { Int($0) }, stored: kept, stride: Int(stride))
            // Only the models scored again go back (PROPS): the coordinator holds the others.
            scoring.score(lower: lower, upper: upper, reuse: reuse, served: served, keepEvery: hold.enabled, keepFatigue: hold.enabled,
                          held: table) { table, rebuilt in
                compute.async {
                    for reply in shards.holdScored(run: run, shard: shard, attempt: attempt, bounds: (lower, upper), served: served,
                                                   evaluated: reuse.evaluated, rebuilt: rebuilt, table) {
                        outbox.post(reply)
                    }
                }
            }
        case .release(let run):
            let shards = self.shards
            compute.async { shards.release(run: run) }
            hold.released(run: run)
            log("worker \(options.workerID): run \(RunRepository.name(run)) released")
            if options.once { stopping = true }
        case .hello, .scored, .aggregates, .facts, .state, .moves, .rows, .failed, .props:
            log("worker \(options.workerID): ignored a message meant for a coordinator")
        case let .restore(run, _, _, _, _, _, served):
            try checkServed(served, run: run)
            let shards = self.shards, outbox = self.outbox
            compute.async { for reply in shards.handle(m, post: { outbox.post($0) }) { outbox.post(reply) } }
        default:
            let shards = self.shards, outbox = self.outbox
            compute.async { for reply in shards.handle(m, post: { outbox.post($0) }) { outbox.post(reply) } }
        }
    }
}

extension Worker {
    /// A shard of a run reading served responses up to `served` (its plan's bound) needs a store holding them:
    /// one that lacks them (a copy made before they were served) says why, tells the coordinator BYE (the
    /// shard goes to another worker) and stops, as a refused worker does.
    func checkServed(_ served: UInt64, run: UInt64) throws {
        let held = try ResponseRecorder.lastSequence(store: scoring.context.store)
        guard held < served else { return }
        let reason = "run \(RunRepository.name(run)): " + Hub.missingResponses(store: "store \(options.storePath)", served: held, run: served)
        log("worker \(options.workerID): \(reason)", level: .error)
        try? send(.bye)
        throw Failure.lacksResponses(reason)
    }
}

/// The store a worker scores from and its scoring threads (at most `threads` shards at once). The socket
/// thread starts scoring here and reads the store's fingerprint and limits; `WorkerShards` (on its queue)
/// reads the store and swaps it for a fresh one between jobs. The context and the last shard's shape are
/// under a `Mutex`.
final class ShardScoring: Sendable {
    private let state: Mutex<State>
    private let slots: DispatchSemaphore
    /// Entered for each shard being scored, left once its table is handed on: `reopen` waits on it.
    private let running = DispatchGroup()

    struct State {
        var context: RunContext?
        /// The size of the last shard scored here, to size the next one's buffers.
        var lastShape: ShardScorer.Shape?
    }

    init(context: RunContext, threads: Int) {
        state = Mutex(State(context: context))
        slots = DispatchSemaphore(value: max(1, threads))
    }

    /// The open store and the run's inputs read from it.
    var context: RunContext { state.withLock { $0.context! } }

    /// Scores a shard on a background thread (at most `threads` at once) and passes the table on.
    /// `keepEvery`: the table keeps every plan model's propensities, also those `reuse` holds; `keepFatigue`:
    /// each customer's fatigued offers. With `held` (this shard's table of the run `reuse` comes from) the
    /// table is rebuilt from it (`ShardScorer.rebuildTable`), or built as usual when it does not fit; `then`
    /// is told which.
    func score(lower: UInt64, upper: UInt64?, reuse: ShardScorer.Reuse? = nil, served: UInt64, keepEvery: Bool = false, keepFatigue: Bool = false,
               held: CandidateTable? = nil, then: @escaping @Sendable (Result<CandidateTable, Error>, Bool) -> Void) {
        let context = self.context
        running.enter()
        DispatchQueue.global().async { [self] in
            slots.wait()
            var scorer = ShardScorer(store: context.store, plan: context.plan, servedThrough: served)
            let shape = state.withLock { $0.lastShape }
            var rebuilt = false
            let result = Result { () throws -> CandidateTable in
                if let held, let reuse {
                    do {
                        let table = try scorer.rebuildTable(held, lower: lower, upper: upper, reuse: reuse, keepPropensities: true, keepEvery: keepEvery)
                        rebuilt = true
                        return table
                    } catch is ShardScorer.HeldTableMismatch {}
                }
                return try scorer.buildTable(lower: lower, upper: upper, reuse: reuse, keepPropensities: true, keepEvery: keepEvery,
                                             keepFatigue: keepFatigue, shape: shape)
            }
            if let shape = scorer.lastShape { state.withLock { $0.lastShape = shape } }
            slots.signal()
            then(result, rebuilt)
            running.leave()
        }
    }

    /// Waits for every scoring job to end, closes the store and opens the one at `storePath` (LMDB wants
    /// one environment per process: the old one is closed first). Returns the new context.
    func reopen(storePath: String) throws -> RunContext {
        running.wait()
        state.withLock { $0.context = nil }
        let fresh = try RunContext(storePath: storePath)
        state.withLock { $0.context = fresh }
        return fresh
    }
}

/// A worker's shards of the current run, used from its one serial queue `queue` (scoring runs on
/// `ShardScoring`'s threads and hands its tables back through that queue).
///
/// `@unchecked Sendable`: the state is guarded by `queue`, not by a lock. The worker reaches this object
/// only in closures it runs on `queue` (`queue.async`, `queue.sync`); the methods that touch the state
/// check that they run there.
final class WorkerShards: @unchecked Sendable {
    /// The serial queue every use of this object runs on.
    let queue = DispatchQueue(label: "nextbest.worker.compute")
    let scoring: ShardScoring
    let threads: Int
    let name: String
    let log: RoleLog
    let metrics: WorkerMetrics
    /// Where scored shards' propensities and tables are kept for rescores.
    let hold: HeldShards
    /// The store and the run's inputs, as of the last `reopen` (nil only while it reopens).
    private(set) var context: RunContext!
    var run: UInt64? = nil
    var shardIDs: [UInt32] = []
    /// The attempt each held shard was given with (ASSIGN or RESTORE), echoed in AGGREGATES.
    var attempts: [UInt32] = []
    var group: LocalShards
    /// Shards given away (another copy won) while still being scored.
    var unwanted = Set<UInt32>()
    var evaluations = 0
    var scoredCount = 0
    /// COLLECTs answered (for the `worker.damage-lists` failpoint).
    var collected = 0

    init(scoring: ShardScoring, threads: Int, name: String, log: RoleLog, metrics: WorkerMetrics, hold: HeldShards = HeldShards(enabled: false)) {
        self.scoring = scoring
        self.hold = hold
        context = scoring.context
        self.threads = threads
        self.name = name
        self.log = log
        self.metrics = metrics
        group = LocalShards([], constraints: context.constraints, threads: threads)
    }

    /// Reopens the store once no scoring job uses the old one.
    func reopen(storePath: String) throws {
        dispatchPrecondition(condition: .onQueue(queue))
        group = LocalShards([], constraints: context.constraints, threads: threads)
        context = nil
        context = try scoring.reopen(storePath: storePath)
        group = LocalShards([], constraints: context.constraints, threads: threads)
        log("worker \(name): store \(context.fingerprint)")
    }

    func begin(run: UInt64) {
        dispatchPrecondition(condition: .onQueue(queue))
        if self.run != run { drop(run: nil); self.run = run; log.set("run", RunRepository.name(run)) }
    }

    /// The run is over: its shards' tables go to `hold` (which keeps them with their propensities), then the
    /// run is dropped.
    func release(run: UInt64) {
        dispatchPrecondition(condition: .onQueue(queue))
        if hold.enabled, self.run == run {
            for (i, id) in shardIDs.enumerated() {
                guard let held = hold.shard(run: run, id), let basis = try? HeldShards.Basis(context, served: held.served) else { continue }
                hold.attach(run: run, shard: id, table: group.shards[i].table, basis: basis)
            }
        }
        drop(run: run)
    }

    func drop(run: UInt64?) {
        dispatchPrecondition(condition: .onQueue(queue))
        if let run, self.run != run { return }
        self.run = nil
        log.set("run", nil)
        metrics.held(0)
        shardIDs = []
        attempts = []
        group.shards = []
        unwanted = []
    }

    /// Keeps a scored shard (in shard order) and returns the SCORED or FAILED reply.
    /// `hold` for a shard just scored: its propensities go to the coordinator at once (PROPS, kept with the
    /// run for rescoring) and are taken out of the shard's table, then SCORED. Sent now rather than with the
    /// lists, the coordinator writes them while the other shards are scored. A worker started with `--once` or
    /// `--release-memory` then holds them no more (640 MB less for 5 M customers × 32 models until the merge);
    /// a standing worker keeps them in `hold` for a later rescore of this run.
    /// `evaluated`: a rescore's plan models scored again (nil: every plan model was), the only ones sent
    /// back. The table holds their propensities, or every plan model's when `hold` keeps them. `rebuilt`: said
    /// in SCORED.
    func holdScored(run: UInt64, shard: UInt32, attempt: UInt32, bounds: (lower: UInt64, upper: UInt64?), served: UInt64, evaluated: [Int]? = nil,
                    rebuilt: Bool = false, _ result: Result<CandidateTable, Error>) -> [WireMessage] {
        guard case .success(var table) = result, !table.propensities.isEmpty || evaluated != nil else {
            return hold(run: run, shard: shard, attempt: attempt, result).map { [$0] } ?? []
        }
        let ids = context.plan.models.map(\.id)
        var values = Array(table.propensities)
        table.propensities = []
        guard let reply = hold(run: run, shard: shard, attempt: attempt, rebuilt: rebuilt, .success(table)) else { return [] }
        guard case .scored = reply else { return [reply] }
        let sent = evaluated ?? Array(ids.indices)
        if hold.enabled {
            hold.keep(run: run, shard: shard, .init(lower: bounds.lower, upper: bounds.upper, models: ids, values: values, served: served))
            if sent.count < ids.count { values = Self.columns(sent, of: values, width: ids.count) }
        }
        return [.props(run: run, shard: shard, seq: attempt, models: sent.map { ids[$0] }, values: values), reply]
    }

    /// Columns `columns` of a customers × `width` matrix.
    static func columns(_ columns: [Int], of values: [Float], width: Int) -> [Float] {
        let customers = width == 0 ? 0 : values.count / width
        var out = [Float]()
        out.reserveCapacity(customers * columns.count)
        for c in 0..<customers { for j in columns { out.append(values[c * width + j]) } }
        return out
    }

    func hold(run: UInt64, shard: UInt32, attempt: UInt32, rebuilt: Bool = false, _ result: Result<CandidateTable, Error>) -> WireMessage? {
        dispatchPrecondition(condition: .onQueue(queue))
        guard self.run == run else { return nil }
        if unwanted.remove(shard) != nil { return nil }
        switch result {
        case .failure(let e):
            metrics.failed()
            log("worker \(name): shard \(shard) failed: \(e)", shard: Int(shard), level: .error)
            return .failed(run: run, reason: "shard \(shard): \(e)")
        case .success(let table):
            let s = ShardOptimizer(plan: context.plan, constraints: context.constraints, table: table)
            if let i = shardIDs.firstIndex(of: shard) {
                group.shards[i] = s
                attempts[i] = attempt
            } else {
                let at = shardIDs.firstIndex(where: { $0 > shard }) ?? shardIDs.count
                shardIDs.insert(shard, at: at)
                attempts.insert(attempt, at: at)
                group.shards.insert(s, at: at)
            }
            scoredCount += 1
            metrics.scored(customers: table.customerCount)
            metrics.held(shardIDs.count)
            Failpoint.hit("worker.scored", scoredCount)
            return .scored(run: run, shard: shard, attempt: attempt, customers: UInt64(table.customerCount), candidates: UInt64(table.candidates.count),
                           rebuilt: rebuilt)
        }
    }

    func index(of shard: UInt32) -> Int? { shardIDs.firstIndex(of: shard) }

    func validSlot(_ s: UInt8) -> Bool { Int(s) < Optimizer.Slot.count }

    /// The request, if it is well formed for this run's constraints.
    func valid(_ q: PricingRequest) -> PricingRequest? { q.isValid(rows: context.constraints.count) ? q : nil }

    /// A round asked for (PRICES or SAMPLE): counted, and a failpoint for the fault tests.
    func countRound() {
        evaluations += 1
        metrics.evaluated()
        Failpoint.hit("worker.round", evaluations)
    }

    /// Every held shard evaluated at `prices` (over `sample`), one AGGREGATES each.
    func aggregates(run: UInt64, seq: UInt32, request q: PricingRequest, sample: CustomerSample) -> [WireMessage] {
        let ids = shardIDs, atts = attempts
        return group.each { s, _ in s.evaluate(q, sample: sample) }.enumerated().map { i, a in
            .aggregates(run: run, shard: ids[i], attempt: atts[i], round: seq, aggregates: a)
        }
    }

    /// Answers one request about the held shards. Replies that come one per shard and take long (a repair
    /// pass's moves) go to `post` as each shard's is ready, so that they cross the wire and are read while
    /// the next shards are worked on; the others are returned.
    func handle(_ m: WireMessage, post: (@Sendable (WireMessage) -> Void)? = nil) -> [WireMessage] {
        dispatchPrecondition(condition: .onQueue(queue))
        switch m {
        case .prices, .sample, .split, .candidates: return handlePricing(m, post: post)
        case .precheck, .copySlot, .stateRequest, .propose, .apply: return handleRepair(m, post: post)
        case .collect, .restore, .drop: return handleShard(m)
        default: return []
        }
    }

    /// The requests that evaluate every held shard at prices: PRICES, SAMPLE and SPLIT.
    private func handlePricing(_ m: WireMessage, post: (@Sendable (WireMessage) -> Void)?) -> [WireMessage] {
        switch m {
        case let .prices(run, round, request):
            guard self.run == run else { return [] }
            countRound()
            guard let q = valid(request) else {
                return [.failed(run: run, reason: "PRICES not valid for \(context.constraints.count) constraints")]
            }
            return aggregates(run: run, seq: round, request: q, sample: .all)
        case let .sample(run, seq, modulus, request):
            guard self.run == run else { return [] }
            guard let q = valid(request), modulus > 0, modulus & (modulus - 1) == 0 else {
                return [.failed(run: run, reason: "SAMPLE not valid for \(context.constraints.count) constraints or modulus \(modulus)")]
            }
            countRound()
            return aggregates(run: run, seq: seq, request: q, sample: CustomerSample(modulus: Int(modulus)))
        case let .split(run, seq, request, active, passes):
            guard self.run == run else { return [] }
            guard let q = valid(request), active.count == CustomerBuckets.count, active.allSatisfy({ $0.allSatisfy { Int($0) < q.points.count } }),
                  passes.isEmpty || (passes.count == active.count && zip(passes, active).allSatisfy { $0.count == $1.count }) else {
                return [.failed(run: run, reason: "SPLIT not valid for \(context.constraints.count) constraints")]
            }
            let ids = shardIDs
            let replies = group.each { s, _ in s.splitCustomers(q, active: active, passes: passes) }.enumerated().map { WireMessage.splits(run: run, shard: ids[$0], seq: seq, customers: $1) }
            guard let post else { return replies }
            // The coordinator settles these customers next (its LP, while this worker waits), applies its
            // changes to slot 0 and asks for that slot's state: it is counted meanwhile, and the changes kept
            // in it as they are applied.
            for r in replies { post(r) }
            _ = group.each { s, _ in s.keepState(slot: Optimizer.Slot.evaluated) }
            return []
        case let .candidates(run, seq, customers):
            guard self.run == run else { return [] }
            let ids = shardIDs
            // `customers` is indexed by the run's shard numbers; this worker answers for the shards it holds.
            return group.each { s, k in
                let shard = Int(ids[k])
                return shard < customers.count ? s.withAllCandidates(customers[shard]) : []
            }.enumerated().map { .splits(run: run, shard: ids[$0], seq: seq, customers: $1) }
        default:
            return []
        }
    }

    /// The requests of the feasibility check and the repair passes: PRECHECK, COPY, STATE?, PROPOSE and APPLY.
    private func handleRepair(_ m: WireMessage, post: (@Sendable (WireMessage) -> Void)?) -> [WireMessage] {
        switch m {
        case let .precheck(run, seq):
            guard self.run == run else { return [] }
            let ids = shardIDs
            return group.each { s, _ in PrecheckFacts.of(s) }.enumerated().map { .facts(run: run, shard: ids[$0], seq: seq, facts: $1) }
        case let .copySlot(run, _, from, to):
            guard self.run == run, validSlot(from), validSlot(to) else { return [] }
            for i in group.shards.indices { group.shards[i].copySelection(from: Int(from), to: Int(to)) }
            return []
        case let .stateRequest(run, seq, slot):
            guard self.run == run, validSlot(slot) else { return [] }
            let ids = shardIDs
            return group.each { s, _ in s.state(slot: Int(slot)) }.enumerated().map { .state(run: run, shard: ids[$0], seq: seq, state: $1) }
        case let .propose(run, seq, slot, goal, limit, use):
            guard self.run == run, validSlot(slot) else { return [] }
            guard use.count == context.constraints.count + 1, goal.isValid(rows: context.constraints.count) else {
                return [.failed(run: run, reason: "PROPOSE with a use vector of \(use.count) or a bad goal")]
            }
            let ids = shardIDs
            let most = limit == 0 ? Int.max : Int(limit)
            if let post {
                _ = group.each { s, i in
                    post(.moves(run: run, shard: ids[i], seq: seq, moves: Repair.proposalList(s, shard: Int(ids[i]), slot: Int(slot), goal: goal, use: use, limit: most)))
                }
                return []
            }
            return group.each { s, i in Repair.proposalList(s, shard: Int(ids[i]), slot: Int(slot), goal: goal, use: use, limit: most) }
                .enumerated().map { .moves(run: run, shard: ids[$0], seq: seq, moves: $1) }
        case let .apply(run, _, slot, shard, changes):
            guard self.run == run, validSlot(slot), let i = index(of: shard) else { return [] }
            guard changes.allSatisfy({ group.shards[i].isValid($0) }) else {
                return [.failed(run: run, reason: "APPLY names customers or candidates shard \(shard) does not have")]
            }
            group.shards[i].apply(changes, slot: Int(slot))
            return []
        default:
            return []
        }
    }

    /// The requests about one shard: COLLECT its lists, RESTORE a lost worker's copy, DROP it.
    private func handleShard(_ m: WireMessage) -> [WireMessage] {
        switch m {
        case let .collect(run, seq, slot, shard):
            guard self.run == run, validSlot(slot), let i = index(of: shard) else { return [] }
            // The lists only: the coordinator renders the rows from them (the bytes the journal keeps).
            var (lists, totals) = NBAWriter.lists(group.shards[i], slot: Int(slot), regions: context.regions.count, segments: context.segments.count)
            collected += 1
            if Failpoint.armed("worker.damage-lists", collected) { lists.removeLast(min(3, lists.count - 1)) }
            return [.rows(run: run, shard: shard, seq: seq, csv: [], lists: lists, totals: totals)]
        case let .restore(run, shard, attempt, lower, upper, ops, served):
            begin(run: run)
            var scorer = ShardScorer(store: context.store, plan: context.plan, servedThrough: served)
            // The propensities went to the coordinator when the shard was first scored.
            let result = Result { try scorer.buildTable(lower: lower, upper: upper) }
            guard let reply = hold(run: run, shard: shard, attempt: attempt, result), case .scored = reply, let i = index(of: shard) else {
                return [.failed(run: run, reason: "shard \(shard) could not be restored")]
            }
            for op in ops {
                switch op {
                case let .evaluate(request):
                    guard let q = valid(request) else { return [.failed(run: run, reason: "RESTORE with bad prices")] }
                    _ = group.shards[i].evaluate(q)
                case let .copy(from, to):
                    guard validSlot(from), validSlot(to) else { return [.failed(run: run, reason: "RESTORE with a bad slot")] }
                    group.shards[i].copySelection(from: Int(from), to: Int(to))
                case let .apply(slot, changes):
                    guard validSlot(slot), changes.allSatisfy({ group.shards[i].isValid($0) }) else {
                        return [.failed(run: run, reason: "RESTORE with changes shard \(shard) does not have")]
                    }
                    group.shards[i].apply(changes, slot: Int(slot))
                }
            }
            log("worker \(name): took over shard \(shard) (attempt \(attempt), \(ops.count) operations replayed)", shard: Int(shard))
            return [reply]
        case let .drop(run, shard):
            guard self.run == run else { return [] }
            if let i = index(of: shard) { shardIDs.remove(at: i); attempts.remove(at: i); group.shards.remove(at: i) } else { unwanted.insert(shard) }
            hold.forget(run: run, shard: shard)
            metrics.held(shardIDs.count)
            return []
        default:
            return []
        }
    }
}

/// SIGTERM and SIGINT ask a worker to stop: it says BYE to its coordinator (which then knows at once
/// instead of waiting for silence) and exits.
///
/// The signals arrive through swift-service-lifecycle's `UnixSignalsSequence`, read by a task of its own
/// that only sets `requested`; the worker's socket loop looks at it between polls (every 20 ms), so no
/// async code runs on the ZeroMQ thread. One per process (a signal has one handler per process): the
/// first worker to serve starts it.
final class StopSignal: Sendable {
    /// The process's listener, started on first use.
    static let process = StopSignal()
    private let flag = Atomic<Bool>(false)

    /// Whether SIGTERM or SIGINT has arrived.
    var requested: Bool { flag.load(ordering: .acquiring) }

    private init() {
        Self.blockInThisThread()
        let ready = DispatchSemaphore(value: 0)
        Task.detached { [self] in
            let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
            ready.signal()
            for await _ in signals { flag.store(true, ordering: .releasing) }
        }
        // The handlers are in place before the worker connects: a stop asked for from then on is seen.
        ready.wait()
    }

    /// On Linux the signals are read from a signalfd, which sees a signal only while every thread blocks
    /// it (otherwise a thread that does not takes it, and its default action ends the process). libdispatch
    /// and libzmq threads block every signal; the threads this process starts later inherit this one's mask.
    /// The disposition goes back to the default too: a worker started by `run` inherits `SIG_IGN`.
    static func blockInThisThread() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        signal(SIGTERM, SIG_DFL)
        signal(SIGINT, SIG_DFL)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }
}

/// A queue that background threads post to and one thread drains.
final class Mailbox<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    /// A pipe whose read end (`wakeFD`) becomes readable when an item is posted, so that a loop polling
    /// its socket wakes at once for the outgoing items rather than at its next timeout (which cost each
    /// request about half the 20 ms poll: at 10 M customers, 40 requests a run).
    private let pipeFDs: (read: Int32, write: Int32)?

    init() {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
            pipeFDs = (fds[0], fds[1])
        } else {
            pipeFDs = nil
        }
    }

    deinit {
        if let p = pipeFDs { close(p.read); close(p.write) }
    }

    /// Readable when items wait (nil if no pipe could be made: then only the poll's timeout wakes).
    var wakeFD: Int32? { pipeFDs?.read }

    func post(_ item: T) {
        items.withLock { $0.append(item) }
        if let p = pipeFDs { var b: UInt8 = 1; _ = write(p.write, &b, 1) }
    }

    func drain() -> [T] {
        if let p = pipeFDs {
            var buffer = [UInt8](repeating: 0, count: 256)
            while read(p.read, &buffer, buffer.count) > 0 {}
        }
        return items.withLock { i in defer { i = [] }; return i }
    }
}
