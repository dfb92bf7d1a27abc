import Foundation
import NextBestCore
import NextBestStore

/// Runs a whole nightly job in one process: plans shards, scores them on several threads, merges the
/// shards' lists in customer-id order and writes `nba.csv` and `summary.json` atomically.
public enum LocalRunner {
    /// What to run.
    public struct Options: Sendable {
        public var storePath: String
        public var outDir: String
        public var threads: Int
        public var shardSize: Int
        public init(storePath: String, outDir: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount, shardSize: Int = 50_000) {
            self.storePath = storePath; self.outDir = outDir; self.threads = max(1, threads); self.shardSize = max(1, shardSize)
        }
    }

    /// What a run produced.
    public struct Result: Sendable {
        public var nbaPath: String
        public var summaryPath: String
        public var totals: RunTotals
        public var shards: Int
        public var timings: [(String, Double)]
        public var summary: String
    }

    public static func run(_ options: Options, log: (String) -> Void = { _ in }) throws -> Result {
        let t0 = Date()
        let store = try Store(path: options.storePath, readOnly: true)
        store.env.clearStaleReaders()
        let plan = try store.scoringPlan()
        let (regions, segments) = try store.env.read { txn in (try store.regions(in: txn), try store.segments(in: txn)) }
        let shardPlan = try ShardPlan.make(store: store, shardSize: options.shardSize)
        let tPlan = Date()
        log("planned \(shardPlan.shards.count) shards over \(shardPlan.customers) customers")

        let outputs = ShardOutputs(count: shardPlan.shards.count)
        let threads = min(options.threads, max(1, shardPlan.shards.count))
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            var scorer = ShardScorer(store: store, plan: plan)
            while let i = outputs.claim() {
                let s = shardPlan.shards[i]
                do {
                    let out = try scorer.runUnconstrained(lower: s.lower, upper: s.upper, regions: regions.count, segments: segments.count)
                    outputs.complete(i, .success(out))
                } catch {
                    outputs.complete(i, .failure(error))
                }
            }
        }
        var totals = RunTotals(offers: plan.offers.count, products: plan.products.count, channels: plan.channels.count,
                               regions: regions.count, segments: segments.count)
        var chunks: [[UInt8]] = [Array(NBAFormat.header.utf8)]
        for r in outputs.results() {
            let out = try r.get()
            totals.merge(out.totals)
            chunks.append(out.rows)
        }
        let tScore = Date()
        log("scored \(totals.customers) customers, \(totals.offersMade) offers made")
        let nbaPath = options.outDir + "/nba.csv"
        try AtomicFile.write(chunks, to: nbaPath)
        let tWrite = Date()
        let timings: [(String, Double)] = [
            ("plan", tPlan.timeIntervalSince(t0)),
            ("score_and_select", tScore.timeIntervalSince(tPlan)),
            ("write", tWrite.timeIntervalSince(tScore)),
            ("total", tWrite.timeIntervalSince(t0)),
        ]
        let summary = RunSummary.render(plan: plan, totals: totals, regions: regions, segments: segments,
                                        extra: [("store", .string(options.storePath)), ("shards", .int(Int64(shardPlan.shards.count))),
                                                ("threads", .int(Int64(threads)))],
                                        timings: timings)
        let summaryPath = options.outDir + "/summary.json"
        try AtomicFile.write(summary, to: summaryPath)
        return Result(nbaPath: nbaPath, summaryPath: summaryPath, totals: totals, shards: shardPlan.shards.count,
                      timings: timings, summary: summary)
    }
}

/// Shard results filled in by worker threads, claimed in shard order.
final class ShardOutputs: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var slots: [Swift.Result<ShardScorer.Output, Error>?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func claim() -> Int? {
        lock.withLock {
            guard next < slots.count else { return nil }
            defer { next += 1 }
            return next
        }
    }

    func complete(_ i: Int, _ r: Swift.Result<ShardScorer.Output, Error>) { lock.withLock { slots[i] = r } }

    func results() -> [Swift.Result<ShardScorer.Output, Error>] { lock.withLock { slots.map { $0! } } }
}
