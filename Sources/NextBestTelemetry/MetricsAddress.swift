/// Where the metrics endpoint listens, as `--metrics-address` gives it: a host (an IPv4 or IPv6 literal or a
/// name), optionally with a port: `127.0.0.1`, `0.0.0.0`, `::1`, `[::1]`, `[::1]:9464`, `127.0.0.1:9464`,
/// `localhost:9464`. A bare IPv6 literal has no port (its colons would be ambiguous); bracket it to add one.
public struct MetricsAddress: Sendable, Equatable, CustomStringConvertible {
    /// Why an address was refused.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case empty
        case unclosedBracket(String)
        case notIPv6InBrackets(String)
        case badPort(String)
        case junkAfterBracket(String)

        public var description: String {
            switch self {
            case .empty: return "--metrics-address is empty (give a host such as 127.0.0.1, ::1 or 0.0.0.0)"
            case let .unclosedBracket(s): return "--metrics-address '\(s)': '[' without a closing ']'"
            case let .notIPv6InBrackets(s): return "--metrics-address '\(s)': brackets hold an IPv6 address, as in [::1]:9464"
            case let .badPort(s): return "--metrics-address '\(s)': the port must be a number between 0 and 65535"
            case let .junkAfterBracket(s): return "--metrics-address '\(s)': after ']' only ':PORT' may follow"
            }
        }
    }

    /// The default: loopback only, so the endpoint is not reachable from other hosts unless asked for.
    public static let loopback = "127.0.0.1"

    /// The host without brackets (`::1`, `127.0.0.1`, `localhost`).
    public let host: String
    /// The port when the address named one.
    public let port: Int?

    public init(host: String, port: Int? = nil) {
        self.host = host
        self.port = port
    }

    /// Parses `text` (see the type's description).
    public init(parsing text: String) throws(Failure) {
        let s = text.trimmingWhitespace()
        guard !s.isEmpty else { throw .empty }
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { throw .unclosedBracket(text) }
            let inner = String(s[s.index(after: s.startIndex)..<close])
            guard inner.contains(":") else { throw .notIPv6InBrackets(text) }
            let rest = s[s.index(after: close)...]
            if rest.isEmpty { self.init(host: inner); return }
            guard rest.hasPrefix(":") else { throw .junkAfterBracket(text) }
            self.init(host: inner, port: try Self.port(String(rest.dropFirst()), text))
            return
        }
        let colons = s.filter { $0 == ":" }.count
        if colons == 1, let i = s.firstIndex(of: ":") {
            let host = String(s[..<i])
            guard !host.isEmpty else { throw .empty }
            self.init(host: host, port: try Self.port(String(s[s.index(after: i)...]), text))
        } else {
            self.init(host: s)
        }
    }

    static func port(_ digits: String, _ text: String) throws(Failure) -> Int {
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigitCharacter), digits.count <= 5, let p = Int(digits), (0...65_535).contains(p) else {
            throw .badPort(text)
        }
        return p
    }

    /// Whether the host is an IPv6 literal (and so is bracketed in a URL).
    public var isIPv6: Bool { host.contains(":") }

    /// The host as written in a URL: IPv6 literals in brackets.
    public var urlHost: String { isIPv6 ? "[\(host)]" : host }

    /// The host a scraper on this machine connects to: the loopback of the same family for a wildcard host.
    public var localHost: String {
        switch host {
        case "0.0.0.0": return "127.0.0.1"
        case "::", "::0": return "[::1]"
        default: return urlHost
        }
    }

    /// Whether only this machine can connect (127.0.0.0/8, ::1 or localhost).
    public var isLoopback: Bool { host.hasPrefix("127.") || host == "::1" || host == "localhost" }

    public var description: String { port.map { "\(urlHost):\($0)" } ?? urlHost }
}

extension Character {
    var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
