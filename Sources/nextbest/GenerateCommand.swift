import ArgumentParser
import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster

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

    func validate() throws {
        guard customers > 0 else { throw ValidationError("--customers must be positive") }
        guard offers > 0 && offers <= 1000 else { throw ValidationError("--offers must be between 1 and 1000") }
        guard features >= 12 else { throw ValidationError("--features must be at least 12") }
        guard (0...1).contains(treeShare) else { throw ValidationError("--tree-share must be between 0 and 1") }
    }

    func run() throws {
        try reportingErrors {
            let t0 = Date()
            let gen = PopulationGenerator(customers: customers, offers: offers, seed: seed, featureCount: features,
                                          treeModelShare: treeShare, trees: trees, depth: depth)
            let store = try Store(path: storeOptions.store)
            let dir = files ?? storeOptions.store + "/generated"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let threads = ProcessInfo.processInfo.activeProcessorCount
            let loaded = try BulkLoader.load(store: store, schema: gen.schema, regions: gen.regions, segments: gen.segments,
                                             count: customers, profiles: { range in
                let parts = ParallelChunks.map(range, threads: threads) { i in (gen.profile(at: i), gen.history(at: i)) }
                return parts
            }, progress: { n in
                if n % 1_048_576 < 65_536 || n == customers { printError("nextbest: generated \(n) / \(customers) customers (\(elapsed(t0)))") }
            })
            let tProfiles = Date()
            if exportCSV { try exportFiles(gen, dir: dir) }
            for m in gen.models {
                let ext = m.format == .xgboostJSON ? "xgb.json" : "logit.json"
                let path = dir + "/\(m.id).\(ext)"
                try AtomicFile.write(m.fileText, to: path)
                _ = try ModelImporter.run(file: path, id: m.id, format: m.format, store: store)
            }
            let campaignPath = dir + "/campaign.yaml"
            try AtomicFile.write(gen.campaignYAML(), to: campaignPath)
            _ = try CampaignImporter.run(file: campaignPath, store: store)
            print("generated \(loaded.profiles) customers, \(loaded.contacts) contacts, \(gen.models.count) models and a campaign into \(storeOptions.store) in \(elapsed(t0)) (profiles \(String(format: "%.2fs", tProfiles.timeIntervalSince(t0))))")
            print("model and campaign files: \(dir)")
        }
    }

    func exportFiles(_ gen: PopulationGenerator, dir: String) throws {
        var rows: [UInt8] = Array(("customer_id,region,segment," + gen.schema.names.joined(separator: ",") + "\n").utf8)
        var hist: [UInt8] = Array("customer_id,offer_id,channel,date,outcome\n".utf8)
        for i in 0..<customers {
            let p = gen.profile(at: i)
            rows.appendDecimal(p.customerID)
            rows.appendString(",\(gen.regions[Int(p.region)]),\(gen.segments[Int(p.segment)])")
            for f in p.features {
                rows.append(UInt8(ascii: ","))
                if !f.isNaN { rows.appendString(f.description) }
            }
            rows.append(UInt8(ascii: "\n"))
            for e in gen.history(at: i) {
                hist.appendDecimal(e.customerID)
                hist.appendString(",\(e.offerID),\(e.channel),\(e.day),\(e.outcome.text)\n")
            }
        }
        try AtomicFile.write([rows], to: dir + "/profiles.csv")
        try AtomicFile.write([hist], to: dir + "/history.csv")
    }
}

