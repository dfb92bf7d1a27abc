/// The tree kernel for CPUs with AVX-512 (F, CD, BW, DQ, VL): this module is compiled for them, so call
/// it only when the CPU has been checked (`TreeKernel.selected` in NextBestCore does). It declares no
/// type of its own that other modules copy (their value witnesses would be compiled for AVX-512 too):
/// trees come as a table of integers.
///
/// Bit-vector evaluation (the idea of QuickScorer, Lucchese et al., SIGIR 2015, done on 16 rows per
/// vector): every split of a tree is tested for 16 rows with one compare, and where a row goes right the
/// leaves of the split's left subtree are removed from the row's leaf set with one masked AND. The exit
/// leaf is the lowest leaf left in the set. No step waits on the one before, unlike a descent, so the
/// CPU runs the compares and ANDs of many splits at once.
public enum LeafMaskKernel {
    /// Rows per vector (inlined where used, like `groups`: read before any CPU check).
    @inlinable public static var lanes: Int { 16 }
    /// Vectors of rows per call: a call evaluates `lanes * groups` = 64 rows.
    @inlinable public static var groups: Int { 4 }
    /// Integers per tree in the tree table.
    @inlinable public static var treeStride: Int { 6 }

    /// Adds every tree's leaf value to the margins of 64 rows, in tree order.
    ///
    /// - Parameters:
    ///   - columns: `groups` × `columnCount` vectors; vector `g * columnCount + c` holds column `c` of rows
    ///     `16g ..< 16g + 16`, with no NaN (a missing value is −∞ or +∞, whichever sends it the node's
    ///     default way).
    ///   - trees: `treeStride` integers per tree: the root split's column (-1 when the tree is a single
    ///     half) and threshold (its Float bits), the first node of the left half, of the right half, the end
    ///     of its nodes, and its first leaf (the right half's leaves start 32 further). A tree of depth 6 is
    ///     its root split and two halves of at most 32 leaves; a shallower one is one half. Each node
    ///     carries the mask of the leaves its left subtree holds within its half, cleared from the half's
    ///     leaf set when a row goes right.
    ///   - margins: `groups` vectors of running margins, one lane per row.
    @inline(never)
    public static func addMargins(columns: UnsafePointer<SIMD16<Float>>, columnCount: Int,
                                  trees: UnsafePointer<Int32>, treeCount: Int,
                                  nodeColumn: UnsafePointer<Int32>, nodeThreshold: UnsafePointer<Float>,
                                  nodeMask: UnsafePointer<UInt32>, leaves: UnsafePointer<Float>,
                                  margins: UnsafeMutablePointer<SIMD16<Float>>) {
        let g0 = columns, g1 = g0 + columnCount, g2 = g1 + columnCount, g3 = g2 + columnCount
        var m0 = margins[0], m1 = margins[1], m2 = margins[2], m3 = margins[3]
        for t in 0..<treeCount {
            let tree = trees + t &* treeStride
            let rootColumn = tree[0], rootThreshold = Float(bitPattern: UInt32(bitPattern: tree[1]))
            var a0 = SIMD16<UInt32>(repeating: ~0), a1 = a0, a2 = a0, a3 = a0
            var b0 = a0, b1 = a0, b2 = a0, b3 = a0
            var n = Int(tree[2])
            let right = Int(tree[3]), end = Int(tree[4])
            while n < right {
                let c = Int(nodeColumn[n])
                let t = SIMD16<Float>(repeating: nodeThreshold[n]), m = SIMD16<UInt32>(repeating: nodeMask[n])
                a0.replace(with: a0 & m, where: g0[c] .>= t)
                a1.replace(with: a1 & m, where: g1[c] .>= t)
                a2.replace(with: a2 & m, where: g2[c] .>= t)
                a3.replace(with: a3 & m, where: g3[c] .>= t)
                n &+= 1
            }
            while n < end {
                let c = Int(nodeColumn[n])
                let t = SIMD16<Float>(repeating: nodeThreshold[n]), m = SIMD16<UInt32>(repeating: nodeMask[n])
                b0.replace(with: b0 & m, where: g0[c] .>= t)
                b1.replace(with: b1 & m, where: g1[c] .>= t)
                b2.replace(with: b2 & m, where: g2[c] .>= t)
                b3.replace(with: b3 & m, where: g3[c] .>= t)
                n &+= 1
            }
            let leaf = leaves + Int(tree[5])
            if rootColumn < 0 {
                m0 += gather(leaf, a0.trailingZeroBitCount); m1 += gather(leaf, a1.trailingZeroBitCount)
                m2 += gather(leaf, a2.trailingZeroBitCount); m3 += gather(leaf, a3.trailingZeroBitCount)
            } else {
                let rc = Int(rootColumn), rt = SIMD16<Float>(repeating: rootThreshold)
                @inline(__always) func exit(_ a: SIMD16<UInt32>, _ b: SIMD16<UInt32>, _ goesRight: SIMDMask<SIMD16<Int32>>) -> SIMD16<UInt32> {
                    var i = a.trailingZeroBitCount
                    i.replace(with: b.trailingZeroBitCount &+ 32, where: goesRight)
                    return i
                }
                m0 += gather(leaf, exit(a0, b0, g0[rc] .>= rt)); m1 += gather(leaf, exit(a1, b1, g1[rc] .>= rt))
                m2 += gather(leaf, exit(a2, b2, g2[rc] .>= rt)); m3 += gather(leaf, exit(a3, b3, g3[rc] .>= rt))
            }
        }
        margins[0] = m0; margins[1] = m1; margins[2] = m2; margins[3] = m3
    }

    @inline(__always)
    static func gather(_ base: UnsafePointer<Float>, _ index: SIMD16<UInt32>) -> SIMD16<Float> {
        var v = SIMD16<Float>()
        for j in 0..<16 { v[j] = base[Int(index[j])] }
        return v
    }
}
