import Foundation
import NextBestCore

/// Writes gradient-boosted tree models in XGBoost's JSON model format (`Booster.save_model("m.json")`),
/// objective `binary:logistic`, so that the real XGBoost loads them (`xgboost.Booster(model_file=...)`)
/// and predicts exactly what `ModelFormat.xgboostJSON` + `BoundModel.propensity` predict.
///
/// The layout is the one XGBoost 2.1 writes (scalar `base_score` such as `"2E-1"`, `version [2, 1, 0]`),
/// which XGBoost 2.x and 3.x both load. Real-valued fields are written as XGBoost writes them
/// (`6.88E2`, `0E0`): XGBoost's JSON reader refuses a bare integer where it expects a float.
public enum XGBoostJSONWriter {
    /// One tree in XGBoost's array form. Node 0 is the root; a leaf has `leftChildren[i] == -1` and its
    /// value in `splitConditions[i]`. `baseWeights`, `lossChanges` and `sumHessian` are training
    /// statistics XGBoost stores but does not use to predict.
    public struct Tree: Sendable, Equatable {
        public var leftChildren: [Int32]
        public var rightChildren: [Int32]
        public var splitIndices: [Int32]
        public var splitConditions: [Float]
        public var defaultLeft: [Bool]
        public var baseWeights: [Float]
        public var lossChanges: [Float]
        public var sumHessian: [Float]

        public init(leftChildren: [Int32], rightChildren: [Int32], splitIndices: [Int32], splitConditions: [Float],
                    defaultLeft: [Bool], baseWeights: [Float]? = nil, lossChanges: [Float]? = nil, sumHessian: [Float]? = nil) {
            let n = leftChildren.count
            precondition(rightChildren.count == n && splitIndices.count == n && splitConditions.count == n && defaultLeft.count == n,
                         "tree arrays have different lengths")
            self.leftChildren = leftChildren
            self.rightChildren = rightChildren
            self.splitIndices = splitIndices
            self.splitConditions = splitConditions
            self.defaultLeft = defaultLeft
            self.baseWeights = baseWeights ?? splitConditions.enumerated().map { leftChildren[$0.offset] == -1 ? $0.element : 0 }
            self.lossChanges = lossChanges ?? Array(repeating: 0, count: n)
            self.sumHessian = sumHessian ?? Array(repeating: 1, count: n)
        }

        public var nodeCount: Int { leftChildren.count }

        /// Parent of each node (XGBoost writes 2147483647 for the root).
        public var parents: [Int32] {
            var p = [Int32](repeating: 2_147_483_647, count: nodeCount)
            for i in 0..<nodeCount where leftChildren[i] != -1 {
                p[Int(leftChildren[i])] = Int32(i)
                p[Int(rightChildren[i])] = Int32(i)
            }
            return p
        }
    }

    /// The model file text. `baseScore` is the base probability (XGBoost's `base_score`).
    public static func write(featureNames: [String], baseScore: Float, trees: [Tree]) -> String {
        var o: [UInt8] = []
        o.reserveCapacity(4096 + trees.reduce(0) { $0 + $1.nodeCount * 120 })
        o.appendString("{\"learner\":{\"attributes\":{},\"feature_names\":[")
        for (i, n) in featureNames.enumerated() {
            if i > 0 { o.append(UInt8(ascii: ",")) }
            appendJSONString(n, to: &o)
        }
        o.appendString("],\"feature_types\":[")
        for i in featureNames.indices { o.appendString(i == 0 ? "\"float\"" : ",\"float\"") }
        o.appendString("],\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_parallel_tree\":\"1\",\"num_trees\":\"")
        o.appendDecimal(UInt64(trees.count))
        o.appendString("\"},\"iteration_indptr\":[")
        for i in 0...trees.count {
            if i > 0 { o.append(UInt8(ascii: ",")) }
            o.appendDecimal(UInt64(i))
        }
        o.appendString("],\"tree_info\":[")
        for i in trees.indices { o.appendString(i == 0 ? "0" : ",0") }
        o.appendString("],\"trees\":[")
        for (k, t) in trees.enumerated() {
            if k > 0 { o.append(UInt8(ascii: ",")) }
            appendTree(t, id: k, featureCount: featureNames.count, to: &o)
        }
        o.appendString("]},\"name\":\"gbtree\"},\"learner_model_param\":{\"base_score\":\"")
        o.appendString(number(baseScore))
        o.appendString("\",\"boost_from_average\":\"1\",\"num_class\":\"0\",\"num_feature\":\"")
        o.appendDecimal(UInt64(featureNames.count))
        o.appendString("\",\"num_target\":\"1\"},\"objective\":{\"name\":\"binary:logistic\",\"reg_loss_param\":{\"scale_pos_weight\":\"1\"}}},\"version\":[2,1,0]}\n")
        return String(decoding: o, as: UTF8.self)
    }

    /// The ensemble `ModelFormat.xgboostJSON.parse` reads from `write(featureNames:baseScore:trees:)`'s
    /// text, built without going through JSON.
    public static func ensemble(featureNames: [String], baseScore: Float, trees: [Tree]) throws(ModelError) -> TreeEnsemble {
        guard let b = Double(number(baseScore)), b > 0, b < 1 else { throw .invalid("base score \(baseScore) is not a probability in (0, 1)") }
        var nodes: [TreeEnsemble.Node] = []
        var roots: [Int32] = []
        for t in trees {
            try TreeEnsemble.flatten(
                .init(left: t.leftChildren.map(Int.init), right: t.rightChildren.map(Int.init), feature: t.splitIndices.map(Int.init),
                      threshold: t.splitConditions, defaultLeft: t.defaultLeft),
                featureCount: featureNames.count, into: &nodes, roots: &roots)
        }
        let margin = Float(-Foundation.log(1.0 / b - 1.0))
        return try TreeEnsemble(features: featureNames, baseMargin: margin, nodes: nodes, roots: roots)
    }

    private static func appendTree(_ t: Tree, id: Int, featureCount: Int, to o: inout [UInt8]) {
        let n = t.nodeCount
        func floats(_ key: String, _ v: [Float]) {
            o.appendString("\"\(key)\":[")
            for i in 0..<n {
                if i > 0 { o.append(UInt8(ascii: ",")) }
                o.appendString(number(v[i]))
            }
            o.appendString("],")
        }
        func ints(_ key: String, _ v: [Int32]) {
            o.appendString("\"\(key)\":[")
            for i in 0..<n {
                if i > 0 { o.append(UInt8(ascii: ",")) }
                if v[i] < 0 { o.append(UInt8(ascii: "-")); o.appendDecimal(UInt64(-Int64(v[i]))) }
                else { o.appendDecimal(UInt64(v[i])) }
            }
            o.appendString("],")
        }
        o.append(UInt8(ascii: "{"))
        floats("base_weights", t.baseWeights)
        o.appendString("\"categories\":[],\"categories_nodes\":[],\"categories_segments\":[],\"categories_sizes\":[],")
        ints("default_left", t.defaultLeft.map { $0 ? 1 : 0 })
        o.appendString("\"id\":")
        o.appendDecimal(UInt64(id))
        o.append(UInt8(ascii: ","))
        ints("left_children", t.leftChildren)
        floats("loss_changes", t.lossChanges)
        ints("parents", t.parents)
        ints("right_children", t.rightChildren)
        floats("split_conditions", t.splitConditions)
        ints("split_indices", t.splitIndices)
        ints("split_type", [Int32](repeating: 0, count: n))
        floats("sum_hessian", t.sumHessian)
        o.appendString("\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"")
        o.appendDecimal(UInt64(featureCount))
        o.appendString("\",\"num_nodes\":\"")
        o.appendDecimal(UInt64(n))
        o.appendString("\",\"size_leaf_vector\":\"1\"}}")
    }

    private static func appendJSONString(_ s: String, to o: inout [UInt8]) {
        o.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): o.appendString("\\\"")
            case UInt8(ascii: "\\"): o.appendString("\\\\")
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                o.appendString("\\u00")
                o.append(hex[Int(c >> 4)])
                o.append(hex[Int(c & 15)])
            default: o.append(c)
            }
        }
        o.append(UInt8(ascii: "\""))
    }

    /// A Float written the way XGBoost writes it: the shortest digits that read back as the same Float,
    /// in scientific form with a capital `E` (`6.88E2`, `-3.015807E-8`, `0E0`). Reading the text as a
    /// Double and rounding to Float gives the value back exactly.
    public static func number(_ value: Float) -> String {
        precondition(value.isFinite, "XGBoost models hold finite numbers only")
        let shortest = scientific(value.description)
        if let d = Double(shortest), Float(d) == value { return shortest }
        // Double rounding could move a value on a rounding boundary: spell out its exact Double digits.
        return scientific(Double(value).description)
    }

    /// Rewrites Swift's `description` of a finite number (`688.0`, `1e-05`, `3.4e+10`) as `d.dddEx`.
    private static func scientific(_ text: String) -> String {
        var s = Substring(text)
        var negative = false
        if s.first == "-" { negative = true; s = s.dropFirst() }
        var exponent = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(s[s.index(after: e)...]) ?? 0
            s = s[..<e]
        }
        let intPart: Substring
        let fracPart: Substring
        if let dot = s.firstIndex(of: ".") { intPart = s[..<dot]; fracPart = s[s.index(after: dot)...] }
        else { intPart = s; fracPart = "" }
        var digits = Array(intPart.utf8) + Array(fracPart.utf8)
        var exp10 = exponent + intPart.utf8.count - 1
        while let f = digits.first, f == UInt8(ascii: "0") { digits.removeFirst(); exp10 -= 1 }
        while let l = digits.last, l == UInt8(ascii: "0") { digits.removeLast() }
        if digits.isEmpty { return "0E0" }
        var out: [UInt8] = negative ? [UInt8(ascii: "-")] : []
        out.append(digits[0])
        if digits.count > 1 {
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: digits[1...])
        }
        out.append(UInt8(ascii: "E"))
        out.appendString(String(exp10))
        return String(decoding: out, as: UTF8.self)
    }
}
