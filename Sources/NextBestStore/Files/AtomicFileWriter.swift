import Foundation

/// Streams an output file into a temporary file beside it and renames it over the target on `commit`,
/// so a reader never sees a half-written file and a failed run leaves the old file in place.
///
/// On Linux the file is written with `O_DIRECT` where the file system takes it: bytes go from an aligned
/// buffer of this writer's to the disk, not through the page cache, whose pages are fresh memory that a
/// VM may hand out slowly (bench/RESULTS.md has the measurement). Two buffers take turns: a full one is
/// written on a thread of its own while `append` fills the other, so the caller does not wait on the disk
/// (a 10 M run's `nba.csv`, 1 GB, kept the coordinator's merge loop in `write` for about a second). The last
/// partial block is written through the page cache (direct writes must be whole blocks); where `O_DIRECT`
/// is refused (tmpfs, some network file systems) every write is.
///
/// Used from one thread at a time. In direct mode the file (`fd`, `direct`, `failed`) is touched only on
/// `io`, a serial queue: `commit` and `abort` wait for it (hence `@unchecked Sendable`: the writes handed to
/// `io` are the only work done off the caller's thread).
public final class AtomicFileWriter: @unchecked Sendable {
    public let path: String
    let tmp: String
    var fd: Int32 = -1
    var failed: Int32 = 0
    public private(set) var bytesWritten = 0
    /// Direct writes: whether the file is written through the page cache no longer (it may stop on `io`).
    var direct = false
    /// Direct mode as opened: `append` fills `buffers[current]` and hands full ones to `io`.
    var background = false
    var buffers: [UnsafeMutableRawPointer] = []
    var current = 0
    var buffered = 0
    /// Signalled when the buffer not being filled is free again (its write done).
    let spare = DispatchSemaphore(value: 1)
    let io = DispatchQueue(label: "nextbest.atomic-file-writer")
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
            var a: UnsafeMutableRawPointer? = nil, b: UnsafeMutableRawPointer? = nil
            if posix_memalign(&a, Self.alignment, Self.bufferSize) == 0, posix_memalign(&b, Self.alignment, Self.bufferSize) == 0, let a, let b {
                buffers = [a, b]
                direct = true
                background = true
            } else {
                free(a); free(b)
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
        guard fd >= 0, src.count > 0 else { return }
        if background {
            var from = 0
            while from < src.count {
                let n = min(Self.bufferSize - buffered, src.count - from)
                (buffers[current] + buffered).copyMemory(from: src.baseAddress! + from, byteCount: n)
                buffered += n
                from += n
                if buffered == Self.bufferSize { handOff() }
            }
        } else {
            guard failed == 0 else { return }
            writeAll(src)
        }
        bytesWritten += src.count
    }

    /// Gives the full buffer to `io` and goes on in the other one, once its write is done.
    func handOff() {
        spare.wait()
        let full = Chunk(bytes: UnsafeRawBufferPointer(start: buffers[current], count: buffered))
        io.async { [self] in
            if failed == 0 { writeAll(full.bytes) }
            spare.signal()
        }
        current ^= 1
        buffered = 0
    }

    /// A full buffer on its way to `io`: `append` fills the other until `spare` says this one is written.
    struct Chunk: @unchecked Sendable { let bytes: UnsafeRawBufferPointer }

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

    /// Writes the last `count` bytes at `buffer`: its whole blocks directly, the rest through the page cache.
    func writeTail(_ buffer: UnsafeMutableRawPointer, count: Int) {
        guard count > 0 else { return }
        let blocks = count / Self.alignment * Self.alignment
        if blocks > 0 { writeAll(UnsafeRawBufferPointer(start: buffer, count: blocks)) }
        if count > blocks, failed == 0 {
            _ = stopDirect()
            writeAll(UnsafeRawBufferPointer(start: buffer + blocks, count: count - blocks))
        }
    }

    /// Flushes, syncs and renames the file into place.
    public func commit() throws {
        guard fd >= 0 else { return }
        // The buffers' writes in order on `io`, then the sync; `failed` is read after them.
        let tail = background ? buffers[current] : nil, count = buffered
        let failure: Int32 = io.sync { [self] in
            if let tail, failed == 0 { writeTail(tail, count: count) }
            if failed == 0, fsync(fd) != 0 { failed = errno }
            close(fd)
            fd = -1
            return failed
        }
        release()
        guard failure == 0 else { unlink(tmp); throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(failure))) }
        guard rename(tmp, path) == 0 else {
            let e = errno; unlink(tmp)
            throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(e)))
        }
    }

    /// Removes the temporary file; the target is untouched.
    public func abort() {
        guard fd >= 0 else { return }
        io.sync { [self] in close(fd); fd = -1 }
        release()
        unlink(tmp)
    }

    func release() {
        for b in buffers { free(b) }
        buffers = []
        buffered = 0
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
