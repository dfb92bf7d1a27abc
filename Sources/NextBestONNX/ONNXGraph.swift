import Foundation
import NextBestCore

/// Follows an ONNX graph from its inputs to its one model node, tracking each float vector as columns of
/// model features (`Column`), and checks the nodes after the model.
struct GraphWalk {
    static let modelOps: Set<String> = ["TreeEnsembleClassifier", "TreeEnsembleRegressor", "LinearClassifier"]
    /// The operators accepted before the model node.
    static let steps: Set<String> = ["ai.onnx.ml:FeatureVectorizer", "ai.onnx:Concat", "ai.onnx:Identity", "ai.onnx:Cast",
                                     "ai.onnx.ml:Imputer", "ai.onnx.ml:Scaler", "ai.onnx.ml:Normalizer", "ai.onnx.ml:OneHotEncoder",
                                     "ai.onnx:Gather", "ai.onnx.ml:ArrayFeatureExtractor", "ai.onnx:Reshape", "ai.onnx:Flatten"]
    static let accepted = "FeatureVectorizer, Concat, Cast, Identity, Gather, ArrayFeatureExtractor, Reshape, Flatten, Imputer, Scaler, OneHotEncoder (before trees), Normalizer (before a LinearClassifier), then TreeEnsembleClassifier, TreeEnsembleRegressor + Sigmoid or LinearClassifier, then ZipMap, Cast, Identity or Mul by 1"

    /// A column of a string or int64 input (a categorical feature), before a `OneHotEncoder`.
    struct RawColumn: Sendable, Equatable {
        var feature: Int
        var text: Bool
    }

    let graph: Onnx_GraphProto
    /// Model features, in input order.
    private(set) var features: [String] = []
    /// Float vectors before the model node, by tensor name.
    private var vectors: [String: [Column]] = [:]
    /// String and int64 vectors (categorical features) before their `OneHotEncoder`, by tensor name.
    private var raw: [String: [RawColumn]] = [:]
    /// The graph's `Normalizer` nodes, in order (`Column.normalizer` indexes this list).
    private(set) var normalizers: [NormalizerNode] = []
    /// Tensors computed from the model node's outputs.
    private var derived: Set<String> = []
    private var constants: [String: Onnx_TensorProto] = [:]

    init(_ graph: Onnx_GraphProto, featureNames: [String]?) throws(ModelError) {
        self.graph = graph
        for t in graph.initializer { constants[t.name] = t }
        var unnamed = false
        for (i, input) in graph.input.enumerated() where constants[input.name] == nil {
            let (width, type) = try Self.width(of: input, place: "graph.input[\(i)]")
            for j in 0..<width {
                if type == 1 {
                    vectors[input.name, default: []].append(Column(feature: features.count))
                } else {
                    raw[input.name, default: []].append(RawColumn(feature: features.count, text: type == 8))
                }
                features.append(width == 1 ? input.name : "\(input.name)[\(j)]")
            }
            unnamed = unnamed || width > 1
        }
        guard !features.isEmpty else { throw .malformed(path: "graph.input", reason: "the ONNX graph has no inputs") }
        if let names = featureNames {
            guard names.count == features.count else {
                throw .invalid("--feature-names gives \(names.count) names, the ONNX model has \(features.count) features (inputs: \(graph.input.map(\.name).prefix(8).joined(separator: ",")))")
            }
            features = names
        } else if unnamed {
            throw .invalid("the ONNX model takes its \(features.count) features as one tensor (input \(Quoted.text(graph.input.first { constants[$0.name] == nil }?.name ?? ""))) and so carries no feature names: name them in training order with --feature-names (\(features.count) names)")
        }
    }

    /// The number of features of a `[N, k]` input and its element type: float (1), or int64 (7) and string
    /// (8) for categorical features (read by a `OneHotEncoder`).
    static func width(of input: Onnx_ValueInfoProto, place: String) throws(ModelError) -> (Int, Int32) {
        let name = "input \(Quoted.text(input.name)) (\(place))"
        guard case .tensorType(let t)? = input.type.value else { throw .unsupported("\(name) is not a tensor") }
        guard [1, 7, 8].contains(t.elemType) else {
            throw .unsupported("\(name) has element type \(ONNXAttributes.typeName(t.elemType)); nextbest reads float inputs (convert with FloatTensorType), and string or int64 inputs for a OneHotEncoder")
        }
        let dims = t.shape.dim
        guard dims.count == 2 else { throw .unsupported("\(name) has \(dims.count) dimensions; nextbest reads [N, features] inputs") }
        guard case .dimValue(let k)? = dims[1].value, k >= 1, k <= 100_000 else {
            throw .unsupported("\(name) does not state its number of features (second dimension)")
        }
        return (Int(k), t.elemType)
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
        guard node.output.count == 1, !node.input.isEmpty else { throw .unsupported("\(place) (\(op)): expected one output and at least one input") }
        if let r = raw[node.input[0]] {
            raw[node.output[0]] = nil
            vectors[node.output[0]] = nil
            switch op {
            case "ai.onnx.ml:OneHotEncoder":
                guard node.input.count == 1 else { throw .unsupported("\(place) has \(node.input.count) inputs; expected one") }
                vectors[node.output[0]] = try Self.oneHot(r, attrs, place)
            case "ai.onnx:Identity", "ai.onnx:Reshape", "ai.onnx:Flatten":
                raw[node.output[0]] = r
            case "ai.onnx:Gather", "ai.onnx.ml:ArrayFeatureExtractor":
                raw[node.output[0]] = try select(r, node, attrs, place, op: op)
            default:
                throw .unsupported("\(place): operator \(op) on a string or int64 input is not one nextbest evaluates (accepted there: Gather, ArrayFeatureExtractor, Identity, Reshape, then OneHotEncoder)")
            }
            return
        }
        if op == "ai.onnx:Gather" || op == "ai.onnx.ml:ArrayFeatureExtractor" || op == "ai.onnx:Reshape" || op == "ai.onnx:Flatten" {
            guard let v = vectors[node.input[0]] else {
                throw .unsupported("\(place) reads \(Quoted.text(node.input[0])), which is not a vector of the graph's inputs")
            }
            vectors[node.output[0]] = op == "ai.onnx:Reshape" || op == "ai.onnx:Flatten" ? try reshape(v, node, place) : try select(v, node, attrs, place, op: op)
            return
        }
        var inputs: [[Column]] = []
        for name in node.input {
            guard let v = vectors[name] else { throw .unsupported("\(place) reads \(Quoted.text(name)), which is not a float vector of the graph's inputs") }
            inputs.append(v)
        }
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
        case "ai.onnx.ml:Normalizer":
            out = try normalize(try Self.single(inputs, place), attrs, place)
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
        try Self.notNormalized(columns, place)
        let values = try attrs.perColumn("imputed_value_floats", count: columns.count)
        return zip(columns, values).map { c, v in var c = c; c.steps.append(.impute(v)); return c }
    }

    /// `Scaler`: `(x - offset) * scale` per column, finite offsets and finite non-zero scales.
    static func scale(_ columns: [Column], _ attrs: ONNXAttributes, _ place: String) throws(ModelError) -> [Column] {
        try attrs.only(["offset", "scale"])
        try Self.notNormalized(columns, place)
        let offsets = try attrs.perColumn("offset", count: columns.count)
        let scales = try attrs.perColumn("scale", count: columns.count)
        guard offsets.allSatisfy(\.isFinite), scales.allSatisfy({ $0.isFinite && $0 != 0 }) else {
            throw .unsupported("\(place) has a non-finite offset or a zero or non-finite scale")
        }
        return columns.indices.map { j in
            var c = columns[j]; c.steps.append(.scale(offset: offsets[j], scale: scales[j])); return c
        }
    }

    /// Refuses a step after a `Normalizer` (nextbest folds a normalizer into the linear model that reads it).
    static func notNormalized(_ columns: [Column], _ place: String) throws(ModelError) {
        if columns.contains(where: { $0.normalizer != nil }) {
            throw .unsupported("\(place) reads a Normalizer's output; nextbest evaluates a Normalizer directly in front of a LinearClassifier")
        }
    }

    /// `Normalizer`: each column divided by the norm of all of them (`MAX`: the largest magnitude, `L1`: the
    /// sum of magnitudes, `L2`: the square root of the sum of squares; at least 1e-30, as onnx's reference
    /// defines them). Its inputs may be scaled features, not imputed or one-hot ones.
    private mutating func normalize(_ columns: [Column], _ attrs: ONNXAttributes, _ place: String) throws(ModelError) -> [Column] {
        try attrs.only(["norm"])
        let name = attrs.string("norm") ?? "MAX"
        guard let norm = LogisticModel.Normalization.Norm(rawValue: name) else {
            throw .unsupported("\(place) has norm \(Quoted.text(name)); nextbest evaluates MAX, L1 and L2")
        }
        try Self.notNormalized(columns, place)
        if columns.contains(where: { $0.oneHot != nil || $0.steps.contains { if case .impute = $0 { return true } else { return false } } }) {
            throw .unsupported("\(place) normalizes imputed or one-hot columns; nextbest's Normalizer reads features, scaled or not")
        }
        normalizers.append(NormalizerNode(norm: norm, columns: columns, place: place))
        return columns.map { var c = $0; c.normalizer = normalizers.count - 1; return c }
    }

    /// `OneHotEncoder` on string (`cats_strings`) or int64 (`cats_int64s`) columns: for each input column,
    /// one column per category, 1 when the feature is that category and 0 otherwise (an unknown or
    /// missing category gives zeros, as with `zeros=1`).
    static func oneHot(_ columns: [RawColumn], _ attrs: ONNXAttributes, _ place: String) throws(ModelError) -> [Column] {
        try attrs.only(["cats_strings", "cats_int64s", "zeros"])
        let strings = attrs.strings("cats_strings"), ints = attrs.ints("cats_int64s")
        guard strings.isEmpty != ints.isEmpty else {
            throw .malformed(path: "\(place)", reason: "a OneHotEncoder needs exactly one of cats_strings and cats_int64s")
        }
        var out: [Column] = []
        for c in columns {
            guard c.text == !strings.isEmpty else {
                throw .unsupported("\(place) has \(c.text ? "integer" : "string") categories for a \(c.text ? "string" : "int64") input")
            }
            if c.text {
                if Set(strings).count != strings.count { throw .malformed(path: "\(place).cats_strings", reason: "a category is listed twice") }
                if strings.contains("") {
                    throw .unsupported("\(place) has the empty string as a category; nextbest reads an empty cell as a missing value")
                }
                for j in strings.indices { out.append(Column(feature: c.feature, oneHot: .init(code: Int64(j), names: strings))) }
            } else {
                for v in ints {
                    guard v >= 0, v < Split.maxCode else {
                        throw .unsupported("\(place) has the integer category \(v); nextbest reads integer categories 0 to \(Split.maxCode - 1)")
                    }
                    out.append(Column(feature: c.feature, oneHot: .init(code: v, names: nil)))
                }
            }
        }
        return out
    }

    /// `Gather` on axis 1 or `ArrayFeatureExtractor` with constant indices: the columns picked.
    private func select<T>(_ columns: [T], _ node: Onnx_NodeProto, _ attrs: ONNXAttributes, _ place: String, op: String) throws(ModelError) -> [T] {
        if op == "ai.onnx:Gather" {
            let axis = attrs.int("axis") ?? 0
            guard axis == 1 || axis == -1 else { throw .unsupported("\(place) gathers on axis \(axis); nextbest reads a selection of columns (axis 1)") }
        }
        guard node.input.count == 2, let indices = constantInts(node.input[1]) else {
            throw .unsupported("\(place) selects columns with indices that are not a constant int64 tensor")
        }
        var out: [T] = []
        for i in indices {
            let j = i < 0 ? i + Int64(columns.count) : i
            guard j >= 0, j < columns.count else { throw .malformed(path: place, reason: "column index \(i) of a \(columns.count)-column input") }
            out.append(columns[Int(j)])
        }
        return out
    }

    /// `Reshape` to `[N, k]` (k the number of columns, or -1) or `Flatten`: the columns unchanged, in order.
    private func reshape(_ columns: [Column], _ node: Onnx_NodeProto, _ place: String) throws(ModelError) -> [Column] {
        if node.opType == "Flatten" { return columns }
        guard node.input.count == 2, let shape = constantInts(node.input[1]), shape.count == 2,
              shape[1] == Int64(columns.count) || (shape[1] == -1 && shape[0] != -1) else {
            throw .unsupported("\(place) reshapes to something other than [N, \(columns.count)]")
        }
        return columns
    }

    /// The values of a constant int64 tensor (an initializer), or nil.
    private func constantInts(_ name: String) -> [Int64]? {
        guard let t = constants[name], t.dataType == 7 else { return nil }
        if !t.int64Data.isEmpty { return t.int64Data }
        guard t.rawData.count % 8 == 0 else { return nil }
        return (0..<(t.rawData.count / 8)).map { i in
            t.rawData.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)) }
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
