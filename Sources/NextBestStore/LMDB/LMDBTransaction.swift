import CLMDB

/// A read or write transaction. Values returned by `get` and cursors point into the memory map and are
/// valid only until the transaction ends: copy what must outlive it.
public struct LMDBTransaction {
    let txn: OpaquePointer
    public let writable: Bool

    /// The value stored at `key`, zero-copy, or nil.
    public func get(_ db: LMDBDatabase, key: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(txn, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try StoreError.check(rc, "get in \(db.name)")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    /// The value at `key` as bytes (copied).
    public func get(_ db: LMDBDatabase, key: [UInt8]) throws -> [UInt8]? {
        try key.withUnsafeBytes { k throws in try get(db, key: k).map { Array($0) } }
    }

    /// Stores `value` at `key`. With `noOverwrite` an existing key is left alone and false returned;
    /// in a `DUPSORT` database with `noDupData` an identical pair is skipped and false returned.
    @discardableResult
    public func put(_ db: LMDBDatabase, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                    noOverwrite: Bool = false, noDupData: Bool = false, append: Bool = false, appendDuplicate: Bool = false) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        var flags: UInt32 = 0
        if noOverwrite { flags |= UInt32(MDB_NOOVERWRITE) }
        if noDupData { flags |= UInt32(MDB_NODUPDATA) }
        if append { flags |= UInt32(MDB_APPEND) }
        if appendDuplicate { flags |= UInt32(MDB_APPENDDUP) }
        let rc = mdb_put(txn, db.dbi, &k, &v, flags)
        if rc == MDB_KEYEXIST { return false }
        try StoreError.check(rc, "put in \(db.name)")
        return true
    }

    @discardableResult
    public func put(_ db: LMDBDatabase, key: [UInt8], value: [UInt8], noOverwrite: Bool = false, noDupData: Bool = false) throws -> Bool {
        try key.withUnsafeBytes { k throws in
            try value.withUnsafeBytes { v throws in try put(db, key: k, value: v, noOverwrite: noOverwrite, noDupData: noDupData) }
        }
    }

    /// Deletes `key` (all its values in a `DUPSORT` database); returns false if it was absent.
    @discardableResult
    public func delete(_ db: LMDBDatabase, key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { kb throws in
            var k = MDB_val(mv_size: kb.count, mv_data: UnsafeMutableRawPointer(mutating: kb.baseAddress))
            let rc = mdb_del(txn, db.dbi, &k, nil)
            if rc == MDB_NOTFOUND { return false }
            try StoreError.check(rc, "del in \(db.name)")
            return true
        }
    }

    /// Removes every record of a database.
    public func clear(_ db: LMDBDatabase) throws {
        try StoreError.check(mdb_drop(txn, db.dbi, 0), "drop \(db.name)")
    }

    /// The number of records (all duplicates counted) in a database.
    public func count(_ db: LMDBDatabase) throws -> Int {
        var st = MDB_stat()
        try StoreError.check(mdb_stat(txn, db.dbi, &st), "stat \(db.name)")
        return st.ms_entries
    }

    /// Opens a cursor over `db`, valid for this transaction.
    public func cursor(_ db: LMDBDatabase) throws -> LMDBCursor {
        var c: OpaquePointer?
        try StoreError.check(mdb_cursor_open(txn, db.dbi, &c), "cursor_open \(db.name)")
        return LMDBCursor(cursor: c!, database: db)
    }

    /// Calls `body` for every (key, value) with `lower <= key < upper` (byte order), in key order;
    /// `body` returns false to stop early.
    public func scan(_ db: LMDBDatabase, from lower: [UInt8]? = nil, to upper: [UInt8]? = nil,
                     _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        let c = try cursor(db)
        defer { c.close() }
        var entry = try lower.map { l throws in try l.withUnsafeBytes { b throws in try c.seek(atLeast: b) } } ?? c.first()
        while let (k, v) = entry {
            if let upper, !k.lexicographicallyPrecedes(upper) { break }
            if try !body(k, v) { break }
            entry = try c.next()
        }
    }
}

/// A cursor walking a database in key order (and, in `DUPSORT` databases, value order).
public final class LMDBCursor {
    let cursor: OpaquePointer
    public let database: LMDBDatabase
    private var closed = false

    init(cursor: OpaquePointer, database: LMDBDatabase) {
        self.cursor = cursor
        self.database = database
    }

    deinit { close() }

    public func close() {
        if !closed { mdb_cursor_close(cursor); closed = true }
    }

    public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    private func op(_ o: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil) throws -> Entry? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: key.map { UnsafeMutableRawPointer(mutating: $0.baseAddress) } ?? nil)
        var v = MDB_val()
        let rc = mdb_cursor_get(cursor, &k, &v, o)
        if rc == MDB_NOTFOUND { return nil }
        try StoreError.check(rc, "cursor_get in \(database.name)")
        return (UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size), UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    public func first() throws -> Entry? { try op(MDB_FIRST) }
    public func next() throws -> Entry? { try op(MDB_NEXT) }
    /// The first entry whose key is >= `key`.
    public func seek(atLeast key: UnsafeRawBufferPointer) throws -> Entry? { try op(MDB_SET_RANGE, key: key) }
    /// The first value of exactly `key` (duplicates follow with `nextDuplicate`).
    public func seek(exactly key: UnsafeRawBufferPointer) throws -> Entry? { try op(MDB_SET_KEY, key: key) }
    public func nextDuplicate() throws -> Entry? { try op(MDB_NEXT_DUP) }
}
