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

    /// Cuts a shard every `shardSize` customers: from the store's profile index when it has a current one
    /// and shards are at least its step (a seek and fewer than `step` steps per shard), else by walking every
    /// profile key. Both give the same shards (tested).
    public static func make(store: Store, shardSize: Int, useIndex: Bool = true) throws -> ShardPlan {
        precondition(shardSize > 0)
        if useIndex, let plan = try store.env.read({ txn -> ShardPlan? in
            guard let index = try store.profileIndex(in: txn), shardSize >= index.step, index.count > 0 else { return nil }
            return try fromIndex(index, shardSize: shardSize, txn: txn, store: store)
        }) { return plan }
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

    static func fromIndex(_ index: ProfileIndex, shardSize: Int, txn: LMDBTransaction, store: Store) throws -> ShardPlan? {
        let c = try txn.cursor(store.profiles)
        defer { c.close() }
        var lowers: [UInt64] = []
        var start = 0
        while start < index.count {
            let j = start / index.step
            var entry = try ProfileCodec.key(index.ids[j]).withUnsafeBytes { try c.seek(exactly: $0) }
            for _ in 0..<(start - j * index.step) { entry = try c.next() }
            guard let (k, _) = entry, let id = ProfileCodec.customerID(key: k) else { return nil }
            lowers.append(id)
            start += shardSize
        }
        var shards: [Shard] = []
        for (i, lower) in lowers.enumerated() {
            let customers = min(shardSize, index.count - i * shardSize)
            shards.append(Shard(index: i, lower: i == 0 ? 0 : lower, upper: i + 1 < lowers.count ? lowers[i + 1] : nil, customers: customers))
        }
        return ShardPlan(shards: shards)
    }
}
