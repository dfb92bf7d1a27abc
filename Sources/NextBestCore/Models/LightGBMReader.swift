import Foundation

/// Reads LightGBM's text model format (what `Booster.save_model("m.txt")` writes) into a
/// `DecisionForest` with LightGBM's arithmetic.
///
/// Accepted: one model (`num_class=1`, one tree per iteration) with objective `binary sigmoid:σ` or
/// `cross_entropy` (σ = 1), numerical and categorical splits with every missing type, single-leaf trees,
/// `average_output` (random forests), and `pandas_categorical` (text categories, bound to the store's
/// categorical columns by value; see `DecisionForestCategories`). Refused, naming what: other objectives, multi-class models, linear trees
/// (`is_linear=1`), unknown decision-type bits or bare header flags. Leaf values are read as written: the
/// file stores them already multiplied by the tree's `shrinkage` (and the first tree holds the init score
/// when the model boosted from the average), so `shrinkage` is not applied again.
///
/// Errors name the line (1-based) and key.
enum LightGBMReader {
    /// The file's lines (without line ends) and a position in them.
    struct Lines {
        var text: [Substring]
        var at = 0
        var done: Bool { at >= text.count }
        var current: Substring { text[at] }
        var number: Int { at + 1 }
    }

    /// The header's values: where each key was and its text.
    struct Header {
        var keys: [String: (line: Int, value: Substring)] = [:]
        var averageOutput = false
    }

    /// A piece of the file for a message: quoted, at most 40 characters.
    static func shown<S: StringProtocol>(_ s: S) -> String {
        Quoted.text(s.count > 40 ? String(s.prefix(40)) + "…" : String(s))
    }

    static func read(_ data: Data) throws(ModelError) -> DecisionForest {
        guard let text = String(data: data, encoding: .utf8) else {
            throw .malformed(path: "line 1", reason: "not UTF-8 text: LightGBM's text model (Booster.save_model(\"m.txt\")) is expected")
        }
        var lines = Lines(text: text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.last == "\r" ? $0.dropLast() : $0 })
        guard !lines.done, lines.current == "tree" else {
            throw .malformed(path: "line 1", reason: "expected \"tree\", the first line of LightGBM's text model (save the booster with Booster.save_model(\"m.txt\"))")
        }
        lines.at += 1
        let header = try readHeader(&lines)
        let (names, sigmoid) = try checkHeader(header)
        var trees = TreeSink()
        while !lines.done, lines.current != "end of trees" {
            let line = lines.current
            if line.isEmpty { lines.at += 1; continue }
            guard line.hasPrefix("Tree=") else {
                throw .malformed(path: "line \(lines.number)", reason: "expected \"Tree=N\" or \"end of trees\", found \(LightGBMReader.shown(line))")
            }
            let block = try readBlock(&lines, tree: trees.count)
            try trees.add(block, features: names.count)
        }
        guard !lines.done else {
            throw .malformed(path: "line \(lines.number)", reason: "the file ends before \"end of trees\" (truncated?)")
        }
        lines.at += 1
        let categories = try pandasCategories(&lines, features: names.count)
        guard trees.count > 0 else { throw .malformed(path: "line \(lines.number)", reason: "the model has no trees") }
        do {
            let forest = try DecisionForest(arithmetic: .lightGBM, features: names, nodes: trees.nodes, roots: trees.roots,
                                            categoryBounds: trees.bounds, categoryWords: trees.words,
                                            sigmoid: sigmoid, averageOutput: header.averageOutput)
            return try categories.map { names throws(ModelError) in try forest.withCategoryNames(names) } ?? forest
        } catch {
            throw .invalid("LightGBM model: \(error.description)")
        }
    }

    /// The header's `key=value` lines and bare flags, up to the first tree.
    static func readHeader(_ lines: inout Lines) throws(ModelError) -> Header {
        var h = Header()
        while !lines.done, !lines.current.hasPrefix("Tree="), lines.current != "end of trees" {
            let line = lines.current
            defer { lines.at += 1 }
            if line.isEmpty { continue }
            guard let eq = line.firstIndex(of: "=") else {
                guard line == "average_output" else {
                    throw .unsupported("header line \(lines.number) \(LightGBMReader.shown(line)): nextbest does not know how this flag changes predictions")
                }
                h.averageOutput = true
                continue
            }
            let key = String(line[..<eq])
            guard h.keys[key] == nil else { throw .malformed(path: "line \(lines.number)", reason: "\(shown(line[..<eq])) given twice") }
            h.keys[key] = (lines.number, line[line.index(after: eq)...])
        }
        return h
    }

    /// Checks the header's model shape and objective; the feature names and the sigmoid's scale.
    static func checkHeader(_ h: Header) throws(ModelError) -> ([String], Double) {
        func value(_ key: String) throws(ModelError) -> (line: Int, value: Substring) {
            guard let v = h.keys[key] else { throw .malformed(path: key, reason: "missing from the header (is this a LightGBM text model?)") }
            return v
        }
        func int(_ key: String) throws(ModelError) -> Int {
            let v = try value(key)
            guard let n = Int(v.value) else { throw .malformed(path: "line \(v.line) (\(key))", reason: "\(LightGBMReader.shown(v.value)) is not an integer") }
            return n
        }
        let version = try value("version")
        guard ["v2", "v3", "v4"].contains(version.value) else {
            throw .unsupported("model format version \(shown(version.value)) (line \(version.line)): nextbest reads LightGBM's text formats v2 to v4 (LightGBM 2.0 and later)")
        }
        let classes = try int("num_class")
        guard classes == 1 else {
            throw .unsupported("multi-class model (num_class=\(classes), line \(h.keys["num_class"]!.line)): nextbest scores binary propensity models only")
        }
        if h.keys["num_tree_per_iteration"] != nil {
            let k = try int("num_tree_per_iteration")
            guard k == 1 else { throw .unsupported("\(k) trees per iteration (line \(h.keys["num_tree_per_iteration"]!.line)): nextbest scores binary propensity models only") }
        }
        let maxFeature = try int("max_feature_idx")
        let names = try value("feature_names")
        let list = names.value.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard list.count == maxFeature + 1 else {
            throw .malformed(path: "line \(names.line) (feature_names)", reason: "\(list.count) names, but max_feature_idx=\(maxFeature) says \(maxFeature + 1)")
        }
        return (list, try sigmoid(try value("objective")))
    }

    /// The link's scale from the objective line: `binary sigmoid:σ`, or `cross_entropy` (σ = 1).
    static func sigmoid(_ objective: (line: Int, value: Substring)) throws(ModelError) -> Double {
        let parts = objective.value.split(separator: " ")
        let name = parts.first.map(String.init) ?? ""
        if name == "cross_entropy", parts.count == 1 { return 1 }
        guard name == "binary" else {
            throw .unsupported("objective \(LightGBMReader.shown(objective.value)) (line \(objective.line)): nextbest evaluates binary and cross_entropy models, whose prediction is 1/(1+exp(-σ·score))")
        }
        var sigmoid: Double?
        for p in parts.dropFirst() {
            guard p.hasPrefix("sigmoid:"), let s = Double(p.dropFirst("sigmoid:".count)), s.isFinite, s > 0 else {
                throw .unsupported("objective parameter \(LightGBMReader.shown(p)) (line \(objective.line)): only a positive finite sigmoid:σ is understood")
            }
            sigmoid = s
        }
        guard let sigmoid else { throw .malformed(path: "line \(objective.line) (objective)", reason: "binary objective without sigmoid:σ") }
        return sigmoid
    }

    /// The text categories of a model trained on a pandas DataFrame with `category` columns: the
    /// `pandas_categorical` lists (values as strings; `pandas.Categorical` numbers as pandas prints them)
    /// go to the features `[categorical_feature: i,j]` of the parameters names, in order. Nil for `null`,
    /// no such line, or only the codes 0…n-1 without the parameters (a numeric column then holds the codes).
    static func pandasCategories(_ lines: inout Lines, features: Int) throws(ModelError) -> [[String]]? {
        let key = "pandas_categorical:", parameter = "[categorical_feature: "
        var indices: [Int]? = nil
        while !lines.done, !lines.current.hasPrefix(key) {
            if lines.current.hasPrefix(parameter), lines.current.hasSuffix("]") {
                let list = lines.current.dropFirst(parameter.count).dropLast()
                indices = list.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            }
            lines.at += 1
        }
        guard !lines.done else { return nil }
        let text = lines.current.dropFirst(key.count)
        if text == "null" { return nil }
        let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [])
        guard let columns = parsed as? [[Any]] else {
            throw .malformed(path: "line \(lines.number) (pandas_categorical)", reason: "expected null or a JSON list of category lists")
        }
        let lists = columns.map { $0.map(categoryText) }
        guard let indices, indices.count == lists.count, indices.allSatisfy({ (0..<features).contains($0) }) else {
            let codes = lists.allSatisfy { $0.enumerated().allSatisfy { i, c in c == String(i) } }
            if codes { return nil }
            throw .unsupported("pandas_categorical (line \(lines.number)) lists \(lists.count) columns but the parameters do not say which features they are ([categorical_feature: …] missing or of another length): save the model with LightGBM's Booster.save_model, which writes both")
        }
        var names = [[String]](repeating: [], count: features)
        for (k, f) in indices.enumerated() { names[f] = lists[k] }
        return names
    }

    /// A pandas category as text: a string as it is, an integral number without a fraction (`3`), any
    /// other number as Swift prints a Double (`2.5`).
    static func categoryText(_ value: Any) -> String {
        if let s = value as? String { return s }
        if let n = value as? NSNumber {
            let d = n.doubleValue
            if d.rounded() == d, abs(d) < 1e15 { return String(Int64(d)) }
            return String(d)
        }
        return "\(value)"
    }
}
