import Foundation
import NextBestCore

/// A compact copy of a store for the hosts its workers run on (`nextbest worker-copy`, `cluster/ship-store`):
/// every database a worker reads (profiles, history, models, offers, meta), none of the kept runs (`runs` and
/// `results`: plans, outcomes, lists, remembered prices), which only the coordinator reads. The copy is
/// taken in one read transaction of the source (a consistent snapshot, safe while the store is in use)
/// and written in batches appended in key order, so it is as compact as LMDB's compacting copy; its
/// fingerprint equals the source's.
public enum WorkerCopy {
    /// What was copied and what was left out.
    public struct Report: Sendable {
        /// Entries copied per database.
        public var entries: [(name: String, count: Int)] = []
        /// Entries of the kept runs left out.
        public var runEntriesLeftOut = 0
        /// The source's data file and the copy's, in bytes.
        public var sourceBytes: Int64 = 0
        public var copyBytes: Int64 = 0
    }

    /// The databases copied: all but the kept runs.
    public static let copied = Store.databases.filter { $0.name != "runs" && $0.name != "results" }

    /// Copies `source` into `destination` (a directory that must not hold a store yet).
    public static func copy(from source: Store, to destination: String, batchBytes: Int = 64 << 20) throws -> Report {
        if FileManager.default.fileExists(atPath: destination + "/data.mdb") {
            throw StoreError.cannotOpen(path: destination, reason: "a store is there already; copy into a new directory")
        }
        try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        let target = try Store(path: destination)
        var report = Report()
        try source.env.read { txn in
            for (name, dupSort) in copied {
                let from = try source.env.database(name), to = try target.env.database(name)
                let cursor = try txn.cursor(from)
                defer { cursor.close() }
                var entry = try cursor.first()
                var count = 0
                // `meta` already holds the format the new store wrote: put, not append, there.
                let append = name != "meta"
                while entry != nil {
                    var keys: [[UInt8]] = [], values: [[UInt8]] = []
                    var bytes = 0
                    while let (k, v) = entry, bytes < batchBytes {
                        keys.append(Array(k)); values.append(Array(v))
                        bytes += k.count + v.count
                        entry = try cursor.next()
                    }
                    try target.env.write { w in
                        for i in keys.indices {
                            try keys[i].withUnsafeBytes { k in
                                try values[i].withUnsafeBytes { v in
                                    _ = try w.put(to, key: k, value: v, append: append && !dupSort, appendDuplicate: append && dupSort)
                                }
                            }
                        }
                    }
                    count += keys.count
                }
                report.entries.append((name, count))
            }
            for name in ["runs", "results"] {
                if let db = try? source.env.database(name) { report.runEntriesLeftOut += try txn.count(db) }
            }
        }
        func size(_ path: String) -> Int64 { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0 }
        report.sourceBytes = size(source.dataFilePath)
        report.copyBytes = size(target.dataFilePath)
        return report
    }
}
