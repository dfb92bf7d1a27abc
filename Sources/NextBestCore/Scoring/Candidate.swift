/// One eligible (offer, channel) pair for a customer, with its scores: 16 bytes, as a shard holds tens of
/// millions of them between the rounds. The channel's cost is the plan's (`ScoringPlan.cost(of:)`).
public struct Candidate: Sendable, Equatable {
    /// Offer index in the plan (id order).
    public var offer: UInt16
    /// Channel index in the plan (name order).
    public var channel: UInt8
    /// Whether the campaign maximizes propensity (else expected value).
    public var objectiveIsPropensity: Bool
    public var propensity: Float
    /// `propensity × value − cost`.
    public var expectedValue: Double

    public init(offer: UInt16, channel: UInt8, propensity: Float, expectedValue: Double, objectiveIsPropensity: Bool) {
        self.offer = offer; self.channel = channel; self.objectiveIsPropensity = objectiveIsPropensity
        self.propensity = propensity; self.expectedValue = expectedValue
    }

    /// What the campaign maximizes for this pair: expected value or propensity.
    @inlinable
    public var objective: Double { objectiveIsPropensity ? Double(propensity) : expectedValue }
}
