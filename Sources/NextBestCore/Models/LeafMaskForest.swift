import Foundation
import NextBestKernels

/// A tree ensemble laid out for `LeafMaskKernel` (AVX-512): every tree of depth at most 6, each split
/// stored with the leaves of its left subtree as a bit mask within its half of the tree (a depth-6 tree is
/// its root split and two halves of at most 32 leaves; see `LeafMaskKernel.addMargins` for the tables). Leaves are numbered left to right as in `CompleteForest`; a leaf above the last
/// level fills all the leaf slots below it, so the exit leaf found in a padded slot has the right value.
///
/// Predictions are bit-for-bit those of the node walk: the same Float32 comparisons (missing values
/// read as −∞ or +∞ by the node's default direction), and margins summed in Float32 in tree order.
public struct LeafMaskForest: Sendable {
    /// `LeafMaskKernel.treeStride` integers per tree.
    @usableFromInline let trees: ContiguousArray<Int32>
    @usableFromInline let nodeColumn: ContiguousArray<Int32>
    @usableFromInline let nodeThreshold: ContiguousArray<Float>
    @usableFromInline let nodeMask: ContiguousArray<UInt32>
    @usableFromInline let leaves: ContiguousArray<Float>
    /// Features per row of the store's schema (columns are twice as many: see `FeatureColumns`).
    public let featureCount: Int

    /// Deepest tree the kernel takes: 64 leaves, two halves of 32.
    public static let maxDepth = 6

    /// Lays out bound nodes (features already store positions); nil if a tree is deeper than `maxDepth`.
    init?(nodes: ContiguousArray<TreeEnsemble.Node>, roots: ContiguousArray<Int32>, featureCount: Int) {
        var trees = ContiguousArray<Int32>(), leaves = ContiguousArray<Float>()
        var column = ContiguousArray<Int32>(), threshold = ContiguousArray<Float>(), mask = ContiguousArray<UInt32>()
        func height(_ i: Int) -> Int {
            let n = nodes[i]
            return n.feature < 0 ? 0 : 1 + max(height(Int(n.left)), height(Int(n.left) + 1))
        }
        func columnOf(_ n: TreeEnsemble.Node) -> Int32 { n.feature + (n.defaultLeft ? 0 : Int32(featureCount)) }
        for r in roots {
            let d = height(Int(r))
            guard d <= Self.maxDepth else { return nil }
            let top = d > 5 ? 1 : 0, sub = d - top
            let leafBase = leaves.count
            leaves.append(contentsOf: repeatElement(0, count: 1 << d))
            // Node `src` at `level` of half `half`, position `k` in its level.
            func place(_ src: Int, half: Int, level: Int, k: Int) {
                let n = nodes[src]
                let span = 1 << (sub - level)
                if n.feature < 0 {
                    let first = leafBase + (half << sub) + k * span
                    for j in first..<(first + span) { leaves[j] = n.threshold }
                    return
                }
                column.append(columnOf(n))
                threshold.append(n.threshold)
                mask.append(~(((UInt32(1) << UInt32(span / 2)) &- 1) << UInt32(k * span)))
                place(Int(n.left), half: half, level: level + 1, k: 2 * k)
                place(Int(n.left) + 1, half: half, level: level + 1, k: 2 * k + 1)
            }
            let start = Int32(column.count)
            if top == 1 {
                let root = nodes[Int(r)]
                place(Int(root.left), half: 0, level: 0, k: 0)
                let right = Int32(column.count)
                place(Int(root.left) + 1, half: 1, level: 0, k: 0)
                trees += [columnOf(root), Int32(bitPattern: root.threshold.bitPattern), start, right, Int32(column.count), Int32(leafBase)]
            } else {
                place(Int(r), half: 0, level: 0, k: 0)
                trees += [-1, 0, start, Int32(column.count), Int32(column.count), Int32(leafBase)]
            }
        }
        self.trees = trees; self.leaves = leaves
        nodeColumn = column; nodeThreshold = threshold; nodeMask = mask
        self.featureCount = featureCount
    }

    /// Adds every tree's leaf value to the 64 margins of a block whose columns `columns` holds.
    func addMargins(_ columns: UnsafePointer<SIMD16<Float>>, margins: UnsafeMutablePointer<SIMD16<Float>>) {
        trees.withUnsafeBufferPointer { t in
            nodeColumn.withUnsafeBufferPointer { c in
                nodeThreshold.withUnsafeBufferPointer { th in
                    nodeMask.withUnsafeBufferPointer { m in
                        leaves.withUnsafeBufferPointer { l in
                            LeafMaskKernel.addMargins(columns: columns, columnCount: 2 * featureCount,
                                                      trees: t.baseAddress!, treeCount: t.count / LeafMaskKernel.treeStride,
                                                      nodeColumn: c.baseAddress!, nodeThreshold: th.baseAddress!,
                                                      nodeMask: m.baseAddress!, leaves: l.baseAddress!, margins: margins)
                        }
                    }
                }
            }
        }
    }
}

/// Up to 64 customers' feature rows transposed for `LeafMaskKernel`: for each group of 16 rows, each
/// column as one vector, first every feature with missing values as −∞, then every feature with them as
/// +∞. Filled once per block and read by every tree model. Rows past `count` are zeros.
public struct FeatureColumns: Sendable {
    /// Rows a block holds.
    public static let rows = LeafMaskKernel.lanes * LeafMaskKernel.groups
    public let featureCount: Int
    public private(set) var count = 0
    @usableFromInline var vectors: ContiguousArray<SIMD16<Float>>

    public init(featureCount: Int) {
        self.featureCount = featureCount
        vectors = ContiguousArray(repeating: SIMD16<Float>(), count: LeafMaskKernel.groups * 2 * featureCount)
    }

    /// Transposes `count` (at most 64) rows of `stride` floats starting at `x`.
    public mutating func fill(rows x: UnsafePointer<Float>, stride: Int, count: Int) {
        precondition(count <= Self.rows)
        self.count = count
        let f = featureCount
        vectors.withUnsafeMutableBufferPointer { v in
            v.baseAddress!.withMemoryRebound(to: Float.self, capacity: v.count * 16) { out in
                for i in 0..<Self.rows {
                    let g = i >> 4, lane = i & 15
                    let base = out + g * 2 * f * 16 + lane
                    if i >= count {
                        for j in 0..<(2 * f) { base[j * 16] = 0 }
                        continue
                    }
                    let row = x + i * stride
                    for j in 0..<f {
                        let value = row[j]
                        base[j * 16] = value.isNaN ? -.infinity : value
                        base[(f + j) * 16] = value.isNaN ? .infinity : value
                    }
                }
            }
        }
    }
}

/// Which tree kernel evaluates tree ensembles: both give bit-identical predictions.
public enum TreeKernel: String, Sendable, CaseIterable {
    /// The complete-tree descent (`CompleteForest`), for any x86-64 or ARM CPU.
    case portable
    /// `LeafMaskKernel` with AVX-512 (F, CD, BW, DQ, VL), the faster one where the CPU has it.
    case avx512

    /// The kernels this machine can run.
    public static let available: [TreeKernel] = CPUFeatures.hasAVX512 ? [.portable, .avx512] : [.portable]

    /// The fastest available kernel, unless the environment variable `NEXTBEST_TREE_KERNEL=portable` asks
    /// for the portable one (to compare, or to rule the vector kernel out when chasing a problem).
    public static let selected: TreeKernel = {
        if let forced = getenv("NEXTBEST_TREE_KERNEL").map({ String(cString: $0) }), let k = TreeKernel(rawValue: forced),
           available.contains(k) { return k }
        return available.last!
    }()
}
