import Foundation
import Testing
import NextBestCore
@testable import NextBestStore
import NextBestTestKit

/// Paths and helpers shared by the store tests.
enum Fixtures {
    /// Model `model` as stored in `store` (record decoded, bound to the store's schema), the features of
    /// `customers` in order (rows of `count` floats) and each customer's propensity on the one-customer path.
    static func scoredOneByOne(_ store: Store, model: String, customers: [UInt64]) throws
        -> (bound: BoundModel, count: Int, rows: [Float], single: [Float]) {
        let (bound, count) = try store.env.read { txn in
            let schema = try #require(try store.schema(in: txn))
            let m = try #require(try store.model(model, in: txn))
            return (try m.bound(to: schema), schema.count)
        }
        var rows: [Float] = [], single: [Float] = []
        try store.env.read { txn in
            for id in customers {
                let v = try #require(try txn.get(store.profiles, key: ProfileCodec.key(id)))
                let p = try ProfileCodec.decodeProfile(id: id, UnsafeRawBufferPointer(start: v.withUnsafeBytes { $0.baseAddress }, count: v.count), featureCount: count)
                single.append(p.features.withUnsafeBufferPointer { bound.propensity($0) })
                rows += p.features
            }
        }
        return (bound, count, rows, single)
    }

    /// The block path (`BoundModel.propensities`, every kernel this machine has, in odd block sizes as the
    /// scoring loop's last block of a shard) gives the one-customer path's bits (`single`) for `rows`.
    static func expectBlockPathMatches(_ bound: BoundModel, rows: [Float], stride count: Int, single: [Float], name: String) {
        for kernel in TreeKernel.available {
            var out = [Float](repeating: -1, count: single.count), margins = [Float](repeating: 0, count: single.count)
            rows.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { o in
                    margins.withUnsafeMutableBufferPointer { m in
                        var start = 0
                        while start < single.count {
                            let n = min(37, single.count - start)
                            bound.propensities(block: UnsafeBufferPointer(rebasing: x[(start * count)...]), stride: count, count: n, margins: m,
                                               out: UnsafeMutableBufferPointer(rebasing: o[start...]), outStride: 1, kernel: kernel)
                            start += n
                        }
                    }
                }
            }
            #expect(out.map(\.bitPattern) == single.map(\.bitPattern), "block path differs from one-customer path for \(name) with the \(kernel) kernel")
        }
    }

    static var root: String { FixtureStore.root }
    static var models: String { root + "/models" }

    /// A fresh empty directory.
    static func tempDir(_ name: String = "t") -> String { FixtureStore.tempDir(name) }

    /// Writes `text` to a file in a temp dir and returns its path.
    static func file(_ name: String, _ text: String) -> String {
        let p = tempDir("f") + "/" + name
        try! text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    /// A store with the fixture profiles, models, history and campaign imported.
    static func store() throws -> Store { try FixtureStore.make().0 }

    /// A digest of every record of every database: equal digests mean an unchanged store.
    static func digest(_ store: Store) throws -> UInt64 {
        var h = FNV64()
        try store.env.read { txn in
            for db in [store.profiles, store.offers, store.models, store.history, store.runs, store.results, store.meta] {
                try txn.scan(db) { k, v in h.add(k); h.add(v); return true }
            }
        }
        return h.value
    }

    /// Reads `customer_id,propensity` expectations.
    static func expected(_ name: String) throws -> [(UInt64, Double)] {
        let text = try String(contentsOfFile: models + "/expected_\(name).csv", encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { line in
            let f = line.split(separator: ",")
            return (UInt64(f[0])!, Double(f[1])!)
        }
    }
}
