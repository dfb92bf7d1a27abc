import Foundation
import NextBestCore

/// One ONNX split as a `DecisionForest` split on the raw Float32 feature `x`: for every non-NaN `x`, the
/// node's condition on the column value `y = g(x)` (after the `Imputer`/`Scaler` steps, in Float32) holds
/// exactly when `(Double(x) <= threshold) != swap`; NaN goes to the true branch when `nanTrue`.
///
/// - `BRANCH_LEQ t`: `y <= t`. `BRANCH_GT t`: not `y <= t`. `BRANCH_LT t`: `y <= t.nextDown` (for Float32
///   values `y < t` is that), or never for `t = -inf`. `BRANCH_GTE t`: not `BRANCH_LT t`.
/// - The steps are monotone in `x` (rounding is monotone; scales are non-zero), so `g(x) <= u` holds on a
///   down-set of Float32 values (an up-set when an odd number of scales is negative): its bound is found
///   by bisection over the ordered Float32 values, evaluating `g` as onnxruntime does.
/// - NaN: an `Imputer` step makes it the imputed value, which goes where the condition sends it; without
///   one, every comparison with NaN is false (false branch) unless `missing_value_tracks_true`.
struct Split {
    var threshold: Double
    var swap: Bool
    var nanTrue: Bool

    init(mode: String, threshold t: Float, column: Column, tracksTrue: Bool, place: String) throws(ModelError) {
        guard !t.isNaN else { throw .malformed(path: place, reason: "the split threshold is NaN") }
        var u = t, flip = false
        switch mode {
        case "BRANCH_LEQ": break
        case "BRANCH_GT": flip = true
        case "BRANCH_LT": (u, flip) = Self.below(t)
        case "BRANCH_GTE": (u, flip) = Self.below(t); flip.toggle()
        default:
            throw .unsupported("\(place) has comparison mode \(mode); nextbest evaluates BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, BRANCH_EQ and BRANCH_NEQ splits")
        }
        let nanValue = column.apply(.nan)
        nanTrue = nanValue.isNaN ? tracksTrue : (nanValue <= u) != flip
        let (x, swapX) = Self.fold(column, u)
        threshold = x
        swap = swapX != flip
    }

    /// The largest integer category (+1) an equality split or one-hot column may test: category sets are
    /// bitsets, one bit per category up to the largest.
    static let maxCode: Int64 = 1 << 16

    /// Whether the condition of `mode` holds for the non-NaN Float32 value `y` and threshold `t`, as
    /// onnxruntime compares (Float32).
    static func holds(_ mode: String, _ y: Float, _ t: Float, place: String) throws(ModelError) -> Bool {
        switch mode {
        case "BRANCH_LEQ": return y <= t
        case "BRANCH_LT": return y < t
        case "BRANCH_GTE": return y >= t
        case "BRANCH_GT": return y > t
        case "BRANCH_EQ": return y == t
        case "BRANCH_NEQ": return y != t
        default:
            throw .unsupported("\(place) has comparison mode \(mode); nextbest evaluates BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, BRANCH_EQ and BRANCH_NEQ splits")
        }
    }

    /// `y < t` as `(y <= u) != flip` for non-NaN Float32 `y`.
    static func below(_ t: Float) -> (Float, Bool) { t == -.infinity ? (.infinity, true) : (t.nextDown, false) }

    /// A threshold on `x` and a swap such that `(Double(x) <= threshold) != swap` is `column.apply(x) <= u`.
    static func fold(_ column: Column, _ u: Float) -> (Double, Bool) {
        var negatives = 0, scaled = false
        for case .scale(_, let c) in column.steps { scaled = true; if c < 0 { negatives += 1 } }
        guard scaled else { return (Double(u), false) }
        let holds = { (x: Float) in column.apply(x) <= u }
        let increasing = negatives % 2 == 0
        let low = holds(-.infinity), high = holds(.infinity)
        if low && high { return (.infinity, false) }        // always
        if !low && !high { return (.infinity, true) }       // never
        var lo = key(-.infinity), hi = key(.infinity)       // holds differs at the two ends
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if holds(float(mid)) == increasing { lo = mid } else { hi = mid }
        }
        // Increasing: `lo` is the largest x that holds. Decreasing: `hi` is the smallest, and
        // `x >= hi` is `!(x <= hi.nextDown)`.
        return increasing ? (Double(float(lo)), false) : (Double(float(hi).nextDown), true)
    }

    /// Float32 values in order as integers (−0 and +0 both 0).
    static func key(_ f: Float) -> Int64 { f.sign == .minus ? -Int64(f.bitPattern & 0x7fff_ffff) : Int64(f.bitPattern) }
    static func float(_ k: Int64) -> Float { k >= 0 ? Float(bitPattern: UInt32(k)) : -Float(bitPattern: UInt32(-k)) }
}
