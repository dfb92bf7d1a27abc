import Foundation
import Testing
@testable import NextBestCore

/// Kept lists (`NBALists`, issue 23): the binary lists render to exactly the rows `NBAFormat.appendRow`
/// writes, and damaged bytes are refused without trapping.
@Suite struct NBAListsTests {
    /// One customer's row as the test writes it.
    struct Row { var offer: Int; var channel: Int; var propensity: Float; var value: Double }

    /// Encodes lists with the writer's primitives and the rows the plain formatter writes for them.
    static func encode(offers: [String], channels: [String], customers: [(UInt64, [Row])]) -> (lists: [UInt8], csv: [UInt8]) {
        var lists = NBALists.header(offers: offers.map { Array($0.utf8) }, channels: channels.map { Array($0.utf8) })
        var csv: [UInt8] = []
        var previous: UInt64 = 0
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: NBALists.maxCustomerBytes + 400 * NBALists.maxRowBytes) { buffer in
            for (id, rows) in customers {
                var p = buffer.baseAddress!
                NBALists.put(id - previous, &p); previous = id
                NBALists.put(UInt64(rows.count), &p)
                for (r, row) in rows.enumerated() {
                    NBALists.put(UInt64(row.offer), &p); NBALists.put(UInt64(row.channel), &p)
                    NBALists.put(FixedDecimal.code(Double(row.propensity), decimals: NBAFormat.propensityDecimals), &p)
                    NBALists.put(FixedDecimal.code(row.value, decimals: NBAFormat.valueDecimals), &p)
                    NBAFormat.appendRow(customerID: id, rank: r + 1, offerID: Array(offers[row.offer].utf8), channel: Array(channels[row.channel].utf8),
                                        propensity: row.propensity, expectedValue: row.value, to: &csv)
                }
                lists += UnsafeBufferPointer(start: buffer.baseAddress!, count: p - buffer.baseAddress!)
            }
        }
        return (lists, csv)
    }

    /// Offers and channels with names of every length the renderer copies differently (up to 8, 16 and 32
    /// bytes, and longer), and 502 customers with ids close together and far apart, 1 to 300 rows each and
    /// values of one to ten LEB128 bytes.
    static func sample() -> (offers: [String], channels: [String], customers: [(UInt64, [Row])]) {
        let offers = (0..<300).map { k in "OFFER_\(k)" + String(repeating: "x", count: [0, 3, 12, 26, 27, 40][k % 6]) }
        let channels = ["email", "sms", "branch-with-a-name-of-33-bytes-xx", "app"]
        var rng = SystemRandomNumberGenerator()
        var customers: [(UInt64, [Row])] = [(0, [Row(offer: 299, channel: 3, propensity: 1, value: 0)])]
        var id: UInt64 = 0
        for k in 0..<500 {
            // Ids close together and far apart (up to the top of the id range).
            id += k % 50 == 0 ? UInt64.random(in: 1...(1 << 40), using: &rng) : UInt64.random(in: 1...3, using: &rng)
            let n = k % 97 == 0 ? 300 : Int.random(in: 1...5, using: &rng)
            customers.append((id, (0..<n).map { r in
                Row(offer: (k * 7 + r * 13) % 300, channel: r % 4, propensity: Float.random(in: 0...1, using: &rng),
                    value: [0, -0.0, -0.00004, -0.00005, -12.34565, 1e-9, 99_999.99995, Double.random(in: -500...5_000, using: &rng)][(k + r) % 8])
            }))
        }
        customers.append((UInt64.max, [Row(offer: 1, channel: 0, propensity: 0.0000005, value: -1e12)]))
        return (offers, channels, customers)
    }

    @Test func listsRenderToThePlainFormattersRows() throws {
        let (offers, channels, customers) = Self.sample()
        let (lists, csv) = Self.encode(offers: offers, channels: channels, customers: customers)
        #expect(try NBALists.render(lists) == csv)
        let counted = try NBALists.count(lists)
        #expect(counted.customers == customers.count && counted.rows == customers.map(\.1.count).reduce(0, +))
        #expect(lists.count * 3 < csv.count, "binary lists should be well under the CSV text: \(lists.count) vs \(csv.count) bytes")
        // No customers: no rows.
        #expect(try NBALists.render(NBALists.header(offers: [], channels: [])) == [])
    }

    /// The readers that skip rows (`skipCustomer`, `skipRows`, `rowPlace`) find the bytes and places that
    /// reading every value finds, and refuse every truncated prefix that reading refuses.
    @Test func skippingRowsDelimitsWhatReadingFinds() throws {
        let (offers, channels, customers) = Self.sample()
        let lists = Self.encode(offers: offers, channels: channels, customers: customers).lists
        try lists.withUnsafeBufferPointer { b in
            var read = try NBALists.Reader(b), skipped = try NBALists.Reader(b), placed = try NBALists.Reader(b)
            var n = 0
            while let c = try read.next() {
                let s = try #require(try skipped.skipCustomer())
                #expect(s.id == c.id && s.rows == c.rows && s.bytes == c.bytes, "customer \(n)")
                // Each row's places, its codes skipped, then the next customer's first row read after skipping the rest.
                let p = try #require(try placed.customer())
                var again = read
                again.seek(c.bytes.lowerBound)
                for r in 0..<p.rows {
                    let full = try again.row(), place = try placed.rowPlace()
                    #expect(place.offer == full.offer && place.channel == full.channel, "customer \(n) row \(r)")
                    if r == 0 { try placed.skipRows(p.rows - 1); break }
                }
                #expect(placed.offset == c.bytes.upperBound)
                n += 1
            }
            #expect(n == customers.count)
            #expect(try skipped.skipCustomer() == nil)
        }
        // A prefix that ends inside a customer's rows is refused by both, at every length (the first 30
        // customers, one of them with 300 rows).
        let first = Self.encode(offers: offers, channels: channels, customers: Array(customers.prefix(30))).lists
        for cut in 0..<first.count {
            let prefix = Array(first.prefix(cut))
            func walk(skipping: Bool) -> Int? {
                prefix.withUnsafeBufferPointer { b in
                    guard var r = try? NBALists.Reader(b) else { return nil }
                    var n = 0
                    while true {
                        guard let c = try? (skipping ? r.skipCustomer() : r.next()) else { return nil }
                        guard c != nil else { return n }
                        n += 1
                    }
                }
            }
            #expect(walk(skipping: true) == walk(skipping: false), "prefix of \(cut) bytes")
        }
    }

    /// The printing of a code as the first release wrote it: one digit at a time from the right, the point
    /// after `decimals` of them, at least one digit before it (a reference independent of the writer's).
    static func reference(code: UInt64, decimals: Int) -> String {
        if code >= FixedDecimal.nonFiniteCode { return code == FixedDecimal.nonFiniteCode + 1 ? "inf" : (code == FixedDecimal.nonFiniteCode + 2 ? "-inf" : "nan") }
        let negative = code & 1 == 1
        var n = negative ? (code >> 1) + 1 : code >> 1
        var out: [Character] = []
        var k = 0
        repeat {
            if k == decimals && decimals > 0 { out.append(".") }
            out.append(Character(String(n % 10)))
            n /= 10
            k += 1
        } while n > 0 || k <= decimals
        if negative { out.append("-") }
        return String(out.reversed())
    }

    @Test func codesPrintAsTheReferencePrintsThem() {
        var rng = SystemRandomNumberGenerator()
        var codes: [UInt64] = [0, 1, 2, 3, 19, 20, 21, 199, 200, 1_999_999, 2_000_000, 2 * 900_000_000_000_000_000, 2 * 900_000_000_000_000_000 - 1,
                               FixedDecimal.nonFiniteCode, FixedDecimal.nonFiniteCode + 1, FixedDecimal.nonFiniteCode + 2]
        for e in 0..<60 { codes.append(UInt64(1) << e); codes.append((UInt64(1) << e) - 1) }
        for _ in 0..<50_000 { codes.append(UInt64.random(in: 0...(2 * 900_000_000_000_000_000), using: &rng) >> UInt64.random(in: 0...58, using: &rng)) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: FixedDecimal.maxBytes) { b in
            for c in codes {
                for d in 0...10 {
                    let n = FixedDecimal.write(code: c, decimals: d, to: b.baseAddress!)
                    let got = String(decoding: UnsafeBufferPointer(start: b.baseAddress!, count: n), as: UTF8.self)
                    let want = Self.reference(code: c, decimals: d)
                    if got != want { Issue.record("code \(c), \(d) decimals: \(got), expected \(want)"); return }
                }
                let m = FixedDecimal.writeDecimal(c, to: b.baseAddress!)
                #expect(String(decoding: UnsafeBufferPointer(start: b.baseAddress!, count: m), as: UTF8.self) == String(c))
            }
        }
    }

    @Test func codesPrintWhatFixedDecimalPrints() {
        var rng = SystemRandomNumberGenerator()
        var values: [Double] = [0, -0.0, .nan, .infinity, -.infinity, 9.0e30, -9.0e30, 0.5, -0.5, 0.00005, -0.00005, 0.0000005, 1.23456789, -2.5]
        for _ in 0..<20_000 { values.append(Double.random(in: -1e4...1e4, using: &rng) * (Bool.random(using: &rng) ? 1 : 1e-6)) }
        for _ in 0..<2_000 { values.append(Double(Float.random(in: 0...1, using: &rng))) }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 2 * FixedDecimal.maxBytes) { b in
            let p = b.baseAddress!, q = p + FixedDecimal.maxBytes
            for v in values {
                for d in [4, 6] {
                    let n = FixedDecimal.write(v, decimals: d, to: p)
                    let m = FixedDecimal.write(code: FixedDecimal.code(v, decimals: d), decimals: d, to: q)
                    #expect(n == m && memcmp(p, q, n) == 0, "\(v) with \(d) decimals")
                }
            }
        }
    }

    @Test func damagedListsAreRefusedWithoutTrapping() {
        let (lists, csv) = Self.encode(offers: ["A", "B"], channels: ["email"],
                                     customers: [(5, [Row(offer: 1, channel: 0, propensity: 0.25, value: -3)]), (9, [Row(offer: 0, channel: 0, propensity: 0.5, value: 2)])])
        // A prefix ending between customers is lists of fewer customers (the tables alone, or the first
        // customer); every other prefix is refused.
        var whole = 0
        for n in 0..<lists.count {
            guard let rows = try? NBALists.render(Array(lists.prefix(n))) else { continue }
            whole += 1
            #expect(csv.starts(with: rows) && (rows.isEmpty || rows.last == UInt8(ascii: "\n")), "prefix of \(n) bytes")
        }
        #expect(whole == 2)
        var badOffer = lists
        badOffer[badOffer.count - 8] = 7 // the second customer's offer index (then its channel and two 3-byte codes)
        #expect(throws: NBALists.Failure.self) { _ = try NBALists.render(badOffer) }
        var badVersion = lists
        badVersion[0] = 9
        #expect(throws: NBALists.Failure.version(9)) { _ = try NBALists.render(badVersion) }
        // Every single-byte change renders or is refused; none traps.
        for i in lists.indices { for b: UInt8 in [0, 0x7f, 0x80, 0xff] { var x = lists; x[i] = b; _ = try? NBALists.render(x) } }
    }
}
