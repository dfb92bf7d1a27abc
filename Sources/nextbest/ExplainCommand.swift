import ArgumentParser
import Foundation
import NextBestCluster
import NextBestInspect

/// `nextbest explain --store DIR --run RUN_ID --customer ID`: why a customer got their offers.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "explain",
        abstract: "Why a customer got their offers in a kept run: candidates, propensities, eligibility (threshold, fatigue), the prices in force and why each was or wasn't chosen.")
    @OptionGroup var storeOptions: StoreOptions
    @Option(name: .customLong("run"), help: "The run (16 hex digits; see `nextbest runs list`).") var runID: String
    @Option(help: "The customer id.") var customer: UInt64
    @Flag(help: "Print JSON instead of text.") var json = false
    @OptionGroup var logging: LogOptions

    func run() throws {
        try reportingErrors(logging.logFormat) {
            let id = try parseRunID(runID, option: "--run")
            let r = try CustomerExplain.explain(storePath: storeOptions.store, run: id, customer: customer)
            print(json ? r.json : r.text, terminator: json ? "\n" : "")
        }
    }
}
