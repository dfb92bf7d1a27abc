import Foundation

/// A binary-classification tree ensemble of any shape (deep, unbalanced, with category-set splits),
/// evaluated with the arithmetic of the library that trained it, which `arithmetic` names.
///
/// LightGBM's arithmetic (`Arithmetic.lightGBM`): per node, a missing value is resolved by the node's
/// missing type and default direction, a numerical split goes left when the Float32 feature, widened to
/// Double, is `<=` the Double threshold, and a categorical split goes left when the integer category is in
/// the node's bitset; leaf values are Doubles summed in Double in tree order (averaged over the trees for
/// random forests), and the propensity is `1 / (1 + exp(-sigmoid × sum))`. ONNX tree ensembles
/// (`Arithmetic.onnx`, `.onnxProbability`) use numerical splits of missing type `.exact` only, whose
/// thresholds are Float32 values (or ±inf) so that `<=` in Double is the Float32 comparison; the reader
/// turns ONNX's other comparison modes into `<=` on the right side. docs/models.md gives the rules in full.
///
/// Trees are stored flattened: a split's right child is always at `left + 1` and after the split itself,
/// so every walk ends.
public struct DecisionForest: Sendable, Equatable, Codable {
    /// Which library's evaluation rules the forest follows.
    public enum Arithmetic: UInt8, Sendable, Equatable, Codable {
        /// LightGBM's `Tree::Predict` and `GBDT::Predict` (see `DecisionForest`).
        case lightGBM = 0
        /// An ONNX `TreeEnsembleClassifier` with a logistic post transform (or `TreeEnsembleRegressor` then
        /// `Sigmoid`): the propensity is `1 / (1 + exp(-sigmoid × sum))`, as for LightGBM.
        case onnx = 1
        /// An ONNX `TreeEnsembleClassifier` whose class score is the probability itself (no post
        /// transform, non-negative weights: random forests). The propensity is the sum, clamped to [0, 1];
        /// the initializer checks that no customer's sum can leave [-1e-6, 1 + 1e-6].
        case onnxProbability = 2

        /// Whether the propensity is the output itself rather than its sigmoid.
        public var isProbability: Bool { self == .onnxProbability }
        /// XGBoost's `RegTree` prediction for models with categorical splits: a numerical split goes left
        /// when the Float32 feature is `<` the Float32 threshold (stored as the Double of the next Float32
        /// down, so LightGBM's `<=` test gives the same answer), a missing value follows the default
        /// direction at every split, a category split goes right when the category is in XGBoost's set
        /// (stored as its complement: the categories going left); the base margin is a one-leaf tree.
        case xgboost = 3
    }

    /// How a split treats a missing feature, as LightGBM's `MissingType` (decision_type bits 2–3).
    public enum Missing: UInt8, Sendable, Equatable, Codable {
        /// NaN counts as 0.0 and is compared like any value.
        case none = 0
        /// NaN counts as 0.0, and 0.0 (|value| ≤ 1e-35) follows the default direction.
        case zero = 1
        /// NaN follows the default direction; 0.0 is compared like any value.
        case nan = 2
        /// NaN follows the default direction; every other value is compared as it is, with no zero window
        /// (ONNX: a value of 1e-36 is not 0.0). On a categorical split (ONNX `BRANCH_EQ`/`BRANCH_NEQ`, one-hot
        /// columns): a value is in the set only when it is an integer whose bit is set (2.5 is no category).
        case exact = 3
    }

    /// One node of a flattened tree; `feature < 0` marks a leaf whose output is `value`.
    public struct Node: Sendable, Equatable, Codable {
        /// The feature the node splits on (model order until bound), or -1 for a leaf.
        public var feature: Int32
        /// A numerical split's threshold, or a leaf's output; unused (0) for a categorical split.
        public var value: Double
        /// Index of the left child in `nodes`; the right child is `left + 1`.
        public var left: Int32
        /// Whether the split tests membership of the category set `categorySet`.
        public var categorical: Bool
        /// Where a missing value goes (numerical splits; see `Missing`).
        public var defaultLeft: Bool
        public var missing: Missing
        /// Index of the split's category set (categorical splits), else -1.
        public var categorySet: Int32

        public init(feature: Int32, value: Double, left: Int32, categorical: Bool = false,
                    defaultLeft: Bool = false, missing: Missing = .none, categorySet: Int32 = -1) {
            self.feature = feature; self.value = value; self.left = left; self.categorical = categorical
            self.defaultLeft = defaultLeft; self.missing = missing; self.categorySet = categorySet
        }

        /// A leaf with output `value`.
        public static func leaf(_ value: Double) -> Node { Node(feature: -1, value: value, left: 0) }
    }

    /// The most nodes a forest may have (a sane cap against damaged files, not a depth limit).
    public static let maxNodes = 50_000_000
    /// The most 32-bit words all category sets together may take (categories up to about 5·10^8).
    public static let maxCategoryWords = 1 << 24
    /// LightGBM's `kZeroThreshold` (the float 1e-35 widened to Double): a feature no larger in magnitude is 0.
    public static let zeroThreshold = Double(Float(1e-35))

    public var arithmetic: Arithmetic
    /// Feature names in the model's own order; node `feature` values index this list (until bound).
    public var features: [String]
    /// All trees' nodes; the children of a split are adjacent and after it.
    public var nodes: [Node]
    /// Index of each tree's root in `nodes`.
    public var roots: [Int32]
    /// Category set `k` is the bitset `categoryWords[categoryBounds[k] ..< categoryBounds[k + 1]]`:
    /// category `c` is in it when bit `c % 32` of word `c / 32` is set.
    public var categoryBounds: [Int32]
    public var categoryWords: [UInt32]
    /// The link's scale: the propensity is `1 / (1 + exp(-sigmoid × output))`.
    public var sigmoid: Double
    /// Whether the output is the mean of the trees' outputs rather than their sum (random forests).
    public var averageOutput: Bool
    /// The text categories of each feature in model code order (empty for a feature without them), when
    /// the model was trained on pandas category columns; nil otherwise (`DecisionForestCategories`).
    public var categoryNames: [[String]]? = nil

    /// Checks the forest: node and set indices in range, children after their split, leaf values finite,
    /// thresholds not NaN (±inf is a threshold LightGBM writes) and no customer's margin able to overflow.
    public init(arithmetic: Arithmetic, features: [String], nodes: [Node], roots: [Int32],
                categoryBounds: [Int32], categoryWords: [UInt32], sigmoid: Double, averageOutput: Bool) throws(ModelError) {
        try LogisticModel.checkFeatureNames(features, "tree model")
        guard !roots.isEmpty else { throw .invalid("tree model has no trees") }
        guard nodes.count <= Self.maxNodes else { throw .invalid("tree model has \(nodes.count) nodes; at most \(Self.maxNodes) are accepted") }
        guard categoryWords.count <= Self.maxCategoryWords else {
            throw .invalid("tree model's category sets take \(categoryWords.count) words; at most \(Self.maxCategoryWords) are accepted")
        }
        try Self.checkCategorySets(bounds: categoryBounds, words: categoryWords.count)
        for r in roots where r < 0 || Int(r) >= nodes.count { throw .invalid("tree root \(r) out of range") }
        for (i, n) in nodes.enumerated() {
            try Self.check(n, at: i, count: nodes.count, features: features.count, sets: categoryBounds.count - 1)
        }
        guard sigmoid.isFinite, sigmoid > 0 else { throw .invalid("tree model's sigmoid \(sigmoid) is not a positive finite number") }
        // Any path's output is at most the sum of every leaf's magnitude: when that, scaled, is finite,
        // no customer's margin can be ±inf (or NaN, inf − inf).
        let bound = nodes.reduce(0.0) { $1.feature < 0 ? $0 + abs($1.value) : $0 } * sigmoid
        guard bound <= 1e300 else {
            throw .invalid("tree model's leaf values are so large (their magnitudes sum to \(bound)) that a margin can overflow")
        }
        self.arithmetic = arithmetic; self.features = features; self.nodes = nodes; self.roots = roots
        self.categoryBounds = categoryBounds; self.categoryWords = categoryWords
        self.sigmoid = sigmoid; self.averageOutput = averageOutput
        if arithmetic.isProbability {
            let (low, high) = outputRange
            guard low >= -1e-6, high <= 1 + 1e-6 else {
                throw .invalid("tree model's output is read as a probability but can be anywhere in [\(low), \(high)], not within [0, 1]")
            }
        }
    }

    /// The least and greatest output any customer can get: the sums of each tree's least and greatest
    /// leaf (divided by the trees for `averageOutput`).
    public var outputRange: (Double, Double) {
        var low = 0.0, high = 0.0
        var stack: [Int] = []
        for r in roots {
            var lo = Double.infinity, hi = -Double.infinity
            stack.append(Int(r))
            while let i = stack.popLast() {
                let n = nodes[i]
                if n.feature < 0 { lo = min(lo, n.value); hi = max(hi, n.value); continue }
                stack.append(Int(n.left)); stack.append(Int(n.left) + 1)
            }
            low += lo; high += hi
        }
        let trees = averageOutput ? Double(roots.count) : 1
        return (low / trees, high / trees)
    }

    static func checkCategorySets(bounds: [Int32], words: Int) throws(ModelError) {
        guard bounds.first == 0 || (bounds.isEmpty && words == 0) else {
            throw .invalid("tree model's category sets must start at word 0")
        }
        guard bounds.isEmpty || Int(bounds.last!) == words else {
            throw .invalid("tree model's category sets end at word \(bounds.last!) but \(words) words are stored")
        }
        for k in bounds.indices.dropFirst() where bounds[k] < bounds[k - 1] {
            throw .invalid("tree model's category set \(k - 1) ends before it starts")
        }
    }

    static func check(_ n: Node, at i: Int, count: Int, features: Int, sets: Int) throws(ModelError) {
        if n.feature < 0 {
            guard n.value.isFinite else { throw .invalid("tree node \(i) has a non-finite leaf value") }
            return
        }
        // LightGBM writes `inf` for a split that sends every present value left.
        guard !n.value.isNaN else { throw .invalid("tree node \(i) has a NaN split threshold") }
        guard Int(n.feature) < features else {
            throw .invalid("tree node \(i) splits on feature \(n.feature) but the model has \(features) features")
        }
        guard n.left > Int32(i), Int(n.left) + 1 < count else {
            throw .invalid("tree node \(i) has child index \(n.left) out of order or out of range")
        }
        if n.categorical, n.categorySet < 0 || Int(n.categorySet) >= sets {
            throw .invalid("tree node \(i) uses category set \(n.categorySet); the model has \(max(sets, 0))")
        }
    }

    /// The number of trees.
    public var treeCount: Int { roots.count }

    /// The deepest tree's depth (splits from root to leaf).
    public var maxDepth: Int {
        var deepest = 0
        var stack: [(Int, Int)] = []
        for r in roots {
            stack.append((Int(r), 0))
            while let (i, d) = stack.popLast() {
                let n = nodes[i]
                if n.feature < 0 { deepest = max(deepest, d); continue }
                stack.append((Int(n.left), d + 1)); stack.append((Int(n.left) + 1, d + 1))
            }
        }
        return deepest
    }

    /// The forest bound to a store's columns: `map[f]` is the store position of model feature `f`, rows
    /// have `featureCount` features.
    public func bound(map: [Int32], featureCount: Int) -> Bound {
        Bound(self, map: map, featureCount: featureCount)
    }
}
