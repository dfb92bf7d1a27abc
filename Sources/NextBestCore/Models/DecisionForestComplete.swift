extension DecisionForest {
    /// The fast path for the trees of a bound forest that fit it: trees of depth ≤ `maxDepth` whose splits
    /// are all numerical and whose zero rule is the comparison's own (missing type None or NaN, or Zero
    /// where the default side is where `0.0 <= threshold` goes). Such a tree is padded to a complete binary
    /// tree in heap order and a block of customers descends it level by level with no branch, as
    /// `CompleteForest` does for XGBoost trees, but in LightGBM's arithmetic: Double thresholds, `<=`, and
    /// Double leaves added in tree order, so the sums are the same bits as the node walk's.
    ///
    /// Missing values cost nothing extra: each row is prepared as Doubles in two copies side by side, with
    /// values of magnitude ≤ 1e-35 as 0.0 in both (LightGBM's zero window; not in a forest whose splits all
    /// have missing type `.exact`, ONNX's, which compares such values as they are); the first copy holds NaN as −∞ (every `<=` holds, so NaN
    /// goes left), the second keeps NaN (no `<=` holds, so NaN goes right), and a split's `column` points
    /// into the copy of its NaN side. The other trees (deeper, or with category-set splits) are walked node
    /// by node in their turn.
    struct CompleteTrees: Sendable {
        /// One split: go left when `row[column] <= threshold`. 16 bytes.
        struct Split: Sendable {
            var threshold: Double
            /// `feature` for a NaN-left split, `featureCount + feature` for NaN-right.
            var column: Int32
        }

        /// The deepest tree laid out (a depth-d tree takes 2^d leaves).
        static let maxDepth = 12

        let splits: ContiguousArray<Split>
        let leaves: ContiguousArray<Double>
        /// Per forest tree: its index in `depth`, `splitBase` and `leafBase`, or -1 when it is walked.
        let slot: ContiguousArray<Int32>
        let depth: ContiguousArray<Int32>
        let splitBase: ContiguousArray<Int32>
        let leafBase: ContiguousArray<Int32>
        let featureCount: Int
        /// Whether rows are prepared with LightGBM's zero window (some split of the forest is not `.exact`).
        let zeroWindow: Bool

        /// Lays out the trees that fit; nil when none does.
        init?(nodes: ContiguousArray<Bound.Node>, roots: ContiguousArray<Int32>, featureCount: Int) {
            var splits = ContiguousArray<Split>(), leaves = ContiguousArray<Double>(), slot = ContiguousArray<Int32>()
            var depth = ContiguousArray<Int32>(), splitBase = ContiguousArray<Int32>(), leafBase = ContiguousArray<Int32>()
            let zeroWindow = nodes.contains { $0.feature >= 0 && $0.flags & Bound.exact == 0 }
            for r in roots {
                guard let d = Self.height(nodes, Int(r), 0, zeroWindow: zeroWindow) else { slot.append(-1); continue }
                slot.append(Int32(depth.count))
                depth.append(Int32(d)); splitBase.append(Int32(splits.count)); leafBase.append(Int32(leaves.count))
                let inner = (1 << d) - 1, s0 = splits.count, l0 = leaves.count
                splits.append(contentsOf: repeatElement(Split(threshold: 0, column: 0), count: inner))
                leaves.append(contentsOf: repeatElement(0, count: 1 << d))
                // Node `src` at heap position `pos` of level `level`; a leaf above the last level becomes a
                // split with that leaf on both sides.
                func place(_ src: Int, _ pos: Int, _ level: Int) {
                    let n = nodes[src]
                    if level == d { leaves[l0 + pos - inner] = n.value; return }
                    if n.feature < 0 { place(src, 2 * pos + 1, level + 1); place(src, 2 * pos + 2, level + 1); return }
                    let nanLeft = n.flags & Bound.nanLeft != 0
                    splits[s0 + pos] = Split(threshold: n.value, column: n.feature + (nanLeft ? 0 : Int32(featureCount)))
                    place(Int(n.left), 2 * pos + 1, level + 1)
                    place(Int(n.left) + 1, 2 * pos + 2, level + 1)
                }
                place(Int(r), 0, 0)
            }
            guard !depth.isEmpty else { return nil }
            self.splits = splits; self.leaves = leaves; self.slot = slot
            self.depth = depth; self.splitBase = splitBase; self.leafBase = leafBase; self.featureCount = featureCount
            self.zeroWindow = zeroWindow
        }

        /// The height of the subtree at `i` if it fits (depth ≤ `maxDepth`, every split fitting), else nil.
        /// Recursion stops at `maxDepth + 1` levels, however deep the tree.
        static func height(_ nodes: ContiguousArray<Bound.Node>, _ i: Int, _ level: Int, zeroWindow: Bool) -> Int? {
            let n = nodes[i]
            if n.feature < 0 { return 0 }
            // An `.exact` split (ONNX) fits when there is no zero window (a forest of `.exact` splits only), or
            // when mapping values of magnitude ≤ 1e-35 to 0.0 cannot change its comparison: a threshold
            // ≥ 1e-35 (LightGBM's splits at zero) or < -1e-35.
            let z = DecisionForest.zeroThreshold
            guard level < maxDepth, n.flags & Bound.categorical == 0,
                  (n.flags & Bound.zeroLeft != 0) == (0.0 <= n.value),
                  n.flags & Bound.exact == 0 || !zeroWindow || n.value >= z || n.value < -z else { return nil }
            guard let l = height(nodes, Int(n.left), level + 1, zeroWindow: zeroWindow),
                  let r = height(nodes, Int(n.left) + 1, level + 1, zeroWindow: zeroWindow) else { return nil }
            return 1 + max(l, r)
        }

        /// Writes the two Double copies of each of `count` rows (`2 * featureCount` Doubles a row).
        func prepare(block x: UnsafePointer<Float>, stride: Int, count: Int, into out: UnsafeMutablePointer<Double>) {
            let f = featureCount
            for i in 0..<count {
                let src = x + i * stride, dst = out + i * 2 * f
                for j in 0..<f {
                    var v = Double(src[j])
                    if zeroWindow, v.magnitude <= DecisionForest.zeroThreshold { v = 0 }
                    dst[j] = v.isNaN ? -.infinity : v
                    dst[f + j] = v
                }
            }
        }

        /// Adds the output of laid-out tree `k` to `sums[i]` for `count` prepared rows, four rows at a time
        /// so that their descents overlap.
        func addSums(tree k: Int, prepared x: UnsafePointer<Double>, count: Int, sums: UnsafeMutablePointer<Double>) {
            let d = Int(depth[k]), stride = 2 * featureCount
            splits.withUnsafeBufferPointer { sp in
                leaves.withUnsafeBufferPointer { lv in
                    let base = sp.baseAddress! + Int(splitBase[k]), leafRow = lv.baseAddress! + Int(leafBase[k]) - ((1 << d) - 1)
                    @inline(__always) func step(_ p: Int, _ row: UnsafePointer<Double>) -> Int {
                        let s = base[p]
                        return 2 &* p &+ 2 &- (row[Int(s.column)] <= s.threshold ? 1 : 0)
                    }
                    var i = 0
                    while i &+ 4 <= count {
                        let r0 = x + i &* stride, r1 = r0 + stride, r2 = r1 + stride, r3 = r2 + stride
                        var p0 = 0, p1 = 0, p2 = 0, p3 = 0
                        for _ in 0..<d { p0 = step(p0, r0); p1 = step(p1, r1); p2 = step(p2, r2); p3 = step(p3, r3) }
                        sums[i] += leafRow[p0]; sums[i &+ 1] += leafRow[p1]; sums[i &+ 2] += leafRow[p2]; sums[i &+ 3] += leafRow[p3]
                        i &+= 4
                    }
                    while i < count {
                        let r = x + i &* stride
                        var p = 0
                        for _ in 0..<d { p = step(p, r) }
                        sums[i] += leafRow[p]
                        i &+= 1
                    }
                }
            }
        }
    }
}
