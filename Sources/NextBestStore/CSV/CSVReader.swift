import Foundation

/// A fast reader of RFC 4180 CSV files (commas, optional double quotes, `""` escapes, LF or CRLF),
/// memory-mapped and zero-copy: fields are byte ranges into the file.
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

    public let path: String
    private let data: Data

    /// Maps the file at `path`.
    public init(path: String) throws {
        self.path = path
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) }
        catch { throw ImportError(file: path, line: nil, reason: "cannot read file: \((error as NSError).localizedDescription)") }
    }

    /// Calls `body` for each non-blank record in order. Throws on an unterminated quote.
    public func forEachRecord(_ body: (Record) throws -> Void) throws {
        try data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
            var ranges: [(start: Int, end: Int, escaped: Bool)] = []
            ranges.reserveCapacity(64)
            var pos = 0
            let n = buf.count
            if n >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF { pos = 3 }
            var line = 1
            while pos < n {
                ranges.removeAll(keepingCapacity: true)
                let startLine = line
                var endOfRecord = false
                while !endOfRecord {
                    if pos < n && buf[pos] == UInt8(ascii: "\"") {
                        pos += 1
                        let start = pos
                        var escaped = false
                        while true {
                            guard pos < n else { throw ImportError(file: path, line: startLine, reason: "unterminated quoted field") }
                            let b = buf[pos]
                            if b == UInt8(ascii: "\"") {
                                if pos + 1 < n && buf[pos + 1] == UInt8(ascii: "\"") { escaped = true; pos += 2; continue }
                                break
                            }
                            if b == UInt8(ascii: "\n") { line += 1 }
                            pos += 1
                        }
                        ranges.append((start, pos, escaped))
                        pos += 1 // closing quote
                        if pos < n && buf[pos] == UInt8(ascii: "\r") { pos += 1 }
                        if pos >= n || buf[pos] == UInt8(ascii: "\n") { pos += 1; line += 1; endOfRecord = true }
                        else if buf[pos] == UInt8(ascii: ",") { pos += 1 }
                        else { throw ImportError(file: path, line: startLine, reason: "unexpected character after a closing quote in field \(ranges.count)") }
                    } else {
                        let start = pos
                        while pos < n {
                            let b = buf[pos]
                            if b == UInt8(ascii: ",") || b == UInt8(ascii: "\n") { break }
                            pos += 1
                        }
                        var end = pos
                        if end > start && buf[end - 1] == UInt8(ascii: "\r") && (pos >= n || buf[pos] == UInt8(ascii: "\n")) { end -= 1 }
                        ranges.append((start, end, false))
                        if pos >= n || buf[pos] == UInt8(ascii: "\n") { pos += 1; line += 1; endOfRecord = true }
                        else { pos += 1 } // comma
                    }
                }
                if ranges.count == 1 && ranges[0].start == ranges[0].end { continue } // blank line
                try ranges.withUnsafeBufferPointer { rb in
                    try body(Record(line: startLine, base: buf, ranges: rb))
                }
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
