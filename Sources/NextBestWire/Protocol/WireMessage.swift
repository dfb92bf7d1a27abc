/// The messages coordinator and workers exchange, and their binary encoding (protocol version 1).
///
/// Every message is one ZeroMQ frame (after the ROUTER's routing-id frame): `"NB"`, version `u8`, type
/// `u8`, then the body. Integers are little-endian; `Double` as IEEE-754 bits; strings are `u16` length +
/// UTF-8; arrays are `u32` count + elements; an optional `u64` is a `u8` flag then the value. Decoding
/// never traps: a malformed, truncated or unknown message is a `WireError`. See docs/protocol.md.
public enum WireMessage: Sendable, Equatable {
    /// Worker → coordinator: who it is and what store it has.
    case hello(workerID: String, software: String, cores: UInt16, fingerprint: UInt64)
    /// Coordinator → worker: accepted.
    case welcome(coordinatorID: String)
    /// Coordinator → worker: refused, and why.
    case refuse(reason: String)
    /// Coordinator → worker: score this shard (customer ids `lower ..< upper`, nil = to the end).
    case assign(run: UInt64, shard: UInt32, attempt: UInt32, lower: UInt64, upper: UInt64?)
    /// Worker → coordinator: the shard is scored and its candidates are held.
    case scored(run: UInt64, shard: UInt32, attempt: UInt32, customers: UInt64, candidates: UInt64)
    /// Coordinator → worker: evaluate every held shard of the run at these prices.
    case prices(run: UInt64, round: UInt32, upper: [Double], lower: [Double])
    /// Worker → coordinator: one shard's aggregates for a round.
    case aggregates(run: UInt64, shard: UInt32, attempt: UInt32, round: UInt32, use: [Int64],
                    dualMicros: Int64, primalMicros: Int64, offers: Int64, costMicros: Int64)
    /// Either way: still alive.
    case heartbeat
    /// Either way: leaving.
    case bye

    public static let version: UInt8 = 1
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
        }
    }

    /// The message as one frame.
    public func encode() -> [UInt8] {
        var w = WireWriter()
        w.u8(Self.magic.0); w.u8(Self.magic.1); w.u8(Self.version); w.u8(typeCode)
        switch self {
        case let .hello(id, software, cores, fp): w.string(id); w.string(software); w.u16(cores); w.u64(fp)
        case let .welcome(id): w.string(id)
        case let .refuse(reason): w.string(reason)
        case let .assign(run, shard, attempt, lower, upper):
            w.u64(run); w.u32(shard); w.u32(attempt); w.u64(lower); w.optionalU64(upper)
        case let .scored(run, shard, attempt, customers, candidates):
            w.u64(run); w.u32(shard); w.u32(attempt); w.u64(customers); w.u64(candidates)
        case let .prices(run, round, upper, lower):
            w.u64(run); w.u32(round); w.doubles(upper); w.doubles(lower)
        case let .aggregates(run, shard, attempt, round, use, dual, primal, offers, cost):
            w.u64(run); w.u32(shard); w.u32(attempt); w.u32(round); w.int64s(use)
            w.i64(dual); w.i64(primal); w.i64(offers); w.i64(cost)
        case .heartbeat, .bye: break
        }
        return w.bytes
    }

    /// Reads one frame; throws `WireError` for anything that is not a well-formed version-1 message.
    public static func decode(_ frame: [UInt8]) throws(WireError) -> WireMessage {
        var r = WireReader(frame)
        guard frame.count >= 4 else { throw .truncated(frame.count) }
        let m0 = try r.u8(), m1 = try r.u8()
        guard m0 == magic.0, m1 == magic.1 else { throw .notNextBest }
        let v = try r.u8()
        guard v == version else { throw .version(v) }
        let t = try r.u8()
        let msg: WireMessage
        switch t {
        case 1: msg = .hello(workerID: try r.string(), software: try r.string(), cores: try r.u16(), fingerprint: try r.u64())
        case 2: msg = .welcome(coordinatorID: try r.string())
        case 3: msg = .refuse(reason: try r.string())
        case 4: msg = .assign(run: try r.u64(), shard: try r.u32(), attempt: try r.u32(), lower: try r.u64(), upper: try r.optionalU64())
        case 5: msg = .scored(run: try r.u64(), shard: try r.u32(), attempt: try r.u32(), customers: try r.u64(), candidates: try r.u64())
        case 6: msg = .prices(run: try r.u64(), round: try r.u32(), upper: try r.doubles(), lower: try r.doubles())
        case 7: msg = .aggregates(run: try r.u64(), shard: try r.u32(), attempt: try r.u32(), round: try r.u32(), use: try r.int64s(),
                                  dualMicros: try r.i64(), primalMicros: try r.i64(), offers: try r.i64(), costMicros: try r.i64())
        case 8: msg = .heartbeat
        case 9: msg = .bye
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

    public var description: String {
        switch self {
        case .truncated(let n): return "message truncated (\(n) bytes)"
        case .notNextBest: return "not a nextbest message (bad magic)"
        case .version(let v): return "protocol version \(v) is not supported (this build speaks \(WireMessage.version))"
        case .unknownType(let t): return "unknown message type \(t)"
        case .trailing(let n): return "\(n) unexpected bytes after the message"
        case .tooLarge(let what): return "\(what) is larger than the frame"
        case .badString: return "a string is not valid UTF-8"
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
    mutating func optionalU64(_ v: UInt64?) { if let v { u8(1); u64(v) } else { u8(0) } }
    mutating func string(_ s: String) {
        let b = Array(s.utf8.prefix(Int(UInt16.max)))
        u16(UInt16(b.count)); bytes.append(contentsOf: b)
    }
    mutating func doubles(_ a: [Double]) { u32(UInt32(a.count)); for d in a { u64(d.bitPattern) } }
    mutating func int64s(_ a: [Int64]) { u32(UInt32(a.count)); for v in a { i64(v) } }
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
    mutating func u16() throws(WireError) -> UInt16 { let s = try take(2); return s.reversed().reduce(0) { $0 << 8 | UInt16($1) } }
    mutating func u32() throws(WireError) -> UInt32 { let s = try take(4); return s.reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func u64() throws(WireError) -> UInt64 { let s = try take(8); return s.reversed().reduce(0) { $0 << 8 | UInt64($1) } }
    mutating func i64() throws(WireError) -> Int64 { Int64(bitPattern: try u64()) }
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
    mutating func int64s() throws(WireError) -> [Int64] {
        let n = try count(8, "a list of counts")
        var out: [Int64] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try i64()) }
        return out
    }
}
