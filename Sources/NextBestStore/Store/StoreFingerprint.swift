import NextBestCore

/// A digest of what decides a run's output: the feature schema and dictionaries, the campaign, every
/// model (id, version, content), the number of profiles, and the stamp every profile or contact import
/// renews (so a copy made before tonight's imports is told apart from tonight's store). Two hosts whose stores have the same
/// fingerprint score the same catalogue with the same models; a coordinator refuses a worker whose
/// fingerprint differs from its own.
public struct StoreFingerprint: Sendable, Equatable, CustomStringConvertible {
    public var digest: UInt64
    public var profiles: Int
    public var models: Int
    public var campaignVersion: Int

    public var description: String {
        "\(String(digest, radix: 16)) (\(profiles) profiles, \(models) models, campaign v\(campaignVersion))"
    }

    /// Computes the fingerprint in one read transaction.
    public static func of(_ store: Store) throws -> StoreFingerprint {
        try store.env.read { txn in
            var h = FNV64()
            for key in ["schema", "regions", "segments", "data_stamp", "categories"] {
                // `categories` only where a column is categorical: older stores keep their fingerprint.
                if key == "categories", try txn.get(store.meta, key: Array(key.utf8)) == nil { continue }
                h.add(Array(key.utf8))
                if let v = try txn.get(store.meta, key: Array(key.utf8)) { h.add(v) }
            }
            for key in ["campaign", "campaign_version"] {
                h.add(Array(key.utf8))
                if let v = try txn.get(store.offers, key: Array(key.utf8)) { h.add(v) }
            }
            var models = 0
            try txn.scan(store.models) { k, v in
                h.add(Array(k)); h.add(Array(v)); models += 1
                return true
            }
            let profiles = try store.profileCount(in: txn)
            h.add(withUnsafeBytes(of: UInt64(profiles).littleEndian) { Array($0) })
            let version = try txn.get(store.offers, key: Array("campaign_version".utf8)).flatMap { Int(String(decoding: $0, as: UTF8.self)) } ?? 0
            return StoreFingerprint(digest: h.value, profiles: profiles, models: models, campaignVersion: version)
        }
    }
}

/// 64-bit FNV-1a, a small stable digest for store contents (not for security).
public struct FNV64: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    /// Adds a field, length first, so field boundaries count.
    public mutating func add<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { addRaw($0) }
        addRaw(bytes)
    }

    /// Adds bytes as they are.
    public mutating func addRaw<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 }
    }
}
