import Foundation

/// A logistic-regression propensity model: `p = 1 / (1 + exp(-(intercept + Σ coefficient·feature)))`.
///
/// A missing feature (NaN) contributes nothing, i.e. counts as 0, as the import format specifies. An ONNX
/// `LinearClassifier` behind a `Normalizer` adds a normalized term (`Normalization`) to the margin.
public struct LogisticModel: Sendable, Equatable, Codable {
    /// Feature names the coefficients apply to, in model order.
    public var features: [String]
    public var coefficients: [Double]
    public var intercept: Double
    /// The normalized term of the margin, or nil.
    public var normalization: Normalization? = nil

    /// A term `Σ weightₖ · yₖ / max(norm(y), 1e-30)` of the margin, `yₖ = scaleₖ · xₖ + shiftₖ` for the
    /// feature `featureₖ` (an index into `features`; a missing feature counting as 0), the norm being one
    /// of ONNX's `Normalizer` norms as onnx's reference defines them.
    public struct Normalization: Sendable, Equatable, Codable {
        /// `MAX`: the largest |yₖ|; `L1`: Σ|yₖ|; `L2`: √Σyₖ².
        public enum Norm: String, Sendable, Equatable, Codable, CaseIterable {
            case max = "MAX", l1 = "L1", l2 = "L2"
            /// The record's byte for the norm.
            public var code: UInt8 { switch self { case .max: 0; case .l1: 1; case .l2: 2 } }
            public init?(code: UInt8) { switch code { case 0: self = .max; case 1: self = .l1; case 2: self = .l2; default: return nil } }
        }
        public var norm: Norm
        public var feature: [Int32]
        public var scale: [Double]
        public var shift: [Double]
        public var weight: [Double]

        public init(norm: Norm, feature: [Int32], scale: [Double], shift: [Double], weight: [Double]) throws(ModelError) {
            guard !feature.isEmpty, feature.count == scale.count, feature.count == shift.count, feature.count == weight.count else {
                throw .invalid("logistic model's normalizer has \(feature.count) features, \(scale.count) scales, \(shift.count) shifts and \(weight.count) weights")
            }
            guard (scale + shift + weight).allSatisfy(\.isFinite) else { throw .invalid("logistic model's normalizer has a non-finite value") }
            self.norm = norm; self.feature = feature; self.scale = scale; self.shift = shift; self.weight = weight
        }

        /// The term for the values `x(featureₖ)` (NaN counting as 0).
        @inlinable
        public func term(_ x: (Int) -> Float) -> Double {
            var n = 0.0, dot = 0.0
            for k in feature.indices {
                let v = x(k)
                let y = scale[k] * (v.isNaN ? 0 : Double(v)) + shift[k]
                switch norm {
                case .max: n = Swift.max(n, abs(y))
                case .l1: n += abs(y)
                case .l2: n += y * y
                }
                dot += weight[k] * y
            }
            if norm == .l2 { n = n.squareRoot() }
            return dot / Swift.max(n, 1e-30)
        }
    }

    public init(features: [String], coefficients: [Double], intercept: Double) throws(ModelError) {
        guard features.count == coefficients.count else {
            throw .invalid("logistic model has \(features.count) features but \(coefficients.count) coefficients")
        }
        guard intercept.isFinite, coefficients.allSatisfy(\.isFinite) else {
            throw .invalid("logistic model has a non-finite coefficient or intercept")
        }
        // Finite but huge ([1e308, -1e308]) overflows the margin to ±inf or NaN for ordinary features.
        // Features are Float32, so |margin| <= |intercept| + Σ|coefficient| × Float.greatestFiniteMagnitude:
        // when that bound is finite, no customer's margin can be anything else.
        guard Self.marginBound(coefficients: coefficients, intercept: intercept).isFinite else {
            throw .invalid("logistic model's coefficients are so large (largest \(coefficients.map(abs).max() ?? 0), intercept \(intercept)) that a margin can overflow: no Float32 feature row may give a non-finite margin")
        }
        try Self.checkFeatureNames(features, "logistic model")
        self.features = features
        self.coefficients = coefficients
        self.intercept = intercept
    }

    /// The model with a normalized term; its features index `features`, and its weights are bounded (each
    /// `|yₖ| / norm` is at most 1), so the margin stays finite.
    public func with(_ normalization: Normalization) throws(ModelError) -> LogisticModel {
        guard normalization.feature.allSatisfy({ $0 >= 0 && Int($0) < features.count }) else {
            throw .invalid("logistic model's normalizer reads a feature out of range")
        }
        guard (Self.marginBound(coefficients: coefficients, intercept: intercept) + normalization.weight.reduce(0) { $0 + abs($1) }).isFinite else {
            throw .invalid("logistic model's normalizer weights are so large that a margin can overflow")
        }
        var copy = self
        copy.normalization = normalization
        return copy
    }

    /// The largest |margin| any row of Float32 features can give (infinite when one can overflow).
    static func marginBound(coefficients: [Double], intercept: Double) -> Double {
        coefficients.reduce(abs(intercept)) { $0 + abs($1) * Double(Float.greatestFiniteMagnitude) }
    }

    /// Refuses a feature name longer than any store column's (profile columns have at most
    /// `Campaign.maxLabelBytes` bytes, and the model record stores a name's length in 16 bits), an empty
    /// name (no column has one) and a name given twice. `what` names the model in the message.
    static func checkFeatureNames(_ names: [String], _ what: String) throws(ModelError) {
        if let i = names.firstIndex(of: "") { throw .invalid("\(what)'s feature \(i + 1) has an empty name (no store column has one)") }
        if let i = names.firstIndex(where: { $0.utf8.count > Campaign.maxLabelBytes }) {
            throw .invalid("\(what)'s feature \(i + 1) has a name of \(names[i].utf8.count) bytes (\(Quoted.text(names[i]))); store columns have at most \(Campaign.maxLabelBytes)")
        }
        if let dup = firstDuplicate(names) { throw .invalid("\(what) names feature \(Quoted.text(dup)) twice") }
    }

    static func firstDuplicate(_ names: [String]) -> String? {
        var seen = Set<String>()
        for n in names where !seen.insert(n).inserted { return n }
        return nil
    }
}
