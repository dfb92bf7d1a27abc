import Foundation

/// A logistic-regression propensity model: `p = 1 / (1 + exp(-(intercept + Σ coefficient·feature)))`.
///
/// A missing feature (NaN) contributes nothing, i.e. counts as 0, as the import format specifies.
public struct LogisticModel: Sendable, Equatable, Codable {
    /// Feature names the coefficients apply to, in model order.
    public var features: [String]
    public var coefficients: [Double]
    public var intercept: Double

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
