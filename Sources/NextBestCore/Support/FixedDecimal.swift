/// Formats numbers with a fixed number of decimals, fast and identically on every platform.
///
/// Output files (`nba.csv`) must be byte-identical across runs and machines; `String(format:)` is
/// locale- and libc-dependent and slow, so nextbest writes its own digits: the value is rounded half away
/// from zero to `decimals` places and printed without exponent.
public enum FixedDecimal {
    private static let powers: [Double] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000]

    /// Appends `value` with `decimals` (0...10) digits after the point to `out` as ASCII bytes.
    public static func append(_ value: Double, decimals: Int, to out: inout [UInt8]) {
        guard value.isFinite else {
            out.append(contentsOf: value.isNaN ? Array("nan".utf8) : (value < 0 ? Array("-inf".utf8) : Array("inf".utf8)))
            return
        }
        let scale = powers[decimals]
        var scaled = (abs(value) * scale).rounded(.toNearestOrAwayFromZero)
        if scaled > 9.0e17 { scaled = 9.0e17 }
        var n = UInt64(scaled)
        if value < 0 && n != 0 { out.append(UInt8(ascii: "-")) }
        var digits = 1
        var t = n
        while t >= 10 { t /= 10; digits += 1 }
        if digits <= decimals { digits = decimals + 1 }
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits + (decimals > 0 ? 1 : 0)))
        var i = out.count - 1
        for k in 0..<digits {
            if k == decimals && decimals > 0 { out[i] = UInt8(ascii: "."); i -= 1 }
            out[i] = UInt8(ascii: "0") + UInt8(n % 10)
            n /= 10
            i -= 1
        }
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
        var digits = 1
        var t = value
        while t >= 10 { t /= 10; digits += 1 }
        let start = count
        append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        var v = value
        var i = start + digits - 1
        while i >= start { self[i] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10; i -= 1 }
    }

    /// Appends a string's UTF-8 bytes.
    @inlinable public mutating func appendString(_ s: String) { append(contentsOf: s.utf8) }
}
