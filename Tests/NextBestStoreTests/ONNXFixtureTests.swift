import Foundation
import Testing
@testable import NextBestCore
@testable import NextBestONNX
@testable import NextBestStore

/// ONNX models (`--format onnx`, told by `--format auto`) against the library's own predictions and
/// onnxruntime's (fixtures written by Tests/Fixtures/make_onnx_fixtures.py): skl2onnx gradient boosting
/// behind an Imputer (and an Imputer + Scaler), a random forest read as probabilities, a Scaler +
/// LinearClassifier, LightGBM through onnxmltools with missing_value_tracks_true, CatBoost's own export
/// (BRANCH_GT, weights for both classes).
@Suite struct ONNXFixtureTests {
    static let dir = Fixtures.root + "/onnx"
    static let models = ["onnx_gb", "onnx_gb_scaled", "onnx_rf", "onnx_logreg", "onnx_lgb", "onnx_catboost"]
    static let features = ["age", "income", "balance", "tenure_months", "num_products", "card_spend",
                           "savings_rate", "digital_logins", "mortgage_ltv", "credit_score"]
    /// Models whose one tensor input carries no feature names.
    static let unnamed: Set<String> = ["onnx_rf", "onnx_lgb", "onnx_catboost"]

    /// A store with the ONNX fixture profiles and every fixture model imported with `--format auto`.
    static func store() throws -> Store {
        let store = try Store(path: Fixtures.tempDir("onnx") + "/store")
        _ = try ProfileImporter.run(file: dir + "/profiles.csv", store: store)
        for m in models {
            _ = try ModelImporter.run(file: dir + "/\(m).onnx", id: m, format: nil,
                                      featureNames: unnamed.contains(m) ? features : nil, store: store)
        }
        return store
    }

    /// `customer_id, library's probability, onnxruntime's (nil where it gives NaN)`.
    static func expected(_ name: String) throws -> [(UInt64, Double, Double?)] {
        let text = try String(contentsOfFile: dir + "/expected_\(name).csv", encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            return (UInt64(f[0])!, Double(f[1])!, Double(f[2]))
        }
    }

    /// Every customer's propensity through the stored model (encoded, decoded, bound), one customer at a
    /// time and through the block path, within 1e-5 of the library's and of onnxruntime's; the two paths
    /// agree bit for bit.
    @Test(arguments: models)
    func matchesLibraryAndOnnxruntime(name: String) throws {
        let store = try Self.store()
        let expected = try Self.expected(name)
        #expect(expected.count == 300)
        let (bound, count, rows, single) = try Fixtures.scoredOneByOne(store, model: name, customers: expected.map(\.0))
        let library = zip(single, expected).map { abs(Double($0) - $1.1) }.max() ?? .infinity
        let runtime = zip(single, expected).compactMap { s, e in e.2.map { abs(Double(s) - $0) } }.max() ?? 0
        #expect(library < 1e-5, "max abs difference \(library) from the library for \(name)")
        #expect(runtime < 1e-5, "max abs difference \(runtime) from onnxruntime for \(name)")
        print("ONNX \(name): max |nextbest − library| \(library), max |nextbest − onnxruntime| \(runtime)")
        Fixtures.expectBlockPathMatches(bound, rows: rows, stride: count, single: single, name: name)
    }

    /// Values in and around LightGBM's zero window (no window for ONNX) give the same bits on the block
    /// path (branch-free layout, which maps them to 0.0) as on the node walk (which compares them as they
    /// are): the layout takes only trees where that cannot matter.
    @Test func tinyValuesAgreeOnBothPaths() throws {
        let schema = try FeatureSchema(names: Self.features)
        let tiny: [Float] = [0, -0.0, 1e-36, -1e-36, 1e-35, -1e-35, Float(1e-35).nextUp, Float(-1e-35).nextDown, 2e-35, .nan]
        var rows: [Float] = []
        for i in 0..<200 { for j in Self.features.indices { rows.append(tiny[i < tiny.count ? i : (i * 7 + j * j * 3) % tiny.count]) } }
        for name in ["onnx_gb", "onnx_lgb", "onnx_rf"] {
            let kind = try ONNXReader.read(try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/\(name).onnx")),
                                           featureNames: Self.unnamed.contains(name) ? Self.features : nil)
            let bound = try PropensityModel(id: name, version: 1, kind: kind).bound(to: schema)
            let k = Self.features.count, n = rows.count / k
            let single = (0..<n).map { i in rows[(i * k)..<((i + 1) * k)].withUnsafeBufferPointer { bound.propensity($0) } }
            var out = [Float](repeating: -1, count: n), margins = [Float](repeating: 0, count: n)
            rows.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { o in
                    margins.withUnsafeMutableBufferPointer { m in
                        bound.propensities(block: x, stride: k, count: n, margins: m, out: o, outStride: 1, kernel: .portable)
                    }
                }
            }
            #expect(out.map(\.bitPattern) == single.map(\.bitPattern), "\(name)")
        }
    }

    @Test func formatIsDetectedAndRecordsRoundTrip() throws {
        for name in Self.models {
            let data = try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/\(name).onnx"))
            #expect(try ModelFormat.detect(data, file: name) == .onnx)
            let kind = try ONNXReader.read(data, featureNames: Self.unnamed.contains(name) ? Self.features : nil)
            let model = PropensityModel(id: name, version: 2, kind: kind)
            #expect(model.features == Self.features)
            let bytes = ModelCodec.encode(model)
            #expect(try bytes.withUnsafeBytes { try ModelCodec.decode(id: name, $0) } == model)
            for cut in Swift.stride(from: 0, to: bytes.count, by: max(1, bytes.count / 53)) {
                #expect(throws: ModelCodec.DecodeError.self) { try bytes[..<cut].withUnsafeBytes { try ModelCodec.decode(id: name, $0) } }
            }
        }
        for file in ["profiles.csv", "expected_onnx_gb.csv"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/" + file))
            #expect(!ModelFormat.isONNXModel(data))
        }
    }

    /// What the fixtures map to: trees read as margins or probabilities, the linear model with its Scaler
    /// folded in, every split `.exact`.
    @Test func fixturesMapToTheExpectedKinds() throws {
        func kind(_ name: String) throws -> PropensityModel.Kind {
            try ONNXReader.read(try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/\(name).onnx")),
                                featureNames: Self.unnamed.contains(name) ? Self.features : nil)
        }
        guard case .forest(let gb) = try kind("onnx_gb"), case .forest(let rf) = try kind("onnx_rf"),
              case .forest(let lgb) = try kind("onnx_lgb"), case .logistic = try kind("onnx_logreg") else {
            Issue.record("unexpected kinds"); return
        }
        #expect(gb.arithmetic == .onnx && gb.treeCount == 41, "40 trees and the base value")
        #expect(rf.arithmetic == .onnxProbability && rf.treeCount == 12)
        #expect(lgb.arithmetic == .onnx && lgb.treeCount == 30)
        #expect(gb.nodes.allSatisfy { $0.feature < 0 || $0.missing == .exact })
        // Shallow trees take the branch-free block path (checked against the node walk bit for bit in
        // `matchesLibraryAndOnnxruntime`), LightGBM's splits at 1e-35 (between 0 and positive values)
        // included.
        let schema = try FeatureSchema(names: Self.features)
        var walked: [String: Int] = [:]
        for (name, f) in [("onnx_gb", gb), ("onnx_rf", rf), ("onnx_lgb", lgb)] {
            let bound = try #require(try PropensityModel(id: name, version: 1, kind: .forest(f)).bound(to: schema).decisionForest)
            walked[name] = bound.complete?.slot.filter { $0 < 0 }.count ?? f.treeCount
        }
        #expect(walked.values.allSatisfy { $0 == 0 }, "\(walked)")
        print("ONNX trees walked node by node (zero-window thresholds): \(walked.sorted { $0.key < $1.key })")
    }
}

/// What `--format onnx` refuses, naming what and where; hand-made graphs for the rules no exporter
/// fixture shows, and ONNX's comparison modes against a direct evaluation.
@Suite struct ONNXRefusalTests {
    static let dir = ONNXFixtureTests.dir

    static func refusal(_ data: Data, featureNames: [String]? = nil) throws -> String {
        let store = try Fixtures.store()
        let before = try Fixtures.digest(store)
        defer { #expect((try? Fixtures.digest(store)) == before) }
        let path = Fixtures.tempDir("onnx-bad") + "/m.onnx"
        try data.write(to: URL(fileURLWithPath: path))
        do {
            _ = try ModelImporter.run(file: path, id: "bad", format: nil, featureNames: featureNames, store: store)
        } catch let e as ImportError {
            return e.description
        }
        Issue.record("expected a refusal")
        return ""
    }

    @Test(arguments: [("mlp", ["MatMul", "graph.node["]),
                      ("multiclass", ["3 class labels", "TreeEnsembleClassifier"]),
                      ("truncated", ["not a valid onnx model", "protobuf", "truncated"])])
    func refusedFixtures(file: String, words: [String]) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/refused/\(file).onnx"))
        let message = try Self.refusal(data, featureNames: file == "multiclass" ? ONNXFixtureTests.features : nil)
        for w in words { #expect(message.contains(w), "\(message)") }
    }

    @Test func oneTensorInputNeedsFeatureNames() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/onnx_rf.onnx"))
        let message = try Self.refusal(data)
        #expect(message.contains("--feature-names") && message.contains("10 names"), "\(message)")
        let wrong = try Self.refusal(data, featureNames: ["a", "b"])
        #expect(wrong.contains("--feature-names gives 2 names") && wrong.contains("10 features"), "\(wrong)")
    }

    /// A one-tree graph on inputs `a` and `b`: `steps` nodes (op type, attributes) before the ensemble.
    static func graph(modes: [String] = ["BRANCH_LEQ", "LEAF", "LEAF"], steps: [(String, [Onnx_AttributeProto])] = [],
                      model: String = "TreeEnsembleClassifier", sigmoid: Bool = false) -> Data {
        func attr(_ name: String, ints: [Int64] = [], floats: [Float] = [], strings: [String] = [], s: String? = nil) -> Onnx_AttributeProto {
            var a = Onnx_AttributeProto()
            a.name = name; a.ints = ints; a.floats = floats; a.strings = strings.map { Data($0.utf8) }
            if let s { a.s = Data(s.utf8) }
            return a
        }
        var g = Onnx_GraphProto()
        for name in ["a", "b"] {
            var v = Onnx_ValueInfoProto(); v.name = name
            var t = Onnx_TypeProto.Tensor(); t.elemType = 1
            var d0 = Onnx_TensorShapeProto.Dimension(); d0.dimParam = "N"
            var d1 = Onnx_TensorShapeProto.Dimension(); d1.dimValue = 1
            t.shape.dim = [d0, d1]
            v.type.tensorType = t
            g.input.append(v)
        }
        var concat = Onnx_NodeProto(); concat.opType = "FeatureVectorizer"; concat.domain = "ai.onnx.ml"
        concat.input = ["a", "b"]; concat.output = ["x0"]
        g.node.append(concat)
        for (i, (op, attrs)) in steps.enumerated() {
            var n = Onnx_NodeProto(); n.opType = op; n.domain = "ai.onnx.ml"; n.input = ["x\(i)"]; n.output = ["x\(i + 1)"]; n.attribute = attrs
            g.node.append(n)
        }
        var tree = Onnx_NodeProto(); tree.opType = model; tree.domain = "ai.onnx.ml"; tree.name = "trees"
        tree.input = ["x\(steps.count)"]; tree.output = ["label", "probabilities"]
        tree.attribute = [
            attr("nodes_treeids", ints: [0, 0, 0]), attr("nodes_nodeids", ints: [0, 1, 2]), attr("nodes_featureids", ints: [1, 0, 0]),
            attr("nodes_modes", strings: modes), attr("nodes_values", floats: [0.5, 0, 0]),
            attr("nodes_truenodeids", ints: [1, 0, 0]), attr("nodes_falsenodeids", ints: [2, 0, 0]),
        ]
        if model == "TreeEnsembleRegressor" {
            tree.attribute += [attr("target_treeids", ints: [0, 0]), attr("target_nodeids", ints: [1, 2]), attr("target_ids", ints: [0, 0]),
                               attr("target_weights", floats: [-1, 1]), attr("n_targets", ints: []), attr("base_values", floats: [0.25])]
            tree.attribute[tree.attribute.count - 2].i = 1
            tree.output = ["margin"]
        } else {
            tree.attribute += [attr("class_treeids", ints: [0, 0]), attr("class_nodeids", ints: [1, 2]), attr("class_ids", ints: [1, 1]),
                               attr("class_weights", floats: [-1, 1]), attr("classlabels_int64s", ints: [0, 1]), attr("post_transform", s: "LOGISTIC")]
        }
        g.node.append(tree)
        if sigmoid {
            var n = Onnx_NodeProto(); n.opType = "Sigmoid"; n.input = ["margin"]; n.output = ["probability"]
            g.node.append(n)
        }
        var m = Onnx_ModelProto(); m.irVersion = 8; m.producerName = "test"; m.graph = g
        return try! m.serializedData()
    }

    @Test func handMadeGraphsAreRefusedByName() throws {
        #expect(PropensityModel(id: "m", version: 1, kind: try ONNXReader.read(Self.graph())).features == ["a", "b"])
        let eq = try Self.refusal(Self.graph(modes: ["BRANCH_EQ", "LEAF", "LEAF"]))
        #expect(eq.contains("BRANCH_EQ") && eq.contains("tree 0 node 0"), "\(eq)")
        var p = Onnx_AttributeProto(); p.name = "norm"; p.s = Data("L2".utf8)
        let normalizer = try Self.refusal(Self.graph(steps: [("Normalizer", [p])]))
        #expect(normalizer.contains("Normalizer") && normalizer.contains("graph.node[1]") && normalizer.contains("LinearClassifier only"), "\(normalizer)")
        var scale = Onnx_AttributeProto(); scale.name = "scale"; scale.floats = [2]
        var offset = Onnx_AttributeProto(); offset.name = "offset"; offset.floats = [0]
        let after = try Self.refusal(Self.graph(steps: [("Normalizer", [p]), ("Scaler", [offset, scale])]))
        #expect(after.contains("graph.node[2] Scaler") && after.contains("Normalizer's output"), "\(after)")
        var bad = Onnx_AttributeProto(); bad.name = "norm"; bad.s = Data("L3".utf8)
        let l3 = try Self.refusal(Self.graph(steps: [("Normalizer", [bad])]))
        #expect(l3.contains("norm 'L3'") && l3.contains("graph.node[1] Normalizer"), "\(l3)")
        let regressor = try Self.refusal(Self.graph(model: "TreeEnsembleRegressor"))
        #expect(regressor.contains("followed by Sigmoid") && regressor.contains("graph.node[1] TreeEnsembleRegressor"), "\(regressor)")
        var r = Onnx_AttributeProto(); r.name = "replaced_value_float"; r.f = 0
        var v = Onnx_AttributeProto(); v.name = "imputed_value_floats"; v.floats = [1]
        let imputer = try Self.refusal(Self.graph(steps: [("Imputer", [r, v])]))
        #expect(imputer.contains("replaces 0.0") && imputer.contains("Imputer"), "\(imputer)")
        let garbage = try Self.refusal(Data([0x08, 0x08, 0x12, 0xff, 0xff, 0xff]))
        #expect(garbage.contains("not a valid ONNX model"), "\(garbage)")
    }

    /// `TreeEnsembleRegressor` then `Sigmoid`: the sigmoid of the leaf plus the base value.
    @Test func regressorThenSigmoid() throws {
        let kind = try ONNXReader.read(Self.graph(model: "TreeEnsembleRegressor", sigmoid: true))
        let schema = try FeatureSchema(names: ["a", "b"])
        let bound = try PropensityModel(id: "r", version: 1, kind: kind).bound(to: schema)
        let cases: [(Float, Double)] = [(0.5, -0.75), (Float(0.5).nextUp, 1.25), (.nan, 1.25)]
        for (b, margin) in cases {
            let row: [Float] = [3, b]
            let p = row.withUnsafeBufferPointer { bound.propensity($0) }
            let want = Float(1 / (1 + Foundation.exp(-margin)))
            #expect(p == want, "b = \(b)")
        }
    }

    /// Each comparison mode, with and without Scaler steps (positive and negative scales) and an Imputer,
    /// against onnxruntime's rule evaluated directly in Float32, for values around the threshold.
    @Test func splitsMatchDirectEvaluation() throws {
        let modes: [(String, (Float, Float) -> Bool)] = [("BRANCH_LEQ", { $0 <= $1 }), ("BRANCH_LT", { $0 < $1 }),
                                                         ("BRANCH_GTE", { $0 >= $1 }), ("BRANCH_GT", { $0 > $1 })]
        let columns = [Column(feature: 0), Column(feature: 0, steps: [.scale(offset: 0.3, scale: 1.7)]),
                       Column(feature: 0, steps: [.impute(2), .scale(offset: -1.1, scale: -0.37)]),
                       Column(feature: 0, steps: [.scale(offset: 10, scale: 0.001), .scale(offset: 0, scale: -3)])]
        let thresholds: [Float] = [0.5, -2.25, 0, 1e-30, -.infinity, .infinity, 3.4e38]
        for (mode, op) in modes {
            for c in columns {
                for t in thresholds {
                    for tracks in [false, true] {
                        let s = try Split(mode: mode, threshold: t, column: c, tracksTrue: tracks, place: "test")
                        var xs: [Float] = [.nan, -.infinity, .infinity, 0, -0.0, 1e-36, 2, -1]
                        for base in [t, (t - 0.3) * 1.7, t / 1.7 + 0.3, t / -0.37 - 1.1, t / -3 / 0.001 + 10] where base.isFinite {
                            var v = base
                            for _ in 0..<3 { v = v.nextDown }
                            for _ in 0..<7 { xs.append(v); v = v.nextUp }
                        }
                        for x in xs {
                            let y = c.apply(x)
                            let want = y.isNaN ? tracks : op(y, t)
                            let got = x.isNaN ? s.nanTrue : (Double(x) <= s.threshold) != s.swap
                            #expect(got == want, "\(mode) t=\(t) x=\(x) steps=\(c.steps) tracks=\(tracks)")
                        }
                    }
                }
            }
        }
    }
}
