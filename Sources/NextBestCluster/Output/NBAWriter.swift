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
        // The per-row counts go into one flat table through a pointer (offers, products, channels, regions,
        // segments, then offer × propensity bin), copied into `totals` at the end: counting through the
        // totals' six arrays checked each for uniqueness and bounds on every row.
        for i in 0..<s.table.customerCount { totals.ensure(region: Int(s.table.regions[i]), segment: Int(s.table.segments[i])) }
        let binCount = RunTotals.binCount
        let productBase = plan.offers.count, channelBase = productBase + plan.products.count
        let regionBase = channelBase + plan.channels.count, segmentBase = regionBase + totals.byRegion.count
        let binBase = segmentBase + totals.bySegment.count
        var counts = [Int64](repeating: 0, count: binBase + plan.offers.count * binCount)
        var offersMade: Int64 = 0, customersWithOffers: Int64 = 0
        var evMicros: Int64 = 0, costMicros: Int64 = 0, propensityMicros: Int64 = 0
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
            counts.withUnsafeMutableBufferPointer { count in
                let customers = s.table.customerCount
                for i in 0..<customers {
                    // The candidates chosen for the customer `chosenAhead` on are asked for first.
                    if i &+ ShardOptimizer.chosenAhead < customers { ShardOptimizer.prefetchChosen(sel, cands, customer: i &+ ShardOptimizer.chosenAhead, maxOffers: mo) }
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
                    if n == 0 { continue }
                    customersWithOffers &+= 1
                    count[regionBase &+ region] &+= Int64(n)
                    count[segmentBase &+ segment] &+= Int64(n)
                    offersMade &+= Int64(n)
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
                        count[offer] &+= 1
                        count[productBase &+ offerProduct[offer]] &+= 1
                        count[channelBase &+ channel] &+= 1
                        count[binBase &+ offer &* binCount &+ RunTotals.bin(propensity, edges: edges)] &+= 1
                        evMicros &+= RunTotals.micros(ev)
                        costMicros &+= pairCostMicros[offer &* channelCount &+ channel]
                        propensityMicros &+= pMicros
                        NBALists.put(UInt64(offer), &p); NBALists.put(UInt64(channel), &p)
                        NBALists.put(pCode, &p)
                        NBALists.put(FixedDecimal.code(ev, decimals: NBAFormat.valueDecimals), &p)
                    }
                }
            }}}}}
            written = p - start
        }
        totals.customers = Int64(s.table.customerCount)
        totals.customersWithOffers = customersWithOffers
        totals.offersMade = offersMade
        totals.expectedValueMicros = evMicros
        totals.costMicros = costMicros
        totals.propensityMicros = propensityMicros
        func take(_ a: inout [Int64], from base: Int) { for k in 0..<a.count { a[k] = counts[base + k] } }
        take(&totals.byOffer, from: 0); take(&totals.byProduct, from: productBase); take(&totals.byChannel, from: channelBase)
        take(&totals.byRegion, from: regionBase); take(&totals.bySegment, from: segmentBase); take(&totals.propensityBins, from: binBase)
        return (lists, totals)
    }
}
