import Foundation
import Testing
@testable import NextBestCore
@testable import NextBestONNX
@testable import NextBestStore

/// ONNX operators and split modes beyond the first ONNX fixtures (Tests/Fixtures/make_onnx_ops_fixtures.py):
/// `Normalizer` (MAX, L1, L2) in front of a `LinearClassifier`, `OneHotEncoder` on text columns in front of
/// gradient boosting, LightGBM's category splits as onnxmltools writes them (`BRANCH_EQ` chains), and
/// XGBoost through onnxmltools (`BRANCH_LT`), each against the library's prediction and onnxruntime's.
@Suite struct ONNXOpsFixtureTests {
    static let dir = Fixtures.root + "/onnx_ops"
    static let numeric = ["onnx_norm_l1", "onnx_norm_l2", "onnx_norm_max", "onnx_lgb_cat", "onnx_xgb"]
    /// Models whose one tensor input carries no feature names.
    static let unnamed: Set<String> = ["onnx_lgb_cat", "onnx_xgb"]

    static func importAll(_ store: Store, _ names: [String]) throws {
        for m in names {
            _ = try ModelImporter.run(file: dir + "/\(m).onnx", id: m, format: nil,
                                      featureNames: unnamed.contains(m) ? ONNXFixtureTests.features : nil, store: store)
        }
    }

    /// The numeric models over onnx/profiles.csv, the one-hot model over the categorical fixtures.
    static func store(for name: String) throws -> Store {
        let store = try Store(path: Fixtures.tempDir("onnxops") + "/store")
        if name == "onnx_onehot_gb" {
            let cat = Fixtures.root + "/categorical"
            _ = try ProfileImporter.run(file: cat + "/profiles.csv", store: store, categorical: ["branch"])
            _ = try ProfileImporter.run(file: cat + "/profiles_more.csv", store: store)
        } else {
            _ = try ProfileImporter.run(file: Fixtures.root + "/onnx/profiles.csv", store: store)
        }
        try importAll(store, [name])
        return store
    }

    static func expected(_ name: String) throws -> [(UInt64, Double, Double)] {
        let text = try String(contentsOfFile: dir + "/expected_\(name).csv", encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            return (UInt64(f[0])!, Double(f[1])!, Double(f[2])!)
        }
    }

    /// Every customer within 1e-5 of the library and of onnxruntime, through the stored record, one customer
    /// at a time and on the block path (the same bits).
    @Test(arguments: numeric + ["onnx_onehot_gb"])
    func matchesLibraryAndOnnxruntime(name: String) throws {
        let store = try Self.store(for: name)
        let expected = try Self.expected(name)
        #expect(expected.count == (name == "onnx_onehot_gb" ? 340 : 300))
        let (bound, count, rows, single) = try Fixtures.scoredOneByOne(store, model: name, customers: expected.map(\.0))
        let library = zip(single, expected).map { abs(Double($0) - $1.1) }.max() ?? .infinity
        let runtime = zip(single, expected).map { abs(Double($0) - $1.2) }.max() ?? .infinity
        #expect(library < 1e-5, "max abs difference \(library) from the library for \(name)")
        #expect(runtime < 1e-5, "max abs difference \(runtime) from onnxruntime for \(name)")
        print("ONNX \(name): max |nextbest − library| \(library), max |nextbest − onnxruntime| \(runtime)")
        Fixtures.expectBlockPathMatches(bound, rows: rows, stride: count, single: single, name: name)
    }

    /// What each fixture becomes: the Normalizer a logistic model's normalized term, the one-hot columns and
    /// the equality chains category splits; records round-trip and truncations are refused.
    @Test func kindsAndRecords() throws {
        for name in Self.numeric + ["onnx_onehot_gb"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/\(name).onnx"))
            #expect(try ModelFormat.detect(data, file: name) == .onnx)
            let kind = try ONNXReader.read(data, featureNames: Self.unnamed.contains(name) ? ONNXFixtureTests.features : nil)
            switch (name, kind) {
            case (let n, .logistic(let m)) where n.hasPrefix("onnx_norm_"):
                let norm = try #require(m.normalization)
                #expect(norm.norm.rawValue == n.dropFirst("onnx_norm_".count).uppercased())
                #expect(norm.feature.count == 10)
            case ("onnx_onehot_gb", .forest(let f)):
                #expect(f.categoryNames?[f.features.firstIndex(of: "gold")!] == ["no", "yes"])
                #expect(f.nodes.contains { $0.categorical })
            case ("onnx_lgb_cat", .forest(let f)):
                // The chains became sets of more than one category.
                #expect(f.nodes.contains { $0.categorical && $0.missing == .exact })
                #expect(f.categoryBounds.count > 1)
            case ("onnx_xgb", .forest(let f)):
                #expect(!f.nodes.contains { $0.categorical })
            default:
                Issue.record("\(name) read as \(kind)")
            }
            let model = PropensityModel(id: name, version: 3, kind: kind)
            let bytes = ModelCodec.encode(model)
            #expect(try bytes.withUnsafeBytes { try ModelCodec.decode(id: name, $0) } == model)
            for cut in Swift.stride(from: 0, to: bytes.count, by: max(1, bytes.count / 41)) {
                #expect(throws: ModelCodec.DecodeError.self) { try bytes[..<cut].withUnsafeBytes { try ModelCodec.decode(id: name, $0) } }
            }
        }
    }

    @Test(arguments: [("onehot_logreg", ["OneHotEncoder", "LinearClassifier", "tree ensembles only"]),
                      ("norm_gb", ["Normalizer", "TreeEnsembleClassifier", "LinearClassifier only"])])
    func refusedFixtures(file: String, words: [String]) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/refused/\(file).onnx"))
        let message = try ONNXRefusalTests.refusal(data)
        for w in words { #expect(message.contains(w), "\(message)") }
    }

    /// The one-hot model on a store whose text columns are numbers is refused, naming the column.
    @Test func oneHotNeedsTextColumns() throws {
        let store = try Store(path: Fixtures.tempDir("onnxops") + "/store")
        let csv = "customer_id,region,segment,age,income,balance,occupation,gold\n1,north,mass,40,100,5,1,0\n"
        _ = try ProfileImporter.run(file: Fixtures.file("p.csv", csv), store: store)
        var message = ""
        do { try Self.importAll(store, ["onnx_onehot_gb"]) } catch { message = "\(error)" }
        #expect(message.contains("'occupation'") && message.contains("numeric") && message.contains("--categorical occupation"), "\(message)")
    }

    /// `BRANCH_EQ`/`BRANCH_NEQ` on a raw feature, hand-made: integral values equal to the category only, NaN
    /// to the true branch of NEQ and (with missing_value_tracks_true) of EQ.
    @Test func equalitySplits() throws {
        let schema = try FeatureSchema(names: ["a", "b"])
        // Tree: b == 3 (node 0) → leaf 1 (-1), else leaf 2 (+1); ONNXRefusalTests.graph splits at 0.5.
        for mode in ["BRANCH_EQ", "BRANCH_NEQ"] {
            var data = ONNXRefusalTests.graph(modes: [mode, "LEAF", "LEAF"])
            data = try Self.withThreshold(data, 3)
            let bound = try PropensityModel(id: "e", version: 1, kind: try ONNXReader.read(data)).bound(to: schema)
            for b: Float in [3, 3.5, 2.999, 0, -3, 4, .nan, 1e9] {
                let row: [Float] = [0, b]
                let p = row.withUnsafeBufferPointer { bound.propensity($0) }
                let holds = mode == "BRANCH_EQ" ? b == 3 : !(b == 3)
                let want = Float(1 / (1 + Foundation.exp(holds ? 1.0 : -1.0)))
                #expect(p == want, "\(mode) b = \(b)")
            }
        }
        let half = try ONNXRefusalTests.refusal(ONNXRefusalTests.graph(modes: ["BRANCH_EQ", "LEAF", "LEAF"]))
        #expect(half.contains("BRANCH_EQ") && half.contains("0.5") && half.contains("tree 0 node 0"), "\(half)")
    }

    /// The hand-made graph with its split threshold replaced.
    static func withThreshold(_ data: Data, _ t: Float) throws -> Data {
        var m = try Onnx_ModelProto(serializedBytes: data)
        let i = m.graph.node.firstIndex { $0.opType == "TreeEnsembleClassifier" }!
        let j = m.graph.node[i].attribute.firstIndex { $0.name == "nodes_values" }!
        m.graph.node[i].attribute[j].floats = [t, 0, 0]
        return try m.serializedData()
    }

    /// Each norm against a direct evaluation of onnx's reference definition, including a zero row.
    @Test func normalizerTerm() throws {
        let rows: [[Float]] = [[3, -4], [0, 0], [-2, 1], [.nan, 5], [1e-35, 0]]
        for norm in LogisticModel.Normalization.Norm.allCases {
            let n = try LogisticModel.Normalization(norm: norm, feature: [0, 1], scale: [1, 1], shift: [0, 0], weight: [0.5, -2])
            for r in rows {
                let y = r.map { $0.isNaN ? 0 : Double($0) }
                let d: Double
                switch norm {
                case .max: d = max(abs(y[0]), abs(y[1]))
                case .l1: d = abs(y[0]) + abs(y[1])
                case .l2: d = (y[0] * y[0] + y[1] * y[1]).squareRoot()
                }
                let want = (0.5 * y[0] - 2 * y[1]) / max(d, 1e-30)
                #expect(abs(n.term { r[$0] } - want) <= 1e-15 * max(1, abs(want)), "\(norm) \(r)")
            }
        }
    }

    /// `OneHotEncoder` with `cats_int64s` on an int64 input, hand-made: the column of category 7 split at 0.5
    /// is an exact category split on the numeric feature (7.5 and NaN are not category 7).
    @Test func integerOneHot() throws {
        func attr(_ name: String, ints: [Int64] = [], floats: [Float] = [], strings: [String] = [], i: Int64? = nil, s: String? = nil) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto()
            a.name = name; a.ints = ints; a.floats = floats; a.strings = strings.map { Data($0.utf8) }
            if let i { a.i = i }
            if let s { a.s = Data(s.utf8) }
            return a
        }
        func input(_ name: String, _ type: Int32) -> Onnx_ValueInfoProto {
            var v = Onnx_ValueInfoProto(); v.name = name
            var t = Onnx_TypeProto.Tensor(); t.elemType = type
            var d0 = Onnx_TensorShapeProto.Dimension(); d0.dimParam = "N"
            var d1 = Onnx_TensorShapeProto.Dimension(); d1.dimValue = 1
            t.shape.dim = [d0, d1]
            v.type.tensorType = t
            return v
        }
        func node(_ op: String, _ domain: String, _ inputs: [String], _ outputs: [String], _ attrs: [Onnx_AttributeProto]) -> Onnx_NodeProto {
            var n = Onnx_NodeProto(); n.opType = op; n.domain = domain; n.input = inputs; n.output = outputs; n.attribute = attrs; n.name = op
            return n
        }
        var g = Onnx_GraphProto()
        g.input = [input("c", 7), input("a", 1)]
        var shape = Onnx_TensorProto(); shape.name = "shape"; shape.dataType = 7; shape.dims = [2]; shape.int64Data = [-1, 2]
        g.initializer = [shape]
        g.node = [node("OneHotEncoder", "ai.onnx.ml", ["c"], ["oh3"], [attr("cats_int64s", ints: [2, 7]), attr("zeros", i: 1)]),
                  node("Reshape", "", ["oh3", "shape"], ["oh"], []),
                  node("Concat", "", ["oh", "a"], ["x"], [attr("axis", i: 1)]),
                  node("TreeEnsembleClassifier", "ai.onnx.ml", ["x"], ["label", "probabilities"], [
                    attr("nodes_treeids", ints: [0, 0, 0]), attr("nodes_nodeids", ints: [0, 1, 2]), attr("nodes_featureids", ints: [1, 0, 0]),
                    attr("nodes_modes", strings: ["BRANCH_LEQ", "LEAF", "LEAF"]), attr("nodes_values", floats: [0.5, 0, 0]),
                    attr("nodes_truenodeids", ints: [1, 0, 0]), attr("nodes_falsenodeids", ints: [2, 0, 0]),
                    attr("class_treeids", ints: [0, 0]), attr("class_nodeids", ints: [1, 2]), attr("class_ids", ints: [1, 1]),
                    attr("class_weights", floats: [-1, 1]), attr("classlabels_int64s", ints: [0, 1]), attr("post_transform", s: "LOGISTIC")])]
        var m = Onnx_ModelProto(); m.irVersion = 8; m.graph = g
        let kind = try ONNXReader.read(try m.serializedData())
        let bound = try PropensityModel(id: "oh", version: 1, kind: kind).bound(to: try FeatureSchema(names: ["a", "c"]))
        for c: Float in [7, 2, 3, 7.5, .nan, 0, -7] {
            let row: [Float] = [1, c]
            let p = row.withUnsafeBufferPointer { bound.propensity($0) }
            #expect(p == Float(1 / (1 + Foundation.exp(c == 7 ? -1.0 : 1.0))), "c = \(c)")
        }
    }

    /// A forest of ONNX splits only has no zero window, so a split at ±1e-35 (LightGBM's split at zero, through
    /// onnxmltools) takes the branch-free layout, and tiny values give the same bits on both paths.
    @Test func exactForestsTakeTheFastPathAtTinyThresholds() throws {
        let schema = try FeatureSchema(names: ["a", "b"])
        let z = Float(1e-35)
        for t in [-z, z, -z.nextUp, 0, z.nextDown] {
            let data = try Self.withThreshold(ONNXRefusalTests.graph(), t)
            let bound = try PropensityModel(id: "z", version: 1, kind: try ONNXReader.read(data)).bound(to: schema)
            #expect(bound.decisionForest?.complete?.slot == [0], "threshold \(t)")
            let values: [Float] = [0, -0.0, z, -z, z.nextUp, -z.nextUp, z.nextDown, -z.nextDown, 1e-36, -1e-36, .nan, 1, -1]
            let rows = values.flatMap { [Float(0), $0] }
            let single = values.map { v in [Float(0), v].withUnsafeBufferPointer { bound.propensity($0) } }
            var out = [Float](repeating: -1, count: values.count), margins = out
            rows.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { o in
                    margins.withUnsafeMutableBufferPointer { m in
                        bound.propensities(block: x, stride: 2, count: values.count, margins: m, out: o, outStride: 1, kernel: .portable)
                    }
                }
            }
            #expect(out.map(\.bitPattern) == single.map(\.bitPattern), "threshold \(t)")
            for (v, p) in zip(values, single) where !v.isNaN {
                #expect(p == Float(1 / (1 + Foundation.exp(v <= t ? 1.0 : -1.0))), "threshold \(t), value \(v)")
            }
        }
    }
}
