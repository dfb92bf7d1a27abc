import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster

/// Writes a synthetic bank into a new store: profiles and history in bulk, then the model files and the
/// campaign file written to `filesDir` and imported through the same importers users run.
public enum BankWriter {
    /// What was written.
    public struct Report: Sendable {
        public var profiles: Int
        public var contacts: Int
        public var models: Int
        public var profileSeconds: Double
    }

    public static func write(_ gen: PopulationGenerator, storePath: String, filesDir: String, exportCSV: Bool = false,
                             threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                             progress: (Int) -> Void = { _ in }) throws -> Report {
        let t0 = Date()
        let store = try Store(path: storePath)
        try FileManager.default.createDirectory(atPath: filesDir, withIntermediateDirectories: true)
        let loaded = try BulkLoader.load(store: store, schema: gen.schema, regions: gen.regions, segments: gen.segments,
                                         count: gen.customers, profiles: { range in
            ParallelChunks.map(range, threads: threads) { i in (gen.profile(at: i), gen.history(at: i)) }
        }, progress: progress)
        let profileSeconds = Date().timeIntervalSince(t0)
        if exportCSV { try exportFiles(gen, dir: filesDir) }
        for m in gen.models {
            let path = filesDir + "/\(m.id).\(m.format == .xgboostJSON ? "xgb.json" : "logit.json")"
            try AtomicFile.write(m.fileText, to: path)
            _ = try ModelImporter.run(file: path, id: m.id, format: m.format, store: store)
        }
        let campaignPath = filesDir + "/campaign.yaml"
        try AtomicFile.write(gen.campaignYAML(), to: campaignPath)
        _ = try CampaignImporter.run(file: campaignPath, store: store)
        return Report(profiles: loaded.profiles, contacts: loaded.contacts, models: gen.models.count, profileSeconds: profileSeconds)
    }

    /// Writes `profiles.csv` and `history.csv` as the importers read them.
    public static func exportFiles(_ gen: PopulationGenerator, dir: String) throws {
        var rows: [UInt8] = Array(("customer_id,region,segment," + gen.schema.names.joined(separator: ",") + "\n").utf8)
        var hist: [UInt8] = Array("customer_id,offer_id,channel,date,outcome\n".utf8)
        for i in 0..<gen.customers {
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
