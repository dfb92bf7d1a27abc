import NextBestCore

/// Turns a shard's final selection into `nba.csv` rows and exact totals.
public enum NBAWriter {
    public static func rows(_ s: ShardOptimizer, slot: Int, regions: Int, segments: Int) -> (rows: [UInt8], totals: RunTotals) {
        let plan = s.plan
        var totals = RunTotals(offers: plan.offers.count, products: plan.products.count, channels: plan.channels.count,
                               regions: regions, segments: segments)
        totals.fatigued = s.table.fatigued
        let offerBytes = plan.offers.map(\.idBytes)
        let channelBytes = plan.channels.map { Array($0.utf8) }
        var rows: [UInt8] = []
        rows.reserveCapacity(s.table.customerCount * 40)
        var chosen = ContiguousArray<Int32>()
        let sel = s.selections[slot]
        for i in 0..<s.table.customerCount {
            totals.customers += 1
            chosen.removeAll(keepingCapacity: true)
            for j in 0..<s.maxOffers { let c = sel[i * s.maxOffers + j]; if c >= 0 { chosen.append(c) } }
            NBARanking.rank(&chosen, in: s.table, customer: i)
            if !chosen.isEmpty { totals.customersWithOffers += 1 }
            let region = Int(s.table.regions[i]), segment = Int(s.table.segments[i])
            totals.ensure(region: region, segment: segment)
            let id = s.table.customerIDs[i]
            for (r, ci) in chosen.enumerated() {
                let c = s.table.candidates[Int(ci)]
                let ev = s.table.expectedValue(Int(ci), customer: i)
                totals.add(c, expectedValue: ev, cost: plan.cost(of: c), product: plan.offers[Int(c.offer)].product, region: region, segment: segment)
                NBAFormat.appendRow(customerID: id, rank: r + 1, offerID: offerBytes[Int(c.offer)], channel: channelBytes[Int(c.channel)],
                                    propensity: c.propensity, expectedValue: ev, to: &rows)
            }
        }
        return (rows, totals)
    }
}
