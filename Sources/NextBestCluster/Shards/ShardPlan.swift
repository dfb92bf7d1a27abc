import NextBestCore
import NextBestStore

/// A split of the customer population into shards: contiguous customer-id key ranges of about
/// `shardSize` customers, in id order.
public struct ShardPlan: Sendable, Equatable {
    /// One shard: customers with `lower <= id < upper` (`upper == nil`: to the end).
    public struct Shard: Sendable, Equatable {
        public var index: Int
        public var lower: UInt64
        public var upper: UInt64?
        public var customers: Int
    }

    public var shards: [Shard]
    public var customers: Int { shards.reduce(0) { $0 + $1.customers } }

    /// Walks the profile keys once and cuts a shard every `shardSize` customers.
    public static func make(store: Store, shardSize: Int) throws -> ShardPlan {
        precondition(shardSize > 0)
        var bounds: [(UInt64, Int)] = []
        var n = 0
        var last: UInt64 = 0
        try store.env.read { txn in
            try txn.scan(store.profiles) { k, _ in
                guard let id = ProfileCodec.customerID(key: k) else {
                    throw StoreError.corrupt(database: "profiles", key: "\(Array(k))", reason: "key is not 8 bytes")
                }
                if n % shardSize == 0 { bounds.append((id, 0)) }
                bounds[bounds.count - 1].1 += 1
                last = id
                n += 1
                return true
            }
        }
        _ = last
        var shards: [Shard] = []
        for (i, b) in bounds.enumerated() {
            shards.append(Shard(index: i, lower: i == 0 ? 0 : b.0, upper: i + 1 < bounds.count ? bounds[i + 1].0 : nil, customers: b.1))
        }
        return ShardPlan(shards: shards)
    }
}
