import Foundation
import Testing
import NextBestCore
import NextBestStore
@testable import NextBestCluster
import NextBestTelemetry

/// Metrics made for a batch job (issue 25): every family exposed with its `# HELP` and `# TYPE`, the
/// histograms, `nextbest_build_info` and the last success after a completed run, every family documented in
/// docs/operations.md, and `--metrics-textfile` written, complete, on success and on failure.
@Suite struct BatchMetricsTests {
    /// A Prometheus text exposition taken apart: each family's HELP and TYPE, and the samples.
    struct Exposition {
        var help: [String: String] = [:]
        var type: [String: String] = [:]
        /// `name{labels}` → value.
        var samples: [String: Double] = [:]
        let text: String

        init(_ bytes: [UInt8]) { self.init(String(decoding: bytes, as: UTF8.self)) }

        init(_ text: String) {
            self.text = text
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                if line.hasPrefix("# HELP "), parts.count >= 3 { help[parts[2]] = parts.count == 4 ? parts[3] : "" }
                else if line.hasPrefix("# TYPE "), parts.count == 4 { type[parts[2]] = parts[3] }
                else if !line.hasPrefix("#") {
                    let cut = line.lastIndex(of: " ")!
                    samples[String(line[..<cut])] = Double(line[line.index(after: cut)...])
                }
            }
        }

        /// The family a sample belongs to: its name, less a histogram's `_bucket`, `_sum` or `_count`.
        func family(of sample: String) -> String {
            let name = String(sample.prefix { $0 != "{" })
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                let base = String(name.dropLast(suffix.count))
                if type[base] == "histogram" { return base }
            }
            return name
        }

        /// The families that have samples.
        var families: Set<String> { Set(samples.keys.map(family(of:))) }

        /// Problems: a sample whose family lacks a HELP (or has an empty one) or a TYPE, a HELP without a TYPE.
        var undocumented: [String] {
            var out: [String] = []
            for f in families.sorted() {
                if (help[f] ?? "").isEmpty { out.append("\(f): no HELP") }
                if type[f] == nil { out.append("\(f): no TYPE") }
            }
            for f in help.keys.sorted() where type[f] == nil { out.append("\(f): HELP without TYPE") }
            return out
        }
    }

    @Test func aCompletedRunExposesEveryFamilyWithHelpAndType() throws {
        let (_, path) = try ClusterFixtures.store()
        let metrics = RunMetrics()
        let before = Date().timeIntervalSince1970
        var options = LocalRunner.Options(storePath: path, outDir: ClusterFixtures.tempDir("batch-metrics"), threads: 2, settings: .init(shardSize: 64))
        options.metrics = metrics
        let r = try LocalRunner.run(options, logger: RoleLog.standardError(prefix: "test: ", format: .text, quiet: true))
        let after = Date().timeIntervalSince1970
        let e = Exposition(metrics.telemetry.exposition())
        #expect(e.undocumented.isEmpty, "\(e.undocumented)\n\(e.text)")
        // Exactly the declared families (a one-process run compares with no earlier night).
        let declared = Set(MetricFamilies.coordinator.map(\.name))
        #expect(e.families == declared.subtracting([MetricFamilies.topOfferChanged.name]), "\(e.families.symmetricDifference(declared))")
        for f in MetricFamilies.coordinator where e.families.contains(f.name) { #expect(e.help[f.name] == f.help) }
        #expect(e.samples["nextbest_build_info{version=\"\(NextBestVersion.number)\"}"] == 1)
        // The histograms: one observation per shard, one per round.
        #expect(e.type["nextbest_shard_scoring_seconds"] == "histogram")
        #expect(e.samples["nextbest_shard_scoring_seconds_count"] == Double(r.shards))
        #expect(e.samples["nextbest_shard_scoring_seconds_bucket{le=\"+Inf\"}"] == Double(r.shards))
        #expect((e.samples["nextbest_shard_scoring_seconds_sum"] ?? 0) > 0)
        #expect(r.report.history.count > 0)
        #expect(e.samples["nextbest_optimization_round_seconds_count"] == Double(r.report.history.count))
        #expect(e.samples["nextbest_optimization_round_seconds_bucket{le=\"+Inf\"}"] == Double(r.report.history.count))
        #expect(e.samples["nextbest_optimization_round_seconds_sum"] != nil)
        let buckets = e.samples.keys.filter { $0.hasPrefix("nextbest_shard_scoring_seconds_bucket{") }
        #expect(buckets.count == MetricFamilies.shardScoringBuckets.count + 1)
        // The last success is this run's end.
        let last = try #require(e.samples["nextbest_last_success_timestamp_seconds"])
        #expect(last >= before && last <= after)
        #expect(e.samples["nextbest_runs_total{state=\"completed\"}"] == 1)
        // Stages: top-level only; the total and the parts in series of their own.
        let stages = Set(e.samples.keys.filter { $0.hasPrefix("nextbest_stage_seconds{") })
        #expect(stages == Set(["plan", "score", "optimize", "merge_and_write"].map { "nextbest_stage_seconds{stage=\"\($0)\"}" }))
        #expect(e.samples["nextbest_stage_part_seconds{stage=\"optimize\",part=\"rounds\"}"] != nil)
        #expect(e.samples["nextbest_stage_part_seconds{stage=\"optimize\",part=\"repair\"}"] != nil)
        let total = try #require(e.samples["nextbest_run_duration_seconds"])
        #expect(total > 0 && abs(total - (r.timings.first { $0.0 == "total" }?.1 ?? -1)) < 1e-9)
        #expect(!e.text.contains("per_second"))
    }

    @Test func workerFamiliesHaveHelpAndType() {
        let e = Exposition(WorkerMetrics().telemetry.exposition())
        #expect(e.undocumented.isEmpty, "\(e.undocumented)")
        #expect(e.families == Set(MetricFamilies.worker.map(\.name)))
        #expect(e.samples["nextbest_build_info{version=\"\(NextBestVersion.number)\"}"] == 1)
    }

    /// docs/operations.md's "Metrics" section names every family.
    @Test func operationsGuideListsEveryFamily() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: repo.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let section = try #require(doc.range(of: "## Metrics")).upperBound
        let text = String(doc[section...])
        for f in MetricFamilies.coordinator + MetricFamilies.worker {
            #expect(text.contains("`\(f.name)"), "docs/operations.md's Metrics section does not list \(f.name)")
        }
    }

    /// Runs `nextbest args`; returns the exit status and standard error.
    func nextbest(_ args: [String]) throws -> (status: Int32, stderr: String) {
        let r = try InspectExportTests().nextbest(args)
        return (r.status, r.err)
    }

    /// `--metrics-textfile` on a completed run, then on a failed one (an infeasible campaign) over the same
    /// file: each time the whole exposition, documented, nothing else left in the directory; the failed
    /// run says it failed and keeps the earlier success's time.
    @Test func textfileIsWrittenOnSuccessAndOnFailure() throws {
        let (_, good) = try ClusterFixtures.store()
        let (_, bad) = try ClusterFixtures.store(campaign: ClusterFixtures.root + "/infeasible/region_min_over_capacity.yaml")
        let dir = ClusterFixtures.tempDir("textfile") + "/collector"
        let file = dir + "/nextbest.prom"

        let ok = try nextbest(["run", "--store", good, "--out", ClusterFixtures.tempDir("textfile-ok"), "--workers", "0", "--quiet", "--metrics-textfile", file])
        #expect(ok.status == 0, "\(ok.stderr)")
        let first = Exposition(try String(contentsOfFile: file, encoding: .utf8))
        #expect(first.text.hasSuffix("\n"))
        #expect(first.undocumented.isEmpty, "\(first.undocumented)")
        #expect(first.families == Set(MetricFamilies.coordinator.map(\.name)).subtracting([MetricFamilies.topOfferChanged.name]))
        #expect(first.samples["nextbest_runs_total{state=\"completed\"}"] == 1)
        #expect(first.samples["nextbest_runs_total{state=\"failed\"}"] == 0)
        let success = try #require(first.samples["nextbest_last_success_timestamp_seconds"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["nextbest.prom"])

        let failed = try nextbest(["run", "--store", bad, "--out", ClusterFixtures.tempDir("textfile-bad"), "--workers", "0", "--quiet", "--metrics-textfile", file])
        #expect(failed.status == 78, "\(failed.stderr)")
        let second = Exposition(try String(contentsOfFile: file, encoding: .utf8))
        #expect(second.text.hasSuffix("\n"))
        #expect(second.undocumented.isEmpty, "\(second.undocumented)")
        #expect(second.samples["nextbest_runs_total{state=\"started\"}"] == 1)
        #expect(second.samples["nextbest_runs_total{state=\"failed\"}"] == 1)
        #expect(second.samples["nextbest_runs_total{state=\"completed\"}"] == 0)
        #expect(second.samples["nextbest_build_info{version=\"\(NextBestVersion.number)\"}"] == 1)
        #expect(second.samples["nextbest_last_success_timestamp_seconds"] == success)
        // Every family a run has from its start is there; stage times are a completed run's only.
        let always = Set(MetricFamilies.coordinator.map(\.name)).subtracting([MetricFamilies.topOfferChanged, MetricFamilies.runDuration, MetricFamilies.stageSeconds, MetricFamilies.stagePartSeconds].map(\.name))
        #expect(second.families == always, "\(second.families.symmetricDifference(always))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["nextbest.prom"])
    }
}
