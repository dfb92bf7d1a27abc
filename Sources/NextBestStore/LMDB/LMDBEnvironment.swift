import CLMDB
import Foundation
import Synchronization

/// An open LMDB environment: one directory holding several named databases.
///
/// Read transactions may run on any thread (`MDB_NOTLS`), many at once; write transactions are
/// serialized by LMDB. When a write runs out of map space the transaction is aborted, the map is
/// doubled and the write body runs again, so callers write bodies that only touch the store.
///
/// `@unchecked Sendable` because `env` is a raw pointer: LMDB guards the environment itself (`MDB_NOTLS`
/// read transactions on any thread, write transactions serialized by LMDB's own mutex); the database
/// handles opened so far are guarded by a `Mutex`.
public final class LMDBEnvironment: @unchecked Sendable {
    let env: OpaquePointer
    public let path: String
    public let readOnly: Bool
    private let dbis = Mutex<[String: MDB_dbi]>([:])

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
        env = try Self.open(path: path, readOnly: readOnly, maxDatabases: maxDatabases, initialMapSize: initialMapSize)
        var dead: Int32 = 0
        mdb_reader_check(env, &dead)
    }

    /// Creates and opens the LMDB environment handle. On any failure the handle is closed here, before
    /// `init` assigns it: `deinit` (which closes `env`) never sees a handle that failed to open, so a
    /// failed open is an error naming the path, never a double `mdb_env_close`.
    private static func open(path: String, readOnly: Bool, maxDatabases: UInt32, initialMapSize: Int) throws -> OpaquePointer {
        var e: OpaquePointer?
        let crc = mdb_env_create(&e)
        guard crc == 0, let env = e else {
            throw StoreError.cannotOpen(path: path, reason: "cannot create an LMDB environment: \(String(cString: mdb_strerror(crc)))")
        }
        var flags = UInt32(MDB_NOTLS)
        if readOnly { flags |= UInt32(MDB_RDONLY) }
        var rc = mdb_env_set_maxdbs(env, maxDatabases)
        if rc == 0 { rc = mdb_env_set_maxreaders(env, 512) }
        if rc == 0 { rc = mdb_env_set_mapsize(env, initialMapSize) }
        if rc == 0 { rc = mdb_env_open(env, path, flags, 0o644) }
        guard rc == 0 else {
            mdb_env_close(env)
            throw StoreError.cannotOpen(path: path, reason: openFailure(rc))
        }
        return env
    }

    /// An operator's wording of why `mdb_env_open` failed.
    static func openFailure(_ rc: Int32) -> String {
        let message = String(cString: mdb_strerror(rc))
        switch rc {
        case MDB_INVALID: return "\(message): data.mdb there is not an LMDB store"
        case MDB_VERSION_MISMATCH: return "\(message): data.mdb was written by another LMDB version"
        case EACCES, EPERM, EROFS: return "\(message): this user may not open the store's files (data.mdb and lock.mdb must be readable and writable): check their owner and mode"
        case ENOMEM: return "\(message): not enough address space to map the store (check `ulimit -v`)"
        default: return message
        }
    }

    deinit { mdb_env_close(env) }

    /// Runs `body` with commits that do not wait for the disk (`MDB_NOSYNC`), then flushes everything
    /// once. The store stays consistent throughout (a system crash in between loses only the last commits,
    /// never half of one); for bulk writes that can be redone, such as a run journal's merged lists, where
    /// a flush per commit made the disk the bottleneck.
    public func deferringSync<T>(_ body: () throws -> T) throws -> T {
        guard !readOnly else { return try body() }
        try StoreError.check(mdb_env_set_flags(env, UInt32(MDB_NOSYNC), 1), "env_set_flags")
        let result: T
        do { result = try body() } catch {
            mdb_env_set_flags(env, UInt32(MDB_NOSYNC), 0)
            _ = mdb_env_sync(env, 1)
            throw error
        }
        try StoreError.check(mdb_env_set_flags(env, UInt32(MDB_NOSYNC), 0), "env_set_flags")
        try StoreError.check(mdb_env_sync(env, 1), "env_sync")
        return result
    }

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
                dbis.withLock { $0[name] = dbi }
            }
            try StoreError.check(mdb_txn_commit(t), "commit")
        } else {
            try write { txn throws in
                for (name, dup) in names {
                    var dbi: MDB_dbi = 0
                    try StoreError.check(mdb_dbi_open(txn.txn, name, UInt32(MDB_CREATE) | (dup ? UInt32(MDB_DUPSORT) : 0), &dbi), "dbi_open \(name)")
                    dbis.withLock { $0[name] = dbi }
                }
            }
        }
    }

    /// The handle of an opened database.
    public func database(_ name: String) throws -> LMDBDatabase {
        guard let dbi = dbis.withLock({ $0[name] }) else { throw StoreError.missing("store database '\(name)' is missing: the store at \(path) is empty or from an older version") }
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

    /// LMDB's page statistics of one B-tree (`mdb_stat`/`mdb_env_stat`): what `nextbest inspect` reports
    /// per database.
    public struct TreeStat: Sendable, Equatable {
        public var pageSize: Int
        public var depth: Int
        public var branchPages: Int
        public var leafPages: Int
        public var overflowPages: Int
        /// Records (every duplicate counted in a `DUPSORT` database).
        public var entries: Int
        /// Branch, leaf and overflow pages.
        public var pages: Int { branchPages + leafPages + overflowPages }

        init(_ st: MDB_stat) {
            pageSize = Int(st.ms_psize); depth = Int(st.ms_depth); branchPages = st.ms_branch_pages
            leafPages = st.ms_leaf_pages; overflowPages = st.ms_overflow_pages; entries = st.ms_entries
        }
    }

    /// How much of the environment is used (`mdb_env_info`, `mdb_env_stat` and the free list), read in one
    /// read transaction; read-only, for reports.
    public struct Usage: Sendable {
        /// The map size this process opened the environment with (address space; the file grows only as
        /// pages are written).
        public var mapSize: Int
        public var pageSize: Int
        /// Pages the data file holds up to its high-water mark (`me_last_pgno + 1`).
        public var pagesUsed: Int
        /// Of those, pages on the free list (reusable by later writes).
        public var freePages: Int
        public var lastTransaction: Int
        /// Reader slots in the lock file, and how many have been taken (LMDB's high-water mark, not the
        /// readers open now).
        public var maxReaders: Int
        public var readersUsed: Int
        /// The main tree (which names the databases).
        public var main: TreeStat
        /// Each named database that exists, by name.
        public var databases: [(name: String, stat: TreeStat)]
    }

    /// The environment's usage and the statistics of the named databases `names` (those that exist).
    public func usage(databases names: [String]) throws -> Usage {
        var info = MDB_envinfo()
        try StoreError.check(mdb_env_info(env, &info), "env_info")
        var main = MDB_stat()
        try StoreError.check(mdb_env_stat(env, &main), "env_stat")
        let handles = dbis.withLock { d in names.compactMap { n in d[n].map { (n, $0) } } }
        let (free, stats): (Int, [(String, TreeStat)]) = try read { txn in
            // The free list (LMDB's database 0): each value starts with its count of page numbers.
            var free = 0
            var c: OpaquePointer?
            try StoreError.check(mdb_cursor_open(txn.txn, 0, &c), "cursor_open freelist")
            defer { mdb_cursor_close(c) }
            var k = MDB_val(), v = MDB_val()
            var rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)
            while rc == 0 {
                if v.mv_size >= MemoryLayout<Int>.size { free += v.mv_data.loadUnaligned(as: Int.self) }
                rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)
            }
            if rc != MDB_NOTFOUND { try StoreError.check(rc, "cursor_get freelist") }
            var out: [(String, TreeStat)] = []
            for (n, dbi) in handles {
                var st = MDB_stat()
                try StoreError.check(mdb_stat(txn.txn, dbi, &st), "stat \(n)")
                out.append((n, TreeStat(st)))
            }
            return (free, out)
        }
        return Usage(mapSize: info.me_mapsize, pageSize: Int(main.ms_psize), pagesUsed: info.me_last_pgno + 1, freePages: free,
                     lastTransaction: info.me_last_txnid, maxReaders: Int(info.me_maxreaders), readersUsed: Int(info.me_numreaders),
                     main: TreeStat(main), databases: stats.map { (name: $0.0, stat: $0.1) })
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
