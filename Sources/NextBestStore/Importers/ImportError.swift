/// An input file was refused: which file, where (line or key) and why. Nothing was stored.
public struct ImportError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var key: String?
    public var reason: String

    public init(file: String, line: Int?, key: String? = nil, reason: String) {
        self.file = file; self.line = line; self.key = key; self.reason = reason
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let key { s += " (\(key))" }
        return s + ": " + reason + "; nothing was imported"
    }
}

/// What an import did.
public struct ImportReport: Sendable, CustomStringConvertible {
    public var kind: String
    public var rows: Int
    public var added: Int
    public var replaced: Int
    public var skipped: Int

    public var description: String {
        var s = "imported \(rows) \(kind) (\(added) new"
        if replaced > 0 { s += ", \(replaced) replaced" }
        if skipped > 0 { s += ", \(skipped) already present" }
        return s + ")"
    }
}
