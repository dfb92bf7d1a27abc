/// A fixed sample of the population, chosen by customer id alone, on which the price rounds can start
/// (the presolve): every customer whose mixed id falls in one of `modulus` buckets. The same customers are
/// in the sample whatever the shards or workers, so a run's output cannot depend on them.
public struct CustomerSample: Sendable, Equatable {
    /// One customer in `modulus` (a power of two; 1 is everybody).
    public let modulus: Int

    public init(modulus: Int) {
        precondition(modulus >= 1 && modulus & (modulus - 1) == 0, "a sample's modulus is a power of two")
        self.modulus = modulus
    }

    /// Everybody.
    public static let all = CustomerSample(modulus: 1)

    /// The sample of at least `target` customers out of `customers`: the largest power-of-two modulus
    /// that keeps `customers / modulus >= target` (1 when the population is smaller than twice the target).
    public static func of(customers: Int, target: Int) -> CustomerSample {
        guard target > 0, customers >= 2 * target else { return .all }
        var m = 1
        while customers / (2 * m) >= target { m *= 2 }
        return CustomerSample(modulus: m)
    }

    public var isAll: Bool { modulus == 1 }

    /// Whether customer `id` is in the sample (splitmix64's finaliser, then the top bits).
    @inlinable @inline(__always)
    public func contains(_ id: UInt64) -> Bool {
        if modulus == 1 { return true }
        var z = id &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return (z >> 40) & UInt64(modulus - 1) == 0
    }

    /// A campaign row's limits scaled to the sample's share of the population (1 / modulus).
    public func scaled(_ rows: [ConstraintSet.Row]) -> [ConstraintSet.Row] {
        if isAll { return rows }
        let m = Double(modulus)
        return rows.map { r in
            var s = r
            s.upper = r.upper.map { Int64((Double($0) / m).rounded()) }
            s.lower = r.lower.map { Int64((Double($0) / m).rounded()) }
            return s
        }
    }
}
