import Foundation

/// Reads the model file formats `nextbest import model` accepts.
///
/// - `xgboost-json`: the JSON file XGBoost writes with `Booster.save_model("m.json")`, objective
///   `binary:logistic`, numerical splits, with `feature_names` set.
/// - `logistic-json`: `{"features":[names],"coefficients":[numbers],"intercept":number}`.
/// - `lightgbm`: LightGBM's text model (`Booster.save_model("m.txt")`), read by `LightGBMReader`.
public enum ModelFormat: String, Sendable, CaseIterable {
    case xgboostJSON = "xgboost-json"
    case logisticJSON = "logistic-json"
    case lightGBM = "lightgbm"

    /// Parses a model file's bytes.
    public func parse(_ data: Data) throws(ModelError) -> PropensityModel.Kind {
        if self == .lightGBM { return .forest(try LightGBMReader.read(data)) }
        let root: Any
        do { root = try JSONSerialization.jsonObject(with: data, options: []) }
        catch { throw .malformed(path: "$", reason: "not valid JSON (\(Self.jsonErrorText(error)))") }
        switch self {
        case .xgboostJSON: return .trees(try XGBoostReader.read(root))
        case .logisticJSON: return .logistic(try Self.readLogistic(root))
        case .lightGBM: throw .invalid("internal: lightgbm is not JSON")
        }
    }

    static func jsonErrorText(_ error: Error) -> String {
        let ns = error as NSError
        if let d = ns.userInfo[NSDebugDescriptionErrorKey] as? String { return d }
        return ns.localizedDescription
    }

    static func readLogistic(_ root: Any) throws(ModelError) -> LogisticModel {
        guard let obj = root as? [String: Any] else { throw .malformed(path: "$", reason: "expected an object") }
        let names = try JSONPath.strings(obj["features"], "features")
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

/// Reads XGBoost's JSON model format (`learner.gradient_booster.model.trees[*]`).
enum XGBoostReader {
    static func read(_ root: Any) throws(ModelError) -> TreeEnsemble {
        let top = try JSONPath.object(root, "$")
        let learner = try JSONPath.object(top["learner"], "learner")
        let objective = try JSONPath.object(learner["objective"], "learner.objective")
        let objName = try JSONPath.string(objective["name"], "learner.objective.name")
        guard objName == "binary:logistic" else {
            throw .unsupported("objective \(Quoted.text(objName)) (only binary:logistic propensity models are accepted)")
        }
        guard let namesAny = learner["feature_names"], let names = namesAny as? [Any], !names.isEmpty else {
            throw .malformed(path: "learner.feature_names", reason: "missing or empty: train the model with feature_names set so its features can be matched to profile columns")
        }
        let featureNames = try JSONPath.strings(names, "learner.feature_names")
        let param = try JSONPath.object(learner["learner_model_param"], "learner.learner_model_param")
        let baseScoreText: String
        if let s = param["base_score"] as? String { baseScoreText = s }
        else if let n = param["base_score"] as? NSNumber { baseScoreText = "\(n.doubleValue)" }
        else { throw .malformed(path: "learner.learner_model_param.base_score", reason: "missing") }
        let trimmed = baseScoreText.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
        guard let baseScore = Double(trimmed), baseScore > 0, baseScore < 1 else {
            throw .malformed(path: "learner.learner_model_param.base_score", reason: "\(Quoted.text(baseScoreText)) is not a probability in (0, 1)")
        }
        if let nc = param["num_class"] as? String, let k = Int(nc), k > 1 {
            throw .unsupported("multi-class model (num_class \(k))")
        }
        let booster = try JSONPath.object(learner["gradient_booster"], "learner.gradient_booster")
        let boosterName = try JSONPath.string(booster["name"], "learner.gradient_booster.name")
        guard boosterName == "gbtree" else { throw .unsupported("booster \(Quoted.text(boosterName)) (only gbtree)") }
        let model = try JSONPath.object(booster["model"], "learner.gradient_booster.model")
        let trees = try JSONPath.array(model["trees"], "learner.gradient_booster.model.trees")
        var nodes: [TreeEnsemble.Node] = []
        var roots: [Int32] = []
        for (i, treeAny) in trees.enumerated() {
            let p = "learner.gradient_booster.model.trees[\(i)]"
            let tree = try JSONPath.object(treeAny, p)
            let left = try JSONPath.ints(tree["left_children"], p + ".left_children")
            let right = try JSONPath.ints(tree["right_children"], p + ".right_children")
            let feat = try JSONPath.ints(tree["split_indices"], p + ".split_indices")
            let cond = try JSONPath.numbers(tree["split_conditions"], p + ".split_conditions")
            let defl = try JSONPath.ints(tree["default_left"], p + ".default_left")
            if let st = tree["split_type"] {
                let types = try JSONPath.ints(st, p + ".split_type")
                if let k = types.firstIndex(where: { $0 != 0 }), left[safe: k] != -1 {
                    throw .unsupported("categorical split at \(p) node \(k)")
                }
            }
            do {
                try TreeEnsemble.flatten(
                    .init(left: left, right: right, feature: feat, threshold: cond.map { Float($0) },
                          defaultLeft: defl.map { $0 != 0 }),
                    featureCount: featureNames.count, into: &nodes, roots: &roots)
            } catch {
                throw .malformed(path: p, reason: error.description)
            }
        }
        let margin = Float(-Foundation.log(1.0 / baseScore - 1.0))
        return try TreeEnsemble(features: featureNames, baseMargin: margin, nodes: nodes, roots: roots)
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
