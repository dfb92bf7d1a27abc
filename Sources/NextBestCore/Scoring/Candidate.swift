/// One eligible (offer, channel) pair for a customer, with its propensity: 8 bytes, as a shard holds tens of
/// millions of them between the rounds. Its expected value is derived, not stored (`ExpectedValueRule`:
/// `propensity × value − cost`, with the customer's value kept once per customer); the channel's cost is
/// the plan's (`ScoringPlan.cost(of:)`).
public struct Candidate: Sendable, Equatable {
    /// Offer index in the plan (id order).
    public var offer: UInt16
    /// Channel index in the plan (name order).
    public var channel: UInt8
    public var propensity: Float

    public init(offer: UInt16, channel: UInt8, propensity: Float) {
        self.offer = offer; self.channel = channel; self.propensity = propensity
    }
}

/// How a candidate's expected value and objective follow from its propensity: `propensity × value − cost`,
/// where the value is the offer's fixed value or a feature of the customer (a missing one counts as 0),
/// and the cost is the (offer, channel) pair's. The customer's values are kept once per customer (one
/// `Float` per value feature the campaign uses, `valueCount`), so a candidate need not carry its expected
/// value; the arithmetic is the scorer's own, so the results are bit for bit the same.
public struct ExpectedValueRule: Sendable {
    /// Per-customer values kept: one per distinct value feature of the campaign's offers.
    public let valueCount: Int
    /// The feature position of each kept value.
    @usableFromInline let valueFeature: ContiguousArray<Int32>
    /// Per offer: its kept value's index, or -1 for a fixed value.
    @usableFromInline let offerValueIndex: ContiguousArray<Int32>
    @usableFromInline let offerValue: ContiguousArray<Double>
    /// Cost per (offer, channel): `offer * channelCount + channel`.
    @usableFromInline let pairCost: ContiguousArray<Double>
    @usableFromInline let channelCount: Int
    /// Whether the campaign maximizes propensity (else expected value).
    public let propensityObjective: Bool

    public init(plan: ScoringPlan) {
        var features: [Int32] = []
        var index = ContiguousArray<Int32>()
        for o in plan.offers {
            if let f = o.valueFeature {
                if let k = features.firstIndex(of: Int32(f)) { index.append(Int32(k)) } else { index.append(Int32(features.count)); features.append(Int32(f)) }
            } else {
                index.append(-1)
            }
        }
        valueCount = features.count
        valueFeature = ContiguousArray(features)
        offerValueIndex = index
        offerValue = ContiguousArray(plan.offers.map(\.value))
        pairCost = ContiguousArray(plan.pairCost)
        channelCount = plan.channels.count
        propensityObjective = plan.campaign.objective == .propensity
    }

    /// The customer's kept values from their features `x` (store order) into `out` (`valueCount` entries).
    @inlinable
    public func customerValues(_ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>) {
        for k in 0..<valueCount {
            let v = x[Int(valueFeature[k])]
            out[k] = v.isNaN ? 0 : v
        }
    }

    /// `propensity × value − cost`.
    @inlinable @inline(__always)
    public func expectedValue(_ c: Candidate, values: UnsafeBufferPointer<Float>) -> Double {
        Self.expectedValue(c, values: values, index: offerValueIndex, fixed: offerValue, cost: pairCost, channelCount: channelCount)
    }

    /// The one formula, over tables given as collections (arrays or their buffers).
    @inlinable @inline(__always)
    static func expectedValue<I: RandomAccessCollection, D: RandomAccessCollection>(
        _ c: Candidate, values: UnsafeBufferPointer<Float>, index: I, fixed: D, cost: D, channelCount: Int) -> Double
        where I.Element == Int32, I.Index == Int, D.Element == Double, D.Index == Int {
        let o = Int(c.offer)
        let vi = index[o]
        let value = vi >= 0 ? Double(values[Int(vi)]) : fixed[o]
        return Double(c.propensity) * value - cost[o &* channelCount &+ Int(c.channel)]
    }

    /// What the campaign maximizes for this candidate: expected value or propensity.
    @inlinable @inline(__always)
    public func objective(_ c: Candidate, values: UnsafeBufferPointer<Float>) -> Double {
        propensityObjective ? Double(c.propensity) : expectedValue(c, values: values)
    }

    /// The objectives of one customer's candidates `cands` (whose kept values are `values`) into `out`:
    /// one pass with the rule's tables reached through their buffers once.
    @inlinable
    public func objectives(_ cands: UnsafeBufferPointer<Candidate>, values: UnsafeBufferPointer<Float>, into out: UnsafeMutablePointer<Double>) {
        if propensityObjective {
            for k in 0..<cands.count { out[k] = Double(cands[k].propensity) }
            return
        }
        let channelCount = self.channelCount
        offerValueIndex.withUnsafeBufferPointer { index in
        offerValue.withUnsafeBufferPointer { fixed in
        pairCost.withUnsafeBufferPointer { cost in
            for k in 0..<cands.count {
                out[k] = Self.expectedValue(cands[k], values: values, index: index, fixed: fixed, cost: cost, channelCount: channelCount)
            }
        }}}
    }
}
