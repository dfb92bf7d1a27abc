import CPrefetch
/// The per-shard side of the optimizer: evaluates a price vector over the shard's candidates (every
/// customer's sub-problem), and keeps the current selection for repair and output. One round of the
/// distributed algorithm is exactly one `evaluate` per shard.
public struct ShardOptimizer: Sendable {
    public let plan: ScoringPlan
    public let constraints: ConstraintSet
    public let table: CandidateTable
    /// Row (or `constraints.count` for none) of each candidate's product and channel, and its cost in micros.
    let productRowOfOffer: ContiguousArray<Int32>
    let channelRowOf: ContiguousArray<Int32>
    /// Cost in micro-money of each (offer, channel) pair, `offer * channelCount + channel` (the same for
    /// every customer, so not kept per candidate).
    let pairCostMicros: ContiguousArray<Int64>
    let channelCount: Int
    /// Selections, each as chosen candidate indices per customer (`selections[slot][i * maxOffers + j]`,
    /// -1 when empty). Slot 0 is what the last `evaluate` chose; the others are the repair's working
    /// copies (see `Optimizer.Slot`).
    public private(set) var selections: [ContiguousArray<Int32>]
    /// The selection of the last `evaluate`.
    public var selection: ContiguousArray<Int32> { selections[0] }
    /// A slot's state counted ahead (`keepState`), kept up to date by `apply` and dropped by any other
    /// change of that slot.
    private var keptState: (slot: Int, state: SelectionState)? = nil
    public let maxOffers: Int
    var solver: SubProblemSolver
    /// The layout of one entry per (customer, offer) for the rounds, when the campaign's shape allows it.
    let offerEntries: OfferEntries?
    /// Every customer's entries, kept for every pass: the table's (built while scoring), or built at the
    /// first pass over everybody. Building them costs about twice what a pass over them does.
    private var keptEntries: OfferEntries.Block? = nil
    /// Every customer's offer entries when they are at hand (kept, or built while scoring), in table order.
    var entriesAtHand: OfferEntries.Block? { keptEntries ?? table.offerEntries }
    /// Each customer's region and segment row (or `constraints.count` for none).
    let customerRegionRow: ContiguousArray<Int32>
    let customerSegmentRow: ContiguousArray<Int32>
    /// Each customer's bucket (`CustomerBuckets`).
    let customerBucket: ContiguousArray<UInt8>
    /// The customers (indices) of the last sample evaluated and their entries, together, so that its passes
    /// touch no one else (dropped once every customer's entries are kept).
    private var sampled: (modulus: Int, customers: ContiguousArray<Int32>, entries: OfferEntries.Block)? = nil

    /// The selections and totals of the last full passes that asked to be kept (`PricingRequest.pass`),
    /// oldest first: the settle step takes each bucket's choice at its main point from them.
    var kept: [KeptPass] = []
    /// Whether lists fit `KeptPass`'s positions: no customer has `UInt16.max` candidates or more.
    let canKeepPasses: Bool

    /// Whether every customer's entries are kept (after the first pass over everybody).
    var keepsEntries: Bool { keptEntries != nil }

    /// `foldOffers: false` keeps the rounds on the candidates (the plain path, which tests compare with).
    public init(plan: ScoringPlan, constraints: ConstraintSet, table: CandidateTable, foldOffers: Bool = true) {
        self.plan = plan
        self.constraints = constraints
        self.table = table
        let none = Int32(constraints.count)
        productRowOfOffer = ContiguousArray(plan.offers.map { o in
            let r = constraints.productRow[o.product]; return r >= 0 ? r : none
        })
        channelRowOf = ContiguousArray(plan.channels.indices.map { c in
            let r = constraints.channelRow[c]; return r >= 0 ? r : none
        })
        let channelCount = plan.channels.count
        self.channelCount = channelCount
        var pairCost = ContiguousArray<Int64>(repeating: 0, count: plan.offers.count * channelCount)
        for (oi, o) in plan.offers.enumerated() { for (k, ch) in o.channels.enumerated() { pairCost[oi * channelCount + ch] = RunTotals.micros(o.cost[k]) } }
        pairCostMicros = pairCost
        maxOffers = plan.campaign.perCustomer.maxOffers
        selections = Array(repeating: ContiguousArray(repeating: -1, count: table.customerCount * maxOffers), count: Optimizer.Slot.count)
        solver = SubProblemSolver(plan: plan)
        offerEntries = foldOffers ? OfferEntries(plan: plan) : nil
        func row(_ code: UInt16, _ rows: [Int32]) -> Int32 {
            let r = Int(code) < rows.count ? rows[Int(code)] : -1
            return r >= 0 ? r : none
        }
        customerRegionRow = ContiguousArray(table.regions.map { row($0, constraints.regionRow) })
        customerSegmentRow = ContiguousArray(table.segments.map { row($0, constraints.segmentRow) })
        customerBucket = ContiguousArray(table.customerIDs.map { UInt8(CustomerBuckets.of($0)) })
        canKeepPasses = (0..<table.customerCount).allSatisfy { table.range($0).count < Int(UInt16.max) }
    }

    /// Cost in micro-money of candidate `ci`.
    @inline(__always) func costMicros(_ ci: Int) -> Int64 {
        let c = table.candidates[ci]
        return pairCostMicros[Int(c.offer) &* channelCount &+ Int(c.channel)]
    }

    @inline(__always) func regionRow(_ i: Int) -> Int32 { customerRegionRow[i] }

    @inline(__always) func segmentRow(_ i: Int) -> Int32 { customerSegmentRow[i] }

    /// Solves every customer's sub-problem at `prices`, records the selection and returns the aggregates.
    public mutating func evaluate(_ prices: Prices, sample: CustomerSample = .all) -> Aggregates {
        evaluate(PricingRequest(prices), sample: sample)
    }

    /// Solves every customer's sub-problem at its point of `request`, records the selection (slot 0) and
    /// returns the aggregates, also per bucket. With a sample, only the sample's customers are solved and
    /// the selection is left as it was (the presolve's rounds: their aggregates stand for the sample alone).
    ///
    /// Over everybody, a bucket whose `request.bucketPass` names a pass this shard kept (`KeptPass`) takes
    /// that pass's choice and totals instead of being solved again (the same lists: the same point), and a
    /// request with a `pass` tag is kept under it.
    public mutating func evaluate(_ request: PricingRequest, sample: CustomerSample = .all) -> Aggregates {
        var totals = BucketTotals(rows: constraints.count)
        var selection = selections[0]
        selections[0] = []
        var skip = sample.isAll ? reuseKept(request, into: &selection, totals: &totals) : nil
        let solved = (0..<CustomerBuckets.count).map { request.solves(bucket: $0) }
        if solved.contains(false) {
            // The buckets the pass leaves out: not solved, no totals (their lists in slot 0 stay as they were).
            var s = skip ?? ContiguousArray(repeating: false, count: CustomerBuckets.count)
            for b in 0..<CustomerBuckets.count where !solved[b] { s[b] = true }
            skip = s
        }
        var solver = self.solver
        if let oe = offerEntries, request.weights.allSatisfy({ $0 == 1 }) {
            // Every point at full weight: one pass in entry order, each customer at its bucket's point.
            let source = entrySource(oe, sample: sample)
            evaluateEntries(oe, tables: PointTables(self, oe, request), source: source, writes: sample.isAll, skip: skip,
                            selection: &selection, solver: &solver, totals: &totals)
        } else {
            evaluateCandidates(request, sample: sample, skip: skip, selection: &selection, solver: &solver, totals: &totals)
        }
        self.solver = solver
        selections[0] = selection
        if keptState?.slot == 0 { keptState = nil }
        if sample.isAll, request.pass != 0 { keep(pass: request.pass, totals: totals, solved: solved) }
        return totals.aggregates()
    }

    /// The priced use of every (offer, channel) pair (the same for every customer): `offer * channels + channel`.
    func pairPrices(_ net: ContiguousArray<Double>) -> ContiguousArray<Double> {
        let budgetPrice = constraints.budgetRow >= 0 ? net[constraints.budgetRow] : 0
        let channelCount = plan.channels.count
        var pairPrice = ContiguousArray<Double>(repeating: 0, count: plan.offers.count * channelCount)
        for (oi, o) in plan.offers.enumerated() {
            for (k, ch) in o.channels.enumerated() {
                pairPrice[oi * channelCount + ch] = budgetPrice * o.cost[k] + net[Int(productRowOfOffer[oi])] + net[Int(channelRowOf[ch])]
            }
        }
        return pairPrice
    }

    /// `evaluate` on the candidates themselves: any request (several points, objective weights).
    private func evaluateCandidates(_ request: PricingRequest, sample: CustomerSample, skip: ContiguousArray<Bool>?,
                                    selection: inout ContiguousArray<Int32>, solver: inout SubProblemSolver, totals: inout BucketTotals) {
        let nets = request.points.map(\.netWithSentinel)
        let pairPrice = nets.map(pairPrices)
        let channelCount = plan.channels.count
        var chosen = ContiguousArray<Int32>()
        chosen.reserveCapacity(maxOffers)
        let productRow = productRowOfOffer, channelRow = channelRowOf
        let maxOffers = self.maxOffers
        let budgetRow = constraints.budgetRow
        let stride = constraints.count + 1
        let rule = table.rule
        table.candidates.withUnsafeBufferPointer { all in
         table.values.withUnsafeBufferPointer { allValues in
            for i in 0..<table.customerCount where sample.contains(table.customerIDs[i]) && skip?[Int(customerBucket[i])] != true {
                let point = request.point(of: table.customerIDs[i])
                let net = nets[point], pp = pairPrice[point], w = request.weights[point]
                let r = table.range(i)
                let fixed = net[Int(regionRow(i))] + net[Int(segmentRow(i))]
                chosen.removeAll(keepingCapacity: true)
                let slice = UnsafeBufferPointer(rebasing: all[r])
                let values = table.customerValues(allValues, i)
                let value = solver.solve(slice, adjusted: { c in
                    w * rule.objective(c, values: values) - pp[Int(c.offer) &* channelCount &+ Int(c.channel)] - fixed
                }, into: &chosen)
                let bucket = Int(customerBucket[i])
                totals.dual[bucket] += RunTotals.micros(value)
                let base = i * maxOffers
                if sample.isAll { for j in 0..<maxOffers { selection[base + j] = j < chosen.count ? Int32(r.lowerBound) + chosen[j] : -1 } }
                let bo = bucket * stride
                for idx in chosen {
                    let ci = r.lowerBound + Int(idx)
                    let c = all[ci]
                    let objective = RunTotals.micros(rule.objective(c, values: values))
                    totals.primal[bucket] += objective
                    totals.offers[bucket] += 1
                    totals.cost[bucket] += costMicros(ci)
                    if budgetRow >= 0 { totals.use[bo + budgetRow] += costMicros(ci) }
                    totals.use[bo + Int(productRow[Int(c.offer)])] += 1
                    totals.use[bo + Int(channelRow[Int(c.channel)])] += 1
                    totals.use[bo + Int(regionRow(i))] += 1
                    totals.use[bo + Int(segmentRow(i))] += 1
                }
            }
         }
        }
    }

    /// Where a pass over the entries reads them: a block, and which customer each of its entry lists is
    /// (nil: the n-th list is the n-th customer).
    struct EntrySource {
        var block: OfferEntries.Block
        var customers: ContiguousArray<Int32>?
        /// Entry lists in the block to solve, in order (nil: all of them).
        var only: ContiguousArray<Int32>?
        var count: Int { only?.count ?? block.count }
        /// The list (in the block) of the n-th customer to solve.
        @inline(__always) func position(_ n: Int) -> Int { only.map { Int($0[n]) } ?? n }
    }

    /// The entries a pass over `sample` reads: every customer's (built at the first pass over everybody and
    /// kept), or the sample's own (built at its first pass), or the kept ones for the sample's customers.
    mutating func entrySource(_ oe: OfferEntries, sample: CustomerSample) -> EntrySource {
        let count = table.customerCount
        if sample.isAll {
            if keptEntries == nil {
                // Built while scoring when the table kept them (`CandidateTable.init(rule:entries:)`).
                if let built = table.offerEntries {
                    keptEntries = built
                } else {
                    var b = OfferEntries.Block()
                    oe.build(table, customers: 0, count, into: &b)
                    keptEntries = b
                }
                sampled = nil
            }
            return EntrySource(block: keptEntries!, customers: nil, only: nil)
        }
        var members = ContiguousArray<Int32>()
        if let kept = keptEntries {
            for i in 0..<count where sample.contains(table.customerIDs[i]) { members.append(Int32(i)) }
            return EntrySource(block: kept, customers: nil, only: members)
        }
        if let c = sampled, c.modulus == sample.modulus { return EntrySource(block: c.entries, customers: c.customers, only: nil) }
        for i in 0..<count where sample.contains(table.customerIDs[i]) { members.append(Int32(i)) }
        // The sample's own entries, together: copied from the table's when it kept them (built while
        // scoring), else built from its candidates.
        var b = OfferEntries.Block()
        if let built = table.offerEntries {
            b = built.gathered(members)
        } else {
            members.withUnsafeBufferPointer { oe.build(table, customers: 0, 0, only: $0, into: &b) }
        }
        sampled = (sample.modulus, members, b)
        return EntrySource(block: b, customers: members, only: nil)
    }

    /// What a pass over the entries reads per price point, each table flat (point `p`'s part starts at
    /// `p * slots`, or `p * (rows + 1)` for the net prices): per slot its best channel's price, position,
    /// objective part, cost and rows.
    struct PointTables {
        var slots: Int
        var stride: Int
        var price = ContiguousArray<Double>()
        var position = ContiguousArray<Int32>()
        var objective = ContiguousArray<Double>()
        var cost = ContiguousArray<Int64>()
        var productRow = ContiguousArray<Int32>()
        var channelRow = ContiguousArray<Int32>()
        var net = ContiguousArray<Double>()
        /// Point per bucket.
        var pointOfBucket: ContiguousArray<UInt8>

        init(_ shard: ShardOptimizer, _ oe: OfferEntries, _ request: PricingRequest) {
            slots = oe.slotCount
            stride = shard.constraints.count + 1
            pointOfBucket = request.bucketPoint.isEmpty ? ContiguousArray(repeating: 0, count: CustomerBuckets.count)
                                                        : ContiguousArray(request.bucketPoint)
            let none = Int32(shard.constraints.count)
            for point in request.points {
                let net = point.netWithSentinel
                let best = oe.bestChannels(pairPrice: shard.pairPrices(net), channelCount: shard.channelCount)
                self.net += net
                price += best.price
                position += best.position
                var objective = ContiguousArray<Double>(repeating: 0, count: slots)
                var cost = ContiguousArray<Int64>(repeating: 0, count: slots)
                var productRow = ContiguousArray<Int32>(repeating: none, count: slots)
                var channelRow = ContiguousArray<Int32>(repeating: none, count: slots)
                for (o, chans) in oe.channels.enumerated() {
                    for mask in 1..<(1 << chans.count) {
                        let slot = oe.slotBase[o] + mask, k = Int(best.channel[slot])
                        objective[slot] = oe.channelObjective[o][k]
                        cost[slot] = shard.pairCostMicros[o * shard.channelCount + chans[k]]
                        productRow[slot] = shard.productRowOfOffer[o]
                        channelRow[slot] = shard.channelRowOf[chans[k]]
                    }
                }
                self.objective += objective; self.cost += cost; self.productRow += productRow; self.channelRow += channelRow
            }
        }
    }

    /// `evaluate` over the offer entries: the same choices and aggregates, in entry order, with every
    /// array reached through its buffer once, outside the loop over customers.
    private func evaluateEntries(_ oe: OfferEntries, tables t: PointTables, source: EntrySource, writes: Bool, skip: ContiguousArray<Bool>?,
                                 selection: inout ContiguousArray<Int32>, solver: inout SubProblemSolver, totals: inout BucketTotals) {
        let mo = maxOffers
        let budgetRow = constraints.budgetRow
        let customers = source.count
        let stride = t.stride, slots = t.slots
        var chosen = ContiguousArray<Int32>(), second = ContiguousArray<Int32>()
        chosen.reserveCapacity(mo); second.reserveCapacity(mo)
        let skips = skip ?? ContiguousArray(repeating: false, count: CustomerBuckets.count)
        customerRegionRow.withUnsafeBufferPointer { regionRows in
        customerSegmentRow.withUnsafeBufferPointer { segmentRows in
        t.price.withUnsafeBufferPointer { prices in
        t.position.withUnsafeBufferPointer { positions in
        t.objective.withUnsafeBufferPointer { slotObjectives in
        t.cost.withUnsafeBufferPointer { slotCosts in
        t.productRow.withUnsafeBufferPointer { slotProductRows in
        t.channelRow.withUnsafeBufferPointer { slotChannelRows in
        t.net.withUnsafeBufferPointer { nets in
        t.pointOfBucket.withUnsafeBufferPointer { pointOfBucket in
        customerBucket.withUnsafeBufferPointer { buckets in
        totals.use.withUnsafeMutableBufferPointer { use in
        totals.primal.withUnsafeMutableBufferPointer { bucketPrimal in
        totals.dual.withUnsafeMutableBufferPointer { bucketDual in
        totals.offers.withUnsafeMutableBufferPointer { bucketOffers in
        totals.cost.withUnsafeMutableBufferPointer { bucketCost in
        skips.withUnsafeBufferPointer { skipBucket in
        selection.withUnsafeMutableBufferPointer { selection in
        source.block.bases.withUnsafeBufferPointer { bases in
        source.block.slots.withUnsafeBufferPointer { entrySlots in
        source.block.offsets.withUnsafeBufferPointer { offsets in
        source.block.skips.withUnsafeBufferPointer { skips in
        oe.slotFamily.withUnsafeBufferPointer { slotFamily in
        table.offsets.withUnsafeBufferPointer { firstCandidate in
            /// A list to solve: its customer, bucket, point and entries.
            struct List {
                var i: Int, bucket: Int, bo: Int, ps: Int, region: Int, segment: Int, lo: Int, hi: Int
                var price: UnsafePointer<Double>, fixed: Double
            }
            /// The n-th list's position among the source's lists, and its customer.
            @inline(__always) func place(_ n: Int) -> (k: Int, i: Int) {
                let k = source.position(n)
                return (k, source.customers.map { Int($0[k]) } ?? k)
            }
            /// The n-th list to solve (nil: its bucket is taken from a kept pass or left out).
            @inline(__always) func list(_ n: Int) -> List? {
                let (k, i) = place(n)
                let bucket = Int(buckets[i]), bo = bucket &* stride
                if skipBucket[bucket] { return nil }
                // The customer's point: its tables.
                let p = Int(pointOfBucket[bucket]), ps = p &* slots
                let net = nets.baseAddress! + p &* stride
                let region = bo + Int(regionRows[i]), segment = bo + Int(segmentRows[i])
                return List(i: i, bucket: bucket, bo: bo, ps: ps, region: region, segment: segment,
                            lo: Int(offsets[k]), hi: Int(offsets[k + 1]), price: prices.baseAddress! + ps,
                            fixed: net[region - bo] + net[segment - bo])
            }
            @inline(__always) func entries(_ l: List) -> UnsafeBufferPointer<Double> { UnsafeBufferPointer(rebasing: bases[l.lo..<l.hi]) }
            /// A solved list's selection and totals.
            @inline(__always) func account(_ l: List, value: Double, chosen: ContiguousArray<Int32>) {
                let bucket = l.bucket, bo = l.bo, lo = l.lo, i = l.i
                let slotsOfCustomer = entrySlots.baseAddress! + lo
                bucketDual[bucket] += RunTotals.micros(value)
                let base = i * mo
                for j in 0..<mo {
                    if j < chosen.count {
                        let e = Int(chosen[j])
                        let slot = l.ps + Int(slotsOfCustomer[e])
                        if writes { selection[base + j] = firstCandidate[i] + Int32(skips[lo + e]) + positions[slot] }
                        // What the chosen channel adds, from the slot: no candidate is read here.
                        let objective = RunTotals.micros(bases[lo + e] - slotObjectives[slot])
                        bucketPrimal[bucket] += objective
                        bucketOffers[bucket] += 1
                        bucketCost[bucket] += slotCosts[slot]
                        if budgetRow >= 0 { use[bo + budgetRow] += slotCosts[slot] }
                        use[bo + Int(slotProductRows[slot])] += 1
                        use[bo + Int(slotChannelRows[slot])] += 1
                        use[l.region] += 1
                        use[l.segment] += 1
                    } else if writes {
                        selection[base + j] = -1
                    }
                }
            }
            // A pass that leaves most buckets out reads its customers' entries here and there, which the CPU's
            // own prefetch (it follows streams) does not see coming: each customer waited for its entries, and a
            // pass over a quarter of the buckets took more than half a whole pass at 10 M. So the entries (and the
            // selection) of the list `fetchAhead` lists on are asked for first (`nextbest_prefetch`). With half
            // the buckets or more solved, the streams are dense enough for the CPU (at 1 M a pass over 46 of 64
            // buckets took 0.062–0.066 s with these hints, 0.057–0.058 s without; over 20–21, 0.033–0.036 s
            // against 0.042–0.045 s).
            let sparse = skipBucket.reduce(0) { $0 + ($1 ? 0 : 1) } * 2 <= CustomerBuckets.count
            var ahead = 0
            @inline(__always) func fetchNext() {
                while ahead < customers {
                    let (k, i) = place(ahead)
                    ahead &+= 1
                    guard !skipBucket[Int(buckets[i])] else { continue }
                    let lo = Int(offsets[k]), hi = Int(offsets[k + 1])
                    var e = lo
                    while e < hi { nextbest_prefetch(bases.baseAddress! + e); e &+= 8 }
                    nextbest_prefetch(entrySlots.baseAddress! + lo)
                    nextbest_prefetch(skips.baseAddress! + lo)
                    if writes { nextbest_prefetch(selection.baseAddress! + i &* mo) }
                    return
                }
            }
            let fetchAhead = 8
            if sparse { for _ in 0..<fetchAhead { fetchNext() } }
            // Two lists at a time when the solver can (`solvePair`), each accounted in list order as alone.
            let pairs = solver.solvesPairs
            var n = 0
            while n < customers {
                guard let a = list(n) else { n += 1; continue }
                n += 1
                var b: List? = nil
                while pairs && b == nil && n < customers { b = list(n); n += 1 }
                if sparse { fetchNext(); if b != nil { fetchNext() } }
                chosen.removeAll(keepingCapacity: true)
                if let b {
                    second.removeAll(keepingCapacity: true)
                    let (va, vb) = solver.solvePair(bases: entries(a), slots: entrySlots.baseAddress! + a.lo, price: a.price, fixed: a.fixed,
                                                    bases2: entries(b), slots2: entrySlots.baseAddress! + b.lo, price2: b.price, fixed2: b.fixed,
                                                    slotFamily: slotFamily.baseAddress!, into: &chosen, &second)
                    account(a, value: va, chosen: chosen)
                    account(b, value: vb, chosen: second)
                } else {
                    let value = solver.solve(bases: entries(a), slots: entrySlots.baseAddress! + a.lo,
                                             slotFamily: slotFamily.baseAddress!, price: a.price, fixed: a.fixed, into: &chosen)
                    account(a, value: value, chosen: chosen)
                }
            }
        }}}}}
        }}}}}}}}}}}}}}}}}}}
    }

    /// Copies one selection slot over another.
    public mutating func copySelection(from: Int, to: Int) {
        selections[to] = selections[from]
        if keptState?.slot == to, from != to { keptState = nil }
    }

    /// How many customers ahead the walks over a whole selection (`Repair.state`, the lists of the output) ask
    /// for the chosen candidates.
    public static let chosenAhead = 8

    /// Asks the CPU for the chosen candidates of customer `i` of selection `sel` (a hint: nothing is read).
    /// The table is far larger than the caches and a customer's chosen few are spread over its candidates'
    /// lines: a quarter of the output lists' samples (perf, 10 M rescore) waited on those loads.
    @inlinable @inline(__always)
    public static func prefetchChosen(_ sel: UnsafeBufferPointer<Int32>, _ cands: UnsafeBufferPointer<Candidate>, customer i: Int, maxOffers mo: Int) {
        for j in 0..<mo {
            let ci = sel[i &* mo &+ j]
            if ci >= 0 { nextbest_prefetch(cands.baseAddress! + Int(ci)) }
        }
    }

    /// Slot `slot`'s use of every row and objective (`Repair.state`): the state kept for it, if any.
    public func state(slot: Int) -> SelectionState {
        if let kept = keptState, kept.slot == slot { return kept.state }
        return Repair.state(self, slot: slot)
    }

    /// Counts slot `slot`'s state now and keeps it: `apply` keeps it up to date, so that `state` answers at
    /// once. A worker does this after the settle pass, while the coordinator solves the settle's programs
    /// (its changes touch a few customers; counting the state afterwards read every chosen candidate).
    public mutating func keepState(slot: Int) {
        keptState = (slot, Repair.state(self, slot: slot))
    }

    /// Whether a change names a customer of this shard and candidates of that customer (a change read
    /// from the wire is checked before it is applied).
    public func isValid(_ c: Repair.Change) -> Bool {
        guard c.customer >= 0, Int(c.customer) < table.customerCount else { return false }
        let r = table.range(Int(c.customer))
        return (c.remove == -1 || r.contains(Int(c.remove))) && (c.add == -1 || r.contains(Int(c.add)))
    }

    /// Applies repair changes to a slot's selection: each removes one chosen candidate and/or adds one.
    /// The kept state of the slot, if any, follows: what each change removes and adds is counted out of it
    /// and into it as `Repair.state` counts it.
    public mutating func apply(_ changes: [Repair.Change], slot: Int) {
        let mo = maxOffers
        // Another slot's kept state stays as it is.
        var kept = keptState?.slot == slot ? keptState?.state : nil
        if kept != nil { keptState = nil }
        for m in changes {
            let i = Int(m.customer), base = i * mo
            if m.remove >= 0, let j = (0..<mo).first(where: { selections[slot][base + $0] == m.remove }) {
                selections[slot][base + j] = -1
                if kept != nil { count(candidate: Int(m.remove), customer: i, sign: -1, into: &kept!) }
            }
            if m.add >= 0, let j = (0..<mo).first(where: { selections[slot][base + $0] == -1 }) {
                selections[slot][base + j] = m.add
                if kept != nil { count(candidate: Int(m.add), customer: i, sign: 1, into: &kept!) }
            }
        }
        if let kept { keptState = (slot, kept) }
    }

    /// Counts chosen candidate `ci` of customer `i` into (`sign` 1) or out of (-1) a state, as `Repair.state`
    /// counts each chosen candidate.
    func count(candidate ci: Int, customer i: Int, sign: Int64, into st: inout SelectionState) {
        let c = table.candidates[ci]
        let budget = constraints.budgetRow >= 0 ? constraints.budgetRow : constraints.count
        st.use[budget] &+= sign &* pairCostMicros[Int(c.offer) * channelCount + Int(c.channel)]
        st.use[Int(productRowOfOffer[Int(c.offer)])] &+= sign
        st.use[Int(channelRowOf[Int(c.channel)])] &+= sign
        st.use[Int(customerRegionRow[i])] &+= sign
        st.use[Int(customerSegmentRow[i])] &+= sign
        st.objectiveMicros &+= sign &* table.values.withUnsafeBufferPointer { RunTotals.micros(table.rule.objective(c, values: table.customerValues($0, i))) }
    }
}
