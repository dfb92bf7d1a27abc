import Foundation

/// XGBoost models with categorical splits (`enable_categorical=True`, saved by XGBoost 3.1 or later, which
/// keeps the training categories in `learner.gradient_booster.model.cats`), read into a `DecisionForest`
/// with XGBoost's arithmetic (`DecisionForest.Arithmetic.xgboost`).
///
/// A tree's categorical nodes are listed in `categories_nodes`; node `categories_nodes[k]`'s set is
/// `categories[categories_segments[k] ..< + categories_sizes[k]]`, category codes (a code is the position
/// of the value among the feature's `cats.enc` values) that go right; a category outside the set goes
/// left, a missing value the default way (`split_type` 1 marks the node). The forest stores the left-going
/// categories (the complement within the feature's categories); binding translates them to store codes,
/// a store value the model never saw going left as a category outside the set does.
extension XGBoostReader {
    /// The model: a `TreeEnsemble` when every split is numerical, else a `DecisionForest`.
    static func readKind(_ root: Any, featureNames given: [String]? = nil) throws(ModelError) -> PropensityModel.Kind {
        let top = try JSONPath.object(root, "$")
        let learner = try JSONPath.object(top["learner"], "learner")
        guard try hasCategoricalSplit(learner) else { return .trees(try read(root, featureNames: given)) }
        let objective = try readObjective(learner)
        let param = try JSONPath.object(learner["learner_model_param"], paramPath)
        try refuseMultipleOutputs(param)
        let names = try featureNames(learner, param: param, given: given)
        let margin = try baseMargin(param, objective: objective)
        let model = try JSONPath.object(try JSONPath.object(learner["gradient_booster"], "learner.gradient_booster")["model"],
                                        "learner.gradient_booster.model")
        let categories = try modelCategories(model, featureCount: names.count)
        var sink = XGBoostForestSink(categoryCounts: categories.map(\.count))
        sink.addBaseMargin(margin)
        for (i, tree) in try JSONPath.array(model["trees"], "learner.gradient_booster.model.trees").enumerated() {
            let p = "learner.gradient_booster.model.trees[\(i)]"
            try sink.add(try JSONPath.object(tree, p), path: p)
        }
        do {
            let forest = try DecisionForest(arithmetic: .xgboost, features: names, nodes: sink.nodes, roots: sink.roots,
                                            categoryBounds: sink.bounds, categoryWords: sink.words, sigmoid: 1, averageOutput: false)
            return .forest(try forest.withCategoryNames(categories))
        } catch {
            throw .invalid("XGBoost model: \(error.description)")
        }
    }

    /// Whether any tree has a split with `split_type` 1 (categorical).
    static func hasCategoricalSplit(_ learner: [String: Any]) throws(ModelError) -> Bool {
        guard let booster = learner["gradient_booster"] as? [String: Any], let model = booster["model"] as? [String: Any],
              let trees = model["trees"] as? [Any] else { return false }
        for (i, t) in trees.enumerated() {
            guard let tree = t as? [String: Any], let st = tree["split_type"] else { continue }
            let types = try JSONPath.ints(st, "learner.gradient_booster.model.trees[\(i)].split_type")
            let left = try JSONPath.ints(tree["left_children"], "learner.gradient_booster.model.trees[\(i)].left_children")
            if types.indices.contains(where: { types[$0] != 0 && left[safe: $0] != -1 }) { return true }
        }
        return false
    }

    /// Each feature's categories as text, in code order (`cats.enc`: UTF-8 strings by `offsets`, or
    /// numbers written as pandas prints them); empty for a numerical feature.
    static func modelCategories(_ model: [String: Any], featureCount: Int) throws(ModelError) -> [[String]] {
        let path = "learner.gradient_booster.model.cats"
        guard let cats = model["cats"] else {
            throw .unsupported("categorical splits without the model's categories (\(path)): save the model with XGBoost 3.1 or later, trained on a pandas DataFrame with category columns")
        }
        let enc = try JSONPath.array(try JSONPath.object(cats, path)["enc"], path + ".enc")
        guard enc.count == featureCount else {
            throw .malformed(path: path + ".enc", reason: "\(enc.count) entries for \(featureCount) features")
        }
        var out: [[String]] = []
        for (f, e) in enc.enumerated() {
            let p = "\(path).enc[\(f)]"
            let entry = try JSONPath.object(e, p)
            let values = try JSONPath.numbers(entry["values"], p + ".values")
            guard let o = entry["offsets"] else { out.append(values.map { LightGBMReader.categoryText(NSNumber(value: $0)) }); continue }
            let offsets = try JSONPath.ints(o, p + ".offsets")
            var list: [String] = []
            for k in offsets.indices.dropLast() {
                guard offsets[k] >= 0, offsets[k] <= offsets[k + 1], offsets[k + 1] <= values.count else {
                    throw .malformed(path: p + ".offsets", reason: "offset \(k) out of order or past the values")
                }
                let slice = values[offsets[k]..<offsets[k + 1]]
                guard slice.allSatisfy({ $0 >= 0 && $0 <= 255 && $0.rounded() == $0 }) else {
                    throw .malformed(path: p + ".values", reason: "category \(k) holds a value that is not a byte")
                }
                guard let s = String(validating: slice.map { UInt8($0) }, as: UTF8.self) else { throw .malformed(path: p + ".values", reason: "category \(k) is not UTF-8") }
                list.append(s)
            }
            out.append(list)
        }
        return out
    }
}

/// Flattens XGBoost trees into `DecisionForest` nodes (children adjacent, after their split).
struct XGBoostForestSink {
    let categoryCounts: [Int]
    var nodes: [DecisionForest.Node] = []
    var roots: [Int32] = []
    var bounds: [Int32] = [0]
    var words: [UInt32] = []

    /// The base margin as a first one-leaf tree.
    mutating func addBaseMargin(_ margin: Float) {
        roots.append(Int32(nodes.count))
        nodes.append(.leaf(Double(margin)))
    }

    mutating func add(_ tree: [String: Any], path p: String) throws(ModelError) {
        let left = try JSONPath.ints(tree["left_children"], p + ".left_children")
        let right = try JSONPath.ints(tree["right_children"], p + ".right_children")
        let feature = try JSONPath.ints(tree["split_indices"], p + ".split_indices")
        let cond = try JSONPath.numbers(tree["split_conditions"], p + ".split_conditions")
        let defaultLeft = try JSONPath.ints(tree["default_left"], p + ".default_left")
        let types = try tree["split_type"].map { v throws(ModelError) in try JSONPath.ints(v, p + ".split_type") } ?? []
        let sets = try categorySets(tree, path: p)
        let n = left.count
        guard n > 0, [right.count, feature.count, cond.count, defaultLeft.count].allSatisfy({ $0 == n }) else {
            throw .malformed(path: p, reason: "tree arrays of different lengths")
        }
        // Breadth-first: a split's children are placed together after everything placed so far.
        let base = nodes.count
        roots.append(Int32(base))
        var queue = [0], placed = 0
        nodes.append(.leaf(0))
        while placed < queue.count {
            let j = queue[placed], at = base + placed
            placed += 1
            if left[j] == -1 { nodes[at] = .leaf(Double(Float(cond[j]))); continue }
            guard queue.count + 2 <= n, (0..<n).contains(left[j]), (0..<n).contains(right[j]), (0..<categoryCounts.count).contains(feature[j]) else {
                throw .malformed(path: p, reason: "node \(j) has children or feature out of range")
            }
            let child = Int32(base + queue.count)
            queue += [left[j], right[j]]
            nodes += [.leaf(0), .leaf(0)]
            if types[safe: j] == 1 {
                guard let set = sets[j] else { throw .malformed(path: p, reason: "categorical node \(j) is not in categories_nodes") }
                nodes[at] = DecisionForest.Node(feature: Int32(feature[j]), value: 0, left: child, categorical: true,
                                                defaultLeft: defaultLeft[j] != 0, missing: .nan, categorySet: addLeftSet(set, feature: feature[j]))
            } else {
                nodes[at] = DecisionForest.Node(feature: Int32(feature[j]), value: Double(Float(cond[j]).nextDown), left: child,
                                                defaultLeft: defaultLeft[j] != 0, missing: .nan)
            }
        }
    }

    /// The categories of each categorical node (XGBoost's right-going set).
    func categorySets(_ tree: [String: Any], path p: String) throws(ModelError) -> [Int: [Int]] {
        guard let nodesAny = tree["categories_nodes"] else { return [:] }
        let ids = try JSONPath.ints(nodesAny, p + ".categories_nodes")
        let segments = try JSONPath.ints(tree["categories_segments"], p + ".categories_segments")
        let sizes = try JSONPath.ints(tree["categories_sizes"], p + ".categories_sizes")
        let categories = try JSONPath.ints(tree["categories"], p + ".categories")
        guard segments.count == ids.count, sizes.count == ids.count else {
            throw .malformed(path: p, reason: "categories_nodes, categories_segments and categories_sizes differ in length")
        }
        var out: [Int: [Int]] = [:]
        for (k, id) in ids.enumerated() {
            guard segments[k] >= 0, sizes[k] >= 0, segments[k] + sizes[k] <= categories.count else {
                throw .malformed(path: p + ".categories_segments", reason: "segment \(k) lies past the categories")
            }
            out[id] = Array(categories[segments[k]..<(segments[k] + sizes[k])])
        }
        return out
    }

    /// Adds the set of the feature's categories not in `right` (those going left); its index.
    mutating func addLeftSet(_ right: [Int], feature: Int) -> Int32 {
        let count = categoryCounts[feature], goesRight = Set(right)
        var set = [UInt32](repeating: 0, count: max(1, (count + 31) / 32))
        for c in 0..<count where !goesRight.contains(c) { set[c >> 5] |= 1 << UInt32(c & 31) }
        words += set
        bounds.append(Int32(words.count))
        return Int32(bounds.count - 2)
    }
}
