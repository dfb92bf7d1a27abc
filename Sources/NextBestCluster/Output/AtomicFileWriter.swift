import Foundation

/// Streams an output file into a temporary file beside it and renames it over the target on `commit`,
/// so a reader never sees a half-written file and a failed run leaves the old file in place.
public final class AtomicFileWriter {
    public let path: String
    let tmp: String
    var file: UnsafeMutablePointer<FILE>?
    var failed: Int32 = 0
    public private(set) var bytesWritten = 0

    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        guard let f = fopen(tmp, "wb") else { throw OutputError.cannotWrite(path: tmp, reason: String(cString: strerror(errno))) }
        file = f
    }

    /// Appends bytes (errors are reported by `commit`).
    public func append(_ bytes: [UInt8]) {
        guard let f = file, failed == 0, !bytes.isEmpty else { return }
        let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        if n != bytes.count { failed = errno }
        bytesWritten += n
    }

    /// Flushes, syncs and renames the file into place.
    public func commit() throws {
        guard let f = file else { return }
        file = nil
        if failed == 0, fflush(f) != 0 { failed = errno }
        if failed == 0, fsync(fileno(f)) != 0 { failed = errno }
        fclose(f)
        guard failed == 0 else { unlink(tmp); throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(failed))) }
        guard rename(tmp, path) == 0 else {
            let e = errno; unlink(tmp)
            throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(e)))
        }
    }

    /// Removes the temporary file; the target is untouched.
    public func abort() {
        guard let f = file else { return }
        file = nil
        fclose(f)
        unlink(tmp)
    }

    deinit { abort() }
}
