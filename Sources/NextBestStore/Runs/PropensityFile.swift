import Foundation
import CZlib

/// A shard's kept propensities as a file beside the store (issue 23): `<store>/runs/<run>/props-<shard>.f32`,
/// written with `O_DIRECT` (`AtomicFileWriter`: temporary file, fsync, rename) while the merge streams, so
/// the ~1.3 GB of a 10 M-customer night do not go through LMDB's copy into fresh page-cache pages. The store
/// keeps a `PropensityFileRecord` (written after the file is synced) with the file's byte count and the
/// CRC-32 of all its bytes: a missing, torn or damaged file is detected and never used.
///
/// Layout (little-endian): `"NBPROPS\0"`, `u32` file version (1), `u32` header bytes `H` (a multiple of
/// 64), `u64` run, `u32` shard, `u32` model count `M`, `u64` customers `C`, `u32` CRC-32 of the payload,
/// `u32` 0, then per model its id (`u16` length, UTF-8), zeros up to `H`; then the payload: `C × M` `f32`
/// (customers in id order, the models in the header's order for each).
enum PropensityFile {
    static let magic: [UInt8] = Array("NBPROPS\0".utf8)
    static let version: UInt32 = 1
    /// The fixed part of the header (before the model ids).
    static let fixedHeader = 48

    /// The directory of a run's files in the store at `store`.
    static func directory(store: String, run: UInt64) -> String { store + "/runs/" + RunKeys.name(run) }

    /// The file of a shard's propensities.
    static func path(store: String, run: UInt64, shard: Int) -> String {
        directory(store: store, run: run) + "/props-" + RunKeys.shard(shard) + ".f32"
    }

    /// Why a propensity file cannot be used (the run and shard are named by the caller).
    enum Problem: Error, CustomStringConvertible, Equatable {
        case missing
        case size(expected: Int, found: Int)
        case checksum
        case header(String)
        case io(String)

        var description: String {
            switch self {
            case .missing: return "the file is missing"
            case let .size(e, f): return "the file has \(f) bytes where \(e) were written (torn or truncated)"
            case .checksum: return "its CRC-32 does not match the one recorded (the file is damaged)"
            case .header(let what): return "its header \(what)"
            case .io(let why): return "it cannot be read: \(why)"
            }
        }
    }

    /// CRC-32 (zlib's) of a buffer, continuing from `crc`.
    static func crc32(_ crc: UInt32, _ b: UnsafeRawBufferPointer) -> UInt32 {
        var c = UInt(crc), from = 0
        while from < b.count {
            let n = min(b.count - from, 1 << 30)
            c = CZlib.crc32(c, b.baseAddress!.assumingMemoryBound(to: UInt8.self) + from, UInt32(n))
            from += n
        }
        return UInt32(truncatingIfNeeded: c)
    }

    /// The header of a file (see the type's doc).
    static func header(run: UInt64, shard: Int, models: [String], customers: Int, payloadCRC: UInt32) -> [UInt8] {
        var h = magic
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { h.append(contentsOf: $0) } }
        put(version); put(UInt32(0)); put(run); put(UInt32(shard)); put(UInt32(models.count)); put(UInt64(customers))
        put(payloadCRC); put(UInt32(0))
        for m in models { let b = Array(m.utf8.prefix(Int(UInt16.max))); put(UInt16(b.count)); h += b }
        h += [UInt8](repeating: 0, count: (64 - h.count % 64) % 64)
        let size = UInt32(h.count)
        withUnsafeBytes(of: size.littleEndian) { h.replaceSubrange(12..<16, with: $0) }
        return h
    }

    /// Writes the file (synced and renamed into place) and returns the record that checks it.
    static func write(path: String, run: UInt64, shard: Int, models: [String], values: [Float]) throws -> PropensityFileRecord {
        let customers = models.isEmpty ? 0 : values.count / models.count
        let payloadCRC = values.withUnsafeBytes { crc32(0, $0) }
        let head = header(run: run, shard: shard, models: models, customers: customers, payloadCRC: payloadCRC)
        let writer = try AtomicFileWriter(path: path)
        writer.append(head)
        values.withUnsafeBytes { writer.append(raw: $0) }
        try writer.commit()
        let payloadBytes = values.count * MemoryLayout<Float>.size
        let crc = UInt32(truncatingIfNeeded: crc32_combine(UInt(head.withUnsafeBytes { crc32(0, $0) }), UInt(payloadCRC), numericCast(payloadBytes)))
        return PropensityFileRecord(models: models, customers: customers, bytes: head.count + payloadBytes, crc: crc)
    }

    /// Reads and checks a file against its record (size, CRC-32, header fields); returns its values.
    static func read(path: String, record: PropensityFileRecord, run: UInt64, shard: Int) throws(Problem) -> [Float] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw errno == ENOENT ? .missing : .io(String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(String(cString: strerror(errno))) }
        guard Int(st.st_size) == record.bytes else { throw .size(expected: record.bytes, found: Int(st.st_size)) }
        let payloadBytes = record.customers * record.models.count * MemoryLayout<Float>.size
        let headerBytes = record.bytes - payloadBytes
        guard headerBytes >= fixedHeader else { throw .header("does not fit in the file") }
        var head = [UInt8](repeating: 0, count: headerBytes)
        if let problem = head.withUnsafeMutableBytes({ readAll(fd, $0, at: 0) }) { throw problem }
        var values = [Float](repeating: 0, count: payloadBytes / MemoryLayout<Float>.size)
        if let problem = values.withUnsafeMutableBytes({ readAll(fd, $0, at: headerBytes) }) { throw problem }
        let payloadCRC = values.withUnsafeBytes { crc32(0, $0) }
        let crc = UInt32(truncatingIfNeeded: crc32_combine(UInt(head.withUnsafeBytes { crc32(0, $0) }), UInt(payloadCRC), numericCast(payloadBytes)))
        guard crc == record.crc else { throw .checksum }
        let expected = header(run: run, shard: shard, models: record.models, customers: record.customers, payloadCRC: payloadCRC)
        guard expected == head else { throw .header("does not name run \(RunKeys.name(run)), shard \(shard) and the recorded models") }
        return values
    }

    /// Reads `b.count` bytes at `offset`; nil when done, else why not.
    static func readAll(_ fd: Int32, _ b: UnsafeMutableRawBufferPointer, at offset: Int) -> Problem? {
        var done = 0
        while done < b.count {
            let n = pread(fd, b.baseAddress! + done, b.count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return n == 0 ? .size(expected: offset + b.count, found: offset + done) : .io(String(cString: strerror(errno))) }
            done += n
        }
        return nil
    }
}
