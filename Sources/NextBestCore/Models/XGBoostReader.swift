import Foundation

/// Reads an XGBoost model (`learner.gradient_booster.model.trees[*]`) from the value tree of its JSON
/// file (`JSONSerialization`) or of its UBJSON file (`UBJSON.parse`): both hold the same document.
///
/// Objectives, all scored as a probability `sigmoid(margin)`:
/// - `binary:logistic` and `reg:logistic`: XGBoost's own prediction; `base_score` is a probability
///   (XGBoost 2 and later write it as `"5E-1"`, XGBoost 3 as `"[5E-1]"`), turned into the base margin.
/// - `binary:logitraw`: XGBoost predicts the raw margin; nextbest needs a propensity, so the margin is
///   read as a logistic margin and scored `sigmoid(margin)` (what `binary:logistic` would predict from the
///   same trees). Its `base_score` is already a margin (XGBoost converts nothing for this objective).
///
/// Feature names come from `learner.feature_names`, or from `featureNames` (`import model
/// --feature-names`), which replace the model's and must be as many as its `num_feature`. A model
/// trained on an array carries none and needs them.
enum XGBoostReader {
    /// The objectives accepted and how each one's base score becomes a margin.
    enum Objective: String, CaseIterable {
        case binaryLogistic = "binary:logistic"
        case regLogistic = "reg:logistic"
        case binaryLogitraw = "binary:logitraw"

        /// Whether `base_score` is a probability (else it is the margin itself).
        var baseScoreIsProbability: Bool { self != .binaryLogitraw }
    }

    static let paramPath = "learner.learner_model_param"

    static func read(_ root: Any, featureNames given: [String]? = nil) throws(ModelError) -> TreeEnsemble {
        let top = try JSONPath.object(root, "$")
        let learner = try JSONPath.object(top["learner"], "learner")
        let objective = try readObjective(learner)
        let param = try JSONPath.object(learner["learner_model_param"], paramPath)
        try refuseMultipleOutputs(param)
        let names = try featureNames(learner, param: param, given: given)
        let margin = try baseMargin(param, objective: objective)
        let (nodes, roots) = try readTrees(learner, featureCount: names.count)
        return try TreeEnsemble(features: names, baseMargin: margin, nodes: nodes, roots: roots)
    }

    static func readObjective(_ learner: [String: Any]) throws(ModelError) -> Objective {
        let objective = try JSONPath.object(learner["objective"], "learner.objective")
        let name = try JSONPath.string(objective["name"], "learner.objective.name")
        guard let o = Objective(rawValue: name) else {
            let accepted = Objective.allCases.map(\.rawValue).joined(separator: ", ")
            throw .unsupported("objective \(Quoted.text(name)) (accepted: \(accepted); propensity models only)")
        }
        return o
    }

    static func refuseMultipleOutputs(_ param: [String: Any]) throws(ModelError) {
        for key in ["num_class", "num_target"] {
            guard let v = param[key] else { continue }
            let k = try JSONPath.number(v, "\(paramPath).\(key)")
            if k > 1 { throw .unsupported("\(key == "num_class" ? "multi-class" : "multi-target") model (\(key) \(Int(k)))") }
        }
    }

    /// The model's feature names, or `given` in their place.
    static func featureNames(_ learner: [String: Any], param: [String: Any], given: [String]?) throws(ModelError) -> [String] {
        let path = "learner.feature_names"
        var own: [String] = []
        if let v = learner["feature_names"] { own = try JSONPath.strings(v, path) }
        var count = own.count
        if let n = param["num_feature"] {
            let d = try JSONPath.number(n, "\(paramPath).num_feature")
            guard d >= 1, d == d.rounded(), d < 1e7 else {
                throw .malformed(path: "\(paramPath).num_feature", reason: "\(d) is not a feature count")
            }
            count = Int(d)
        }
        guard let given else {
            guard !own.isEmpty else {
                throw .malformed(path: path, reason: "the model carries no feature names (trained on an array without names): name its \(count) features in training order with --feature-names a,b,c or --feature-names @file")
            }
            guard own.count == count else {
                throw .malformed(path: path, reason: "\(own.count) names for \(count) features (num_feature)")
            }
            return own
        }
        guard given.count == count else {
            throw .invalid("--feature-names gives \(given.count) names, the model has \(count) features\(own.isEmpty ? "" : " (its own names: \(own.prefix(8).joined(separator: ","))\(own.count > 8 ? ",…" : ""))")")
        }
        return given
    }

    /// The base margin: `logit(base_score)` for the logistic objectives, `base_score` for logitraw.
    static func baseMargin(_ param: [String: Any], objective: Objective) throws(ModelError) -> Float {
        let path = "\(paramPath).base_score"
        let text: String
        if let s = param["base_score"] as? String { text = s }
        else if let n = param["base_score"] as? NSNumber { text = "\(n.doubleValue)" }
        else { throw .malformed(path: path, reason: "missing") }
        // XGBoost 3 writes a vector (one value per target): "[5E-1]".
        let inner = text.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
        let parts = inner.split(separator: ",")
        guard parts.count == 1, let value = Double(parts[0].trimmingCharacters(in: .whitespaces)), value.isFinite else {
            throw .malformed(path: path, reason: "\(Quoted.text(text)) is not one number")
        }
        guard objective.baseScoreIsProbability else { return Float(value) }
        guard value > 0, value < 1 else {
            throw .malformed(path: path, reason: "\(Quoted.text(text)) is not a probability in (0, 1)")
        }
        return Float(-Foundation.log(1.0 / value - 1.0))
    }

    static func readTrees(_ learner: [String: Any], featureCount: Int) throws(ModelError) -> ([TreeEnsemble.Node], [Int32]) {
        let booster = try JSONPath.object(learner["gradient_booster"], "learner.gradient_booster")
        let boosterName = try JSONPath.string(booster["name"], "learner.gradient_booster.name")
        guard boosterName == "gbtree" else { throw .unsupported("booster \(Quoted.text(boosterName)) (only gbtree)") }
        let model = try JSONPath.object(booster["model"], "learner.gradient_booster.model")
        let trees = try JSONPath.array(model["trees"], "learner.gradient_booster.model.trees")
        var nodes: [TreeEnsemble.Node] = []
        var roots: [Int32] = []
        for (i, treeAny) in trees.enumerated() {
            let p = "learner.gradient_booster.model.trees[\(i)]"
            let arrays = try treeArrays(try JSONPath.object(treeAny, p), path: p)
            do {
                try TreeEnsemble.flatten(arrays, featureCount: featureCount, into: &nodes, roots: &roots)
            } catch {
                throw .malformed(path: p, reason: error.description)
            }
        }
        return (nodes, roots)
    }

    static func treeArrays(_ tree: [String: Any], path p: String) throws(ModelError) -> TreeEnsemble.TreeArrays {
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
        return .init(left: left, right: right, feature: feat, threshold: cond.map { Float($0) },
                     defaultLeft: defl.map { $0 != 0 })
    }
}
