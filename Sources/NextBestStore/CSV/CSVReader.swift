import Foundation
import NextBestCore

/// A fast reader of RFC 4180 CSV files (commas, optional double quotes, `""` escapes, LF or CRLF),
/// streamed: it reads an `InputFile` (a file, `-` for standard input, either gzip-compressed) in chunks
/// into one buffer, and fields are byte ranges into that buffer. Memory is the buffer (1 MiB, grown
/// only for a record longer than that, up to `maxRecordBytes`), whatever the input's size.
public struct CSVReader {
    /// One record: its line number (1-based, where it starts) and its fields.
    public struct Record {
        public let line: Int
        let base: UnsafeRawBufferPointer
        let ranges: UnsafeBufferPointer<(start: Int, end: Int, escaped: Bool)>

        public var count: Int { ranges.count }

        /// The raw bytes of field `i` (quotes removed; `""` left as-is when `escaped`).
        public func bytes(_ i: Int) -> UnsafeRawBufferPointer {
            let r = ranges[i]
            return UnsafeRawBufferPointer(rebasing: base[r.start..<r.end])
        }

        /// Field `i` as a string, with `""` unescaped.
        public func string(_ i: Int) -> String {
            let s = String(decoding: bytes(i), as: UTF8.self)
            return ranges[i].escaped ? s.replacingOccurrences(of: "\"\"", with: "\"") : s
        }

        public func isEmpty(_ i: Int) -> Bool { ranges[i].start == ranges[i].end }
    }

    /// The longest record accepted (a longer one is refused with its line).
    public static let maxRecordBytes = 64 << 20
    /// The bytes read at a time (the buffer's first size).
    let chunkBytes: Int
    /// The longest record this reader accepts (`maxRecordBytes` but in tests).
    let recordLimit: Int

    /// The path as given (`-`: standard input).
    public let path: String
    /// The name errors use.
    let name: String
    private let input: InputFile

    /// Opens the input at `path` (`-`: standard input); nothing is read yet.
    public init(path: String) throws {
        self.path = path
        input = try InputFile(path: path)
        name = input.name
        chunkBytes = 1 << 20
        recordLimit = Self.maxRecordBytes
    }

    /// Reads `input` `chunkBytes` at a time (tests use tiny chunks and descriptors of their own).
    init(input: InputFile, path: String, chunkBytes: Int = 1 << 20, recordLimit: Int = maxRecordBytes) {
        self.path = path
        self.input = input
        name = input.name
        self.chunkBytes = max(chunkBytes, 1)
        self.recordLimit = max(recordLimit, self.chunkBytes)
    }

    /// Calls `body` for each non-blank record in order. Throws on an unterminated quote, a record longer
    /// than `maxRecordBytes`, or a read or gzip error (with the line reached).
    public func forEachRecord(_ body: (Record) throws -> Void) throws {
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 16)
        defer { buffer.deallocate() }
        var ranges: [(start: Int, end: Int, escaped: Bool)] = []
        ranges.reserveCapacity(64)
        var pos = 0, end = 0, line = 1, eof = false, atStart = true
        var header: [String]? = nil // the first record, to name a column in a refusal
        while true {
            if atStart && (end >= 3 || eof) {
                atStart = false
                if end >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF { pos = 3 }
            }
            if !atStart {
                let view = UnsafeRawBufferPointer(rebasing: buffer[0..<end])
                while pos < end {
                    guard let (next, lines) = try Self.parseRecord(view, from: pos, eof: eof, line: line, file: name, into: &ranges) else { break }
                    if !(ranges.count == 1 && ranges[0].start == ranges[0].end) { // not a blank line
                        try ranges.withUnsafeBufferPointer { rb in
                            let r = Record(line: line, base: view, ranges: rb)
                            if header == nil { header = (0..<r.count).map { r.string($0) } }
                            try body(r)
                        }
                    }
                    pos = next
                    line += lines
                }
                if eof { return }
            }
            try compact(&buffer, pos: &pos, end: &end, line: line, header: header)
            let n: Int
            do { n = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...])) }
            catch { throw ImportError(file: error.file, line: line, reason: error.reason) }
            if n == 0 { eof = true }
            end += n
        }
    }

    /// Moves the unread bytes to the buffer's start, growing it when they fill it (a long record).
    private func compact(_ buffer: inout UnsafeMutableRawBufferPointer, pos: inout Int, end: inout Int, line: Int, header: [String]?) throws {
        let left = end - pos
        if pos > 0 {
            if left > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + pos, byteCount: left) }
            pos = 0
            end = left
        }
        guard end == buffer.count else { return }
        guard buffer.count < recordLimit else {
            let field = Self.fieldsStarted(UnsafeRawBufferPointer(rebasing: buffer[0..<end]))
            let column = header.flatMap { $0[safe: field - 1] }.map { ", column \(Quoted.text($0))" } ?? ""
            throw ImportError(file: name, line: line, reason: "a record longer than \(recordLimit >> 20 > 0 ? "\(recordLimit >> 20) MiB" : "\(recordLimit) bytes") (field \(field)\(column) not ended)")
        }
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: min(buffer.count * 2, recordLimit), alignment: 16)
        bigger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: end)
        buffer.deallocate()
        buffer = bigger
    }

    /// The number of fields begun in `buf`, the start of a record (commas outside quotes, plus one).
    static func fieldsStarted(_ buf: UnsafeRawBufferPointer) -> Int {
        var fields = 1, quoted = false
        for b in buf {
            if b == UInt8(ascii: "\"") { quoted.toggle() } else if b == UInt8(ascii: ","), !quoted { fields += 1 }
        }
        return fields
    }

    /// Parses the record starting at `start`: its fields into `ranges`, and where the next one starts
    /// and how many lines it spans; nil when `buf` ends inside it and more input may follow (`!eof`).
    static func parseRecord(_ buf: UnsafeRawBufferPointer, from start: Int, eof: Bool, line: Int, file: String,
                            into ranges: inout [(start: Int, end: Int, escaped: Bool)]) throws -> (next: Int, lines: Int)? {
        let n = buf.count
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        ranges.removeAll(keepingCapacity: true)
        var pos = start, lines = 0
        while true {
            if pos >= n && !eof { return nil }
            if pos < n && buf[pos] == quote {
                pos += 1
                let fieldStart = pos
                var escaped = false
                while true {
                    guard pos < n else {
                        if eof { throw ImportError(file: file, line: line, reason: "unterminated quoted field") }
                        return nil
                    }
                    let b = buf[pos]
                    if b == quote {
                        if pos + 1 >= n && !eof { return nil }
                        if pos + 1 < n && buf[pos + 1] == quote { escaped = true; pos += 2; continue }
                        break
                    }
                    if b == lf { lines += 1 }
                    pos += 1
                }
                ranges.append((fieldStart, pos, escaped))
                pos += 1 // closing quote
                if pos >= n && !eof { return nil }
                if pos < n && buf[pos] == cr {
                    pos += 1
                    if pos >= n && !eof { return nil }
                }
                if pos >= n || buf[pos] == lf { return (pos + 1, lines + 1) }
                guard buf[pos] == comma else {
                    throw ImportError(file: file, line: line, reason: "unexpected character after a closing quote in field \(ranges.count)")
                }
                pos += 1
            } else {
                var p = pos
                while p < n && buf[p] != comma && buf[p] != lf { p += 1 }
                if p >= n && !eof { return nil }
                var end = p
                if end > pos && buf[end - 1] == cr && (p >= n || buf[p] == lf) { end -= 1 }
                ranges.append((pos, end, false))
                if p >= n || buf[p] == lf { return (p + 1, lines + 1) }
                pos = p + 1
            }
        }
    }
}

/// Strict number parsing for CSV fields.
public enum FieldParser {
    /// An unsigned 64-bit integer made only of digits.
    @inlinable
    public static func uint64(_ b: UnsafeRawBufferPointer) -> UInt64? {
        guard !b.isEmpty, b.count <= 20 else { return nil }
        var v: UInt64 = 0
        for c in b {
            guard c >= 48 && c <= 57 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 48))
            if o1 || o2 { return nil }
            v = a
        }
        return v
    }

    /// A finite decimal number (plain or exponent form, optional surrounding spaces), correctly rounded to Float.
    public static func float(_ b: UnsafeRawBufferPointer) -> Float? {
        var lo = 0, hi = b.count
        while lo < hi && b[lo] == 0x20 { lo += 1 }
        while hi > lo && b[hi - 1] == 0x20 { hi -= 1 }
        let len = hi - lo
        guard len > 0, len < 64 else { return nil }
        for i in lo..<hi {
            let c = b[i]
            let ok = (c >= 48 && c <= 57) || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
                || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
            if !ok { return nil }
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { tmp -> Float? in
            for i in 0..<len { tmp[i] = CChar(bitPattern: b[lo + i]) }
            tmp[len] = 0
            var end: UnsafeMutablePointer<CChar>? = nil
            let v = strtof(tmp.baseAddress!, &end)
            guard let end, end - tmp.baseAddress! == len, v.isFinite else { return nil }
            return v
        }
    }
}
