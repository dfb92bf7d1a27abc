import Foundation
import NextBestCore

/// `LinearClassifier` (binary, two coefficient rows, logistic post transform) as a `LogisticModel`: the
/// propensity is `1 / (1 + exp(-(intercept₁ + Σ coefficient₁ⱼ · xⱼ)))`, with the `Scaler` steps in front
/// folded into the coefficients and intercept in Double. Columns of a `Normalizer` become the model's
/// normalized term (`LogisticModel.Normalization`), over every column the normalizer reads.
enum ONNXLinear {
    static func read(_ node: Onnx_NodeProto, place: String, columns: [Column], features: [String],
                     normalizers: [NormalizerNode] = []) throws(ModelError) -> LogisticModel {
        let a = try ONNXAttributes(node, place: place)
        try a.only(["coefficients", "intercepts", "classlabels_ints", "classlabels_strings", "multi_class", "post_transform"])
        let labels = max(a.ints("classlabels_ints").count, a.strings("classlabels_strings").count)
        guard labels == 2 else {
            throw .unsupported("\(place) has \(labels) class labels; nextbest reads binary classifiers (two labels), the propensity being the second's probability")
        }
        guard (a.int("multi_class") ?? 0) == 0 else { throw .unsupported("\(place) has multi_class \(a.int("multi_class")!); nextbest reads multi_class 0") }
        let transform = a.string("post_transform") ?? "NONE"
        guard transform == "LOGISTIC" else {
            throw .unsupported("\(place) has post_transform \(transform); nextbest reads a LinearClassifier with post_transform LOGISTIC")
        }
        let intercepts = try a.required("intercepts", a.floats("intercepts"))
        guard intercepts.count == 2 else {
            throw .unsupported("\(place) has \(intercepts.count) coefficient rows; nextbest reads the two rows skl2onnx writes for a binary classifier")
        }
        let k = columns.count
        let w = try a.required("coefficients", a.floats("coefficients"), count: 2 * k)
        var coefficients = Array(repeating: 0.0, count: features.count)
        var intercept = Double(intercepts[1])
        let used = Set(columns.compactMap(\.normalizer))
        guard used.count <= 1 else { throw .unsupported("\(place) reads the outputs of \(used.count) Normalizers; nextbest evaluates one") }
        var normalized: [Double] = []
        if let g = used.first { normalized = Array(repeating: 0, count: normalizers[g].columns.count) }
        for (j, c) in columns.enumerated() {
            if c.oneHot != nil {
                throw .unsupported("\(place) reads a OneHotEncoder's output: nextbest evaluates one-hot encoded categories in front of tree ensembles only; train a tree model on the category, or give the linear model numeric columns")
            }
            let wj = Double(w[k + j])
            if let g = c.normalizer {
                // The Normalizer's output column: which of its inputs it is.
                guard let i = normalizers[g].columns.firstIndex(where: { $0.feature == c.feature && $0.steps == c.steps }) else {
                    throw .malformed(path: place, reason: "a normalized column is not one of its Normalizer's inputs")
                }
                normalized[i] += wj
                continue
            }
            let (scale, shift) = try affine(c, place)
            coefficients[c.feature] += wj * scale
            intercept += wj * shift
        }
        let model = try LogisticModel(features: features, coefficients: coefficients, intercept: intercept)
        guard let g = used.first else { return model }
        var scales: [Double] = [], shifts: [Double] = []
        for c in normalizers[g].columns {
            let (a, b) = try affine(c, normalizers[g].place)
            scales.append(a); shifts.append(b)
        }
        return try model.with(try LogisticModel.Normalization(norm: normalizers[g].norm, feature: normalizers[g].columns.map { Int32($0.feature) },
                                                              scale: scales, shift: shifts, weight: normalized))
    }

    /// The column as `a·x + b` of its feature `x`.
    static func affine(_ c: Column, _ place: String) throws(ModelError) -> (Double, Double) {
        var scale = 1.0, shift = 0.0
        for s in c.steps {
            switch s {
            case .impute:
                throw .unsupported("\(place) reads an Imputer's output: nextbest's linear models count a missing feature as 0, not an imputed value; put the imputation in the profiles, or use a tree model")
            case .scale(let o, let m): scale *= Double(m); shift = (shift - Double(o)) * Double(m)
            }
        }
        return (scale, shift)
    }
}
