/// The ordered list of profile feature columns a store holds.
///
/// Every profile record stores its features as Float32 in this order; models name the features they use
/// and are bound to positions in this schema when they are loaded.
public struct FeatureSchema: Sendable, Equatable, Codable {
    /// Feature names in storage order.
    public let names: [String]
    private let positions: [String: Int]

    /// Creates a schema; names must be unique.
    public init(names: [String]) throws(SchemaError) {
        var positions: [String: Int] = [:]
        for (i, name) in names.enumerated() {
            if name.isEmpty { throw .emptyName(position: i) }
            if positions[name] != nil { throw .duplicate(name) }
            positions[name] = i
        }
        self.names = names
        self.positions = positions
    }

    /// The number of features.
    public var count: Int { names.count }

    /// The storage position of a feature, or nil if the schema has no such column.
    public func index(of name: String) -> Int? { positions[name] }

    public static func == (a: FeatureSchema, b: FeatureSchema) -> Bool { a.names == b.names }

    public init(from decoder: Decoder) throws {
        let names = try [String](from: decoder)
        do { try self.init(names: names) } catch { throw error as Error }
    }

    public func encode(to encoder: Encoder) throws { try names.encode(to: encoder) }
}

/// Why a list of feature names cannot form a schema.
public enum SchemaError: Error, CustomStringConvertible, Equatable {
    case emptyName(position: Int)
    case duplicate(String)

    public var description: String {
        switch self {
        case .emptyName(let p): return "feature column \(p + 1) has an empty name"
        case .duplicate(let n): return "feature column \(Quoted.text(n)) appears more than once"
        }
    }
}
