import CZlib
import Foundation

/// An import's input read as a stream of bytes: a file, or standard input when the path is `-`; gzip data
/// (which starts with the bytes 1f 8b, whatever the name) is decompressed on the way through zlib, member
/// after member as `gunzip` does. Reads go in chunks, so memory does not grow with the input.
///
/// Used by one thread (it owns a file descriptor and a zlib stream), so it is not `Sendable`. A read
/// error, truncated gzip data or corrupt gzip data throws an `ImportError` naming the file and, for gzip,
/// the compressed byte offset.
public final class InputFile {
    /// The path that means standard input.
    public static let standardInputPath = "-"
    /// The most bytes `readAll` returns (model and campaign files are read whole).
    public static let wholeFileLimit = 1 << 30

    /// The name errors use: the path, or `standard input`.
    public let name: String
    private let fd: Int32
    private let ownsDescriptor: Bool
    private let namedGzip: Bool
    private var sniffed = false
    private var gzip: GzipStream? = nil
    /// Raw bytes read ahead (sniffing, and gzip's compressed input).
    private let raw: UnsafeMutableRawBufferPointer
    private var rawStart = 0, rawEnd = 0
    private var sourceEOF = false

    /// The name errors use for `path`.
    public static func displayName(_ path: String) -> String {
        path == standardInputPath ? "standard input" : path
    }

    /// Opens `path` (`-`: the descriptor `standardInput`, by default the process's standard input).
    public init(path: String, standardInput: Int32 = STDIN_FILENO) throws(ImportError) {
        name = Self.displayName(path)
        namedGzip = path.lowercased().hasSuffix(".gz")
        if path == Self.standardInputPath {
            fd = standardInput
            ownsDescriptor = false
        } else {
            let d = open(path, O_RDONLY | O_CLOEXEC)
            guard d >= 0 else { throw ImportError(file: path, line: nil, reason: "cannot read file: \(String(cString: strerror(errno)))") }
            fd = d
            ownsDescriptor = true
        }
        raw = .allocate(byteCount: 1 << 20, alignment: 16)
    }

    deinit {
        if ownsDescriptor { close(fd) }
        raw.deallocate()
    }

    /// Fills the start of `buffer` with the next bytes; 0 only at the end of the input.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImportError) -> Int {
        guard buffer.count > 0 else { return 0 }
        if !sniffed { try sniff() }
        if let gzip { return try gzip.inflate(into: buffer, from: self) }
        if rawStart < rawEnd {
            let n = min(buffer.count, rawEnd - rawStart)
            buffer.baseAddress!.copyMemory(from: raw.baseAddress! + rawStart, byteCount: n)
            rawStart += n
            return n
        }
        return try readSource(into: buffer)
    }

    /// The whole input, refused beyond `limit` bytes.
    public func readAll(limit: Int = wholeFileLimit) throws(ImportError) -> Data {
        var out = Data()
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = try read(into: chunk)
            if n == 0 { return out }
            guard out.count + n <= limit else { throw failure("larger than \(limit >> 20) MiB; not read") }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
        }
    }

    func failure(_ reason: String) -> ImportError { ImportError(file: name, line: nil, reason: reason) }

    /// Reads the first bytes to tell gzip data from plain data.
    private func sniff() throws(ImportError) {
        sniffed = true
        while rawEnd < 2 && !sourceEOF { try refillRaw() }
        let isGzip = rawEnd >= 2 && raw[0] == 0x1f && raw[1] == 0x8b
        if isGzip { gzip = try GzipStream(input: name) }
        else if namedGzip { throw failure("the name ends in .gz but the data is not gzip (it does not start with 1f 8b)") }
    }

    /// Appends what the source gives to the raw buffer (compacting it first); sets `sourceEOF` at its end.
    fileprivate func refillRaw() throws(ImportError) {
        if rawStart > 0 {
            let n = rawEnd - rawStart
            if n > 0 { (raw.baseAddress!).copyMemory(from: raw.baseAddress! + rawStart, byteCount: n) }
            rawStart = 0
            rawEnd = n
        }
        guard rawEnd < raw.count else { return }
        let n = try readSource(into: UnsafeMutableRawBufferPointer(rebasing: raw[rawEnd...]))
        if n == 0 { sourceEOF = true }
        rawEnd += n
    }

    /// The raw bytes buffered and not consumed, and whether the source has ended.
    fileprivate var pending: (UnsafeMutableRawBufferPointer, eof: Bool) {
        (UnsafeMutableRawBufferPointer(rebasing: raw[rawStart..<rawEnd]), sourceEOF)
    }

    fileprivate func consume(_ n: Int) { rawStart += n }

    private func readSource(into buffer: UnsafeMutableRawBufferPointer) throws(ImportError) -> Int {
        while true {
            let n = systemRead(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw failure("cannot read: \(String(cString: strerror(errno)))")
        }
    }
}

/// read(2), outside `InputFile` whose `read(into:)` would shadow it.
private func systemRead(_ fd: Int32, _ p: UnsafeMutableRawPointer?, _ n: Int) -> Int { read(fd, p, n) }

/// One zlib inflate stream over an `InputFile`'s raw bytes (gzip members one after another).
final class GzipStream {
    private let stream: UnsafeMutablePointer<z_stream>
    private let input: String
    /// Compressed bytes consumed before the bytes now in the raw buffer (for error offsets).
    private var consumed = 0
    /// Whether the last member ended and no byte of another has been read.
    private var betweenMembers = false

    init(input: String) throws(ImportError) {
        self.input = input
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // 15 + 16: a gzip wrapper, the largest window.
        let rc = inflateInit2_(stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deallocate()
            throw ImportError(file: input, line: nil, reason: "cannot start gzip decompression (zlib error \(rc))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }

    /// Decompresses into `out` until some bytes are produced or the input ends (0).
    func inflate(into out: UnsafeMutableRawBufferPointer, from file: InputFile) throws(ImportError) -> Int {
        stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(clamping: out.count)
        let capacity = Int(stream.pointee.avail_out)
        while Int(stream.pointee.avail_out) == capacity {
            var (pending, eof) = file.pending
            if pending.isEmpty {
                if eof {
                    guard betweenMembers else { throw corrupt("the gzip data ends early (truncated file?)") }
                    return 0
                }
                try file.refillRaw()
                (pending, eof) = file.pending
                if pending.isEmpty { continue }
            }
            stream.pointee.next_in = pending.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_in = UInt32(clamping: pending.count)
            let rc = CZlib.inflate(stream, Z_NO_FLUSH)
            let used = pending.count - Int(stream.pointee.avail_in)
            if used > 0 { betweenMembers = false }
            file.consume(used)
            consumed += used
            switch rc {
            case Z_OK: continue
            case Z_BUF_ERROR where used > 0 || Int(stream.pointee.avail_out) < capacity: continue
            case Z_STREAM_END:
                betweenMembers = true
                inflateReset(stream)
            default:
                let msg = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
                throw corrupt("corrupt gzip data (\(msg))")
            }
        }
        return capacity - Int(stream.pointee.avail_out)
    }

    private func corrupt(_ what: String) -> ImportError {
        ImportError(file: input, line: nil, reason: "\(what) at compressed byte offset \(consumed)")
    }
}
