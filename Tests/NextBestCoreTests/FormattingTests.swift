import Testing
@testable import NextBestCore

@Suite struct FormattingTests {
    @Test func fixedDecimals() {
        #expect(FixedDecimal.string(1.23456, decimals: 4) == "1.2346")
        #expect(FixedDecimal.string(0.05, decimals: 2) == "0.05")
        #expect(FixedDecimal.string(0, decimals: 3) == "0.000")
        #expect(FixedDecimal.string(-2.5, decimals: 0) == "-3")
        #expect(FixedDecimal.string(-0.00001, decimals: 2) == "0.00")
        #expect(FixedDecimal.string(1234567.891, decimals: 2) == "1234567.89")
        #expect(FixedDecimal.string(0.000123, decimals: 6) == "0.000123")
        #expect(FixedDecimal.string(7, decimals: 0) == "7")
        #expect(FixedDecimal.string(.nan, decimals: 2) == "nan")
    }

    @Test func decimalIntegers() {
        var b: [UInt8] = []
        b.appendDecimal(0); b.append(44); b.appendDecimal(18_446_744_073_709_551_615)
        #expect(String(decoding: b, as: UTF8.self) == "0,18446744073709551615")
    }

    @Test func calendarDays() throws {
        let d = try #require(CalendarDay("2026-11-23"))
        #expect(d.description == "2026-11-23")
        #expect(CalendarDay("1970-01-01")?.daysSinceEpoch == 0)
        #expect(CalendarDay("2024-02-29") != nil)
        #expect(CalendarDay("2023-02-29") == nil)
        #expect(CalendarDay("2026-13-01") == nil)
        #expect(CalendarDay("2026-1-01") == nil)
        #expect(CalendarDay("20261123") == nil)
        #expect(CalendarDay("2026-11-23")!.daysSinceEpoch - CalendarDay("2026-08-25")!.daysSinceEpoch == 90)
        for s in ["2000-03-01", "1999-12-31", "2100-02-28", "2038-01-19"] { #expect(CalendarDay(s)?.description == s) }
    }

    @Test func jsonText() {
        let j = JSONText.object([("a", .int(-3)), ("b", .fixed(1.5, decimals: 2)), ("c", .string("x\"y")), ("d", .array([]))])
        #expect(j.render() == "{\n  \"a\": -3,\n  \"b\": 1.50,\n  \"c\": \"x\\\"y\",\n  \"d\": []\n}\n")
    }

    @Test func nbaRow() {
        var out: [UInt8] = []
        NBAFormat.appendRow(customerID: 42, rank: 1, offerID: Array("O1".utf8), channel: Array("email".utf8),
                            propensity: 0.1234567, expectedValue: -0.04, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "42,1,O1,email,0.123457,-0.0400\n")
    }

    /// `FixedDecimal.nearest` is `Int64(v.rounded(.toNearestOrAwayFromZero))`: at halves and their neighbours,
    /// negative values, magnitudes near 2^52 and 2^53, and a million values of every scale.
    @Test func nearestIsRoundingHalfAwayFromZero() {
        var values: [Double] = [0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994,
                                4503599627370495.5, -4503599627370495.5, 4503599627370496, 9007199254740993, -9007199254740991,
                                1e18, -1e18, 123456.5, 0.1 * 1_000_000, 0.3 * 1_000_000]
        for k in 0..<200 { let h = Double(k) + 0.5; values += [h, -h, h.nextUp, h.nextDown, -h.nextUp, -h.nextDown] }
        var g = SystemRandomNumberGenerator()
        for _ in 0..<1_000_000 {
            var v = Double.random(in: -1...1, using: &g)
            for _ in 0..<Int.random(in: 0...18, using: &g) { v *= 10 }
            values.append(v)
        }
        let firstWrong = Array(values.lazy.filter { FixedDecimal.nearest($0) != Int64($0.rounded(.toNearestOrAwayFromZero)) }.prefix(5))
        #expect(firstWrong.isEmpty)
        let money = values.filter { abs($0) < 9e12 }
        #expect(money.allSatisfy { RunTotals.micros($0) == Int64(($0 * 1_000_000).rounded(.toNearestOrAwayFromZero)) })
    }
}
