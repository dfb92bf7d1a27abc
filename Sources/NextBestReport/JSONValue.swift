import Foundation

/// Any JSON value, as `JSONDecoder` reads it: for the fields of `summary.json` that the report shows as they
/// are ("Other fields", messages, recovery). Objects keep their keys in document order (see `OrderedObject`).
public enum JSONValue: Decodable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(OrderedObject<JSONValue>)

    /// Reads whichever kind of value is there.
    public init(from decoder: any Decoder) throws {
        if let c = try? decoder.singleValueContainer() {
            if c.decodeNil() { self = .null; return }
            if let b = try? c.decode(Bool.self) { self = .bool(b); return }
            if let d = try? c.decode(Double.self) { self = .number(d); return }
            if let s = try? c.decode(String.self) { self = .string(s); return }
            if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        }
        self = .object(try OrderedObject<JSONValue>(from: decoder))
    }

    /// The number, if this is one.
    public var double: Double? { if case .number(let d) = self { return d }; return nil }

    /// What kind of value this is, with an article ("an array"), for messages.
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Compact JSON text, for showing unrecognised values as they are.
    public var compactText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .string(let s): return "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        case .array(let a): return "[" + a.map(\.compactText).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.entries.map { "\"\($0.key)\": \($0.value.compactText)" }.joined(separator: ", ") + "}"
        }
    }
}

/// A JSON object whose keys keep the order the run wrote them in: `JSONDecoder` hands an object's keys back in
/// no particular order, and the report shows categories (products, regions, offers) as the run listed them.
/// The order comes from the `KeyOrder` that `ReportPage` puts in the decoder's `userInfo`; entries whose value
/// is not a `Value` are left out.
public struct OrderedObject<Value: Decodable & Sendable & Equatable>: Decodable, Sendable, Equatable {
    /// One member of the object.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: Value
    }

    /// The members, in document order.
    public var entries: [Entry]

    /// An object with these members.
    public init(_ entries: [Entry]) { self.entries = entries }

    /// Reads the object at the decoder's position and orders its keys as the document has them.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        let order = (decoder.userInfo[KeyOrder.userInfoKey] as? KeyOrder)?.keys(at: decoder.codingPath) ?? []
        let rank = Dictionary(order.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let keys = c.allKeys.sorted { (rank[$0.stringValue] ?? Int.max, $0.stringValue) < (rank[$1.stringValue] ?? Int.max, $1.stringValue) }
        entries = keys.compactMap { k in (try? c.decode(Value.self, forKey: k)).map { Entry(key: k.stringValue, value: $0) } }
    }

    /// The value of `key`, nil if there is none.
    public subscript(key: String) -> Value? { entries.first { $0.key == key }?.value }

    /// True when the object has no members.
    public var isEmpty: Bool { entries.isEmpty }

    /// The members whose key passes `keep`, still in order.
    public func filter(_ keep: (Entry) -> Bool) -> OrderedObject { OrderedObject(entries.filter(keep)) }
}

/// Any key of a JSON object.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The order of every object's keys in a JSON text, by the object's path (keys, and array indices as
/// decimal text). It only records keys: the text is decoded, and checked, by `JSONDecoder`.
struct KeyOrder: Sendable {
    static let userInfoKey = CodingUserInfoKey(rawValue: "nextbest.keyOrder")!

    private var byPath: [[String]: [String]] = [:]

    /// The keys of the object at `codingPath`, in document order.
    func keys(at codingPath: [any CodingKey]) -> [String] {
        byPath[codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }] ?? []
    }

    /// One open object or array while scanning.
    private struct Frame {
        var isObject: Bool
        var expectsKey: Bool
        var key = ""
        var index = 0
        var component: String { isObject ? key : String(index) }
    }

    /// Scans `text` (valid JSON, or the result does not matter) for object keys.
    init(_ text: [UInt8]) {
        var frames: [Frame] = []
        var path: [String] = []
        var i = 0
        while i < text.count {
            let c = text[i]
            switch c {
            case UInt8(ascii: "\""):
                let start = i
                i += 1
                while i < text.count, text[i] != UInt8(ascii: "\"") { i += text[i] == UInt8(ascii: "\\") ? 2 : 1 }
                if let top = frames.indices.last, frames[top].isObject, frames[top].expectsKey {
                    let key = Self.string(text[start..<min(i + 1, text.count)])
                    frames[top].key = key
                    frames[top].expectsKey = false
                    byPath[path, default: []].append(key)
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if let top = frames.last { path.append(top.component) }
                frames.append(Frame(isObject: c == UInt8(ascii: "{"), expectsKey: c == UInt8(ascii: "{")))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard frames.popLast() != nil else { break }
                if !frames.isEmpty, !path.isEmpty { path.removeLast() }
            case UInt8(ascii: ","):
                if let top = frames.indices.last {
                    if frames[top].isObject { frames[top].expectsKey = true } else { frames[top].index += 1 }
                }
            default: break
            }
            i += 1
        }
    }

    /// The text of a JSON string token, quotes included; escapes are left to `JSONDecoder`.
    private static func string(_ token: ArraySlice<UInt8>) -> String {
        guard token.contains(UInt8(ascii: "\\")) else { return String(decoding: token.dropFirst().dropLast(), as: UTF8.self) }
        return (try? JSONDecoder().decode(String.self, from: Data(token))) ?? ""
    }
}
