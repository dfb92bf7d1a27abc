/// Maps category names (regions, segments) to small integer codes and back.
///
/// Profiles store region and segment as UInt16 codes; the dictionary is kept in the store so codes are
/// stable across imports. Codes are assigned in order of first appearance.
public struct CodeDictionary: Sendable, Equatable, Codable {
    /// Names by code.
    public private(set) var names: [String]
    private var codes: [String: UInt16]

    public init(names: [String] = []) {
        self.names = []
        self.codes = [:]
        for n in names { _ = try? code(for: n, create: true) }
    }

    /// The code of `name`, creating one if `create` is set and the name is new.
    public mutating func code(for name: String, create: Bool) throws(DictionaryError) -> UInt16 {
        if let c = codes[name] { return c }
        guard create else { throw .unknown(name) }
        guard names.count < Int(UInt16.max) else { throw .full }
        let c = UInt16(names.count)
        names.append(name)
        codes[name] = c
        return c
    }

    /// The code of an existing name.
    public func existingCode(for name: String) -> UInt16? { codes[name] }

    /// The name for a code, or a placeholder for a code the dictionary does not know.
    public func name(for code: UInt16) -> String {
        Int(code) < names.count ? names[Int(code)] : "#\(code)"
    }

    public var count: Int { names.count }

    public static func == (a: CodeDictionary, b: CodeDictionary) -> Bool { a.names == b.names }

    public init(from decoder: Decoder) throws { self.init(names: try [String](from: decoder)) }
    public func encode(to encoder: Encoder) throws { try names.encode(to: encoder) }
}

/// Why a category could not be coded.
public enum DictionaryError: Error, CustomStringConvertible {
    case unknown(String)
    case full

    public var description: String {
        switch self {
        case .unknown(let n): return "unknown category \(Quoted.text(n))"
        case .full: return "more than 65535 distinct categories"
        }
    }
}
