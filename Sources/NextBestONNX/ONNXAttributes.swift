import Foundation
import NextBestCore

/// A node's attributes by name, with typed reads whose errors name the node and the attribute.
struct ONNXAttributes {
    let byName: [String: Onnx_AttributeProto]
    let place: String

    init(_ node: Onnx_NodeProto, place: String) throws(ModelError) {
        var byName: [String: Onnx_AttributeProto] = [:]
        for a in node.attribute {
            guard byName.updateValue(a, forKey: a.name) == nil else { throw .malformed(path: place, reason: "attribute \(Quoted.text(a.name)) is given twice") }
        }
        self.byName = byName
        self.place = place
    }

    /// The node's domain with the default domain spelled `ai.onnx`.
    static func domain(_ node: Onnx_NodeProto) -> String { node.domain.isEmpty ? "ai.onnx" : node.domain }

    /// A `TensorProto.DataType` code's name, for messages.
    static func typeName(_ code: Int32) -> String {
        let names: [Int32: String] = [1: "float", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 8: "string",
                                      9: "bool", 10: "float16", 11: "double", 12: "uint32", 13: "uint64"]
        return names[code].map { "\($0) (\(code))" } ?? "type \(code)"
    }

    /// Refuses an attribute not in `known`, naming it (an attribute nextbest does not read could change
    /// the model's meaning).
    func only(_ known: Set<String>) throws(ModelError) {
        if let a = byName.keys.sorted().first(where: { !known.contains($0) }) {
            throw .unsupported("\(place) has attribute \(Quoted.text(a)), which nextbest does not read")
        }
    }

    func has(_ name: String) -> Bool { byName[name] != nil }
    func int(_ name: String) -> Int64? { byName[name].map(\.i) }
    func float(_ name: String) -> Float? { byName[name].map(\.f) }
    func string(_ name: String) -> String? { byName[name].map { String(decoding: $0.s, as: UTF8.self) } }
    func ints(_ name: String) -> [Int64] { byName[name]?.ints ?? [] }
    func floats(_ name: String) -> [Float] { byName[name]?.floats ?? [] }
    func strings(_ name: String) -> [String] { (byName[name]?.strings ?? []).map { String(decoding: $0, as: UTF8.self) } }

    /// A list attribute that must be present with exactly `count` elements.
    func required<T>(_ name: String, _ values: [T], count: Int? = nil) throws(ModelError) -> [T] {
        guard has(name) else { throw .malformed(path: "\(place).\(name)", reason: "missing") }
        if let count, values.count != count {
            throw .malformed(path: "\(place).\(name)", reason: "has \(values.count) values; expected \(count)")
        }
        return values
    }

    /// A float list of one value per column, or one value for every column.
    func perColumn(_ name: String, count: Int) throws(ModelError) -> [Float] {
        let v = try required(name, floats(name))
        if v.count == 1 { return Array(repeating: v[0], count: count) }
        guard v.count == count else {
            throw .malformed(path: "\(place).\(name)", reason: "has \(v.count) values for \(count) features")
        }
        return v
    }
}
