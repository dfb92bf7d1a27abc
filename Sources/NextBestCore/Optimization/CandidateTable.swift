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
    /// changed needs besides its candidates (`CustomerScorer.rebuild`).
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

    /// A held table's arrays as buffers, reached once for a whole rebuild (`withHeldBuffers`): per customer,
    /// reaching them through the table retained and released each array.
    public struct HeldBuffers {
        public let customerIDs: UnsafeBufferPointer<UInt64>
        let regions: UnsafeBufferPointer<UInt16>
        let segments: UnsafeBufferPointer<UInt16>
        let offsets: UnsafeBufferPointer<Int32>
        let candidates: UnsafeBufferPointer<Candidate>
        let values: UnsafeBufferPointer<Float>
        /// Its offer entries (empty when it has none for every customer).
        let entryBases: UnsafeBufferPointer<Double>
        let entrySlots: UnsafeBufferPointer<UInt16>
        let entryOffsets: UnsafeBufferPointer<Int32>
        /// Its fatigued offers (`fatigue`; empty when not kept).
        let fatigueOffsets: UnsafeBufferPointer<Int32>
        let fatigueOffers: UnsafeBufferPointer<UInt16>

        /// Customer `i`'s fatigued offers.
        public func fatigued(_ i: Int) -> UnsafeBufferPointer<UInt16> {
            UnsafeBufferPointer(rebasing: fatigueOffers[Int(fatigueOffsets[i])..<Int(fatigueOffsets[i + 1])])
        }
    }

    /// Calls `body` with this table's arrays as buffers.
    public func withHeldBuffers<R>(_ body: (HeldBuffers) throws -> R) rethrows -> R {
        let entries = offerEntries.flatMap { $0.count == customerCount ? $0 : nil } ?? OfferEntries.Block()
        let log = fatigue ?? FatigueLog()
        return try customerIDs.withUnsafeBufferPointer { ids in
            try regions.withUnsafeBufferPointer { regions in
            try segments.withUnsafeBufferPointer { segments in
            try offsets.withUnsafeBufferPointer { offsets in
            try candidates.withUnsafeBufferPointer { candidates in
            try values.withUnsafeBufferPointer { values in
            try entries.bases.withUnsafeBufferPointer { bases in
            try entries.slots.withUnsafeBufferPointer { slots in
            try entries.offsets.withUnsafeBufferPointer { entryOffsets in
            try log.offsets.withUnsafeBufferPointer { fatigueOffsets in
            try log.offers.withUnsafeBufferPointer { fatigueOffers in
                try body(HeldBuffers(customerIDs: ids, regions: regions, segments: segments, offsets: offsets, candidates: candidates, values: values,
                                     entryBases: bases, entrySlots: slots, entryOffsets: entryOffsets, fatigueOffsets: fatigueOffsets,
                                     fatigueOffers: fatigueOffers))
            }}}}}}}}}}
        }
    }

    /// Appends customer `i` of a held table (`held`: its buffers; a table of the same plan) rebuilt for new
    /// propensities of the offers in `changed` (offer indices, ascending): its id, region, segment and values,
    /// and every candidate of the other offers, are copied in runs; `make(offer, &candidates)` appends a changed
    /// offer's candidates. The unchanged offers' entries are copied from the held table too, when it has them
    /// (`OfferEntries.append`).
    public mutating func appendRebuilt(from held: HeldBuffers, customer i: Int, changed: UnsafeBufferPointer<Int32>,
                                       make: (Int, inout ContiguousArray<Candidate>) -> Void) {
        customerIDs.append(held.customerIDs[i])
        regions.append(held.regions[i])
        segments.append(held.segments[i])
        let n = rule.valueCount
        values.append(contentsOf: UnsafeBufferPointer(rebasing: held.values[(i * n)..<((i + 1) * n)]))
        let start = candidates.count
        let old = held.candidates
        let end = Int(held.offsets[i + 1])
        var j = Int(held.offsets[i])
        for oi32 in changed {
            let oi = Int(oi32)
            var e = j
            while e < end && Int(old[e].offer) < oi { e += 1 }
            if e > j { candidates.append(contentsOf: UnsafeBufferPointer(rebasing: old[j..<e])) }
            j = e
            while j < end && Int(old[j].offer) == oi { j += 1 }
            make(oi, &candidates)
        }
        if j < end { candidates.append(contentsOf: UnsafeBufferPointer(rebasing: old[j..<end])) }
        offsets.append(Int32(candidates.count))
        guard let layout = entryLayout else { return }
        let entries = held.entryOffsets.count > i + 1 ? Int(held.entryOffsets[i])..<Int(held.entryOffsets[i + 1]) : 0..<0
        let copied = held.entryOffsets.count > i + 1
            ? OfferEntries.HeldEntries(bases: held.entryBases, slots: held.entrySlots, entries: entries, changed: changed) : nil
        candidates.withUnsafeBufferPointer { c in
            values.withUnsafeBufferPointer { v in
                let mine = UnsafeBufferPointer(rebasing: c[start...]), customerValues = UnsafeBufferPointer(rebasing: v[(v.count - n)...])
                layout.append(mine, values: customerValues, rule: rule, held: copied, to: &offerEntries!)
            }
        }
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
