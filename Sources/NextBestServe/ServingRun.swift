import Foundation
import NextBestCore
import NextBestStore

/// One finished run's lists held in memory for lookups by customer id: what `nextbest serve` answers
/// `GET /v1/customers/{id}/nba` from. Built once per run from the lists the run journal keeps (the bytes
/// every `nba.csv` row is rendered from, so a lookup shows exactly the run's rows); never changed after,
/// so a lookup needs no lock and never sees half of two runs (`ServingState` swaps whole runs).
public final class ServingRun: Sendable {
    /// The run's id and start time (as `nextbest runs list` shows them).
    public let run: UInt64
    public let started: String
    /// Each shard's kept lists (`NBALists` layout).
    let lists: [[UInt8]]
    /// Customers with a list, in id order, with their shard, the byte where their rows start and how many.
    let ids: ContiguousArray<UInt64>
    let shard: ContiguousArray<UInt32>
    let offset: ContiguousArray<UInt32>
    let count: ContiguousArray<UInt16>

    /// A run's lists that cannot be served.
    public enum Failure: Error, CustomStringConvertible {
        case missingShard(run: String, shard: Int)
        case damaged(run: String, shard: Int, reason: String)
        public var description: String {
            switch self {
            case let .missingShard(r, s): return "run \(r): the lists of shard \(s) are not kept (pruned or never merged); serve another run"
            case let .damaged(r, s, why): return "run \(r): the lists of shard \(s) cannot be read (\(why))"
            }
        }
    }

    /// One row of a customer's list, as `nba.csv` prints it.
    public struct Row: Sendable, Equatable {
        public var rank: Int
        public var offer: String
        public var channel: String
        public var propensity: String
        public var expectedValue: String
    }

    /// Reads every shard's lists of `entry` (a finished run) and indexes its customers.
    public init(journal: RunRepository, entry: RunRepository.Entry) throws {
        let run = entry.plan.run, name = RunRepository.name(run)
        var lists: [[UInt8]] = []
        var ids = ContiguousArray<UInt64>(), shard = ContiguousArray<UInt32>(), offset = ContiguousArray<UInt32>(), count = ContiguousArray<UInt16>()
        for s in entry.plan.lower.indices {
            guard let kept = try journal.mergedRows(run, shard: s) else { throw Failure.missingShard(run: name, shard: s) }
            do throws(NBALists.Failure) {
                try kept.lists.withUnsafeBufferPointer { b throws(NBALists.Failure) in
                    var reader = try NBALists.Reader(b)
                    while let c = try reader.next() {
                        ids.append(c.id); shard.append(UInt32(s)); offset.append(UInt32(c.bytes.lowerBound)); count.append(UInt16(clamping: c.rows))
                    }
                }
            } catch { throw Failure.damaged(run: name, shard: s, reason: error.description) }
            lists.append(kept.lists)
        }
        // Shards cover ascending id ranges, so the ids are sorted already; checked, as lookups rely on it.
        for i in ids.indices.dropFirst() where ids[i - 1] >= ids[i] {
            throw Failure.damaged(run: name, shard: Int(shard[i]), reason: "customer \(ids[i]) out of order")
        }
        self.run = run; self.started = entry.plan.started
        self.lists = lists; self.ids = ids; self.shard = shard; self.offset = offset; self.count = count
    }

    /// How many customers have a list in this run.
    public var customers: Int { ids.count }

    /// The customer's ranked list, or nil when the run gave the customer no offer (or does not know them).
    public func rows(of customer: UInt64) -> [Row]? {
        var lo = 0, hi = ids.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ids[mid] < customer { lo = mid + 1 } else { hi = mid }
        }
        guard lo < ids.count, ids[lo] == customer else { return nil }
        let s = Int(shard[lo]), start = Int(offset[lo]), n = Int(count[lo])
        return lists[s].withUnsafeBufferPointer { b -> [Row]? in
            guard var reader = try? NBALists.Reader(b) else { return nil }
            reader.seek(start)
            var out: [Row] = []
            out.reserveCapacity(n)
            for rank in 1...max(n, 1) where n > 0 {
                guard let r = try? reader.row() else { return nil }
                out.append(Row(rank: rank, offer: Self.text(reader.name(reader.offers[r.offer])),
                               channel: Self.text(reader.name(reader.channels[r.channel])),
                               propensity: Self.decimal(r.propensity, NBAFormat.propensityDecimals),
                               expectedValue: Self.decimal(r.value, NBAFormat.valueDecimals)))
            }
            return out
        }
    }

    static func text(_ b: UnsafeBufferPointer<UInt8>) -> String { String(decoding: b, as: UTF8.self) }

    /// A kept number's printed text, as `nba.csv` prints it.
    static func decimal(_ code: UInt64, _ decimals: Int) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: FixedDecimal.maxBytes) { buffer in
            let n = FixedDecimal.write(code: code, decimals: decimals, to: buffer.baseAddress!)
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<n]), as: UTF8.self)
        }
    }
}
