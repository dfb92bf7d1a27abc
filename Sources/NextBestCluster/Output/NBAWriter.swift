import NextBestCore

/// Turns a shard's final selection into `nba.csv` rows and exact totals.
public enum NBAWriter {
    /// The lists of a shard (`NBALists`: customers in id order, each customer's offers ranked in
    /// `NBARanking`'s order), its `nba.csv` rows rendered from them by `NBALists.render` (so the kept lists
    /// render to these very bytes) and the shard's totals. The lists are written straight into one buffer
    /// sized for the longest possible lists (pages not written are never touched): at 10 M customers
    /// appending each field to an array, with its uniqueness and capacity checks and the offers' ids reached
    /// through the plan, took ~6.6 s of the workers' CPU while the coordinator waited for the lists.
    public static func output(_ s: ShardOptimizer, slot: Int, regions: Int, segments: Int) -> (rows: [UInt8], lists: [UInt8], totals: RunTotals) {
        let (lists, totals) = lists(s, slot: slot, regions: regions, segments: segments)
        do {
            return (try NBALists.render(lists), lists, totals)
        } catch {
            preconditionFailure("lists just written do not render: \(error)")
        }
    }

    /// A shard's `nba.csv` rows and totals (`output` without the lists).
    public static func rows(_ s: ShardOptimizer, slot: Int, regions: Int, segments: Int) -> (rows: [UInt8], totals: RunTotals) {
        let o = output(s, slot: slot, regions: regions, segments: segments)
        return (o.rows, o.totals)
    }

    /// The binary lists of a shard and its totals (see `output`).
    public static func lists(_ s: ShardOptimizer, slot: Int, regions: Int, segments: Int) -> (lists: [UInt8], totals: RunTotals) {
        let plan = s.plan
        var totals = RunTotals(offers: plan.offers.count, products: plan.products.count, channels: plan.channels.count,
                               regions: regions, segments: segments)
        totals.fatigued = s.table.fatigued
        let header = NBALists.header(offers: plan.offers.map(\.idBytes), channels: plan.channels.map { Array($0.utf8) })
        let offerProduct = plan.offers.map(\.product)
        let mo = s.maxOffers
        let capacity = header.count + s.table.customerCount * (NBALists.maxCustomerBytes + mo * NBALists.maxRowBytes)
        let rule = s.table.rule
        let pairCostMicros = plan.pairCost.map(RunTotals.micros)
        let channelCount = plan.channels.count
        let edges = RunTotals.propensityEdges
        var chosen = [Int32](repeating: 0, count: mo)
        var objective = [Double](repeating: 0, count: mo)
        var previousID: UInt64 = 0
        let lists = [UInt8](unsafeUninitializedCapacity: max(capacity, 1)) { out, written in
            let start = out.baseAddress!
            var p = start
            header.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: $0.count) }
            p += header.count
            edges.withUnsafeBufferPointer { edges in
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
                    NBALists.put(id &- previousID, &p); previousID = id
                    NBALists.put(UInt64(n), &p)
                    for r in 0..<n {
                        let c = cands[Int(chosen[r])]
                        let offer = Int(c.offer), channel = Int(c.channel)
                        let ev = rule.expectedValue(c, values: values), propensity = Double(c.propensity)
                        let pCode = FixedDecimal.code(propensity, decimals: NBAFormat.propensityDecimals)
                        // The printed propensity's digits are its micros (a code of a value >= 0 is twice them).
                        let pMicros = pCode & 1 == 0 && pCode < FixedDecimal.nonFiniteCode && NBAFormat.propensityDecimals == 6
                            ? Int64(pCode >> 1) : RunTotals.micros(propensity)
                        totals.add(c, expectedValueMicros: RunTotals.micros(ev), costMicros: pairCostMicros[offer &* channelCount &+ channel],
                                   propensityMicros: pMicros, bin: RunTotals.bin(propensity, edges: edges), product: offerProduct[offer],
                                   region: region, segment: segment)
                        NBALists.put(UInt64(offer), &p); NBALists.put(UInt64(channel), &p)
                        NBALists.put(pCode, &p)
                        NBALists.put(FixedDecimal.code(ev, decimals: NBAFormat.valueDecimals), &p)
                    }
                }
            }}}}
            written = p - start
        }
        return (lists, totals)
    }
}
