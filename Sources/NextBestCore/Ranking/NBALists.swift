/// A shard's `nba.csv` lists in binary (issue 23): what the run journal keeps and what every reader
/// renders `nba.csv` rows from, so an export is the run's `nba.csv` byte for byte by construction (the
/// worker renders its own rows from these bytes with `render`).
///
/// Layout (integers are unsigned LEB128 unless said otherwise; docs/store.md):
/// - `u8` layout version (`version`);
/// - the offer-id table: a count, then per offer its byte length and its bytes; the channel-name table likewise;
/// - per customer with offers, in id order: the id as the difference from the previous customer's (the
///   first from 0), the number of rows, then per row in rank order: the offer index, the channel index, the
///   propensity's and the expected value's printed text as `FixedDecimal.code` (6 and 4 decimals).
public enum NBALists {
    /// The layout version (byte 0).
    public static let version: UInt8 = 1
    /// The most bytes one row takes (four LEB128 values: two indices of at most 32 bits, two 64-bit codes).
    public static let maxRowBytes = 5 + 5 + 10 + 10
    /// The most bytes a customer's id delta and row count take.
    public static let maxCustomerBytes = 10 + 5

    /// The lists could not be read: the kept bytes are damaged or not lists of this layout.
    public enum Failure: Error, CustomStringConvertible, Equatable, Sendable {
        case version(UInt8)
        case truncated(at: Int)
        case badIndex(what: String, index: UInt64, count: Int, at: Int)
        case badCustomer(at: Int)

        public var description: String {
            switch self {
            case .version(let v): return "lists of layout version \(v) (this build reads \(NBALists.version))"
            case .truncated(let at): return "the lists end in the middle of a value (byte \(at))"
            case let .badIndex(what, i, n, at): return "\(what) index \(i) of \(n) at byte \(at)"
            case .badCustomer(let at): return "a customer id that does not follow the previous one at byte \(at)"
            }
        }
    }

    // MARK: Writing

    /// Writes `v` as LEB128 at `p` and advances it.
    @inlinable @inline(__always)
    public static func put(_ v: UInt64, _ p: inout UnsafeMutablePointer<UInt8>) {
        var v = v
        while v >= 0x80 { p.pointee = UInt8(truncatingIfNeeded: v) | 0x80; p += 1; v >>= 7 }
        p.pointee = UInt8(truncatingIfNeeded: v); p += 1
    }

    /// The header: version, offer-id and channel-name tables.
    public static func header(offers: [[UInt8]], channels: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = [version]
        func leb(_ v: Int) {
            var v = UInt64(v)
            while v >= 0x80 { out.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
            out.append(UInt8(v))
        }
        for table in [offers, channels] {
            leb(table.count)
            for name in table { leb(name.count); out += name }
        }
        return out
    }

    // MARK: Reading

    /// Walks lists with bounds checks (never traps on damaged bytes): the tables, then one customer at a time.
    public struct Reader {
        public let bytes: UnsafeBufferPointer<UInt8>
        public private(set) var offset = 0
        /// The tables as byte ranges of `bytes`.
        public private(set) var offers: [Range<Int>] = []
        public private(set) var channels: [Range<Int>] = []
        /// The bytes where the customers start (after the tables).
        public private(set) var body = 0
        var previous: UInt64 = 0
        var first = true

        /// Reads the header (`bytes` must outlive the reader).
        public init(_ bytes: UnsafeBufferPointer<UInt8>) throws(Failure) {
            self.bytes = bytes
            guard let v = bytes.first else { throw .truncated(at: 0) }
            guard v == NBALists.version else { throw .version(v) }
            offset = 1
            offers = try table()
            channels = try table()
            body = offset
        }

        /// A table of names (offer ids or channel names) as byte ranges.
        mutating func table() throws(Failure) -> [Range<Int>] {
            let n = try count(at: offset, of: 1)
            var out: [Range<Int>] = []
            out.reserveCapacity(n)
            for _ in 0..<n {
                let len = try count(at: offset, of: 1)
                out.append(offset..<(offset + len))
                offset += len
            }
            return out
        }

        /// A count, checked against what is left (`width` bytes at least per element).
        mutating func count(at start: Int, of width: Int) throws(Failure) -> Int {
            let n = try leb()
            guard n <= UInt64(bytes.count - offset) / UInt64(width) else { throw .truncated(at: start) }
            return Int(n)
        }

        /// One LEB128 value.
        @inline(__always)
        public mutating func leb() throws(Failure) -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while offset < bytes.count {
                let b = bytes[offset]
                offset += 1
                guard shift < 64 else { throw .truncated(at: offset - 1) }
                v |= UInt64(b & 0x7f) << shift
                if b < 0x80 { return v }
                shift += 7
            }
            throw .truncated(at: offset)
        }

        /// The next customer's id and row count, or nil at the end; its rows follow (`row()`, `rows` times).
        @inline(__always)
        public mutating func customer() throws(Failure) -> (id: UInt64, rows: Int)? {
            guard offset < bytes.count else { return nil }
            let at = offset
            let delta = try leb()
            let (id, overflow) = previous.addingReportingOverflow(delta)
            guard !overflow, first || delta > 0 else { throw .badCustomer(at: at) }
            first = false
            previous = id
            return (id, try count(at: offset, of: 4))
        }

        /// The next customer with its rows' bytes (walked and checked), or nil at the end.
        public mutating func next() throws(Failure) -> (id: UInt64, rows: Int, bytes: Range<Int>)? {
            guard let (id, n) = try customer() else { return nil }
            let start = offset
            for _ in 0..<n { _ = try row() }
            return (id, n, start..<offset)
        }

        /// One row: offer and channel indices (checked against the tables) and the two codes.
        @inline(__always)
        public mutating func row() throws(Failure) -> (offer: Int, channel: Int, propensity: UInt64, value: UInt64) {
            let at = offset
            let o = try leb(), c = try leb()
            guard o < UInt64(offers.count) else { throw .badIndex(what: "offer", index: o, count: offers.count, at: at) }
            guard c < UInt64(channels.count) else { throw .badIndex(what: "channel", index: c, count: channels.count, at: at) }
            return (Int(o), Int(c), try leb(), try leb())
        }

        /// The next customer with its rows' bytes, or nil at the end, like `next()` but with the rows skipped,
        /// not read: their bytes are delimited (every row is four LEB128 values) and not checked further. For
        /// readers that compare customers' bytes and read only some rows (`seek`, then `row()`, which checks).
        @inline(__always)
        public mutating func skipCustomer() throws(Failure) -> (id: UInt64, rows: Int, bytes: Range<Int>)? {
            guard let (id, n) = try customer() else { return nil }
            let start = offset
            try skipRows(n)
            return (id, n, start..<offset)
        }

        /// Skips `n` rows: past the `4 n` bytes that end a LEB128 value (high bit clear), counted eight bytes
        /// at a time. About as fast as reading the rows (`bench/tools/lists.swift`); for readers that need only
        /// some of them (the first row of each customer, or a count of rows).
        @inline(__always)
        public mutating func skipRows(_ n: Int) throws(Failure) {
            var left = 4 &* n, at = offset
            let count = bytes.count, base = bytes.baseAddress
            // Eight bytes at a time: the ends in a word are its clear high bits.
            while left > 0 && at &+ 8 <= count {
                let word = UInt64(littleEndian: UnsafeRawPointer(base! + at).loadUnaligned(as: UInt64.self))
                var ends = ~word & 0x8080_8080_8080_8080
                let c = ends.nonzeroBitCount
                if c < left { left &-= c; at &+= 8; continue }
                // The `left`-th end is in this word: drop the ends before it, then past its byte.
                for _ in 1..<left { ends &= ends &- 1 }
                at &+= ends.trailingZeroBitCount &>> 3 &+ 1
                left = 0
            }
            // The last bytes of the buffer, one at a time.
            while left > 0 {
                guard at < count else { throw .truncated(at: count) }
                left &-= Int(base![at] >> 7 ^ 1)
                at &+= 1
            }
            offset = at
        }

        /// The next row's offer and channel indices (checked against the tables), its two codes skipped.
        @inline(__always)
        public mutating func rowPlace() throws(Failure) -> (offer: Int, channel: Int) {
            let at = offset
            let o = try leb(), c = try leb()
            guard o < UInt64(offers.count) else { throw .badIndex(what: "offer", index: o, count: offers.count, at: at) }
            guard c < UInt64(channels.count) else { throw .badIndex(what: "channel", index: c, count: channels.count, at: at) }
            try skipValues(2)
            return (Int(o), Int(c))
        }

        /// Skips `n` LEB128 values.
        @inline(__always)
        mutating func skipValues(_ n: Int) throws(Failure) {
            var left = n, at = offset
            let count = bytes.count, base = bytes.baseAddress
            while left > 0 {
                guard at < count else { throw .truncated(at: count) }
                left &-= Int(base![at] >> 7 ^ 1)
                at &+= 1
            }
            offset = at
        }

        /// Moves to byte `to` (the start of a customer's rows, as `next()` returned it), to read its rows again.
        public mutating func seek(_ to: Int) { offset = min(max(to, body), bytes.count) }

        /// An offer id's or channel name's bytes.
        public func name(_ r: Range<Int>) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: bytes[r]) }
    }

    /// The rows and distinct customers in `lists`, checked throughout.
    public static func count(_ lists: [UInt8]) throws(Failure) -> (rows: Int, customers: Int) {
        try lists.withUnsafeBufferPointer { b throws(Failure) in
            var r = try Reader(b)
            var rows = 0, customers = 0
            while let c = try r.next() { rows += c.rows; customers += 1 }
            return (rows, customers)
        }
    }

    // MARK: Rendering

    /// The `nba.csv` rows (no header) of `lists`: the one renderer of kept lists, used by the workers for
    /// the rows they send and by every reader of the journal.
    public static func render(_ lists: [UInt8]) throws(Failure) -> [UInt8] {
        try lists.withUnsafeBufferPointer { b throws(Failure) in try render(b) }
    }

    /// `render` over a buffer.
    public static func render(_ b: UnsafeBufferPointer<UInt8>) throws(Failure) -> [UInt8] {
        var reader = try Reader(b)
        let longest = (reader.offers.map(\.count).max() ?? 0) + (reader.channels.map(\.count).max() ?? 0)
        // Each row renders to at most `rowBound` bytes; `Names.slack` more for the last row's wide copies. The
        // rows are counted first (their bytes skipped, a tenth of the rendering): a bound from the bytes alone
        // (a row takes 4 at least) was 7 times the text, above the allocator's mapping threshold, so every
        // shard's text was written to freshly mapped pages (a fifth of the rendering's time went to faults).
        var counter = reader
        var rows = 0
        while let c = try counter.skipCustomer() { rows += c.rows }
        let rowBound = 20 + 20 + longest + 2 * FixedDecimal.maxBytes + 6
        let capacity = max(1, rows * rowBound) + Names.slack
        let names = Names(reader)
        var failure: Failure? = nil
        let out = [UInt8](unsafeUninitializedCapacity: capacity) { out, written in
            let start = out.baseAddress!
            var p = start
            names.bytes.withUnsafeBufferPointer { table in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Names.slack) { idText in
                    let idText = idText.baseAddress!
                    do throws(Failure) {
                        while let c = try reader.customer() {
                            // The customer's "id," once, copied to each of its rows.
                            let idLength = FixedDecimal.writeDecimal(c.id, to: idText) + 1
                            idText[idLength - 1] = UInt8(ascii: ",")
                            for r in 0..<c.rows {
                                Names.copy(idText, idLength, to: p); p += idLength
                                p = try renderRow(&reader, rank: r + 1, names: names, table: table.baseAddress!, to: p)
                            }
                        }
                    } catch { failure = error }
                }
            }
            written = p - start
        }
        if let failure { throw failure }
        return out
    }

    /// The offer ids and channel names of lists, each in a slot of `slack` bytes so that a row copies one
    /// with four 8-byte moves (names longer than a slot are copied byte by byte from the lists).
    struct Names {
        static let slack = 32
        /// Offers' slots, then channels'.
        var bytes: [UInt8]
        /// The number of offers (the channels' slots follow theirs).
        var offers: Int

        init(_ reader: Reader) {
            offers = reader.offers.count
            let all = reader.offers + reader.channels
            bytes = [UInt8](repeating: 0, count: max(1, all.count) * Self.slack)
            for (k, r) in all.enumerated() where r.count <= Self.slack {
                for j in 0..<r.count { bytes[k * Self.slack + j] = reader.bytes[r.lowerBound + j] }
            }
        }

        /// Copies `n` (at most `slack`) bytes from `from`, which has `slack` readable bytes, to `p`, which has
        /// room for `slack`: whole words, the bytes past `n` to be overwritten by what follows.
        @inline(__always)
        static func copy(_ from: UnsafePointer<UInt8>, _ n: Int, to p: UnsafeMutablePointer<UInt8>) {
            let s = UnsafeRawPointer(from), d = UnsafeMutableRawPointer(p)
            d.storeBytes(of: s.loadUnaligned(as: UInt64.self), as: UInt64.self)
            if n > 8 { d.storeBytes(of: s.loadUnaligned(fromByteOffset: 8, as: UInt64.self), toByteOffset: 8, as: UInt64.self) }
            if n > 16 {
                d.storeBytes(of: s.loadUnaligned(fromByteOffset: 16, as: UInt64.self), toByteOffset: 16, as: UInt64.self)
                d.storeBytes(of: s.loadUnaligned(fromByteOffset: 24, as: UInt64.self), toByteOffset: 24, as: UInt64.self)
            }
        }
    }

    /// Renders the rest of the next row of `reader` (after its "id,") as `nba.csv` text at `p`; returns the
    /// end of the line.
    @inline(__always)
    static func renderRow(_ reader: inout Reader, rank: Int, names: Names, table: UnsafePointer<UInt8>,
                          to p: UnsafeMutablePointer<UInt8>) throws(Failure) -> UnsafeMutablePointer<UInt8> {
        var p = p
        let row = try reader.row()
        @inline(__always) func put(_ byte: UInt8) { p.pointee = byte; p += 1 }
        @inline(__always) func name(_ k: Int, _ range: Range<Int>) {
            let n = range.count
            if n <= Names.slack {
                Names.copy(table + k * Names.slack, n, to: p)
            } else {
                for j in 0..<n { p[j] = reader.bytes[range.lowerBound + j] }
            }
            p += n
        }
        p += FixedDecimal.writeDecimal(UInt64(rank), to: p); put(UInt8(ascii: ","))
        name(row.offer, reader.offers[row.offer]); put(UInt8(ascii: ","))
        name(names.offers + row.channel, reader.channels[row.channel]); put(UInt8(ascii: ","))
        p += FixedDecimal.write(code: row.propensity, decimals: NBAFormat.propensityDecimals, to: p); put(UInt8(ascii: ","))
        p += FixedDecimal.write(code: row.value, decimals: NBAFormat.valueDecimals, to: p); put(UInt8(ascii: "\n"))
        return p
    }
}
