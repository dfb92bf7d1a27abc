import CLMDB

/// Errors from the store layer, each with a message an operator can act on.
public enum StoreError: Error, CustomStringConvertible {
    /// An LMDB call failed: the operation, LMDB's code and its message.
    case lmdb(operation: String, code: Int32, message: String)
    /// A record in the store could not be decoded.
    case corrupt(database: String, key: String, reason: String)
    /// The store lacks something the command needs.
    case missing(String)
    /// The store directory could not be opened or created.
    case cannotOpen(path: String, reason: String)

    public var description: String {
        switch self {
        case .lmdb(let op, let code, let message): return "LMDB \(op) failed (code \(code)): \(message)"
        case .corrupt(let db, let key, let reason): return "corrupt record in store database '\(db)' at key \(key): \(reason)"
        case .missing(let what): return what
        case .cannotOpen(let path, let reason): return "cannot open store at \(path): \(reason)"
        }
    }

    /// Throws for a failed LMDB call; the operation's name is built only then (cursor steps call this for
    /// every record).
    @inline(__always)
    static func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws {
        if rc != 0 { throw StoreError.lmdb(operation: operation(), code: rc, message: String(cString: mdb_strerror(rc))) }
    }
}
