/// Exact totals of the offers made in a run or a shard: counts per product, region, segment and
/// channel, and money in fixed-point micro-units, so totals combine to the same result in any grouping.
public struct RunTotals: Sendable, Equatable {
    public var customers: Int64 = 0
    public var customersWithOffers: Int64 = 0
    public var offersMade: Int64 = 0
    public var byOffer: [Int64]
    public var byProduct: [Int64]
    public var byChannel: [Int64]
    public var byRegion: [Int64]
    public var bySegment: [Int64]
    /// Σ expected value, in millionths.
    public var expectedValueMicros: Int64 = 0
    /// Σ cost, in millionths.
    public var costMicros: Int64 = 0
    /// Σ propensity, in millionths (expected responses).
    public var propensityMicros: Int64 = 0
    /// Candidates removed by fatigue (customer × offer).
    public var fatigued: Int64 = 0
    /// Offers made per offer and propensity bin (`offer * binCount + bin`; bins from `propensityEdges`).
    public var propensityBins: [Int64]

    /// The edges of the propensity bins: bin k holds `edges[k] <= p < edges[k+1]` (the last one includes 1).
    public static let propensityEdges: [Double] = [0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    /// Bins per offer.
    public static var binCount: Int { propensityEdges.count - 1 }

    /// The bin of propensity `p`.
    @inlinable
    public static func bin(_ p: Double) -> Int { propensityEdges.withUnsafeBufferPointer { bin(p, edges: $0) } }

    /// The bin of propensity `p` among `edges` (`propensityEdges`, read once by a caller that bins many).
    @inlinable
    /// Counts the inner edges at or below `p` with no branch: a binary search mispredicted about half its
    /// steps on propensities spread over the bins (a fifth of the merge's list building at 10 M customers).
    /// For sorted edges the count is the binary search's answer; NaN and values below the first edge get 0.
    public static func bin(_ p: Double, edges e: UnsafeBufferPointer<Double>) -> Int {
        var n = 0
        var k = 1
        while k < e.count - 1 {
            n &+= p >= e[k] ? 1 : 0
            k &+= 1
        }
        return n
    }

    public init(offers: Int, products: Int, channels: Int, regions: Int, segments: Int) {
        propensityBins = Array(repeating: 0, count: offers * Self.binCount)
        byOffer = Array(repeating: 0, count: offers)
        byProduct = Array(repeating: 0, count: products)
        byChannel = Array(repeating: 0, count: channels)
        byRegion = Array(repeating: 0, count: regions)
        bySegment = Array(repeating: 0, count: segments)
    }

    /// Converts money to the fixed-point unit used in totals.
    /// Always inlined: the price pass calls it for every customer and chosen entry, and as a call it was 3–4 % of
    /// a pass's samples.
    @inlinable @inline(__always) public static func micros(_ v: Double) -> Int64 { FixedDecimal.nearest(v * 1_000_000) }

    /// Grows the region/segment tables to hold `code`.
    @inlinable
    public mutating func ensure(region: Int, segment: Int) {
        if region >= byRegion.count { byRegion += Array(repeating: 0, count: region + 1 - byRegion.count) }
        if segment >= bySegment.count { bySegment += Array(repeating: 0, count: segment + 1 - bySegment.count) }
    }

    /// Records one offer made.
    @inlinable
    public mutating func add(_ c: Candidate, expectedValue: Double, cost: Double, product: Int, region: Int, segment: Int) {
        add(c, expectedValueMicros: Self.micros(expectedValue), costMicros: Self.micros(cost), propensityMicros: Self.micros(Double(c.propensity)),
            bin: Self.bin(Double(c.propensity)), product: product, region: region, segment: segment)
    }

    /// `add` with the micros and the bin already worked out (a writer of many rows computes the cost's once per
    /// pair, the propensity's with its printed digits, and reads the bin edges once).
    @inlinable
    public mutating func add(_ c: Candidate, expectedValueMicros ev: Int64, costMicros cost: Int64, propensityMicros p: Int64, bin: Int,
                             product: Int, region: Int, segment: Int) {
        offersMade += 1
        byOffer[Int(c.offer)] += 1
        byProduct[product] += 1
        byChannel[Int(c.channel)] += 1
        byRegion[region] += 1
        bySegment[segment] += 1
        expectedValueMicros += ev
        costMicros += cost
        propensityMicros += p
        propensityBins[Int(c.offer) * Self.binCount + bin] += 1
    }

    /// Adds another shard's totals.
    public mutating func merge(_ o: RunTotals) {
        customers += o.customers
        customersWithOffers += o.customersWithOffers
        offersMade += o.offersMade
        func addAll(_ a: inout [Int64], _ b: [Int64]) {
            if b.count > a.count { a += Array(repeating: 0, count: b.count - a.count) }
            for i in 0..<b.count { a[i] += b[i] }
        }
        addAll(&byOffer, o.byOffer); addAll(&byProduct, o.byProduct); addAll(&byChannel, o.byChannel)
        addAll(&byRegion, o.byRegion); addAll(&bySegment, o.bySegment); addAll(&propensityBins, o.propensityBins)
        expectedValueMicros += o.expectedValueMicros
        costMicros += o.costMicros
        propensityMicros += o.propensityMicros
        fatigued += o.fatigued
    }
}
