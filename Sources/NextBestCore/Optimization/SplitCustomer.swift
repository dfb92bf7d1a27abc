/// A customer the LP master leaves split: its bucket mixes several price points and the customer's
/// choice differs between them. It carries what the integer program that settles it needs: every
/// candidate with its objective and the rows it uses, and what slot 0 holds for it now.
public struct SplitCustomer: Sendable, Equatable {
    /// One candidate of the customer.
    public struct Option: Sendable, Equatable {
        /// Index into the shard's candidate table.
        public var candidate: Int32
        /// Plan offer and family (for the per-customer limits).
        public var offer: Int32
        public var family: Int32
        /// Rows the candidate uses (the constraint count for none) and its cost in micro-money.
        public var productRow: Int32
        public var channelRow: Int32
        public var objectiveMicros: Int64
        public var costMicros: Int64
        public init(candidate: Int32, offer: Int32, family: Int32, productRow: Int32, channelRow: Int32, objectiveMicros: Int64, costMicros: Int64) {
            self.candidate = candidate; self.offer = offer; self.family = family; self.productRow = productRow
            self.channelRow = channelRow; self.objectiveMicros = objectiveMicros; self.costMicros = costMicros
        }
    }

    /// Customer index in its shard.
    public var customer: Int32
    public var regionRow: Int32
    public var segmentRow: Int32
    /// Candidates slot 0 holds for the customer.
    public var chosen: [Int32]
    /// The customer's choices at each point its bucket mixes (sorted candidate lists, no repeats; the
    /// first is `chosen`).
    public var alternatives: [[Int32]] = []
    public var options: [Option]
    /// The campaign's per-customer limits (offers, offers per family).
    public var maxOffers: Int32
    public var maxPerFamily: Int32

    public init(customer: Int32, regionRow: Int32, segmentRow: Int32, chosen: [Int32], options: [Option], maxOffers: Int32, maxPerFamily: Int32) {
        self.customer = customer; self.regionRow = regionRow; self.segmentRow = segmentRow; self.chosen = chosen; self.options = options
        self.maxOffers = maxOffers; self.maxPerFamily = maxPerFamily
    }

    /// Whether every index is in range for a shard of `rows` constraints and the customer's candidates are
    /// sane (a list read from the wire is checked before use).
    public func isValid(rows: Int) -> Bool {
        let none = Int32(rows)
        func row(_ r: Int32) -> Bool { r >= 0 && r <= none }
        return row(regionRow) && row(segmentRow) && options.count <= 4096 && maxOffers >= 1 && maxPerFamily >= 1
            && options.allSatisfy { row($0.productRow) && row($0.channelRow) && $0.offer >= 0 && $0.family >= 0 && $0.costMicros >= 0 }
            && chosen.allSatisfy { c in options.contains { $0.candidate == c } }
            && alternatives.count <= 255 && alternatives.allSatisfy { $0.allSatisfy { c in options.contains { $0.candidate == c } } }
    }
}

extension ShardOptimizer {
    /// The customers of buckets that mix several points (`active[bucket]`, indices into
    /// `request.points`, more than one) whose choice at some active point differs from slot 0's (which
    /// holds their choice at their bucket's own point of `request`).
    public mutating func splitCustomers(_ request: PricingRequest, active: [[UInt8]]) -> [SplitCustomer] {
        let mixed = active.map { $0.count > 1 }
        guard mixed.contains(true) else { return [] }
        let mo = maxOffers
        var out: [SplitCustomer] = []
        let found = offerEntries != nil && request.weights.allSatisfy({ $0 == 1 })
            ? alternativesOverEntries(request, active: active, mixed: mixed) : alternativesOverCandidates(request, active: active, mixed: mixed)
        for (i, alternatives) in found {
            let r = table.range(i)
            let options = r.map { ci -> SplitCustomer.Option in
                let c = table.candidates[ci]
                return SplitCustomer.Option(candidate: Int32(ci), offer: Int32(c.offer), family: Int32(plan.offers[Int(c.offer)].family),
                                            productRow: productRowOfOffer[Int(c.offer)], channelRow: channelRowOf[Int(c.channel)],
                                            objectiveMicros: RunTotals.micros(table.objective(ci, customer: i)), costMicros: costMicros(ci))
            }
            var s = SplitCustomer(customer: Int32(i), regionRow: regionRow(i), segmentRow: segmentRow(i), chosen: alternatives[0], options: options,
                                  maxOffers: Int32(mo), maxPerFamily: Int32(plan.campaign.perCustomer.maxPerFamily))
            s.alternatives = alternatives
            out.append(s)
        }
        return out
    }

    /// Slot 0's list of customer `i`, sorted.
    private func currentList(_ i: Int) -> [Int32] {
        (0..<maxOffers).compactMap { j -> Int32? in let c = selections[0][i * maxOffers + j]; return c >= 0 ? c : nil }.sorted()
    }

    /// The customers of mixed buckets with more than one list among slot 0's and their bucket's active
    /// points, each with its lists (slot 0's first): over the offer entries (every point at full weight).
    private mutating func alternativesOverEntries(_ request: PricingRequest, active: [[UInt8]], mixed: [Bool]) -> [(Int, [[Int32]])] {
        let oe = offerEntries!
        let source = entrySource(oe, sample: .all)
        let t = PointTables(self, oe, request)
        var solver = self.solver
        var chosen = ContiguousArray<Int32>()
        var found: [(Int, [[Int32]])] = []
        source.block.bases.withUnsafeBufferPointer { bases in
        source.block.slots.withUnsafeBufferPointer { entrySlots in
        source.block.offsets.withUnsafeBufferPointer { offsets in
        source.block.skips.withUnsafeBufferPointer { skips in
        oe.slotFamily.withUnsafeBufferPointer { slotFamily in
        t.price.withUnsafeBufferPointer { prices in
        t.position.withUnsafeBufferPointer { positions in
            for i in 0..<table.customerCount where mixed[Int(customerBucket[i])] {
                var alternatives = [currentList(i)]
                let lo = Int(offsets[i])
                for p in active[Int(customerBucket[i])] {
                    let ps = Int(p) * t.slots
                    let net = Int(p) * t.stride
                    let fixed = t.net[net + Int(regionRow(i))] + t.net[net + Int(segmentRow(i))]
                    chosen.removeAll(keepingCapacity: true)
                    let slots = entrySlots.baseAddress! + lo
                    _ = solver.solve(bases: UnsafeBufferPointer(rebasing: bases[lo..<Int(offsets[i + 1])]), slots: slots,
                                     slotFamily: slotFamily.baseAddress!, price: prices.baseAddress! + ps, fixed: fixed, into: &chosen)
                    let set = chosen.map { k in table.offsets[i] + Int32(skips[lo + Int(k)]) + positions[ps + Int(slots[Int(k)])] }.sorted()
                    if !alternatives.contains(set) { alternatives.append(set) }
                }
                if alternatives.count > 1 { found.append((i, alternatives)) }
            }
        }}}}}}}
        self.solver = solver
        return found
    }

    /// `alternativesOverEntries` over the candidates: any request (objective weights below 1).
    private mutating func alternativesOverCandidates(_ request: PricingRequest, active: [[UInt8]], mixed: [Bool]) -> [(Int, [[Int32]])] {
        let nets = request.points.map(\.netWithSentinel)
        let pairPrice = nets.map(pairPrices)
        let channelCount = plan.channels.count
        let rule = table.rule
        var found: [(Int, [[Int32]])] = []
        var chosen = ContiguousArray<Int32>()
        var solver = self.solver
        for i in 0..<table.customerCount where mixed[Int(customerBucket[i])] {
            let r = table.range(i)
            var alternatives = [currentList(i)]
            table.candidates.withUnsafeBufferPointer { all in
                table.values.withUnsafeBufferPointer { allValues in
                    let values = table.customerValues(allValues, i)
                    let slice = UnsafeBufferPointer(rebasing: all[r])
                    for p in active[Int(customerBucket[i])] {
                        let net = nets[Int(p)], pp = pairPrice[Int(p)], w = request.weights[Int(p)]
                        let fixed = net[Int(regionRow(i))] + net[Int(segmentRow(i))]
                        chosen.removeAll(keepingCapacity: true)
                        _ = solver.solve(slice, adjusted: { c in
                            w * rule.objective(c, values: values) - pp[Int(c.offer) &* channelCount &+ Int(c.channel)] - fixed
                        }, into: &chosen)
                        let set = chosen.map { Int32(r.lowerBound) + $0 }.sorted()
                        if !alternatives.contains(set) { alternatives.append(set) }
                    }
                }
            }
            if alternatives.count > 1 { found.append((i, alternatives)) }
        }
        self.solver = solver
        return found
    }
}
