import Foundation

/// Where run records live (UTF-8 keys; run ids as 16 hex digits, shards as 8 decimal digits):
/// - `runs`: `run/<id>/plan`, `run/<id>/state`, `run/<id>/outcome`, `run/<id>/round/<nnnnnn>`,
///   `run/<id>/recipe/<shard>`, and `warm/<campaign digest>` (the prices the next run starts from);
/// - `results`: `run/<id>/rows/<shard>` (a shard's lists) and `run/<id>/props/<shard>` (where its propensity
///   file is and how to check it; the file itself is `<store>/runs/<id>/props-<shard>.f32`).
/// The journal format before run records used `journal/<id>/…`, `prices/…` and `points/…` in `runs` and
/// `<id>/…` in `results`: the `legacy…` keys, read only to list, delete and convert.
enum RunKeys {
    static func name(_ run: UInt64) -> String { String(format: "%016llx", run) }
    static func shard(_ s: Int) -> String { String(format: "%08d", s) }

    /// Every key of a run (in both databases) starts with this.
    static func prefix(_ run: UInt64) -> [UInt8] { Array("run/\(name(run))/".utf8) }
    static func record(_ run: UInt64, _ rest: String) -> [UInt8] { prefix(run) + Array(rest.utf8) }
    static func plan(_ run: UInt64) -> [UInt8] { record(run, "plan") }
    static func state(_ run: UInt64) -> [UInt8] { record(run, "state") }
    static func outcome(_ run: UInt64) -> [UInt8] { record(run, "outcome") }
    static func round(_ run: UInt64, _ n: Int) -> [UInt8] { record(run, String(format: "round/%06d", n)) }
    static func rounds(_ run: UInt64) -> [UInt8] { record(run, "round/") }
    static func recipe(_ run: UInt64, _ s: Int) -> [UInt8] { record(run, "recipe/" + shard(s)) }
    static func rows(_ run: UInt64, _ s: Int) -> [UInt8] { record(run, "rows/" + shard(s)) }
    static func props(_ run: UInt64, _ s: Int) -> [UInt8] { record(run, "props/" + shard(s)) }
    static func warm(campaign digest: UInt64) -> [UInt8] { Array("warm/\(String(digest, radix: 16))".utf8) }

    /// The plans of every run: scanned to list them.
    static let plans = (from: Array("run/".utf8), suffix: "/plan")

    static func legacyPrefix(_ run: UInt64) -> [UInt8] { Array("journal/\(name(run))/".utf8) }
    static func legacyResultsPrefix(_ run: UInt64) -> [UInt8] { Array("\(name(run))/".utf8) }
    static func legacyPlan(_ run: UInt64) -> [UInt8] { legacyPrefix(run) + Array("plan".utf8) }
    static func legacyState(_ run: UInt64) -> [UInt8] { legacyPrefix(run) + Array("state".utf8) }
    static func legacyOutcome(_ run: UInt64) -> [UInt8] { legacyPrefix(run) + Array("outcome".utf8) }
    static let legacyPlans = (from: Array("journal/".utf8), suffix: "/plan")
    static func legacyWarm(campaign digest: UInt64) -> (prices: [UInt8], points: [UInt8]) {
        (Array("prices/\(String(digest, radix: 16))".utf8), Array("points/\(String(digest, radix: 16))".utf8))
    }

    /// The first key after every key starting with `prefix` (which ends in `/`).
    static func end(of prefix: [UInt8]) -> [UInt8] { prefix.dropLast() + [UInt8(ascii: "/") + 1] }

    /// The run id in a plan key found under `from` (`<from><16 hex digits>/plan`).
    static func run(inPlanKey key: UnsafeRawBufferPointer, from: [UInt8], suffix: String) -> UInt64? {
        let text = String(decoding: key, as: UTF8.self)
        guard text.hasSuffix(suffix) else { return nil }
        let id = text.dropFirst(from.count).dropLast(suffix.count)
        return id.count == 16 ? UInt64(id, radix: 16) : nil
    }
}
