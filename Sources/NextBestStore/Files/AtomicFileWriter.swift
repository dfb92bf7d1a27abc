import Foundation

/// Streams an output file into a temporary file beside it and renames it over the target on `commit`,
/// so a reader never sees a half-written file and a failed run leaves the old file in place.
///
/// On Linux the file is written with `O_DIRECT` where the file system takes it: bytes go from an aligned
/// buffer of this writer's to the disk, not through the page cache, whose pages are fresh memory that a
/// VM may hand out slowly (bench/RESULTS.md has the measurement). The last partial block
/// is written through the page cache (direct writes must be whole blocks); where `O_DIRECT` is refused
/// (tmpfs, some network file systems) every write is.
public final class AtomicFileWriter {
    public let path: String
    let tmp: String
    var fd: Int32 = -1
    var failed: Int32 = 0
    public private(set) var bytesWritten = 0
    /// Direct writes: an aligned buffer filled by `append`, written out whole.
    var direct = false
    var buffer: UnsafeMutableRawPointer?
    var buffered = 0
    static let alignment = 4096
    static let bufferSize = 8 << 20

    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        if let why = Directories.make(dir) { throw OutputError.cannotWrite(path: path, reason: "cannot create its directory: \(why)") }
        tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        #if os(Linux)
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | oDirect, 0o644)
        if fd >= 0 {
            var p: UnsafeMutableRawPointer? = nil
            if posix_memalign(&p, Self.alignment, Self.bufferSize) == 0, let p {
                buffer = p
                direct = true
            } else {
                close(fd)
                fd = -1
            }
        }
        #endif
        if fd < 0 { fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        guard fd >= 0 else { throw OutputError.cannotWrite(path: tmp, reason: String(cString: strerror(errno))) }
    }

    /// Appends bytes (errors are reported by `commit`).
    public func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { append(raw: $0) } }

    /// Appends the bytes of a buffer (a `[Float]`'s, say) without copying them into an array first.
    public func append(raw src: UnsafeRawBufferPointer) {
        guard fd >= 0, failed == 0, src.count > 0 else { return }
        if direct, let buffer {
            var from = 0
            while from < src.count {
                let n = min(Self.bufferSize - buffered, src.count - from)
                (buffer + buffered).copyMemory(from: src.baseAddress! + from, byteCount: n)
                buffered += n
                from += n
                if buffered == Self.bufferSize { flushBuffer(whole: true) }
            }
        } else {
            writeAll(src)
        }
        bytesWritten += src.count
    }

    /// Writes every byte of `src` at the file's offset, retrying short writes.
    func writeAll(_ src: UnsafeRawBufferPointer) {
        var done = 0
        while done < src.count, failed == 0 {
            let n = write(fd, src.baseAddress! + done, src.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                // The file system refuses direct writes after all: go on through the page cache.
                if direct && errno == EINVAL && stopDirect() { continue }
                failed = errno
                return
            }
            done += n
        }
    }

    /// Leaves direct mode (the same descriptor, through the page cache from here on).
    func stopDirect() -> Bool {
        #if os(Linux)
        guard direct else { return false }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags & ~oDirect) == 0 else { return false }
        direct = false
        return true
        #else
        return false
        #endif
    }

    /// Writes the buffer: whole when full; at the end its whole blocks directly, the rest through the
    /// page cache.
    func flushBuffer(whole: Bool) {
        guard let buffer, buffered > 0 else { return }
        if whole {
            writeAll(UnsafeRawBufferPointer(start: buffer, count: buffered))
        } else {
            let blocks = buffered / Self.alignment * Self.alignment
            if blocks > 0 { writeAll(UnsafeRawBufferPointer(start: buffer, count: blocks)) }
            if buffered > blocks, failed == 0 {
                _ = stopDirect()
                writeAll(UnsafeRawBufferPointer(start: buffer + blocks, count: buffered - blocks))
            }
        }
        buffered = 0
    }

    /// Flushes, syncs and renames the file into place.
    public func commit() throws {
        guard fd >= 0 else { return }
        if failed == 0 { flushBuffer(whole: false) }
        if failed == 0, fsync(fd) != 0 { failed = errno }
        close(fd)
        fd = -1
        release()
        guard failed == 0 else { unlink(tmp); throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(failed))) }
        guard rename(tmp, path) == 0 else {
            let e = errno; unlink(tmp)
            throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(e)))
        }
    }

    /// Removes the temporary file; the target is untouched.
    public func abort() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        release()
        unlink(tmp)
    }

    func release() {
        free(buffer)
        buffer = nil
    }

    deinit { abort() }
}

#if os(Linux)
/// `O_DIRECT`, which Swift's Glibc module does not export (it is a GNU extension): its value per
/// architecture from the kernel's headers (asm-generic/fcntl.h; arm64 defines its own).
#if arch(x86_64)
private let oDirect: Int32 = 0o40000
#elseif arch(arm64)
private let oDirect: Int32 = 0o200000
#else
private let oDirect: Int32 = 0
#endif
#endif
