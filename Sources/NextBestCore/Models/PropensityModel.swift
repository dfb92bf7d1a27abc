import Foundation
import NextBestKernels

/// A propensity model as imported into the store: either kind, with its id and version.
public struct PropensityModel: Sendable, Equatable, Codable {
    /// The kinds of model nextbest evaluates.
    public enum Kind: Sendable, Equatable, Codable {
        case logistic(LogisticModel)
        case trees(TreeEnsemble)
        /// A tree ensemble of any shape with its library's arithmetic (LightGBM models).
        case forest(DecisionForest)
    }

    public var id: String
    /// Incremented each time a model with this id is imported again.
    public var version: Int
    public var kind: Kind

    public init(id: String, version: Int, kind: Kind) {
        self.id = id
        self.version = version
        self.kind = kind
    }

    /// Feature names the model reads, in model order.
    public var features: [String] {
        switch kind {
        case .logistic(let m): return m.features
        case .trees(let t): return t.features
        case .forest(let f): return f.features
        }
    }

    /// Names of the model's features that `schema` lacks (empty if the model can be bound).
    public func missingFeatures(in schema: FeatureSchema) -> [String] {
        features.filter { schema.index(of: $0) == nil }
    }

    /// The model compiled against a store's schema, ready to evaluate on feature rows in store order.
    public func bound(to schema: FeatureSchema) throws(ModelError) -> BoundModel {
        let missing = missingFeatures(in: schema)
        if let first = missing.first { throw .unknownFeature(model: id, feature: first) }
        if case .forest = kind {} else if let text = features.first(where: { schema.isCategorical(schema.index(of: $0)!) }) {
            throw .invalid("model \(Quoted.text(id)) reads \(Quoted.text(text)) as a number, but the store's column \(Quoted.text(text)) holds text (dictionary codes): use a tree model trained on it as a category (LightGBM or XGBoost on a pandas category column), or import the column as numbers")
        }
        switch kind {
        case .logistic(let m):
            let idx = m.features.map { Int32(schema.index(of: $0)!) }
            var normalization = m.normalization
            if let n = normalization { normalization!.feature = n.feature.map { idx[Int($0)] } }
            return BoundModel(id: id, kind: .logistic, featureIndex: ContiguousArray(idx),
                              coefficients: ContiguousArray(m.coefficients), intercept: m.intercept,
                              nodes: [], roots: [], baseMargin: 0, normalization: normalization)
        case .trees(let t):
            let map = t.features.map { Int32(schema.index(of: $0)!) }
            var nodes = ContiguousArray<TreeEnsemble.Node>()
            nodes.reserveCapacity(t.nodes.count)
            for var n in t.nodes {
                if n.feature >= 0 { n.feature = map[Int(n.feature)] }
                nodes.append(n)
            }
            let roots = ContiguousArray(t.roots)
            return BoundModel(id: id, kind: .trees, featureIndex: [], coefficients: [], intercept: 0,
                              nodes: nodes, roots: roots, baseMargin: t.baseMargin,
                              forest: CompleteForest(nodes: nodes, roots: roots, featureCount: schema.count),
                              leafMask: LeafMaskForest(nodes: nodes, roots: roots, featureCount: schema.count))
        case .forest(let f):
            let map = f.features.map { Int32(schema.index(of: $0)!) }
            let translated = try f.translated(to: schema, map: map, model: id)
            return BoundModel(id: id, kind: .forest, featureIndex: [], coefficients: [], intercept: 0,
                              nodes: [], roots: [], baseMargin: 0, decisionForest: translated.bound(map: map, featureCount: schema.count))
        }
    }
}

/// A model bound to store feature positions: the form the scoring loop evaluates. A class (immutable):
/// scoring reads every model for every block of customers, and a struct copy retained each of its twenty
/// arrays there.
public final class BoundModel: Sendable {
    /// Which evaluator the bound model uses.
    public enum Kind: Sendable { case logistic, trees, forest }
    public let id: String
    public let kind: Kind
    let featureIndex: ContiguousArray<Int32>
    let coefficients: ContiguousArray<Double>
    let intercept: Double
    let nodes: ContiguousArray<TreeEnsemble.Node>
    let roots: ContiguousArray<Int32>
    let baseMargin: Float
    /// The trees laid out for branch-free block evaluation (nil when a tree is too deep for it).
    let forest: CompleteForest?
    /// The trees laid out for the AVX-512 kernel (nil when a tree is deeper than 6).
    let leafMask: LeafMaskForest?
    /// The `.forest` kind's trees (nil for the other kinds).
    @usableFromInline let decisionForest: DecisionForest.Bound?
    /// A `.logistic` model's normalized term, its features as store positions (nil when it has none).
    @usableFromInline let normalization: LogisticModel.Normalization?

    init(id: String, kind: Kind, featureIndex: ContiguousArray<Int32>, coefficients: ContiguousArray<Double>, intercept: Double,
         nodes: ContiguousArray<TreeEnsemble.Node>, roots: ContiguousArray<Int32>, baseMargin: Float,
         forest: CompleteForest? = nil, leafMask: LeafMaskForest? = nil, decisionForest: DecisionForest.Bound? = nil,
         normalization: LogisticModel.Normalization? = nil) {
        self.id = id; self.kind = kind; self.featureIndex = featureIndex; self.coefficients = coefficients
        self.intercept = intercept; self.nodes = nodes; self.roots = roots; self.baseMargin = baseMargin
        self.forest = forest; self.leafMask = leafMask; self.decisionForest = decisionForest
        self.normalization = normalization
    }

    /// Whether `kernel` evaluates this model's trees (else the portable kernel or the node walk does).
    public func uses(_ kernel: TreeKernel) -> Bool {
        switch kernel {
        case .avx512: return kind == .trees && leafMask != nil && TreeKernel.available.contains(.avx512)
        case .portable: return kind == .trees && forest != nil
        }
    }

    /// The propensity for one customer whose features (store order, NaN = missing) are in `x`.
    @inlinable @inline(__always)
    public func propensity(_ x: UnsafeBufferPointer<Float>) -> Float {
        switch kind {
        case .logistic: return logisticPropensity(x)
        case .trees: return treePropensity(x)
        case .forest: return forestPropensity(x)
        }
    }

    /// Propensities for a block of `count` customers whose features are rows of `stride` floats in `x`,
    /// written to `out[i * outStride]`. Trees are walked tree-major: one tree for the whole block before
    /// the next, so the tree stays in the L1 cache (the ensembles of a campaign are megabytes).
    ///
    /// `columns`, when given, holds the same rows already transposed (at most 64 of them), so that the
    /// models of a block share one transposition; `kernel` picks the tree kernel (the predictions are the
    /// same bits whichever runs).
    public func propensities(block x: UnsafeBufferPointer<Float>, stride: Int, count: Int,
                             margins: UnsafeMutableBufferPointer<Float>, out: UnsafeMutableBufferPointer<Float>, outStride: Int,
                             columns: FeatureColumns? = nil, kernel: TreeKernel = .selected) {
        switch kind {
        case .logistic:
            if let columns, columns.count == count, count > 0, normalization == nil {
                logisticPropensities(columns: columns, out: out, outStride: outStride)
                return
            }
            for i in 0..<count {
                out[i * outStride] = logisticPropensity(UnsafeBufferPointer(rebasing: x[(i * stride)..<(i * stride + stride)]))
            }
        case .forest:
            forestPropensities(block: x, stride: stride, count: count, out: out, outStride: outStride)
        case .trees:
            for i in 0..<count { margins[i] = baseMargin }
            if kernel == .avx512, let leafMask, TreeKernel.available.contains(.avx512), count > 0 {
                var own = columns == nil || columns!.count != count ? FeatureColumns(featureCount: leafMask.featureCount) : nil
                withUnsafeTemporaryAllocation(of: SIMD16<Float>.self, capacity: LeafMaskKernel.groups) { m in
                    var start = 0
                    while start < count {
                        let n = min(FeatureColumns.rows, count - start)
                        if own != nil { own!.fill(rows: x.baseAddress! + start * stride, stride: stride, count: n) }
                        for g in 0..<LeafMaskKernel.groups { m[g] = SIMD16(repeating: baseMargin) }
                        (own ?? columns!).vectors.withUnsafeBufferPointer { leafMask.addMargins($0.baseAddress!, margins: m.baseAddress!) }
                        for i in 0..<n { margins[start + i] = m[i >> 4][i & 15] }
                        start += n
                    }
                }
            } else if let forest, count > 0 {
                withUnsafeTemporaryAllocation(of: Float.self, capacity: count * 2 * forest.featureCount) { rows in
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: count) { position in
                        forest.prepare(block: x.baseAddress!, stride: stride, count: count, into: rows.baseAddress!)
                        forest.addMargins(prepared: rows.baseAddress!, count: count,
                                          margins: margins.baseAddress!, position: position.baseAddress!)
                    }
                }
            } else {
              nodes.withUnsafeBufferPointer { nodes in
                for r in roots {
                    let root = Int(r)
                    for i in 0..<count {
                        let row = x.baseAddress! + i * stride
                        var n = nodes[root]
                        var j = root
                        while n.feature >= 0 {
                            let v = row[Int(n.feature)]
                            let goLeft = v.isNaN ? n.defaultLeft : (v < n.threshold)
                            j = Int(n.left) + (goLeft ? 0 : 1)
                            n = nodes[j]
                        }
                        margins[i] += n.threshold
                    }
                }
              }
            }
            for i in 0..<count { out[i * outStride] = Self.logistic(Double(margins[i])) }
        }
    }

    /// The `.forest` block path: Double sums in a scratch buffer (on the stack for a scoring block), the
    /// caller's Float `margins` unused.
    func forestPropensities(block x: UnsafeBufferPointer<Float>, stride: Int, count: Int,
                            out: UnsafeMutableBufferPointer<Float>, outStride: Int) {
        guard let f = decisionForest, count > 0 else { return }
        withUnsafeTemporaryAllocation(of: Double.self, capacity: count) { sums in
            sums.initialize(repeating: 0)
            f.addSums(block: x.baseAddress!, stride: stride, count: count, sums: sums.baseAddress!)
            for i in 0..<count { out[i * outStride] = f.propensity(sum: sums[i]) }
        }
    }

    @usableFromInline
    func forestPropensity(_ x: UnsafeBufferPointer<Float>) -> Float {
        guard let f = decisionForest else { return .nan }
        return f.propensity(sum: f.sum(x.baseAddress!))
    }

    /// The `.logistic` block path over transposed rows: eight customers per vector, each customer's sum
    /// taken in the same order and with the same Double operations as `logisticPropensity` (a multiply, then
    /// an add, skipped where the value is missing), so the propensities are the same bits. A missing value is
    /// −∞ in the first copy of the columns and +∞ in the second; any other value is the same in both.
    func logisticPropensities(columns: FeatureColumns, out: UnsafeMutableBufferPointer<Float>, outStride: Int) {
        let f = columns.featureCount, count = columns.count
        columns.vectors.withUnsafeBufferPointer { v in
            featureIndex.withUnsafeBufferPointer { idx in
                coefficients.withUnsafeBufferPointer { coef in
                    var g = 0
                    while g * 16 < count {
                        let base = v.baseAddress! + g * 2 * f
                        var low = SIMD8<Double>(repeating: intercept), high = low
                        for i in 0..<idx.count {
                            let j = Int(idx[i])
                            let a = base[j], b = base[f + j], c = coef[i]
                            let al = SIMD8<Double>(a.lowHalf), ah = SIMD8<Double>(a.highHalf)
                            low.replace(with: low + c * al, where: al .== SIMD8<Double>(b.lowHalf))
                            high.replace(with: high + c * ah, where: ah .== SIMD8<Double>(b.highHalf))
                        }
                        for lane in 0..<min(16, count - g * 16) {
                            out[(g * 16 + lane) * outStride] = Self.logistic(lane < 8 ? low[lane] : high[lane - 8])
                        }
                        g += 1
                    }
                }
            }
        }
    }

    @usableFromInline
    func logisticPropensity(_ x: UnsafeBufferPointer<Float>) -> Float {
        var z = intercept
        featureIndex.withUnsafeBufferPointer { idx in
            coefficients.withUnsafeBufferPointer { coef in
                for i in 0..<idx.count {
                    let v = x[Int(idx[i])]
                    if !v.isNaN { z += coef[i] * Double(v) }
                }
            }
        }
        if let n = normalization { z += n.term { x[Int(n.feature[$0])] } }
        return Self.logistic(z)
    }

    /// The propensity of a margin; NaN when the margin is not finite, so that a scorer can refuse it
    /// (`NonFinitePropensity`) rather than write ±inf margins out as 0 or 1 (or NaN as `nan`). Imported
    /// models cannot overflow (`LogisticModel`, `TreeEnsemble` bound their margins); a damaged profile
    /// holding ±inf can.
    @inlinable @inline(__always)
    static func logistic(_ margin: Double) -> Float {
        margin.isFinite ? Float(1.0 / (1.0 + Foundation.exp(-margin))) : .nan
    }

    @usableFromInline
    func treePropensity(_ x: UnsafeBufferPointer<Float>) -> Float {
        var margin = baseMargin
        nodes.withUnsafeBufferPointer { nodes in
            roots.withUnsafeBufferPointer { roots in
                for r in roots {
                    var i = Int(r)
                    while true {
                        let n = nodes[i]
                        if n.feature < 0 { margin += n.threshold; break }
                        let v = x[Int(n.feature)]
                        let goLeft = v.isNaN ? n.defaultLeft : (v < n.threshold)
                        i = Int(n.left) + (goLeft ? 0 : 1)
                    }
                }
            }
        }
        return Self.logistic(Double(margin))
    }
}

/// A model gave a customer a non-finite margin: the propensity is refused, naming both.
public struct NonFinitePropensity: Error, CustomStringConvertible, Equatable {
    public var model: String
    public var customer: UInt64
    public init(model: String, customer: UInt64) { self.model = model; self.customer = customer }
    public var description: String {
        "model \(Quoted.text(model)) gives customer \(customer) a non-finite margin (a profile feature is ±inf, or the model is damaged): no propensity is written; re-import the customer's profile or the model"
    }
}

/// Why a model cannot be imported or bound.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    case unsupported(String)
    case unknownFeature(model: String, feature: String)
    case malformed(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalid(let s): return s
        case .unsupported(let s): return "unsupported model: \(s)"
        case .unknownFeature(let m, let f):
            return "model \(Quoted.text(m)) uses feature \(Quoted.text(f)), which is not a profile column in the store; import profiles with that column or retrain the model"
        case .malformed(let p, let r): return "at \(p): \(r)"
        }
    }
}
