import Foundation

/// Reads the model file formats `nextbest import model` accepts.
///
/// - `xgboost-json`: the JSON file XGBoost writes with `Booster.save_model("m.json")`, objective
///   `binary:logistic`, `reg:logistic` or `binary:logitraw` (`XGBoostReader`), numerical splits.
/// - `xgboost-ubj`: the same model saved as UBJSON (`Booster.save_model("m.ubj")`).
/// - `logistic-json`: `{"features":[names],"coefficients":[numbers],"intercept":number}`.
/// - `lightgbm`: LightGBM's text model (`Booster.save_model("m.txt")`), read by `LightGBMReader`.
/// - `onnx`: an ONNX-ML model (skl2onnx, onnxmltools), read by `ONNXReader` in the NextBestONNX target
///   (protobuf stays out of this target): `ModelImporter` calls it; `parse` refuses this case.
///
/// `ModelFormat.detect` (ModelFormatDetection.swift) tells them apart by content (`--format auto`).
public enum ModelFormat: String, Sendable, CaseIterable {
    case xgboostJSON = "xgboost-json"
    case xgboostUBJ = "xgboost-ubj"
    case logisticJSON = "logistic-json"
    case lightGBM = "lightgbm"
    case onnx = "onnx"

    /// Parses a model file's bytes. `featureNames`, when given, replace the model's own feature names
    /// (and are required for a model that carries none); they must be as many as the model's features.
    public func parse(_ data: Data, featureNames: [String]? = nil) throws(ModelError) -> PropensityModel.Kind {
        switch self {
        case .xgboostJSON: return try XGBoostReader.readKind(try Self.json(data), featureNames: featureNames)
        case .xgboostUBJ:
            do { return try XGBoostReader.readKind(try UBJSON.parse(data), featureNames: featureNames) }
            catch let e as UBJSONError { throw .malformed(path: "$", reason: e.description) }
            catch let e as ModelError { throw e }
            catch { throw .invalid("\(error)") }
        case .logisticJSON: return .logistic(try Self.readLogistic(try Self.json(data), featureNames: featureNames))
        case .lightGBM:
            var forest = try LightGBMReader.read(data)
            if let names = featureNames {
                guard names.count == forest.features.count else {
                    throw .invalid("--feature-names gives \(names.count) names, the model has \(forest.features.count) features (its own names: \(forest.features.prefix(8).joined(separator: ","))\(forest.features.count > 8 ? ",…" : ""))")
                }
                try LogisticModel.checkFeatureNames(names, "--feature-names")
                forest.features = names
            }
            return .forest(forest)
        case .onnx:
            throw .unsupported("ONNX models are read by NextBestONNX's ONNXReader.read (as `nextbest import model` does), not by ModelFormat.parse")
        }
    }

    static func json(_ data: Data) throws(ModelError) -> Any {
        do { return try JSONSerialization.jsonObject(with: data, options: []) }
        catch { throw .malformed(path: "$", reason: "not valid JSON (\(Self.jsonErrorText(error)))") }
    }

    static func jsonErrorText(_ error: Error) -> String {
        let ns = error as NSError
        if let d = ns.userInfo[NSDebugDescriptionErrorKey] as? String { return d }
        return ns.localizedDescription
    }

    static func readLogistic(_ root: Any, featureNames: [String]? = nil) throws(ModelError) -> LogisticModel {
        guard let obj = root as? [String: Any] else { throw .malformed(path: "$", reason: "expected an object") }
        var names = try JSONPath.strings(obj["features"], "features")
        if let featureNames {
            guard featureNames.count == names.count else {
                throw .invalid("--feature-names gives \(featureNames.count) names, the model has \(names.count) features")
            }
            names = featureNames
        }
        let coef = try JSONPath.numbers(obj["coefficients"], "coefficients")
        let intercept = try JSONPath.number(obj["intercept"], "intercept")
        return try LogisticModel(features: names, coefficients: coef, intercept: intercept)
    }
}

/// Typed access to values of a parsed JSON tree with errors that name the key path.
enum JSONPath {
    static func object(_ v: Any?, _ path: String) throws(ModelError) -> [String: Any] {
        guard let o = v as? [String: Any] else { throw .malformed(path: path, reason: v == nil ? "missing" : "expected an object") }
        return o
    }
    static func array(_ v: Any?, _ path: String) throws(ModelError) -> [Any] {
        guard let a = v as? [Any] else { throw .malformed(path: path, reason: v == nil ? "missing" : "expected an array") }
        return a
    }
    static func string(_ v: Any?, _ path: String) throws(ModelError) -> String {
        guard let s = v as? String else { throw .malformed(path: path, reason: v == nil ? "missing" : "expected a string") }
        return s
    }
    static func number(_ v: Any?, _ path: String) throws(ModelError) -> Double {
        if let n = v as? NSNumber { return n.doubleValue }
        if let s = v as? String, let d = Double(s) { return d }
        throw .malformed(path: path, reason: v == nil ? "missing" : "expected a number")
    }
    static func strings(_ v: Any?, _ path: String) throws(ModelError) -> [String] {
        let a = try array(v, path)
        var out: [String] = []
        out.reserveCapacity(a.count)
        for (i, e) in a.enumerated() { out.append(try string(e, "\(path)[\(i)]")) }
        return out
    }
    static func numbers(_ v: Any?, _ path: String) throws(ModelError) -> [Double] {
        let a = try array(v, path)
        var out: [Double] = []
        out.reserveCapacity(a.count)
        for (i, e) in a.enumerated() {
            guard let n = e as? NSNumber else { throw .malformed(path: "\(path)[\(i)]", reason: "expected a number") }
            out.append(n.doubleValue)
        }
        return out
    }
    static func ints(_ v: Any?, _ path: String) throws(ModelError) -> [Int] {
        let a = try array(v, path)
        var out: [Int] = []
        out.reserveCapacity(a.count)
        for (i, e) in a.enumerated() {
            guard let n = e as? NSNumber else { throw .malformed(path: "\(path)[\(i)]", reason: "expected an integer") }
            let d = n.doubleValue
            guard d == d.rounded(), abs(d) < 1e15 else { throw .malformed(path: "\(path)[\(i)]", reason: "expected an integer") }
            out.append(Int(d))
        }
        return out
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
