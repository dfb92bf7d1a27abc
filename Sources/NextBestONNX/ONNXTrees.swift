import Foundation
import NextBestCore

/// `TreeEnsembleClassifier` (binary) and `TreeEnsembleRegressor` (then `Sigmoid`) as a `DecisionForest`
/// in onnxruntime's arithmetic: Float32 thresholds compared with the Float32 feature, the comparison
/// modes LEQ/LT/GTE/GT turned into `<=` on the right side, EQ/NEQ and one-hot columns into category splits, NaN to the true branch when
/// `missing_value_tracks_true`, else to the false one; leaf weights per class, the base value last.
enum ONNXTrees {
    static let nodeAttributes: Set<String> = [
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values", "nodes_truenodeids",
        "nodes_falsenodeids", "nodes_missing_value_tracks_true", "nodes_hitrates", "base_values", "post_transform",
    ]
    static let classifierAttributes = nodeAttributes.union([
        "class_treeids", "class_nodeids", "class_ids", "class_weights", "classlabels_int64s", "classlabels_strings",
    ])
    static let regressorAttributes = nodeAttributes.union([
        "target_treeids", "target_nodeids", "target_ids", "target_weights", "n_targets", "aggregate_function",
    ])

    /// A node's place: tree id and node id.
    struct Key: Hashable { var tree: Int64; var node: Int64 }

    /// The leaf outputs (per leaf, its weights for the class read, summed in Float32), the base value and
    /// the link.
    struct Leaves {
        var values: [Key: Float]
        var base: Float
        var arithmetic: DecisionForest.Arithmetic
    }

    static func read(_ node: Onnx_NodeProto, place: String, columns: [Column], features: [String],
                     regressor: Bool) throws(ModelError) -> DecisionForest {
        let a = try ONNXAttributes(node, place: place)
        try a.only(regressor ? regressorAttributes : classifierAttributes)
        let table = try NodeTable(a)
        let leaves = regressor ? try regressorLeaves(a) : try classifierLeaves(a)
        var out: [DecisionForest.Node] = []
        var roots: [Int32] = []
        var categories = NodeTable.Categories()
        try table.flatten(leaves: leaves.values, columns: columns, into: &out, roots: &roots, categories: &categories)
        if leaves.base != 0 {
            roots.append(Int32(out.count))
            out.append(.leaf(Double(leaves.base)))
        }
        let sets = categories.words.isEmpty
        let forest = try DecisionForest(arithmetic: leaves.arithmetic, features: features, nodes: out, roots: roots,
                                        categoryBounds: sets ? [] : categories.bounds, categoryWords: categories.words,
                                        sigmoid: 1, averageOutput: false)
        if categories.names.isEmpty { return forest }
        return try forest.withCategoryNames(features.indices.map { categories.names[$0] ?? [] })
    }

    /// Sums the weights of class (or target) `wanted` per leaf, in Float32 and attribute order.
    static func sums(_ a: ONNXAttributes, prefix: String, idName: String, wanted: Int64) throws(ModelError) -> [Key: Float] {
        let weights = try a.required("\(prefix)_weights", a.floats("\(prefix)_weights"))
        let n = weights.count
        let trees = try a.required("\(prefix)_treeids", a.ints("\(prefix)_treeids"), count: n)
        let nodes = try a.required("\(prefix)_nodeids", a.ints("\(prefix)_nodeids"), count: n)
        let ids = try a.required(idName, a.ints(idName), count: n)
        var out: [Key: Float] = [:]
        for i in 0..<n where ids[i] == wanted { out[Key(tree: trees[i], node: nodes[i]), default: 0] += weights[i] }
        return out
    }

    /// onnxruntime's binary classifier: with weights for class 0 only, the class score is their sum plus
    /// the one base value, read as the second class's probability (`NONE`, non-negative weights) or margin
    /// (`LOGISTIC`, mixed signs); with class-1 weights, their sum (a base value then applies to class 0).
    static func classifierLeaves(_ a: ONNXAttributes) throws(ModelError) -> Leaves {
        let labels = max(a.ints("classlabels_int64s").count, a.strings("classlabels_strings").count)
        guard labels == 2 else {
            throw .unsupported("\(a.place) has \(labels) class labels; nextbest reads binary classifiers (two labels), the propensity being the second's probability")
        }
        let ids = Set(a.ints("class_ids"))
        guard ids.isSubset(of: [0, 1]), !ids.isEmpty else {
            throw .malformed(path: "\(a.place).class_ids", reason: "class ids \(ids.sorted()) are not among the two classes")
        }
        let base = a.floats("base_values")
        guard base.count <= 1 else {
            throw .unsupported("\(a.place) has \(base.count) base_values; nextbest reads none or one (onnxruntime's reading of two is not settled)")
        }
        let transform = a.string("post_transform") ?? "NONE"
        guard transform == "NONE" || transform == "LOGISTIC" else {
            throw .unsupported("\(a.place) has post_transform \(transform); nextbest reads NONE (probabilities) or LOGISTIC")
        }
        let cls: Int64 = ids.contains(1) ? 1 : 0
        if cls == 0 {
            let allPositive = a.floats("class_weights").allSatisfy { $0 >= 0 }
            guard allPositive == (transform == "NONE") else {
                throw .unsupported("\(a.place) has post_transform \(transform) with \(allPositive ? "only non-negative" : "negative") weights for one class; onnxruntime then reads the score as \(allPositive ? "a probability" : "a margin"), which nextbest does not follow")
            }
        }
        return Leaves(values: try sums(a, prefix: "class", idName: "class_ids", wanted: cls),
                      base: cls == 0 ? (base.first ?? 0) : 0, arithmetic: transform == "LOGISTIC" ? .onnx : .onnxProbability)
    }

    /// One target summed (`SUM`), no post transform, one base value at most: the margin of the `Sigmoid`.
    static func regressorLeaves(_ a: ONNXAttributes) throws(ModelError) -> Leaves {
        guard (a.int("n_targets") ?? 1) == 1, a.ints("target_ids").allSatisfy({ $0 == 0 }) else {
            throw .unsupported("\(a.place) has \(a.int("n_targets") ?? 1) targets; nextbest reads one")
        }
        let aggregate = a.string("aggregate_function") ?? "SUM"
        guard aggregate == "SUM" else { throw .unsupported("\(a.place) has aggregate_function \(aggregate); nextbest reads SUM") }
        let transform = a.string("post_transform") ?? "NONE"
        guard transform == "NONE" else { throw .unsupported("\(a.place) has post_transform \(transform); nextbest reads a regressor with NONE, then Sigmoid") }
        let base = a.floats("base_values")
        guard base.count <= 1 else { throw .unsupported("\(a.place) has \(base.count) base_values for one target") }
        return Leaves(values: try sums(a, prefix: "target", idName: "target_ids", wanted: 0), base: base.first ?? 0, arithmetic: .onnx)
    }
}
