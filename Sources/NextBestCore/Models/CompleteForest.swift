/// A tree ensemble re-laid out for fast block evaluation: every tree padded to a complete binary tree of
/// its own depth and stored in heap order (children of node i at 2i+1 and 2i+2), so a customer descends
/// one level per step with no branch: `i = 2i + 2 - goLeft`. Shallow leaves are padded with splits whose
/// two subtrees carry the same leaf value, so padding never changes a prediction.
///
/// Evaluation is level-major over a block of customers (every customer takes one step before any takes
/// the next), so the steps of different customers overlap in the CPU instead of waiting on each other.
/// Margins are summed in Float32 in tree order, exactly as the node walk (and XGBoost) sums them.
public struct CompleteForest: Sendable {
    /// One split: go left when `x[feature] < threshold`, or when `x[feature]` is missing and the
    /// default is left. 8 bytes, so a level costs one load.
    ///
    /// Missing values cost nothing extra: each customer's row is read as two copies side by side, the first
    /// with missing values as −∞ (every comparison goes left), the second with them as +∞ (every comparison
    /// goes right), and `column` points into the copy that gives the node's default direction.
    @usableFromInline
    struct Split: Sendable {
        @usableFromInline var threshold: Float
        /// `feature` for a default-left node, `featureCount + feature` for default-right.
        @usableFromInline var column: UInt32
    }

    @usableFromInline let splits: ContiguousArray<Split>
    @usableFromInline let leaves: ContiguousArray<Float>
    /// Per tree: depth, first split, first leaf.
    @usableFromInline let depth: ContiguousArray<Int32>
    @usableFromInline let splitBase: ContiguousArray<Int32>
    @usableFromInline let leafBase: ContiguousArray<Int32>
    /// Features per row of the store's schema.
    @usableFromInline let featureCount: Int

    /// Deepest tree this layout accepts: a depth-d tree takes 2^d leaves, so deep trees fall back to the
    /// node walk.
    public static let maxDepth = 12

    /// Lays out bound nodes (features already store positions); nil if a tree is deeper than `maxDepth`.
    init?(nodes: ContiguousArray<TreeEnsemble.Node>, roots: ContiguousArray<Int32>, featureCount: Int) {
        var splits = ContiguousArray<Split>(), leaves = ContiguousArray<Float>()
        var depth = ContiguousArray<Int32>(), splitBase = ContiguousArray<Int32>(), leafBase = ContiguousArray<Int32>()
        func height(_ i: Int) -> Int {
            let n = nodes[i]
            return n.feature < 0 ? 0 : 1 + max(height(Int(n.left)), height(Int(n.left) + 1))
        }
        for r in roots {
            let d = height(Int(r))
            guard d <= Self.maxDepth else { return nil }
            depth.append(Int32(d))
            splitBase.append(Int32(splits.count))
            leafBase.append(Int32(leaves.count))
            let inner = (1 << d) - 1
            let s0 = splits.count, l0 = leaves.count
            splits.append(contentsOf: repeatElement(Split(threshold: 0, column: 0), count: inner))
            leaves.append(contentsOf: repeatElement(0, count: 1 << d))
            // Place node `src` at heap position `pos` of level `level`.
            func place(_ src: Int, _ pos: Int, _ level: Int) {
                let n = nodes[src]
                if level == d {
                    leaves[l0 + pos - inner] = n.threshold
                    return
                }
                if n.feature < 0 {
                    // A leaf above the last level: a dummy split with the leaf below on both sides.
                    place(src, 2 * pos + 1, level + 1)
                    place(src, 2 * pos + 2, level + 1)
                } else {
                    splits[s0 + pos] = Split(threshold: n.threshold, column: UInt32(n.feature) + (n.defaultLeft ? 0 : UInt32(featureCount)))
                    place(Int(n.left), 2 * pos + 1, level + 1)
                    place(Int(n.left) + 1, 2 * pos + 2, level + 1)
                }
            }
            place(Int(r), 0, 0)
        }
        self.splits = splits; self.leaves = leaves
        self.depth = depth; self.splitBase = splitBase; self.leafBase = leafBase
        self.featureCount = featureCount
    }

    /// Writes the two copies of each row (missing as −∞, then as +∞) that `addMargins` reads:
    /// `count` rows of `2 * featureCount` floats.
    @inlinable
    func prepare(block x: UnsafePointer<Float>, stride: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        let f = featureCount
        for i in 0..<count {
            let src = x + i * stride, dst = out + i * 2 * f
            for j in 0..<f {
                let v = src[j]
                dst[j] = v.isNaN ? -.infinity : v
                dst[f + j] = v.isNaN ? .infinity : v
            }
        }
    }

    /// Adds every tree's leaf value to `margins[i]` for `count` customers whose rows `prepare` wrote to
    /// `x`; `position` is scratch of at least `count` entries.
    ///
    /// Rows go through a tree eight at a time, each row's position kept in a register from the root to
    /// its leaf: the eight descents are independent, so their loads overlap, and no position is stored
    /// between levels. The root's split is the same for every row, read once per tree.
    @inlinable
    func addMargins(prepared x: UnsafePointer<Float>, count: Int,
                    margins: UnsafeMutablePointer<Float>, position: UnsafeMutablePointer<Int32>) {
        splits.withUnsafeBufferPointer { sp in
            leaves.withUnsafeBufferPointer { lv in
                let s = sp.baseAddress!, l = lv.baseAddress!
                let stride = 2 * featureCount
                for t in 0..<depth.count {
                    let d = Int(depth[t])
                    let base = s + Int(splitBase[t])
                    let leafRow = l + Int(leafBase[t]) - ((1 << d) - 1)
                    if d == 0 {
                        for i in 0..<count { margins[i] += leafRow[0] }
                        continue
                    }
                    let root = base[0]
                    let rc = Int(root.column), rt = root.threshold
                    @inline(__always) func step(_ p: Int, _ row: UnsafePointer<Float>) -> Int {
                        let node = base[p]
                        return 2 &* p &+ 2 &- (row[Int(node.column)] < node.threshold ? 1 : 0)
                    }
                    var i = 0
                    while i &+ 8 <= count {
                        let r0 = x + i &* stride, r1 = r0 + stride, r2 = r1 + stride, r3 = r2 + stride
                        let r4 = r3 + stride, r5 = r4 + stride, r6 = r5 + stride, r7 = r6 + stride
                        var p0 = r0[rc] < rt ? 1 : 2, p1 = r1[rc] < rt ? 1 : 2, p2 = r2[rc] < rt ? 1 : 2, p3 = r3[rc] < rt ? 1 : 2
                        var p4 = r4[rc] < rt ? 1 : 2, p5 = r5[rc] < rt ? 1 : 2, p6 = r6[rc] < rt ? 1 : 2, p7 = r7[rc] < rt ? 1 : 2
                        var level = 1
                        while level < d {
                            p0 = step(p0, r0); p1 = step(p1, r1); p2 = step(p2, r2); p3 = step(p3, r3)
                            p4 = step(p4, r4); p5 = step(p5, r5); p6 = step(p6, r6); p7 = step(p7, r7)
                            level &+= 1
                        }
                        margins[i] += leafRow[p0]; margins[i &+ 1] += leafRow[p1]; margins[i &+ 2] += leafRow[p2]; margins[i &+ 3] += leafRow[p3]
                        margins[i &+ 4] += leafRow[p4]; margins[i &+ 5] += leafRow[p5]; margins[i &+ 6] += leafRow[p6]; margins[i &+ 7] += leafRow[p7]
                        i &+= 8
                    }
                    while i < count {
                        let r = x + i &* stride
                        var p = r[rc] < rt ? 1 : 2
                        var level = 1
                        while level < d { p = step(p, r); level &+= 1 }
                        margins[i] += leafRow[p]
                        i &+= 1
                    }
                }
            }
        }
    }
}
