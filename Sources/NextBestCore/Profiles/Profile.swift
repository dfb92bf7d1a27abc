/// One customer's profile as the scoring engine sees it.
///
/// The hot path never builds this type (it reads features straight from the store's buffers); it is
/// the unit of import, generation and tests.
public struct Profile: Sendable, Equatable {
    public var customerID: UInt64
    /// Region code (see `CodeDictionary`).
    public var region: UInt16
    /// Segment code (see `CodeDictionary`).
    public var segment: UInt16
    /// Features in the store's `FeatureSchema` order; NaN is a missing value.
    public var features: [Float]

    public init(customerID: UInt64, region: UInt16, segment: UInt16, features: [Float]) {
        self.customerID = customerID
        self.region = region
        self.segment = segment
        self.features = features
    }

    public static func == (a: Profile, b: Profile) -> Bool {
        a.customerID == b.customerID && a.region == b.region && a.segment == b.segment
            && a.features.count == b.features.count
            && zip(a.features, b.features).allSatisfy { $0.bitPattern == $1.bitPattern }
    }
}
