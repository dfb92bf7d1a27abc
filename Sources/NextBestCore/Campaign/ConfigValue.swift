/// A parsed YAML or JSON document, format-neutral, with the source line of each value when known.
///
/// Importers turn campaign files into this tree; `Campaign.init(document:)` reads it and reports
/// errors by key path and line.
public indirect enum ConfigValue: Sendable, Equatable {
    case string(String, line: Int?)
    case number(Double, text: String, line: Int?)
    case bool(Bool, line: Int?)
    case null(line: Int?)
    case array([ConfigValue], line: Int?)
    /// Keys in document order.
    case map([(key: String, value: ConfigValue)], line: Int?)

    public var line: Int? {
        switch self {
        case .string(_, let l), .number(_, _, let l), .bool(_, let l), .null(let l), .array(_, let l), .map(_, let l): return l
        }
    }

    public static func == (a: ConfigValue, b: ConfigValue) -> Bool {
        switch (a, b) {
        case let (.string(x, _), .string(y, _)): return x == y
        case let (.number(x, _, _), .number(y, _, _)): return x == y
        case let (.bool(x, _), .bool(y, _)): return x == y
        case (.null, .null): return true
        case let (.array(x, _), .array(y, _)): return x == y
        case let (.map(x, _), .map(y, _)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// A short name of the value's kind, for error messages.
    public var kindName: String {
        switch self {
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        case .array: return "a list"
        case .map: return "a mapping"
        }
    }
}
