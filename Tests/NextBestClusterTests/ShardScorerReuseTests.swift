import Foundation
import Testing
import NextBestCore
import NextBestStore
@testable import NextBestCluster

/// A rescore's scorer takes the kept propensities of the models that did not change and evaluates the others:
/// with the kept columns in plan order or in another order, the candidates are those of a full scoring, and
/// the propensities kept are the evaluated models'.
@Suite struct ShardScorerReuseTests {
    @Test func keptColumnsInPlanOrderOrPermutedGiveTheFullScoring() throws {
        let (store, _) = try ClusterFixtures.store()
        let plan = try store.scoringPlan()
        let m = plan.models.count
        #expect(m >= 3)
        var full = ShardScorer(store: store, plan: plan, servedThrough: 0)
        let reference = try full.buildTable(lower: 0, upper: nil, keepPropensities: true)
        let props = Array(reference.propensities)
        let customers = reference.customerCount
        #expect(props.count == customers * m && customers > 100)
        let again = 1
        // In plan order; then reversed, each kept column at another position.
        let orders = [Array(0..<m), Array((0..<m).reversed())]
        for order in orders {
            var stored = [Float](repeating: .nan, count: customers * m)
            for c in 0..<customers { for (col, j) in order.enumerated() where j != again { stored[c * m + col] = props[c * m + j] } }
            let source = (0..<m).map { j in j == again ? -1 : order.firstIndex(of: j)! }
            let reuse = ShardScorer.Reuse(source: source, stored: stored, stride: m)
            var scorer = ShardScorer(store: store, plan: plan, servedThrough: 0)
            let table = try scorer.buildTable(lower: 0, upper: nil, reuse: reuse, keepPropensities: true)
            #expect(table.candidates == reference.candidates && table.offsets == reference.offsets, "order \(order)")
            #expect(Array(table.propensities) == (0..<customers).map { props[$0 * m + again] }, "order \(order)")
        }
    }

    /// A standing worker's held table, rebuilt after models changed, is the table a fresh scoring makes: the
    /// held table is made under other propensities for the changed models (some customers' candidates for
    /// their offers differ), and rebuilding it with the right ones gives the fresh table field by field,
    /// with the fatigued offers (read from the history only for the held one) and the offer entries.
    @Test func aHeldTableRebuiltForChangedModelsIsTheFreshTable() throws {
        let (store, _) = try ClusterFixtures.store()
        let plan = try store.scoringPlan()
        let m = plan.models.count
        var full = ShardScorer(store: store, plan: plan, servedThrough: 0)
        let reference = try full.buildTable(lower: 0, upper: nil, keepPropensities: true, keepFatigue: true)
        let props = Array(reference.propensities)
        let customers = reference.customerCount
        #expect(reference.fatigued > 0, "the fixture has no fatigued offer: the test would not see fatigue")
        #expect(reference.fatigue?.count == customers && reference.fatigue?.offers.count == Int(reference.fatigued))
        // The model of a fatigued offer, so that the rebuild must leave out that offer for some customers.
        let fatiguedModel = plan.offers[Int(try #require(reference.fatigue?.offers.first))].model
        for changed in [[fatiguedModel], [0, m - 1]] {
            // Held: made with other propensities for the changed models (every column taken from `stored`).
            var other = props
            for c in 0..<customers { for j in changed { other[c * m + j] = 1 - props[c * m + j] } }
            var scorer = ShardScorer(store: store, plan: plan, servedThrough: 0)
            let kept = try scorer.buildTable(lower: 0, upper: nil, reuse: .init(source: Array(0..<m), stored: other, stride: m), keepFatigue: true)
            #expect(kept.candidates != reference.candidates, "changed \(changed): the held table must differ")
            // Features are compared by their bits: a missing value is NaN.
            func bits(_ t: CandidateTable) -> [UInt32]? { t.features.map { $0.values.map(\.bitPattern) } }
            let keptSame = kept.features?.values.count == customers * plan.schema.count && bits(kept) == bits(reference)
            #expect(keptSame)
            let reuse = ShardScorer.Reuse(source: (0..<m).map { changed.contains($0) ? -1 : $0 }, stored: props, stride: m)
            // From its kept features (the profiles not read), and without them (read from the store).
            var withoutFeatures = kept
            withoutFeatures.features = nil
            for (held, how) in [(kept, "from kept features"), (withoutFeatures, "from the store")] {
                let rebuilt = try scorer.rebuildTable(held, lower: 0, upper: nil, reuse: reuse, keepPropensities: true, keepEvery: true)
                #expect(rebuilt.customerIDs == reference.customerIDs && rebuilt.regions == reference.regions && rebuilt.segments == reference.segments)
                #expect(rebuilt.offsets == reference.offsets && rebuilt.candidates == reference.candidates, "changed \(changed), \(how)")
                #expect(rebuilt.values == reference.values && rebuilt.fatigued == reference.fatigued && rebuilt.fatigue == reference.fatigue)
                let sameEntries = rebuilt.offerEntries == reference.offerEntries
                #expect(sameEntries, "changed \(changed), \(how): offer entries")
                #expect(Array(rebuilt.propensities) == props, "\(how)")
                // The rebuilt table keeps the features for the next rebuild.
                let sameFeatures = bits(rebuilt) == bits(reference) && rebuilt.features?.lower == 0 && rebuilt.features?.upper == nil
                #expect(sameFeatures, "\(how)")
            }
            let held = kept
            // Only the evaluated models' propensities without `keepEvery`, as `buildTable` keeps them.
            let fresh = try scorer.buildTable(lower: 0, upper: nil, reuse: reuse, keepPropensities: true)
            #expect(try scorer.rebuildTable(held, lower: 0, upper: nil, reuse: reuse, keepPropensities: true).propensities == fresh.propensities)
            // Kept columns in another order, and one more: every model's propensities still come out in plan order.
            let permuted = (0..<customers).flatMap { c in [Float(-1)] + (0..<m).reversed().map { props[c * m + $0] } }
            let reordered = ShardScorer.Reuse(source: (0..<m).map { changed.contains($0) ? -1 : m - $0 }, stored: permuted, stride: m + 1)
            let everyModel = try scorer.rebuildTable(held, lower: 0, upper: nil, reuse: reordered, keepPropensities: true, keepEvery: true)
            #expect(Array(everyModel.propensities) == props && everyModel.candidates == reference.candidates, "changed \(changed), columns reordered")
        }
        // A held table of another range is refused, naming the customer.
        let ids = reference.customerIDs
        var scorer = ShardScorer(store: store, plan: plan, servedThrough: 0)
        let part = try scorer.buildTable(lower: ids[10], upper: nil, keepFatigue: true)
        #expect(throws: ShardScorer.HeldTableMismatch.self) {
            try scorer.rebuildTable(part, lower: 0, upper: nil, reuse: .init(source: Array(0..<m), stored: props, stride: m))
        }
        #expect(throws: ShardScorer.HeldTableMismatch.self) {
            try scorer.rebuildTable(try scorer.buildTable(lower: 0, upper: nil), lower: 0, upper: nil, reuse: .init(source: Array(0..<m), stored: props, stride: m))
        }
    }
}
