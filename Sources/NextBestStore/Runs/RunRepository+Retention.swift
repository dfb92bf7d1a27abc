import Foundation
import NextBestCore

extension RunRepository {
    /// One kept run, for `nextbest runs list`, retention and the latest run's lookups.
    public struct Entry: Sendable {
        public var plan: Plan
        /// `scoring`, `optimizing`, `merging`, `done`, or `old-format` for a run kept in the earlier journal
        /// format (listed and deleted only).
        public var state: String
        public var outcome: Outcome?
        public var oldFormat: Bool { state == Self.oldFormatState }

        public static let oldFormatState = "old-format"
    }

    /// What a prune deleted and kept.
    public struct Pruned: Sendable, Equatable {
        public var runs = 0
        public var records = 0
        public var kept = 0
    }

    /// Every kept run, oldest first (by start time, then id).
    public func entries() throws -> [Entry] {
        let (ids, legacy) = try store.env.read { txn in
            (try planKeys(RunKeys.plans, in: txn), try planKeys(RunKeys.legacyPlans, in: txn))
        }
        let current = try ids.map { Entry(plan: try plan($0), state: try state($0) ?? "?", outcome: try outcome($0)) }
        return (current + (try legacy.map(legacyEntry)))
            .sorted { ($0.plan.started, $0.plan.run) < ($1.plan.started, $1.plan.run) }
    }

    /// The run ids of the plan keys under `keys.from`.
    func planKeys(_ keys: (from: [UInt8], suffix: String), in txn: LMDBTransaction) throws -> [UInt64] {
        var ids: [UInt64] = []
        try txn.scan(store.runs, from: keys.from, to: RunKeys.end(of: keys.from)) { k, _ in
            if let id = RunKeys.run(inPlanKey: k, from: keys.from, suffix: keys.suffix) { ids.append(id) }
            return true
        }
        return ids
    }

    /// A run kept in the earlier journal format (JSON plan and outcome), listed as `old-format`.
    func legacyEntry(_ run: UInt64) throws -> Entry {
        let (plan, outcome) = try store.env.read { txn in
            (try txn.get(store.runs, key: RunKeys.legacyPlan(run)), try txn.get(store.runs, key: RunKeys.legacyOutcome(run)))
        }
        guard let plan, let decoded = try? JSONDecoder().decode(Plan.self, from: Data(plan)) else {
            throw Failure.corrupt("the plan of run \(Self.name(run)) (kept in the earlier journal format) cannot be read; delete it with `nextbest runs prune --old-format`")
        }
        return Entry(plan: decoded, state: Entry.oldFormatState, outcome: outcome.flatMap { try? JSONDecoder().decode(Outcome.self, from: Data($0)) })
    }

    /// The newest finished run (state `done`), if any: the run whose lists are current for each customer.
    public func latestFinished() throws -> Entry? { try entries().last { $0.state == "done" } }

    /// Deletes a run (in either format): its records in `runs` and `results`, in one transaction, then its
    /// files beside the store (`<store>/runs/<run>`, the propensity files); returns the records deleted.
    @discardableResult
    public func delete(_ run: UInt64) throws -> Int {
        let records = try deleteRecords(run)
        let dir = filesDirectory(run)
        // Another process may be deleting the same run (two runs ending at once prune the same old one) or,
        // for a run still going, writing a file there: a file gone from under the walk is not an error, and
        // the walk is tried again while the directory is still there.
        var failure: Error? = nil
        for _ in 0..<3 where FileManager.default.fileExists(atPath: dir) {
            do { try FileManager.default.removeItem(atPath: dir); failure = nil } catch { failure = error }
        }
        if let failure, FileManager.default.fileExists(atPath: dir) {
            throw Failure.cannotDeleteFiles(path: dir, reason: "\(failure.localizedDescription)")
        }
        return records
    }

    /// The kept runs' files beside the store (`<store>/runs/`): how many and their bytes. A file linked
    /// into several runs (a rescore's propensity parts) counts once.
    public func filesOnDisk() -> (files: Int, bytes: Int) {
        let root = store.env.path + "/runs"
        guard let walk = FileManager.default.enumerator(atPath: root) else { return (0, 0) }
        var files = 0, bytes = 0
        var seen = Set<[UInt64]>()
        while let name = walk.nextObject() as? String {
            var st = stat()
            guard stat(root + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG,
                  seen.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted else { continue }
            files += 1
            bytes += Int(st.st_size)
        }
        return (files, bytes)
    }

    /// Deletes a run's records in `runs` and `results`, in one transaction.
    func deleteRecords(_ run: UInt64) throws -> Int {
        try store.env.write { txn in
            var keys: [(LMDBDatabase, [UInt8])] = []
            for (db, prefix) in [(store.runs, RunKeys.prefix(run)), (store.results, RunKeys.prefix(run)),
                                 (store.runs, RunKeys.legacyPrefix(run)), (store.results, RunKeys.legacyResultsPrefix(run))] {
                try txn.scan(db, from: prefix, to: RunKeys.end(of: prefix)) { k, _ in keys.append((db, Array(k))); return true }
            }
            for (db, k) in keys { _ = try txn.delete(db, key: k) }
            return keys.count
        }
    }

    /// Deletes all but the newest `keep` runs (oldest first), one transaction per run.
    public func prune(keep: Int) throws -> Pruned {
        let entries = try entries()
        return try delete(entries.dropLast(max(0, keep)).map(\.plan.run), of: entries.count)
    }

    /// Deletes every run kept in the earlier journal format, one transaction per run.
    public func pruneOldFormat() throws -> Pruned {
        let entries = try entries()
        return try delete(entries.filter(\.oldFormat).map(\.plan.run), of: entries.count)
    }

    func delete(_ runs: [UInt64], of total: Int) throws -> Pruned {
        var p = Pruned(runs: runs.count, records: 0, kept: total - runs.count)
        for r in runs { p.records += try delete(r) }
        return p
    }
}
