/// The fixed grouping of customers the LP master works with: a bucket per customer from a hash of its
/// id alone, so the master's columns (one per bucket and price point) are the same whatever the shards,
/// workers or retries.
public enum CustomerBuckets {
    /// Buckets per run.
    public static let count = 64

    /// The bucket of customer `id` (splitmix64's finaliser, bits 52–57: independent of the bits
    /// `CustomerSample` uses).
    @inlinable @inline(__always)
    public static func of(_ id: UInt64) -> Int {
        var z = id &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Int((z >> 52) & UInt64(count - 1))
    }
}

/// The price points an LP master's mix used and, per bucket, which of them (heaviest first): what the
/// next passes start from (after a presolve, over everybody; after a run, the next run's).
public struct PriceMix: Sendable, Equatable, Codable {
    public var points: [Prices]
    /// Per bucket (`CustomerBuckets.count` of them), indices into `points`.
    public var buckets: [[Int]]

    public init(points: [Prices], buckets: [[Int]]) { self.points = points; self.buckets = buckets }

    /// Whether the mix fits `rows` constraints and this build's buckets.
    public func fits(rows: Int) -> Bool {
        !points.isEmpty && points.count <= 255 && points.allSatisfy { $0.count == rows }
            && buckets.count == CustomerBuckets.count && buckets.allSatisfy { $0.allSatisfy { $0 >= 0 && $0 < points.count } }
    }
}

/// What one pricing pass asks of every customer: one or more price points, each with the weight of the
/// objective (1; 0 when the master looks for a feasible mix and only priced use counts), and which point
/// each bucket's customers are solved at.
public struct PricingRequest: Sendable, Equatable {
    public var points: [Prices]
    /// Objective weight per point.
    public var weights: [Double]
    /// Point per bucket (`CustomerBuckets.count` entries), or empty: every customer at point 0. A bucket
    /// marked `unsolved` is left out of the pass: its customers are not solved and its totals are zero.
    public var bucketPoint: [UInt8]
    /// `bucketPoint`'s mark for a bucket the pass leaves out (a request has at most 255 points, so no point
    /// has this index).
    public static let unsolved = UInt8.max
    /// A pass over everybody with a tag (not 0) is kept by each shard under it (the last few; see
    /// `KeptPass`). The column generation tags its passes with their numbers.
    public var pass: UInt32 = 0
    /// Per bucket (`CustomerBuckets.count` entries, or empty): a kept pass (its tag, 0 for none) that solved
    /// the bucket at the same point as this request does; a shard that kept it copies that choice instead
    /// of solving the bucket again, and one that did not (it took the shard over since) solves it, with
    /// the same result.
    public var bucketPass: [UInt32] = []

    public init(points: [Prices], weights: [Double], bucketPoint: [UInt8] = [], pass: UInt32 = 0, bucketPass: [UInt32] = []) {
        self.points = points; self.weights = weights; self.bucketPoint = bucketPoint; self.pass = pass; self.bucketPass = bucketPass
    }

    /// Every customer at `prices` with the objective at full weight.
    public init(_ prices: Prices) { self.init(points: [prices], weights: [1]) }

    /// Whether the pass solves bucket `b`.
    @inlinable
    public func solves(bucket b: Int) -> Bool { bucketPoint.isEmpty || bucketPoint[b] != Self.unsolved }

    /// One point at full weight for everybody: the rounds' fast path.
    public var isPlain: Bool { points.count == 1 && weights == [1] && bucketPoint.isEmpty }

    /// Whether the request is well formed for `rows` constraints.
    public func isValid(rows: Int) -> Bool {
        !points.isEmpty && points.count <= 255 && weights.count == points.count
            && points.allSatisfy { $0.upper.count == rows && $0.lower.count == rows && ($0.upper + $0.lower).allSatisfy { $0.isFinite && $0 >= 0 } }
            && weights.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }
            && (bucketPoint.isEmpty || (bucketPoint.count == CustomerBuckets.count && bucketPoint.allSatisfy { $0 == Self.unsolved || Int($0) < points.count }))
            && (bucketPass.isEmpty || bucketPass.count == CustomerBuckets.count)
    }

    /// The point customer `id` is solved at (not meaningful for a bucket the pass leaves out).
    @inlinable
    public func point(of id: UInt64) -> Int { bucketPoint.isEmpty ? 0 : Int(bucketPoint[CustomerBuckets.of(id)]) }
}
