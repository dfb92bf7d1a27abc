/// The ordered list of profile feature columns a store holds.
///
/// Every profile record stores its features as Float32 in this order; models name the features they use
/// and are bound to positions in this schema when they are loaded. A categorical (text) column holds its
/// value's code in `categories[position]` as a Float32 (NaN when missing). The JSON form (the store's
/// `meta/schema`) is the names alone; the dictionaries are kept beside it (`meta/categories`).
public struct FeatureSchema: Sendable, Equatable, Codable {
    /// Feature names in storage order.
    public let names: [String]
    private let positions: [String: Int]
    /// The dictionaries of the categorical columns, by storage position (append-only across imports).
    public var categories: [Int: CodeDictionary] = [:]

    /// Creates a schema whose columns are all numeric except those given dictionaries in `categories`.
    public init(names: [String], categories: [Int: CodeDictionary]) throws(SchemaError) {
        try self.init(names: names)
        if let bad = categories.keys.first(where: { !names.indices.contains($0) }) { throw .categoryPosition(bad) }
        self.categories = categories
    }

    /// Whether the column at `position` holds text values (dictionary codes).
    public func isCategorical(_ position: Int) -> Bool { categories[position] != nil }

    /// The categorical columns' dictionaries by column name (the store's `meta/categories`).
    public var categoriesByName: [String: [String]] {
        Dictionary(uniqueKeysWithValues: categories.map { (names[$0.key], $0.value.names) })
    }

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

    /// Equal names and equal category dictionaries.
    public static func == (a: FeatureSchema, b: FeatureSchema) -> Bool { a.names == b.names && a.categories == b.categories }

    /// The schema with the category dictionaries of `byName` (column name → values in code order).
    public func withCategories(_ byName: [String: [String]]) throws(SchemaError) -> FeatureSchema {
        var c: [Int: CodeDictionary] = [:]
        for (name, values) in byName {
            guard let i = index(of: name) else { throw .categoryColumn(name) }
            c[i] = CodeDictionary(names: values)
        }
        return try FeatureSchema(names: names, categories: c)
    }

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
    /// A category dictionary for a column the schema does not have.
    case categoryPosition(Int)
    /// A category dictionary names a column the schema does not have.
    case categoryColumn(String)

    public var description: String {
        switch self {
        case .categoryPosition(let p): return "category dictionary for column \(p + 1), which the schema lacks"
        case .categoryColumn(let n): return "category dictionary for column \(Quoted.text(n)), which the schema lacks"
        case .emptyName(let p): return "feature column \(p + 1) has an empty name"
        case .duplicate(let n): return "feature column \(Quoted.text(n)) appears more than once"
        }
    }
}
