import NextBestCore
import NextBestWire
import Synchronization

/// What a standing worker keeps in memory of the shards it scored, per (run, shard), for rescores of that
/// run: every plan model's propensities (customers in id order), and once the run is released the shard's
/// candidate table with each customer's fatigued offers. Its HELLO announces the shards; a rescore of that
/// run then sends them without their kept columns (RESCORE with `base`), and the worker rebuilds the table
/// for the changed models only (`ShardScorer.rebuildTable`) when the table fits the run (same campaign,
/// profiles, history and served responses).
///
/// One copy per shard index: keeping a shard of a run drops the same shard of any other run, and RELEASE of
/// a run drops every other run's shards, so a worker holds at most one copy of each shard it scored (the
/// propensities are 4 bytes per customer and model, 640 MB for 5 M customers × 32 models; the tables are
/// the memory the job used anyway, plus the customers' features they keep, 4 bytes per customer and feature:
/// 800 MB for 5 M customers × 40 features). Thread-safe: the socket thread reads it for HELLO and RESCORE, the
/// compute queue fills it.
final class HeldShards: Sendable {
    /// One shard's propensities, and its table once the run is released.
    struct Shard: Sendable {
        var lower: UInt64
        var upper: UInt64?
        /// The plan's models, the columns of `values`.
        var models: [String]
        /// Customers × `models.count`.
        var values: [Float]
        /// The last served response the run read (its plan's bound).
        var served: UInt64
        /// The shard's table, from RELEASE on, and what it was made from.
        var table: CandidateTable? = nil
        var basis: Basis? = nil
    }

    /// What a held table was made from besides the propensities: a table is rebuilt only for a run made from
    /// the same.
    struct Basis: Sendable, Equatable {
        var campaignVersion: Int
        var dataStamp: String?
        var served: UInt64

        /// What a table made now from `context`'s store, for a run reading served responses up to `served`, is made from.
        init(_ context: RunContext, served: UInt64) throws {
            campaignVersion = context.fingerprint.campaignVersion
            dataStamp = try context.dataStamp()
            self.served = served
        }
    }

    /// Whether this worker keeps anything (not with `--once` or `--release-memory`).
    let enabled: Bool
    private let shards = Mutex<[UInt64: [UInt32: Shard]]>([:])
    /// Told the shards and propensity bytes held after every change.
    let metrics: WorkerMetrics?

    init(enabled: Bool, metrics: WorkerMetrics? = nil) { self.enabled = enabled; self.metrics = metrics }

    /// Changes what is held, then reports it.
    private func change(_ body: (inout [UInt64: [UInt32: Shard]]) -> Void) {
        let (count, bytes) = shards.withLock { held -> (Int, Int) in
            body(&held)
            return (held.values.reduce(0) { $0 + $1.count }, Self.bytes(held))
        }
        metrics?.heldForRescores(shards: count, bytes: bytes)
    }

    private static func bytes(_ held: [UInt64: [UInt32: Shard]]) -> Int {
        held.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.values.count * 4 } }
    }

    /// Keeps shard `shard` of `run` (and drops that shard of any other run).
    func keep(run: UInt64, shard: UInt32, _ s: Shard) {
        guard enabled else { return }
        change { held in
            for r in Array(held.keys) where r != run {
                held[r]![shard] = nil
                if held[r]!.isEmpty { held[r] = nil }
            }
            held[run, default: [:]][shard] = s
        }
    }

    /// Adds a held shard's table, with what it was made from (at RELEASE).
    func attach(run: UInt64, shard: UInt32, table: CandidateTable, basis: Basis) {
        change { held in
            guard held[run]?[shard] != nil, table.fatigue != nil else { return }
            held[run]![shard]!.table = table
            held[run]![shard]!.basis = basis
        }
    }

    /// Drops one shard of `run` (another worker's copy of it won).
    func forget(run: UInt64, shard: UInt32) {
        change { held in
            held[run]?[shard] = nil
            if held[run]?.isEmpty == true { held[run] = nil }
        }
    }

    /// `run` is over: the shards of every other run are dropped.
    func released(run: UInt64) {
        change { held in held = held.filter { $0.key == run } }
    }

    /// Shard `shard` of `run`, if held.
    func shard(run: UInt64, _ shard: UInt32) -> Shard? {
        shards.withLock { $0[run]?[shard] }
    }

    /// What a HELLO announces: per run (in order), its held shards (in order).
    var announcement: [HeldPropensities] {
        shards.withLock { held in held.keys.sorted().map { HeldPropensities(run: $0, shards: held[$0]!.keys.sorted()) } }
    }

    /// Bytes of propensities held (the tables not counted).
    var bytes: Int { shards.withLock { Self.bytes($0) } }
}
