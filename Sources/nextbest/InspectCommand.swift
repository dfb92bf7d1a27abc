import ArgumentParser
import Foundation
import NextBestStore
import NextBestCluster
import NextBestInspect

/// `nextbest inspect --store DIR [--json]`: what a store holds (counts, features, models, campaign, size),
/// read-only.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect",
        abstract: "Show what a store holds: counts, feature names, models, the campaign and the store's size (read-only).",
        discussion: """
        Counts: customers (profiles), contact-history records, offers, products, channels, regions, segments, \
        models, kept runs. Models: id, kind, version, trees and depth or coefficients, the offers using each. \
        Campaign: version, objective, budget, per-customer limits, caps, fatigue, channel minimum propensities. \
        Size: data file bytes, LMDB map size, pages used and free, per-database entries and pages. \
        The store is opened read-only; nothing is written.
        """)
    @OptionGroup var storeOptions: StoreOptions
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func run() throws {
        try reportingErrors {
            let store = try Store(path: storeOptions.store, readOnly: true, mustExist: true)
            let report = try StoreReport.gather(store)
            print(json ? report.json.render() : report.text, terminator: "")
        }
    }
}
