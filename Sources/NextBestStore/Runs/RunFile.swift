import Foundation
import CZlib

/// A file of a run's kept beside the store (`<store>/runs/<run>/`): a header (a multiple of 64 bytes) then a
/// payload, written with `O_DIRECT` (`AtomicFileWriter`: temporary file, fsync, rename) so that the night's
/// bulk does not go through LMDB's copy into fresh page-cache pages. The store keeps a record, written after
/// the file is synced, with the file's byte count and the CRC-32 of all its bytes: a missing, torn or damaged
/// file is detected and never used. `PropensityFile` and `ListsFile` are the two kinds.
enum RunFile {
    /// Why a run's file cannot be used (the run and shard are named by the caller).
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

    /// The directory of a run's files in the store at `store`.
    static func directory(store: String, run: UInt64) -> String { store + "/runs/" + RunKeys.name(run) }

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

    /// The CRC-32 of a header followed by a payload whose CRC-32 is `payloadCRC`.
    static func crc(head: [UInt8], payloadCRC: UInt32, payloadBytes: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: crc32_combine(UInt(head.withUnsafeBytes { crc32(0, $0) }), UInt(payloadCRC), numericCast(payloadBytes)))
    }

    /// Pads a header with zeros to a multiple of 64 bytes and stores its size (`u32`) at bytes 12..<16.
    static func padded(_ head: [UInt8]) -> [UInt8] {
        var h = head + [UInt8](repeating: 0, count: (64 - head.count % 64) % 64)
        let size = UInt32(h.count)
        withUnsafeBytes(of: size.littleEndian) { h.replaceSubrange(12..<16, with: $0) }
        return h
    }

    /// Writes `head` then `payload` (synced and renamed into place); returns the file's byte count and
    /// CRC-32, for its record.
    static func write(path: String, head: [UInt8], payload: UnsafeRawBufferPointer, payloadCRC: UInt32) throws -> (bytes: Int, crc: UInt32) {
        let writer = try AtomicFileWriter(path: path)
        writer.append(head)
        writer.append(raw: payload)
        try writer.commit()
        return (head.count + payload.count, crc(head: head, payloadCRC: payloadCRC, payloadBytes: payload.count))
    }

    /// Reads a file of `bytes` bytes whose payload is `payloadCount` values of `T` after the header, and
    /// checks its size and CRC-32; returns the header, the payload and the payload's CRC-32 (for the
    /// caller's check of the header's fields).
    static func read<T: BitwiseCopyable>(path: String, bytes: Int, crc: UInt32, payloadCount: Int,
                                          zero: T) throws(Problem) -> (head: [UInt8], payload: [T], payloadCRC: UInt32) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw errno == ENOENT ? .missing : .io(String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(String(cString: strerror(errno))) }
        guard Int(st.st_size) == bytes else { throw .size(expected: bytes, found: Int(st.st_size)) }
        let payloadBytes = payloadCount * MemoryLayout<T>.stride
        let headerBytes = bytes - payloadBytes
        guard payloadCount >= 0, headerBytes >= 16 else { throw .header("does not fit in the file") }
        var head = [UInt8](repeating: 0, count: headerBytes)
        if let problem = head.withUnsafeMutableBytes({ readAll(fd, $0, at: 0) }) { throw problem }
        var payload = [T](repeating: zero, count: payloadCount)
        if let problem = payload.withUnsafeMutableBytes({ readAll(fd, $0, at: headerBytes) }) { throw problem }
        let payloadCRC = payload.withUnsafeBytes { crc32(0, $0) }
        guard Self.crc(head: head, payloadCRC: payloadCRC, payloadBytes: payloadBytes) == crc else { throw .checksum }
        return (head, payload, payloadCRC)
    }

    /// Whether a file of `bytes` bytes is at `path` (its size only; `read` checks the rest).
    static func present(path: String, bytes: Int) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && Int(st.st_size) == bytes
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

    /// Appends a little-endian integer to a header.
    static func put<T: FixedWidthInteger>(_ v: T, to h: inout [UInt8]) { withUnsafeBytes(of: v.littleEndian) { h.append(contentsOf: $0) } }
}

/// A merged shard's lists (`NBALists`, binary) as a file beside the store (issue 23):
/// `<store>/runs/<run>/lists-<shard>.nbl`, written as the merge streams (`RunFile`), checked by a
/// `ListsFileRecord` that also holds the shard's totals. At 10 M customers the lists are ~250 MB a night;
/// written into LMDB they went through fresh page-cache pages and a flush at the merge's end.
///
/// Layout (little-endian): `"NBLISTS\0"`, `u32` file version (1), `u32` header bytes `H` (64), `u64` run,
/// `u32` shard, `u32` 0, `u64` payload bytes, `u32` CRC-32 of the payload, zeros up to `H`; then the lists.
enum ListsFile {
    static let magic: [UInt8] = Array("NBLISTS\0".utf8)
    static let version: UInt32 = 1

    /// The file of a shard's lists.
    static func path(store: String, run: UInt64, shard: Int) -> String {
        RunFile.directory(store: store, run: run) + "/lists-" + RunKeys.shard(shard) + ".nbl"
    }

    /// The header of a file (see the type's doc).
    static func header(run: UInt64, shard: Int, payloadBytes: Int, payloadCRC: UInt32) -> [UInt8] {
        var h = magic
        RunFile.put(version, to: &h); RunFile.put(UInt32(0), to: &h); RunFile.put(run, to: &h); RunFile.put(UInt32(shard), to: &h)
        RunFile.put(UInt32(0), to: &h); RunFile.put(UInt64(payloadBytes), to: &h); RunFile.put(payloadCRC, to: &h)
        return RunFile.padded(h)
    }

    /// Writes the file (synced and renamed into place); returns its byte count and CRC-32.
    static func write(path: String, run: UInt64, shard: Int, lists: [UInt8]) throws -> (bytes: Int, crc: UInt32) {
        try lists.withUnsafeBytes { b in
            let payloadCRC = RunFile.crc32(0, b)
            return try RunFile.write(path: path, head: header(run: run, shard: shard, payloadBytes: b.count, payloadCRC: payloadCRC), payload: b,
                                     payloadCRC: payloadCRC)
        }
    }

    /// The payload's size in a file of `bytes` bytes (the header is always 64).
    static func payloadBytes(fileBytes bytes: Int) -> Int { bytes - 64 }

    /// Reads and checks a file against its record's byte count and CRC-32; returns the lists.
    static func read(path: String, bytes: Int, crc: UInt32, run: UInt64, shard: Int) throws(RunFile.Problem) -> [UInt8] {
        let r = try RunFile.read(path: path, bytes: bytes, crc: crc, payloadCount: payloadBytes(fileBytes: bytes), zero: UInt8(0))
        guard r.head == header(run: run, shard: shard, payloadBytes: r.payload.count, payloadCRC: r.payloadCRC) else {
            throw .header("does not name run \(RunKeys.name(run)) and shard \(shard)")
        }
        return r.payload
    }
}
