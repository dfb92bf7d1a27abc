import NextBestWire
import Synchronization

/// The propensities a standing worker keeps in memory after scoring a shard: every plan model's, customers
/// in id order, per (run, shard). Its HELLO announces them, and a rescore of that run then sends it those
/// shards without their kept columns (RESCORE with `base`): the coordinator neither reads nor sends them.
///
/// One copy per shard index: keeping a shard of a run drops the same shard of any other run, and RELEASE of
/// a run drops every other run's shards, so a worker holds at most one matrix per shard it scored (4 bytes
/// per customer and model: 640 MB for 5 M customers × 32 models). Thread-safe: the socket thread reads it
/// for HELLO and RESCORE, the compute queue fills it.
final class PropensityHold: Sendable {
    /// One shard's propensities.
    struct Shard: Sendable {
        var lower: UInt64
        var upper: UInt64?
        /// The plan's models, the columns of `values`.
        var models: [String]
        /// Customers × `models.count`.
        var values: [Float]
    }

    /// Whether this worker keeps anything (not with `--once` or `--release-memory`).
    let enabled: Bool
    private let shards = Mutex<[UInt64: [UInt32: Shard]]>([:])

    init(enabled: Bool) { self.enabled = enabled }

    /// Keeps shard `shard` of `run` (and drops that shard of any other run).
    func keep(run: UInt64, shard: UInt32, _ s: Shard) {
        guard enabled else { return }
        shards.withLock { held in
            for r in Array(held.keys) where r != run {
                held[r]![shard] = nil
                if held[r]!.isEmpty { held[r] = nil }
            }
            held[run, default: [:]][shard] = s
        }
    }

    /// Drops one shard of `run` (another worker's copy of it won).
    func forget(run: UInt64, shard: UInt32) {
        shards.withLock { held in
            held[run]?[shard] = nil
            if held[run]?.isEmpty == true { held[run] = nil }
        }
    }

    /// `run` is over: the shards of every other run are dropped.
    func released(run: UInt64) {
        shards.withLock { held in held = held.filter { $0.key == run } }
    }

    /// Shard `shard` of `run`, if held.
    func shard(run: UInt64, _ shard: UInt32) -> Shard? {
        shards.withLock { $0[run]?[shard] }
    }

    /// What a HELLO announces: per run (in order), its held shards (in order).
    var announcement: [HeldPropensities] {
        shards.withLock { held in held.keys.sorted().map { HeldPropensities(run: $0, shards: held[$0]!.keys.sorted()) } }
    }

    /// Bytes of propensities held.
    var bytes: Int {
        shards.withLock { held in held.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.values.count * 4 } } }
    }
}
