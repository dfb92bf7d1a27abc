import Foundation
import NextBestCore

/// Loads a whole synthetic population into an empty store in one transaction, appending profiles
/// in customer-id order (used by `nextbest generate`; real data goes through the CSV importers).
public enum BulkLoader {
    /// Writes `count` profiles and their contact history. `profile(i)` must return strictly increasing
    /// customer ids. Refuses a store that already holds profiles.
    public static func load(store: Store, schema: FeatureSchema, regions: [String], segments: [String], count: Int,
                            batch: Int = 65_536,
                            profiles: @Sendable (Range<Int>) -> [(Profile, [ContactEvent])],
                            progress: (Int) -> Void = { _ in }) throws -> (profiles: Int, contacts: Int) {
        try store.env.write { txn in
            if try store.schema(in: txn) != nil || store.profileCount(in: txn) > 0 {
                throw StoreError.missing("the store at \(store.env.path) already holds profiles; generate into a new directory")
            }
            try store.setSchema(schema, in: txn)
            try store.setDictionaries(regions: CodeDictionary(names: regions), segments: CodeDictionary(names: segments), in: txn)
            var record: [UInt8] = []
            var contacts = 0
            var start = 0
            var lastID: UInt64? = nil
            while start < count {
                let chunk = start..<min(count, start + batch)
                for (p, events) in profiles(chunk) {
                    if let lastID, p.customerID <= lastID { throw StoreError.missing("generated customer ids are not increasing at \(p.customerID)") }
                    lastID = p.customerID
                    ProfileCodec.encode(region: p.region, segment: p.segment, features: p.features, into: &record)
                    let key = ProfileCodec.key(p.customerID)
                    try key.withUnsafeBytes { k in
                        try record.withUnsafeBytes { v in _ = try txn.put(store.profiles, key: k, value: v, append: true) }
                    }
                    for e in events {
                        if try txn.put(store.history, key: key, value: HistoryCodec.encodeValue(e), noDupData: true) { contacts += 1 }
                    }
                }
                start = chunk.upperBound
                progress(start)
            }
            try store.markDataChanged(in: txn)
            return (count, contacts)
        }
    }
}
