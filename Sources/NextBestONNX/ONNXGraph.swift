import Foundation
import NextBestCore

/// Follows an ONNX graph from its inputs to its one model node, tracking each float vector as columns of
/// model features (`Column`), and checks the nodes after the model.
struct GraphWalk {
    static let modelOps: Set<String> = ["TreeEnsembleClassifier", "TreeEnsembleRegressor", "LinearClassifier"]
    /// The operators accepted before the model node.
    static let steps: Set<String> = ["ai.onnx.ml:FeatureVectorizer", "ai.onnx:Concat", "ai.onnx:Identity", "ai.onnx:Cast",
                                     "ai.onnx.ml:Imputer", "ai.onnx.ml:Scaler"]
    static let accepted = "FeatureVectorizer, Concat, Cast, Identity, Imputer, Scaler, then TreeEnsembleClassifier, TreeEnsembleRegressor + Sigmoid or LinearClassifier, then ZipMap, Cast, Identity or Mul by 1"

    let graph: Onnx_GraphProto
    /// Model features, in input order.
    private(set) var features: [String] = []
    /// Float vectors before the model node, by tensor name.
    private var vectors: [String: [Column]] = [:]
    /// Tensors computed from the model node's outputs.
    private var derived: Set<String> = []
    private var constants: [String: Onnx_TensorProto] = [:]

    init(_ graph: Onnx_GraphProto, featureNames: [String]?) throws(ModelError) {
        self.graph = graph
        for t in graph.initializer { constants[t.name] = t }
        var unnamed = false
        for (i, input) in graph.input.enumerated() where constants[input.name] == nil {
            let width = try Self.width(of: input, place: "graph.input[\(i)]")
            for j in 0..<width {
                vectors[input.name, default: []].append(Column(feature: features.count))
                features.append(width == 1 ? input.name : "\(input.name)[\(j)]")
            }
            unnamed = unnamed || width > 1
        }
        guard !features.isEmpty else { throw .malformed(path: "graph.input", reason: "the ONNX graph has no float inputs") }
        if let names = featureNames {
            guard names.count == features.count else {
                throw .invalid("--feature-names gives \(names.count) names, the ONNX model has \(features.count) features (inputs: \(graph.input.map(\.name).prefix(8).joined(separator: ",")))")
            }
            features = names
        } else if unnamed {
            throw .invalid("the ONNX model takes its \(features.count) features as one tensor (input \(Quoted.text(graph.input.first { constants[$0.name] == nil }?.name ?? ""))) and so carries no feature names: name them in training order with --feature-names (\(features.count) names)")
        }
    }

    /// The number of features of a `[N, k]` float input.
    static func width(of input: Onnx_ValueInfoProto, place: String) throws(ModelError) -> Int {
        let name = "input \(Quoted.text(input.name)) (\(place))"
        guard case .tensorType(let t)? = input.type.value else { throw .unsupported("\(name) is not a tensor") }
        guard t.elemType == 1 else {
            throw .unsupported("\(name) has element type \(ONNXAttributes.typeName(t.elemType)); nextbest reads float inputs only (convert with FloatTensorType)")
        }
        let dims = t.shape.dim
        guard dims.count == 2 else { throw .unsupported("\(name) has \(dims.count) dimensions; nextbest reads [N, features] inputs") }
        guard case .dimValue(let k)? = dims[1].value, k >= 1, k <= 100_000 else {
            throw .unsupported("\(name) does not state its number of features (second dimension)")
        }
        return Int(k)
    }

    /// Walks the nodes in order (ONNX graphs are topologically sorted) and returns the model node.
    mutating func run() throws(ModelError) -> ModelNode {
        var model: ModelNode?
        var sigmoid = false
        for (i, node) in graph.node.enumerated() {
            let place = "graph.node[\(i)] \(node.opType) \(Quoted.text(node.name))"
            if let m = model {
                try after(node, place: place, model: m, sigmoid: &sigmoid)
            } else if Self.modelOps.contains(node.opType), ONNXAttributes.domain(node) == "ai.onnx.ml" {
                guard node.input.count == 1, let columns = vectors[node.input[0]] else {
                    throw .unsupported("\(place) does not read one float vector of the graph's inputs")
                }
                model = ModelNode(node: node, place: place, columns: columns)
                derived.formUnion(node.output)
            } else {
                try before(node, place: place)
            }
        }
        guard let model else { throw .unsupported("the ONNX graph has no TreeEnsembleClassifier, TreeEnsembleRegressor or LinearClassifier node (accepted: \(Self.accepted))") }
        if model.node.opType == "TreeEnsembleRegressor", !sigmoid {
            throw .unsupported("\(model.place): a regressor's output is not a propensity; nextbest reads a TreeEnsembleRegressor followed by Sigmoid")
        }
        return model
    }

    /// A node before the model: a step on float vectors.
    private mutating func before(_ node: Onnx_NodeProto, place: String) throws(ModelError) {
        let op = "\(ONNXAttributes.domain(node)):\(node.opType)"
        guard Self.steps.contains(op) else {
            throw .unsupported("\(place): operator \(op) is not one nextbest evaluates (accepted: \(Self.accepted))")
        }
        let attrs = try ONNXAttributes(node, place: place)
        var inputs: [[Column]] = []
        for name in node.input {
            guard let v = vectors[name] else { throw .unsupported("\(place) reads \(Quoted.text(name)), which is not a float vector of the graph's inputs") }
            inputs.append(v)
        }
        guard node.output.count == 1, !inputs.isEmpty else { throw .unsupported("\(place) (\(op)): expected one output and at least one input") }
        let out: [Column]
        switch op {
        case "ai.onnx.ml:FeatureVectorizer", "ai.onnx:Concat":
            if op == "ai.onnx:Concat", let axis = attrs.int("axis"), axis != 1, axis != -1 {
                throw .unsupported("\(place) concatenates on axis \(axis); nextbest reads feature vectors joined on axis 1")
            }
            out = inputs.flatMap { $0 }
        case "ai.onnx:Identity": out = try Self.single(inputs, place)
        case "ai.onnx:Cast":
            guard attrs.int("to") == 1 else {
                throw .unsupported("\(place) casts the features to \(ONNXAttributes.typeName(Int32(truncatingIfNeeded: attrs.int("to") ?? 0))); nextbest evaluates float features")
            }
            out = try Self.single(inputs, place)
        case "ai.onnx.ml:Imputer": out = try Self.impute(try Self.single(inputs, place), attrs, place)
        case "ai.onnx.ml:Scaler": out = try Self.scale(try Self.single(inputs, place), attrs, place)
        default:
            throw .unsupported("\(place): operator \(op) is not one nextbest evaluates (accepted: \(Self.accepted))")
        }
        vectors[node.output[0]] = out
    }

    private static func single(_ inputs: [[Column]], _ place: String) throws(ModelError) -> [Column] {
        guard inputs.count == 1 else { throw .unsupported("\(place) has \(inputs.count) inputs; expected one") }
        return inputs[0]
    }

    /// `Imputer` with NaN as the replaced value and one imputed float per column (or one for all).
    static func impute(_ columns: [Column], _ attrs: ONNXAttributes, _ place: String) throws(ModelError) -> [Column] {
        try attrs.only(["imputed_value_floats", "replaced_value_float"])
        guard let r = attrs.float("replaced_value_float"), r.isNaN else {
            throw .unsupported("\(place) replaces \(attrs.float("replaced_value_float").map { "\($0)" } ?? "0 (the default)"); nextbest reads Imputers that replace NaN")
        }
        let values = try attrs.perColumn("imputed_value_floats", count: columns.count)
        return zip(columns, values).map { c, v in var c = c; c.steps.append(.impute(v)); return c }
    }

    /// `Scaler`: `(x - offset) * scale` per column, finite offsets and finite non-zero scales.
    static func scale(_ columns: [Column], _ attrs: ONNXAttributes, _ place: String) throws(ModelError) -> [Column] {
        try attrs.only(["offset", "scale"])
        let offsets = try attrs.perColumn("offset", count: columns.count)
        let scales = try attrs.perColumn("scale", count: columns.count)
        guard offsets.allSatisfy(\.isFinite), scales.allSatisfy({ $0.isFinite && $0 != 0 }) else {
            throw .unsupported("\(place) has a non-finite offset or a zero or non-finite scale")
        }
        return columns.indices.map { j in
            var c = columns[j]; c.steps.append(.scale(offset: offsets[j], scale: scales[j])); return c
        }
    }

    /// A node after the model: outputs nextbest ignores, or the regressor's `Sigmoid`.
    private mutating func after(_ node: Onnx_NodeProto, place: String, model: ModelNode, sigmoid: inout Bool) throws(ModelError) {
        let op = "\(ONNXAttributes.domain(node)):\(node.opType)"
        let fromModel = node.input.contains { derived.contains($0) }
        switch op {
        case "ai.onnx.ml:ZipMap", "ai.onnx:Cast", "ai.onnx:Identity": break
        case "ai.onnx:Sigmoid" where model.node.opType == "TreeEnsembleRegressor" && fromModel && !sigmoid:
            sigmoid = true
        case "ai.onnx:Mul" where node.input.count == 2 && node.input.contains { isOne($0) }: break
        default:
            throw .unsupported("\(place): operator \(op) after the model node is not one nextbest evaluates (accepted: \(Self.accepted))")
        }
        if fromModel { derived.formUnion(node.output) }
    }

    /// Whether `name` is a constant holding the single float 1.
    private func isOne(_ name: String) -> Bool {
        guard let t = constants[name], t.dataType == 1, t.dims.allSatisfy({ $0 == 1 }) else { return false }
        if t.floatData.count == 1 { return t.floatData[0] == 1 }
        guard t.rawData.count == 4 else { return false }
        let bits = t.rawData.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        return Float(bitPattern: bits) == 1
    }
}
