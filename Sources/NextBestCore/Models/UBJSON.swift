import Foundation

/// Decodes Universal Binary JSON (UBJSON, big-endian), the binary format XGBoost writes with
/// `Booster.save_model("m.ubj")`, into the same value tree `JSONSerialization` makes: `[String: Any]`,
/// `[Any]`, `NSNumber`, `String` and `NSNull`, so `XGBoostReader` reads both formats alike.
///
/// Covers what XGBoost writes and the rest of the value types: objects, arrays (plain, counted `[#`,
/// typed and counted `[$type#`), `Z` null, `N` no-op, `T`/`F`, integers `i U I l L`, `d` float32 (kept
/// as a Float, so thresholds are not rounded twice), `D` float64, `C` char and `S` strings. Object keys
/// and string lengths may use any integer marker. `H` (high-precision numbers) is refused.
///
/// Hostile input is refused, never trusted: every length and count is checked against the bytes left
/// before anything is allocated, nesting is limited to `maxDepth`, and every error names the byte offset.
public enum UBJSON {
    /// The deepest nesting of arrays and objects accepted (as for JSON text).
    public static let maxDepth = 512

    /// Parses one UBJSON value filling all of `data` (trailing `N` no-ops aside).
    public static func parse(_ data: Data) throws(UBJSONError) -> Any {
        do {
            return try data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) throws -> Any in
                var cursor = UBJSONCursor(bytes: buf)
                let value = try cursor.value(depth: 0)
                cursor.skipNoOps()
                guard cursor.pos == buf.count else {
                    throw UBJSONError(offset: cursor.pos, reason: "\(buf.count - cursor.pos) bytes after the end of the top-level value")
                }
                return value
            }
        } catch let e as UBJSONError {
            throw e
        } catch {
            throw UBJSONError(offset: 0, reason: "\(error)")
        }
    }
}

/// A UBJSON document was refused: the byte offset where reading stopped and why.
public struct UBJSONError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Offset (0-based) of the byte being read when the problem was found.
    public var offset: Int
    public var reason: String

    public init(offset: Int, reason: String) { self.offset = offset; self.reason = reason }

    public var description: String { "not valid UBJSON at byte offset \(offset): \(reason)" }
}

/// Reads UBJSON values from a byte buffer, bounds-checking every read.
struct UBJSONCursor {
    let bytes: UnsafeRawBufferPointer
    var pos = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - pos }

    func fail(_ reason: String, at offset: Int? = nil) -> UBJSONError {
        UBJSONError(offset: offset ?? pos, reason: reason)
    }

    /// The next byte, consumed.
    mutating func byte(_ what: @autoclosure () -> String) throws(UBJSONError) -> UInt8 {
        guard pos < bytes.count else { throw fail("truncated: expected \(what()), found the end of the data") }
        defer { pos += 1 }
        return bytes[pos]
    }

    /// `n` bytes read as a big-endian unsigned integer.
    mutating func bigEndian(_ n: Int, _ what: String) throws(UBJSONError) -> UInt64 {
        guard remaining >= n else {
            throw fail("truncated: \(what) needs \(n) bytes, \(remaining) left")
        }
        var v: UInt64 = 0
        for i in 0..<n { v = v << 8 | UInt64(bytes[pos + i]) }
        pos += n
        return v
    }

    mutating func skipNoOps() {
        while pos < bytes.count && bytes[pos] == UInt8(ascii: "N") { pos += 1 }
    }

    /// One value of any type.
    mutating func value(depth: Int) throws(UBJSONError) -> Any {
        skipNoOps()
        let start = pos
        let marker = try byte("a value marker")
        switch marker {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < UBJSON.maxDepth else { throw fail("nested deeper than \(UBJSON.maxDepth) levels", at: start) }
            return marker == UInt8(ascii: "{") ? try object(depth: depth + 1, start: start) : try array(depth: depth + 1, start: start)
        case UInt8(ascii: "Z"): return NSNull()
        case UInt8(ascii: "T"): return NSNumber(value: true)
        case UInt8(ascii: "F"): return NSNumber(value: false)
        case UInt8(ascii: "S"): return try string(start: start)
        case UInt8(ascii: "H"): throw fail("high-precision numbers (H) are not supported", at: start)
        default:
            guard let n = try scalar(marker) else { throw fail("unknown type marker \(Self.show(marker))", at: start) }
            return n
        }
    }

    /// A number of the type `marker` names, or nil when it names none.
    mutating func scalar(_ marker: UInt8) throws(UBJSONError) -> NSNumber? {
        switch marker {
        case UInt8(ascii: "i"): return NSNumber(value: Int8(truncatingIfNeeded: try bigEndian(1, "an int8")))
        case UInt8(ascii: "U"): return NSNumber(value: UInt8(truncatingIfNeeded: try bigEndian(1, "a uint8")))
        case UInt8(ascii: "C"): return NSNumber(value: UInt8(truncatingIfNeeded: try bigEndian(1, "a char")))
        case UInt8(ascii: "I"): return NSNumber(value: Int16(truncatingIfNeeded: try bigEndian(2, "an int16")))
        case UInt8(ascii: "l"): return NSNumber(value: Int32(truncatingIfNeeded: try bigEndian(4, "an int32")))
        case UInt8(ascii: "L"): return NSNumber(value: Int64(bitPattern: try bigEndian(8, "an int64")))
        case UInt8(ascii: "d"): return NSNumber(value: Float(bitPattern: UInt32(try bigEndian(4, "a float32"))))
        case UInt8(ascii: "D"): return NSNumber(value: Double(bitPattern: try bigEndian(8, "a float64")))
        default: return nil
        }
    }

    /// A length or count: an integer of any integer marker, not negative.
    mutating func length(_ what: String) throws(UBJSONError) -> Int {
        let start = pos
        let marker = try byte("the integer type of \(what)")
        let v: Int64
        switch marker {
        case UInt8(ascii: "i"): v = Int64(Int8(truncatingIfNeeded: try bigEndian(1, what)))
        case UInt8(ascii: "U"): v = Int64(try bigEndian(1, what))
        case UInt8(ascii: "I"): v = Int64(Int16(truncatingIfNeeded: try bigEndian(2, what)))
        case UInt8(ascii: "l"): v = Int64(Int32(truncatingIfNeeded: try bigEndian(4, what)))
        case UInt8(ascii: "L"): v = Int64(bitPattern: try bigEndian(8, what))
        default: throw fail("\(what) must be an integer, found type marker \(Self.show(marker))", at: start)
        }
        guard v >= 0 else { throw fail("\(what) is negative (\(v))", at: start) }
        return Int(v)
    }

    /// A string's body (after `S`, or an object key): its length, then UTF-8 bytes.
    mutating func string(start: Int) throws(UBJSONError) -> String {
        let n = try length("a string length")
        guard n <= remaining else { throw fail("truncated: a string of \(n) bytes, \(remaining) left", at: start) }
        let s = String(validating: UnsafeRawBufferPointer(rebasing: bytes[pos..<pos + n]), as: UTF8.self)
        guard let s else { throw fail("string is not valid UTF-8", at: start) }
        pos += n
        return s
    }

    mutating func object(depth: Int, start: Int) throws(UBJSONError) -> [String: Any] {
        var out: [String: Any] = [:]
        if let (type, count) = try containerHeader(start: start) {
            for _ in 0..<count {
                let keyAt = pos
                let key = try string(start: keyAt)
                guard out[key] == nil else { throw fail("key \(Quoted.text(key)) appears twice in one object", at: keyAt) }
                out[key] = try typedOrAny(type, depth: depth)
            }
            return out
        }
        while true {
            skipNoOps()
            guard pos < bytes.count else { throw fail("truncated: object opened at byte \(start) is not closed") }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return out }
            let keyAt = pos
            let key = try string(start: keyAt)
            guard out[key] == nil else { throw fail("key \(Quoted.text(key)) appears twice in one object", at: keyAt) }
            out[key] = try value(depth: depth)
        }
    }

    mutating func array(depth: Int, start: Int) throws(UBJSONError) -> [Any] {
        if let (type, count) = try containerHeader(start: start) {
            var out: [Any] = []
            out.reserveCapacity(count)
            for _ in 0..<count { out.append(try typedOrAny(type, depth: depth)) }
            return out
        }
        var out: [Any] = []
        while true {
            skipNoOps()
            guard pos < bytes.count else { throw fail("truncated: array opened at byte \(start) is not closed") }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return out }
            out.append(try value(depth: depth))
        }
    }

    /// The optimized container header `[$type]#count`, or nil for a plain container. The count is checked
    /// against the bytes left (each element takes at least one byte, or its fixed size) before returning.
    mutating func containerHeader(start: Int) throws(UBJSONError) -> (type: UInt8?, count: Int)? {
        guard pos < bytes.count else { throw fail("truncated: container opened at byte \(start) is empty") }
        var type: UInt8? = nil
        if bytes[pos] == UInt8(ascii: "$") {
            pos += 1
            type = try byte("the element type after $")
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "#") else { throw fail("a typed container ($) must give a count (#)") }
        }
        guard bytes[pos] == UInt8(ascii: "#") else { return nil }
        pos += 1
        let countAt = pos
        let count = try length("the element count")
        let size = max(type.map(Self.fixedSize) ?? 1, 1)
        if count > remaining / size {
            throw fail("truncated or hostile: \(count) elements of \(size) bytes announced, \(remaining) bytes left", at: countAt)
        }
        return (type, count)
    }

    /// One element of a typed container (`type` given) or any value.
    mutating func typedOrAny(_ type: UInt8?, depth: Int) throws(UBJSONError) -> Any {
        guard let type else { return try value(depth: depth) }
        switch type {
        case UInt8(ascii: "Z"): return NSNull()
        case UInt8(ascii: "T"): return NSNumber(value: true)
        case UInt8(ascii: "F"): return NSNumber(value: false)
        case UInt8(ascii: "S"): return try string(start: pos)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < UBJSON.maxDepth else { throw fail("nested deeper than \(UBJSON.maxDepth) levels") }
            let start = pos
            return type == UInt8(ascii: "{") ? try object(depth: depth + 1, start: start) : try array(depth: depth + 1, start: start)
        default:
            guard let n = try scalar(type) else { throw fail("unknown element type marker \(Self.show(type))") }
            return n
        }
    }

    /// Bytes per element of a fixed-size type (0 for `Z`, `T` and `F`, which take none; 1, the least, for others).
    static func fixedSize(_ type: UInt8) -> Int {
        switch type {
        case UInt8(ascii: "i"), UInt8(ascii: "U"), UInt8(ascii: "C"): return 1
        case UInt8(ascii: "I"): return 2
        case UInt8(ascii: "l"), UInt8(ascii: "d"): return 4
        case UInt8(ascii: "L"), UInt8(ascii: "D"): return 8
        case UInt8(ascii: "Z"), UInt8(ascii: "T"), UInt8(ascii: "F"): return 0
        default: return 1
        }
    }

    static func show(_ b: UInt8) -> String {
        (0x21...0x7e).contains(b) ? "'\(Character(Unicode.Scalar(b)))' (0x\(String(b, radix: 16)))" : "0x\(String(b, radix: 16))"
    }
}
