/// A shard's scored candidates, held in memory between optimization rounds: customers in id order,
/// each with its eligible (offer, channel) candidates in one contiguous array, and the values their
/// expected values follow from (`rule`).
public struct CandidateTable: Sendable {
    public private(set) var customerIDs: ContiguousArray<UInt64> = []
    public private(set) var regions: ContiguousArray<UInt16> = []
    public private(set) var segments: ContiguousArray<UInt16> = []
    /// `offsets[i]..<offsets[i+1]` are customer i's candidates.
    public private(set) var offsets: ContiguousArray<Int32> = [0]
    public private(set) var candidates: ContiguousArray<Candidate> = []
    /// How a candidate's expected value and objective follow from its propensity and its customer's values.
    public let rule: ExpectedValueRule
    /// Every customer's values (`rule.valueCount` each, customer order).
    public private(set) var values: ContiguousArray<Float> = []
    /// Offers removed by fatigue, summed over the shard's customers.
    public var fatigued: Int64 = 0
    /// Every customer's propensity under every plan model (customers × models), when kept for rescoring.
    public var propensities: ContiguousArray<Float> = []
    /// Every customer's offers removed by fatigue, when kept: what rebuilding the table after a model
    /// changed needs besides its candidates (`rebuilt`).
    public var fatigue: FatigueLog? = nil
    /// Every customer's profile features, when kept: with them a rebuild evaluates the changed models without
    /// reading the profiles again (`ShardScorer.rebuildTable`).
    public var features: KeptFeatures? = nil

    /// A table's customers' profile features and the key range they were read from.
    public struct KeptFeatures: Sendable, Equatable {
        /// The shard's customer-id range, `lower..<upper` (nil: to the end).
        public var lower: UInt64
        public var upper: UInt64?
        /// Customers × the schema's features, customers in id order.
        public var values: ContiguousArray<Float>
        public init(lower: UInt64, upper: UInt64?, values: ContiguousArray<Float>) { self.lower = lower; self.upper = upper; self.values = values }
    }
    /// The layout of the optimizer's offer entries, when they are built as customers are appended.
    let entryLayout: OfferEntries?
    /// Every customer's offer entries for the optimizer's passes, built as each customer is appended (its
    /// candidates are then in cache) when the table was made with a layout; nil otherwise.
    public private(set) var offerEntries: OfferEntries.Block?

    /// An empty table; with `entries`, it also builds each customer's offer entries as it is appended
    /// (the layout must come from the plan whose rule this is).
    public init(rule: ExpectedValueRule, entries: OfferEntries? = nil) {
        self.rule = rule
        entryLayout = entries
        offerEntries = entries.map { _ in OfferEntries.Block() }
    }

    /// An empty table for `plan`'s candidates.
    public init(plan: ScoringPlan) { self.init(rule: ExpectedValueRule(plan: plan)) }

    public var customerCount: Int { customerIDs.count }

    /// Room for this many customers and candidates, allocated once (pages not used are never touched).
    public mutating func reserve(customers: Int, candidates n: Int) {
        customerIDs.reserveCapacity(customers)
        regions.reserveCapacity(customers)
        segments.reserveCapacity(customers)
        offsets.reserveCapacity(customers + 1)
        values.reserveCapacity(customers * rule.valueCount)
        candidates.reserveCapacity(n)
        // At most one entry per candidate.
        if entryLayout != nil, offerEntries?.count == 0 { offerEntries = OfferEntries.Block(customers: customers, entries: n) }
    }

    /// Appends one customer's candidates and values (`rule.valueCount` of them).
    public mutating func append(customerID: UInt64, region: UInt16, segment: UInt16, candidates c: ContiguousArray<Candidate>,
                                values v: ContiguousArray<Float>) {
        precondition(v.count == rule.valueCount, "a customer's values: \(v.count), the rule keeps \(rule.valueCount)")
        customerIDs.append(customerID)
        regions.append(region)
        segments.append(segment)
        candidates.append(contentsOf: c)
        values.append(contentsOf: v)
        offsets.append(Int32(candidates.count))
        if let layout = entryLayout {
            c.withUnsafeBufferPointer { c in v.withUnsafeBufferPointer { v in layout.append(c, values: v, rule: rule, to: &offerEntries!) } }
        }
    }

    /// The offers a rebuild makes again (`rebuilt`) and their rules: the offers whose model's propensities
    /// changed, each with its channels and their minimum propensities (as `CustomerScorer` applies them).
    public struct ChangedOffers: Sendable {
        /// Offer indices, ascending.
        public let offers: ContiguousArray<Int32>
        /// Per changed offer: its model's column among the propensities `rebuilt` is given.
        let column: ContiguousArray<Int32>
        /// Per changed offer k: its channels `slotStart[k]..<slotStart[k + 1]`, each one's plan index and
        /// minimum propensity, in the offer's channel order.
        let slotStart: ContiguousArray<Int32>
        let slotChannel: ContiguousArray<UInt8>
        let slotMinPropensity: ContiguousArray<Float>

        /// The offers of `plan` whose model is in `columns` (plan model index → its column in the
        /// propensities given to `rebuilt`).
        public init(plan: ScoringPlan, columns: [Int: Int]) {
            var offers = ContiguousArray<Int32>(), column = ContiguousArray<Int32>(), starts = ContiguousArray<Int32>([0])
            var channels = ContiguousArray<UInt8>(), mins = ContiguousArray<Float>()
            for (oi, o) in plan.offers.enumerated() {
                guard let c = columns[o.model] else { continue }
                offers.append(Int32(oi)); column.append(Int32(c))
                for k in 0..<o.channels.count { channels.append(UInt8(o.channels[k])); mins.append(o.minPropensity[k]) }
                starts.append(Int32(channels.count))
            }
            self.offers = offers; self.column = column
            slotStart = starts; slotChannel = channels; slotMinPropensity = mins
        }
    }

    /// This table (a held one, kept with its fatigued offers) rebuilt for new propensities of the `changed`
    /// offers' models: `propensities[i * stride + column]` is customer i's under the model at that column.
    /// The customers, their values, fatigued offers and features are shared with this table (they depend on
    /// the profiles and contacts, not on the propensities); every candidate of an unchanged offer, and its
    /// offer entry, is copied; a changed offer's candidates are made again by the rules (its channels whose
    /// minimum propensity the new propensity reaches, none when the offer is fatigued) and its entry with
    /// them. The result equals the table a fresh scoring makes with those propensities.
    ///
    /// The new arrays are written through pointers, a customer at a time, in one pass: appending customer by
    /// customer to each array checked its uniqueness and capacity, and per run of candidates called `memmove`
    /// (together a third of a 10 M rescore's scoring). The held entries between two changed offers are copied
    /// as a run, their candidate positions moved by what the changed offers before them gained or lost
    /// (walking every candidate to find its offer's held entry was most of the rebuild's own time).
    public func rebuilt(_ changed: ChangedOffers, propensities: UnsafeBufferPointer<Float>, stride: Int) -> CandidateTable {
        precondition(fatigue?.count == customerCount, "a rebuilt table needs its held table's fatigued offers")
        precondition(propensities.count >= customerCount * stride, "propensities for \(propensities.count / max(stride, 1)) customers, the table has \(customerCount)")
        var out = CandidateTable(rule: rule, entries: entryLayout)
        out.customerIDs = customerIDs; out.regions = regions; out.segments = segments; out.values = values
        out.fatigued = fatigued; out.fatigue = fatigue; out.features = features
        let n = customerCount
        // At most every changed channel per customer more than the held table has.
        let capacity = candidates.count + n * changed.slotChannel.count + 1
        let heldEntries = offerEntries.flatMap { $0.count == n ? $0 : nil }
        let log = fatigue!
        var newOffsets = ContiguousArray<Int32>(), entryOffsets = ContiguousArray<Int32>()
        var bases = ContiguousArray<Double>(), slots = ContiguousArray<UInt16>(), skips = ContiguousArray<UInt16>()
        let layout = entryLayout
        let made = ContiguousArray<Candidate>(unsafeUninitializedCapacity: capacity) { outCands, written in
            newOffsets = ContiguousArray(unsafeUninitializedCapacity: n + 1) { outOffsets, offsetCount in
            entryOffsets = ContiguousArray(unsafeUninitializedCapacity: layout == nil ? 0 : n + 1) { outEntryOffsets, entryOffsetCount in
            bases = ContiguousArray(unsafeUninitializedCapacity: layout == nil ? 0 : capacity) { outBases, baseCount in
            slots = ContiguousArray(unsafeUninitializedCapacity: layout == nil ? 0 : capacity) { outSlots, slotCount in
            skips = ContiguousArray(unsafeUninitializedCapacity: layout == nil ? 0 : capacity) { outSkips, skipCount in
            candidates.withUnsafeBufferPointer { old in
            offsets.withUnsafeBufferPointer { oldOffsets in
            values.withUnsafeBufferPointer { allValues in
            log.offsets.withUnsafeBufferPointer { fatigueOffsets in
            log.offers.withUnsafeBufferPointer { fatigueOffers in
            changed.offers.withUnsafeBufferPointer { changedOffers in
            changed.column.withUnsafeBufferPointer { column in
            changed.slotStart.withUnsafeBufferPointer { slotStart in
            changed.slotChannel.withUnsafeBufferPointer { slotChannel in
            changed.slotMinPropensity.withUnsafeBufferPointer { minPropensity in
            (heldEntries?.bases ?? []).withUnsafeBufferPointer { heldBases in
            (heldEntries?.slots ?? []).withUnsafeBufferPointer { heldSlots in
            (heldEntries?.skips ?? []).withUnsafeBufferPointer { heldSkips in
            (heldEntries?.offsets ?? []).withUnsafeBufferPointer { heldOffsets in
            func body(_ writer: OfferEntries.Writer?) {
                let to = outCands.baseAddress!
                var w = 0, ew = 0
                outOffsets[0] = 0
                if writer != nil { outEntryOffsets[0] = 0 }
                let held = writer != nil && heldOffsets.count == n + 1
                /// Held entries `h..<end` (offers the change left alone) at `ew`, their candidates `shift` further on.
                @inline(__always) func copyHeld(_ h: Int, _ end: Int, shift: Int) {
                    guard end > h else { return }
                    (outBases.baseAddress! + ew).update(from: heldBases.baseAddress! + h, count: end &- h)
                    (outSlots.baseAddress! + ew).update(from: heldSlots.baseAddress! + h, count: end &- h)
                    for x in 0..<(end &- h) { outSkips[ew &+ x] = UInt16(truncatingIfNeeded: Int(heldSkips[h &+ x]) &+ shift) }
                    ew &+= end &- h
                }
                for i in 0..<n {
                    let start = w
                    let hi = Int(oldOffsets[i + 1])
                    var j = Int(oldOffsets[i])
                    // How much further on the customer's candidates after the changed offers so far are.
                    var shift = 0
                    var h = held ? Int(heldOffsets[i]) : 0
                    let heldEnd = held ? Int(heldOffsets[i + 1]) : 0
                    let fatigued = UnsafeBufferPointer(rebasing: fatigueOffers[Int(fatigueOffsets[i])..<Int(fatigueOffsets[i + 1])])
                    for k in 0..<changedOffers.count {
                        let oi = Int(changedOffers[k])
                        var e = j
                        while e < hi && Int(old[e].offer) < oi { e &+= 1 }
                        if e > j { (to + w).update(from: old.baseAddress! + j, count: e &- j); w &+= e &- j }
                        let removedFrom = e
                        j = e
                        while j < hi && Int(old[j].offer) == oi { j &+= 1 }
                        if held, let writer {
                            // The held entries of the offers before this one, as they were; this offer's is made again.
                            var he = h
                            while he < heldEnd && Int(writer.slotOffer[Int(heldSlots[he])]) < oi { he &+= 1 }
                            copyHeld(h, he, shift: shift)
                            h = he
                            if h < heldEnd && Int(writer.slotOffer[Int(heldSlots[h])]) == oi { h &+= 1 }
                        }
                        let made = w
                        if !fatigued.contains(UInt16(oi)) {
                            let p = propensities[i &* stride &+ Int(column[k])]
                            for s in Int(slotStart[k])..<Int(slotStart[k + 1]) where p >= minPropensity[s] {
                                to[w] = Candidate(offer: UInt16(oi), channel: slotChannel[s], propensity: p)
                                w &+= 1
                            }
                        }
                        if held, let writer, w > made {
                            let count = writer.write(UnsafeBufferPointer(start: to + made, count: w &- made),
                                                     values: UnsafeBufferPointer(start: allValues.baseAddress.map { $0 + i &* rule.valueCount }, count: rule.valueCount),
                                                     bases: outBases.baseAddress! + ew, slots: outSlots.baseAddress! + ew, skips: outSkips.baseAddress! + ew)
                            for x in 0..<count { outSkips[ew &+ x] &+= UInt16(truncatingIfNeeded: made &- start) }
                            ew &+= count
                        }
                        shift &+= (w &- made) &- (j &- removedFrom)
                    }
                    if j < hi { (to + w).update(from: old.baseAddress! + j, count: hi &- j); w &+= hi &- j }
                    outOffsets[i + 1] = Int32(w)
                    guard let writer else { continue }
                    if held {
                        copyHeld(h, heldEnd, shift: shift)
                    } else {
                        ew &+= writer.write(UnsafeBufferPointer(start: to + start, count: w &- start),
                                            values: UnsafeBufferPointer(start: allValues.baseAddress.map { $0 + i &* rule.valueCount }, count: rule.valueCount),
                                            bases: outBases.baseAddress! + ew, slots: outSlots.baseAddress! + ew, skips: outSkips.baseAddress! + ew)
                    }
                    outEntryOffsets[i + 1] = Int32(ew)
                }
                written = w
                offsetCount = n + 1
                if writer != nil { entryOffsetCount = n + 1; baseCount = ew; slotCount = ew; skipCount = ew }
            }
            if let layout { layout.withWriter(rule: rule) { body($0) } } else { body(nil) }
            }}}}}}}}}}}}}}
            }}}}}
        }
        out.candidates = made
        out.offsets = newOffsets
        if layout != nil {
            out.offerEntries = OfferEntries.Block(bases: bases, slots: slots, skips: skips, offsets: entryOffsets)
        }
        return out
    }

    /// The candidate index range of customer `i`.
    @inlinable public func range(_ i: Int) -> Range<Int> { Int(offsets[i])..<Int(offsets[i + 1]) }

    /// Candidate `ci` (of customer `i`)'s expected value.
    @inlinable
    public func expectedValue(_ ci: Int, customer i: Int) -> Double {
        values.withUnsafeBufferPointer { rule.expectedValue(candidates[ci], values: customerValues($0, i)) }
    }

    /// What the campaign maximizes for candidate `ci` (of customer `i`).
    @inlinable
    public func objective(_ ci: Int, customer i: Int) -> Double {
        values.withUnsafeBufferPointer { rule.objective(candidates[ci], values: customerValues($0, i)) }
    }

    /// Customer `i`'s values within the buffer of every customer's values (`values`).
    @inlinable @inline(__always)
    public func customerValues(_ all: UnsafeBufferPointer<Float>, _ i: Int) -> UnsafeBufferPointer<Float> {
        let n = rule.valueCount
        return UnsafeBufferPointer(start: all.baseAddress.map { $0 + i &* n }, count: n)
    }
}

/// Prices of the campaign-wide constraints: `upper[k] >= 0` prices use above a max, `lower[k] >= 0`
/// rewards use toward a min. The net price of row k is `upper[k] - lower[k]`, per offer (count rows) or
/// per unit of money (budget).
public struct Prices: Sendable, Equatable, Codable {
    public var upper: [Double]
    public var lower: [Double]

    public init(count: Int) {
        upper = Array(repeating: 0, count: count)
        lower = Array(repeating: 0, count: count)
    }

    public var count: Int { upper.count }

    /// Net price per row, with a trailing zero for "no row" (index `count`).
    public var netWithSentinel: ContiguousArray<Double> {
        var n = ContiguousArray<Double>(repeating: 0, count: upper.count + 1)
        for k in 0..<upper.count { n[k] = upper[k] - lower[k] }
        return n
    }
}

/// What one shard reports for one price vector: exact resource use per row, the shard's part of the
/// dual function and of the relaxed primal objective (both in micro-units), and offers made.
public struct Aggregates: Sendable, Equatable {
    public var use: [Int64]
    public var dualMicros: Int64 = 0
    public var primalMicros: Int64 = 0
    public var offers: Int64 = 0
    public var costMicros: Int64 = 0
    /// The same per customer bucket (`CustomerBuckets`): use of row k by bucket b at
    /// `bucketUse[b * rows + k]`, and each bucket's objective: the LP master's columns.
    public var bucketUse: [Int64]
    public var bucketPrimal: [Int64]

    public init(rows: Int) {
        use = Array(repeating: 0, count: rows)
        bucketUse = Array(repeating: 0, count: rows * CustomerBuckets.count)
        bucketPrimal = Array(repeating: 0, count: CustomerBuckets.count)
    }

    public mutating func add(_ o: Aggregates) {
        for k in 0..<use.count { use[k] += o.use[k] }
        dualMicros += o.dualMicros
        primalMicros += o.primalMicros
        offers += o.offers
        costMicros += o.costMicros
        for k in 0..<min(bucketUse.count, o.bucketUse.count) { bucketUse[k] += o.bucketUse[k] }
        for k in 0..<min(bucketPrimal.count, o.bucketPrimal.count) { bucketPrimal[k] += o.bucketPrimal[k] }
    }
}

/// Each customer's offers removed by fatigue, in customer order: customer i's are
/// `offers[offsets[i]..<offsets[i + 1]]` (offer indices, in offer order).
public struct FatigueLog: Sendable, Equatable {
    public private(set) var offsets: ContiguousArray<Int32> = [0]
    public private(set) var offers: ContiguousArray<UInt16> = []
    public init() {}

    /// Appends the next customer's fatigued offers.
    public mutating func append(_ fatigued: ContiguousArray<UInt16>) {
        offers.append(contentsOf: fatigued)
        offsets.append(Int32(offers.count))
    }

    /// The number of customers.
    public var count: Int { offsets.count - 1 }
}
