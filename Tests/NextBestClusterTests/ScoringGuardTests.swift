import Foundation
import Testing
import NextBestCore
import NextBestStore
@testable import NextBestCluster

/// What a run reads from the store is checked before it is used (issue 21, items 17 and 19): a damaged
/// profile is an error naming the customer, never a silent wrong total or a `nan` score.
@Suite struct ScoringGuardTests {
    /// The store with the first customer's record replaced by `change` of it; returns that customer.
    func damaged(_ store: Store, _ change: (inout Profile) -> Void) throws -> UInt64 {
        let featureCount = try store.env.read { try store.schema(in: $0)!.count }
        return try store.env.write { txn in
            let c = try txn.cursor(store.profiles)
            defer { c.close() }
            let (k, v) = try #require(try c.first())
            let id = try #require(ProfileCodec.customerID(key: k))
            var p = try ProfileCodec.decodeProfile(id: id, v, featureCount: featureCount)
            change(&p)
            try txn.put(store.profiles, key: ProfileCodec.key(id), value: ProfileCodec.encode(p))
            return id
        }
    }

    func scoreAll(_ store: Store) throws {
        var scorer = ShardScorer(store: store, plan: try store.scoringPlan(), servedThrough: 0)
        try scorer.forEachCustomer(lower: 0, upper: nil) { _, _, _, _ in }
    }

    // item 17
    @Test func regionOrSegmentCodeOutsideTheDictionaryIsCorruption() throws {
        let (store, _) = try ClusterFixtures.store()
        try scoreAll(store)
        let id = try damaged(store) { $0.region = 0x7FFF }
        do { try scoreAll(store); Issue.record("expected a refusal") } catch {
            let m = "\(error)"
            #expect(m.contains("corrupt record in store database 'profiles' at key customer \(id)") && m.contains("region code 32767 is outside the store's"), "\(m)")
        }
        let (store2, _) = try ClusterFixtures.store()
        let id2 = try damaged(store2) { $0.segment = 0xFFFF }
        do { try scoreAll(store2); Issue.record("expected a refusal") } catch {
            #expect("\(error)".contains("customer \(id2)") && "\(error)".contains("segment code 65535 is outside"), "\(error)")
        }
    }

    // item 19: a feature of +inf (only a damaged record holds one: imports refuse it) makes a logistic margin infinite.
    @Test func nonFiniteMarginIsAnErrorNamingModelAndCustomer() throws {
        let (store, _) = try ClusterFixtures.store()
        let income = try store.env.read { try store.schema(in: $0)!.index(of: "income")! }
        let id = try damaged(store) { $0.features[income] = .infinity }
        do { try scoreAll(store); Issue.record("expected a refusal") } catch {
            let e = try #require(error as? NonFinitePropensity, "\(error)")
            #expect(e.customer == id && e.model == "logit_all")
            #expect(e.description.contains("model 'logit_all' gives customer \(id) a non-finite margin"))
        }
    }

    /// The bounds that make an imported model's margin finite for every Float32 row.
    @Test func importedModelsCannotOverflowTheirMargin() throws {
        #expect(throws: ModelError.self) { try LogisticModel(features: ["a", "b"], coefficients: [1e308, -1e308], intercept: 0) }
        #expect(throws: ModelError.self) { try LogisticModel(features: ["a"], coefficients: [1e300], intercept: 0) }
        #expect(throws: ModelError.self) { try LogisticModel(features: ["a"], coefficients: [1], intercept: 1e308 * 10) }
        let m = try LogisticModel(features: ["a", "b"], coefficients: [1e200, -1e200], intercept: 1e250)
        let bound = try PropensityModel(id: "m", version: 1, kind: .logistic(m)).bound(to: FeatureSchema(names: ["a", "b"]))
        for x: [Float] in [[.greatestFiniteMagnitude, -.greatestFiniteMagnitude], [-.greatestFiniteMagnitude, .greatestFiniteMagnitude], [1, .nan]] {
            #expect(!x.withUnsafeBufferPointer { bound.propensity($0) }.isNaN)
        }
        let leaf = TreeEnsemble.Node(feature: -1, threshold: 3e38, left: 0, defaultLeft: false)
        #expect(throws: ModelError.self) { try TreeEnsemble(features: ["a"], baseMargin: 0, nodes: [leaf, leaf], roots: [0, 1]) }
        #expect(throws: ModelError.self) {
            try TreeEnsemble(features: ["a"], baseMargin: 0, nodes: [.init(feature: 0, threshold: .infinity, left: 1, defaultLeft: true), leaf, leaf], roots: [0])
        }
        _ = try TreeEnsemble(features: ["a"], baseMargin: 0, nodes: [leaf], roots: [0])
    }
}
