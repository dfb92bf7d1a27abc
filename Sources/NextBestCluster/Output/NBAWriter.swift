import NextBestCore

/// Turns a shard's final selection into `nba.csv` rows and exact totals.
public enum NBAWriter {
    /// The rows of a shard, in customer order, each customer's offers ranked (`NBARanking`'s order), with
    /// the shard's totals. Rows are written straight into one buffer sized for the longest possible rows
    /// (pages not written are never touched): at 10 M customers appending each field to an array, with
    /// its uniqueness and capacity checks and the offers' ids reached through the plan, took ~6.6 s of
    /// the workers' CPU while the coordinator waited for the lists.
    public static func rows(_ s: ShardOptimizer, slot: Int, regions: Int, segments: Int) -> (rows: [UInt8], totals: RunTotals) {
        let plan = s.plan
        var totals = RunTotals(offers: plan.offers.count, products: plan.products.count, channels: plan.channels.count,
                               regions: regions, segments: segments)
        totals.fatigued = s.table.fatigued
        // Offer ids and channel names as one flat buffer each, with offsets.
        var names: [UInt8] = []
        var offerStart: [Int] = [], channelStart: [Int] = []
        for o in plan.offers { offerStart.append(names.count); names += o.idBytes }
        offerStart.append(names.count)
        for c in plan.channels { channelStart.append(names.count); names += Array(c.utf8) }
        channelStart.append(names.count)
        let offerProduct = plan.offers.map(\.product)
        let longestOffer = plan.offers.map(\.idBytes.count).max() ?? 0
        let longestChannel = plan.channels.map(\.utf8.count).max() ?? 0
        let mo = s.maxOffers
        // id, rank, offer, channel, propensity, expected value: each followed by a comma or the newline.
        let rowBound = 20 + 20 + longestOffer + longestChannel + 2 * FixedDecimal.maxBytes + 6
        let capacity = s.table.customerCount * mo * rowBound
        let rule = s.table.rule
        let pairCost = plan.pairCost
        let channelCount = plan.channels.count
        var chosen = [Int32](repeating: 0, count: mo)
        var objective = [Double](repeating: 0, count: mo)
        let rows = [UInt8](unsafeUninitializedCapacity: max(capacity, 1)) { out, written in
            let start = out.baseAddress!
            var p = start
            @inline(__always) func put(_ byte: UInt8) { p.pointee = byte; p += 1 }
            names.withUnsafeBufferPointer { names in
            s.table.candidates.withUnsafeBufferPointer { cands in
            s.table.values.withUnsafeBufferPointer { allValues in
            s.selections[slot].withUnsafeBufferPointer { sel in
                for i in 0..<s.table.customerCount {
                    totals.customers += 1
                    let values = s.table.customerValues(allValues, i)
                    var n = 0
                    for j in 0..<mo {
                        let ci = sel[i &* mo &+ j]
                        guard ci >= 0 else { continue }
                        // Insertion by objective descending, ties by offer index (NBARanking's order).
                        let o = rule.objective(cands[Int(ci)], values: values)
                        var k = n
                        while k > 0 && NBARanking.precedes(o, offer: cands[Int(ci)].offer, objective[k - 1], offer: cands[Int(chosen[k - 1])].offer) {
                            chosen[k] = chosen[k - 1]; objective[k] = objective[k - 1]; k -= 1
                        }
                        chosen[k] = ci; objective[k] = o
                        n += 1
                    }
                    let region = Int(s.table.regions[i]), segment = Int(s.table.segments[i])
                    totals.ensure(region: region, segment: segment)
                    if n == 0 { continue }
                    totals.customersWithOffers += 1
                    let id = s.table.customerIDs[i]
                    for r in 0..<n {
                        let c = cands[Int(chosen[r])]
                        let offer = Int(c.offer), channel = Int(c.channel)
                        let ev = rule.expectedValue(c, values: values)
                        totals.add(c, expectedValue: ev, cost: pairCost[offer &* channelCount &+ channel], product: offerProduct[offer],
                                   region: region, segment: segment)
                        p += FixedDecimal.writeDecimal(id, to: p); put(UInt8(ascii: ","))
                        p += FixedDecimal.writeDecimal(UInt64(r + 1), to: p); put(UInt8(ascii: ","))
                        let os = offerStart[offer], oe = offerStart[offer + 1]
                        p.update(from: names.baseAddress! + os, count: oe - os); p += oe - os; put(UInt8(ascii: ","))
                        let cs = channelStart[channel], ce = channelStart[channel + 1]
                        p.update(from: names.baseAddress! + cs, count: ce - cs); p += ce - cs; put(UInt8(ascii: ","))
                        p += FixedDecimal.write(Double(c.propensity), decimals: NBAFormat.propensityDecimals, to: p); put(UInt8(ascii: ","))
                        p += FixedDecimal.write(ev, decimals: NBAFormat.valueDecimals, to: p); put(UInt8(ascii: "\n"))
                    }
                }
            }}}}
            written = p - start
        }
        return (rows, totals)
    }
}
