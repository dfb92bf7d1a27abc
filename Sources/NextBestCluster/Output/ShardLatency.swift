import Foundation
import Histogram
import NextBestCore

/// How long shards took from being handed out to being scored, as an HdrHistogram (microsecond values,
/// three significant digits), reported in `summary.json` as `shard_latency` (milliseconds).
public struct ShardLatency: Sendable {
    private var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 24 * 3_600 * 1_000_000,
                                              numberOfSignificantValueDigits: .three)

    public init() {}

    /// Records one shard's time, in seconds.
    public mutating func record(seconds: Double) {
        histogram.record(UInt64(max(1, min(seconds * 1e6, Double(histogram.highestTrackableValue)))))
    }

    public var count: UInt64 { histogram.totalCount }

    /// The `shard_latency` object: count, mean, percentiles and max in milliseconds, and the histogram as
    /// buckets that double in width (`le_ms` is each bucket's upper edge).
    public var json: JSONText {
        func ms(_ us: UInt64) -> JSONText { .fixed(Double(us) / 1000, decimals: 3) }
        guard count > 0 else { return .object([("unit", .string("ms")), ("count", .int(0))]) }
        var buckets: [JSONText] = []
        for b in histogram.logarithmicBucketValues(valueUnitsInFirstBucket: 1_000, logBase: 2) where b.countAddedInThisIterationStep > 0 {
            buckets.append(.object([("le_ms", ms(b.value)), ("count", .int(Int64(b.countAddedInThisIterationStep)))]))
        }
        return .object([
            ("unit", .string("ms")), ("count", .int(Int64(count))),
            ("mean", .fixed(histogram.mean / 1000, decimals: 3)),
            ("p50", ms(histogram.valueAtPercentile(50))), ("p90", ms(histogram.valueAtPercentile(90))),
            ("p99", ms(histogram.valueAtPercentile(99))), ("p999", ms(histogram.valueAtPercentile(99.9))),
            ("max", ms(histogram.max)),
            ("histogram", .array(buckets)),
        ])
    }
}
