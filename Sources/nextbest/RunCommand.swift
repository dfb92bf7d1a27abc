import ArgumentParser
import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster

/// `nextbest run --store DIR --out DIR`: the nightly job on this machine.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Score every customer, choose their next best actions, write nba.csv and summary.json.")
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "The output directory.") var out: String
    @Option(help: "Scoring threads (default: the number of cores).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Customers per shard.") var shardSize: Int = 50_000
    @Flag(help: "Print only the output paths.") var quiet = false
    @Option(help: "Most price rounds of the optimizer.") var maxRounds: Int = 60
    @Flag(help: "Do not start from (or remember) the previous run's prices.") var noWarmStart = false
    @Option(help: "Also write the optimization instance (candidates.csv, constraints.json) into this directory, for an independent solver.") var exportCandidates: String?

    func run() throws {
        try reportingErrors {
            var options = LocalRunner.Options(storePath: storeOptions.store, outDir: out, threads: threads, shardSize: shardSize,
                                              maxRounds: maxRounds, warmStart: !noWarmStart)
            options.exportCandidates = exportCandidates
            let r = try LocalRunner.run(options) { line in
                if !quiet { printError("nextbest: \(line)") }
            }
            print("wrote \(r.nbaPath) and \(r.summaryPath)")
            if !quiet {
                let t = r.totals
                print("customers \(t.customers), offers made \(t.offersMade), expected value \(FixedDecimal.string(Double(t.expectedValueMicros) / 1e6, decimals: 2)), cost \(FixedDecimal.string(Double(t.costMicros) / 1e6, decimals: 2))")
                print("timings: " + r.timings.map { "\($0.0) \(FixedDecimal.string($0.1, decimals: 2))s" }.joined(separator: ", "))
            }
        }
    }
}
