import Foundation
import NextBestCore

/// Imports a profiles CSV (`customer_id,region,segment,<feature>...`) in one write transaction.
///
/// The first import fixes the store's feature schema; later imports must have the same feature columns
/// in the same order. An existing customer is replaced. Any bad row refuses the whole file.
public enum ProfileImporter {
    public static func run(file: String, store: Store) throws -> ImportReport {
        let csv = try CSVReader(path: file)
        let file = csv.name // `standard input` for `-`
        return try store.env.write { txn in
            var header: [String]? = nil
            var schema: FeatureSchema? = try store.schema(in: txn)
            var regions = try store.regions(in: txn)
            var segments = try store.segments(in: txn)
            var seen: [UInt64: Int] = [:]
            var features: [Float] = []
            var record: [UInt8] = []
            var added = 0, replaced = 0
            try csv.forEachRecord { r in
                func fail(_ reason: String) -> ImportError { ImportError(file: file, line: r.line, reason: reason) }
                guard let cols = header else {
                    let h = (0..<r.count).map { r.string($0).trimmingCharacters(in: .whitespaces) }
                    let fs = try headerSchema(h, existing: schema, fail: fail)
                    if schema == nil {
                        schema = fs
                        try store.setSchema(fs, in: txn)
                    }
                    header = h
                    features = [Float](repeating: .nan, count: fs.count)
                    return
                }
                guard r.count == cols.count else { throw fail("has \(r.count) fields, the header has \(cols.count)") }
                guard let id = FieldParser.uint64(r.bytes(0)) else {
                    throw fail("customer_id \(Quoted.text(r.string(0))) is not an unsigned 64-bit integer")
                }
                if let first = seen[id] { throw fail("customer_id \(id) appears again (first at line \(first))") }
                seen[id] = r.line
                let regionName = r.string(1), segmentName = r.string(2)
                try checkNames(region: regionName, segment: segmentName, fail: fail)
                let region: UInt16, segment: UInt16
                do {
                    region = try regions.code(for: regionName, create: true)
                    segment = try segments.code(for: segmentName, create: true)
                } catch { throw fail("\(error)") }
                try readFeatures(r, columns: cols, into: &features, fail: fail)
                ProfileCodec.encode(region: region, segment: segment, features: features, into: &record)
                let key = ProfileCodec.key(id)
                let fresh = try key.withUnsafeBytes { k in
                    try record.withUnsafeBytes { v in try txn.put(store.profiles, key: k, value: v, noOverwrite: true) }
                }
                if fresh { added += 1 } else {
                    try txn.put(store.profiles, key: key, value: record)
                    replaced += 1
                }
            }
            guard header != nil else { throw ImportError(file: file, line: nil, reason: "the file is empty") }
            try store.setDictionaries(regions: regions, segments: segments, in: txn)
            try store.markDataChanged(in: txn)
            return ImportReport(kind: "profiles", rows: added + replaced, added: added, replaced: replaced, skipped: 0)
        }
    }

    /// The feature schema of header `h` (`customer_id,region,segment,<feature>...`), checked against the
    /// store's (`existing`) when it has one.
    private static func headerSchema(_ h: [String], existing: FeatureSchema?, fail: (String) -> ImportError) throws -> FeatureSchema {
        guard h.count >= 4, h[0] == "customer_id", h[1] == "region", h[2] == "segment" else {
            throw fail("header must start with customer_id,region,segment followed by at least one feature column")
        }
        if let long = h.firstIndex(where: { $0.utf8.count > Campaign.maxLabelBytes }) {
            throw fail("header column \(long + 1) name \(Quoted.text(h[long])) is longer than \(Campaign.maxLabelBytes) bytes")
        }
        let fs: FeatureSchema
        do { fs = try FeatureSchema(names: Array(h[3...])) } catch { throw fail("header: \(error)") }
        if let existing, existing != fs {
            let i = Array(zip(existing.names, fs.names)).firstIndex { $0 != $1 } ?? min(existing.count, fs.count)
            throw fail("feature columns differ from the store's at column \(i + 4): expected \(existing.names[safe: i].map { Quoted.text($0) } ?? "(end)"), found \(fs.names[safe: i].map { Quoted.text($0) } ?? "(end)")")
        }
        return fs
    }

    /// Refuses an empty region or segment name, or one longer than a label may be.
    private static func checkNames(region regionName: String, segment segmentName: String, fail: (String) -> ImportError) throws {
        guard !regionName.isEmpty else { throw fail("region is empty") }
        guard !segmentName.isEmpty else { throw fail("segment is empty") }
        // Region and segment names go into every summary and report: capped as offer ids are.
        guard regionName.utf8.count <= Campaign.maxLabelBytes else {
            throw fail("region \(Quoted.text(regionName)) is longer than \(Campaign.maxLabelBytes) bytes")
        }
        guard segmentName.utf8.count <= Campaign.maxLabelBytes else {
            throw fail("segment \(Quoted.text(segmentName)) is longer than \(Campaign.maxLabelBytes) bytes")
        }
    }

    /// Parses the record's feature fields (after the first three) into `features`; empty is missing (NaN).
    private static func readFeatures(_ r: CSVReader.Record, columns cols: [String], into features: inout [Float], fail: (String) -> ImportError) throws {
        for i in 0..<features.count {
            let b = r.bytes(i + 3)
            if b.isEmpty { features[i] = .nan; continue }
            guard let v = FieldParser.float(b) else {
                throw fail("column \(Quoted.text(cols[i + 3])) value \(Quoted.text(r.string(i + 3))) is not a finite number")
            }
            features[i] = v
        }
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
