import Foundation
import NextBestCore

/// Imports a profiles CSV (`customer_id,region,segment,<feature>...`) in one write transaction.
///
/// The first import fixes the store's feature schema: the columns, and which of them are categorical
/// (text) — those named in `categorical`, and those holding any non-numeric value (`ProfileColumns`).
/// Later imports must have the same feature columns in the same order; their new text values are added
/// to the columns' dictionaries. An existing customer is replaced. Any bad row refuses the whole file.
public enum ProfileImporter {
    public static func run(file: String, store: Store, categorical: [String] = []) throws -> ImportReport {
        let path = file
        let csv = try CSVReader(path: file)
        let file = csv.name // `standard input` for `-`
        return try store.env.write { txn in
            var header: [String]? = nil
            let stored: FeatureSchema? = try store.schema(in: txn)
            var columns: ProfileColumns? = nil
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
                    let fs = try headerSchema(h, existing: stored, fail: fail)
                    try checkDeclared(categorical, schema: stored ?? fs, first: stored == nil, fail: fail)
                    columns = ProfileColumns(schema: stored ?? fs, first: stored == nil, declared: Set(categorical),
                                             rereadable: ProfileColumns.isRegularFile(path))
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
                try columns!.read(r, into: &features, fail: fail)
                ProfileCodec.encode(region: region, segment: segment, features: features, into: &record)
                if try put(record, id: id, store: store, txn: txn) { added += 1 } else { replaced += 1 }
            }
            guard let columns else { throw ImportError(file: file, line: nil, reason: "the file is empty") }
            let recoded = try recode(path: path, columns: columns.turned, rows: seen.count, names: columns.names, store: store, txn: txn)
            try store.setSchema(try columns.schema(recoded: recoded), in: txn)
            try store.setDictionaries(regions: regions, segments: segments, in: txn)
            try store.markDataChanged(in: txn)
            return ImportReport(kind: "profiles", rows: added + replaced, added: added, replaced: replaced, skipped: 0)
        }
    }

    /// Stores a profile record; true when the customer is new.
    private static func put(_ record: [UInt8], id: UInt64, store: Store, txn: LMDBTransaction) throws -> Bool {
        let key = ProfileCodec.key(id)
        let fresh = try key.withUnsafeBytes { k in
            try record.withUnsafeBytes { v in try txn.put(store.profiles, key: k, value: v, noOverwrite: true) }
        }
        if !fresh { try txn.put(store.profiles, key: key, value: record) }
        return fresh
    }

    /// Codes the columns that turned categorical during a first import (`columns`), reading the file a
    /// second time: every row's cell is coded in file order, so a value's code is its first appearance and
    /// numbers before the turn are their text. Returns the columns' dictionaries. A file that reads
    /// differently the second time (other rows, another count) is refused.
    private static func recode(path: String, columns: [Int], rows: Int, names: [String], store: Store, txn: LMDBTransaction) throws -> [Int: CodeDictionary] {
        let featureCount = names.count
        guard !columns.isEmpty else { return [:] }
        let csv = try CSVReader(path: path)
        var dictionaries = Dictionary(uniqueKeysWithValues: columns.map { ($0, CodeDictionary()) })
        var record: [UInt8] = []
        var read = -1 // the header first
        try csv.forEachRecord { r in
            read += 1
            if read == 0 { return }
            func fail(_ reason: String) -> ImportError { ImportError(file: csv.name, line: r.line, reason: reason) }
            let changed = fail("the file changed while it was imported (its second read, to code text columns, differs)")
            guard r.count == featureCount + 3, let id = FieldParser.uint64(r.bytes(0)) else { throw changed }
            let key = ProfileCodec.key(id)
            guard let value = try txn.get(store.profiles, key: key) else { throw changed }
            var p = try value.withUnsafeBytes { try ProfileCodec.decodeProfile(id: id, $0, featureCount: featureCount) }
            for i in columns {
                if r.isEmpty(i + 3) { p.features[i] = .nan; continue }
                p.features[i] = Float(try ProfileColumns.code(r.string(i + 3), in: &dictionaries[i]!, column: names[i], fail: fail))
            }
            ProfileCodec.encode(region: p.region, segment: p.segment, features: p.features, into: &record)
            try txn.put(store.profiles, key: key, value: record)
        }
        guard read == rows else {
            throw ImportError(file: csv.name, line: nil, reason: "the file changed while it was imported (its second read, to code text columns, has \(read) rows, the first \(rows))")
        }
        return dictionaries
    }

    /// Refuses a `--categorical` column the header lacks, or (after the first import) one the store
    /// holds as numeric.
    private static func checkDeclared(_ declared: [String], schema: FeatureSchema, first: Bool, fail: (String) -> ImportError) throws {
        for name in declared {
            guard let i = schema.index(of: name) else {
                throw fail("--categorical names column \(Quoted.text(name)), which the header lacks (feature columns: \(schema.names.prefix(8).joined(separator: ", "))\(schema.count > 8 ? ", …" : ""))")
            }
            if !first, !schema.isCategorical(i) {
                throw fail("--categorical names column \(Quoted.text(name)), which the store holds as numeric since its first import; a column's kind cannot change (import into a new store to make it categorical)")
            }
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
        if let existing, existing.names != fs.names {
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

}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
