import Foundation

/// `--format auto`: a model file's format told from its content.
extension ModelFormat {
    /// One recognisable kind of model file: the `--format` name it has and a test of the file's bytes.
    /// A kind whose name is not a `ModelFormat` case in this build is recognised and refused by name.
    public struct Signature: Sendable {
        public var name: String
        public var matches: @Sendable (Data) -> Bool
    }

    /// The signatures, tried in order; the first that matches decides. Adding a format is one line here
    /// (and a case of `ModelFormat` whose raw value is `name`).
    public static let signatures: [Signature] = [
        Signature(name: "xgboost-ubj", matches: { ModelFormat.isUBJSONObject($0) }),
        Signature(name: "lightgbm", matches: { ModelFormat.startsWithLine($0, "tree") }),
        Signature(name: "onnx", matches: { ModelFormat.isONNXModel($0) }),
        Signature(name: "logistic-json", matches: { ModelFormat.jsonTopLevelKeys($0)?.contains("coefficients") == true }),
        Signature(name: "xgboost-json", matches: { ModelFormat.jsonTopLevelKeys($0)?.contains("learner") == true }),
    ]

    /// The format of a model file's bytes; `file` only names it in the error.
    public static func detect(_ data: Data, file: String) throws(ModelError) -> ModelFormat {
        let known = allCases.map(\.rawValue).joined(separator: ", ")
        for s in signatures where s.matches(data) {
            guard let format = ModelFormat(rawValue: s.name) else {
                throw .unsupported("\(Quoted.text(file)) looks like a \(s.name) model, which this build does not read (formats: \(known))")
            }
            return format
        }
        throw .unsupported("cannot tell the format of \(Quoted.text(file)) from its content (not an XGBoost JSON or UBJSON model, a LightGBM text model, an ONNX model, nor logistic-json); name it with --format (\(known))")
    }

    /// XGBoost's default names for a model trained without names (`f0`, `f1`, …), which profile columns
    /// rarely carry: the importer suggests `--feature-names` when such features are missing.
    public static func areXGBoostDefaultNames(_ names: [String]) -> Bool {
        !names.isEmpty && names.enumerated().allSatisfy { $1 == "f\($0)" }
    }

    /// A UBJSON object: `{` then a key's length marker (XGBoost writes `L`), or `}`. JSON text has
    /// whitespace, `"` or `}` there, never an integer marker.
    static func isUBJSONObject(_ data: Data) -> Bool {
        guard data.count >= 2, data[data.startIndex] == UInt8(ascii: "{") else { return false }
        let next = data[data.startIndex + 1]
        return "iUIlLN".utf8.contains(next)
    }

    /// An ONNX `ModelProto` as exporters write it: field 1 (`ir_version`, varint tag 0x08) first, a small
    /// version (1…127), then the tag of another `ModelProto` field: 2–8 as length-delimited strings or
    /// messages, 5 (`model_version`) as a varint. Text formats never start with byte 0x08.
    static func isONNXModel(_ data: Data) -> Bool {
        guard data.count >= 3 else { return false }
        let b = data.startIndex
        guard data[b] == 0x08, (1...127).contains(data[b + 1]) else { return false }
        return [0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42].contains(data[b + 2])
    }

    /// Whether the first line of `data` is `word` (a LightGBM text model starts with the line `tree`).
    static func startsWithLine(_ data: Data, _ word: String) -> Bool {
        let head = data.prefix(word.utf8.count + 2)
        guard head.starts(with: word.utf8) else { return false }
        let rest = head.dropFirst(word.utf8.count)
        return rest.first == UInt8(ascii: "\n") || rest.starts(with: "\r\n".utf8)
    }

    /// The keys of a JSON object document's top level, found by scanning (nothing is built), or nil when
    /// the data does not start with `{`. A truncated document yields the keys seen before its end.
    static func jsonTopLevelKeys(_ data: Data) -> Set<String>? {
        guard let first = data.first(where: { !" \t\r\n".utf8.contains($0) }), first == UInt8(ascii: "{") else { return nil }
        var keys = Set<String>()
        var depth = 0, inString = false, escaped = false
        var stringStart = 0, beforeString: UInt8 = 0, lastSignificant: UInt8 = 0
        for (i, b) in data.enumerated() {
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true }
                else if b == UInt8(ascii: "\"") {
                    inString = false
                    if depth == 1, beforeString == UInt8(ascii: "{") || beforeString == UInt8(ascii: ",") {
                        keys.insert(String(decoding: data.dropFirst(stringStart).prefix(i - stringStart), as: UTF8.self))
                    }
                    lastSignificant = b
                }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true; stringStart = i + 1; beforeString = lastSignificant
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return keys }
            default: break
            }
            if !" \t\r\n".utf8.contains(b) { lastSignificant = b }
        }
        return keys
    }
}
