/// Scores one customer at a time against a `ScoringPlan`, reusing its buffers so the hot loop
/// allocates nothing per customer. One scorer per thread.
///
/// Per customer: `begin()`, `recordContact(...)` for each history event, then `score(...)`, then read
/// `candidates` or call `selectUnconstrained(into:)`.
public struct CustomerScorer {
    public let plan: ScoringPlan
    /// Propensity of each plan model for the current customer.
    public private(set) var modelPropensity: ContiguousArray<Float>
    /// Ignored-contact count in the fatigue window per offer.
    private var ignoredCount: ContiguousArray<Int32>
    private var touched: ContiguousArray<Int32>
    /// Eligible candidates of the current customer, in (offer, channel) order.
    public private(set) var candidates: ContiguousArray<Candidate>
    /// Offers excluded by fatigue for the current customer.
    public private(set) var fatiguedOffers: ContiguousArray<UInt16>
    /// How candidates' expected values follow from their propensities.
    public let rule: ExpectedValueRule
    /// The current customer's values (`rule.valueCount`), from which the candidates' expected values follow.
    public private(set) var values: ContiguousArray<Float>
    private var solver: SubProblemSolver
    private let windowStart: Int32
    private let windowEnd: Int32
    private let maxIgnored: Int32
    /// The offers' rules flattened for the per-customer loop (no array of an offer is retained per
    /// customer): per offer its model and channel slots `slotStart[o]..<slotStart[o + 1]`; per slot its
    /// channel and minimum propensity. (Values and costs are the rule's.)
    private let offerModel: ContiguousArray<Int32>
    private let slotStart: ContiguousArray<Int32>
    private let slotChannel: ContiguousArray<UInt8>
    private let slotMinPropensity: ContiguousArray<Float>

    public init(plan: ScoringPlan) {
        self.plan = plan
        modelPropensity = ContiguousArray(repeating: 0, count: plan.models.count)
        ignoredCount = ContiguousArray(repeating: 0, count: plan.offers.count)
        touched = []
        touched.reserveCapacity(64)
        let maxCandidates = plan.offers.reduce(0) { $0 + $1.channels.count }
        candidates = []
        candidates.reserveCapacity(maxCandidates)
        fatiguedOffers = []
        fatiguedOffers.reserveCapacity(plan.offers.count)
        solver = SubProblemSolver(plan: plan)
        let end = plan.campaign.runDate.daysSinceEpoch
        if let f = plan.campaign.fatigue {
            windowEnd = end
            windowStart = end - Int32(f.windowDays) + 1
            maxIgnored = Int32(f.maxIgnored)
        } else {
            windowStart = 1
            windowEnd = 0
            maxIgnored = .max
        }
        offerModel = ContiguousArray(plan.offers.map { Int32($0.model) })
        rule = ExpectedValueRule(plan: plan)
        values = ContiguousArray(repeating: 0, count: rule.valueCount)
        var starts = ContiguousArray<Int32>([0])
        var channels = ContiguousArray<UInt8>(), mins = ContiguousArray<Float>()
        for o in plan.offers {
            for k in 0..<o.channels.count { channels.append(UInt8(o.channels[k])); mins.append(o.minPropensity[k]) }
            starts.append(Int32(channels.count))
        }
        slotStart = starts; slotChannel = channels; slotMinPropensity = mins
    }

    /// Starts a new customer: clears the history counters.
    @inlinable
    public mutating func begin() { resetHistory() }

    @usableFromInline
    mutating func resetHistory() {
        for t in touched { ignoredCount[Int(t)] = 0 }
        touched.removeAll(keepingCapacity: true)
    }

    /// Ignored contacts of the current customer with plan offer `offer` inside the fatigue window.
    public func ignoredContacts(offer: Int) -> Int { Int(ignoredCount[offer]) }

    /// Records one history event of the current customer (offer as a plan index).
    public mutating func recordContact(offer: Int, day: Int32, outcome: ContactOutcome) {
        guard outcome == .ignored, day >= windowStart, day <= windowEnd else { return }
        if ignoredCount[offer] == 0 { touched.append(Int32(offer)) }
        ignoredCount[offer] += 1
    }

    /// Scores every offer for a customer whose features (store order) are in `x`, keeping the eligible
    /// (offer, channel) pairs in `candidates`.
    public mutating func score(_ x: UnsafeBufferPointer<Float>) {
        for m in 0..<plan.models.count { modelPropensity[m] = plan.models[m].propensity(x) }
        applyRules(x)
    }

    /// Like `score`, with every model's propensity already computed (`propensities[m]` for plan model m),
    /// as `BlockScorer` does for a block of customers at a time.
    public mutating func score(_ x: UnsafeBufferPointer<Float>, propensities: UnsafeBufferPointer<Float>) {
        for m in 0..<modelPropensity.count { modelPropensity[m] = propensities[m] }
        applyRules(x)
    }

    /// Sets every model's propensity for the current customer (`propensities[m]` for plan model m) without
    /// applying the rules: for a walk that only evaluates the models (`ShardScorer.rebuildTable`).
    public mutating func setPropensities(_ propensities: UnsafeBufferPointer<Float>) {
        for m in 0..<modelPropensity.count { modelPropensity[m] = propensities[m] }
    }

    /// Eligibility, fatigue and the customer's values: fills `candidates` from `modelPropensity`.
    mutating func applyRules(_ x: UnsafeBufferPointer<Float>) {
        candidates.removeAll(keepingCapacity: true)
        fatiguedOffers.removeAll(keepingCapacity: true)
        let rule = self.rule
        values.withUnsafeMutableBufferPointer { rule.customerValues(x, into: $0) }
        let maxIgnored = self.maxIgnored
        offerModel.withUnsafeBufferPointer { model in
        slotStart.withUnsafeBufferPointer { start in
        slotChannel.withUnsafeBufferPointer { channel in
        slotMinPropensity.withUnsafeBufferPointer { minP in
        ignoredCount.withUnsafeBufferPointer { ignored in
        modelPropensity.withUnsafeBufferPointer { propensity in
            for oi in 0..<model.count {
                if ignored[oi] >= maxIgnored { fatiguedOffers.append(UInt16(oi)); continue }
                let p = propensity[Int(model[oi])]
                for k in Int(start[oi])..<Int(start[oi + 1]) where p >= minP[k] {
                    candidates.append(Candidate(offer: UInt16(oi), channel: channel[k], propensity: p))
                }
            }
        }}}}}}
    }

    /// A candidate's expected value for the current customer.
    @inlinable
    public func expectedValue(_ c: Candidate) -> Double { values.withUnsafeBufferPointer { rule.expectedValue(c, values: $0) } }

    /// What the campaign maximizes, for a candidate of the current customer.
    @inlinable
    public func objective(_ c: Candidate) -> Double { values.withUnsafeBufferPointer { rule.objective(c, values: $0) } }

    /// Chooses the customer's list with per-customer limits only (no campaign-wide constraints): per
    /// offer its best channel, then offers by objective, skipping offers whose family is full, up to
    /// `max_offers`. Only candidates with a positive objective are chosen. This greedy is exact for
    /// these limits (they form a laminar matroid). Appends chosen candidate indices in rank order.
    public mutating func selectUnconstrained(into chosen: inout ContiguousArray<Int32>) {
        let rule = self.rule, values = self.values
        values.withUnsafeBufferPointer { v in select(adjusted: { rule.objective($0, values: v) }, into: &chosen) }
    }

    /// The per-customer sub-problem for any adjusted value (objective minus priced resource use):
    /// see `SubProblemSolver`. Replaces `chosen` with the chosen candidate indices.
    public mutating func select(adjusted: (Candidate) -> Double, into chosen: inout ContiguousArray<Int32>) {
        chosen.removeAll(keepingCapacity: true)
        var solver = self.solver
        _ = candidates.withUnsafeBufferPointer { solver.solve($0, adjusted: adjusted, into: &chosen) }
        self.solver = solver
    }
}

/// Sorts a small buffer in place without allocating (lists here hold at most a few dozen items).
@inlinable
func insertionSort<T>(_ a: UnsafeMutableBufferPointer<T>, by less: (T, T) -> Bool) {
    if a.count < 2 { return }
    for i in 1..<a.count {
        let x = a[i]
        var j = i - 1
        while j >= 0 && less(x, a[j]) {
            a[j + 1] = a[j]
            j -= 1
        }
        a[j + 1] = x
    }
}
