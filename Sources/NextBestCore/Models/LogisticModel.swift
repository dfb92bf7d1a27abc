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
        if let dup = Self.firstDuplicate(features) { throw .invalid("logistic model names feature \(Quoted.text(dup)) twice") }
        self.features = features
        self.coefficients = coefficients
        self.intercept = intercept
    }

    static func firstDuplicate(_ names: [String]) -> String? {
        var seen = Set<String>()
        for n in names where !seen.insert(n).inserted { return n }
        return nil
    }
}
