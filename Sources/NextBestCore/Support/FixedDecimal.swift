/// Formats numbers with a fixed number of decimals, fast and identically on every platform.
///
/// Output files (`nba.csv`) must be byte-identical across runs and machines; `String(format:)` is
/// locale- and libc-dependent and slow, so nextbest writes its own digits: the value is rounded half away
/// from zero to `decimals` places and printed without exponent.
public enum FixedDecimal {

    /// Appends `value` with `decimals` (0...10) digits after the point to `out` as ASCII bytes.
    public static func append(_ value: Double, decimals: Int, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maxBytes) { buffer in
            let n = write(value, decimals: decimals, to: buffer.baseAddress!)
            out.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress!, count: n))
        }
    }

    /// The most bytes `write` writes.
    public static let maxBytes = 32

    /// Writes `value` with `decimals` (0...10) digits after the point at `p` (room for `maxBytes`) and
    /// returns the number of bytes written: what `append` appends, for writers that fill a buffer directly.
    public static func write(_ value: Double, decimals: Int, to p: UnsafeMutablePointer<UInt8>) -> Int {
        // One digit writer: the value's code (rounded and clamped here) printed as kept lists print it.
        write(code: code(value, decimals: decimals), decimals: decimals, to: p)
    }

    /// Writes the decimal digits of an unsigned integer at `p` (room for 20) and returns their count.
    @inlinable
    public static func writeDecimal(_ value: UInt64, to p: UnsafeMutablePointer<UInt8>) -> Int {
        // Straight into `p` (no scratch buffer and no memmove call per field), two digits at a time.
        let n = digitCount(value)
        putDigits(value, count: n, end: p + n)
        return n
    }

    /// The number of decimal digits of `v` (1 for 0), by comparisons rather than divisions.
    @inlinable @inline(__always)
    public static func digitCount(_ v: UInt64) -> Int {
        var n = 1, bound: UInt64 = 10
        while n < 20 && v >= bound { n += 1; bound &*= 10 }
        return n
    }

    /// "00", "01", … "99": the two digits of each number below 100 (a literal, so no lazy initialisation).
    @inlinable static var digitPairs: StaticString { "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899" }

    /// Writes the last `count` decimal digits of `v` (zero-padded) so that they end just before `end`.
    @inlinable @inline(__always)
    public static func putDigits(_ v: UInt64, count: Int, end: UnsafeMutablePointer<UInt8>) {
        let table = digitPairs.utf8Start
        var v = v, e = end, c = count
        while c >= 2 {
            let r = Int(truncatingIfNeeded: v % 100)
            v /= 100
            e -= 2
            e[0] = table[2 &* r]; e[1] = table[2 &* r &+ 1]
            c -= 2
        }
        if c == 1 { e[-1] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10) }
    }

    /// 10^decimals (0...10) as an integer.
    @inlinable @inline(__always)
    static func power(_ decimals: Int) -> UInt64 {
        var x: UInt64 = 1
        for _ in 0..<decimals { x &*= 10 }
        return x
    }

    /// The first code of the non-finite values (`nan`, `inf`, `-inf` follow in that order): above every
    /// finite code (the largest is 2 × 9.0e17). A literal, not a stored global: reading a global from
    /// another module is a call (its lazy initialiser), and `code` was then not inlined where rows are written.
    @inlinable public static var nonFiniteCode: UInt64 { 1 << 62 }

    /// The text `write(value, decimals:)` prints, as an integer (kept lists, docs/store.md): the printed
    /// digits `round(|value| × 10^decimals)` (rounded and clamped exactly as `write` does) zigzag-encoded with
    /// the printed sign (`2n` for `n`, `2n − 1` for `−n`; never "−0"), or `nonFiniteCode` + 0, 1, 2 for
    /// `nan`, `inf`, `-inf`. `write(code:decimals:to:)` prints the same bytes as `write` did.
    ///
    /// Transparent (inlined before the optimizer runs, so `decimals` folds): with `@inline(__always)` alone
    /// the optimizer kept it a call from `NBAWriter.lists`, a third of that function's samples.
    @_transparent
    public static func code(_ value: Double, decimals: Int) -> UInt64 {
        guard value.isFinite else { return nonFiniteCode + (value.isNaN ? 0 : (value < 0 ? 2 : 1)) }
        // Rounded, then clamped to 9.0e17: a value from 9.0e17 on rounds to it or above.
        let scaled = abs(value) * scale(decimals)
        let n = scaled >= 9.0e17 ? 900_000_000_000_000_000 : UInt64(nearest(scaled))
        return value < 0 && n != 0 ? 2 &* n &- 1 : 2 &* n
    }

    /// `Int64(v.rounded(.toNearestOrAwayFromZero))` without the C library's `round`: on the x86-64 baseline
    /// (no SSE4.1) Swift calls it for `rounded`, and that call was 2–3 % of a rescore's samples (every
    /// customer's objective in micro-units in each pass, every printed propensity and value). `v` must lie
    /// within `Int64`, as for the conversion it replaces.
    @inlinable @inline(__always)
    public static func nearest(_ v: Double) -> Int64 {
        // Toward zero, then the fraction (exact: `v` and its integer part share their leading bits; from 2^52 on
        // `v` is an integer and the fraction is 0).
        // The step up or down as 0 or 1 (a flag, not a branch: which way a fraction goes is unpredictable).
        let i = Int64(v)
        let f = v - Double(i)
        let up: Int64 = f >= 0.5 ? 1 : 0, down: Int64 = f <= -0.5 ? 1 : 0
        return i &+ up &- down
    }

    /// 10^decimals (0...10) as a literal: a global table cost a lazy-initialisation check on every call.
    @inlinable
    public static func scale(_ decimals: Int) -> Double {
        switch decimals {
        case 0: return 1
        case 1: return 10
        case 2: return 100
        case 3: return 1_000
        case 4: return 10_000
        case 5: return 100_000
        case 6: return 1_000_000
        case 7: return 10_000_000
        case 8: return 100_000_000
        case 9: return 1_000_000_000
        default: return 10_000_000_000
        }
    }

    /// Writes the text of a `code` at `p` (room for `maxBytes`) and returns the number of bytes written:
    /// the bytes `write(value, decimals:)` writes for the value the code was made from. Codes past the
    /// non-finite ones print as `nan`. Inlined, so that a literal `decimals` makes its divisions by constants
    /// (a call with its divisions by a variable was 14 % of a 10 M rescore's merge).
    @inlinable @inline(__always)
    public static func write(code: UInt64, decimals: Int, to p: UnsafeMutablePointer<UInt8>) -> Int {
        if code >= nonFiniteCode {
            let text: StaticString = code == nonFiniteCode + 1 ? "inf" : (code == nonFiniteCode + 2 ? "-inf" : "nan")
            p.update(from: text.utf8Start, count: text.utf8CodeUnitCount)
            return text.utf8CodeUnitCount
        }
        let negative = code & 1 == 1
        let n = negative ? (code >> 1) &+ 1 : code >> 1
        // [-]integer part (at least one digit)[.fraction of exactly `decimals` digits], straight into `p`.
        let scale = power(decimals)
        let whole = n / scale, fraction = n % scale
        var q = p
        if negative { q.pointee = UInt8(ascii: "-"); q += 1 }
        let wholeDigits = digitCount(whole)
        putDigits(whole, count: wholeDigits, end: q + wholeDigits)
        q += wholeDigits
        if decimals > 0 {
            q.pointee = UInt8(ascii: "."); q += 1
            putDigits(fraction, count: decimals, end: q + decimals)
            q += decimals
        }
        return q - p
    }

    /// The same as `append`, returned as a `String`.
    public static func string(_ value: Double, decimals: Int) -> String {
        var bytes: [UInt8] = []
        append(value, decimals: decimals, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// Appends the decimal digits of an unsigned integer.
    @inlinable public mutating func appendDecimal(_ value: UInt64) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            let n = FixedDecimal.writeDecimal(value, to: buffer.baseAddress!)
            append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress!, count: n))
        }
    }

    /// Appends a string's UTF-8 bytes.
    @inlinable public mutating func appendString(_ s: String) { append(contentsOf: s.utf8) }
}
