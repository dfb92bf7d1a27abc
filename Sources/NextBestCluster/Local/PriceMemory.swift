import Foundation
import NextBestCore
import NextBestStore

/// Remembers the final prices of a campaign's last run in the store (`runs` database, key
/// `prices/<campaign digest>`), so the next run of the same campaign starts from them.
public enum PriceMemory {
    static func key(_ store: Store, in txn: LMDBTransaction) throws -> [UInt8]? {
        guard let campaign = try txn.get(store.offers, key: Array("campaign".utf8)) else { return nil }
        var h = FNV64()
        h.addRaw(campaign)
        return Array("prices/\(String(h.value, radix: 16))".utf8)
    }

    public static func load(store: Store) throws -> Prices? {
        try store.env.read { txn in
            guard let k = try key(store, in: txn), let v = try txn.get(store.runs, key: k) else { return nil }
            return try? JSONDecoder().decode(Prices.self, from: Data(v))
        }
    }

    /// Stores `prices` for the store's current campaign (the store must be open for writing).
    public static func save(_ prices: Prices, store: Store) throws {
        try store.env.write { txn in
            guard let k = try key(store, in: txn) else { return }
            try txn.put(store.runs, key: k, value: Array(try JSONEncoder().encode(prices)))
        }
    }
}
