import Foundation
import NextBestCore

/// The `nodes_*` attributes of a tree ensemble, checked for equal lengths, and their flattening into
/// `DecisionForest` nodes (children adjacent, after their split; the left child is where `x <= threshold`
/// goes).
struct NodeTable {
    typealias Key = ONNXTrees.Key
    let place: String
    let trees: [Int64], ids: [Int64], featureIds: [Int64], trueIds: [Int64], falseIds: [Int64], tracks: [Int64]
    let modes: [String]
    let values: [Float]
    let index: [Key: Int]

    init(_ a: ONNXAttributes) throws(ModelError) {
        place = a.place
        ids = try a.required("nodes_nodeids", a.ints("nodes_nodeids"))
        let n = ids.count
        guard n > 0, n <= DecisionForest.maxNodes / 2 else {
            throw .invalid("\(place) has \(n) tree nodes; 1 to \(DecisionForest.maxNodes / 2) are accepted")
        }
        trees = try a.required("nodes_treeids", a.ints("nodes_treeids"), count: n)
        featureIds = try a.required("nodes_featureids", a.ints("nodes_featureids"), count: n)
        modes = try a.required("nodes_modes", a.strings("nodes_modes"), count: n)
        values = try a.required("nodes_values", a.floats("nodes_values"), count: n)
        trueIds = try a.required("nodes_truenodeids", a.ints("nodes_truenodeids"), count: n)
        falseIds = try a.required("nodes_falsenodeids", a.ints("nodes_falsenodeids"), count: n)
        tracks = a.has("nodes_missing_value_tracks_true")
            ? try a.required("nodes_missing_value_tracks_true", a.ints("nodes_missing_value_tracks_true"), count: n) : []
        var index: [Key: Int] = [:]
        for i in 0..<n {
            guard index.updateValue(i, forKey: Key(tree: trees[i], node: ids[i])) == nil else {
                throw .malformed(path: "\(place).nodes_nodeids[\(i)]", reason: "tree \(trees[i]) has node \(ids[i]) twice")
            }
        }
        self.index = index
    }

    /// Each tree's root: the one node of the tree no split points to; trees in increasing id order.
    func roots() throws(ModelError) -> [Int] {
        var pointedTo = Set<Key>()
        for i in ids.indices where modes[i] != "LEAF" {
            pointedTo.insert(Key(tree: trees[i], node: trueIds[i])); pointedTo.insert(Key(tree: trees[i], node: falseIds[i]))
        }
        var root: [Int64: Int] = [:]
        for i in ids.indices where !pointedTo.contains(Key(tree: trees[i], node: ids[i])) {
            guard root.updateValue(i, forKey: trees[i]) == nil else {
                throw .malformed(path: "\(place).nodes_nodeids", reason: "tree \(trees[i]) has more than one root (node \(ids[i]) and another)")
            }
        }
        for t in Set(trees) where root[t] == nil {
            throw .malformed(path: "\(place).nodes_nodeids", reason: "tree \(t) has no root (its nodes form a cycle)")
        }
        return root.keys.sorted().map { root[$0]! }
    }

    /// Category sets built while flattening (`DecisionForest.categoryBounds`/`categoryWords`) and the text
    /// categories of one-hot encoded features.
    struct Categories {
        var bounds: [Int32] = [0]
        var words: [UInt32] = []
        var names: [Int: [String]] = [:]

        /// Adds the set of `codes` and returns its index.
        mutating func add(_ codes: [Int64]) -> Int32 {
            let top = Int(codes.max() ?? 0)
            var set = [UInt32](repeating: 0, count: top / 32 + 1)
            for c in codes { set[Int(c) >> 5] |= 1 << UInt32(c & 31) }
            words += set
            bounds.append(Int32(words.count))
            return Int32(bounds.count - 2)
        }
    }

    /// Appends every tree to `out`, depth first with an explicit stack (any depth), refusing a node
    /// reached twice, a child that does not exist, a leaf without a weight.
    ///
    /// A split on a one-hot column becomes a category split on its feature (left: the branch its value 1
    /// takes; right: the branch of 0, where missing and unknown categories go). `BRANCH_EQ`/`BRANCH_NEQ` on a
    /// feature become exact category splits (left: equal); a chain of `BRANCH_EQ` nodes on one feature that
    /// share their true branch, as onnxmltools writes a LightGBM category-set split, becomes one split.
    func flatten(leaves: [Key: Float], columns: [Column], into out: inout [DecisionForest.Node], roots: inout [Int32],
                 categories: inout Categories) throws(ModelError) {
        var seen = [Bool](repeating: false, count: ids.count)
        for r in try self.roots() {
            roots.append(Int32(out.count))
            out.append(.leaf(0))
            var stack = [(r, out.count - 1)]
            while let (s, d) = stack.popLast() {
                let key = Key(tree: trees[s], node: ids[s])
                guard !seen[s] else { throw .malformed(path: "\(place)", reason: "tree \(key.tree) reaches node \(key.node) twice") }
                seen[s] = true
                if modes[s] == "LEAF" {
                    guard let v = leaves[key] else {
                        throw .unsupported("\(place): leaf \(key.node) of tree \(key.tree) has no weight for the class read; onnxruntime's output then depends on which classes other leaves score")
                    }
                    out[d] = .leaf(Double(v))
                    continue
                }
                guard featureIds[s] >= 0, featureIds[s] < columns.count else {
                    throw .malformed(path: "\(place).nodes_featureids[\(s)]", reason: "feature \(featureIds[s]) of a \(columns.count)-feature input")
                }
                let column = columns[Int(featureIds[s])]
                let nodePlace = "\(place), tree \(key.tree) node \(key.node)"
                guard let t = index[Key(tree: key.tree, node: trueIds[s])], let f = index[Key(tree: key.tree, node: falseIds[s])] else {
                    throw .malformed(path: "\(place)", reason: "tree \(key.tree) node \(key.node) has a child that is not a node of the tree")
                }
                let tracksTrue = (tracks.isEmpty ? 0 : tracks[s]) != 0
                let left = out.count
                if let oh = column.oneHot {
                    guard !values[s].isNaN else { throw .malformed(path: nodePlace, reason: "the split threshold is NaN") }
                    let one = try Split.holds(modes[s], column.apply(1), values[s], place: nodePlace)
                    let zero = try Split.holds(modes[s], column.apply(0), values[s], place: nodePlace)
                    if one == zero {
                        // Both values take one branch: the split is no split.
                        stack.append((one ? t : f, d))
                        continue
                    }
                    if let names = oh.names {
                        if let other = categories.names[column.feature], other != names {
                            throw .unsupported("\(nodePlace): feature \(Quoted.text(String(column.feature))) is one-hot encoded twice with different categories")
                        }
                        categories.names[column.feature] = names
                    }
                    out.append(.leaf(0)); out.append(.leaf(0))
                    out[d] = DecisionForest.Node(feature: Int32(column.feature), value: 0, left: Int32(left), categorical: true,
                                                 defaultLeft: false, missing: .exact, categorySet: categories.add([oh.code]))
                    stack.append((one ? f : t, left + 1))
                    stack.append((one ? t : f, left))
                    continue
                }
                if modes[s] == "BRANCH_EQ" || modes[s] == "BRANCH_NEQ" {
                    if column.steps.contains(where: { if case .scale = $0 { return true } else { return false } }) || column.normalizer != nil {
                        throw .unsupported("\(nodePlace) has comparison mode \(modes[s]) on a scaled feature; nextbest evaluates BRANCH_EQ and BRANCH_NEQ on features as they are (integer categories)")
                    }
                    let equal = modes[s] == "BRANCH_EQ"
                    var codes = [values[s]], otherwise = f
                    // A chain of equality tests on the feature with one true branch is one category set.
                    if equal {
                        while !seen[otherwise], modes[otherwise] == "BRANCH_EQ", featureIds[otherwise] == featureIds[s],
                              trueIds[otherwise] == trueIds[s], ((tracks.isEmpty ? 0 : tracks[otherwise]) != 0) == tracksTrue {
                            seen[otherwise] = true
                            codes.append(values[otherwise])
                            guard let next = index[Key(tree: key.tree, node: falseIds[otherwise])] else {
                                throw .malformed(path: "\(place)", reason: "tree \(key.tree) node \(ids[otherwise]) has a child that is not a node of the tree")
                            }
                            otherwise = next
                        }
                    }
                    var ints: [Int64] = []
                    for c in codes {
                        guard c >= 0, c < Float(Split.maxCode), c == c.rounded(.towardZero) else {
                            throw .unsupported("\(nodePlace) has comparison mode \(modes[s]) with the value \(c); nextbest evaluates equality with integer categories 0 to \(Split.maxCode - 1)")
                        }
                        ints.append(Int64(c))
                    }
                    let (inSet, outSet) = equal ? (t, otherwise) : (f, t)
                    // NaN: the imputed value's category, else no equality holds (NEQ holds: its true branch).
                    let imputed = column.apply(.nan)
                    let nanLeft = imputed.isNaN ? (equal ? tracksTrue : false) : ints.contains { Float($0) == imputed }
                    out.append(.leaf(0)); out.append(.leaf(0))
                    out[d] = DecisionForest.Node(feature: Int32(column.feature), value: 0, left: Int32(left), categorical: true,
                                                 defaultLeft: nanLeft, missing: .exact, categorySet: categories.add(ints))
                    stack.append((outSet, left + 1))
                    stack.append((inSet, left))
                    continue
                }
                let split = try Split(mode: modes[s], threshold: values[s], column: column, tracksTrue: tracksTrue, place: nodePlace)
                out.append(.leaf(0)); out.append(.leaf(0))
                out[d] = DecisionForest.Node(feature: Int32(column.feature), value: split.threshold, left: Int32(left),
                                             defaultLeft: split.nanTrue != split.swap, missing: .exact)
                stack.append(split.swap ? (t, left + 1) : (f, left + 1))
                stack.append(split.swap ? (f, left) : (t, left))
            }
        }
    }
}
