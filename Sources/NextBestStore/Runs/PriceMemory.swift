import Foundation
import NextBestCore

/// Remembers the final prices of a campaign's last run, and the price points its mix used, so the next
/// run of the same campaign starts from them: one run record (`RunRecordKind.warm`) in the `runs` database
/// at `warm/<campaign digest>`. Prices remembered in the earlier format (JSON at `prices/…` and
/// `points/…`) are read as well and replaced by the next save.
public enum PriceMemory: Sendable {
    /// What a run leaves for the next one.
    public struct Warm: Sendable, Equatable {
        public var prices: Prices
        public var mix: PriceMix?
        /// The store's model versions when the prices were found (nil when remembered before version 4).
        public var modelVersions: [String: Int]?

        public init(prices: Prices, mix: PriceMix?, modelVersions: [String: Int]? = nil) {
            self.prices = prices; self.mix = mix; self.modelVersions = modelVersions
        }

        /// The mix the next run explores first: the remembered one, or none when one of the run's models
        /// (`now`: the campaign's models and their versions) changed since it was found. A mix found under other
        /// propensities misleads the first passes (at 10 M customers, a rescore after one model's change took 6
        /// passes from it); without it the optimizer runs its presolve on samples from the remembered prices
        /// (docs/optimizer.md, "Warm start"). Prices remembered before version 4 keep their mix.
        public func startingMix(modelVersions now: [String: Int]) -> PriceMix? {
            guard let then = modelVersions else { return mix }
            return now.allSatisfy({ then[$0.key] == $0.value }) ? mix : nil
        }
    }

    /// The digest of the stored campaign (nil before one is imported).
    static func campaignDigest(_ store: Store, in txn: LMDBTransaction) throws -> UInt64? {
        guard let campaign = try txn.get(store.offers, key: Array("campaign".utf8)) else { return nil }
        var h = FNV64()
        h.addRaw(campaign)
        return h.value
    }

    /// The prices remembered for the store's current campaign, if any. A damaged record counts as none (the
    /// run starts cold, as with no memory).
    public static func load(store: Store) throws -> Warm? {
        try store.env.read { txn in
            guard let digest = try campaignDigest(store, in: txn) else { return nil }
            if let v = try RunKeys.warm(campaign: digest).withUnsafeBytes({ try txn.get(store.runs, key: $0) }) {
                return try? Warm.decode(v)
            }
            let legacy = RunKeys.legacyWarm(campaign: digest)
            guard let v = try txn.get(store.runs, key: legacy.prices),
                  let prices = try? JSONDecoder().decode(Prices.self, from: Data(v)) else { return nil }
            let mix = try txn.get(store.runs, key: legacy.points).flatMap { try? JSONDecoder().decode(PriceMix.self, from: Data($0)) }
            return Warm(prices: prices, mix: mix)
        }
    }

    /// Stores a run's prices and points for the store's current campaign (the store must be open for writing).
    /// The store's model versions are kept with them (imports wait for the run's end: they are the run's).
    public static func save(_ prices: Prices, mix: PriceMix?, store: Store) throws {
        try store.env.write { txn in
            guard let digest = try campaignDigest(store, in: txn) else { return }
            let record = Warm(prices: prices, mix: mix, modelVersions: try store.modelVersions(in: txn)).encoded()
            try txn.put(store.runs, key: RunKeys.warm(campaign: digest), value: record)
            let legacy = RunKeys.legacyWarm(campaign: digest)
            for k in [legacy.prices, legacy.points] { _ = try txn.delete(store.runs, key: k) }
        }
    }
}
