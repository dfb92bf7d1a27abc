import Foundation

/// Renders a run's `summary.json` as `report.html`, the page the operations team reads next to `nba.csv`:
/// one self-contained HTML file with inline CSS and inline SVG charts drawn here, no scripts and nothing
/// fetched from the network (a Content-Security-Policy forbids it). It shows the run summary, the
/// convergence of the optimization, constraint use against limits, offers by product, region, segment,
/// channel and offer, the propensity distribution per offer, and stage timings. Any field may be missing:
/// what exists is rendered. The same summary always gives the same bytes.
///
/// Depends on Foundation only, so it can be compiled on its own.
public enum ReportPage {
    /// Why a summary could not be rendered.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The text is not valid JSON; the message says what and where.
        case invalidJSON(String)
        /// The text is valid JSON but its top level is not an object (the message names what it is).
        case notAnObject(String)

        /// A one-line explanation for logs and error output.
        public var description: String {
            switch self {
            case .invalidJSON(let m): return "summary is not valid JSON: \(m)"
            case .notAnObject(let k): return "summary JSON must be an object, found \(k)"
            }
        }
    }

    /// Turns the text of a run's `summary.json` into the complete HTML of `report.html`, with `title` as the
    /// page title and heading. Throws `Failure` if the text is not JSON or not a JSON object.
    public static func render(summaryJSON: String, title: String) throws -> String {
        var parser = JSONParser(Array(summaryJSON.utf8))
        let value = try parser.parseDocument()
        guard case .object(let fields) = value else { throw Failure.notAnObject(value.kindName) }
        var page = Page(summary: JSON.object(fields), title: title)
        return page.html()
    }
}

// MARK: - JSON (order-preserving, so categories keep the order the run wrote them in)

extension ReportPage {
    /// A parsed JSON value; objects keep their keys in document order.
    indirect enum JSON {
        case null
        case bool(Bool)
        case number(Double, raw: String)
        case string(String)
        case array([JSON])
        case object([(String, JSON)])

        /// The member `key` of an object (the first one if repeated), nil otherwise.
        subscript(key: String) -> JSON? {
            if case .object(let f) = self { return f.first { $0.0 == key }?.1 }
            return nil
        }

        var double: Double? { if case .number(let d, _) = self { return d }; return nil }
        var string: String? { if case .string(let s) = self { return s }; return nil }
        var array: [JSON]? { if case .array(let a) = self { return a }; return nil }
        var object: [(String, JSON)]? { if case .object(let o) = self { return o }; return nil }
        var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
        var isNull: Bool { if case .null = self { return true }; return false }
        /// True for numbers written without a fraction or exponent.
        var isIntegerLiteral: Bool {
            if case .number(_, let raw) = self { return !raw.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) }
            return false
        }

        var kindName: String {
            switch self {
            case .null: return "null"
            case .bool: return "a boolean"
            case .number: return "a number"
            case .string: return "a string"
            case .array: return "an array"
            case .object: return "an object"
            }
        }

        /// Compact JSON text, for showing unrecognised values as they are.
        var compactText: String {
            switch self {
            case .null: return "null"
            case .bool(let b): return b ? "true" : "false"
            case .number(_, let raw): return raw
            case .string(let s): return "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
            case .array(let a): return "[" + a.map(\.compactText).joined(separator: ", ") + "]"
            case .object(let o): return "{" + o.map { "\"\($0.0)\": \($0.1.compactText)" }.joined(separator: ", ") + "}"
            }
        }
    }

    /// A small recursive-descent JSON parser over UTF-8 bytes.
    struct JSONParser {
        let b: [UInt8]
        var i = 0
        var depth = 0

        init(_ bytes: [UInt8]) { b = bytes }

        mutating func parseDocument() throws -> JSON {
            if b.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
            skipSpace()
            let v = try value()
            skipSpace()
            if i != b.count { throw fail("unexpected text after the value") }
            return v
        }

        func fail(_ what: String) -> Failure {
            var line = 1, col = 1
            for k in 0..<min(i, b.count) { if b[k] == 0x0A { line += 1; col = 1 } else { col += 1 } }
            return .invalidJSON("\(what) at line \(line), column \(col)")
        }

        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        mutating func value() throws -> JSON {
            guard i < b.count else { throw fail("unexpected end of text") }
            switch b[i] {
            case UInt8(ascii: "{"): return try object()
            case UInt8(ascii: "["): return try array()
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw fail("unexpected character")
            }
        }

        mutating func literal(_ word: String, _ v: JSON) throws -> JSON {
            let w = Array(word.utf8)
            guard i + w.count <= b.count, Array(b[i..<i + w.count]) == w else { throw fail("invalid literal") }
            i += w.count
            return v
        }

        mutating func enter() throws {
            depth += 1
            if depth > 256 { throw fail("nesting too deep") }
        }

        mutating func object() throws -> JSON {
            try enter(); defer { depth -= 1 }
            i += 1
            var fields: [(String, JSON)] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(fields) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let k = try string()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipSpace()
                fields.append((k, try value()))
                skipSpace()
                guard i < b.count else { throw fail("unterminated object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(fields) }
                throw fail("expected ',' or '}'")
            }
        }

        mutating func array() throws -> JSON {
            try enter(); defer { depth -= 1 }
            i += 1
            var items: [JSON] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value())
                skipSpace()
                guard i < b.count else { throw fail("unterminated array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count else { throw fail("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw fail("bad \\u escape")
                }
                v = v * 16 + d
                i += 1
            }
            return v
        }

        mutating func string() throws -> String {
            i += 1
            var out: [UInt8] = []
            while true {
                guard i < b.count else { throw fail("unterminated string") }
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c < 0x20 { throw fail("control character in string") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { throw fail("unterminated escape") }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var u = try hex4()
                    if (0xD800...0xDBFF).contains(u), i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let lo = try hex4()
                        if (0xDC00...0xDFFF).contains(lo) { u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00) } else { u = 0xFFFD }
                    }
                    let scalar = Unicode.Scalar(u) ?? "\u{FFFD}"
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw fail("bad escape")
                }
            }
            return String(decoding: out, as: UTF8.self)
        }

        mutating func number() throws -> JSON {
            let start = i
            func digits(_ p: inout JSONParser) -> Int {
                let s = p.i
                while p.i < p.b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.b[p.i]) { p.i += 1 }
                return p.i - s
            }
            if b[i] == UInt8(ascii: "-") { i += 1 }
            if digits(&self) == 0 { throw fail("bad number") }
            if i < b.count, b[i] == UInt8(ascii: ".") { i += 1; if digits(&self) == 0 { throw fail("bad number") } }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                if digits(&self) == 0 { throw fail("bad number") }
            }
            let raw = String(decoding: b[start..<i], as: UTF8.self)
            guard let d = Double(raw) else { throw fail("bad number") }
            return .number(d, raw: raw)
        }
    }
}

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

        /// A JSON number as written: integers grouped, others with `decimals` decimals.
        static func number(_ j: JSON, decimals: Int = 2) -> String {
            guard let d = j.double else { return j.isNull ? "—" : j.compactText }
            return j.isIntegerLiteral ? fixed(d, 0) : fixed(d, decimals)
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

    /// Escapes text for HTML element content and attribute values.
    static func esc(_ s: String) -> String {
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

// MARK: - Charts (inline SVG)

extension ReportPage {
    /// Colours shared by the page's CSS and charts.
    enum Palette {
        static let ink = "#1f2933"
        static let muted = "#616e7c"
        static let grid = "#e4e7eb"
        static let axis = "#9aa5b1"
        static let primary = "#2b5c9e"
        static let accent = "#d9822b"
        static let good = "#2f855a"
        static let binding = "#c2410c"
        static let slack = "#9fb3c8"
        static let mark = "#1f2933"
    }

    /// Builders for the inline SVG charts. Sizes are in viewBox units; the CSS scales charts down (never up)
    /// to the width available. Text widths are estimated, since nothing is measured at render time.
    enum Chart {
        static let font = 12.0
        static let charW = 7.0 // estimated average glyph width at 12px

        static func textWidth(_ s: String, size: Double = font) -> Double { Double(s.count) * charW * size / font }

        /// Shortens `s` to at most `maxWidth` (estimated), ending in "…".
        static func fit(_ s: String, _ maxWidth: Double, size: Double = font) -> String {
            let maxChars = max(3, Int(maxWidth / (charW * size / font)))
            return s.count <= maxChars ? s : String(s.prefix(maxChars - 1)) + "…"
        }

        static func open(_ w: Double, _ h: Double, label: String, cls: String = "chart") -> String {
            "<svg class=\"\(cls)\" viewBox=\"0 0 \(Fmt.c(w)) \(Fmt.c(h))\" width=\"\(Fmt.c(w))\" height=\"\(Fmt.c(h))\" style=\"max-width:\(Fmt.c(w))px\" role=\"img\" aria-label=\"\(esc(label))\"><title>\(esc(label))</title>\n"
        }

        static func text(_ x: Double, _ y: Double, _ s: String, anchor: String = "start", size: Double = font, fill: String = Palette.ink, weight: String? = nil, extra: String = "") -> String {
            let w = weight.map { " font-weight=\"\($0)\"" } ?? ""
            return "<text x=\"\(Fmt.c(x))\" y=\"\(Fmt.c(y))\" text-anchor=\"\(anchor)\" font-size=\"\(Fmt.c(size))\" fill=\"\(fill)\"\(w)\(extra)>\(esc(s))</text>\n"
        }

        static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double = 1, dash: String? = nil) -> String {
            let d = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
            return "<line x1=\"\(Fmt.c(x1))\" y1=\"\(Fmt.c(y1))\" x2=\"\(Fmt.c(x2))\" y2=\"\(Fmt.c(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(Fmt.c(width))\"\(d)/>\n"
        }

        static func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, tip: String? = nil, extra: String = "") -> String {
            let body = "x=\"\(Fmt.c(x))\" y=\"\(Fmt.c(y))\" width=\"\(Fmt.c(max(0, w)))\" height=\"\(Fmt.c(max(0, h)))\" fill=\"\(fill)\"\(extra)"
            if let tip { return "<rect \(body)><title>\(esc(tip))</title></rect>\n" }
            return "<rect \(body)/>\n"
        }

        /// "Nice" tick values covering [lo, hi] (about `count` of them) and their step.
        static func ticks(_ lo: Double, _ hi: Double, count: Int = 5, integer: Bool = false) -> (values: [Double], step: Double) {
            var lo = lo, hi = hi
            if !(hi > lo) { hi = lo + max(1, abs(lo) * 0.1) }
            let raw = (hi - lo) / Double(max(1, count))
            let mag = pow(10, floor(log10(raw)))
            let f = raw / mag
            var step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag
            if integer { step = Swift.max(1, step.rounded(.up)) }
            lo = floor(lo / step + 1e-9) * step
            hi = ceil(hi / step - 1e-9) * step
            var v: [Double] = []
            var k = 0
            while true {
                let t = lo + Double(k) * step
                if t > hi + step * 1e-6 || k > 100 { break }
                v.append(t)
                k += 1
            }
            return (v, step)
        }

        /// One bar of a horizontal bar chart.
        struct Bar {
            var label: String
            var value: Double
            var text: String
            var color: String? = nil
        }

        /// Horizontal bars, one row per item in the order given, value labels at the bar ends and a
        /// value axis underneath with `axisTitle`.
        static func hbars(_ items: [Bar], width: Double, color: String, axisTitle: String, label: String) -> String {
            let rowH = 22.0, barH = 14.0, top = 8.0, bottom = 44.0
            let longest = items.map { textWidth($0.label) }.max() ?? 0
            let labelW = min(longest, width * 0.38) + 12
            let valueW = (items.map { textWidth($0.text) }.max() ?? 0) + 14
            let x0 = labelW, x1 = max(x0 + 40, width - valueW - 8)
            let h = top + Double(items.count) * rowH + bottom
            let maxV = max(items.map(\.value).max() ?? 0, 0)
            let integral = items.allSatisfy { $0.value == $0.value.rounded() }
            let (tv, step) = ticks(0, maxV > 0 ? maxV : 1, count: max(2, Int((x1 - x0) / 90)), integer: integral)
            let top1 = tv.last ?? 1
            func x(_ v: Double) -> Double { x0 + (x1 - x0) * max(0, v) / top1 }
            var s = open(width, h, label: label)
            let plotBottom = top + Double(items.count) * rowH
            for t in tv {
                s += line(x(t), top, x(t), plotBottom, stroke: Palette.grid)
                s += text(x(t), plotBottom + 15, Fmt.compact(t, step: step, scale: top1), anchor: "middle", size: 11, fill: Palette.muted)
            }
            s += line(x0, top, x0, plotBottom, stroke: Palette.axis)
            for (k, it) in items.enumerated() {
                let y = top + Double(k) * rowH
                let w = it.value > 0 ? max(1, x(it.value) - x0) : 0
                s += text(x0 - 8, y + rowH / 2 + 4, fit(it.label, labelW - 12), anchor: "end")
                s += rect(x0, y + (rowH - barH) / 2, w, barH, fill: it.color ?? color, tip: "\(it.label): \(it.text)", extra: " rx=\"2\"")
                s += text(x0 + w + 6, y + rowH / 2 + 4, it.text, size: 11.5, fill: Palette.muted)
            }
            s += text((x0 + x1) / 2, h - 8, axisTitle, anchor: "middle", size: 12, fill: Palette.muted)
            return s + "</svg>\n"
        }

        /// One line of a line chart.
        struct Series {
            var name: String
            var color: String
            var values: [Double]
            var dash: String? = nil
            var markers = true
            /// Drawn as one horizontal line across the plot (the first value), as for a final result.
            var level = false
        }

        /// A line chart over `xs` with a legend above the plot, labelled axes, and optionally a log-scale y axis
        /// (values at or below zero are drawn on the axis floor as hollow markers).
        static func lines(xs: [Double], series: [Series], width: Double, height: Double, xTitle: String, yTitle: String,
                          logY: Bool = false, label: String) -> String {
            let left = 74.0, right = 18.0, top = 40.0, bottom = 48.0
            let x0 = left, x1 = width - right, y0 = height - bottom, y1 = top
            let all = series.flatMap(\.values).filter(\.isFinite)
            var s = open(width, height, label: label)
            // Legend, left to right above the plot.
            var lx = x0
            for se in series {
                s += line(lx, 18, lx + 22, 18, stroke: se.color, width: 2.5, dash: se.dash)
                if se.markers { s += "<circle cx=\"\(Fmt.c(lx + 11))\" cy=\"18\" r=\"3\" fill=\"\(se.color)\"/>\n" }
                s += text(lx + 28, 22, se.name, size: 12)
                lx += 28 + textWidth(se.name) * 0.9 + 20
            }
            let xmin = xs.min() ?? 0, xmax = xs.max() ?? 1
            let xspan = xmax > xmin ? xmax - xmin : 1
            func px(_ x: Double) -> Double { xs.count == 1 ? (x0 + x1) / 2 : x0 + (x1 - x0) * (x - xmin) / xspan }
            // y scale
            var floorV = 0.0
            let py: (Double) -> Double
            var yTicks: [(Double, String)] = []
            if logY {
                let pos = all.filter { $0 > 0 }
                let lo = floor(log10(pos.min() ?? 1e-6)), hi = ceil(log10(pos.max() ?? 1))
                let lo2 = min(lo, hi - 1)
                floorV = pow(10, lo2)
                py = { v in
                    let l = log10(max(v, floorV))
                    return y0 - (y0 - y1) * (l - lo2) / (hi - lo2)
                }
                let every = max(1, Int(((hi - lo2) / 6).rounded(.up)))
                var e = Int(lo2)
                while Double(e) <= hi {
                    let v = pow(10, Double(e))
                    let lab = e >= 0 ? Fmt.fixed(v, 0) : e >= -4 ? Fmt.fixed(v, -e) : "1e\(e)"
                    yTicks.append((v, lab))
                    e += every
                }
            } else {
                var lo = all.min() ?? 0, hi = all.max() ?? 1
                if hi - lo <= abs(hi) * 1e-9 { let d = Swift.max(1, abs(hi) * 0.05); lo -= d; hi += d }
                let pad = (hi - lo) * 0.04
                let (tv, step) = ticks(lo - pad, hi + pad, count: 5)
                let a = tv.first ?? 0, b = tv.last ?? 1
                py = { v in y0 - (y0 - y1) * (v - a) / (b - a) }
                let scale = max(abs(a), abs(b))
                yTicks = tv.map { ($0, Fmt.compact($0, step: step, scale: scale)) }
            }
            for (v, lab) in yTicks {
                s += line(x0, py(v), x1, py(v), stroke: Palette.grid)
                s += text(x0 - 8, py(v) + 4, lab, anchor: "end", size: 11, fill: Palette.muted)
            }
            // x ticks: integers, thinned to at most ~12 labels.
            let every = max(1, Int((Double(xs.count) / 12).rounded(.up)))
            let last = xs.count - 1
            for (k, x) in xs.enumerated() where k % every == 0 || (k == last && last % every >= (every + 1) / 2) {
                s += line(px(x), y0, px(x), y0 + 5, stroke: Palette.axis)
                s += text(px(x), y0 + 18, Fmt.fixed(x, x == x.rounded() ? 0 : 2), anchor: "middle", size: 11, fill: Palette.muted)
            }
            s += line(x0, y0, x1, y0, stroke: Palette.axis)
            s += line(x0, y1, x0, y0, stroke: Palette.axis)
            s += text((x0 + x1) / 2, height - 8, xTitle, anchor: "middle", fill: Palette.muted)
            s += text(16, (y0 + y1) / 2, yTitle, anchor: "middle", fill: Palette.muted,
                      extra: " transform=\"rotate(-90 16 \(Fmt.c((y0 + y1) / 2)))\"")
            for se in series {
                let pts = zip(xs, se.values).filter { $0.1.isFinite }
                guard !pts.isEmpty else { continue }
                if se.level {
                    s += line(x0, py(pts[0].1), x1, py(pts[0].1), stroke: se.color, width: 2, dash: se.dash)
                    continue
                }
                let path = pts.map { "\(Fmt.c(px($0.0))),\(Fmt.c(py($0.1)))" }.joined(separator: " ")
                let dash = se.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
                s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(se.color)\" stroke-width=\"2\" stroke-linejoin=\"round\"\(dash)/>\n"
                if se.markers {
                    for (x, v) in pts {
                        let hollow = logY && v <= 0
                        let fill = hollow ? "#ffffff" : se.color
                        let tip = "\(se.name), \(xTitle.lowercased()) \(Fmt.fixed(x, 0)): \(Fmt.fixed(v, logY ? 6 : 2))"
                        s += "<circle cx=\"\(Fmt.c(px(x)))\" cy=\"\(Fmt.c(py(v)))\" r=\"3.5\" fill=\"\(fill)\" stroke=\"\(se.color)\" stroke-width=\"1.5\"><title>\(esc(tip))</title></circle>\n"
                    }
                }
            }
            return s + "</svg>\n"
        }

        /// One constraint row of a bullet chart.
        struct Bullet {
            var label: String
            var used: Double
            var min: Double?
            var max: Double?
            var binding: Bool
            var text: String
        }

        /// Bullet bars, each row on its own scale: the bar is the amount used, a solid tick the maximum and
        /// a hollow triangle the minimum; binding rows are coloured.
        static func bullets(_ rows: [Bullet], width: Double, label: String) -> String {
            let rowH = 26.0, barH = 12.0, top = 34.0, bottom = 10.0
            let labelW = min((rows.map { textWidth($0.label) }.max() ?? 0), width * 0.34) + 12
            let textW = min((rows.map { textWidth($0.text, size: 11.5) }.max() ?? 0) + 16, width * 0.32)
            let x0 = labelW, x1 = width - textW
            let h = top + Double(rows.count) * rowH + bottom
            var s = open(width, h, label: label)
            // Legend
            var lx = x0
            func key(_ name: String, _ draw: String) {
                s += draw
                s += text(lx + 20, 18, name, size: 11.5, fill: Palette.muted)
                lx += 20 + textWidth(name, size: 11.5) + 22
            }
            key("used, binding (price ≠ 0)", rect(lx, 9, 14, 12, fill: Palette.binding, extra: " rx=\"2\""))
            key("used, not binding", rect(lx, 9, 14, 12, fill: Palette.slack, extra: " rx=\"2\""))
            key("maximum", line(lx + 7, 7, lx + 7, 23, stroke: Palette.mark, width: 2.5))
            key("minimum", "<path d=\"M\(Fmt.c(lx + 7)) 14 l-5 8 h10 z\" fill=\"#ffffff\" stroke=\"\(Palette.mark)\" stroke-width=\"1.5\"/>\n")
            for (k, r) in rows.enumerated() {
                let y = top + Double(k) * rowH
                let cy = y + rowH / 2
                let full = Swift.max(r.used, r.max ?? 0, r.min ?? 0) * 1.08
                let scale = full > 0 ? full : 1
                func x(_ v: Double) -> Double { x0 + (x1 - x0) * Swift.max(0, v) / scale }
                if k % 2 == 0 { s += rect(0, y, width, rowH, fill: "#f7f9fb") }
                s += text(x0 - 8, cy + 4, fit(r.label, labelW - 12), anchor: "end", fill: r.binding ? Palette.ink : Palette.muted,
                          weight: r.binding ? "600" : nil)
                s += rect(x0, cy - barH / 2, x1 - x0, barH, fill: "#eef1f4", extra: " rx=\"2\"")
                s += rect(x0, cy - barH / 2, r.used > 0 ? Swift.max(1, x(r.used) - x0) : 0, barH,
                          fill: r.binding ? Palette.binding : Palette.slack, tip: "\(r.label): \(r.text)", extra: " rx=\"2\"")
                if let m = r.max { s += line(x(m), cy - 10, x(m), cy + 10, stroke: Palette.mark, width: 2.5) }
                if let m = r.min {
                    s += "<path d=\"M\(Fmt.c(x(m))) \(Fmt.c(cy + 2)) l-5 8 h10 z\" fill=\"#ffffff\" stroke=\"\(Palette.mark)\" stroke-width=\"1.5\"><title>\(esc("minimum \(Fmt.fixed(m, 0))"))</title></path>\n"
                }
                s += text(x1 + 10, cy + 4, fit(r.text, textW - 14, size: 11.5), size: 11.5, fill: Palette.muted)
            }
            return s + "</svg>\n"
        }

        /// Sequential blue for `t` in [0, 1].
        static func blue(_ t: Double) -> String {
            let a = (236.0, 243.0, 250.0), b = (8.0, 48.0, 107.0)
            let u = Swift.min(1, Swift.max(0, t))
            func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * u).rounded()) }
            return String(format: "#%02x%02x%02x", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
        }

        /// A heatmap of offers (rows) by propensity bins (columns), shaded on a log scale, each cell with its
        /// count, a total per row at the right and a colour key underneath.
        static func heatmap(rows: [(String, [Double])], edges: [String], width: Double, label: String) -> String {
            let nb = rows.map(\.1.count).max() ?? 0
            let rowH = 20.0, top = 30.0
            let labelW = min((rows.map { textWidth($0.0) }.max() ?? 0), 200) + 14
            let totalW = 78.0
            let x0 = labelW, x1 = width - totalW
            let cw = (x1 - x0) / Double(Swift.max(1, nb))
            let gridBottom = top + Double(rows.count) * rowH
            let h = gridBottom + 82
            let maxC = rows.flatMap(\.1).max() ?? 0
            func t(_ c: Double) -> Double { maxC > 0 ? log1p(Swift.max(0, c)) / log1p(maxC) : 0 }
            var s = open(width, h, label: label)
            s += text(x1 + totalW - 4, top - 10, "total", anchor: "end", size: 11, fill: Palette.muted, weight: "600")
            s += text(x0 - 8, top - 10, "offer", anchor: "end", size: 11, fill: Palette.muted, weight: "600")
            for (r, row) in rows.enumerated() {
                let y = top + Double(r) * rowH
                s += text(x0 - 8, y + rowH / 2 + 4, fit(row.0, labelW - 14), anchor: "end", size: 11.5)
                for (k, c) in row.1.enumerated() {
                    let x = x0 + Double(k) * cw
                    let range = k + 1 < edges.count ? "\(edges[k])–\(edges[k + 1])" : "bin \(k + 1)"
                    let fill = c > 0 ? blue(0.08 + 0.92 * t(c)) : "#ffffff"
                    s += rect(x, y, cw, rowH, fill: fill, tip: "\(row.0), propensity \(range): \(Fmt.count(c))",
                              extra: " stroke=\"#ffffff\" stroke-width=\"1\"")
                    if c > 0, cw >= 26 {
                        let lab = Fmt.short(c)
                        if textWidth(lab, size: 9.5) <= cw - 4 {
                            s += text(x + cw / 2, y + rowH / 2 + 3.5, lab, anchor: "middle", size: 9.5,
                                      fill: t(c) > 0.45 ? "#ffffff" : Palette.ink)
                        }
                    }
                }
                s += text(x1 + totalW - 4, y + rowH / 2 + 4, Fmt.count(row.1.reduce(0, +)), anchor: "end", size: 11.5, fill: Palette.muted)
            }
            s += "<rect x=\"\(Fmt.c(x0))\" y=\"\(Fmt.c(top))\" width=\"\(Fmt.c(x1 - x0))\" height=\"\(Fmt.c(gridBottom - top))\" fill=\"none\" stroke=\"\(Palette.axis)\"/>\n"
            // Bin edges under the grid; every other one if they would collide.
            let edgeW = (edges.map { textWidth($0, size: 10) }.max() ?? 0) + 4
            let every = cw >= edgeW ? 1 : 2
            for (k, e) in edges.enumerated() where k <= nb {
                let x = x0 + Double(k) * cw
                s += line(x, gridBottom, x, gridBottom + 4, stroke: Palette.axis)
                if k % every == 0 || k == nb { s += text(x, gridBottom + 15, e, anchor: "middle", size: 10, fill: Palette.muted) }
            }
            s += text((x0 + x1) / 2, gridBottom + 34, "Propensity (bin edges)", anchor: "middle", fill: Palette.muted)
            // Colour key
            let ky = gridBottom + 50, kx = x0, kw = 220.0
            let steps = 22
            for k in 0..<steps {
                s += rect(kx + kw * Double(k) / Double(steps), ky, kw / Double(steps) + 0.5, 10, fill: blue(0.08 + 0.92 * Double(k) / Double(steps - 1)))
            }
            s += "<rect x=\"\(Fmt.c(kx))\" y=\"\(Fmt.c(ky))\" width=\"\(Fmt.c(kw))\" height=\"10\" fill=\"none\" stroke=\"\(Palette.axis)\"/>\n"
            s += text(kx, ky + 24, "1", size: 10, fill: Palette.muted)
            s += text(kx + kw, ky + 24, Fmt.count(maxC), anchor: "end", size: 10, fill: Palette.muted)
            s += text(kx + kw + 12, ky + 9, "offers per bin (log scale; white = none)", size: 11, fill: Palette.muted)
            return s + "</svg>\n"
        }
    }
}

// MARK: - The page

extension ReportPage {
    /// Builds the HTML for one summary.
    struct Page {
        let summary: JSON
        let title: String
        var body = ""
        var nav: [(String, String)] = []
        /// Top-level keys shown somewhere; the rest go into "Other fields".
        var used: Set<String> = []

        init(summary: JSON, title: String) {
            self.summary = summary
            self.title = title
        }

        func top(_ key: String) -> JSON? {
            guard let v = summary[key], !v.isNull else { return nil }
            return v
        }

        mutating func use(_ keys: String...) { used.formUnion(keys) }

        mutating func section(_ id: String, _ heading: String, _ content: String) {
            nav.append((id, heading))
            body += "<section id=\"\(id)\">\n<h2>\(esc(heading))</h2>\n\(content)</section>\n"
        }

        static func table(_ rows: [(String, String)], cls: String = "kv") -> String {
            var s = "<table class=\"\(cls)\"><tbody>\n"
            for (k, v) in rows { s += "<tr><th scope=\"row\">\(esc(k))</th><td>\(esc(v))</td></tr>\n" }
            return s + "</tbody></table>\n"
        }

        static func grid(_ header: [String], _ rows: [[String]], numeric: Set<Int>, rowClass: [String?] = []) -> String {
            var s = "<div class=\"scroll\"><table class=\"data\"><thead><tr>"
            for (k, h) in header.enumerated() { s += "<th\(numeric.contains(k) ? " class=\"num\"" : "")>\(esc(h))</th>" }
            s += "</tr></thead><tbody>\n"
            for (r, row) in rows.enumerated() {
                let rc = r < rowClass.count ? rowClass[r].map { " class=\"\($0)\"" } ?? "" : ""
                s += "<tr\(rc)>"
                for (k, v) in row.enumerated() { s += "<td\(numeric.contains(k) ? " class=\"num\"" : "")>\(esc(v))</td>" }
                s += "</tr>\n"
            }
            return s + "</tbody></table></div>\n"
        }

        /// A strip of small labelled figures.
        static func stats(_ rows: [(String, String)]) -> String {
            var s = "<div class=\"stats\">\n"
            for (k, v) in rows { s += "<div class=\"stat\"><div class=\"stat-name\">\(esc(k))</div><div class=\"stat-value\">\(esc(v))</div></div>\n" }
            return s + "</div>\n"
        }

        static func note(_ text: String) -> String { "<p class=\"note\">\(esc(text))</p>\n" }

        static func figure(_ caption: String, _ svg: String, wide: Bool = false) -> String {
            "<figure class=\"card\(wide ? " wide" : "")\"><figcaption>\(esc(caption))</figcaption>\n\(svg)</figure>\n"
        }

        // MARK: Sections

        mutating func runSummary() {
            use("run_id", "objective", "customers", "customers_with_offers", "offers_made", "total_expected_value", "total_cost",
                "expected_responses", "fatigue_exclusions", "store", "shards", "workers", "resumed", "rescored_from",
                "models_rescored", "customers_changed")
            var cards: [(String, String, String?)] = []
            let customers = top("customers")?.double
            let reached = top("customers_with_offers")?.double
            let offers = top("offers_made")?.double
            let ev = top("total_expected_value")?.double
            if let customers { cards.append(("Customers", Fmt.count(customers), nil)) }
            if let reached {
                let share = customers.flatMap { $0 > 0 ? Fmt.percent(reached / $0) + " of customers" : nil }
                cards.append(("Customers with offers", Fmt.count(reached), share))
            }
            if let offers {
                let per = reached.flatMap { $0 > 0 ? Fmt.fixed(offers / $0, 2) + " per customer reached" : nil }
                cards.append(("Offers made", Fmt.count(offers), per))
            }
            if let ev {
                let per = offers.flatMap { $0 > 0 ? Fmt.fixed(ev / $0, 2) + " per offer" : nil }
                cards.append(("Total expected value", Fmt.fixed(ev, 2), per))
            }
            if let v = top("total_cost")?.double {
                let roi = ev.flatMap { v > 0 ? Fmt.fixed($0 / v, 1) + "× expected value / cost" : nil }
                cards.append(("Total cost", Fmt.fixed(v, 2), roi))
            }
            if let v = top("expected_responses")?.double {
                let rate = offers.flatMap { $0 > 0 ? Fmt.percent(v / $0, 2) + " expected response rate" : nil }
                cards.append(("Expected responses", Fmt.fixed(v, 2), rate))
            }
            if let v = top("fatigue_exclusions")?.double { cards.append(("Fatigue exclusions", Fmt.count(v), nil)) }
            if let g = summary["optimization"]?["gap"]?.double { cards.append(("Optimality gap", Fmt.percent(g, 4), "relative to the dual bound")) }

            var c = ""
            if !cards.isEmpty {
                c += "<div class=\"kpis\">\n"
                for (name, value, sub) in cards {
                    c += "<div class=\"kpi\"><div class=\"kpi-name\">\(esc(name))</div><div class=\"kpi-value\">\(esc(value))</div>"
                    if let sub { c += "<div class=\"kpi-sub\">\(esc(sub))</div>" }
                    c += "</div>\n"
                }
                c += "</div>\n"
            }

            var rows: [(String, String)] = []
            func add(_ name: String, _ key: String, _ f: (JSON) -> String = { Fmt.number($0) }) {
                if let v = top(key) { rows.append((name, f(v))) }
            }
            add("Run id", "run_id") { $0.string ?? $0.compactText }
            add("Objective", "objective") { $0.string ?? $0.compactText }
            add("Store", "store") { $0.string ?? $0.compactText }
            add("Shards", "shards")
            add("Workers", "workers")
            if let opt = summary["optimization"] {
                if let r = opt["rounds"], !r.isNull { rows.append(("Optimization rounds", Fmt.number(r))) }
                if let g = opt["gap"]?.double { rows.append(("Gap", Fmt.percent(g, 4) + " (" + Fmt.fixed(g, 8) + ")")) }
            }
            add("Resumed", "resumed") { $0.bool.map { $0 ? "yes" : "no" } ?? $0.compactText }
            add("Rescored from", "rescored_from") { $0.string ?? $0.compactText }
            if let m = top("models_rescored") {
                if let a = m.array {
                    if !a.isEmpty { rows.append(("Models rescored", a.map { $0.string ?? $0.compactText }.joined(separator: ", "))) }
                } else {
                    rows.append(("Models rescored", m.compactText))
                }
            }
            add("Customers changed", "customers_changed")

            if let customers, let reached, customers > 0 {
                let bars = [Chart.Bar(label: "with offers", value: reached, text: Fmt.count(reached) + " (" + Fmt.percent(reached / customers) + ")"),
                            Chart.Bar(label: "without offers", value: max(0, customers - reached),
                                      text: Fmt.count(max(0, customers - reached)) + " (" + Fmt.percent(max(0, customers - reached) / customers) + ")",
                                      color: Palette.slack)]
                let svg = Chart.hbars(bars, width: 560, color: Palette.primary, axisTitle: "Customers", label: "Customers reached")
                c += "<div class=\"row2\">\n"
                if !rows.isEmpty { c += "<div class=\"card\"><div class=\"figcap\">Run</div>\n" + Page.table(rows) + "</div>\n" }
                c += Page.figure("Customers reached", svg) + "</div>\n"
            } else if !rows.isEmpty {
                c += "<div class=\"row2\">\n<div class=\"card\"><div class=\"figcap\">Run</div>\n" + Page.table(rows) + "</div>\n</div>\n"
            } else if cards.isEmpty {
                c += Page.note("The summary has none of the usual run fields.")
            }
            section("summary", "Run summary", c)
        }

        mutating func convergence() {
            guard let opt = top("optimization") else { return }
            use("optimization")
            var c = ""
            let history = (opt["history"]?.array ?? []).filter { $0.object != nil }
            if !history.isEmpty {
                let xs = history.enumerated().map { $0.element["round"]?.double ?? Double($0.offset + 1) }
                let dual = history.map { $0["dual"]?.double ?? .nan }
                let primal = history.map { $0["relaxed_primal"]?.double ?? .nan }
                var series = [Chart.Series(name: "Dual bound", color: Palette.primary, values: dual),
                              Chart.Series(name: "Relaxed primal objective", color: Palette.accent, values: primal)]
                if let final = opt["objective"]?.double {
                    series.append(Chart.Series(name: "Final objective (after repair)", color: Palette.good,
                                               values: [final], dash: "6 4", markers: false, level: true))
                }
                let main = Chart.lines(xs: xs, series: series, width: 680, height: 340, xTitle: "Round", yTitle: "Objective value",
                                       label: "Dual bound and relaxed primal objective per round")
                let viol = history.map { $0["max_violation"]?.double ?? .nan }
                let zeros = viol.filter { $0 <= 0 }.count
                let vchart = Chart.lines(xs: xs, series: [Chart.Series(name: "Max violation", color: Palette.binding, values: viol)],
                                         width: 440, height: 340, xTitle: "Round", yTitle: "Max violation (log scale)", logY: true,
                                         label: "Maximum constraint violation per round")
                c += "<div class=\"row32\">\n"
                c += Page.figure("Dual bound and relaxed primal objective per round", main)
                let zeroNote = zeros > 0 ? Page.note("Hollow markers: a violation of 0, drawn on the axis floor.") : ""
                c += Page.figure("Maximum constraint violation per round", vchart + zeroNote)
                c += "</div>\n"
            } else {
                c += Page.note("No per-round history in this summary.")
            }
            var rows: [(String, String)] = []
            func add(_ name: String, _ key: String, _ f: (Double) -> String) {
                if let v = opt[key]?.double { rows.append((name, f(v))) }
            }
            add("Final objective", "objective") { Fmt.fixed($0, 2) }
            add("Dual bound", "dual_bound") { Fmt.fixed($0, 2) }
            add("Gap", "gap") { Fmt.percent($0, 4) }
            add("Relaxed objective", "relaxed_objective") { Fmt.fixed($0, 2) }
            add("Rounds", "rounds") { Fmt.count($0) }
            add("Round time", "round_seconds") { Fmt.seconds($0) }
            add("Repair time", "repair_seconds") { Fmt.seconds($0) }
            if let p = opt["presolve"], let m = p["sample_modulus"]?.double, let n = p["rounds"]?.double, let s = p["seconds"]?.double {
                rows.append(("Presolve", "\(Fmt.count(n)) rounds on 1 customer in \(Fmt.count(m)), \(Fmt.seconds(s))"))
            }
            let known: Set<String> = ["objective", "dual_bound", "gap", "relaxed_objective", "rounds", "round_seconds", "repair_seconds", "history", "constraints", "presolve"]
            for (k, v) in opt.object ?? [] where !known.contains(k) && v.object == nil && v.array == nil && !v.isNull {
                rows.append((Fmt.label(k), v.double != nil ? Fmt.number(v, decimals: 4) : (v.string ?? v.compactText)))
            }
            if !rows.isEmpty { c += Page.stats(rows) }
            section("convergence", "Optimization convergence", c)

            guard let cons = opt["constraints"]?.array?.filter({ $0.object != nil }), !cons.isEmpty else { return }
            var bullets: [Chart.Bullet] = []
            var table: [[String]] = []
            var classes: [String?] = []
            for k in cons {
                let kind = k["kind"]?.string ?? "", name = k["name"]?.string ?? k["key"]?.string ?? "?"
                let used = k["used"]?.double ?? 0
                let mn = k["min"]?.double, mx = k["max"]?.double
                let price = k["price"]?.double ?? 0
                let money = kind == "budget"
                let d = money ? 2 : (k["used"]?.isIntegerLiteral == false && used != used.rounded() ? 2 : 0)
                var text = Fmt.fixed(used, d)
                if let mx { text += " / " + Fmt.fixed(mx, d) + (mx > 0 ? " (" + Fmt.percent(used / mx) + ")" : "") }
                if let mn { text += " · min " + Fmt.fixed(mn, d) }
                let binding = price != 0
                bullets.append(Chart.Bullet(label: kind.isEmpty || kind == name ? name : "\(kind) · \(name)", used: used, min: mn, max: mx, binding: binding, text: text))
                table.append([kind, name, Fmt.fixed(used, d), mn.map { Fmt.fixed($0, d) } ?? "—", mx.map { Fmt.fixed($0, d) } ?? "—",
                              mx.flatMap { $0 > 0 ? Fmt.percent(used / $0) : nil } ?? "—", Fmt.fixed(price, 4), binding ? "binding" : "—"])
                classes.append(binding ? "binding" : nil)
            }
            var cc = Page.figure("Use of each constraint on its own scale (tick = maximum, triangle = minimum)",
                                 Chart.bullets(bullets, width: 1100, label: "Constraint use against limits"), wide: true)
            cc += Page.grid(["Kind", "Name", "Used", "Min", "Max", "Use of max", "Shadow price", "Status"], table,
                            numeric: [2, 3, 4, 5, 6], rowClass: classes)
            let nb = bullets.filter(\.binding).count
            cc += Page.note("\(nb) of \(bullets.count) constraints are binding (non-zero shadow price): loosening them would raise the objective by about their price per unit.")
            section("constraints", "Constraint use against limits", cc)
        }

        mutating func offers() {
            let groups: [(String, String, String)] = [("by_product", "By product", "product"), ("by_offer", "By offer", "offer"),
                                                      ("by_region", "By region", "region"), ("by_segment", "By segment", "segment"),
                                                      ("by_channel", "By channel", "channel")]
            var figures: [(String, String, Int)] = []
            for (key, heading, _) in groups {
                guard let v = top(key) else { continue }
                use(key)
                guard let o = v.object, !o.isEmpty else {
                    figures.append((heading, Page.note("No categories."), 0))
                    continue
                }
                let total = o.compactMap { $0.1.double }.reduce(0, +)
                let bars = o.map { name, j -> Chart.Bar in
                    let n = j.double ?? 0
                    return Chart.Bar(label: name, value: n, text: Fmt.count(n) + (total > 0 ? " · " + Fmt.percent(n / total) : ""))
                }
                let big = o.count > 8
                let svg = Chart.hbars(bars, width: big ? 540 : 350, color: Palette.primary, axisTitle: "Offers made",
                                      label: "Offers made \(heading.lowercased())")
                figures.append((heading, svg, o.count))
            }
            guard !figures.isEmpty else { return }
            var c = ""
            let big = figures.filter { $0.2 > 8 }, small = figures.filter { $0.2 <= 8 }
            for (cls, group) in [("row2", big), ("row3", small)] where !group.isEmpty {
                c += "<div class=\"\(cls)\">\n"
                for (heading, content, _) in group { c += "<figure class=\"card\"><h3>\(esc(heading))</h3>\n\(content)</figure>\n" }
                c += "</div>\n"
            }
            section("offers", "Offers made by category", c)
        }

        mutating func propensity() {
            use("propensity_by_offer")
            var c = ""
            defer { section("propensity", "Propensity distribution per offer", c) }
            guard let p = top("propensity_by_offer") else {
                c = Page.note("This summary has no propensity_by_offer field, so the propensity distribution cannot be shown.")
                return
            }
            guard let offers = p["offers"]?.object, !offers.isEmpty else {
                c = Page.note("propensity_by_offer has no offers.")
                return
            }
            let edgesJ = p["bin_edges"]?.array ?? []
            let edges = edgesJ.map { j -> String in
                guard let d = j.double else { return j.compactText }
                if d == 0 || d == 1 { return Fmt.fixed(d, 0) }
                var s = Fmt.fixed(d, 6)
                while s.hasSuffix("0") { s.removeLast() }
                return s
            }
            let rows = offers.map { name, j in (name, (j.array ?? []).map { $0.double ?? 0 }) }
            let nb = rows.map(\.1.count).max() ?? 0
            let svg = Chart.heatmap(rows: rows, edges: edges.count == nb + 1 ? edges : (0...nb).map { "\($0)" }, width: 1100,
                                    label: "Offers made per propensity bin, per offer")
            c += Page.figure("Offers made per propensity bin (rows: offers; columns: propensity bins)", svg, wide: true)
            if !edges.isEmpty, edges.count != nb + 1 {
                c += Page.note("bin_edges has \(edges.count) edges for \(nb) bins; columns are numbered instead.")
            }
            let all = rows.flatMap(\.1).reduce(0, +)
            c += Page.note("\(Fmt.count(all)) offers across \(rows.count) offers and \(nb) bins. Hover a cell for its exact range and count.")
        }

        mutating func timings() {
            let t = top("timings_seconds"), lat = top("shard_latency"), msg = top("messages"), rec = top("recovery")
            use("timings_seconds", "shard_latency", "messages", "recovery")
            guard t != nil || lat != nil || msg != nil || rec != nil else { return }
            var c = "<div class=\"row2\">\n"
            if let o = t?.object {
                let stages = o.filter { $0.0 != "total" && $0.1.double != nil }
                var inner = ""
                if !stages.isEmpty {
                    let bars = stages.map { Chart.Bar(label: Fmt.label($0.0), value: $0.1.double ?? 0, text: Fmt.seconds($0.1.double ?? 0)) }
                    inner += Chart.hbars(bars, width: 540, color: Palette.primary, axisTitle: "Seconds", label: "Seconds per stage")
                }
                if let total = o.first(where: { $0.0 == "total" })?.1.double {
                    inner += "<p class=\"total\">Total wall time: <strong>\(esc(Fmt.seconds(total)))</strong> <span class=\"muted\">(stages overlap: rounds and repair are part of optimize)</span></p>\n"
                }
                if inner.isEmpty { inner = Page.note("No stage timings.") }
                c += "<figure class=\"card\"><h3>Seconds per stage</h3>\n\(inner)</figure>\n"
            }
            if let l = lat, l.object != nil {
                var inner = ""
                let unit = l["unit"]?.string ?? "ms"
                let buckets = (l["histogram"]?.array ?? []).filter { $0.object != nil }
                if !buckets.isEmpty {
                    let bars = buckets.map { b -> Chart.Bar in
                        let le = b["le_ms"]?.double ?? 0, n = b["count"]?.double ?? 0
                        return Chart.Bar(label: "≤ " + Fmt.fixed(le, le < 10 ? 3 : le < 1000 ? 1 : 0) + " " + unit, value: n, text: Fmt.count(n))
                    }
                    inner += Chart.hbars(bars, width: 540, color: Palette.accent, axisTitle: "Shards", label: "Shard latency histogram")
                }
                var rows: [(String, String)] = []
                for (k, name) in [("count", "Shards"), ("mean", "Mean"), ("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"), ("max", "Max")] {
                    guard let v = l[k], let d = v.double else { continue }
                    rows.append((name, k == "count" ? Fmt.count(d) : Fmt.fixed(d, 3) + " " + unit))
                }
                inner += Page.table(rows)
                c += "<figure class=\"card\"><h3>Shard latency</h3>\n\(inner)</figure>\n"
            }
            c += "</div>\n"
            var tables = ""
            for (j, heading) in [(msg, "Messages"), (rec, "Recovery")] {
                guard let o = j?.object else { continue }
                let rows = o.map { (Fmt.label($0.0), $0.1.double != nil ? Fmt.number($0.1, decimals: 3) : ($0.1.string ?? $0.1.compactText)) }
                tables += "<div class=\"card\"><h3>\(heading)</h3>\n" + Page.table(rows) + "</div>\n"
            }
            if !tables.isEmpty { c += "<div class=\"row3\">\n" + tables + "</div>\n" }
            section("timings", "Stage timings", c)
        }

        mutating func others() {
            let rest = (summary.object ?? []).filter { !used.contains($0.0) }
            guard !rest.isEmpty else { return }
            var rows: [(String, String)] = []
            for (k, v) in rest {
                var text = v.double != nil ? Fmt.number(v, decimals: 4) : (v.string ?? v.compactText)
                if text.count > 300 { text = String(text.prefix(299)) + "…" }
                rows.append((k, text))
            }
            section("other", "Other fields", "<div class=\"card\">\n" + Page.table(rows, cls: "kv mono") + "</div>\n")
        }

        // MARK: Assembly

        mutating func html() -> String {
            runSummary()
            convergence()
            offers()
            propensity()
            timings()
            others()
            var subtitle: [String] = []
            if let r = top("run_id")?.string { subtitle.append("Run " + r) } else { subtitle.append("One-process run") }
            if let o = top("objective")?.string { subtitle.append("objective: " + o) }
            if let n = top("customers")?.double { subtitle.append(Fmt.count(n) + " customers") }
            if let w = top("workers")?.double { subtitle.append(Fmt.count(w) + (w == 1 ? " worker" : " workers")) }
            var h = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
            <meta name="generator" content="nextbest ReportPage">
            <title>\(esc(title))</title>
            <style>\(Page.css)</style>
            </head>
            <body>
            <header class="top"><div class="wrap">
            <h1>\(esc(title))</h1>
            <p class="subtitle">\(esc(subtitle.joined(separator: " · ")))</p>
            <nav>
            """
            h += "\n"
            for (id, heading) in nav { h += "<a href=\"#\(id)\">\(esc(heading))</a>\n" }
            h += "</nav>\n</div></header>\n<main class=\"wrap\">\n"
            h += body
            h += "</main>\n<footer class=\"wrap\">Generated by nextbest from summary.json. Self-contained page: no scripts, no network.</footer>\n</body>\n</html>\n"
            return h
        }

        static let css = """

        :root{--ink:\(Palette.ink);--muted:\(Palette.muted);--line:\(Palette.grid);--bg:#f4f6f8;--card:#ffffff;--accent:\(Palette.primary);--bind:\(Palette.binding)}
        *{box-sizing:border-box}
        html{-webkit-text-size-adjust:100%}
        body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans","DejaVu Sans",sans-serif;font-variant-numeric:tabular-nums}
        .wrap{max-width:1180px;margin:0 auto;padding:0 20px}
        header.top{background:#17324d;color:#fff;padding:22px 0 0;margin-bottom:22px}
        header.top h1{margin:0;font-size:24px;font-weight:600;letter-spacing:.2px}
        .subtitle{margin:4px 0 14px;color:#c7d4e2;font-size:14px}
        nav{display:flex;flex-wrap:wrap;gap:2px 18px;padding:8px 0 10px;border-top:1px solid rgba(255,255,255,.15)}
        nav a{color:#dbe6f1;text-decoration:none;font-size:13px}
        nav a:hover{color:#fff;text-decoration:underline}
        section{margin:0 0 30px}
        h2{font-size:18px;font-weight:600;margin:0 0 12px;padding-bottom:6px;border-bottom:2px solid var(--line)}
        h3{font-size:14px;font-weight:600;margin:0 0 8px;color:var(--ink)}
        .card{background:var(--card);border:1px solid #dfe3e8;border-radius:6px;padding:14px 16px;margin:0 0 14px;min-width:0}
        figure{margin:0}
        figcaption,.figcap{font-size:13px;font-weight:600;color:var(--muted);margin:0 0 8px}
        svg.chart{display:block;width:100%;height:auto;font-family:inherit;overflow:visible}
        .kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px;margin:0 0 14px}
        .kpi{background:var(--card);border:1px solid #dfe3e8;border-left:4px solid var(--accent);border-radius:6px;padding:10px 14px}
        .kpi-name{font-size:12px;text-transform:uppercase;letter-spacing:.5px;color:var(--muted)}
        .kpi-value{font-size:22px;font-weight:600;margin-top:2px}
        .kpi-sub{font-size:12px;color:var(--muted);margin-top:2px}
        .row2,.row3,.row32{display:grid;gap:14px;align-items:start}
        .row2{grid-template-columns:repeat(2,minmax(0,1fr))}
        .row3{grid-template-columns:repeat(3,minmax(0,1fr))}
        .row32{grid-template-columns:minmax(0,3fr) minmax(0,2fr)}
        .row2>.card,.row3>.card,.row32>.card{margin:0}
        .row2,.row3,.row32{margin-bottom:14px}
        @media (max-width:900px){.row2,.row3,.row32{grid-template-columns:minmax(0,1fr)}}
        table{border-collapse:collapse;width:100%;font-size:13px}
        table.kv th{text-align:left;font-weight:500;color:var(--muted);padding:4px 12px 4px 0;white-space:nowrap;vertical-align:top;width:1%}
        table.kv td{padding:4px 0;text-align:right;word-break:break-word}
        table.kv tr+tr th,table.kv tr+tr td{border-top:1px solid var(--line)}
        table.mono td{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px;text-align:left}
        .stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:0;background:var(--card);border:1px solid #dfe3e8;border-radius:6px;margin:0 0 14px}
        .stat{padding:9px 14px;border-right:1px solid var(--line)}
        .stat-name{font-size:12px;color:var(--muted)}
        .stat-value{font-size:15px;font-weight:600}
        .scroll{overflow-x:auto;background:var(--card);border:1px solid #dfe3e8;border-radius:6px;margin:0 0 10px}
        table.data th{background:#f7f9fb;text-align:left;font-weight:600;color:var(--muted);padding:7px 10px;border-bottom:1px solid #dfe3e8;white-space:nowrap}
        table.data td{padding:6px 10px;border-bottom:1px solid var(--line)}
        table.data tr:last-child td{border-bottom:none}
        table.data .num{text-align:right}
        tr.binding td{background:#fff4ec}
        tr.binding td:last-child{color:var(--bind);font-weight:600}
        .note{color:var(--muted);font-size:13px;margin:6px 0 0}
        .total{margin:10px 0 0;font-size:13px}
        .muted{color:var(--muted)}
        footer{color:var(--muted);font-size:12px;padding:8px 20px 30px}
        @media print{body{background:#fff}header.top{background:#fff;color:var(--ink)}.subtitle,nav a{color:var(--muted)}.card,.kpi,.scroll{break-inside:avoid}}

        """
    }
}
