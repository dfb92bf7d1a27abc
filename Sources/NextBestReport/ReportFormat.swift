import Foundation

// MARK: - Formatting

extension ReportPage {
    /// Locale-independent number formatting: thousands separators, fixed decimals, compact axis labels.
    enum Fmt {
        /// `x` with `decimals` decimals and thousands separators ("10,497,263.80").
        static func fixed(_ x: Double, _ decimals: Int) -> String {
            guard x.isFinite else { return x.isNaN ? "n/a" : (x > 0 ? "∞" : "−∞") }
            var s = String(format: "%.\(decimals)f", x)
            if s.hasPrefix("-"), s.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) { s.removeFirst() }
            return group(s)
        }

        /// Inserts thousands separators into a plain decimal string.
        static func group(_ s: String) -> String {
            var sign = "", body = Substring(s)
            if body.hasPrefix("-") { sign = "−"; body = body.dropFirst() }
            let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            let intPart = Array(parts[0])
            var grouped = ""
            for (k, ch) in intPart.enumerated() {
                if k > 0, (intPart.count - k) % 3 == 0 { grouped.append(",") }
                grouped.append(ch)
            }
            return sign + grouped + (parts.count > 1 ? "." + parts[1] : "")
        }

        /// A count, without decimals ("274,841").
        static func count(_ x: Double) -> String { fixed(x, 0) }

        /// A number: whole numbers grouped without decimals, others with `decimals` decimals.
        static func number(_ d: Double, decimals: Int = 2) -> String {
            d == d.rounded() ? fixed(d, 0) : fixed(d, decimals)
        }

        /// A JSON value as text: numbers as `number`, strings as they are, null as "—", the rest as compact JSON.
        static func value(_ j: JSONValue, decimals: Int = 2) -> String {
            switch j {
            case .number(let d): return number(d, decimals: decimals)
            case .string(let s): return s
            case .null: return "—"
            default: return j.compactText
            }
        }

        /// A share as a percentage ("97.0 %").
        static func percent(_ x: Double, _ decimals: Int = 1) -> String { fixed(x * 100, decimals) + " %" }

        /// Seconds, with a unit ("1.113 s").
        static func seconds(_ x: Double) -> String { fixed(x, 3) + " s" }

        /// A short axis label for `x` on an axis whose ticks are `step` apart ("10.5M", "250k", "0.02").
        static func compact(_ x: Double, step: Double, scale: Double) -> String {
            let (unit, suffix): (Double, String) = scale >= 1e9 ? (1e9, "B") : scale >= 1e6 ? (1e6, "M") : scale >= 1e4 ? (1e3, "k") : (1, "")
            let rel = step / unit
            let decimals = rel >= 1 ? 0 : min(6, Int((-log10(rel)).rounded(.up) + 0.0001))
            if abs(x) < step * 1e-9 { return "0" }
            return fixed(x / unit, decimals) + suffix
        }

        /// A count for a small space ("12.3k", "874").
        static func short(_ x: Double) -> String {
            if x >= 1e6 { return fixed(x / 1e6, x >= 1e7 ? 0 : 1) + "M" }
            if x >= 1e4 { return fixed(x / 1e3, 0) + "k" }
            if x >= 1e3 { return fixed(x / 1e3, 1) + "k" }
            return fixed(x, 0)
        }

        /// An SVG coordinate: one decimal, no trailing ".0".
        static func c(_ x: Double) -> String {
            var s = String(format: "%.1f", x.isFinite ? x : 0)
            if s.hasSuffix(".0") { s.removeLast(2) }
            if s == "-0" { s = "0" }
            return s
        }

        /// A human label from a JSON key ("wait_for_workers" → "Wait for workers").
        static func label(_ key: String) -> String {
            let words = key.replacingOccurrences(of: "_", with: " ")
            return words.prefix(1).uppercased() + words.dropFirst()
        }
    }

    /// Escapes text for HTML element content and attribute values (control characters but newline and tab
    /// become U+FFFD). Other server-rendered pages (`nextbest serve`'s branch page) use it too.
    public static func esc(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if ch.value < 0x20, ch != "\n", ch != "\t" { out += "&#xFFFD;" } else { out.unicodeScalars.append(ch) }
            }
        }
        return out
    }
}
