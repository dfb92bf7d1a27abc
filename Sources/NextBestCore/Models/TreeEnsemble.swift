import Foundation

/// A gradient-boosted tree ensemble for binary classification, evaluated exactly as XGBoost evaluates
/// `binary:logistic` models: per tree, go left when `feature < threshold` (Float32 comparison), follow the
/// node's default direction when the feature is missing, add the leaf values in Float32 to the base margin,
/// and apply the logistic function.
public struct TreeEnsemble: Sendable, Equatable, Codable {
    /// One node of a flattened tree; `feature < 0` marks a leaf whose value is `threshold`.
    public struct Node: Sendable, Equatable, Codable {
        public var feature: Int32
        public var threshold: Float
        /// Index of the left child in `nodes`; the right child is always `left + 1`.
        public var left: Int32
        public var defaultLeft: Bool

        public init(feature: Int32, threshold: Float, left: Int32, defaultLeft: Bool) {
            self.feature = feature
            self.threshold = threshold
            self.left = left
            self.defaultLeft = defaultLeft
        }
    }

    /// Feature names in the model's own order; node `feature` values index this list (until bound).
    public var features: [String]
    /// The margin every prediction starts from (`logit(base_score)` for XGBoost's logistic objective).
    public var baseMargin: Float
    /// All trees' nodes; children of a node are adjacent.
    public var nodes: [Node]
    /// Index of each tree's root in `nodes`.
    public var roots: [Int32]

    public init(features: [String], baseMargin: Float, nodes: [Node], roots: [Int32]) throws(ModelError) {
        try LogisticModel.checkFeatureNames(features, "tree model")
        for (i, n) in nodes.enumerated() where n.feature >= 0 {
            guard Int(n.feature) < features.count else {
                throw .invalid("tree node \(i) splits on feature \(n.feature) but the model has \(features.count) features")
            }
            guard n.left > Int32(i), Int(n.left) + 1 < nodes.count else {
                throw .invalid("tree node \(i) has child index \(n.left) out of order or out of range")
            }
        }
        for r in roots where r < 0 || Int(r) >= nodes.count { throw .invalid("tree root \(r) out of range") }
        // Leaves are added in Float32: when the base margin and every leaf together stay finite, no path
        // through the trees can overflow the margin to ±inf (or NaN, inf − inf).
        guard baseMargin.isFinite else { throw .invalid("tree model's base margin is not finite") }
        var bound = Double(abs(baseMargin))
        for (i, n) in nodes.enumerated() {
            guard n.threshold.isFinite else {
                throw .invalid("tree node \(i) has a non-finite \(n.feature < 0 ? "leaf value" : "split threshold") (as a 32-bit float)")
            }
            if n.feature < 0 { bound += Double(abs(n.threshold)) }
        }
        guard bound <= Double(Float.greatestFiniteMagnitude) else {
            throw .invalid("tree model's leaf values are so large (their magnitudes sum to \(bound)) that a margin can overflow 32-bit floats")
        }
        self.features = features
        self.baseMargin = baseMargin
        self.nodes = nodes
        self.roots = roots
    }

    /// The number of trees.
    public var treeCount: Int { roots.count }

    /// Builds the flattened layout from per-tree child arrays as XGBoost stores them
    /// (`left_children[i] == -1` for a leaf, whose value is `leafValues[i]`).
    public struct TreeArrays: Sendable {
        public var left: [Int]
        public var right: [Int]
        public var feature: [Int]
        public var threshold: [Float]
        public var defaultLeft: [Bool]
        public init(left: [Int], right: [Int], feature: [Int], threshold: [Float], defaultLeft: [Bool]) {
            self.left = left; self.right = right; self.feature = feature
            self.threshold = threshold; self.defaultLeft = defaultLeft
        }
    }

    /// Appends one tree given in XGBoost's array form, re-laying it out so children are adjacent.
    /// Throws if the arrays are inconsistent (sizes, cycles, out-of-range children).
    public static func flatten(_ t: TreeArrays, featureCount: Int, into nodes: inout [Node], roots: inout [Int32]) throws(ModelError) {
        let n = t.left.count
        guard n > 0, t.right.count == n, t.feature.count == n, t.threshold.count == n, t.defaultLeft.count == n else {
            throw .invalid("tree arrays have inconsistent lengths")
        }
        let root = Int32(nodes.count)
        roots.append(root)
        nodes.append(Node(feature: -1, threshold: 0, left: 0, defaultLeft: false))
        // Breadth-first walk; each pair of children is placed next to each other.
        var queue: [(src: Int, dst: Int)] = [(0, Int(root))]
        var visited = [Bool](repeating: false, count: n)
        var head = 0
        while head < queue.count {
            let (src, dst) = queue[head]
            head += 1
            guard src >= 0, src < n, !visited[src] else { throw .invalid("tree node \(src) is out of range or reached twice") }
            visited[src] = true
            if t.left[src] == -1 {
                guard t.threshold[src].isFinite else { throw .invalid("tree leaf \(src) has a non-finite value") }
                nodes[dst] = Node(feature: -1, threshold: t.threshold[src], left: 0, defaultLeft: false)
            } else {
                guard t.threshold[src].isFinite else { throw .invalid("tree node \(src) has a non-finite split threshold (as a 32-bit float)") }
                guard t.feature[src] >= 0, t.feature[src] < featureCount else {
                    throw .invalid("tree node \(src) splits on feature index \(t.feature[src]); the model has \(featureCount) features")
                }
                let l = nodes.count
                nodes.append(Node(feature: -1, threshold: 0, left: 0, defaultLeft: false))
                nodes.append(Node(feature: -1, threshold: 0, left: 0, defaultLeft: false))
                nodes[dst] = Node(feature: Int32(t.feature[src]), threshold: t.threshold[src], left: Int32(l), defaultLeft: t.defaultLeft[src])
                queue.append((t.left[src], l))
                queue.append((t.right[src], l + 1))
            }
            if nodes.count > 50_000_000 { throw .invalid("tree ensemble too large") }
        }
    }
}
