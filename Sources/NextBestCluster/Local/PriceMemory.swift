import Foundation
import NextBestCore
import NextBestStore

/// Remembers the final prices of a campaign's last run in the store (`runs` database, key
/// `prices/<campaign digest>`), and the price points its mix used (`points/<campaign digest>`), so the next
/// run of the same campaign starts from them.
public enum PriceMemory {
    /// What a run leaves for the next one.
    public struct Warm: Sendable, Equatable {
        public var prices: Prices
        public var mix: PriceMix?
    }

    static func key(_ store: Store, in txn: LMDBTransaction, _ what: String = "prices") throws -> [UInt8]? {
        guard let campaign = try txn.get(store.offers, key: Array("campaign".utf8)) else { return nil }
        var h = FNV64()
        h.addRaw(campaign)
        return Array("\(what)/\(String(h.value, radix: 16))".utf8)
    }

    public static func load(store: Store) throws -> Warm? {
        try store.env.read { txn in
            guard let k = try key(store, in: txn), let v = try txn.get(store.runs, key: k),
                  let prices = try? JSONDecoder().decode(Prices.self, from: Data(v)) else { return nil }
            let mix = try key(store, in: txn, "points").flatMap { try txn.get(store.runs, key: $0) }
                .flatMap { try? JSONDecoder().decode(PriceMix.self, from: Data($0)) }
            return Warm(prices: prices, mix: mix)
        }
    }

    /// Stores a run's prices and points for the store's current campaign (the store must be open for writing).
    public static func save(_ prices: Prices, mix: PriceMix?, store: Store) throws {
        try store.env.write { txn in
            guard let k = try key(store, in: txn), let kp = try key(store, in: txn, "points") else { return }
            try txn.put(store.runs, key: k, value: Array(try JSONEncoder().encode(prices)))
            if let mix { try txn.put(store.runs, key: kp, value: Array(try JSONEncoder().encode(mix))) } else { _ = try txn.delete(store.runs, key: kp) }
        }
    }
}
