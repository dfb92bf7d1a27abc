import ArgumentParser
import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster
import NextBestSynthetic

/// `nextbest generate --customers N --offers M --seed S --store DIR`: a synthetic bank.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a synthetic bank (profiles, history, models, campaign) into a new store.",
        discussion: """
        Profiles and history are written straight into the store. Models (half logistic, half XGBoost JSON \
        tree ensembles) and the campaign YAML are written as files under FILES (default: STORE/generated) \
        and imported from there with the same importers users run. The same seed gives the same store.
        """)
    @Option(help: "Number of customers.") var customers: Int = 100_000
    @Option(help: "Number of offers (one model each).") var offers: Int = 32
    @Option(help: "Random seed.") var seed: UInt64 = 42
    @Option(help: "Profile features.") var features: Int = 40
    @Option(help: "Trees per tree-ensemble model.") var trees: Int = 100
    @Option(help: "Depth of each tree.") var depth: Int = 6
    @Option(help: "Share of offers scored by tree ensembles (the rest logistic).") var treeShare: Double = 0.5
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Where to write the model and campaign files (default: STORE/generated).") var files: String?
    @Flag(help: "Also write profiles.csv and history.csv into FILES (for import tests and timing).") var exportCSV = false
    @Flag(help: "Log only errors (no progress lines).") var quiet = false
    @OptionGroup var logging: LogOptions

    func validate() throws {
        try OptionChecks.check("--customers", customers, 1...2_000_000_000)
        guard offers > 0 && offers <= 1000 else { throw ValidationError("--offers must be between 1 and 1000") }
        try OptionChecks.check("--features", features, 12...4_096)
        try OptionChecks.check("--tree-share", treeShare, 0...1)
        try OptionChecks.check("--trees", trees, 1...100_000)
        guard (1...16).contains(depth) else { throw ValidationError("--depth must be between 1 and 16") }
    }

    func run() throws {
        try reportingErrors(logging.logFormat) {
            let log = logging.logger(prefix: "nextbest: ", quiet: quiet)
            let t0 = Date()
            let gen = PopulationGenerator(customers: customers, offers: offers, seed: seed, featureCount: features,
                                          treeModelShare: treeShare, trees: trees, depth: depth)
            let dir = files ?? storeOptions.store + "/generated"
            let r = try BankWriter.write(gen, storePath: storeOptions.store, filesDir: dir, exportCSV: exportCSV) { n in
                if n % 1_048_576 < 65_536 || n == customers { log("generated \(n) / \(customers) customers (\(elapsed(t0)))") }
            }
            print("generated \(r.profiles) customers, \(r.contacts) contacts, \(r.models) models and a campaign into \(storeOptions.store) in \(elapsed(t0)) (profiles \(String(format: "%.2fs", r.profileSeconds)))")
            print("model and campaign files: \(dir)")
        }
    }
}
