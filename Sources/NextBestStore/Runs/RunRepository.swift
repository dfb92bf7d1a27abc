import Foundation
import NextBestCore

/// The runs kept in a store: each run's plan, state, round prices, outcome, shard recipes, and every merged
/// shard's totals, as versioned run records (`RunRecordFormat`, docs/store.md) that do not depend on the wire
/// protocol; each merged shard's lists (binary, `NBALists`) and propensities in files beside the store
/// (`<store>/runs/<run>/lists-<shard>.nbl` and `props-<shard>.f32`, `RunFile`) checked by records. Every method is one LMDB transaction, so a coordinator killed at any point
/// leaves whole records; a failed write leaves nothing of itself. `resume` continues from these records, a
/// rescore reads a finished run's propensities, `export`, `explain`, `simulate` and `changes.csv` read its
/// lists, `runs compare` and each run's "since last night" read two runs' lists, totals and propensities, and
/// `runs list|show|prune` manage them.
///
/// Runs kept by an earlier nextbest in the journal format before run records are listed (state
/// `old-format`) and can be deleted (`nextbest runs prune --old-format`); reading one otherwise is
/// `Failure.oldFormat`.
public struct RunRepository: Sendable {
    let store: Store

    public init(store: Store) { self.store = store }

    /// A run id as printed (16 hex digits).
    public static func name(_ run: UInt64) -> String { RunKeys.name(run) }

    /// Parses a run id as printed (16 hex digits).
    public static func parse(_ text: String) -> UInt64? { UInt64(text, radix: 16) }

    /// A problem with the kept runs the operator must hear about.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        case unknownRun(String)
        case storeChanged(run: String, then: UInt64, now: UInt64)
        case corrupt(String)
        /// The run was kept in the journal format before run records.
        case oldFormat(run: String)
        /// A record written by a newer nextbest.
        case newerRecord(run: String, record: String, version: UInt8)
        /// A shard's lists kept as CSV text by a nextbest before run record version 2.
        case listsAsText(run: String)
        /// A shard's propensity file is missing or damaged (`reason`); it is not used.
        case propensityFile(path: String, reason: String)
        /// A deleted run's files could not be removed.
        case cannotDeleteFiles(path: String, reason: String)
        /// A shard's lists file is missing or damaged (`reason`).
        case listsFile(path: String, run: String, shard: Int, reason: String)

        public var description: String {
            switch self {
            case .unknownRun(let r): return "no journal for run \(r) in this store (runs are named in the coordinator's first log line and in summary.json)"
            case let .storeChanged(r, a, b): return "the store changed since run \(r) started (fingerprint \(String(a, radix: 16)) then, \(String(b, radix: 16)) now): it cannot be resumed; start a new run"
            case .corrupt(let what): return "the run journal is damaged: \(what)"
            case .oldFormat(let r):
                return "run \(r) was kept by an earlier nextbest in the journal format before run records, which this version does not read: "
                    + "export it with that version if you still need its lists, then delete the runs in that format with `nextbest runs prune --old-format`"
            case .listsAsText(let r):
                return "the lists of run \(r) were kept as nba.csv text by a nextbest before run record version 2, which this version does not read: "
                    + "export it with that version if you still need its lists, then delete the older runs with `nextbest runs prune --keep N` (or `--keep-runs`)"
            case let .cannotDeleteFiles(path, reason):
                return "the run's records are deleted but its files in \(path) are not (\(reason)): remove that directory by hand"
            case let .listsFile(path, r, shard, reason):
                return "the lists of shard \(shard) of run \(r) cannot be read from \(path): \(reason); "
                    + "rerun the night (or restore the file from a backup of the store's directory)"
            case let .propensityFile(path, reason):
                return "the kept propensities \(path) cannot be used: \(reason)"
            case let .newerRecord(r, record, v):
                return "the \(record) of run \(r) is a version-\(v) run record, written by a newer nextbest (this one reads version \(RunRecordFormat.version)): use that version"
            }
        }
    }

    // MARK: Records

    func put(_ db: LMDBDatabase, _ key: [UInt8], _ record: some RunRecord) throws {
        let value = record.encoded()
        try store.env.write { txn in _ = try txn.put(db, key: key, value: value) }
    }

    func get<R: RunRecord>(_: R.Type, _ db: LMDBDatabase, _ key: [UInt8], run: UInt64, what: String) throws -> R? {
        try store.env.read { txn in
            try key.withUnsafeBytes { k in try txn.get(db, key: k).map { try Self.decode(R.self, $0, run: run, what: what) } }
        }
    }

    /// Decodes a record, naming the run and the record in any error.
    static func decode<R: RunRecord>(_: R.Type, _ bytes: UnsafeRawBufferPointer, run: UInt64, what: String) throws -> R {
        do { return try R.decode(bytes) } catch {
            switch error {
            case .oldFormat: throw Failure.oldFormat(run: name(run))
            case .listsAsText: throw Failure.listsAsText(run: name(run))
            case .version(let v) where v > RunRecordFormat.version: throw Failure.newerRecord(run: name(run), record: what, version: v)
            default: throw Failure.corrupt("\(what) of run \(name(run)): \(error)")
            }
        }
    }

    // MARK: Plan, state, rounds and outcome

    /// Records a new run: its plan and state `scoring`, in one transaction.
    public func begin(_ plan: Plan) throws {
        let encoded = plan.encoded(), state = StateRecord("scoring").encoded()
        try store.env.write { txn in
            try txn.put(store.runs, key: RunKeys.plan(plan.run), value: encoded)
            try txn.put(store.runs, key: RunKeys.state(plan.run), value: state)
        }
    }

    /// A run's plan; `Failure.unknownRun` if there is none, `Failure.oldFormat` if it is kept in the
    /// earlier journal format.
    public func plan(_ run: UInt64) throws -> Plan {
        if let plan = try get(Plan.self, store.runs, RunKeys.plan(run), run: run, what: "plan") { return plan }
        if try store.env.read({ try $0.get(store.runs, key: RunKeys.legacyPlan(run)) }) != nil { throw Failure.oldFormat(run: Self.name(run)) }
        throw Failure.unknownRun(Self.name(run))
    }

    public func state(_ run: UInt64) throws -> String? { try get(StateRecord.self, store.runs, RunKeys.state(run), run: run, what: "state")?.state }

    public func setState(_ run: UInt64, _ s: String) throws { try put(store.runs, RunKeys.state(run), StateRecord(s)) }

    /// Keeps the prices of round `n`.
    public func round(_ run: UInt64, _ n: Int, _ prices: Prices) throws { try put(store.runs, RunKeys.round(run, n), prices) }

    /// Every kept round's prices, in round order.
    public func rounds(_ run: UInt64) throws -> [Prices] {
        try store.env.read { txn in
            var out: [Prices] = []
            let prefix = RunKeys.rounds(run)
            try txn.scan(store.runs, from: prefix, to: RunKeys.end(of: prefix)) { _, v in
                out.append(try Self.decode(Prices.self, v, run: run, what: "round \(out.count + 1)"))
                return true
            }
            return out
        }
    }

    /// The recipes (one per shard, in shard order), the outcome and state `merging`, in one transaction.
    public func optimized(_ run: UInt64, recipes: [Recipe], outcome: Outcome) throws {
        let encoded = recipes.map { $0.encoded() }, o = outcome.encoded(), state = StateRecord("merging").encoded()
        try store.env.write { txn in
            for (s, r) in encoded.enumerated() { try txn.put(store.runs, key: RunKeys.recipe(run, s), value: r) }
            try txn.put(store.runs, key: RunKeys.outcome(run), value: o)
            try txn.put(store.runs, key: RunKeys.state(run), value: state)
        }
    }

    public func outcome(_ run: UInt64) throws -> Outcome? { try get(Outcome.self, store.runs, RunKeys.outcome(run), run: run, what: "outcome") }

    /// A shard's recipe: its key range and the operations that rebuild its final selection.
    public func recipe(_ run: UInt64, shard: Int) throws -> Recipe {
        guard let r = try get(Recipe.self, store.runs, RunKeys.recipe(run, shard), run: run, what: "recipe of shard \(shard)") else {
            throw Failure.corrupt("the recipe of shard \(shard) of run \(Self.name(run)) is missing")
        }
        return r
    }

    /// The run is written: keeps the plan, rounds, outcome and every shard's lists (until pruned), drops
    /// the recipes; state `done`.
    public func finish(_ run: UInt64, shards: Int) throws {
        let state = StateRecord("done").encoded()
        try store.env.write { txn in
            for s in 0..<shards { _ = try txn.delete(store.runs, key: RunKeys.recipe(run, s)) }
            try txn.put(store.runs, key: RunKeys.state(run), value: state)
        }
    }

    // MARK: Kept lists and propensities

    /// Keeps a merged shard's lists (`NBALists`, binary) and their totals: the lists in a file beside the
    /// store (`ListsFile`, written directly and synced), then the record that checks it and holds the totals.
    public func merged(_ run: UInt64, shard: Int, lists: [UInt8], totals: RunTotals) throws {
        let written = try ListsFile.write(path: listsFilePath(run, shard: shard), run: run, shard: shard, lists: lists)
        try put(store.results, RunKeys.rows(run, shard), ListsFileRecord(bytes: written.bytes, crc: written.crc, totals: totals))
    }

    /// The file of a shard's kept lists.
    public func listsFilePath(_ run: UInt64, shard: Int) -> String { ListsFile.path(store: store.env.path, run: run, shard: shard) }

    /// A shard's kept lists record: in a file (version 4) or in the store (versions 2 and 3).
    enum KeptLists { case inStore(KeptRows), file(ListsFileRecord) }

    /// A shard's lists record as kept, or nil; `decodeLists` false reads the totals alone (the lists kept in
    /// the store are then skipped, not copied).
    func keptLists(_ run: UInt64, shard: Int, decodeLists: Bool = true) throws -> KeptLists? {
        let what = "lists of shard \(shard)"
        return try store.env.read { txn in
            try RunKeys.rows(run, shard).withUnsafeBytes { k in
                try txn.get(store.results, key: k).map { v -> KeptLists in
                    if v.count > 1 && v[1] == RunRecordKind.rowsFile.rawValue { return .file(try Self.decode(ListsFileRecord.self, v, run: run, what: what)) }
                    if decodeLists { return .inStore(try Self.decode(KeptRows.self, v, run: run, what: what)) }
                    return .inStore(KeptRows(lists: [], totals: try Self.decode(KeptRows.Totals.self, v, run: run, what: what).totals))
                }
            }
        }
    }

    /// Whether a shard's merged lists are kept (without reading them): their record, and their file at its
    /// recorded size (a shard whose file is gone is merged again on resume).
    public func hasMergedRows(_ run: UInt64, shard: Int) throws -> Bool {
        switch try keptLists(run, shard: shard, decodeLists: false) {
        case nil: return false
        case .inStore?: return true
        case .file(let r)?: return RunFile.present(path: listsFilePath(run, shard: shard), bytes: r.bytes)
        }
    }

    /// A shard's kept lists (`NBALists`) and totals, or nil if they are not kept; `Failure.listsAsText` for
    /// lists kept by a nextbest before run record version 2, `Failure.listsFile` when the file is missing or
    /// damaged.
    public func mergedRows(_ run: UInt64, shard: Int) throws -> (lists: [UInt8], totals: RunTotals)? {
        switch try keptLists(run, shard: shard) {
        case nil: return nil
        case .inStore(let k)?: return (k.lists, k.totals)
        case .file(let r)?:
            let path = listsFilePath(run, shard: shard)
            do { return (try ListsFile.read(path: path, bytes: r.bytes, crc: r.crc, run: run, shard: shard), r.totals) }
            catch { throw Failure.listsFile(path: path, run: Self.name(run), shard: shard, reason: error.description) }
        }
    }

    /// A shard's kept totals without its lists (not read), or nil if they are not kept.
    public func mergedTotals(_ run: UInt64, shard: Int) throws -> RunTotals? {
        switch try keptLists(run, shard: shard, decodeLists: false) {
        case nil: return nil
        case .inStore(let k)?: return k.totals
        case .file(let r)?: return r.totals
        }
    }

    /// A shard's kept lists rendered as its `nba.csv` rows (`NBALists.render`), damage reported with the
    /// run and shard named.
    public func render(_ lists: [UInt8], run: UInt64, shard: Int) throws -> [UInt8] {
        do { return try NBALists.render(lists) } catch {
            throw Failure.corrupt("lists of shard \(shard) of run \(Self.name(run)): \(error)")
        }
    }

    /// A shard's kept `nba.csv` rows (its lists rendered) and totals, or nil if they are not kept.
    public func mergedCSV(_ run: UInt64, shard: Int) throws -> (csv: [UInt8], totals: RunTotals)? {
        try mergedRows(run, shard: shard).map { (try render($0.lists, run: run, shard: shard), $0.totals) }
    }

    /// The directory of a run's files beside the store (`<store>/runs/<run>`).
    public func filesDirectory(_ run: UInt64) -> String { PropensityFile.directory(store: store.env.path, run: run) }

    /// The file of a shard's kept propensities.
    public func propensityFilePath(_ run: UInt64, shard: Int) -> String { PropensityFile.path(store: store.env.path, run: run, shard: shard) }

    /// Keeps a shard's propensities under every plan model, for rescoring: the file beside the store
    /// (`PropensityFile`, written directly and synced), then the record that checks it.
    public func keepPropensities(_ run: UInt64, shard: Int, models: [String], values: [Float]) throws {
        try recordPropensities(run, [try writePropensityFile(run, shard: shard, models: models, values: values)])
    }

    /// A shard's propensity file(s) as written, waiting for the record that checks them (`recordPropensities`).
    public struct WrittenPropensities: Sendable {
        public let shard: Int
        let record: Kept

        /// One file, or a rescore's parts.
        enum Kept: Sendable {
            case file(PropensityFileRecord)
            case parts(PropensityPartsRecord)

            var encoded: [UInt8] {
                switch self {
                case .file(let r): return r.encoded()
                case .parts(let r): return r.encoded()
                }
            }
        }
    }

    /// Writes a shard's propensity file (written directly and synced) without touching LMDB, so a thread of
    /// its own can write files while the store is in use elsewhere; `recordPropensities` keeps their records.
    public func writePropensityFile(_ run: UInt64, shard: Int, models: [String], values: [Float]) throws -> WrittenPropensities {
        WrittenPropensities(shard: shard, record: .file(try PropensityFile.write(path: propensityFilePath(run, shard: shard), run: run,
                                                                                shard: shard, models: models, values: values)))
    }

    /// Where an earlier run keeps a shard's propensities, for a rescore to link rather than write again.
    public struct PropensitySource: Sendable {
        /// The run whose directory holds the files.
        public let run: UInt64
        let parts: [PropensityPartsRecord.Part]
        /// The models the files hold together, in the order the run keeps them, and the customers.
        public let models: [String]
        public let customers: Int
    }

    /// The files that hold a shard's propensities of `run` (nil when none are kept, or when they are kept in
    /// LMDB by a version-1 store).
    public func propensitySource(_ run: UInt64, shard: Int) throws -> PropensitySource? {
        switch try keptRecord(run, shard: shard) {
        case .file(let record)?: return PropensitySource(run: run, parts: [.init(run: run, file: record)], models: record.models, customers: record.customers)
        case .parts(let record)?: return PropensitySource(run: run, parts: record.parts, models: record.models, customers: record.customers)
        case .values?, nil: return nil
        }
    }

    /// Why the files of `source` (shard `shard`) cannot be linked, looking only at their sizes (nil: each is in
    /// place with its recorded size). For a rescore whose workers hold the values, which are not read here.
    public func missingFile(_ source: PropensitySource, shard: Int) -> String? {
        for p in source.parts {
            let path = PropensityFile.path(store: store.env.path, run: source.run, shard: shard, part: p.run)
            var st = stat()
            guard stat(path, &st) == 0 else { return "\(path): \(String(cString: strerror(errno)))" }
            guard Int(st.st_size) == p.file.bytes else { return "\(path): \(st.st_size) bytes, its record says \(p.file.bytes)" }
        }
        return nil
    }

    /// A rescore's propensities of a shard, without touching LMDB: the models scored again (`scored`,
    /// customers × `scored.count` values) in the run's own file, and every other model of `models` (plan
    /// order) from the files of `base`, hard-linked into this run's directory (copied where the file system
    /// cannot link). Each part is linked only if it holds a model no earlier part does.
    public func writePropensityParts(_ run: UInt64, shard: Int, models: [String], scored: [String], values: [Float],
                                     base: PropensitySource) throws -> WrittenPropensities {
        let customers = scored.isEmpty ? 0 : values.count / scored.count
        var parts = [PropensityPartsRecord.Part(run: run, file: try PropensityFile.write(path: propensityFilePath(run, shard: shard), run: run,
                                                                                     shard: shard, models: scored, values: values))]
        var covered = Set(scored)
        for p in base.parts where p.file.models.contains(where: { models.contains($0) && !covered.contains($0) }) {
            guard p.file.customers == customers else {
                throw Failure.propensityFile(path: PropensityFile.path(store: store.env.path, run: base.run, shard: shard, part: p.run),
                                             reason: "it holds \(p.file.customers) customers, the rescore scored \(customers)")
            }
            try PropensityFile.link(from: PropensityFile.path(store: store.env.path, run: base.run, shard: shard, part: p.run),
                                    to: PropensityFile.path(store: store.env.path, run: run, shard: shard, part: p.run))
            parts.append(p)
            covered.formUnion(p.file.models)
        }
        if let missing = models.first(where: { !covered.contains($0) }) {
            throw Failure.corrupt("propensities of shard \(shard) of run \(Self.name(base.run)): no kept file holds model \(missing)")
        }
        return WrittenPropensities(shard: shard, record: .parts(PropensityPartsRecord(models: models, customers: customers, parts: parts)))
    }

    /// Keeps the records of written propensity files, in one transaction: a file without its record is
    /// never read (a rescore scores that shard under every model).
    public func recordPropensities(_ run: UInt64, _ written: [WrittenPropensities]) throws {
        guard !written.isEmpty else { return }
        try store.env.write { txn in
            for w in written { _ = try txn.put(store.results, key: RunKeys.props(run, w.shard), value: w.record.encoded) }
        }
    }

    /// A shard's kept propensities, or nil if none are kept; `Failure.propensityFile` when a file is
    /// missing or damaged. Propensities kept in the store by version 1 are read as they are.
    public func propensities(_ run: UInt64, shard: Int) throws -> (models: [String], values: [Float])? {
        switch try keptRecord(run, shard: shard) {
        case nil: return nil
        case .values(let k)?: return (k.models, k.values)
        case .file(let record)?: return (record.models, try readPart(run, shard: shard, .init(run: run, file: record)))
        case .parts(let record)?: return (record.models, try assemble(run, shard: shard, record))
        }
    }

    /// The ways a shard's propensities are kept.
    private enum Kept { case values(KeptPropensities), file(PropensityFileRecord), parts(PropensityPartsRecord) }

    /// A shard's propensity record, decoded by its kind (nil if none is kept).
    private func keptRecord(_ run: UInt64, shard: Int) throws -> Kept? {
        let what = "propensities of shard \(shard)"
        return try store.env.read { txn in
            try RunKeys.props(run, shard).withUnsafeBytes { k in
                try txn.get(store.results, key: k).map { v -> Kept in
                    switch v.count > 1 ? v[1] : 0 {
                    case RunRecordKind.propensities.rawValue: return .values(try Self.decode(KeptPropensities.self, v, run: run, what: what))
                    case RunRecordKind.propensityParts.rawValue: return .parts(try Self.decode(PropensityPartsRecord.self, v, run: run, what: what))
                    default: return .file(try Self.decode(PropensityFileRecord.self, v, run: run, what: what))
                    }
                }
            }
        }
    }

    /// One file of a shard's propensities of `run`, checked against its record.
    private func readPart(_ run: UInt64, shard: Int, _ part: PropensityPartsRecord.Part) throws -> [Float] {
        let path = PropensityFile.path(store: store.env.path, run: run, shard: shard, part: part.run)
        do { return try PropensityFile.read(path: path, record: part.file, run: part.run, shard: shard) }
        catch { throw Failure.propensityFile(path: path, reason: error.description) }
    }

    /// A shard's propensities from its parts: each model's column from the first part that holds it.
    private func assemble(_ run: UInt64, shard: Int, _ record: PropensityPartsRecord) throws -> [Float] {
        let m = record.models.count, n = record.customers
        var out = [Float](repeating: 0, count: m * n)
        var done = Set<String>()
        for part in record.parts {
            let take = record.models.indices.filter { !done.contains(record.models[$0]) && part.file.models.contains(record.models[$0]) }
            guard !take.isEmpty else { continue }
            let values = try readPart(run, shard: shard, part)
            let width = part.file.models.count
            let from = take.map { part.file.models.firstIndex(of: record.models[$0])! }
            out.withUnsafeMutableBufferPointer { o in
                values.withUnsafeBufferPointer { v in
                    for c in 0..<n { for (j, f) in zip(take, from) { o[c * m + j] = v[c * width + f] } }
                }
            }
            for j in take { done.insert(record.models[j]) }
        }
        return out
    }
}
