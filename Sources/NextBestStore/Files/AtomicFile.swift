import Foundation

/// Writes output files atomically: into a temporary file in the same directory, flushed, then renamed
/// over the target, so a reader never sees a half-written file.
public enum AtomicFile {
    public static func write(_ chunks: [[UInt8]], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        if let why = Directories.make(dir) { throw OutputError.cannotWrite(path: path, reason: "cannot create its directory: \(why)") }
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        guard let f = fopen(tmp, "wb") else { throw OutputError.cannotWrite(path: path, reason: "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var ok = true
        for c in chunks where !c.isEmpty {
            let n = c.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
            if n != c.count { ok = false; break }
        }
        if fflush(f) != 0 { ok = false }
        if fsync(fileno(f)) != 0 { ok = false }
        let err = errno
        fclose(f)
        guard ok else { unlink(tmp); throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(err))) }
        guard rename(tmp, path) == 0 else {
            let e = errno; unlink(tmp)
            throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(e)))
        }
    }

    public static func write(_ text: String, to path: String) throws { try write([Array(text.utf8)], to: path) }
}

/// Output files could not be written.
public enum OutputError: Error, CustomStringConvertible {
    case cannotWrite(path: String, reason: String)
    public var description: String {
        switch self { case .cannotWrite(let p, let r): return "cannot write \(p): \(r)" }
    }
}
