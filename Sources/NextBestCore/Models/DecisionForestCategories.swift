/// Text categories: a model trained on pandas `category` columns (LightGBM's `pandas_categorical`,
/// XGBoost's `enable_categorical` categories) names the values of each categorical feature, a value's
/// model code being its position. Its category sets are over those codes; binding to a store translates
/// them into sets over the store's dictionary codes (`FeatureSchema.categories`), so the scoring loop
/// tests the store's codes directly.
extension DecisionForest {
    /// The forest with `names[f]` as the text categories of model feature `f` (empty for a feature
    /// without them); `names` has one list per feature.
    public func withCategoryNames(_ names: [[String]]) throws(ModelError) -> DecisionForest {
        guard names.count == features.count else {
            throw .invalid("tree model names categories for \(names.count) features; it has \(features.count)")
        }
        for (f, list) in names.enumerated() where Set(list).count != list.count {
            throw .invalid("feature \(Quoted.text(features[f])) lists a category more than once")
        }
        // Categories come with category splits: a library never compares a category column with a threshold.
        if let i = nodes.firstIndex(where: { $0.feature >= 0 && !$0.categorical && !names[Int($0.feature)].isEmpty }) {
            throw .invalid("feature \(Quoted.text(features[Int(nodes[i].feature)])) has categories but tree node \(i) compares it with a threshold")
        }
        var copy = self
        copy.categoryNames = names.allSatisfy(\.isEmpty) ? nil : names
        return copy
    }

    /// Whether model feature `f`'s categories are the codes 0…n-1 written as numbers (LightGBM on a pandas
    /// column of integer categories 0…n-1): such a model reads a numeric column's codes as they are.
    func hasCodeCategories(_ f: Int) -> Bool {
        guard let list = categoryNames?[f] else { return true }
        return list.enumerated().allSatisfy { i, c in c == String(i) }
    }

    /// Whether a split tests model feature `f`'s categories.
    func hasCategorySplit(on f: Int) -> Bool { nodes.contains { $0.categorical && Int($0.feature) == f } }

    /// The forest with the category sets of the features bound to categorical store columns translated
    /// to store codes; `map[f]` is model feature `f`'s store position. Refuses a numerical split on a text
    /// column, a category split on a text column without the model's category names, and text categories
    /// on a numeric column, naming the model and column.
    func translated(to schema: FeatureSchema, map: [Int32], model id: String) throws(ModelError) -> DecisionForest {
        var used = [Bool](repeating: false, count: features.count), numerical = used
        for n in nodes where n.feature >= 0 {
            used[Int(n.feature)] = true
            if !n.categorical { numerical[Int(n.feature)] = true }
        }
        var codes: [Int: [Int?]] = [:] // model feature → store code → model code
        for f in features.indices where used[f] {
            let column = Int(map[f])
            guard let dictionary = schema.categories[column] else {
                // XGBoost sends a category past its set left, which no finite set over codes says (LightGBM
                // and ONNX equality send it right, out of the set).
                guard hasCodeCategories(f), arithmetic != .xgboost || !hasCategorySplit(on: f) else {
                    throw .invalid("model \(Quoted.text(id)) splits on the text categories of \(Quoted.text(features[f])), but the store's column \(Quoted.text(features[f])) is numeric: import the profiles into a new store with --categorical \(features[f])")
                }
                continue
            }
            guard !numerical[f] else {
                throw .invalid("model \(Quoted.text(id)) compares \(Quoted.text(features[f])) with numerical thresholds, but the store's column \(Quoted.text(features[f])) holds text (dictionary codes): train with the column as a category, or import it as numbers")
            }
            guard let names = categoryNames?[f], !names.isEmpty else {
                throw .invalid("model \(Quoted.text(id)) reads \(Quoted.text(features[f])) as numbers or integer codes, but the store's column \(Quoted.text(features[f])) holds text: train on a pandas category column (the model then carries its categories) or import the column as numbers")
            }
            let position = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
            codes[f] = dictionary.names.map { position[$0] }
        }
        if codes.isEmpty { return self }
        return try rebuiltSets(codes: codes, model: id)
    }

    /// Every categorical node of a translated feature gets a set over store codes: store code `s` is in it
    /// when its model code is, or — a value the model never saw — when the library sends an unseen
    /// category left (XGBoost: a category outside a split's set goes left; LightGBM: right).
    private func rebuiltSets(codes: [Int: [Int?]], model id: String) throws(ModelError) -> DecisionForest {
        var bounds: [Int32] = [0], words: [UInt32] = []
        var out = nodes
        let unseenLeft = arithmetic == .xgboost
        for (i, n) in nodes.enumerated() where n.categorical {
            let k = Int(n.categorySet)
            let old = categoryWords[Int(categoryBounds[k])..<Int(categoryBounds[k + 1])]
            func inOld(_ c: Int) -> Bool {
                let w = c >> 5
                return w < old.count && (old[old.startIndex + w] >> UInt32(c & 31)) & 1 != 0
            }
            var set: [UInt32]
            if let map = codes[Int(n.feature)] {
                set = [UInt32](repeating: 0, count: max(1, (map.count + 31) / 32))
                for (s, m) in map.enumerated() where m.map(inOld) ?? unseenLeft { set[s >> 5] |= 1 << UInt32(s & 31) }
            } else {
                set = Array(old)
            }
            out[i].categorySet = Int32(bounds.count - 1)
            words += set
            bounds.append(Int32(words.count))
        }
        do {
            var f = try DecisionForest(arithmetic: arithmetic, features: features, nodes: out, roots: roots, categoryBounds: bounds,
                                       categoryWords: words, sigmoid: sigmoid, averageOutput: averageOutput)
            f.categoryNames = categoryNames
            return f
        } catch {
            throw .invalid("model \(Quoted.text(id)): its category sets over the store's codes: \(error.description)")
        }
    }
}
