/// One eligible (offer, channel) pair for a customer, with its scores.
public struct Candidate: Sendable, Equatable {
    /// Offer index in the plan (id order).
    public var offer: UInt16
    /// Channel index in the plan (name order).
    public var channel: UInt8
    public var propensity: Float
    /// `propensity × value − cost`.
    public var expectedValue: Double
    public var cost: Double
    /// What the campaign maximizes for this pair: expected value or propensity.
    public var objective: Double

    public init(offer: UInt16, channel: UInt8, propensity: Float, expectedValue: Double, cost: Double, objective: Double) {
        self.offer = offer; self.channel = channel; self.propensity = propensity
        self.expectedValue = expectedValue; self.cost = cost; self.objective = objective
    }
}
