/// A small JSON value with ordered keys and exact number formatting, for output files whose bytes
/// must be stable (`summary.json`).
public indirect enum JSONText: Sendable {
    case string(String)
    case int(Int64)
    /// A number printed with a fixed number of decimals.
    case fixed(Double, decimals: Int)
    case bool(Bool)
    case null
    /// JSON text written as it is (a value rendered earlier).
    case raw(String)
    case array([JSONText])
    case object([(String, JSONText)])

    /// Pretty-printed text with two-space indentation and a final newline.
    public func render() -> String {
        var out: [UInt8] = []
        write(&out, indent: 0)
        out.append(UInt8(ascii: "\n"))
        return String(decoding: out, as: UTF8.self)
    }

    /// The same value on one line with no spaces (JSON lines, such as log records).
    public func renderLine() -> String {
        var out: [UInt8] = []
        writeLine(&out)
        return String(decoding: out, as: UTF8.self)
    }

    private func writeLine(_ out: inout [UInt8]) {
        switch self {
        case .array(let a):
            out.appendString("[")
            for (i, v) in a.enumerated() { if i > 0 { out.appendString(",") }; v.writeLine(&out) }
            out.appendString("]")
        case .object(let o):
            out.appendString("{")
            for (i, (k, v)) in o.enumerated() {
                if i > 0 { out.appendString(",") }
                JSONText.quote(k, &out)
                out.appendString(":")
                v.writeLine(&out)
            }
            out.appendString("}")
        default: write(&out, indent: 0)
        }
    }

    private func write(_ out: inout [UInt8], indent: Int) {
        switch self {
        case .string(let s): JSONText.quote(s, &out)
        case .int(let i):
            if i < 0 { out.append(UInt8(ascii: "-")) }
            out.appendDecimal(i.magnitude)
        case .fixed(let d, let n):
            if d.isFinite { FixedDecimal.append(d, decimals: n, to: &out) } else { out.appendString("null") }
        case .bool(let b): out.appendString(b ? "true" : "false")
        case .null: out.appendString("null")
        case .raw(let text): out.appendString(text.hasSuffix("\n") ? String(text.dropLast()) : text)
        case .array(let a):
            if a.isEmpty { out.appendString("[]"); return }
            out.appendString("[\n")
            for (i, v) in a.enumerated() {
                out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent + 2))
                v.write(&out, indent: indent + 2)
                out.appendString(i + 1 < a.count ? ",\n" : "\n")
            }
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent))
            out.appendString("]")
        case .object(let o):
            if o.isEmpty { out.appendString("{}"); return }
            out.appendString("{\n")
            for (i, (k, v)) in o.enumerated() {
                out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent + 2))
                JSONText.quote(k, &out)
                out.appendString(": ")
                v.write(&out, indent: indent + 2)
                out.appendString(i + 1 < o.count ? ",\n" : "\n")
            }
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent))
            out.appendString("}")
        }
    }

    static func quote(_ s: String, _ out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.appendString("\\\"")
            case UInt8(ascii: "\\"): out.appendString("\\\\")
            case UInt8(ascii: "\n"): out.appendString("\\n")
            case UInt8(ascii: "\r"): out.appendString("\\r")
            case UInt8(ascii: "\t"): out.appendString("\\t")
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.appendString("\\u00")
                out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
