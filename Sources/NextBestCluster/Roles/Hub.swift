import Foundation
import NextBestCore
import NextBestStore
import NextBestWire

/// Why a cluster run stopped.
public enum ClusterError: Error, CustomStringConvertible {
    case workerLost(worker: String, silentSeconds: Int, shards: Int)
    case workerFailed(worker: String, reason: String)
    case badReply(worker: String, what: String)
    case noWorkers(waitedSeconds: Int, minimum: Int)
    case noRoom(waitedSeconds: Int, shardCustomers: Int, room: [String])
    case aborted(String)
    /// The run asked for cannot be made from the store as it is (resuming a finished run, rescoring from
    /// an unfinished one or after the profiles changed, a model the campaign does not use): nothing failed
    /// in the cluster.
    case runRefused(String)

    public var description: String {
        switch self {
        case let .workerLost(w, s, n):
            return "worker \(w) holding \(n) shard(s) went silent for \(s) s; the run stops (restart it; reassigning shards of a lost worker is not done yet)"
        case let .workerFailed(w, r): return "worker \(w) failed: \(r)"
        case let .badReply(w, what): return "worker \(w) sent an invalid reply (\(what))"
        case let .noWorkers(s, m): return "fewer than \(m) worker(s) joined within \(s) s; start workers with `nextbest worker --connect …`"
        case let .noRoom(s, n, room):
            return "no connected worker has room for a shard of \(n) customers (\(room.isEmpty ? "none connected" : room.joined(separator: ", "))) and none joined within \(s) s: "
                + "start more workers, raise their --max-customers, or make shards smaller (--shard-size)"
        case .aborted(let why), .runRefused(let why): return why
        }
    }
}

/// The coordinator's socket and its view of the workers: welcomes or refuses them (protocol and store
/// fingerprint), drops malformed frames and peers that speak before HELLO, exchanges heartbeats, notices
/// silent workers and drops those the caller finds past a deadline or lying. Everything else it receives
/// is handed to the caller.
final class Hub {
    /// A connected worker.
    struct Peer {
        var routingID: [UInt8]
        var name: String
        var threads: Int
        var lastSeen: Date
        /// Shards being scored for it now (at most `threads`).
        var scoring: Int = 0
        /// Shards it holds for the run.
        var holds: Int = 0
        /// The most customers it will hold at once (`nextbest worker --max-customers`; `Int.max`: no limit).
        var maxCustomers: Int = .max
        /// Customers of the shards it holds or is scoring now.
        var customers: Int = 0
        /// Times a worker of this name was dropped in this run (missed deadlines, invalid replies): it is
        /// offered work after the workers with fewer.
        var strikes = 0
        /// The last served response its store holds (HELLO's `served`).
        var served: UInt64 = 0
        /// The shards of earlier runs whose propensities it holds (HELLO's `held`), by run.
        var heldPropensities: [UInt64: Set<UInt32>] = [:]
        /// Whether a shard of `n` customers fits beside what it holds.
        func fits(_ n: Int) -> Bool { customers <= maxCustomers - n }
        /// What it holds against its limit, for messages.
        var room: String { "\(name) holds \(customers)" + (maxCustomers == .max ? "" : " of \(maxCustomers)") + " customers" }
    }

    let socket: ZMQSocket
    let zmq: ZMQContext
    let fingerprint: StoreFingerprint
    /// The last served response the run reads (its plan's bound): a worker whose store holds fewer is refused.
    private(set) var servedThrough: UInt64 = 0
    /// Workers whose HELLO said their store lacks responses the run reads, and when that was first seen.
    private var lacking: [[UInt8]: Date] = [:]
    let coordinatorID: String
    let log: Progress
    let metrics: RunMetrics
    /// Seconds between heartbeats, and how many silent intervals make a worker dead.
    let heartbeat: Double
    let deadAfter: Int
    var workerTimeout: Double { heartbeat * Double(deadAfter) }
    /// Workers that left or were declared dead, not yet handled by the caller.
    var lost: [Peer] = []
    var abortCheck: (() -> String?)?
    /// Refusals reported by the ZAP thread, logged from this one.
    var zapLines: Mailbox<String>?
    /// Welcomed workers by routing id, and their arrival order.
    /// Changed by the hub only: joins and drops here, the shards each is scoring or holds through the
    /// accounting methods below (`reserveScoring`, `holdScored`, `releaseScoring`, `reserveHeld`).
    private(set) var peers: [[UInt8]: Peer] = [:]
    var arrival: [[UInt8]] = []
    var lastBeat = Date()
    /// When the hub last listened (housekeeping runs on every pump).
    var lastListened = Date()
    /// Seconds spent listening since the hub started (time away from the socket beyond a heartbeat is not
    /// counted): the clock request deadlines are measured on.
    var clock: Double = 0
    /// Observed request times and the deadline policy.
    var times: RequestTimes
    /// The largest frame the socket accepts (ZMQ_MAXMSGSIZE; a bigger one closes its connection), and the
    /// largest one received.
    let frameLimit: Int64
    var largestFrame = 0
    /// Workers dropped for a missed deadline or an invalid reply, and how often each name was.
    var expelled = 0
    var strikes: [String: Int] = [:]
    var dropped = 0
    var refused = 0
    var messagesIn = 0
    var messagesOut = 0

    /// The CURVE allow-list check, when the coordinator requires authentication.
    var zap: ZAPHandler?

    init(bind: String, fingerprint: StoreFingerprint, heartbeat: Double, deadAfter: Int, curve: (secret: String, allowed: [[UInt8]])?,
         times: RequestTimes, frameLimit: Int64, log: Progress, metrics: RunMetrics) throws {
        zmq = try ZMQContext()
        if let curve {
            let lines = Mailbox<String>()
            zap = try ZAPHandler(context: zmq, allowed: curve.allowed) { lines.post($0) }
            zapLines = lines
        }
        socket = try zmq.socket(.router)
        if let curve { try socket.setCurveServer(secretKey: CurveKeys.decode(curve.secret)!) }
        try socket.setLinger(1000)
        try socket.setRouterMandatory(true)
        // Before binding: a listener takes the socket's options when it is made.
        try socket.setMaxMessageSize(frameLimit)
        try socket.bind(bind)
        self.times = times
        self.frameLimit = frameLimit
        self.fingerprint = fingerprint
        self.heartbeat = heartbeat
        self.deadAfter = max(1, deadAfter)
        self.log = log
        self.metrics = metrics
        coordinatorID = "\(ProcessInfo.processInfo.hostName)-\(getpid())"
    }

    /// The bound endpoint (with the port chosen when binding to `*`).
    var endpoint: String { (try? socket.lastEndpoint()) ?? "" }

    /// How many workers are connected.
    var peerCount: Int { peers.count }

    // What each worker is scoring and holds, in shards and customers (its room for more). A worker
    // dropped meanwhile is not counted: each method does nothing for an id no longer connected.

    /// A shard of `customers` customers was sent to `id` to score: one more scoring, its customers counted.
    func reserveScoring(_ id: [UInt8], customers: Int) {
        peers[id]?.scoring += 1
        peers[id]?.customers += customers
    }

    /// The shard `id` scored is its to hold (its customers were counted when it was sent).
    func holdScored(_ id: [UInt8]) {
        peers[id]?.scoring -= 1
        peers[id]?.holds += 1
    }

    /// A shard `id` was scoring will not be held by it (another copy won, or its answer came late): one
    /// fewer scoring, its customers' room given back.
    func releaseScoring(_ id: [UInt8], customers: Int) {
        peers[id]?.scoring -= 1
        peers[id]?.customers -= customers
    }

    /// A shard of `customers` customers was given to `id` to hold at once (RESTORE: rebuilt and replayed).
    func reserveHeld(_ id: [UInt8], customers: Int) {
        peers[id]?.holds += 1
        peers[id]?.customers += customers
    }

    func name(_ id: [UInt8]) -> String { peers[id]?.name ?? String(decoding: id, as: UTF8.self) }

    func send(_ id: [UInt8], _ m: WireMessage) throws {
        do {
            try socket.send([id, m.encode()])
            messagesOut += 1
            metrics.sent()
        } catch let e as ZMQError where e.code == EHOSTUNREACH {
            // The worker disconnected; its silence is noticed by the liveness check.
        }
    }

    /// Workers in arrival order.
    var ordered: [Peer] { arrival.compactMap { peers[$0] } }
    /// Workers in the order they are offered work: fewest strikes first, then arrival.
    var trusted: [Peer] { ordered.enumerated().sorted { ($0.element.strikes, $0.offset) < ($1.element.strikes, $1.offset) }.map(\.element) }

    /// Waits up to `timeoutMs` for one message; handles HELLO, HEARTBEAT, BYE and malformed frames itself
    /// and returns anything else with its sender.
    func pump(timeoutMs: Int) throws -> ([UInt8], WireMessage)? {
        if let why = abortCheck?() { throw ClusterError.aborted(why) }
        for line in zapLines?.drain() ?? [] { refused += 1; metrics.refused(); log(line) }
        try housekeeping()
        guard try socket.poll(timeoutMs: timeoutMs), let frames = try socket.receive() else { return nil }
        messagesIn += 1
        metrics.received()
        guard frames.count == 2 else { dropped += 1; metrics.dropped(); log("dropped a message of \(frames.count) frames"); return nil }
        let id = frames[0]
        largestFrame = max(largestFrame, frames[1].count)
        guard peers[id] != nil || WireMessage.startsAsHello(frames[1]) else {
            // Not welcomed: only HELLO is accepted, and anything else is dropped before it is decoded. A worker
            // of an earlier coordinator on this endpoint (one that was restarted) is told BYE, so it says HELLO
            // again at once.
            dropped += 1
            metrics.dropped()
            log("dropped a message of \(frames[1].count) bytes from \(name(id)), which has not said HELLO; told it BYE")
            try send(id, .bye)
            return nil
        }
        let m: WireMessage
        do { m = try WireMessage.decode(frames[1]) } catch {
            dropped += 1
            metrics.dropped()
            log("dropped a malformed message from \(name(id)): \(error)")
            return nil
        }
        if case let .hello(worker, software, cores, fp, most, served, held) = m {
            try hello(id, worker, software, cores, fp, maxCustomers: most, served: served, held: held)
            return nil
        }
        peers[id]!.lastSeen = Date()
        switch m {
        case .heartbeat: return nil
        case .bye:
            let p = remove(id)!
            log("worker \(p.name) left" + (p.holds + p.scoring > 0 ? " holding \(p.holds + p.scoring) shard(s); they go to other workers" : ""))
            return nil
        case .failed(_, let reason):
            metrics.shardFailed()
            throw ClusterError.workerFailed(worker: name(id), reason: reason)
        default: return (id, m)
        }
    }

    /// Forgets a welcomed worker and hands it to the caller as lost (its shards go to other workers).
    @discardableResult
    func remove(_ id: [UInt8]) -> Peer? {
        guard let p = peers.removeValue(forKey: id) else { return nil }
        arrival.removeAll { $0 == id }
        lost.append(p)
        metrics.workers(peers.count)
        return p
    }

    /// Drops a worker that missed a deadline or sent a reply that does not match what it was asked: it is
    /// told BYE, its shards go to other workers, and anything more it sends is dropped until it says HELLO again.
    func expel(_ id: [UInt8], _ why: String) {
        guard let p = remove(id) else { return }
        expelled += 1
        strikes[p.name, default: 0] += 1
        metrics.lost()
        try? send(id, .bye)
        log("dropped worker \(p.name): \(why)" + (p.holds + p.scoring > 0 ? "; its \(p.holds + p.scoring) shard(s) go to other workers" : ""))
    }

    func hello(_ id: [UInt8], _ worker: String, _ software: String, _ cores: UInt16, _ fp: UInt64, maxCustomers: UInt64, served: UInt64,
               held: [HeldPropensities] = []) throws {
        if peers[id] != nil { return }
        if fp != fingerprint.digest {
            try refuse(id, worker: "\(worker) (\(software))", "store fingerprint \(String(fp, radix: 16)) differs from the coordinator's \(fingerprint) (catalogue, models, profile count or imported data differ): give the worker a copy of the coordinator's store (`cluster/ship-store`)")
            return
        }
        if served < servedThrough {
            // A HELLO sent before the plan may be older than responses a store shared with the coordinator
            // holds now: the worker says HELLO again until welcomed (with a fresh count), so only a store that
            // still lacks them a second later is refused.
            let first = lacking[id] ?? Date()
            lacking[id] = first
            if Date().timeIntervalSince(first) < 1 { return }
            lacking[id] = nil
            try refuse(id, worker: "\(worker) (\(software))", Self.missingResponses(served: served, run: servedThrough))
            return
        }
        lacking[id] = nil
        peers[id] = Peer(routingID: id, name: worker, threads: max(1, Int(cores)), lastSeen: Date(),
                         maxCustomers: maxCustomers == 0 ? .max : Int(clamping: maxCustomers), strikes: strikes[worker] ?? 0, served: served,
                         heldPropensities: Dictionary(held.map { ($0.run, Set($0.shards)) }, uniquingKeysWith: { $0.union($1) }))
        arrival.append(id)
        try send(id, .welcome(coordinatorID: coordinatorID))
        metrics.workers(peers.count)
        log("worker \(worker) joined (\(cores) threads" + (maxCustomers == 0 ? "" : ", at most \(maxCustomers) customers") + ", \(software)); \(peers.count) connected")
    }

    /// Refuses a worker (REFUSE with the reason), counted and logged.
    private func refuse(_ id: [UInt8], worker: String, _ reason: String) throws {
        refused += 1
        metrics.refused()
        log("refused worker \(worker): \(reason)")
        try send(id, .refuse(reason: reason))
    }

    /// Why a worker whose store holds served responses up to `served` cannot score a run reading them up to `run`.
    public static func missingResponses(store: String = "the worker's store", served: UInt64, run: UInt64) -> String {
        "\(store) holds the responses served up to sequence number \(served), the run reads them up to \(run): give the worker a fresh copy of the coordinator's store (`nextbest worker-copy`, `cluster/ship-store`)"
    }

    /// The run reads served responses up to `bound`: from now on a worker whose HELLO says its store holds
    /// fewer is refused. A worker welcomed before (its HELLO may be older than the responses: a store it shares
    /// with the coordinator gains them as they are served) checks its store itself when given a shard, and
    /// leaves (BYE, its shard going to another worker) when the store lacks them.
    func require(servedThrough bound: UInt64) {
        servedThrough = bound
    }

    /// Heartbeats every second; a worker silent for longer than the timeout is dropped (an error if it
    /// holds work).
    func housekeeping() throws {
        let now = Date()
        // Time the coordinator spent away from the socket (a long master solve) is not the workers'
        // silence: their heartbeats wait in the queue. Only time spent listening counts.
        let elapsed = now.timeIntervalSince(lastListened)
        let away = elapsed - heartbeat
        if away > 0 { for id in arrival { peers[id]?.lastSeen += away } }
        clock += max(0, min(elapsed, heartbeat))
        lastListened = now
        if now.timeIntervalSince(lastBeat) >= heartbeat {
            lastBeat = now
            for id in arrival { try send(id, .heartbeat) }
        }
        for id in arrival {
            guard let p = peers[id], now.timeIntervalSince(p.lastSeen) > workerTimeout else { continue }
            remove(id)
            metrics.lost()
            log("worker \(p.name) silent for \(deadAfter) heartbeats (\(FixedDecimal.string(workerTimeout, decimals: 1)) s): declared dead"
                + (p.holds + p.scoring > 0 ? "; its \(p.holds + p.scoring) shard(s) go to other workers" : ""))
        }
    }

    /// The workers lost since the last call.
    func takeLost() -> [Peer] { defer { lost = [] }; return lost }

    /// The live worker with room for a shard of `customers` with the fewest strikes, then holding the fewest
    /// shards (ties: earliest arrival); waits up to `timeout` seconds for one to join when none has room.
    func roomiest(for customers: Int, timeout: Double) throws -> Peer {
        let start = Date()
        var told = false
        while true {
            if let p = ordered.filter({ $0.fits(customers) }).min(by: { ($0.strikes, $0.holds) < ($1.strikes, $1.holds) }) { return p }
            if Date().timeIntervalSince(start) > timeout {
                if peers.isEmpty { throw ClusterError.noWorkers(waitedSeconds: Int(timeout), minimum: 1) }
                throw ClusterError.noRoom(waitedSeconds: Int(timeout), shardCustomers: customers, room: ordered.map(\.room))
            }
            if !told && !peers.isEmpty {
                told = true
                log("no worker has room for a shard of \(customers) customers (\(ordered.map(\.room).joined(separator: ", "))); waiting for another worker")
            }
            _ = try pump(timeoutMs: 100)
        }
    }

    /// Tells every worker the run is over (RELEASE) while this coordinator stays: sent once the lists are
    /// merged, so the workers free their shards (and local ones exit) while the coordinator writes the rest.
    func release(run: UInt64) {
        for id in arrival { try? send(id, .release(run: run)) }
    }

    /// Tells every worker the run is over and that this coordinator is leaving, then closes the socket
    /// (pending messages are still delivered for up to a second).
    func farewell(run: UInt64) {
        for id in arrival {
            try? send(id, .release(run: run))
            try? send(id, .bye)
        }
        socket.close()
        zap?.stop()
    }
}
