import ArgumentParser
import Foundation
import NextBestCore
import NextBestStore

/// `import model`'s `--format` and `--feature-names` values, checked.
enum ModelImportOptions {
    /// The `--format` names: `auto` (the default: told from the file's content) and every `ModelFormat`.
    static var formatNames: [String] { ["auto"] + ModelFormat.allCases.map(\.rawValue) }

    /// The format `text` names; nil for `auto`.
    static func format(_ text: String) throws -> ModelFormat? {
        if text == "auto" { return nil }
        guard let f = ModelFormat(rawValue: text) else {
            throw ValidationError("--format must be one of \(formatNames.joined(separator: ", ")), not '\(text)'")
        }
        return f
    }

    /// `--feature-names a,b,c`, or `--feature-names @FILE` with one name a line (blank lines skipped);
    /// names are trimmed, and an empty or repeated name is refused.
    static func featureNames(_ text: String?) throws -> [String]? {
        guard let text else { return nil }
        let names: [String]
        if text.hasPrefix("@") {
            let path = String(text.dropFirst())
            let data: Data
            do { data = try InputFile(path: path).readAll(limit: 64 << 20) } catch { throw ValidationError("--feature-names @\(path): \(error)") }
            names = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } else {
            names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        }
        guard !names.isEmpty else { throw ValidationError("--feature-names gives no names") }
        if let i = names.firstIndex(where: \.isEmpty) { throw ValidationError("--feature-names: name \(i + 1) is empty") }
        var seen = Set<String>()
        for n in names where !seen.insert(n).inserted { throw ValidationError("--feature-names: '\(n)' appears twice") }
        return names
    }
}
