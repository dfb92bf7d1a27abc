import CLMDB
import Foundation

/// An open LMDB environment: one directory holding several named databases.
///
/// Read transactions may run on any thread (`MDB_NOTLS`), many at once; write transactions are
/// serialized by LMDB. When a write runs out of map space the transaction is aborted, the map is
/// doubled and the write body runs again, so callers write bodies that only touch the store.
public final class LMDBEnvironment: @unchecked Sendable {
    let env: OpaquePointer
    public let path: String
    public let readOnly: Bool
    private var dbis: [String: MDB_dbi] = [:]
    private let lock = NSLock()

    /// Opens (creating if needed and not read-only) the environment at directory `path`. The map starts at
    /// 16 GiB of address space (the file grows only as data is written) and doubles when a write fills it.
    public init(path: String, readOnly: Bool = false, maxDatabases: UInt32 = 16,
                initialMapSize: Int = 16 << 30) throws {
        self.path = path
        self.readOnly = readOnly
        if !readOnly {
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
            catch { throw StoreError.cannotOpen(path: path, reason: error.localizedDescription) }
        } else {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue,
                  FileManager.default.fileExists(atPath: path + "/data.mdb") else {
                throw StoreError.cannotOpen(path: path, reason: "no store there (run `nextbest generate` or `nextbest import profiles` first)")
            }
        }
        var e: OpaquePointer?
        try StoreError.check(mdb_env_create(&e), "env_create")
        env = e!
        mdb_env_set_maxdbs(env, maxDatabases)
        mdb_env_set_maxreaders(env, 512)
        mdb_env_set_mapsize(env, initialMapSize)
        var flags = UInt32(MDB_NOTLS)
        if readOnly { flags |= UInt32(MDB_RDONLY) }
        let rc = mdb_env_open(env, path, flags, 0o644)
        if rc != 0 {
            mdb_env_close(env)
            throw StoreError.cannotOpen(path: path, reason: String(cString: mdb_strerror(rc)))
        }
        var dead: Int32 = 0
        mdb_reader_check(env, &dead)
    }

    deinit { mdb_env_close(env) }

    /// Opens (and, in a writable environment, creates) the named databases.
    public func openDatabases(_ names: [(name: String, dupSort: Bool)]) throws {
        if readOnly {
            // Handles opened in a transaction survive only if it commits, even a read-only one.
            var t: OpaquePointer?
            try StoreError.check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &t), "read txn_begin")
            for (name, dup) in names {
                var dbi: MDB_dbi = 0
                let rc = mdb_dbi_open(t, name, dup ? UInt32(MDB_DUPSORT) : 0, &dbi)
                if rc == MDB_NOTFOUND { continue }
                if rc != 0 { mdb_txn_abort(t) }
                try StoreError.check(rc, "dbi_open \(name)")
                lock.withLock { dbis[name] = dbi }
            }
            try StoreError.check(mdb_txn_commit(t), "commit")
        } else {
            try write { txn throws in
                for (name, dup) in names {
                    var dbi: MDB_dbi = 0
                    try StoreError.check(mdb_dbi_open(txn.txn, name, UInt32(MDB_CREATE) | (dup ? UInt32(MDB_DUPSORT) : 0), &dbi), "dbi_open \(name)")
                    lock.withLock { dbis[name] = dbi }
                }
            }
        }
    }

    /// The handle of an opened database.
    public func database(_ name: String) throws -> LMDBDatabase {
        guard let dbi = lock.withLock({ dbis[name] }) else { throw StoreError.missing("store database '\(name)' is missing: the store at \(path) is empty or from an older version") }
        return LMDBDatabase(dbi: dbi, name: name)
    }

    /// Runs `body` in a read-only transaction.
    public func read<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
        var attempt = 0
        while true {
            var t: OpaquePointer?
            let rc = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &t)
            if rc == MDB_MAP_RESIZED && attempt < 3 {
                attempt += 1
                mdb_env_set_mapsize(env, 0)
                continue
            }
            try StoreError.check(rc, "read txn_begin")
            let txn = LMDBTransaction(txn: t!, writable: false)
            defer { mdb_txn_abort(t) }
            return try body(txn)
        }
    }

    /// Runs `body` in a write transaction and commits it; on any error nothing is written.
    /// On `MDB_MAP_FULL` the map is doubled and `body` runs again from the start.
    public func write<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
        while true {
            var t: OpaquePointer?
            var rc = mdb_txn_begin(env, nil, 0, &t)
            if rc == MDB_MAP_RESIZED { mdb_env_set_mapsize(env, 0); rc = mdb_txn_begin(env, nil, 0, &t) }
            try StoreError.check(rc, "write txn_begin")
            let txn = LMDBTransaction(txn: t!, writable: true)
            let result: T
            do {
                result = try body(txn)
            } catch {
                mdb_txn_abort(t)
                if case StoreError.lmdb(_, let code, _)? = error as? StoreError, code == MDB_MAP_FULL { try grow(); continue }
                throw error
            }
            let crc = mdb_txn_commit(t)
            if crc == MDB_MAP_FULL { try grow(); continue }
            try StoreError.check(crc, "commit")
            return result
        }
    }

    private func grow() throws {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        let next = max(info.me_mapsize * 2, 1 << 30)
        try StoreError.check(mdb_env_set_mapsize(env, next), "set_mapsize \(next)")
    }

    /// The current map size in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        return info.me_mapsize
    }

    /// Clears reader slots left by dead processes; returns how many were cleared.
    @discardableResult
    public func clearStaleReaders() -> Int32 {
        var dead: Int32 = 0
        mdb_reader_check(env, &dead)
        return dead
    }

    /// Copies the environment, compacted, into an empty directory `destination`.
    public func copyCompacted(to destination: String) throws {
        try StoreError.check(mdb_env_copy2(env, destination, UInt32(MDB_CP_COMPACT)), "env_copy2 to \(destination)")
    }
}

/// A named database handle inside an environment.
public struct LMDBDatabase: Sendable {
    let dbi: MDB_dbi
    public let name: String
}
