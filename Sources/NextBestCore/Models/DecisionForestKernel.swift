extension DecisionForest {
    /// A `DecisionForest` bound to store feature positions and laid out for the scoring loop: one
    /// contiguous array of 24-byte nodes, the category bitsets in another, each node's missing-value rule
    /// folded into two direction bits. Nothing is allocated per customer; a block is evaluated tree-major
    /// (one tree for every customer of the block before the next tree), the trees that fit through the
    /// branch-free layout of `CompleteTrees` and the others node by node, and each customer's outputs are
    /// summed in Double in tree order, so the block path and the one-customer path (always the node walk)
    /// give the same bits.
    ///
    /// Any depth and shape is walked: a walk ends because every child comes after its split.
    public struct Bound: Sendable {
        /// A bound node. `value` is a numerical split's threshold, a leaf's output, or for a categorical
        /// split the number of words of its bitset, which starts at `words[set]`.
        @usableFromInline
        struct Node: Sendable {
            @usableFromInline var value: Double
            /// The store position of the feature, or -1 for a leaf.
            @usableFromInline var feature: Int32
            /// The left child; the right child is `left + 1`.
            @usableFromInline var left: Int32
            @usableFromInline var set: Int32
            @usableFromInline var flags: UInt8
        }

        /// The split is categorical.
        @usableFromInline static let categorical: UInt8 = 1
        /// A missing (NaN) feature goes left.
        @usableFromInline static let nanLeft: UInt8 = 2
        /// A zero feature (|value| ≤ `DecisionForest.zeroThreshold`) goes left.
        @usableFromInline static let zeroLeft: UInt8 = 4
        /// No zero window (missing type `.exact`): a tiny value is compared as it is. On a categorical
        /// split: only integral values are categories (ONNX equality), and NaN takes the default direction.
        @usableFromInline static let exact: UInt8 = 8

        @usableFromInline let nodes: ContiguousArray<Node>
        @usableFromInline let roots: ContiguousArray<Int32>
        @usableFromInline let words: ContiguousArray<UInt32>
        @usableFromInline let sigmoid: Double
        /// Whether the propensity is the output itself (`Arithmetic.onnxProbability`), not its sigmoid.
        @usableFromInline let identity: Bool
        /// The number of trees when the output is their mean, else nil.
        @usableFromInline let divisor: Double?
        /// The trees that fit the branch-free layout (nil when none does).
        let complete: CompleteTrees?

        init(_ f: DecisionForest, map: [Int32], featureCount: Int) {
            var nodes = ContiguousArray<Node>()
            nodes.reserveCapacity(f.nodes.count)
            for n in f.nodes { nodes.append(Self.node(n, forest: f, map: map)) }
            self.nodes = nodes
            roots = ContiguousArray(f.roots)
            // One word at least, so the bitset pointer is valid even when no split is categorical.
            words = f.categoryWords.isEmpty ? [0] : ContiguousArray(f.categoryWords)
            sigmoid = f.sigmoid
            identity = f.arithmetic.isProbability
            divisor = f.averageOutput ? Double(f.roots.count) : nil
            complete = CompleteTrees(nodes: nodes, roots: roots, featureCount: featureCount)
        }

        /// Folds LightGBM's missing-value rule into where NaN and zero go. The prediction buffer holds 0.0
        /// for any feature of magnitude ≤ 1e-35 (`kZeroThreshold`), so such a value is 0.0 for every split:
        /// - `.none`: NaN becomes 0.0, so NaN and 0.0 both go where `0.0 <= threshold` sends them;
        /// - `.zero`: NaN becomes 0.0, and 0.0 takes the default direction;
        /// - `.nan`: NaN takes the default direction, 0.0 is compared;
        /// - `.exact` (ONNX): NaN takes the default direction, and there is no zero window (flag `exact`).
        static func node(_ n: DecisionForest.Node, forest f: DecisionForest, map: [Int32]) -> Node {
            if n.feature < 0 { return Node(value: n.value, feature: -1, left: 0, set: 0, flags: 0) }
            let feature = map[Int(n.feature)]
            if n.categorical {
                let k = Int(n.categorySet)
                let start = f.categoryBounds[k], end = f.categoryBounds[k + 1]
                // LightGBM sends a missing category right; XGBoost, and ONNX equality splits (missing type
                // `.exact`), the default way.
                let nanGoes = (f.arithmetic == .xgboost || n.missing == .exact) && n.defaultLeft
                return Node(value: Double(end - start), feature: feature, left: n.left, set: start,
                            flags: categorical | (nanGoes ? nanLeft : 0) | (n.missing == .exact ? exact : 0))
            }
            let zeroGoesLeft = 0.0 <= n.value
            let nanGoes: Bool, zeroGoes: Bool
            switch n.missing {
            case .none: nanGoes = zeroGoesLeft; zeroGoes = zeroGoesLeft
            case .zero: nanGoes = n.defaultLeft; zeroGoes = n.defaultLeft
            case .nan, .exact: nanGoes = n.defaultLeft; zeroGoes = zeroGoesLeft
            }
            return Node(value: n.value, feature: feature, left: n.left, set: 0,
                        flags: (nanGoes ? nanLeft : 0) | (zeroGoes ? zeroLeft : 0) | (n.missing == .exact ? exact : 0))
        }

        /// Whether `v` (a Float32 feature widened to Double) goes left at split `n`.
        @inlinable @inline(__always)
        static func goesLeft(_ n: Node, _ v: Double, _ words: UnsafePointer<UInt32>) -> Bool {
            if v.isNaN { return n.flags & nanLeft != 0 }
            if n.flags & categorical != 0 {
                // An exact category split (ONNX `BRANCH_EQ`) holds only integral values: 2.5 is not category 2.
                return inSet(v, words + Int(n.set), count: Int(n.value)) && (n.flags & exact == 0 || v == v.rounded(.towardZero))
            }
            if v.magnitude <= DecisionForest.zeroThreshold, n.flags & exact == 0 { return n.flags & zeroLeft != 0 }
            return v <= n.value
        }

        /// LightGBM's category test: NaN and negative categories are never in the set; otherwise the
        /// value is truncated to an integer (C's cast: -0.5 is category 0) and looked up in the bitset,
        /// a category past its end being out of it. A value of 2^31 or more is out too: C's cast makes it
        /// negative on x86-64.
        @inlinable @inline(__always)
        static func inSet(_ v: Double, _ set: UnsafePointer<UInt32>, count: Int) -> Bool {
            guard v > -1, v < 2_147_483_648 else { return false }
            let c = Int(v)
            let w = c >> 5
            return w < count && (set[w] >> UInt32(c & 31)) & 1 != 0
        }

        /// The output of the tree at `root` for the customer whose features start at `row`.
        @inlinable @inline(__always)
        static func leafValue(_ nodes: UnsafePointer<Node>, _ words: UnsafePointer<UInt32>, root: Int,
                              row: UnsafePointer<Float>) -> Double {
            var i = root
            while true {
                let n = nodes[i]
                if n.feature < 0 { return n.value }
                i = Int(n.left) &+ (goesLeft(n, Double(row[Int(n.feature)]), words) ? 0 : 1)
            }
        }

        /// The margin (`sigmoid × output`) of a sum of tree outputs.
        @inlinable @inline(__always)
        func margin(sum: Double) -> Double {
            sigmoid * (divisor.map { sum / $0 } ?? sum)
        }

        /// The propensity of a sum of tree outputs: the sum itself clamped to [0, 1] for
        /// `Arithmetic.onnxProbability`, else the sigmoid of its margin; NaN when not finite.
        @inlinable @inline(__always)
        func propensity(sum: Double) -> Float {
            guard identity else { return BoundModel.logistic(margin(sum: sum)) }
            return sum.isFinite ? Float(min(max(sum, 0), 1)) : .nan
        }

        /// The sum of every tree's output for one customer, in tree order.
        @inlinable
        func sum(_ row: UnsafePointer<Float>) -> Double {
            var s = 0.0
            withPointers { nodes, words in
                for r in roots { s += Self.leafValue(nodes, words, root: Int(r), row: row) }
            }
            return s
        }

        /// Adds every tree's output to `sums[i]` for `count` customers whose rows of `stride` floats start
        /// at `x`, tree-major: the trees that fit `CompleteTrees` through it, the others node by node, each
        /// in its turn so the sums are added in tree order.
        func addSums(block x: UnsafePointer<Float>, stride: Int, count: Int, sums: UnsafeMutablePointer<Double>) {
            guard let complete, count > 0 else {
                withPointers { nodes, words in
                    for r in roots { Self.walk(nodes, words, root: Int(r), block: x, stride: stride, count: count, sums: sums) }
                }
                return
            }
            withUnsafeTemporaryAllocation(of: Double.self, capacity: count * 2 * complete.featureCount) { rows in
                complete.prepare(block: x, stride: stride, count: count, into: rows.baseAddress!)
                withPointers { nodes, words in
                    for t in roots.indices {
                        let k = Int(complete.slot[t])
                        if k >= 0 {
                            complete.addSums(tree: k, prepared: rows.baseAddress!, count: count, sums: sums)
                        } else {
                            Self.walk(nodes, words, root: Int(roots[t]), block: x, stride: stride, count: count, sums: sums)
                        }
                    }
                }
            }
        }

        /// Adds the output of the tree at `root` to `sums[i]` for each of `count` rows, node by node.
        @inline(__always)
        static func walk(_ nodes: UnsafePointer<Node>, _ words: UnsafePointer<UInt32>, root: Int, block x: UnsafePointer<Float>,
                         stride: Int, count: Int, sums: UnsafeMutablePointer<Double>) {
            for i in 0..<count { sums[i] += leafValue(nodes, words, root: root, row: x + i &* stride) }
        }

        @inlinable @inline(__always)
        func withPointers(_ body: (UnsafePointer<Node>, UnsafePointer<UInt32>) -> Void) {
            nodes.withUnsafeBufferPointer { n in
                words.withUnsafeBufferPointer { body(n.baseAddress!, $0.baseAddress!) }
            }
        }
    }
}
