import Foundation

/// A shard's kept propensities as a file beside the store (issue 23): `<store>/runs/<run>/props-<shard>.f32`,
/// written while the merge streams and checked by a `PropensityFileRecord` (`RunFile`), so the ~1.3 GB of a
/// 10 M-customer night do not go through LMDB's copy into fresh page-cache pages.
///
/// Layout (little-endian): `"NBPROPS\0"`, `u32` file version (1), `u32` header bytes `H` (a multiple of
/// 64), `u64` run, `u32` shard, `u32` model count `M`, `u64` customers `C`, `u32` CRC-32 of the payload,
/// `u32` 0, then per model its id (`u16` length, UTF-8), zeros up to `H`; then the payload: `C × M` `f32`
/// (customers in id order, the models in the header's order for each).
enum PropensityFile {
    static let magic: [UInt8] = Array("NBPROPS\0".utf8)
    static let version: UInt32 = 1
    typealias Problem = RunFile.Problem

    /// The directory of a run's files in the store at `store`.
    static func directory(store: String, run: UInt64) -> String { RunFile.directory(store: store, run: run) }

    /// The file of a shard's propensities.
    static func path(store: String, run: UInt64, shard: Int) -> String {
        directory(store: store, run: run) + "/props-" + RunKeys.shard(shard) + ".f32"
    }

    /// The file of a shard's propensities written by run `part` and linked into run `run`'s directory (a
    /// rescore's part, `PropensityPartsRecord`); run `run`'s own file when `part == run`.
    static func path(store: String, run: UInt64, shard: Int, part: UInt64) -> String {
        part == run ? path(store: store, run: run, shard: shard)
            : directory(store: store, run: run) + "/props-" + RunKeys.shard(shard) + "-" + RunKeys.name(part) + ".f32"
    }

    /// Links the file at `from` to `to` (a rescore's part); copies it when the file system refuses the link.
    /// A file already at `to` (a resumed merge) is replaced.
    static func link(from: String, to: String) throws {
        if Foundation.link(from, to) == 0 { return }
        if errno == EEXIST, unlink(to) == 0, Foundation.link(from, to) == 0 { return }
        do {
            if FileManager.default.fileExists(atPath: to) { try FileManager.default.removeItem(atPath: to) }
            try FileManager.default.copyItem(atPath: from, toPath: to)
        } catch {
            throw RunRepository.Failure.propensityFile(path: from, reason: "it cannot be linked or copied to \(to): \(error.localizedDescription)")
        }
    }

    /// The header of a file (see the type's doc).
    static func header(run: UInt64, shard: Int, models: [String], customers: Int, payloadCRC: UInt32) -> [UInt8] {
        var h = magic
        RunFile.put(version, to: &h); RunFile.put(UInt32(0), to: &h); RunFile.put(run, to: &h); RunFile.put(UInt32(shard), to: &h)
        RunFile.put(UInt32(models.count), to: &h); RunFile.put(UInt64(customers), to: &h); RunFile.put(payloadCRC, to: &h); RunFile.put(UInt32(0), to: &h)
        for m in models { let b = Array(m.utf8.prefix(Int(UInt16.max))); RunFile.put(UInt16(b.count), to: &h); h += b }
        return RunFile.padded(h)
    }

    /// Writes the file (synced and renamed into place) and returns the record that checks it.
    static func write(path: String, run: UInt64, shard: Int, models: [String], values: [Float]) throws -> PropensityFileRecord {
        let customers = models.isEmpty ? 0 : values.count / models.count
        return try values.withUnsafeBytes { b in
            let payloadCRC = RunFile.crc32(0, b)
            let written = try RunFile.write(path: path, head: header(run: run, shard: shard, models: models, customers: customers, payloadCRC: payloadCRC),
                                            payload: b, payloadCRC: payloadCRC)
            return PropensityFileRecord(models: models, customers: customers, bytes: written.bytes, crc: written.crc)
        }
    }

    /// Reads and checks a file against its record (size, CRC-32, header fields); returns its values.
    static func read(path: String, record: PropensityFileRecord, run: UInt64, shard: Int) throws(Problem) -> [Float] {
        let r = try RunFile.read(path: path, bytes: record.bytes, crc: record.crc, payloadCount: record.customers * record.models.count,
                                 zero: Float(0))
        guard r.head == header(run: run, shard: shard, models: record.models, customers: record.customers, payloadCRC: r.payloadCRC) else {
            throw .header("does not name run \(RunKeys.name(run)), shard \(shard) and the recorded models")
        }
        return r.payload
    }
}
