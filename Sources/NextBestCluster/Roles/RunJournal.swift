import Foundation
import NextBestCore
import NextBestStore
import NextBestWire

/// A cluster run's journal in the store (`runs` database, keys `journal/<run>/…`; shard results in
/// `results`, keys `<run>/<shard>`), each record written in its own LMDB transaction, so a coordinator
/// killed at any point leaves a consistent journal. It holds the plan (shards, fingerprint, options, the
/// warm-start prices), the price vector of every round, once optimized the recipe of every shard's final
/// lists (its key range and the operations that rebuild its selection) and the report, and the lists of
/// every shard already merged. `resume` continues from it: a run whose optimization finished redoes only
/// the shards not yet merged (scored again and rebuilt from the recipe, no rounds); an earlier one is
/// redone from the same plan, which gives the same bytes (the run is deterministic).
public struct RunJournal: Sendable {
    let store: Store

    /// What a run was planned as.
    public struct Plan: Codable, Sendable {
        public var run: UInt64
        public var fingerprint: UInt64
        public var shardSize: Int
        public var maxRounds: Int
        public var warmStart: Prices?
        /// The points of the warm start's mix (spread over the buckets in the second pass).
        public var warmMix: PriceMix? = nil
        public var lower: [UInt64]
        public var upper: [UInt64?]
        public var customers: [Int]
        public var started: String
        /// The campaign version and every model's version the run used.
        public var campaignVersion: Int? = nil
        public var modelVersions: [String: Int]? = nil
        /// The store's data stamp (profiles and contacts) when the run started.
        public var dataStamp: String? = nil
        /// The run this one rescored, if any.
        public var rescoredFrom: UInt64? = nil

        var shards: [ShardPlan.Shard] {
            lower.indices.map { ShardPlan.Shard(index: $0, lower: lower[$0], upper: upper[$0], customers: customers[$0]) }
        }
    }

    /// What the optimization decided, enough to write the summary without the rounds.
    public struct Outcome: Codable, Sendable {
        public var slot: Int
        public var prices: Prices
        public var objective: Double
        public var gap: Double
        public var rounds: Int
        /// The `optimization` section of summary.json as rendered.
        public var optimizationJSON: String
        /// The points the final mix used (a rescore starts from them as a warm run would).
        public var mix: PriceMix? = nil
    }

    /// A journal problem the operator must hear about.
    public enum Failure: Error, CustomStringConvertible {
        case unknownRun(String)
        case storeChanged(run: String, then: UInt64, now: UInt64)
        case corrupt(String)
        public var description: String {
            switch self {
            case .unknownRun(let r): return "no journal for run \(r) in this store (runs are named in the coordinator's first log line and in summary.json)"
            case let .storeChanged(r, a, b): return "the store changed since run \(r) started (fingerprint \(String(a, radix: 16)) then, \(String(b, radix: 16)) now): it cannot be resumed; start a new run"
            case .corrupt(let what): return "the run journal is damaged: \(what)"
            }
        }
    }

    public init(store: Store) { self.store = store }

    public static func name(_ run: UInt64) -> String { String(format: "%016llx", run) }
    func key(_ run: UInt64, _ rest: String) -> [UInt8] { Array("journal/\(Self.name(run))/\(rest)".utf8) }
    func resultKey(_ run: UInt64, _ shard: Int) -> [UInt8] { Array("\(Self.name(run))/\(String(format: "%08d", shard))".utf8) }

    func put(_ db: LMDBDatabase, _ k: [UInt8], _ v: [UInt8]) throws {
        try store.env.write { txn in _ = try txn.put(db, key: k, value: v) }
    }

    func get(_ db: LMDBDatabase, _ k: [UInt8]) throws -> [UInt8]? { try store.env.read { try $0.get(db, key: k) } }

    /// Parses a run id as printed (16 hex digits).
    public static func parse(_ text: String) -> UInt64? { UInt64(text, radix: 16) }

    public func begin(_ plan: Plan) throws {
        try put(store.runs, key(plan.run, "plan"), Array(try JSONEncoder().encode(plan)))
        try put(store.runs, key(plan.run, "state"), Array("scoring".utf8))
    }

    public func plan(_ run: UInt64) throws -> Plan {
        guard let v = try get(store.runs, key(run, "plan")) else { throw Failure.unknownRun(Self.name(run)) }
        do { return try JSONDecoder().decode(Plan.self, from: Data(v)) } catch { throw Failure.corrupt("plan of run \(Self.name(run)): \(error)") }
    }

    public func state(_ run: UInt64) throws -> String? { try get(store.runs, key(run, "state")).map { String(decoding: $0, as: UTF8.self) } }

    public func setState(_ run: UInt64, _ s: String) throws { try put(store.runs, key(run, "state"), Array(s.utf8)) }

    public func round(_ run: UInt64, _ n: Int, _ prices: Prices) throws {
        try put(store.runs, key(run, String(format: "round/%04d", n)), Array(try JSONEncoder().encode(prices)))
    }

    public func rounds(_ run: UInt64) throws -> [Prices] {
        try store.env.read { txn in
            var out: [Prices] = []
            let prefix = key(run, "round/")
            try txn.scan(store.runs, from: prefix, to: prefix.dropLast() + [UInt8(ascii: "/") + 1]) { _, v in
                out.append(try JSONDecoder().decode(Prices.self, from: Data(v)))
                return true
            }
            return out
        }
    }

    /// The recipes (one RESTORE message per shard) and the outcome, in one transaction.
    public func optimized(_ run: UInt64, recipes: [[UInt8]], outcome: Outcome) throws {
        let encoded = try JSONEncoder().encode(outcome)
        try store.env.write { txn in
            for (s, r) in recipes.enumerated() { _ = try txn.put(store.runs, key: key(run, String(format: "recipe/%08d", s)), value: r) }
            _ = try txn.put(store.runs, key: key(run, "outcome"), value: Array(encoded))
            _ = try txn.put(store.runs, key: key(run, "state"), value: Array("merging".utf8))
        }
    }

    public func outcome(_ run: UInt64) throws -> Outcome? {
        guard let v = try get(store.runs, key(run, "outcome")) else { return nil }
        do { return try JSONDecoder().decode(Outcome.self, from: Data(v)) } catch { throw Failure.corrupt("outcome of run \(Self.name(run))") }
    }

    /// A shard's recipe: its key range and the operations that rebuild its final selection.
    public func recipe(_ run: UInt64, shard: Int) throws -> (lower: UInt64, upper: UInt64?, ops: [ShardOp]) {
        guard let v = try get(store.runs, key(run, String(format: "recipe/%08d", shard))),
              case let .restore(_, _, _, lower, upper, ops) = try? WireMessage.decode(v) else {
            throw Failure.corrupt("recipe of shard \(shard) of run \(Self.name(run))")
        }
        return (lower, upper, ops)
    }

    /// Keeps a merged shard's lists (the ROWS message as received) and their digest.
    public func merged(_ run: UInt64, shard: Int, rows: [UInt8]) throws { try put(store.results, resultKey(run, shard), rows) }

    /// Keeps a shard's propensities under every plan model (a PROPS message), for rescoring.
    public func keptPropensities(_ run: UInt64, shard: Int, message: [UInt8]) throws {
        try put(store.results, Array("\(Self.name(run))/props/\(String(format: "%08d", shard))".utf8), message)
    }

    public func propensities(_ run: UInt64, shard: Int) throws -> (models: [String], values: [Float])? {
        guard let v = try get(store.results, Array("\(Self.name(run))/props/\(String(format: "%08d", shard))".utf8)) else { return nil }
        guard case let .props(_, _, _, models, values) = try? WireMessage.decode(v) else { throw Failure.corrupt("propensities of shard \(shard) of run \(Self.name(run))") }
        return (models, values)
    }

    /// Whether a shard's merged lists are kept (without decoding them).
    public func hasMergedRows(_ run: UInt64, shard: Int) throws -> Bool {
        try store.env.read { txn in try resultKey(run, shard).withUnsafeBytes { k in try txn.get(store.results, key: k) != nil } }
    }

    public func mergedRows(_ run: UInt64, shard: Int) throws -> (csv: [UInt8], totals: RunTotals)? {
        guard let v = try get(store.results, resultKey(run, shard)) else { return nil }
        guard case let .rows(_, _, _, csv, totals) = try? WireMessage.decode(v, keptRows: true) else { throw Failure.corrupt("lists of shard \(shard) of run \(Self.name(run))") }
        return (csv, totals)
    }

    /// The run is written: keeps the plan, rounds, outcome and every shard's lists (until pruned), drops
    /// the recipes.
    public func finish(_ run: UInt64, shards: Int) throws {
        try store.env.write { txn in
            for s in 0..<shards { _ = try txn.delete(store.runs, key: key(run, String(format: "recipe/%08d", s))) }
            _ = try txn.put(store.runs, key: key(run, "state"), value: Array("done".utf8))
        }
    }

    /// One kept run, for `nextbest runs list`.
    public struct Entry: Sendable {
        public var plan: Plan
        public var state: String
        public var outcome: Outcome?
    }

    /// Every run with a journal, oldest first.
    public func entries() throws -> [Entry] {
        let ids: [UInt64] = try store.env.read { txn in
            var ids: [UInt64] = []
            let prefix = Array("journal/".utf8)
            try txn.scan(store.runs, from: prefix, to: Array("journal0".utf8)) { k, _ in
                let text = String(decoding: k, as: UTF8.self)
                if text.hasSuffix("/plan"), let id = UInt64(text.dropFirst(8).prefix(16), radix: 16) { ids.append(id) }
                return true
            }
            return ids
        }
        return try ids.map { Entry(plan: try plan($0), state: try state($0) ?? "?", outcome: try outcome($0)) }
            .sorted { ($0.plan.started, $0.plan.run) < ($1.plan.started, $1.plan.run) }
    }

    /// Deletes a run's journal and kept lists, in one transaction; returns the records deleted.
    @discardableResult
    public func delete(_ run: UInt64) throws -> Int {
        try store.env.write { txn in
            var keys: [(LMDBDatabase, [UInt8])] = []
            let j = key(run, "")
            try txn.scan(store.runs, from: j, to: Array(j.dropLast()) + [UInt8(ascii: "/") + 1]) { k, _ in keys.append((store.runs, Array(k))); return true }
            let r = Array("\(Self.name(run))/".utf8)
            try txn.scan(store.results, from: r, to: Array(r.dropLast()) + [UInt8(ascii: "/") + 1]) { k, _ in keys.append((store.results, Array(k))); return true }
            for (db, k) in keys { _ = try txn.delete(db, key: k) }
            return keys.count
        }
    }
}
