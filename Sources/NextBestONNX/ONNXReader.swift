import Foundation
import NextBestCore
import SwiftProtobuf

/// Reads an ONNX-ML binary classifier (`--format onnx`) into a model kind nextbest evaluates with its own
/// arithmetic: a `DecisionForest` (`TreeEnsembleClassifier`, or `TreeEnsembleRegressor` then `Sigmoid`)
/// or a `LogisticModel` (`LinearClassifier`).
///
/// Accepted graphs are those skl2onnx and onnxmltools write: float inputs (one per feature, `[N, 1]`, named
/// as the features; or one `[N, k]` tensor, whose features `--feature-names` names), then
/// `FeatureVectorizer`/`Concat`, `Cast` to float, `Identity`, `Gather`/`ArrayFeatureExtractor`/`Reshape`,
/// `Imputer` (NaN replaced) and `Scaler` steps, `OneHotEncoder` on string or int64 inputs (in front of tree
/// ensembles), `Normalizer` (in front of a `LinearClassifier`), then the one model node, then outputs nextbest ignores (`ZipMap`, `Cast`, `Identity`, `Mul` by
/// the constant 1) or the regressor's `Sigmoid`. The propensity is the probability of the second class
/// label. Any other operator, comparison mode or post transform is refused, naming it and the node.
/// docs/models.md ("ONNX") gives the arithmetic.
public enum ONNXReader {
    /// The most graph nodes a model may have (a cap against damaged files).
    public static let maxGraphNodes = 10_000

    /// Parses a serialized `ModelProto`. `featureNames`, when given, replace the inputs' names (and are
    /// required when an input carries more than one feature); they must be as many as the features.
    public static func read(_ data: Data, featureNames: [String]? = nil) throws(ModelError) -> PropensityModel.Kind {
        let model: Onnx_ModelProto
        do { model = try Onnx_ModelProto(serializedBytes: data) }
        catch { throw .malformed(path: "$", reason: "not a valid ONNX model: protobuf decoding failed (\(error)); is the file truncated or damaged?") }
        guard model.hasGraph, !model.graph.node.isEmpty else {
            throw .malformed(path: "graph", reason: "the ONNX model has no graph nodes (not an ONNX model, or a damaged one)")
        }
        guard model.graph.node.count <= maxGraphNodes else {
            throw .invalid("the ONNX graph has \(model.graph.node.count) nodes; at most \(maxGraphNodes) are accepted")
        }
        var walk = try GraphWalk(model.graph, featureNames: featureNames)
        let found = try walk.run()
        switch found.node.opType {
        case "LinearClassifier":
            return .logistic(try ONNXLinear.read(found.node, place: found.place, columns: found.columns, features: walk.features,
                                                 normalizers: walk.normalizers))
        default:
            if let c = found.columns.first(where: { $0.normalizer != nil }) {
                throw .unsupported("\(found.place) reads the output of \(walk.normalizers[c.normalizer!].place): nextbest evaluates a Normalizer in front of a LinearClassifier only, not in front of a tree ensemble")
            }
            return .forest(try ONNXTrees.read(found.node, place: found.place, columns: found.columns, features: walk.features,
                                              regressor: found.node.opType == "TreeEnsembleRegressor"))
        }
    }
}

/// One column of a float vector on the way to the model node: a model feature and the element-wise steps
/// (imputation, scaling) applied to it so far, in order. A `OneHotEncoder` column is 1 when its feature's
/// category is `oneHot`, else 0 (then the steps apply to that 0 or 1); a `Normalizer` column is divided by
/// the norm of the normalizer's inputs (`normalizer`, an index into `GraphWalk.normalizers`).
struct Column: Sendable, Equatable {
    enum Step: Sendable, Equatable {
        /// `Imputer`: NaN becomes the value.
        case impute(Float)
        /// `Scaler`: `(x - offset) * scale` in Float32.
        case scale(offset: Float, scale: Float)
    }

    /// The category a one-hot column stands for: `code` is its position in the encoder's `cats_strings`
    /// (`names`), or the integer category itself for `cats_int64s` (`names` nil).
    struct OneHot: Sendable, Equatable {
        var code: Int64
        var names: [String]?
    }

    var feature: Int
    var steps: [Step] = []
    var oneHot: OneHot? = nil
    var normalizer: Int? = nil

    /// The column's value for the Float32 feature `x`, computed as onnxruntime does (Float32 arithmetic).
    /// For a one-hot column `x` is the encoder's output, 0 or 1.
    func apply(_ x: Float) -> Float {
        var y = x
        for s in steps {
            switch s {
            case .impute(let m): if y.isNaN { y = m }
            case .scale(let o, let c): y = (y - o) * c
            }
        }
        return y
    }
}

/// A `Normalizer` node: the norm (`MAX`, `L1`, `L2`) and the columns it normalizes together.
struct NormalizerNode: Sendable {
    var norm: LogisticModel.Normalization.Norm
    var columns: [Column]
    var place: String
}

/// The model node found by `GraphWalk`, its place in the graph and the columns of its input.
struct ModelNode {
    var node: Onnx_NodeProto
    var place: String
    var columns: [Column]
}
