import NextBestCore

/// The shards of one earlier run whose propensities (every plan model's) a worker holds in memory, as its
/// HELLO announces them.
public struct HeldPropensities: Sendable, Equatable {
    public var run: UInt64
    public var shards: [UInt32]
    public init(run: UInt64, shards: [UInt32]) { self.run = run; self.shards = shards }
}

/// The messages coordinator and workers exchange, and their binary encoding (protocol version `version`).
///
/// Every message is one ZeroMQ frame (after the ROUTER's routing-id frame): `"NB"`, version `u8`, type
/// `u8`, then the body. Integers are little-endian; `Double` as IEEE-754 bits; strings are `u16` length +
/// UTF-8; arrays are `u32` count + elements; an optional `u64` is a `u8` flag then the value. Decoding
/// never traps: a malformed, truncated or unknown message is a `WireError`. See docs/protocol.md.
public enum WireMessage: Sendable, Equatable {
    /// Worker → coordinator: who it is, what store it has, the most customers it will hold at once
    /// (0: no limit), the last response sequence number its store holds (`served`: a run reading served
    /// responses up to a later one refuses the worker) and the shards of earlier runs whose propensities it
    /// holds in memory (`held`: a rescore of such a run sends it those shards without their kept columns).
    case hello(workerID: String, software: String, cores: UInt16, fingerprint: UInt64, maxCustomers: UInt64 = 0, served: UInt64 = 0,
               held: [HeldPropensities] = [])
    /// Coordinator → worker: accepted.
    case welcome(coordinatorID: String)
    /// Coordinator → worker: refused, and why.
    case refuse(reason: String)
    /// Coordinator → worker: score this shard (customer ids `lower ..< upper`, nil = to the end), reading the
    /// served responses up to sequence number `served` (the run's plan's bound).
    case assign(run: UInt64, shard: UInt32, attempt: UInt32, lower: UInt64, upper: UInt64?, served: UInt64)
    /// Worker → coordinator: the shard is scored and its candidates are held; `rebuilt`: made from the table
    /// the worker held of the run rescored, only the changed models' offers made again.
    case scored(run: UInt64, shard: UInt32, attempt: UInt32, customers: UInt64, candidates: UInt64, rebuilt: Bool = false)
    /// Coordinator → worker: evaluate every held shard of the run at this pricing request (price points,
    /// objective weights, a point per customer bucket).
    case prices(run: UInt64, round: UInt32, request: PricingRequest)
    /// Worker → coordinator: one shard's aggregates for a round, in total and per customer bucket.
    case aggregates(run: UInt64, shard: UInt32, attempt: UInt32, round: UInt32, aggregates: Aggregates)
    /// Either way: still alive.
    case heartbeat
    /// Either way: leaving.
    case bye
    /// Coordinator → worker: report the feasibility facts of every held shard of the run.
    case precheck(run: UInt64, seq: UInt32)
    /// Worker → coordinator: one shard's feasibility facts.
    case facts(run: UInt64, shard: UInt32, seq: UInt32, facts: PrecheckFacts)
    /// Coordinator → worker: copy selection slot `from` over `to` in every held shard (no reply).
    case copySlot(run: UInt64, seq: UInt32, from: UInt8, to: UInt8)
    /// Coordinator → worker: report the use and objective of a slot's selection in every held shard.
    case stateRequest(run: UInt64, seq: UInt32, slot: UInt8)
    /// Worker → coordinator: one shard's selection state.
    case state(run: UInt64, shard: UInt32, seq: UInt32, state: SelectionState)
    /// Coordinator → worker: every customer's best repair move toward `goal`, given the global use.
    /// `limit`: each shard sends at most its best `limit` moves (0 = all of them).
    case propose(run: UInt64, seq: UInt32, slot: UInt8, goal: Repair.Goal, limit: UInt32, use: [Int64])
    /// Worker → coordinator: one shard's proposed moves, in customer order.
    case moves(run: UInt64, shard: UInt32, seq: UInt32, moves: Repair.MoveList)
    /// Coordinator → worker: apply the accepted changes to one shard's slot (no reply).
    case apply(run: UInt64, seq: UInt32, slot: UInt8, shard: UInt32, changes: [Repair.Change])
    /// Coordinator → worker: send the ranked lists of a slot's selection in one held shard.
    case collect(run: UInt64, seq: UInt32, slot: UInt8, shard: UInt32)
    /// Worker → coordinator: one shard's `nba.csv` rows (no header), the same lists in binary (`NBALists`,
    /// what the run journal keeps; the rows are rendered from them) and their exact totals.
    case rows(run: UInt64, shard: UInt32, seq: UInt32, csv: [UInt8], lists: [UInt8], totals: RunTotals)
    /// Coordinator → worker: the run is over; drop its shards (no reply).
    case release(run: UInt64)
    /// Worker → coordinator: the worker cannot go on with the run, and why.
    case failed(run: UInt64, reason: String)
    /// Coordinator → worker: take over a shard of a lost worker: score it, then replay the operations its
    /// selections went through, so it answers exactly as the lost worker would have. Reply: SCORED.
    /// `served`: as in ASSIGN.
    case restore(run: UInt64, shard: UInt32, attempt: UInt32, lower: UInt64, upper: UInt64?, ops: [ShardOp], served: UInt64)
    /// Coordinator → worker: forget this shard (another worker's copy won).
    case drop(run: UInt64, shard: UInt32)
    /// Coordinator → worker: score this shard reusing an earlier run's propensities: per plan model, its
    /// column in `stored` (customers × `stride`, customers in id order) or -1 to evaluate it; `served`: as in
    /// ASSIGN. With `base` (not 0) `stored` is empty: the columns are those the worker holds of shard `shard`
    /// of run `base` (it said so in its HELLO), whose models must be `baseModels`, in that order. Reply: SCORED.
    case rescore(run: UInt64, shard: UInt32, attempt: UInt32, lower: UInt64, upper: UInt64?, source: [Int64], stride: UInt32, stored: [Float],
                 served: UInt64, base: UInt64 = 0, baseModels: [String] = [])
    /// Worker → coordinator (after ROWS): one shard's propensities under every plan model, kept with the run.
    case props(run: UInt64, shard: UInt32, seq: UInt32, models: [String], values: [Float])
    /// Coordinator → worker: like PRICES, for the customers of a `CustomerSample` only (one in `modulus`,
    /// a power of two); no selection changes. Reply: one AGGREGATES per held shard.
    case sample(run: UInt64, seq: UInt32, modulus: UInt32, request: PricingRequest)
    /// Coordinator → worker: for every held shard, the customers whose choice differs between the points
    /// their bucket mixes (`active[bucket]`, indices into `request.points`; `passes[bucket]`, parallel to
    /// it or empty, the kept pass that solved the bucket at each point). Reply: one SPLITS per held shard.
    case split(run: UInt64, seq: UInt32, request: PricingRequest, active: [[UInt8]], passes: [[UInt32]])
    /// Worker → coordinator: one shard's split customers.
    case splits(run: UInt64, shard: UInt32, seq: UInt32, customers: [SplitCustomer])
    /// Coordinator → worker: for every held shard, its customers `customers[shard]` (indices in the shard)
    /// with every candidate (for the 0-1 program over the customers the LP leaves fractional). Reply: one
    /// SPLITS per held shard.
    case candidates(run: UInt64, seq: UInt32, customers: [[Int32]])

    public static let version: UInt8 = 8
    static let magic: (UInt8, UInt8) = (0x4E, 0x42) // "NB"

    var typeCode: UInt8 {
        switch self {
        case .hello: return 1
        case .welcome: return 2
        case .refuse: return 3
        case .assign: return 4
        case .scored: return 5
        case .prices: return 6
        case .aggregates: return 7
        case .heartbeat: return 8
        case .bye: return 9
        case .precheck: return 10
        case .facts: return 11
        case .copySlot: return 12
        case .stateRequest: return 13
        case .state: return 14
        case .propose: return 15
        case .moves: return 16
        case .apply: return 17
        case .collect: return 18
        case .rows: return 19
        case .release: return 20
        case .failed: return 21
        case .restore: return 22
        case .drop: return 23
        case .rescore: return 24
        case .props: return 25
        case .sample: return 26
        case .split: return 27
        case .splits: return 28
        case .candidates: return 29
        }
    }

    /// The message's name, for logs.
    public var kindName: String {
        switch self {
        case .hello: return "HELLO"
        case .welcome: return "WELCOME"
        case .refuse: return "REFUSE"
        case .assign: return "ASSIGN"
        case .scored: return "SCORED"
        case .prices: return "PRICES"
        case .aggregates: return "AGGREGATES"
        case .heartbeat: return "HEARTBEAT"
        case .bye: return "BYE"
        case .precheck: return "PRECHECK"
        case .facts: return "FACTS"
        case .copySlot: return "COPY"
        case .stateRequest: return "STATE?"
        case .state: return "STATE"
        case .propose: return "PROPOSE"
        case .moves: return "MOVES"
        case .apply: return "APPLY"
        case .collect: return "COLLECT"
        case .rows: return "ROWS"
        case .release: return "RELEASE"
        case .failed: return "FAILED"
        case .restore: return "RESTORE"
        case .drop: return "DROP"
        case .rescore: return "RESCORE"
        case .props: return "PROPS"
        case .sample: return "SAMPLE"
        case .split: return "SPLIT"
        case .splits: return "SPLITS"
        case .candidates: return "CANDIDATES"
        }
    }

    /// The message as one frame.
    public func encode() -> [UInt8] {
        var w = WireWriter()
        w.u8(Self.magic.0); w.u8(Self.magic.1); w.u8(Self.version); w.u8(typeCode)
        switch self {
        case let .hello(id, software, cores, fp, most, served, held):
            w.string(id); w.string(software); w.u16(cores); w.u64(fp); w.u64(most); w.u64(served)
            w.u32(UInt32(held.count)); for h in held { w.u64(h.run); w.u32(UInt32(h.shards.count)); for s in h.shards { w.u32(s) } }
        case let .welcome(id): w.string(id)
        case let .refuse(reason): w.string(reason)
        case let .assign(run, shard, attempt, lower, upper, served):
            w.u64(run); w.u32(shard); w.u32(attempt); w.u64(lower); w.optionalU64(upper); w.u64(served)
        case let .scored(run, shard, attempt, customers, candidates, rebuilt):
            w.u64(run); w.u32(shard); w.u32(attempt); w.u64(customers); w.u64(candidates); w.u8(rebuilt ? 1 : 0)
        case let .prices(run, round, request):
            w.u64(run); w.u32(round); w.request(request)
        case let .aggregates(run, shard, attempt, round, a):
            w.u64(run); w.u32(shard); w.u32(attempt); w.u32(round); w.aggregates(a)
        case .heartbeat, .bye: break
        case let .precheck(run, seq): w.u64(run); w.u32(seq)
        case let .facts(run, shard, seq, f): w.u64(run); w.u32(shard); w.u32(seq); w.facts(f)
        case let .copySlot(run, seq, from, to): w.u64(run); w.u32(seq); w.u8(from); w.u8(to)
        case let .stateRequest(run, seq, slot): w.u64(run); w.u32(seq); w.u8(slot)
        case let .state(run, shard, seq, st): w.u64(run); w.u32(shard); w.u32(seq); w.int64s(st.use); w.i64(st.objectiveMicros)
        case let .propose(run, seq, slot, goal, limit, use):
            w.u64(run); w.u32(seq); w.u8(slot); w.goal(goal); w.u32(limit); w.int64s(use)
        case let .moves(run, shard, seq, moves): w.u64(run); w.u32(shard); w.u32(seq); w.moves(moves)
        case let .apply(run, seq, slot, shard, changes): w.u64(run); w.u32(seq); w.u8(slot); w.u32(shard); w.changes(changes)
        case let .collect(run, seq, slot, shard): w.u64(run); w.u32(seq); w.u8(slot); w.u32(shard)
        case let .rows(run, shard, seq, csv, lists, t):
            w.u64(run); w.u32(shard); w.u32(seq); w.u32(UInt32(csv.count)); w.bytes.append(contentsOf: csv)
            w.u32(UInt32(lists.count)); w.bytes.append(contentsOf: lists); w.totals(t)
        case let .release(run): w.u64(run)
        case let .failed(run, reason): w.u64(run); w.string(reason)
        case let .restore(run, shard, attempt, lower, upper, ops, served):
            w.u64(run); w.u32(shard); w.u32(attempt); w.u64(lower); w.optionalU64(upper); w.ops(ops); w.u64(served)
        case let .drop(run, shard): w.u64(run); w.u32(shard)
        case let .rescore(run, shard, attempt, lower, upper, source, stride, stored, served, base, baseModels):
            w.u64(run); w.u32(shard); w.u32(attempt); w.u64(lower); w.optionalU64(upper); w.int64s(source); w.u32(stride); w.floats(stored); w.u64(served)
            w.u64(base); w.u32(UInt32(baseModels.count)); for m in baseModels { w.string(m) }
        case let .props(run, shard, seq, models, values):
            w.u64(run); w.u32(shard); w.u32(seq); w.u32(UInt32(models.count)); for m in models { w.string(m) }; w.floats(values)
        case let .sample(run, seq, modulus, request):
            w.u64(run); w.u32(seq); w.u32(modulus); w.request(request)
        case let .split(run, seq, request, active, passes):
            w.u64(run); w.u32(seq); w.request(request); w.active(active); w.passes(passes)
        case let .splits(run, shard, seq, customers):
            w.u64(run); w.u32(shard); w.u32(seq); w.splitCustomers(customers)
        case let .candidates(run, seq, customers):
            w.u64(run); w.u32(seq); w.u32(UInt32(customers.count)); for c in customers { w.u32(UInt32(c.count)); for i in c { w.i32(i) } }
        }
        return w.bytes
    }

    /// Whether `frame` starts as a HELLO of this version (magic, version, type), read without decoding the
    /// rest: what a coordinator accepts from a peer it has not welcomed.
    public static func startsAsHello(_ frame: [UInt8]) -> Bool {
        frame.count >= 4 && frame[0] == magic.0 && frame[1] == magic.1 && frame[2] == version && frame[3] == 1
    }

    /// Reads one frame; throws `WireError` for anything that is not a well-formed message of this version.
    /// `keptRows`: the frame was kept in a run journal, where ROWS written before the propensity bins
    /// were added end after `fatigued` (their bins read as zeros); on the wire they are an error.
    public static func decode(_ frame: [UInt8], keptRows: Bool = false) throws(WireError) -> WireMessage {
        var r = WireReader(frame)
        guard frame.count >= 4 else { throw .truncated(frame.count) }
        let m0 = try r.u8(), m1 = try r.u8()
        guard m0 == magic.0, m1 == magic.1 else { throw .notNextBest }
        let v = try r.u8()
        guard v == version else { throw .version(v) }
        let t = try r.u8()
        let msg: WireMessage
        switch t {
        case 1: msg = .hello(workerID: try r.string(), software: try r.string(), cores: try r.u16(), fingerprint: try r.u64(),
                             maxCustomers: try r.u64(), served: try r.u64(), held: try r.heldPropensities())
        case 2: msg = .welcome(coordinatorID: try r.string())
        case 3: msg = .refuse(reason: try r.string())
        case 4: msg = .assign(run: try r.u64(), shard: try r.u32(), attempt: try r.u32(), lower: try r.u64(), upper: try r.optionalU64(), served: try r.u64())
        case 5: msg = .scored(run: try r.u64(), shard: try r.u32(), attempt: try r.u32(), customers: try r.u64(), candidates: try r.u64(), rebuilt: try r.flag())
        case 6: msg = .prices(run: try r.u64(), round: try r.u32(), request: try r.request())
        case 7: msg = .aggregates(run: try r.u64(), shard: try r.u32(), attempt: try r.u32(), round: try r.u32(), aggregates: try r.aggregates())
        case 8: msg = .heartbeat
        case 9: msg = .bye
        case 10: msg = .precheck(run: try r.u64(), seq: try r.u32())
        case 11: msg = .facts(run: try r.u64(), shard: try r.u32(), seq: try r.u32(), facts: try r.facts())
        case 12: msg = .copySlot(run: try r.u64(), seq: try r.u32(), from: try r.u8(), to: try r.u8())
        case 13: msg = .stateRequest(run: try r.u64(), seq: try r.u32(), slot: try r.u8())
        case 14: msg = .state(run: try r.u64(), shard: try r.u32(), seq: try r.u32(), state: SelectionState(use: try r.int64s(), objectiveMicros: try r.i64()))
        case 15:
            let run = try r.u64(), seq = try r.u32(), slot = try r.u8(), goal = try r.goal()
            msg = .propose(run: run, seq: seq, slot: slot, goal: goal, limit: try r.u32(), use: try r.int64s())
        case 16:
            let run = try r.u64(), shard = try r.u32(), seq = try r.u32()
            msg = .moves(run: run, shard: shard, seq: seq, moves: try r.moveList(shard: shard))
        case 17: msg = .apply(run: try r.u64(), seq: try r.u32(), slot: try r.u8(), shard: try r.u32(), changes: try r.changes())
        case 18: msg = .collect(run: try r.u64(), seq: try r.u32(), slot: try r.u8(), shard: try r.u32())
        case 19:
            let run = try r.u64(), shard = try r.u32(), seq = try r.u32()
            let n = try r.count(1, "the rows")
            let csv = Array(try r.take(n))
            let lists = Array(try r.take(try r.count(1, "the lists")))
            msg = .rows(run: run, shard: shard, seq: seq, csv: csv, lists: lists, totals: try r.totals(keptRows: keptRows))
        case 20: msg = .release(run: try r.u64())
        case 21: msg = .failed(run: try r.u64(), reason: try r.string())
        case 22:
            msg = .restore(run: try r.u64(), shard: try r.u32(), attempt: try r.u32(), lower: try r.u64(), upper: try r.optionalU64(), ops: try r.ops(),
                           served: try r.u64())
        case 23: msg = .drop(run: try r.u64(), shard: try r.u32())
        case 24:
            msg = .rescore(run: try r.u64(), shard: try r.u32(), attempt: try r.u32(), lower: try r.u64(), upper: try r.optionalU64(),
                           source: try r.int64s(), stride: try r.u32(), stored: try r.floats(), served: try r.u64(),
                           base: try r.u64(), baseModels: try r.modelIDs())
        case 25: msg = .props(run: try r.u64(), shard: try r.u32(), seq: try r.u32(), models: try r.modelIDs(), values: try r.floats())
        case 26: msg = .sample(run: try r.u64(), seq: try r.u32(), modulus: try r.u32(), request: try r.request())
        case 27: msg = .split(run: try r.u64(), seq: try r.u32(), request: try r.request(), active: try r.active(), passes: try r.passes())
        case 28: msg = .splits(run: try r.u64(), shard: try r.u32(), seq: try r.u32(), customers: try r.splitCustomers())
        case 29:
            let run = try r.u64(), seq = try r.u32()
            let n = try r.count(4, "a list of shards' customers")
            var customers: [[Int32]] = []
            for _ in 0..<n {
                let m = try r.count(4, "a shard's customers")
                var c: [Int32] = []
                for _ in 0..<m { c.append(try r.i32()) }
                customers.append(c)
            }
            msg = .candidates(run: run, seq: seq, customers: customers)
        default: throw .unknownType(t)
        }
        guard r.atEnd else { throw .trailing(frame.count - r.offset) }
        return msg
    }
}

/// Why a frame is not a valid message.
public enum WireError: Error, CustomStringConvertible, Equatable {
    case truncated(Int)
    case notNextBest
    case version(UInt8)
    case unknownType(UInt8)
    case trailing(Int)
    case tooLarge(String)
    case badString
    case badValue(String)

    public var description: String {
        switch self {
        case .truncated(let n): return "message truncated (\(n) bytes)"
        case .notNextBest: return "not a nextbest message (bad magic)"
        case .version(let v): return "protocol version \(v) is not supported (this build speaks \(WireMessage.version))"
        case .unknownType(let t): return "unknown message type \(t)"
        case .trailing(let n): return "\(n) unexpected bytes after the message"
        case .tooLarge(let what): return "\(what) is larger than the frame"
        case .badString: return "a string is not valid UTF-8"
        case .badValue(let what): return "\(what) is not a valid value"
        }
    }
}

/// Appends little-endian fields.
struct WireWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func optionalU64(_ v: UInt64?) { if let v { u8(1); u64(v) } else { u8(0) } }
    mutating func string(_ s: String) {
        let b = Array(s.utf8.prefix(Int(UInt16.max)))
        u16(UInt16(b.count)); bytes.append(contentsOf: b)
    }
    mutating func doubles(_ a: [Double]) { u32(UInt32(a.count)); for d in a { u64(d.bitPattern) } }
    /// A pricing request: point count `u8`, per point its weight and prices, then the bucket map.
    mutating func request(_ q: PricingRequest) {
        u8(UInt8(q.points.count))
        for (p, wt) in zip(q.points, q.weights) { f64(wt); doubles(p.upper); doubles(p.lower) }
        u32(UInt32(q.bucketPoint.count)); bytes.append(contentsOf: q.bucketPoint)
        u32(q.pass)
        u32(UInt32(q.bucketPass.count)); for t in q.bucketPass { u32(t) }
    }
    mutating func int64s(_ a: [Int64]) { u32(UInt32(a.count)); for v in a { i64(v) } }
    mutating func floats(_ a: [Float]) {
        u32(UInt32(a.count))
        a.withUnsafeBufferPointer { b in b.withMemoryRebound(to: UInt8.self) { bytes.append(contentsOf: $0) } }  // little-endian hosts
    }
}

/// Reads little-endian fields with bounds checks; never traps.
struct WireReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ b: [UInt8]) { bytes = b }

    var atEnd: Bool { offset == bytes.count }

    mutating func take(_ n: Int) throws(WireError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - offset else { throw .truncated(bytes.count) }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }

    mutating func u8() throws(WireError) -> UInt8 { try take(1).first! }
    /// A `u8` that must be 0 (false) or 1 (true).
    mutating func flag() throws(WireError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        case let v: throw .badValue("flag \(v)")
        }
    }
    /// `n` little-endian bytes as an unsigned integer (bounds checked first).
    @inline(__always) mutating func fixed<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) throws(WireError) -> T {
        let n = MemoryLayout<T>.size
        guard n <= bytes.count - offset else { throw .truncated(bytes.count) }
        let v = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        offset += n
        return T(littleEndian: v)
    }
    mutating func u16() throws(WireError) -> UInt16 { try fixed(UInt16.self) }
    mutating func u32() throws(WireError) -> UInt32 { try fixed(UInt32.self) }
    mutating func u64() throws(WireError) -> UInt64 { try fixed(UInt64.self) }
    mutating func i64() throws(WireError) -> Int64 { Int64(bitPattern: try u64()) }
    mutating func i32() throws(WireError) -> Int32 { Int32(bitPattern: try u32()) }
    mutating func f64() throws(WireError) -> Double { Double(bitPattern: try u64()) }
    mutating func optionalU64() throws(WireError) -> UInt64? {
        switch try u8() {
        case 0: return nil
        case 1: return try u64()
        default: throw .truncated(bytes.count)
        }
    }
    mutating func string() throws(WireError) -> String {
        let n = Int(try u16())
        let s = try take(n)
        guard let str = String(validating: s, as: UTF8.self) else { throw .badString }
        return str
    }
    mutating func count(_ width: Int, _ what: String) throws(WireError) -> Int {
        let n = Int(try u32())
        guard n <= (bytes.count - offset) / width else { throw .tooLarge(what) }
        return n
    }
    mutating func doubles() throws(WireError) -> [Double] {
        let n = try count(8, "a list of numbers")
        var out: [Double] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(Double(bitPattern: try u64())) }
        return out
    }
    mutating func floats() throws(WireError) -> [Float] {
        let n = try count(4, "a list of propensities")
        var out = [Float](repeating: 0, count: n)
        let start = offset
        bytes.withUnsafeBytes { src in out.withUnsafeMutableBytes { dst in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + 4 * n)])) } }
        offset += 4 * n
        return out
    }
    mutating func request() throws(WireError) -> PricingRequest {
        let n = Int(try u8())
        var points: [Prices] = [], weights: [Double] = []
        for _ in 0..<n {
            weights.append(try f64())
            var p = Prices(count: 0)
            p.upper = try doubles(); p.lower = try doubles()
            points.append(p)
        }
        let m = try count(1, "a bucket map")
        let bucketPoint = Array(try take(m))
        let pass = try u32()
        let k = try count(4, "a bucket pass map")
        var bucketPass: [UInt32] = []
        bucketPass.reserveCapacity(k)
        for _ in 0..<k { bucketPass.append(try u32()) }
        return PricingRequest(points: points, weights: weights, bucketPoint: bucketPoint, pass: pass, bucketPass: bucketPass)
    }
    mutating func int64s() throws(WireError) -> [Int64] {
        let n = try count(8, "a list of counts")
        var out: [Int64] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try i64()) }
        return out
    }
}

/// The bodies of the larger messages, written field by field in the order `WireReader` reads them.
extension WireWriter {
    /// A round's aggregates: use, dual, primal, offers, cost, then the per-bucket use and primal.
    mutating func aggregates(_ a: Aggregates) {
        int64s(a.use)
        i64(a.dualMicros); i64(a.primalMicros); i64(a.offers); i64(a.costMicros); int64s(a.bucketUse); int64s(a.bucketPrimal)
    }

    /// Feasibility facts: the capacities, then per row its histogram of cheapest costs.
    mutating func facts(_ f: PrecheckFacts) {
        int64s(f.capacity)
        u32(UInt32(f.cheapest.count))
        for bars in f.cheapest { u32(UInt32(bars.count)); for b in bars { i64(b.cost); i64(b.count) } }
    }

    /// A repair goal: its kind `u8` (0 reduce, 1 increase, 2 improve) and its row `u32`.
    mutating func goal(_ goal: Repair.Goal) {
        switch goal {
        case .reduce(let k): u8(0); u32(UInt32(k))
        case .increase(let k): u8(1); u32(UInt32(k))
        case .improve: u8(2); u32(0)
        }
    }

    /// A move list: its fixed-size records, then the summary of the moves left out.
    mutating func moves(_ moves: Repair.MoveList) {
        u32(UInt32(moves.count))
        bytes.reserveCapacity(bytes.count + moves.count * Repair.MoveList.recordSize)
        for m in moves { Repair.MoveList.appendRecord(m, to: &bytes) }
        u32(UInt32(moves.rest.count))
        for r in moves.rest {
            for u in [r.remove, r.add] { for row in [u.budget, u.product, u.channel, u.region, u.segment] { u16(UInt16(row)) } }
            i64(r.minCost); i64(r.maxCost)
        }
    }

    /// Repair changes: a count, then customer, removed and added candidate of each.
    mutating func changes(_ changes: [Repair.Change]) {
        u32(UInt32(changes.count))
        for c in changes { i32(c.customer); i32(c.remove); i32(c.add) }
    }

    /// A shard's exact run totals (after its rows).
    mutating func totals(_ t: RunTotals) {
        for v in [t.customers, t.customersWithOffers, t.offersMade] { i64(v) }
        for a in [t.byOffer, t.byProduct, t.byChannel, t.byRegion, t.bySegment] { int64s(a) }
        for v in [t.expectedValueMicros, t.costMicros, t.propensityMicros, t.fatigued] { i64(v) }
        int64s(t.propensityBins)
    }

    /// The operations a restored shard replays: a count, then each as a kind `u8` and its fields.
    mutating func ops(_ ops: [ShardOp]) {
        u32(UInt32(ops.count))
        for op in ops {
            switch op {
            case let .evaluate(q): u8(0); request(q)
            case let .copy(from, to): u8(1); u8(from); u8(to)
            case let .apply(slot, changes): u8(2); u8(slot); self.changes(changes)
            }
        }
    }

    /// Per customer bucket, the indices of the points it mixes.
    mutating func active(_ active: [[UInt8]]) {
        u32(UInt32(active.count)); for a in active { u32(UInt32(a.count)); for p in a { u8(p) } }
    }
    mutating func passes(_ passes: [[UInt32]]) {
        u32(UInt32(passes.count)); for a in passes { u32(UInt32(a.count)); for p in a { u32(p) } }
    }

    /// A shard's split customers, each with its chosen list, alternatives and candidates.
    mutating func splitCustomers(_ customers: [SplitCustomer]) {
        u32(UInt32(customers.count))
        for c in customers {
            i32(c.customer); i32(c.regionRow); i32(c.segmentRow); i32(c.maxOffers); i32(c.maxPerFamily)
            u32(UInt32(c.chosen.count)); for x in c.chosen { i32(x) }
            u32(UInt32(c.alternatives.count)); for a in c.alternatives { u32(UInt32(a.count)); for x in a { i32(x) } }
            u32(UInt32(c.options.count))
            for o in c.options {
                i32(o.candidate); i32(o.offer); i32(o.family); i32(o.productRow); i32(o.channelRow)
                i64(o.objectiveMicros); i64(o.costMicros)
            }
        }
    }
}

/// The bodies of the larger messages, read as `WireWriter` writes them; every count is checked against
/// the bytes left before anything is reserved, so a malformed frame is an error, never a trap.
extension WireReader {
    /// A round's aggregates.
    mutating func aggregates() throws(WireError) -> Aggregates {
        var a = Aggregates(rows: 0)
        a.use = try int64s(); a.dualMicros = try i64(); a.primalMicros = try i64(); a.offers = try i64(); a.costMicros = try i64()
        a.bucketUse = try int64s(); a.bucketPrimal = try int64s()
        return a
    }

    /// Feasibility facts: the capacities, then the cost histograms.
    mutating func facts() throws(WireError) -> PrecheckFacts {
        var f = PrecheckFacts(rows: 0)
        f.capacity = try int64s()
        let n = try count(4, "a list of histograms")
        f.cheapest.reserveCapacity(n)
        for _ in 0..<n {
            let m = try count(16, "a cost histogram")
            var bars: [PrecheckFacts.CostCount] = []
            bars.reserveCapacity(m)
            for _ in 0..<m { bars.append(.init(cost: try i64(), count: try i64())) }
            f.cheapest.append(bars)
        }
        return f
    }

    /// A repair goal: kind and row, both read before an unknown kind is refused.
    mutating func goal() throws(WireError) -> Repair.Goal {
        let kind = try u8(), row = try u32()
        switch kind {
        case 0: return .reduce(Int(row))
        case 1: return .increase(Int(row))
        case 2: return .improve
        default: throw .badValue("repair goal \(kind)")
        }
    }

    /// A move list of shard `shard`: its records read in place (they stay in the frame and are read when
    /// merged and chosen), then the summary of the moves left out.
    mutating func moveList(shard: UInt32) throws(WireError) -> Repair.MoveList {
        let n = try count(Repair.MoveList.recordSize, "a list of moves")
        let base = offset
        _ = try take(n * Repair.MoveList.recordSize)
        let k = try count(36, "a summary of moves left out")
        var rest: [Repair.Remainder] = []
        rest.reserveCapacity(k)
        for _ in 0..<k {
            let remove = try remainderUse(), add = try remainderUse()
            rest.append(Repair.Remainder(remove: remove, add: add, minCost: try i64(), maxCost: try i64()))
        }
        return Repair.MoveList(records: bytes, at: base, count: n, shard: Int32(bitPattern: shard), rest: rest)
    }

    /// The rows one side of a left-out move uses (`u16` each; no cost).
    private mutating func remainderUse() throws(WireError) -> Repair.Use {
        Repair.Use(budget: Int32(try u16()), product: Int32(try u16()), channel: Int32(try u16()), region: Int32(try u16()),
                   segment: Int32(try u16()), cost: 0)
    }

    /// Repair changes: customer, removed and added candidate of each.
    mutating func changes() throws(WireError) -> [Repair.Change] {
        let n = try count(12, "a list of changes")
        var changes: [Repair.Change] = []
        changes.reserveCapacity(n)
        for _ in 0..<n { changes.append(Repair.Change(customer: try i32(), remove: try i32(), add: try i32())) }
        return changes
    }

    /// A shard's run totals; with `keptRows`, totals that end after `fatigued` read their bins as zeros.
    mutating func totals(keptRows: Bool) throws(WireError) -> RunTotals {
        let customers = try i64(), withOffers = try i64(), made = try i64()
        let byOffer = try int64s(), byProduct = try int64s(), byChannel = try int64s(), byRegion = try int64s(), bySegment = try int64s()
        var t = RunTotals(offers: 0, products: 0, channels: 0, regions: 0, segments: 0)
        t.customers = customers; t.customersWithOffers = withOffers; t.offersMade = made
        t.byOffer = byOffer; t.byProduct = byProduct; t.byChannel = byChannel; t.byRegion = byRegion; t.bySegment = bySegment
        t.expectedValueMicros = try i64(); t.costMicros = try i64(); t.propensityMicros = try i64(); t.fatigued = try i64()
        t.propensityBins = keptRows && atEnd ? Array(repeating: 0, count: byOffer.count * RunTotals.binCount) : try int64s()
        return t
    }

    /// The operations a restored shard replays.
    mutating func ops() throws(WireError) -> [ShardOp] {
        let n = try count(3, "a list of operations")
        var ops: [ShardOp] = []
        ops.reserveCapacity(n)
        for _ in 0..<n {
            switch try u8() {
            case 0: ops.append(.evaluate(try request()))
            case 1: ops.append(.copy(from: try u8(), to: try u8()))
            case 2: ops.append(.apply(slot: try u8(), changes: try changes()))
            case let k: throw .badValue("operation \(k)")
            }
        }
        return ops
    }

    /// A HELLO's held propensities: per run, its shards.
    mutating func heldPropensities() throws(WireError) -> [HeldPropensities] {
        let n = try count(12, "a list of held runs")
        var held: [HeldPropensities] = []
        for _ in 0..<n {
            let run = try u64()
            let m = try count(4, "a run's held shards")
            var shards: [UInt32] = []
            shards.reserveCapacity(m)
            for _ in 0..<m { shards.append(try u32()) }
            held.append(HeldPropensities(run: run, shards: shards))
        }
        return held
    }

    /// The model ids of a PROPS or RESCORE message.
    mutating func modelIDs() throws(WireError) -> [String] {
        let n = try count(2, "a list of model ids")
        var models: [String] = []
        for _ in 0..<n { models.append(try string()) }
        return models
    }

    /// Per customer bucket, the indices of the points it mixes.
    mutating func active() throws(WireError) -> [[UInt8]] {
        let n = try count(4, "a list of bucket mixes")
        var active: [[UInt8]] = []
        for _ in 0..<n { let m = try count(1, "a bucket's points"); var a: [UInt8] = []; for _ in 0..<m { a.append(try u8()) }; active.append(a) }
        return active
    }
    mutating func passes() throws(WireError) -> [[UInt32]] {
        let n = try count(4, "a list of bucket passes")
        var passes: [[UInt32]] = []
        for _ in 0..<n { let m = try count(4, "a bucket's passes"); var a: [UInt32] = []; for _ in 0..<m { a.append(try u32()) }; passes.append(a) }
        return passes
    }

    /// A shard's split customers.
    mutating func splitCustomers() throws(WireError) -> [SplitCustomer] {
        let n = try count(28, "a list of split customers")
        var customers: [SplitCustomer] = []
        for _ in 0..<n { customers.append(try splitCustomer()) }
        return customers
    }

    /// One split customer: its fields, chosen candidates, alternatives, then candidates.
    private mutating func splitCustomer() throws(WireError) -> SplitCustomer {
        let customer = try i32(), region = try i32(), segment = try i32(), maxOffers = try i32(), maxPerFamily = try i32()
        let chosen = try int32s("a customer's chosen candidates")
        let na = try count(4, "a customer's alternatives")
        var alternatives: [[Int32]] = []
        for _ in 0..<na { alternatives.append(try int32s("an alternative")) }
        let m = try count(36, "a customer's candidates")
        var options: [SplitCustomer.Option] = []
        for _ in 0..<m {
            options.append(SplitCustomer.Option(candidate: try i32(), offer: try i32(), family: try i32(), productRow: try i32(),
                                                channelRow: try i32(), objectiveMicros: try i64(), costMicros: try i64()))
        }
        var c = SplitCustomer(customer: customer, regionRow: region, segmentRow: segment, chosen: chosen, options: options,
                              maxOffers: maxOffers, maxPerFamily: maxPerFamily)
        c.alternatives = alternatives
        return c
    }

    /// A counted list of `i32`s (`what` names it in a count error).
    private mutating func int32s(_ what: String) throws(WireError) -> [Int32] {
        let k = try count(4, what)
        var out: [Int32] = []
        for _ in 0..<k { out.append(try i32()) }
        return out
    }
}
