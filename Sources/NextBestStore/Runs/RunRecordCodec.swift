import NextBestCore

/// The envelope of every run record: byte 0 the record format version, byte 1 the record kind, then the
/// body (little-endian integers, `Double` and `Float` as IEEE-754 bits, strings and arrays as a `u32` count
/// then the elements, an optional as a `u8` flag then the value). See docs/store.md.
public enum RunRecordFormat: Sendable {
    /// The version this build writes. Version 2 (issue 23) keeps a shard's lists in binary (`NBALists`)
    /// and its propensities in a file beside the store; every other record reads as in version 1. Version 3
    /// (issue 26) ends a plan with the served-responses bound (`Plan.servedThrough`): a build that reads
    /// only up to version 2 says the journal was written by a newer nextbest rather than that it is damaged.
    /// Version 4 (issue 23) keeps a shard's lists in a file beside the store (`ListsFileRecord`); the lists
    /// kept in the store by versions 2 and 3 are still read. Version 5 (issue 23) keeps a rescore's
    /// propensities as parts (`PropensityPartsRecord`): the models scored again in a file of its own, the
    /// others in the earlier runs' files, linked.
    public static let version: UInt8 = 5
    /// The versions this build reads: version-1 records of every kind but the kept lists (CSV text,
    /// `RunRecordError.listsAsText`).
    public static let readable: ClosedRange<UInt8> = 1...version
}

/// What a run record holds (byte 1 of the record).
enum RunRecordKind: UInt8, Sendable {
    case plan = 1, state, roundPrices, outcome, recipe, rows, propensities, warm
    /// Version 2: where a shard's propensities file is and how to check it (`PropensityFile`).
    case propensityFile
    /// Version 4: where a shard's lists file is, how to check it, and the shard's totals (`ListsFile`).
    case rowsFile
    /// Version 5: a shard's propensities in several files, a rescore's own and those of earlier runs linked
    /// into its directory (`PropensityPartsRecord`).
    case propensityParts
}

/// Why a run record could not be read (mapped to `RunRepository.Failure` with the run and record named).
enum RunRecordError: Error, Equatable, CustomStringConvertible {
    /// Written before run records existed (JSON, a protocol frame or bare text).
    case oldFormat
    /// A record version this build does not read.
    case version(UInt8)
    case kind(expected: UInt8, found: UInt8)
    case truncated
    case trailing(Int)
    case badValue(String)
    /// Kept lists of version 1 (`nba.csv` text), which this build does not read.
    case listsAsText

    var description: String {
        switch self {
        case .oldFormat: return "it is in the journal format before run records"
        case .version(let v): return "record version \(v) (this build reads \(RunRecordFormat.version))"
        case let .kind(e, f): return "record kind \(f) where kind \(e) belongs"
        case .truncated: return "the record is truncated"
        case .trailing(let n): return "\(n) unexpected bytes after the record"
        case .badValue(let what): return "\(what) is not a valid value"
        case .listsAsText: return "the lists are kept as nba.csv text (run record version 1)"
        }
    }
}

/// A value kept as one run record.
protocol RunRecord {
    static var kind: RunRecordKind { get }
    func write(to w: inout RunRecordWriter)
    init(from r: inout RunRecordReader) throws(RunRecordError)
}

extension RunRecord {
    /// The record's bytes: envelope then body.
    func encoded() -> [UInt8] {
        var w = RunRecordWriter(Self.kind)
        write(to: &w)
        return w.bytes
    }

    /// Reads a whole record of this kind; anything left over is an error.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws(RunRecordError) -> Self {
        var r = try RunRecordReader(bytes, kind: kind)
        let value = try Self(from: &r)
        guard r.remaining == 0 else { throw .trailing(r.remaining) }
        return value
    }
}

/// Appends the fields of a run record.
struct RunRecordWriter {
    private(set) var bytes: [UInt8]

    init(_ kind: RunRecordKind) { bytes = [RunRecordFormat.version, kind.rawValue] }

    mutating func integer<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func int(_ v: Int) { integer(Int64(v)) }
    mutating func double(_ v: Double) { integer(v.bitPattern) }
    mutating func flag(_ present: Bool) { bytes.append(present ? 1 : 0) }
    mutating func raw(_ b: [UInt8]) { integer(UInt32(b.count)); bytes.append(contentsOf: b) }
    mutating func string(_ s: String) { raw(Array(s.utf8)) }
    mutating func optional<T>(_ v: T?, _ body: (inout RunRecordWriter, T) -> Void) {
        flag(v != nil)
        if let v { body(&self, v) }
    }
    mutating func array<T>(_ a: [T], _ body: (inout RunRecordWriter, T) -> Void) {
        integer(UInt32(a.count))
        for x in a { body(&self, x) }
    }
    mutating func doubles(_ a: [Double]) { array(a) { $0.double($1) } }
    mutating func int64s(_ a: [Int64]) { array(a) { $0.integer($1) } }
    /// Floats in bulk, as the host holds them (little-endian hosts only, as the protocol).
    mutating func floats(_ a: [Float]) {
        integer(UInt32(a.count))
        a.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }
    mutating func prices(_ p: Prices) { doubles(p.upper); doubles(p.lower) }
    mutating func mix(_ m: PriceMix) {
        array(m.points) { $0.prices($1) }
        array(m.buckets) { w, b in w.array(b) { $0.int($1) } }
    }
    mutating func request(_ q: PricingRequest) {
        array(q.points) { $0.prices($1) }
        doubles(q.weights)
        raw(q.bucketPoint)
    }
}

/// Reads the fields of a run record with bounds checks; never traps.
struct RunRecordReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 2
    /// The record's format version (one of `RunRecordFormat.readable`).
    let version: UInt8

    /// Checks the envelope: a record of a version this build reads and of `kind`.
    init(_ bytes: UnsafeRawBufferPointer, kind: RunRecordKind) throws(RunRecordError) {
        self.bytes = bytes
        guard bytes.count >= 2 else { throw bytes.isEmpty ? .truncated : .oldFormat }
        // Earlier journals held JSON (`{`), protocol frames (`NB`) and bare state text (lower-case letters).
        if bytes[0] == UInt8(ascii: "{") || bytes[0] == UInt8(ascii: "N") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0]) {
            throw .oldFormat
        }
        guard RunRecordFormat.readable.contains(bytes[0]) else { throw .version(bytes[0]) }
        version = bytes[0]
        guard bytes[1] == kind.rawValue else { throw .kind(expected: kind.rawValue, found: bytes[1]) }
    }

    var remaining: Int { bytes.count - offset }

    mutating func take(_ n: Int) throws(RunRecordError) -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw .truncated }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
    }
    mutating func integer<T: FixedWidthInteger>(_: T.Type = T.self) throws(RunRecordError) -> T {
        T(littleEndian: try take(MemoryLayout<T>.size).loadUnaligned(as: T.self))
    }
    mutating func int() throws(RunRecordError) -> Int {
        let v: Int64 = try integer()
        guard let i = Int(exactly: v) else { throw .badValue("count \(v)") }
        return i
    }
    mutating func double() throws(RunRecordError) -> Double { Double(bitPattern: try integer()) }
    mutating func flag() throws(RunRecordError) -> Bool {
        switch try integer(UInt8.self) {
        case 0: return false
        case 1: return true
        case let f: throw .badValue("flag \(f)")
        }
    }
    /// A count of elements at least `width` bytes each (so a damaged count cannot ask for more than is there).
    mutating func count(_ width: Int) throws(RunRecordError) -> Int {
        let n = Int(try integer(UInt32.self))
        guard n <= remaining / max(width, 1) else { throw .truncated }
        return n
    }
    mutating func raw() throws(RunRecordError) -> [UInt8] { Array(try take(try count(1))) }
    mutating func string() throws(RunRecordError) -> String {
        let b = try take(try count(1))
        guard let s = String(validating: b, as: UTF8.self) else { throw .badValue("a string") }
        return s
    }
    mutating func optional<T>(_ body: (inout RunRecordReader) throws(RunRecordError) -> T) throws(RunRecordError) -> T? {
        try flag() ? try body(&self) : nil
    }
    mutating func array<T>(width: Int, _ body: (inout RunRecordReader) throws(RunRecordError) -> T) throws(RunRecordError) -> [T] {
        let n = try count(width)
        var out: [T] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try body(&self)) }
        return out
    }
    mutating func doubles() throws(RunRecordError) -> [Double] { try array(width: 8) { r throws(RunRecordError) in try r.double() } }
    mutating func int64s() throws(RunRecordError) -> [Int64] { try array(width: 8) { r throws(RunRecordError) in try r.integer() } }
    mutating func floats() throws(RunRecordError) -> [Float] {
        let n = try count(4)
        let src = try take(4 * n)
        var out = [Float](repeating: 0, count: n)
        out.withUnsafeMutableBytes { $0.copyMemory(from: src) }
        return out
    }
    mutating func prices() throws(RunRecordError) -> Prices {
        var p = Prices(count: 0)
        p.upper = try doubles()
        p.lower = try doubles()
        return p
    }
    mutating func mix() throws(RunRecordError) -> PriceMix {
        let points = try array(width: 8) { r throws(RunRecordError) in try r.prices() }
        let buckets = try array(width: 4) { r throws(RunRecordError) in try r.array(width: 8) { r throws(RunRecordError) in try r.int() } }
        return PriceMix(points: points, buckets: buckets)
    }
    mutating func request() throws(RunRecordError) -> PricingRequest {
        let points = try array(width: 8) { r throws(RunRecordError) in try r.prices() }
        return PricingRequest(points: points, weights: try doubles(), bucketPoint: try raw())
    }
}
