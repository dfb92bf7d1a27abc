import Foundation
import NextBestCore
import NextBestStore

/// What-if: the population and scores of a kept run under a changed campaign (budget, caps, values,
/// thresholds), optimized in this process with the store opened read-only, set side by side with the run.
/// Nothing is written to the store; the simulated lists and the comparison go to the output directory.
public enum Simulation {
    /// Why a simulation cannot be made.
    public enum Failure: Error, CustomStringConvertible {
        case notFinished(String)
        case modelsChanged(String, [String])
        public var description: String {
            switch self {
            case .notFinished(let r): return "run \(r) has not finished (or its lists were pruned): simulate compares with a finished run"
            case let .modelsChanged(r, ids): return "the models \(ids.joined(separator: ", ")) changed since run \(r): the scores would differ; rescore first or simulate from a newer run"
            }
        }
    }

    /// One compared figure.
    public struct Line: Sendable {
        public var name: String
        public var base: Double
        public var simulated: Double
        public var limit: String
    }

    /// The compared figures, where the comparison was written, and the simulated run's own result.
    public struct Result: Sendable {
        public var lines: [Line]
        public var comparisonPath: String
        public var run: LocalRunner.Result
    }

    public static func run(storePath: String, from run: UInt64, campaignFile: String, outDir: String, threads: Int) throws -> Result {
        // The base run's figures, read and closed before the simulation opens the store (one environment per process).
        let (campaign, baseTotals, baseUse): (Campaign, RunTotals, [String: Double]) = try {
            let store = try Store(path: storePath, readOnly: true, mustExist: true)
            let journal = RunRepository(store: store)
            let plan = try journal.plan(run)
            guard try journal.state(run) == "done", let outcome = try journal.outcome(run) else { throw Failure.notFinished(RunRepository.name(run)) }
            let now = try store.env.read { txn in try store.modelVersions(in: txn) }
            let changed = (plan.modelVersions ?? [:]).filter { now[$0.key] != $0.value }.map(\.key).sorted()
            guard changed.isEmpty else { throw Failure.modelsChanged(RunRepository.name(run), changed) }
            var totals = RunTotals(offers: 0, products: 0, channels: 0, regions: 0, segments: 0)
            for s in plan.lower.indices {
                guard let kept = try journal.mergedRows(run, shard: s) else { throw Failure.notFinished(RunRepository.name(run)) }
                totals.merge(kept.totals)
            }
            var use: [String: Double] = [:]
            if let json = try JSONSerialization.jsonObject(with: Data(outcome.optimizationJSON.utf8)) as? [String: Any],
               let rows = json["constraints"] as? [[String: Any]] {
                for r in rows { if let k = r["key"] as? String, let u = r["used"] as? Double { use[k] = u } }
            }
            return (try CampaignImporter.check(file: campaignFile, store: store), totals, use)
        }()
        var options = LocalRunner.Options(storePath: storePath, outDir: outDir, threads: threads, warmStart: false)
        options.campaign = campaign
        let sim = try LocalRunner.run(options)
        let t = sim.totals
        func money(_ micros: Int64) -> Double { Double(micros) / 1e6 }
        var lines = [
            Line(name: "customers_with_offers", base: Double(baseTotals.customersWithOffers), simulated: Double(t.customersWithOffers), limit: ""),
            Line(name: "offers_made", base: Double(baseTotals.offersMade), simulated: Double(t.offersMade), limit: ""),
            Line(name: "expected_responses", base: money(baseTotals.propensityMicros), simulated: money(t.propensityMicros), limit: ""),
            Line(name: "expected_value", base: money(baseTotals.expectedValueMicros), simulated: money(t.expectedValueMicros), limit: ""),
            Line(name: "cost", base: money(baseTotals.costMicros), simulated: money(t.costMicros), limit: ""),
        ]
        for c in sim.report.constraints {
            let money = c.row.kind == .budget
            func f(_ v: Int64?) -> String { v.map { money ? FixedDecimal.string(Double($0) / 1e6, decimals: 2) : String($0) } ?? "-" }
            lines.append(Line(name: c.row.key, base: baseUse[c.row.key] ?? .nan, simulated: c.used, limit: "\(f(c.row.lower))..\(f(c.row.upper))"))
        }
        let comparison = JSONText.object([
            ("base_run", .string(RunRepository.name(run))), ("campaign", .string(campaignFile)),
            ("figures", .array(lines.map { l in
                .object([("name", .string(l.name)), ("base", l.base.isNaN ? .null : .fixed(l.base, decimals: 4)),
                         ("simulated", .fixed(l.simulated, decimals: 4)), ("limits_simulated", .string(l.limit))])
            })),
        ])
        let path = outDir + "/comparison.json"
        try AtomicFile.write(comparison.render(), to: path)
        // The simulated run's summary and report carry the comparison too (`compared_with_base`).
        var summary = sim.summary.trimmingCharacters(in: .whitespacesAndNewlines)
        if summary.hasSuffix("}") {
            summary.removeLast()
            summary = summary.trimmingCharacters(in: .whitespacesAndNewlines) + ",\n  \"compared_with_base\": " + comparison.renderLine() + "\n}\n"
            try AtomicFile.write(summary, to: outDir + "/summary.json")
            try RunReportFile.write(summary: summary, outDir: outDir)
        }
        return Result(lines: lines, comparisonPath: path, run: sim)
    }
}
