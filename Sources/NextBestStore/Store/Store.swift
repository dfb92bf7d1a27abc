import Foundation
import NextBestCore

/// The nextbest store: one LMDB environment (a directory) with the named databases
/// `profiles`, `offers`, `models`, `history`, `runs`, `results` and `meta`.
///
/// Layout (any LMDB client can read it):
/// - `profiles`: key customer id (8 bytes big-endian) → `ProfileCodec` record.
/// - `history` (`DUPSORT`): key customer id → `HistoryCodec` values.
/// - `models`: key model id (UTF-8) → JSON of `PropensityModel`.
/// - `offers`: key `campaign` → JSON of `Campaign`; key `campaign_version` → decimal text.
/// - `meta`: `format`, `schema`, `categories`, `regions`, `segments` → JSON; `data_stamp` → 16 random bytes.
/// - `runs` and `results`: the kept runs, as run records (`RunRepository`, docs/store.md).
public final class Store: Sendable {
    public static let formatTag = "nextbest-store-1"
    /// The tag of a store with categorical (text) profile columns (`meta/categories`): set by the import
    /// that makes the first one, so a nextbest that does not know such columns refuses the store rather
    /// than read their codes as numbers. This nextbest opens both.
    public static let categoricalFormatTag = "nextbest-store-2"
    public static let databases: [(name: String, dupSort: Bool)] = [
        ("profiles", false), ("offers", false), ("models", false), ("history", true),
        ("runs", false), ("results", false), ("meta", false),
    ]

    // The raw LMDB handles: for this package's readers and writers only (the scorer's zero-copy profile
    // walk, the importers, `RunRepository`), not part of the library's interface.
    package let env: LMDBEnvironment
    package let profiles: LMDBDatabase
    package let offers: LMDBDatabase
    package let models: LMDBDatabase
    package let history: LMDBDatabase
    package let runs: LMDBDatabase
    package let results: LMDBDatabase
    package let meta: LMDBDatabase

    /// Opens the store at `path`; creates it unless `readOnly` or `mustExist`.
    public init(path: String, readOnly: Bool = false, mustExist: Bool = false) throws {
        if mustExist && !FileManager.default.fileExists(atPath: path + "/data.mdb") {
            throw StoreError.cannotOpen(path: path, reason: "no store there (run `nextbest generate` or `nextbest import profiles` first)")
        }
        env = try LMDBEnvironment(path: path, readOnly: readOnly)
        try env.openDatabases(Store.databases)
        profiles = try env.database("profiles")
        offers = try env.database("offers")
        models = try env.database("models")
        history = try env.database("history")
        runs = try env.database("runs")
        results = try env.database("results")
        meta = try env.database("meta")
        if !readOnly {
            try env.write { txn in
                if try txn.get(meta, key: Array("format".utf8)) == nil {
                    try txn.put(meta, key: Array("format".utf8), value: Array(Store.formatTag.utf8))
                }
            }
        }
        let fmt = try env.read { txn in try txn.get(meta, key: Array("format".utf8)) }
        if let fmt, ![Store.formatTag, Store.categoricalFormatTag].contains(String(decoding: fmt, as: UTF8.self)) {
            throw StoreError.cannotOpen(path: path, reason: "store format \(Quoted.text(String(decoding: fmt, as: UTF8.self))) is not \(Store.formatTag) or \(Store.categoricalFormatTag)")
        }
    }

    // MARK: JSON values

    func getJSON<T: Decodable>(_ type: T.Type, _ db: LMDBDatabase, _ key: String, in txn: LMDBTransaction) throws -> T? {
        guard let bytes = try txn.get(db, key: Array(key.utf8)) else { return nil }
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) }
        catch { throw StoreError.corrupt(database: db.name, key: key, reason: "cannot decode: \(error)") }
    }

    func putJSON<T: Encodable>(_ value: T, _ db: LMDBDatabase, _ key: String, in txn: LMDBTransaction) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try txn.put(db, key: Array(key.utf8), value: Array(try enc.encode(value)))
    }

    // MARK: Schema and dictionaries

    /// The feature schema with its categorical columns' dictionaries, or nil before the first profile
    /// import. A store written before categorical columns has no `meta/categories`: every column numeric.
    public func schema(in txn: LMDBTransaction) throws -> FeatureSchema? {
        guard let names = try getJSON(FeatureSchema.self, meta, "schema", in: txn) else { return nil }
        guard let byName = try getJSON([String: [String]].self, meta, "categories", in: txn) else { return names }
        do { return try names.withCategories(byName) }
        catch { throw StoreError.corrupt(database: meta.name, key: "categories", reason: "\(error)") }
    }

    /// Writes the schema: the names (`meta/schema`) and, when a column is categorical, the dictionaries
    /// (`meta/categories`, JSON `{column: [value, …]}`, a value's code its position).
    func setSchema(_ s: FeatureSchema, in txn: LMDBTransaction) throws {
        try putJSON(s, meta, "schema", in: txn)
        if !s.categories.isEmpty {
            try putJSON(s.categoriesByName, meta, "categories", in: txn)
            try txn.put(meta, key: Array("format".utf8), value: Array(Store.categoricalFormatTag.utf8))
        }
    }

    /// Records that profiles or contacts changed: a fresh random stamp in `meta/data_stamp`, part of the
    /// store fingerprint, so a worker holding an older copy of the data is refused. (A compacting copy
    /// keeps the stamp.)
    /// The profile index is rebuilt with the stamp when `profilesChanged` (a walk of the profile keys), else
    /// carried over to it.
    func markDataChanged(in txn: LMDBTransaction, profilesChanged: Bool = true, indexStep: Int = ProfileIndex.defaultStep) throws {
        var g = SystemRandomNumberGenerator()
        let old = try txn.get(meta, key: Array("data_stamp".utf8)) ?? []
        let stamp = (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
        _ = try txn.put(meta, key: Array("data_stamp".utf8), value: stamp)
        let index: ProfileIndex?
        if profilesChanged {
            var ids: [UInt64] = []
            var n = 0
            try txn.scan(profiles) { k, _ in
                if n % indexStep == 0, let id = ProfileCodec.customerID(key: k) { ids.append(id) }
                n += 1
                return true
            }
            index = ProfileIndex(step: indexStep, count: n, ids: ids)
        } else {
            index = try profileIndex(in: txn, stamp: old)
        }
        if let index { _ = try txn.put(meta, key: Array("profile_index".utf8), value: index.encode(stamp: stamp)) }
        else { _ = try txn.delete(meta, key: Array("profile_index".utf8)) }
    }

    /// The data stamp (renewed by every profile or contact import) as hex, or nil before the first import.
    public func dataStamp() throws -> String? {
        try env.read { txn in try txn.get(meta, key: Array("data_stamp".utf8)).map { $0.map { String(format: "%02x", $0) }.joined() } }
    }

    /// The profile index, if there is one built at the store's current data stamp.
    public func profileIndex(in txn: LMDBTransaction) throws -> ProfileIndex? {
        guard let stamp = try txn.get(meta, key: Array("data_stamp".utf8)) else { return nil }
        return try profileIndex(in: txn, stamp: stamp)
    }

    func profileIndex(in txn: LMDBTransaction, stamp: [UInt8]) throws -> ProfileIndex? {
        try Array("profile_index".utf8).withUnsafeBytes { k in
            try txn.get(meta, key: k).flatMap { ProfileIndex.decode($0, stamp: stamp) }
        }
    }

    public func regions(in txn: LMDBTransaction) throws -> CodeDictionary { try getJSON(CodeDictionary.self, meta, "regions", in: txn) ?? CodeDictionary() }
    public func segments(in txn: LMDBTransaction) throws -> CodeDictionary { try getJSON(CodeDictionary.self, meta, "segments", in: txn) ?? CodeDictionary() }
    func setDictionaries(regions: CodeDictionary, segments: CodeDictionary, in txn: LMDBTransaction) throws {
        try putJSON(regions, meta, "regions", in: txn)
        try putJSON(segments, meta, "segments", in: txn)
    }

    // MARK: Models and campaign

    /// A stored model: the binary record (`ModelCodec`), or JSON in stores written before it.
    public func model(_ id: String, in txn: LMDBTransaction) throws -> PropensityModel? {
        guard let v = try Array(id.utf8).withUnsafeBytes({ try txn.get(models, key: $0) }) else { return nil }
        do {
            if ModelCodec.isBinary(v) { return try ModelCodec.decode(id: id, v) }
            return try JSONDecoder().decode(PropensityModel.self, from: Data(v))
        } catch {
            throw StoreError.corrupt(database: models.name, key: id, reason: "cannot decode: \(error)")
        }
    }

    /// Stores a model as a binary record.
    func putModel(_ m: PropensityModel, in txn: LMDBTransaction) throws {
        try txn.put(models, key: Array(m.id.utf8), value: ModelCodec.encode(m))
    }

    /// Every stored model by id.
    public func allModels(in txn: LMDBTransaction) throws -> [String: PropensityModel] {
        var out: [String: PropensityModel] = [:]
        var keys: [String] = []
        try txn.scan(models) { k, _ in keys.append(String(decoding: k, as: UTF8.self)); return true }
        for k in keys { out[k] = try model(k, in: txn) }
        return out
    }

    /// Every stored model's version by id, without decoding the models (a run records them).
    public func modelVersions(in txn: LMDBTransaction) throws -> [String: Int] {
        struct Header: Decodable { var version: Int }
        var out: [String: Int] = [:]
        try txn.scan(models) { k, v in
            let id = String(decoding: k, as: UTF8.self)
            do {
                if let version = try ModelCodec.modelVersion(v) { out[id] = version; return true }
                out[id] = try JSONDecoder().decode(Header.self, from: Data(v)).version
            } catch {
                throw StoreError.corrupt(database: "models", key: id, reason: "\(error)")
            }
            return true
        }
        return out
    }

    public func campaign(in txn: LMDBTransaction) throws -> Campaign? { try getJSON(Campaign.self, offers, "campaign", in: txn) }

    /// Number of profiles.
    public func profileCount(in txn: LMDBTransaction) throws -> Int { try txn.count(profiles) }

    /// The campaign's version (`offers/campaign_version`: 1 after the first import, +1 per re-import), or nil
    /// before any campaign was imported.
    public func campaignVersion(in txn: LMDBTransaction) throws -> Int? {
        try txn.get(offers, key: Array("campaign_version".utf8)).flatMap { Int(String(decoding: $0, as: UTF8.self)) }
    }

    /// The LMDB data file (`data.mdb`) of this store.
    public var dataFilePath: String { env.path + "/data.mdb" }

    /// Map size, pages used and free, and the page statistics and record counts of every store database
    /// (read-only; for `nextbest inspect`).
    public func usage() throws -> LMDBEnvironment.Usage { try env.usage(databases: Store.databases.map(\.name)) }

    /// Compiles the stored campaign against the stored schema and models.
    public func scoringPlan(campaign override: Campaign? = nil) throws -> ScoringPlan {
        try env.read { txn in
            guard let schema = try schema(in: txn) else { throw StoreError.missing("the store has no profiles: run `nextbest import profiles FILE` or `nextbest generate` first") }
            guard let campaign = try override ?? self.campaign(in: txn) else { throw StoreError.missing("the store has no campaign: run `nextbest import campaign FILE` first") }
            var ms: [String: PropensityModel] = [:]
            for id in campaign.modelIDs { if let m = try model(id, in: txn) { ms[id] = m } }
            return try ScoringPlan(campaign: campaign, schema: schema, models: ms)
        }
    }
}
