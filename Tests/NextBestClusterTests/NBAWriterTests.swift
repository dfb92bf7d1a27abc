import Foundation
import Testing
import NextBestCore
@testable import NextBestCluster
@testable import NextBestSynthetic

/// The shard writer fills one buffer directly; it must give exactly the rows and totals of the plain
/// definition: rank with `NBARanking`, format each row with `NBAFormat.appendRow`, add it to `RunTotals`.
@Suite struct NBAWriterTests {
    @Test(arguments: [Campaign.Objective.expectedValue, .propensity])
    func rowsAndTotalsEqualThePlainFormatter(objective: Campaign.Objective) throws {
        let g = PopulationGenerator(customers: 3_000, offers: 12, seed: 17, trees: 6, depth: 3)
        var campaign = g.campaign(estimatingFrom: 1_000)
        campaign.objective = objective
        campaign.perCustomer.maxOffers = 3
        let plan = try ScoringPlan(campaign: campaign, schema: g.schema, models: g.propensityModels())
        var scorer = CustomerScorer(plan: plan)
        var table = CandidateTable(plan: plan)
        for i in 0..<2_000 {
            var p = g.profile(at: i)
            // Some customers lack the value feature: their values count as 0.
            if i % 7 == 0 { for k in p.features.indices where k % 3 == 0 { p.features[k] = .nan } }
            scorer.begin()
            p.features.withUnsafeBufferPointer { scorer.score($0) }
            table.append(customerID: p.customerID, region: p.region, segment: p.segment, candidates: scorer.candidates, values: scorer.values)
        }
        let cs = ConstraintSet(plan: plan, regions: CodeDictionary(names: g.regions), segments: CodeDictionary(names: g.segments))
        var s = ShardOptimizer(plan: plan, constraints: cs, table: table)
        var prices = Prices(count: cs.count)
        if cs.budgetRow >= 0 { prices.upper[cs.budgetRow] = 0.05 }
        _ = s.evaluate(prices)
        let regions = g.regions.count + 1, segments = g.segments.count + 1
        let (rows, totals) = NBAWriter.rows(s, slot: 0, regions: regions, segments: segments)

        var expected: [UInt8] = []
        var want = RunTotals(offers: plan.offers.count, products: plan.products.count, channels: plan.channels.count, regions: regions, segments: segments)
        want.fatigued = table.fatigued
        var chosen = ContiguousArray<Int32>()
        var offersMade = 0
        for i in 0..<table.customerCount {
            want.customers += 1
            chosen.removeAll()
            for j in 0..<s.maxOffers { let c = s.selection[i * s.maxOffers + j]; if c >= 0 { chosen.append(c) } }
            NBARanking.rank(&chosen, in: table, customer: i)
            if !chosen.isEmpty { want.customersWithOffers += 1 }
            want.ensure(region: Int(table.regions[i]), segment: Int(table.segments[i]))
            for (r, ci) in chosen.enumerated() {
                let c = table.candidates[Int(ci)]
                let ev = table.expectedValue(Int(ci), customer: i)
                want.add(c, expectedValue: ev, cost: plan.cost(of: c), product: plan.offers[Int(c.offer)].product,
                         region: Int(table.regions[i]), segment: Int(table.segments[i]))
                NBAFormat.appendRow(customerID: table.customerIDs[i], rank: r + 1, offerID: plan.offers[Int(c.offer)].idBytes,
                                    channel: Array(plan.channels[Int(c.channel)].utf8), propensity: c.propensity, expectedValue: ev, to: &expected)
                offersMade += 1
            }
        }
        #expect(offersMade > 1_000, "the selection should make offers")
        #expect(rows == expected)
        #expect(totals == want)
        // The kept lists render to the same bytes (export, explain and a resumed merge render them).
        let output = NBAWriter.output(s, slot: 0, regions: regions, segments: segments)
        #expect(try NBALists.render(output.lists) == expected && output.rows == expected && output.totals == want)
        #expect(output.lists.count * 3 < expected.count, "binary lists \(output.lists.count) bytes, CSV \(expected.count)")
    }

    @Test func fixedDecimalEdgeCases() {
        var a: [UInt8] = []
        for v in [Double.nan, .infinity, -.infinity, -0.00001, 9.0e30] { FixedDecimal.append(v, decimals: 4, to: &a); a.append(UInt8(ascii: " ")) }
        #expect(String(decoding: a, as: UTF8.self) == "nan inf -inf 0.0000 90000000000000.0000 ")
    }
}
