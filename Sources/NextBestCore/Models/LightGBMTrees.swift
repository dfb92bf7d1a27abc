extension LightGBMReader {
    /// One `Tree=N` block: its keys, with the line of each.
    struct Block {
        var tree: Int
        var line: Int
        var keys: [String: (line: Int, value: Substring)] = [:]

        func value(_ key: String) throws(ModelError) -> (line: Int, value: Substring) {
            guard let v = keys[key] else { throw .malformed(path: "Tree=\(tree) (line \(line))", reason: "\(key) is missing") }
            return v
        }

        func int(_ key: String) throws(ModelError) -> Int {
            let v = try value(key)
            guard let n = Int(v.value) else {
                throw .malformed(path: "line \(v.line) (\(key))", reason: "\(LightGBMReader.shown(v.value)) is not an integer")
            }
            return n
        }

        /// The key's space-separated items, `count` of them when given, each parsed by `parse`.
        func items<T>(_ key: String, count: Int?, _ parse: (Substring) -> T?) throws(ModelError) -> [T] {
            let v = try value(key)
            let parts = v.value.split(separator: " ")
            if let count, parts.count != count {
                throw .malformed(path: "line \(v.line) (\(key))", reason: "\(parts.count) values where Tree=\(tree) needs \(count)")
            }
            var out: [T] = []
            out.reserveCapacity(parts.count)
            for (i, p) in parts.enumerated() {
                guard let x = parse(p) else {
                    throw .malformed(path: "line \(v.line) (\(key))", reason: "value \(i + 1), \(LightGBMReader.shown(p)), is not a valid \(T.self == Double.self ? "number" : "integer")")
                }
                out.append(x)
            }
            return out
        }
    }

    /// Reads the `Tree=N` line and the tree's `key=value` lines up to the blank line that ends it.
    static func readBlock(_ lines: inout Lines, tree: Int) throws(ModelError) -> Block {
        let start = lines.number
        guard Int(lines.current.dropFirst("Tree=".count)) == tree else {
            throw .malformed(path: "line \(start)", reason: "expected \"Tree=\(tree)\", found \(LightGBMReader.shown(lines.current))")
        }
        var b = Block(tree: tree, line: start)
        lines.at += 1
        while !lines.done, !lines.current.isEmpty, !lines.current.hasPrefix("Tree="), lines.current != "end of trees" {
            let line = lines.current
            guard let eq = line.firstIndex(of: "=") else {
                throw .malformed(path: "line \(lines.number)", reason: "expected key=value in Tree=\(tree), found \(LightGBMReader.shown(line))")
            }
            let key = String(line[..<eq])
            guard b.keys[key] == nil else { throw .malformed(path: "line \(lines.number)", reason: "\(shown(line[..<eq])) given twice in Tree=\(tree)") }
            b.keys[key] = (lines.number, line[line.index(after: eq)...])
            lines.at += 1
        }
        return b
    }

    /// The per-tree arrays of one block that the flattening reads.
    struct TreeArrays {
        var leaves: [Double]
        var feature: [Int]
        var threshold: [Double]
        var decision: [Int]
        var left: [Int]
        var right: [Int]
        var categories: Int
    }

    /// Collects the trees, flattened into `DecisionForest` nodes, and their category sets.
    struct TreeSink {
        var nodes: [DecisionForest.Node] = []
        var roots: [Int32] = []
        var bounds: [Int32] = [0]
        var words: [UInt32] = []
        var count: Int { roots.count }

        mutating func add(_ b: Block, features: Int) throws(ModelError) {
            let leafCount = try b.int("num_leaves"), cats = try b.int("num_cat")
            guard leafCount >= 1, leafCount <= DecisionForest.maxNodes else {
                throw .malformed(path: "line \(b.keys["num_leaves"]!.line) (num_leaves)", reason: "\(leafCount) leaves")
            }
            guard cats >= 0, cats < leafCount else { throw .malformed(path: "line \(b.keys["num_cat"]!.line) (num_cat)", reason: "\(cats) category sets for \(leafCount) leaves") }
            if let linear = b.keys["is_linear"], linear.value != "0" {
                guard let flag = Int(linear.value) else {
                    throw .malformed(path: "line \(linear.line) (is_linear)", reason: "\(LightGBMReader.shown(linear.value)) is not 0 or 1")
                }
                throw .unsupported("linear tree (is_linear=\(flag) in Tree=\(b.tree), line \(linear.line)): nextbest evaluates constant leaves only; train with linear_tree=false")
            }
            let leaves = try b.items("leaf_value", count: leafCount) { Double($0) }
            if leafCount == 1 {
                roots.append(Int32(nodes.count))
                nodes.append(.leaf(leaves[0]))
                return
            }
            let inner = leafCount - 1
            let t = TreeArrays(
                leaves: leaves, feature: try b.items("split_feature", count: inner) { Int($0) },
                threshold: try b.items("threshold", count: inner) { Double($0) },
                decision: b.keys["decision_type"] == nil ? Array(repeating: 0, count: inner) : try b.items("decision_type", count: inner) { Int($0) },
                left: try b.items("left_child", count: inner) { Int($0) }, right: try b.items("right_child", count: inner) { Int($0) },
                categories: cats)
            let setBase = bounds.count - 1
            if cats > 0 { try addSets(b, count: cats) }
            try flatten(t, b, features: features, setBase: setBase)
        }

        /// Appends the tree's category bitsets (`cat_boundaries`, `cat_threshold`) to the forest's.
        mutating func addSets(_ b: Block, count: Int) throws(ModelError) {
            let local = try b.items("cat_boundaries", count: count + 1) { Int($0) }
            let bits = try b.items("cat_threshold", count: nil) { UInt32($0) }
            let line = b.keys["cat_boundaries"]!.line
            guard local.first == 0, local.last == bits.count, zip(local, local.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw .malformed(path: "line \(line) (cat_boundaries)", reason: "must rise from 0 to the \(bits.count) words of cat_threshold")
            }
            guard words.count + bits.count <= DecisionForest.maxCategoryWords else {
                throw .malformed(path: "line \(line) (cat_boundaries)", reason: "category sets over \(DecisionForest.maxCategoryWords) words in all")
            }
            let base = Int32(words.count)
            for x in local.dropFirst() { bounds.append(base + Int32(x)) }
            words.append(contentsOf: bits)
        }
    }
}

extension LightGBMReader.TreeSink {
    /// Appends one tree, re-laid out breadth-first so that the children of a split are adjacent and after
    /// it. LightGBM's child `c >= 0` is split `c`, `c < 0` is leaf `~c`; each must be reached once.
    mutating func flatten(_ t: LightGBMReader.TreeArrays, _ b: LightGBMReader.Block, features: Int, setBase: Int) throws(ModelError) {
        let inner = t.feature.count
        let childLine = b.keys["left_child"]!.line
        roots.append(Int32(nodes.count))
        nodes.append(.leaf(0))
        var queue: [(child: Int, at: Int)] = [(0, nodes.count - 1)]
        var seenSplit = [Bool](repeating: false, count: inner), seenLeaf = [Bool](repeating: false, count: t.leaves.count)
        var head = 0
        while head < queue.count {
            let (c, at) = queue[head]
            head += 1
            if c < 0 {
                let leaf = ~c
                guard leaf < t.leaves.count, !seenLeaf[leaf] else {
                    throw .malformed(path: "line \(childLine) (left_child/right_child)", reason: "Tree=\(b.tree) refers to leaf \(leaf) out of range or twice")
                }
                seenLeaf[leaf] = true
                nodes[at] = .leaf(t.leaves[leaf])
                continue
            }
            guard c < inner, !seenSplit[c] else {
                throw .malformed(path: "line \(childLine) (left_child/right_child)", reason: "Tree=\(b.tree) refers to split \(c) out of range or twice")
            }
            seenSplit[c] = true
            var node = try Self.split(c, t, b, features: features, setBase: setBase)
            node.left = Int32(nodes.count)
            nodes[at] = node
            queue.append((t.left[c], nodes.count)); queue.append((t.right[c], nodes.count + 1))
            nodes.append(.leaf(0)); nodes.append(.leaf(0))
            guard nodes.count <= DecisionForest.maxNodes else {
                throw .malformed(path: "Tree=\(b.tree) (line \(b.line))", reason: "the model has over \(DecisionForest.maxNodes) nodes")
            }
        }
    }

    /// Split `c` of the tree: `decision_type` bit 0 categorical, bit 1 default left, bits 2–3 the missing
    /// type; a categorical split's `threshold` is the index of its category set within the tree.
    static func split(_ c: Int, _ t: LightGBMReader.TreeArrays, _ b: LightGBMReader.Block, features: Int, setBase: Int) throws(ModelError) -> DecisionForest.Node {
        let d = t.decision[c]
        let where_ = "Tree=\(b.tree) split \(c)"
        guard (0...15).contains(d), let missing = DecisionForest.Missing(rawValue: UInt8(d >> 2)) else {
            throw .unsupported("decision_type \(d) at \(where_) (line \(b.keys["decision_type"]!.line)): nextbest knows bit 0 (categorical), bit 1 (default left) and missing types 0–2 in bits 2–3")
        }
        guard t.feature[c] >= 0, t.feature[c] < features else {
            throw .malformed(path: "line \(b.keys["split_feature"]!.line) (split_feature)", reason: "\(where_) splits on feature \(t.feature[c]); the model has \(features)")
        }
        var node = DecisionForest.Node(feature: Int32(t.feature[c]), value: t.threshold[c], left: 0,
                                       defaultLeft: d & 2 != 0, missing: missing)
        if d & 1 != 0 {
            let k = t.threshold[c]
            guard k >= 0, k < Double(t.categories), k == k.rounded() else {
                throw .malformed(path: "line \(b.keys["threshold"]!.line) (threshold)", reason: "\(where_) is categorical but its threshold \(k) is not one of the tree's \(t.categories) category sets (num_cat)")
            }
            node.categorical = true
            node.categorySet = Int32(setBase + Int(k))
            node.value = 0
        } else if t.threshold[c].isNaN {
            throw .malformed(path: "line \(b.keys["threshold"]!.line) (threshold)", reason: "\(where_) has threshold \(t.threshold[c])")
        }
        return node
    }
}
