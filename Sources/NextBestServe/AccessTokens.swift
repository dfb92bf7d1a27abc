import Foundation

/// Who may do what on `nextbest serve`: bearer tokens read from a file, one per line as `ROLE TOKEN`
/// (`read`: lookups; `record`: lookups and responses); blank lines and `#` comments are skipped.
public struct AccessTokens: Sendable, Equatable {
    /// What a token allows.
    public enum Role: String, Sendable, Equatable { case read, record }

    /// A tokens file that cannot be used.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case unreadable(path: String, reason: String)
        case badLine(path: String, line: Int, reason: String)
        public var description: String {
            switch self {
            case let .unreadable(p, r): return "cannot read the tokens file \(p): \(r)"
            case let .badLine(p, l, r): return "\(p), line \(l): \(r) (each line is `read TOKEN` or `record TOKEN`)"
            }
        }
    }

    let roles: [String: Role]

    public init(_ roles: [String: Role]) { self.roles = roles }

    /// Reads `path`.
    public init(path: String) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Failure.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        try self.init(text: text, path: path)
    }

    /// Parses a tokens file's text (`path` names it in errors).
    public init(text: String, path: String) throws {
        var roles: [String: Role] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count == 2, let role = Role(rawValue: String(parts[0])) else {
                throw Failure.badLine(path: path, line: n + 1, reason: "expected a role (read or record) and a token")
            }
            guard parts[1].count >= 16 else { throw Failure.badLine(path: path, line: n + 1, reason: "the token is shorter than 16 characters") }
            roles[String(parts[1])] = role
        }
        guard !roles.isEmpty else { throw Failure.badLine(path: path, line: 1, reason: "no tokens in the file") }
        self.roles = roles
    }

    /// The role of an `Authorization` header's bearer token, or nil.
    public func role(authorization: String?) -> Role? {
        guard let a = authorization, a.hasPrefix("Bearer ") else { return nil }
        return roles[String(a.dropFirst(7)).trimmingCharacters(in: .whitespaces)]
    }
}
