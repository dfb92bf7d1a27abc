/// Input values as messages quote them: in single quotes, cut to a readable length, control characters
/// escaped. A refused 200 MB field is named by its first characters and its size, never echoed whole, and
/// a value holding a newline or an escape sequence cannot forge lines on a terminal or in a log.
public enum Quoted {
    /// The most characters of a value a message shows.
    public static let limit = 64

    /// `'value'`, or `'first characters…' (N bytes)` when longer than `limit` characters.
    public static func text<S: StringProtocol>(_ s: S, limit: Int = limit) -> String {
        var out = "'"
        var shown = 0
        var cut = false
        for ch in s.unicodeScalars {
            if shown == limit { cut = true; break }
            out += escaped(ch)
            shown += 1
        }
        out += "'"
        if cut { out.insert("…", at: out.index(before: out.endIndex)); out += " (\(s.utf8.count) bytes)" }
        return out
    }

    /// `s` without quotes, cut and escaped like `text` (for names inside key paths).
    public static func bare<S: StringProtocol>(_ s: S, limit: Int = limit) -> String {
        let q = text(s, limit: limit)
        guard let close = q.lastIndex(of: "'") else { return q }
        return String(q[q.index(after: q.startIndex)..<close]) + q[q.index(after: close)...]
    }

    /// `s` with its control characters escaped (`\n`, `\u{1B}`, …) and nothing else changed: a line
    /// of a text log stays one line whatever a peer put in it. Returns `s` itself when it has none.
    public static func escapingControls(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: isControl) else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        for ch in s.unicodeScalars { if isControl(ch) { out += escaped(ch) } else { out.unicodeScalars.append(ch) } }
        return out
    }

    /// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
    static func isControl(_ ch: Unicode.Scalar) -> Bool {
        ch.value < 0x20 || (0x7F...0x9F).contains(ch.value) || ch.value == 0x2028 || ch.value == 0x2029
    }

    /// One scalar as shown: printable as itself, controls as `\n`, `\t`, `\r` or `\u{1B}`.
    public static func escaped(_ ch: Unicode.Scalar) -> String {
        switch ch {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        case "\\": return "\\\\"
        default:
            if isControl(ch) {
                return "\\u{" + String(ch.value, radix: 16, uppercase: true) + "}"
            }
            return String(ch)
        }
    }
}
