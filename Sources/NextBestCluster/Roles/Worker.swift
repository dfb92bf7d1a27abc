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
        public init(connect: String, storePath: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                    workerID: String = Worker.defaultID()) {
            self.connect = connect; self.storePath = storePath; self.threads = max(1, threads); self.workerID = workerID
        }
    }

    /// Why a worker stopped.
    public enum Failure: Error, CustomStringConvertible {
        case refused(String)
        public var description: String {
            switch self {
            case .refused(let r): return "the coordinator refused this worker: \(r)"
            }
        }
    }

    /// `host-pid`, unique enough among the workers of a cluster.
    public static func defaultID() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(getpid())"
    }

    let options: Options
    /// The store as of the last (re)connection: reopened each time, so a worker serves the copy of the
    /// store that is in place when a job starts.
    var context: RunContext!
    /// Scoring jobs started and not yet drained.
    var inFlight = 0
    let log: (String) -> Void
    let zmq: ZMQContext
    var socket: ZMQSocket?
    var connection = 0
    var welcomed = false
    var lastHeard = Date()
    var lastSent = Date.distantPast
    var lastHello = Date.distantPast
    var stopping = false

    /// The run whose shards are held, and the shards (kept in shard order).
    var run: UInt64? = nil
    var shardIDs: [UInt32] = []
    var group: LocalShards
    /// Scoring jobs finished on background threads, waiting to be reported.
    let finished = Mailbox<(run: UInt64, shard: UInt32, attempt: UInt32, result: Result<CandidateTable, Error>)>()
    let scoringSlots: DispatchSemaphore

    public init(_ options: Options, log: @escaping (String) -> Void) throws {
        self.options = options
        self.log = log
        context = try RunContext(storePath: options.storePath)
        zmq = try ZMQContext()
        group = LocalShards([], constraints: context.constraints, threads: options.threads)
        scoringSlots = DispatchSemaphore(value: options.threads)
    }

    /// Serves until told to stop (`once`), refused, or the parent process is gone.
    public func serve() throws {
        log("worker \(options.workerID): store \(context.fingerprint), \(options.threads) threads, connecting to \(options.connect)")
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
            if !welcomed && now.timeIntervalSince(lastHello) >= options.helloInterval {
                try send(.hello(workerID: options.workerID, software: NextBestVersion.software, cores: UInt16(clamping: options.threads),
                                fingerprint: context.fingerprint.digest))
                lastHello = now
            }
            if welcomed && now.timeIntervalSince(lastSent) >= 1 { try send(.heartbeat) }
            if welcomed && now.timeIntervalSince(lastHeard) > options.coordinatorTimeout {
                log("worker \(options.workerID): no word from the coordinator for \(Int(options.coordinatorTimeout)) s; reconnecting")
                dropRun()
                if options.once { return }
                try reconnect()
                continue
            }
            if try socket!.poll(timeoutMs: 50), let frames = try socket!.receive() {
                lastHeard = Date()
                guard let frame = frames.last else { continue }
                do {
                    try handle(try WireMessage.decode(frame))
                } catch let e as WireError {
                    log("worker \(options.workerID): dropped a malformed message from the coordinator: \(e)")
                }
            }
            for done in finished.drain() { inFlight -= 1; try reportScored(done) }
        }
    }

    func reconnect() throws {
        socket?.close()
        if connection > 0 {
            // Reopen the store: tonight's copy may have been put in place since the last job. LMDB wants
            // one environment per process, so the old one is closed first (after running jobs finish).
            while inFlight > 0 { inFlight -= finished.drain().count; usleep(10_000) }
            group = LocalShards([], constraints: context.constraints, threads: options.threads)
            context = nil
            context = try RunContext(storePath: options.storePath)
            group = LocalShards([], constraints: context.constraints, threads: options.threads)
            log("worker \(options.workerID): store \(context.fingerprint)")
        }
        connection += 1
        let s = try zmq.socket(.dealer)
        try s.setLinger(0)
        try s.setIdentity(Array("\(options.workerID)#\(connection)".utf8))
        try s.setMaxMessageSize(1 << 30)
        try s.connect(options.connect)
        socket = s
        welcomed = false
        lastHello = .distantPast
        lastHeard = Date()
    }

    func send(_ m: WireMessage) throws {
        try socket!.send([m.encode()])
        lastSent = Date()
    }

    func dropRun() {
        run = nil
        shardIDs = []
        group.shards = []
    }

    /// Index of a held shard, or nil (requests for shards not held are ignored).
    func index(of shard: UInt32) -> Int? { shardIDs.firstIndex(of: shard) }

    func handle(_ m: WireMessage) throws {
        switch m {
        case .welcome(let id):
            welcomed = true
            log("worker \(options.workerID): welcomed by \(id)")
        case .refuse(let reason):
            log("worker \(options.workerID): refused: \(reason)")
            throw Failure.refused(reason)
        case .heartbeat:
            break
        case .bye:
            log("worker \(options.workerID): the coordinator left")
            dropRun()
            if options.once { stopping = true } else { try reconnect() }
        case let .assign(run, shard, attempt, lower, upper):
            if self.run != run { dropRun(); self.run = run }
            startScoring(run: run, shard: shard, attempt: attempt, lower: lower, upper: upper)
        case let .prices(run, round, upper, lower):
            guard self.run == run else { return }
            guard upper.count == context.constraints.count, lower.count == upper.count else {
                return try send(.failed(run: run, reason: "PRICES with \(upper.count) prices for \(context.constraints.count) constraints"))
            }
            var q = Prices(count: upper.count)
            q.upper = upper; q.lower = lower
            let p = q
            let aggs = group.each { s, _ in s.evaluate(p) }
            for (i, a) in aggs.enumerated() {
                try send(.aggregates(run: run, shard: shardIDs[i], attempt: 0, round: round, use: a.use, dualMicros: a.dualMicros,
                                     primalMicros: a.primalMicros, offers: a.offers, costMicros: a.costMicros))
            }
        case let .precheck(run, seq):
            guard self.run == run else { return }
            let facts = group.each { s, _ in PrecheckFacts.of(s) }
            for (i, f) in facts.enumerated() { try send(.facts(run: run, shard: shardIDs[i], seq: seq, facts: f)) }
        case let .copySlot(run, _, from, to):
            guard self.run == run, Int(from) < Optimizer.Slot.count, Int(to) < Optimizer.Slot.count else { return }
            try group.copySelection(from: Int(from), to: Int(to))
        case let .stateRequest(run, seq, slot):
            guard self.run == run, Int(slot) < Optimizer.Slot.count else { return }
            let states = group.each { s, _ in Repair.state(s, slot: Int(slot)) }
            for (i, st) in states.enumerated() { try send(.state(run: run, shard: shardIDs[i], seq: seq, state: st)) }
        case let .propose(run, seq, slot, goal, use):
            guard self.run == run, Int(slot) < Optimizer.Slot.count else { return }
            guard use.count == context.constraints.count + 1, goal.isValid(rows: context.constraints.count) else {
                return try send(.failed(run: run, reason: "PROPOSE with a use vector of \(use.count) or a bad goal"))
            }
            let ids = shardIDs
            let moves = group.each { s, i in Repair.proposals(s, shard: Int(ids[i]), slot: Int(slot), goal: goal, use: use) }
            for (i, ms) in moves.enumerated() { try send(.moves(run: run, shard: shardIDs[i], seq: seq, moves: ms)) }
        case let .apply(run, _, slot, shard, changes):
            guard self.run == run, Int(slot) < Optimizer.Slot.count, let i = index(of: shard) else { return }
            guard changes.allSatisfy({ group.shards[i].isValid($0) }) else {
                return try send(.failed(run: run, reason: "APPLY names customers or candidates shard \(shard) does not have"))
            }
            group.shards[i].apply(changes, slot: Int(slot))
        case let .collect(run, seq, slot, shard):
            guard self.run == run, Int(slot) < Optimizer.Slot.count, let i = index(of: shard) else { return }
            let (rows, totals) = NBAWriter.rows(group.shards[i], slot: Int(slot), regions: context.regions.count, segments: context.segments.count)
            try send(.rows(run: run, shard: shard, seq: seq, csv: rows, totals: totals))
        case .release(let run):
            guard self.run == run else { return }
            log("worker \(options.workerID): run \(String(run, radix: 16)) released")
            dropRun()
            if options.once { stopping = true }
        case .hello, .scored, .aggregates, .facts, .state, .moves, .rows, .failed:
            log("worker \(options.workerID): ignored a message meant for a coordinator")
        }
    }

    func startScoring(run: UInt64, shard: UInt32, attempt: UInt32, lower: UInt64, upper: UInt64?) {
        let context: RunContext = self.context
        inFlight += 1
        let box = finished
        let slots = scoringSlots
        DispatchQueue.global().async {
            slots.wait()
            defer { slots.signal() }
            var scorer = ShardScorer(store: context.store, plan: context.plan)
            let result = Result { try scorer.buildTable(lower: lower, upper: upper) }
            box.post((run, shard, attempt, result))
        }
    }

    func reportScored(_ done: (run: UInt64, shard: UInt32, attempt: UInt32, result: Result<CandidateTable, Error>)) throws {
        guard run == done.run else { return }
        switch done.result {
        case .failure(let e):
            log("worker \(options.workerID): shard \(done.shard) failed: \(e)")
            try send(.failed(run: done.run, reason: "shard \(done.shard): \(e)"))
        case .success(let table):
            // Keep shards in shard order.
            let at = shardIDs.firstIndex(where: { $0 > done.shard }) ?? shardIDs.count
            if let existing = index(of: done.shard) {
                group.shards[existing] = ShardOptimizer(plan: context.plan, constraints: context.constraints, table: table)
            } else {
                shardIDs.insert(done.shard, at: at)
                group.shards.insert(ShardOptimizer(plan: context.plan, constraints: context.constraints, table: table), at: at)
            }
            try send(.scored(run: done.run, shard: done.shard, attempt: done.attempt, customers: UInt64(table.customerCount),
                             candidates: UInt64(table.candidates.count)))
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
