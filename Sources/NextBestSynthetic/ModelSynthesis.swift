import Foundation
import NextBestCore

/// A generated propensity model of one offer, before it is written to a file.
struct SynthesizedModel: Sendable {
    enum Kind: Sendable {
        case trees(featureNames: [String], baseScore: Float, trees: [XGBoostJSONWriter.Tree])
        case logistic(LogisticModel)
    }
    let id: String
    let kind: Kind

    var format: ModelFormat {
        switch kind {
        case .trees: return .xgboostJSON
        case .logistic: return .logisticJSON
        }
    }

    /// The model file's text.
    var fileText: String {
        switch kind {
        case .trees(let names, let base, let trees):
            return XGBoostJSONWriter.write(featureNames: names, baseScore: base, trees: trees)
        case .logistic(let m):
            var o = "{\"features\":["
            o += m.features.map { "\"\($0)\"" }.joined(separator: ",")
            o += "],\"coefficients\":["
            o += m.coefficients.map(\.description).joined(separator: ",")
            o += "],\"intercept\":" + m.intercept.description + "}\n"
            return o
        }
    }

    /// The model as `ModelFormat.parse` reads it from `fileText`.
    func propensityModel() -> PropensityModel {
        switch kind {
        case .trees(let names, let base, let trees):
            do { return PropensityModel(id: id, version: 1, kind: .trees(try XGBoostJSONWriter.ensemble(featureNames: names, baseScore: base, trees: trees))) }
            catch { preconditionFailure("generated tree model \(id) is invalid: \(error)") }
        case .logistic:
            // Parsed from the file text: JSON readers may round a long decimal differently in the last bit.
            do { return PropensityModel(id: id, version: 1, kind: try ModelFormat.logisticJSON.parse(Data(fileText.utf8))) }
            catch { preconditionFailure("generated logistic model \(id) is invalid: \(error)") }
        }
    }
}

/// Builds each offer's propensity model from a latent "true" response logit.
///
/// The latent logit of an offer is `logit(base rate) + Σ β·standardized(feature)` over the product's
/// drivers (standardized by the training sample's mean and standard deviation, clamped to ±2.5 SD), plus,
/// for some products, an age hump. Logistic models carry the linear part on raw feature values
/// (`coefficient = β / spread`, spread = the SD, widened for skewed columns so that the 1st-99th
/// percentiles stay within ±2.5 spreads and the sample's extremes within ±5; the intercept absorbs the
/// means). Tree models are grown like boosting with
/// random splits: each tree has exactly `depth` levels of splits on the offer's drivers (sometimes another
/// feature) at thresholds halfway between two observed values, and its leaves move the sample's margin a
/// small step (`eta`) towards the latent logit.
enum ModelSynthesis {
    static let trainingRows = 1200

    /// Feature columns of a training sample drawn from its own streams (independent of the population size).
    struct Sample {
        let rows: Int
        let stride: Int
        let x: [Float]
        let mean: [Double]
        let sd: [Double]
        let hasMissing: [Bool]
        /// 1st and 99th percentiles of the non-missing values.
        let q01: [Double]
        let q99: [Double]
        let minimum: [Double]
        let maximum: [Double]
        /// Sorted distinct non-missing values per feature.
        let distinct: [[Float]]

        init(seed: UInt64, featureCount: Int, rows: Int) {
            let extra = max(0, featureCount - SyntheticFeatures.baseCount)
            let stride = SyntheticFeatures.baseCount + extra
            var x = [Float](repeating: 0, count: rows * stride)
            x.withUnsafeMutableBufferPointer { buf in
                for r in 0..<rows {
                    var rng = SplitMix64(seed: seed ^ 0x7A1C_E5A3_9E11_D00D, stream: UInt64(r))
                    _ = SyntheticFeatures.draw(into: buf.baseAddress! + r * stride, extra: extra, rng: &rng)
                }
            }
            var mean = [Double](repeating: 0, count: featureCount)
            var sd = [Double](repeating: 0, count: featureCount)
            var missing = [Bool](repeating: false, count: featureCount)
            var distinct: [[Float]] = []
            var q01 = [Double](repeating: 0, count: featureCount)
            var q99 = [Double](repeating: 0, count: featureCount)
            var lo = [Double](repeating: 0, count: featureCount)
            var hi = [Double](repeating: 0, count: featureCount)
            for j in 0..<featureCount {
                var vals: [Float] = []
                vals.reserveCapacity(rows)
                for r in 0..<rows {
                    let v = x[r * stride + j]
                    if v.isNaN { missing[j] = true } else { vals.append(v) }
                }
                let n = Double(max(vals.count, 1))
                let m = vals.reduce(0.0) { $0 + Double($1) } / n
                let v = vals.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / n
                mean[j] = m
                sd[j] = v.squareRoot()
                vals.sort()
                if !vals.isEmpty {
                    q01[j] = Double(vals[(vals.count - 1) / 100])
                    q99[j] = Double(vals[(vals.count - 1) * 99 / 100])
                    lo[j] = Double(vals[0])
                    hi[j] = Double(vals[vals.count - 1])
                }
                var d: [Float] = []
                for v in vals where d.last != v { d.append(v) }
                distinct.append(d)
            }
            self.rows = rows
            self.stride = stride
            self.x = x
            self.mean = mean
            self.sd = sd
            self.hasMissing = missing
            self.q01 = q01
            self.q99 = q99
            self.minimum = lo
            self.maximum = hi
            self.distinct = distinct
        }

        @inline(__always) func value(_ row: Int, _ feature: Int) -> Float { x[row * stride + feature] }
    }

    static func build(specs: [OfferCatalogue.Spec], schema: FeatureSchema, seed: UInt64, treeModelShare: Double,
                      trees: Int, depth: Int) -> [SynthesizedModel] {
        let sample = Sample(seed: seed, featureCount: schema.count, rows: trainingRows)
        // Which offers get tree models: a seeded shuffle, the first share of it.
        let treeCount = Int((min(max(treeModelShare, 0), 1) * Double(specs.count)).rounded())
        var order = Array(0..<specs.count)
        var shuffle = SplitMix64(seed: seed ^ 0x51A7_7EE5_0000_0001)
        if order.count > 1 {
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, shuffle.below(i + 1)) }
        }
        var isTree = [Bool](repeating: false, count: specs.count)
        for k in 0..<treeCount { isTree[order[k]] = true }

        var out: [SynthesizedModel] = []
        for (i, spec) in specs.enumerated() {
            var rng = SplitMix64(seed: seed ^ 0x3D0D_E1A6_C0FF_EE00, stream: UInt64(i))
            let tpl = OfferCatalogue.templates[spec.template]
            let base = SyntheticFeatures.clamp(tpl.baseRate * exp(0.3 * rng.normal()), 0.003, 0.2)
            var drivers: [(feature: Int, beta: Double)] = []
            for (name, beta) in tpl.drivers {
                if let j = schema.index(of: name) { drivers.append((j, beta * (0.75 + 0.5 * rng.unit()))) }
            }
            if drivers.isEmpty { drivers = [(0, -0.3), (1, 0.4)] }   // age, income: always in the schema
            let agePeak = tpl.agePeak.map { $0 + 4 * rng.normal() }
            let id = "m_" + spec.id
            if isTree[i] {
                out.append(SynthesizedModel(id: id, kind: treeModel(sample: sample, schema: schema, base: base, drivers: drivers,
                                                                    agePeak: agePeak, trees: trees, depth: depth, rng: &rng)))
            } else {
                out.append(SynthesizedModel(id: id, kind: .logistic(logisticModel(sample: sample, schema: schema, base: base,
                                                                                 drivers: drivers, rng: &rng))))
            }
        }
        return out
    }

    /// Linear model on raw values. A missing value counts as 0 in the logistic format, which for a column
    /// whose mean is many SDs from 0 (credit_score) would swamp the logit, so such columns are left out.
    static func logisticModel(sample: Sample, schema: FeatureSchema, base: Double, drivers: [(feature: Int, beta: Double)],
                              rng: inout SplitMix64) -> LogisticModel {
        var terms: [(feature: Int, beta: Double)] = []
        for d in drivers where usable(d.feature, sample) { terms.append(d) }
        // Two weak extra effects, as fitted models always have.
        for _ in 0..<2 {
            let j = rng.below(schema.count)
            let beta = (rng.unit() < 0.5 ? -1.0 : 1.0) * (0.03 + 0.07 * rng.unit())
            if usable(j, sample), !terms.contains(where: { $0.feature == j }) { terms.append((j, beta)) }
        }
        if terms.isEmpty { terms = [(0, -0.3)] }
        terms.sort { $0.feature < $1.feature }
        var intercept = log(base / (1 - base))
        var names: [String] = []
        var coefficients: [Double] = []
        for t in terms {
            // Skewed columns (balances) are spread wider so their top percent does not dominate the logit.
            let j = t.feature, sd = max(sample.sd[j], 1e-9)
            let m = sample.mean[j]
            let spread = max(sd, (sample.q99[j] - m) / 2.5, (m - sample.q01[j]) / 2.5,
                             (sample.maximum[j] - m) / 5, (m - sample.minimum[j]) / 5)
            let c = significant(t.beta / spread, 6)
            names.append(schema.names[t.feature])
            coefficients.append(c)
            intercept -= c * sample.mean[t.feature]
        }
        do { return try LogisticModel(features: names, coefficients: coefficients, intercept: significant(intercept, 7)) }
        catch { preconditionFailure("generated logistic model is invalid: \(error)") }
    }

    /// `x` rounded to `digits` significant decimal digits (so the file holds short numbers).
    static func significant(_ x: Double, _ digits: Int) -> Double {
        guard x != 0, x.isFinite else { return x }
        let k = digits - 1 - Int(log10(abs(x)).rounded(.down))
        if k >= 0 {
            let p = pow(10.0, Double(min(k, 22)))
            return (x * p).rounded() / p
        }
        let p = pow(10.0, Double(-k))
        return (x / p).rounded() * p
    }

    private static func usable(_ j: Int, _ s: Sample) -> Bool {
        guard s.sd[j] > 1e-9 else { return false }
        return !s.hasMissing[j] || abs(s.mean[j]) / s.sd[j] <= 2.5
    }

    static func treeModel(sample: Sample, schema: FeatureSchema, base: Double, drivers: [(feature: Int, beta: Double)],
                          agePeak: Double?, trees: Int, depth: Int, rng: inout SplitMix64) -> SynthesizedModel.Kind {
        let ageIndex = schema.index(of: "age")!
        let target = latentTarget(sample: sample, drivers: drivers, agePeak: agePeak, ageIndex: ageIndex)
        let splitFeatures = weightedSplitFeatures(drivers: drivers, agePeak: agePeak, ageIndex: ageIndex)
        var grower = TreeGrower(sample: sample, featureCount: schema.count, target: target, splitFeatures: splitFeatures,
                                eta: min(0.3, max(0.02, 5.0 / Double(max(trees, 1)))), depth: depth)
        var out: [XGBoostJSONWriter.Tree] = []
        out.reserveCapacity(trees)
        for _ in 0..<trees { out.append(grower.grow(rng: &rng)) }
        return .trees(featureNames: schema.names, baseScore: Float(base), trees: out)
    }

    /// Latent logit (relative to the base margin, centred) of every training row: the drivers' clamped
    /// z-scores times their betas, plus the age hump when there is one.
    private static func latentTarget(sample: Sample, drivers: [(feature: Int, beta: Double)], agePeak: Double?, ageIndex: Int) -> [Double] {
        let n = sample.rows
        var target = [Double](repeating: 0, count: n)
        for r in 0..<n {
            var t = 0.0
            for d in drivers {
                let v = sample.value(r, d.feature)
                if v.isNaN { continue }
                let z = (Double(v) - sample.mean[d.feature]) / max(sample.sd[d.feature], 1e-9)
                t += d.beta * SyntheticFeatures.clamp(z, -2.5, 2.5)
            }
            if let peak = agePeak {
                let a = Double(sample.value(r, ageIndex))
                let u = (a - peak) / 12
                t += 0.5 * max(-1.5, 1 - u * u)
            }
            target[r] = t
        }
        let mean = target.reduce(0, +) / Double(n)
        for r in 0..<n { target[r] -= mean }
        return target
    }

    /// Split features: drivers weighted by |beta| (age too when there is a hump).
    private static func weightedSplitFeatures(drivers: [(feature: Int, beta: Double)], agePeak: Double?, ageIndex: Int) -> [(feature: Int, weight: Double)] {
        var splitFeatures = drivers.map { (feature: $0.feature, weight: abs($0.beta)) }
        if agePeak != nil {
            if let k = splitFeatures.firstIndex(where: { $0.feature == ageIndex }) { splitFeatures[k].weight += 0.5 }
            else { splitFeatures.append((ageIndex, 0.5)) }
        }
        return splitFeatures
    }

    /// Grows the boosted trees one at a time over the sample: full binary trees of `depth` levels whose
    /// rows are kept partitioned in `perm` (node i's rows at `start[i] ..< end[i]`).
    private struct TreeGrower {
        let sample: Sample
        let featureCount: Int
        let target: [Double]
        let splitFeatures: [(feature: Int, weight: Double)]
        let totalWeight: Double
        let eta: Double
        let lambda = 1.0
        let n: Int
        let internalCount: Int
        let nodeCount: Int
        var margin: [Double]
        var perm: [Int32]
        var start: [Int]
        var end: [Int]

        init(sample: Sample, featureCount: Int, target: [Double], splitFeatures: [(feature: Int, weight: Double)], eta: Double, depth: Int) {
            self.sample = sample
            self.featureCount = featureCount
            self.target = target
            self.splitFeatures = splitFeatures
            totalWeight = splitFeatures.reduce(0) { $0 + $1.weight }
            self.eta = eta
            n = sample.rows
            internalCount = (1 << depth) - 1
            nodeCount = (1 << (depth + 1)) - 1
            margin = [Double](repeating: 0, count: n)
            perm = (0..<n).map { Int32($0) }
            start = [Int](repeating: 0, count: nodeCount)
            end = [Int](repeating: 0, count: nodeCount)
        }

        /// One more tree fitted to the residuals; the sample's margins move by its leaf values.
        mutating func grow(rng: inout SplitMix64) -> XGBoostJSONWriter.Tree {
            var left = [Int32](repeating: -1, count: nodeCount)
            var right = [Int32](repeating: -1, count: nodeCount)
            var feature = [Int32](repeating: 0, count: nodeCount)
            var cond = [Float](repeating: 0, count: nodeCount)
            var defaultLeft = [Bool](repeating: false, count: nodeCount)
            var weights = [Float](repeating: 0, count: nodeCount)
            var gains = [Float](repeating: 0, count: nodeCount)
            var hessian = [Float](repeating: 0, count: nodeCount)
            var gradient = [Double](repeating: 0, count: nodeCount)
            start[0] = 0
            end[0] = n
            for i in 0..<nodeCount {
                var g = 0.0
                for k in start[i]..<end[i] { let r = Int(perm[k]); g += target[r] - margin[r] }
                gradient[i] = g
                let count = Double(end[i] - start[i])
                hessian[i] = Float(count)
                weights[i] = Float(eta * g / (count + lambda))
                guard i < internalCount else { continue }
                let (j, threshold) = chooseSplit(node: i, rng: &rng)
                let dl = rng.unit() < 0.5
                feature[i] = Int32(j)
                cond[i] = threshold
                defaultLeft[i] = dl
                left[i] = Int32(2 * i + 1)
                right[i] = Int32(2 * i + 2)
                partition(node: i, feature: j, threshold: threshold, defaultLeft: dl)
            }
            // Split gains (as XGBoost records them), then leaf values and the sample's new margin.
            for i in 0..<internalCount {
                func score(_ k: Int) -> Double { gradient[k] * gradient[k] / (Double(hessian[k]) + lambda) }
                gains[i] = Float(max(0, score(2 * i + 1) + score(2 * i + 2) - score(i)))
            }
            for i in internalCount..<nodeCount {
                cond[i] = weights[i]
                let w = Double(weights[i])
                for k in start[i]..<end[i] { margin[Int(perm[k])] += w }
            }
            return XGBoostJSONWriter.Tree(leftChildren: left, rightChildren: right, splitIndices: feature, splitConditions: cond,
                                          defaultLeft: defaultLeft, baseWeights: weights, lossChanges: gains,
                                          sumHessian: hessian.map { $0 * 0.25 })
        }

        /// Chooses node i's split (feature and threshold), with rows on both sides when the node allows it:
        /// up to 8 attempts, each a weighted (or, one time in 7, any) feature and a threshold next to a row's value.
        private func chooseSplit(node i: Int, rng: inout SplitMix64) -> (feature: Int, threshold: Float) {
            var j = 0
            var threshold: Float = 0
            for attempt in 0..<8 {
                if rng.unit() < 0.85 {
                    var u = rng.unit() * totalWeight
                    j = splitFeatures.last!.feature
                    for sf in splitFeatures { if u < sf.weight { j = sf.feature; break }; u -= sf.weight }
                } else {
                    j = rng.below(featureCount)
                }
                let values = sample.distinct[j]
                guard values.count >= 2 else { continue }
                var v: Float = .nan
                for _ in 0..<4 where v.isNaN {
                    let r = end[i] > start[i] ? Int(perm[start[i] + rng.below(end[i] - start[i])]) : rng.below(n)
                    v = sample.value(r, j)
                }
                if v.isNaN { v = values[rng.below(values.count)] }
                let k = ModelSynthesis.lowerBound(values, v)
                let (a, b) = k + 1 < values.count ? (values[k], values[k + 1]) : (values[k - 1], values[k])
                var t = Float((Double(a) + Double(b)) / 2)
                if t <= a { t = b }
                threshold = t
                if attempt == 7 || end[i] - start[i] < 2 { break }
                var below = false, above = false
                for q in start[i]..<end[i] {
                    let x = sample.value(Int(perm[q]), j)
                    if x < t { below = true } else if x >= t { above = true }
                    if below && above { break }
                }
                if below && above { break }
            }
            return (j, threshold)
        }

        /// Partitions node i's rows between its children: left when x < threshold (or missing and default left).
        private mutating func partition(node i: Int, feature j: Int, threshold: Float, defaultLeft dl: Bool) {
            var lo = start[i], hi = end[i] - 1
            while lo <= hi {
                let x = sample.value(Int(perm[lo]), j)
                if x.isNaN ? dl : (x < threshold) { lo += 1 } else { perm.swapAt(lo, hi); hi -= 1 }
            }
            start[2 * i + 1] = start[i]; end[2 * i + 1] = lo
            start[2 * i + 2] = lo; end[2 * i + 2] = end[i]
        }
    }

    /// Index of the first element `>= v` in a sorted array (clamped to the last index).
    private static func lowerBound(_ a: [Float], _ v: Float) -> Int {
        var lo = 0, hi = a.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if a[mid] < v { lo = mid + 1 } else { hi = mid }
        }
        return min(lo, a.count - 1)
    }
}
