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
}
