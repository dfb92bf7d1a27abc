import Foundation
import NextBestCore
import NextBestStore
import NextBestWire

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
        public var description: String {
            switch self {
            case .refused(let r): return "the coordinator refused this worker: \(r)"
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
    /// The shards and the store; touched only on `compute`, a serial queue, so requests are handled in
    /// the order they arrive while this thread keeps the socket (heartbeats go on during long requests).
    let shards: WorkerShards
    let compute = DispatchQueue(label: "nextbest.worker.compute")
    /// Messages produced on other threads, sent by this one.
    let outbox = Mailbox<WireMessage>()

    public convenience init(_ options: Options, log: @escaping (String) -> Void) throws {
        try self.init(options, logger: RoleLog(log))
    }

    /// Opens the store, logging through `logger` (with the run and shard ids as metadata).
    public init(_ options: Options, logger log: RoleLog) throws {
        self.options = options
        self.log = log
        metrics = options.metrics ?? WorkerMetrics()
        log.set("worker", options.workerID)
        shards = WorkerShards(context: try RunContext(storePath: options.storePath), threads: options.threads, name: options.workerID,
                              log: log, metrics: metrics)
        zmq = try ZMQContext()
    }

    /// Serves until told to stop (`once`), refused, or the parent process is gone.
    public func serve() throws {
        log("worker \(options.workerID): store \(shards.context.fingerprint), \(options.threads) threads, connecting to \(options.connect)")
        StopSignal.install()
        try reconnect()
        defer { socket?.close() }
        while !stopping {
            if StopSignal.requested {
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
                                fingerprint: shards.fingerprint, maxCustomers: UInt64(max(0, options.maxCustomers))))
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
            if try socket!.poll(timeoutMs: 20), let frames = try socket!.receive() {
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

    /// A fresh connection (and a fresh look at the store: tonight's copy may have been put in place since
    /// the last job).
    func reconnect() throws {
        socket?.close()
        if connection > 0 {
            compute.sync { shards.drop(run: nil) }
            try shards.reopen(storePath: options.storePath)
            _ = outbox.drain()
        }
        connection += 1
        if connection > 1 { metrics.reconnected() }
        metrics.welcomed(false)
        let s = try zmq.socket(.dealer)
        try s.setLinger(0)
        try s.setIdentity(Array("\(options.workerID)#\(connection)".utf8))
        // The worker does not know the coordinator's shard size: its shards are at most its --max-customers or
        // the whole store; twice the frame limit leaves room for a RESTORE's log of changes.
        let limit = try shards.context.frameLimit(shardCustomers: options.maxCustomers > 0 ? options.maxCustomers : .max)
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
            log("worker \(options.workerID): refused: \(reason)", level: .error)
            throw Failure.refused(reason)
        case .heartbeat:
            break
        case .bye:
            log("worker \(options.workerID): the coordinator left")
            if options.once { stopping = true } else { try reconnect() }
        case let .assign(run, shard, attempt, lower, upper):
            let shards = self.shards, outbox = self.outbox, compute = self.compute
            compute.async { shards.begin(run: run) }
            shards.score(run: run, shard: shard, lower: lower, upper: upper) { table in
                compute.async { if let reply = shards.hold(run: run, shard: shard, attempt: attempt, table) { outbox.post(reply) } }
            }
        case let .rescore(run, shard, attempt, lower, upper, source, stride, stored):
            let shards = self.shards, outbox = self.outbox, compute = self.compute
            let models = shards.context.plan.models.count
            guard source.count == models, stride > 0, source.allSatisfy({ $0 >= -1 && $0 < Int64(stride) }), stored.count % Int(stride) == 0 else {
                outbox.post(.failed(run: run, reason: "RESCORE of shard \(shard) with \(source.count) model columns for \(models) models"))
                return
            }
            compute.async { shards.begin(run: run) }
            let reuse = ShardScorer.Reuse(source: source.map { Int($0) }, stored: stored, stride: Int(stride))
            shards.score(run: run, shard: shard, lower: lower, upper: upper, reuse: reuse) { table in
                compute.async { if let reply = shards.hold(run: run, shard: shard, attempt: attempt, table) { outbox.post(reply) } }
            }
        case .release(let run):
            let shards = self.shards
            compute.async { shards.drop(run: run) }
            log("worker \(options.workerID): run \(RunJournal.name(run)) released")
            if options.once { stopping = true }
        case .hello, .scored, .aggregates, .facts, .state, .moves, .rows, .failed, .props:
            log("worker \(options.workerID): ignored a message meant for a coordinator")
        default:
            let shards = self.shards, outbox = self.outbox
            compute.async { for reply in shards.handle(m, post: { outbox.post($0) }) { outbox.post(reply) } }
        }
    }
}

/// A worker's shards of the current run and its store, used from one serial queue (scoring runs on other
/// threads and hands its tables back through that queue).
final class WorkerShards: @unchecked Sendable {
    private(set) var context: RunContext!
    let threads: Int
    let name: String
    let log: RoleLog
    let metrics: WorkerMetrics
    var run: UInt64? = nil
    var shardIDs: [UInt32] = []
    /// The attempt each held shard was given with (ASSIGN or RESTORE), echoed in AGGREGATES.
    var attempts: [UInt32] = []
    var group: LocalShards
    /// Shards given away (another copy won) while still being scored.
    var unwanted = Set<UInt32>()
    var evaluations = 0
    var scoredCount = 0
    let scoringSlots: DispatchSemaphore
    /// The size of the last shard scored here (guarded by `lock`), to size the next one's buffers.
    private var lastShape: ShardScorer.Shape? = nil
    private let lock = NSLock()
    private var scoringNow = 0

    init(context: RunContext, threads: Int, name: String, log: RoleLog, metrics: WorkerMetrics) {
        self.context = context
        self.threads = threads
        self.name = name
        self.log = log
        self.metrics = metrics
        group = LocalShards([], constraints: context.constraints, threads: threads)
        scoringSlots = DispatchSemaphore(value: threads)
    }

    var fingerprint: UInt64 { context.fingerprint.digest }

    /// Reopens the store once no scoring job uses the old one (LMDB wants one environment per process).
    func reopen(storePath: String) throws {
        while lock.withLock({ scoringNow }) > 0 { usleep(10_000) }
        group = LocalShards([], constraints: context.constraints, threads: threads)
        context = nil
        context = try RunContext(storePath: storePath)
        group = LocalShards([], constraints: context.constraints, threads: threads)
        log("worker \(name): store \(context.fingerprint)")
    }

    func begin(run: UInt64) {
        if self.run != run { drop(run: nil); self.run = run; log.set("run", RunJournal.name(run)) }
    }

    func drop(run: UInt64?) {
        if let run, self.run != run { return }
        self.run = nil
        log.set("run", nil)
        metrics.held(0)
        shardIDs = []
        attempts = []
        group.shards = []
        unwanted = []
    }

    /// Scores a shard on a background thread (at most `threads` at once) and passes the table on.
    func score(run: UInt64, shard: UInt32, lower: UInt64, upper: UInt64?, reuse: ShardScorer.Reuse? = nil,
               then: @escaping @Sendable (Result<CandidateTable, Error>) -> Void) {
        let context: RunContext = self.context
        lock.withLock { scoringNow += 1 }
        let slots = scoringSlots
        DispatchQueue.global().async { [self] in
            slots.wait()
            var scorer = ShardScorer(store: context.store, plan: context.plan)
            let result = Result { try scorer.buildTable(lower: lower, upper: upper, reuse: reuse, keepPropensities: true, shape: lock.withLock { lastShape }) }
            if let shape = scorer.lastShape { lock.withLock { lastShape = shape } }
            slots.signal()
            lock.withLock { scoringNow -= 1 }
            then(result)
        }
    }

    /// Keeps a scored shard (in shard order) and returns the SCORED or FAILED reply.
    func hold(run: UInt64, shard: UInt32, attempt: UInt32, _ result: Result<CandidateTable, Error>) -> WireMessage? {
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
            return .scored(run: run, shard: shard, attempt: attempt, customers: UInt64(table.customerCount), candidates: UInt64(table.candidates.count))
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
        case let .split(run, seq, request, active):
            guard self.run == run else { return [] }
            guard let q = valid(request), active.count == CustomerBuckets.count, active.allSatisfy({ $0.allSatisfy { Int($0) < q.points.count } }) else {
                return [.failed(run: run, reason: "SPLIT not valid for \(context.constraints.count) constraints")]
            }
            let ids = shardIDs
            return group.each { s, _ in s.splitCustomers(q, active: active) }.enumerated().map { .splits(run: run, shard: ids[$0], seq: seq, customers: $1) }
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
            return group.each { s, _ in Repair.state(s, slot: Int(slot)) }.enumerated().map { .state(run: run, shard: ids[$0], seq: seq, state: $1) }
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
        case let .collect(run, seq, slot, shard):
            guard self.run == run, validSlot(slot), let i = index(of: shard) else { return [] }
            let (rows, totals) = NBAWriter.rows(group.shards[i], slot: Int(slot), regions: context.regions.count, segments: context.segments.count)
            // The shard's propensities go first (kept with the run for rescoring), then its lists.
            let table = group.shards[i].table
            let props: [WireMessage] = table.propensities.isEmpty ? [] :
                [.props(run: run, shard: shard, seq: seq, models: context.plan.models.map(\.id), values: Array(table.propensities))]
            return props + [.rows(run: run, shard: shard, seq: seq, csv: rows, totals: totals)]
        case let .restore(run, shard, attempt, lower, upper, ops):
            begin(run: run)
            var scorer = ShardScorer(store: context.store, plan: context.plan)
            let result = Result { try scorer.buildTable(lower: lower, upper: upper, keepPropensities: true) }
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
            metrics.held(shardIDs.count)
            return []
        default:
            return []
        }
    }
}

/// SIGTERM and SIGINT ask a worker to stop: it says BYE to its coordinator (which then knows at once
/// instead of waiting for silence) and exits. The signals are unblocked first, since a process started
/// from a thread that blocks them inherits the mask.
enum StopSignal {
    nonisolated(unsafe) static var flag: sig_atomic_t = 0
    static var requested: Bool { flag != 0 }
    static func install() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        signal(SIGTERM) { _ in StopSignal.flag = 1 }
        signal(SIGINT) { _ in StopSignal.flag = 1 }
    }
}

/// A queue that background threads post to and one thread drains.
final class Mailbox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func post(_ item: T) { lock.withLock { items.append(item) } }
    func drain() -> [T] { lock.withLock { defer { items = [] }; return items } }
}
