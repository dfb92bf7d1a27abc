import Foundation
import Testing
@testable import NextBestCore
@testable import NextBestStore

/// LightGBM text models (`--format lightgbm`) against LightGBM's own predictions (fixtures written by
/// Tests/Fixtures/make_lightgbm_fixtures.py): missing values of every missing type, deep unbalanced
/// trees, category-set splits with out-of-range categories, random forests, a sigmoid other than 1.
@Suite struct LightGBMFixtureTests {
    static let dir = Fixtures.root + "/lightgbm"
    static let models = ["lgb_small", "lgb_deep", "lgb_cat", "lgb_zero", "lgb_nomissing", "lgb_rf", "lgb_xent"]

    /// A store with the LightGBM fixture profiles and every fixture model imported.
    static func store() throws -> Store {
        let store = try Store(path: Fixtures.tempDir("lgbm") + "/store")
        _ = try ProfileImporter.run(file: dir + "/profiles.csv", store: store)
        for m in models { _ = try ModelImporter.run(file: dir + "/\(m).txt", id: m, format: .lightGBM, store: store) }
        return store
    }

    static func expected(_ name: String) throws -> [(UInt64, Double)] {
        let text = try String(contentsOfFile: dir + "/expected_\(name).csv", encoding: .utf8)
        return text.split(separator: "\n").dropFirst().map { line in
            let f = line.split(separator: ",")
            return (UInt64(f[0])!, Double(f[1])!)
        }
    }

    /// Every customer's propensity through the model as stored (record encoded, decoded and bound), one
    /// customer at a time and through the block path, within 1e-5 of LightGBM's; the two paths agree bit
    /// for bit.
    @Test(arguments: models)
    func matchesLightGBM(name: String) throws {
        let store = try Self.store()
        let expected = try Self.expected(name)
        #expect(expected.count == 300)
        let (bound, count, rows, single) = try Fixtures.scoredOneByOne(store, model: name, customers: expected.map(\.0))
        let worst = zip(single, expected).map { abs(Double($0) - $1.1) }.max() ?? .infinity
        #expect(worst < 1e-5, "max abs difference \(worst) for \(name)")
        Fixtures.expectBlockPathMatches(bound, rows: rows, stride: count, single: single, name: name)
    }

    @Test func recordsRoundTripAndTruncationsAreRefused() throws {
        for name in Self.models {
            let data = try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/\(name).txt"))
            let model = PropensityModel(id: name, version: 3, kind: try ModelFormat.lightGBM.parse(data))
            let bytes = ModelCodec.encode(model)
            let back = try bytes.withUnsafeBytes { try ModelCodec.decode(id: name, $0) }
            #expect(back == model)
            #expect(try bytes.withUnsafeBytes { try ModelCodec.modelVersion($0) } == 3)
            for cut in Swift.stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97)) {
                #expect(throws: ModelCodec.DecodeError.self) { try bytes[..<cut].withUnsafeBytes { try ModelCodec.decode(id: name, $0) } }
            }
        }
    }

    @Test func shapeIsReported() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/lgb_deep.txt"))
        guard case .forest(let f) = try ModelFormat.lightGBM.parse(data) else { Issue.record("expected a forest"); return }
        #expect(f.treeCount == 40)
        #expect(f.maxDepth > 12, "the deep fixture should be deeper than the complete-tree layout takes")
        #expect(f.arithmetic == .lightGBM)
    }

    /// Which trees the block path lays out branch-free (`CompleteTrees`): all of a shallow numerical model,
    /// the shallow ones of the deep model, none with a category-set split. The block path is checked
    /// against the node walk bit for bit in `matchesLightGBM`.
    @Test func shallowNumericalTreesTakeTheFastPath() throws {
        let schema = try FeatureSchema(names: ["age", "income", "balance", "tenure_months", "num_products", "card_spend",
                                                "savings_rate", "digital_logins", "mortgage_ltv", "credit_score", "branch", "channel"])
        var laidOut: [String: (fast: Int, trees: Int)] = [:]
        for name in LightGBMFixtureTests.models {
            let data = try Data(contentsOf: URL(fileURLWithPath: Self.dir + "/\(name).txt"))
            let bound = try PropensityModel(id: name, version: 1, kind: try ModelFormat.lightGBM.parse(data)).bound(to: schema)
            let f = try #require(bound.decisionForest)
            laidOut[name] = (f.complete?.slot.filter { $0 >= 0 }.count ?? 0, f.roots.count)
        }
        #expect(laidOut["lgb_small"]! == (20, 20) && laidOut["lgb_xent"]! == (10, 10) && laidOut["lgb_nomissing"]! == (20, 20), "\(laidOut)")
        #expect(laidOut["lgb_deep"]!.fast < 40 && laidOut["lgb_cat"]!.fast < 30, "\(laidOut)")
        print("LightGBM trees laid out branch-free (of all): \(laidOut.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.fast)/\($0.value.trees)" })")
    }
}

/// What `--format lightgbm` refuses, and that the messages name what and where.
@Suite struct LightGBMRefusalTests {
    static let dir = LightGBMFixtureTests.dir

    /// The import's error text for `text` (the store must be left unchanged).
    static func refusal(_ text: String, _ store: Store) throws -> String {
        let before = try Fixtures.digest(store)
        defer { #expect((try? Fixtures.digest(store)) == before) }
        do {
            _ = try ModelImporter.run(file: Fixtures.file("m.txt", text), id: "bad", format: .lightGBM, store: store)
        } catch let e as ImportError {
            return e.description
        }
        Issue.record("expected a refusal")
        return ""
    }

    static func small() throws -> String { try String(contentsOfFile: dir + "/lgb_small.txt", encoding: .utf8) }

    /// The 1-based number of the first line starting with `prefix`.
    static func line(_ text: String, _ prefix: String) -> Int {
        (text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix(prefix) } ?? -2) + 1
    }

    @Test(arguments: [("lgb_multiclass", ["multi-class", "num_class=3"]),
                      ("lgb_linear", ["linear tree", "is_linear=1", "Tree=0"]),
                      ("lgb_regression", ["objective", "regression"])])
    func modelsNextbestDoesNotEvaluateAreRefusedByName(file: String, words: [String]) throws {
        let store = try Fixtures.store()
        let message = try Self.refusal(try String(contentsOfFile: Self.dir + "/refused/\(file).txt", encoding: .utf8), store)
        for w in words { #expect(message.contains(w), "\(message)") }
    }

    @Test func damagedFilesNameTheLine() throws {
        let store = try Fixtures.store()
        let text = try Self.small()
        let thresholdLine = Self.line(text, "threshold=")
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[thresholdLine - 1] = "threshold=abc" + lines[thresholdLine - 1].drop { $0 != " " }
        let bad = try Self.refusal(lines.joined(separator: "\n"), store)
        #expect(bad.contains("line \(thresholdLine) (threshold)") && bad.contains("abc"), "\(bad)")

        let leafLine = Self.line(text, "leaf_value=")
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[leafLine - 1] += " 0.5"
        #expect(try Self.refusal(lines.joined(separator: "\n"), store).contains("line \(leafLine) (leaf_value)"))

        let cut = try Self.refusal(String(text.prefix(text.utf8.count / 2)), store)
        #expect(cut.contains("line"), "\(cut)")
        #expect(try Self.refusal("{\"learner\":{}}", store).contains("line 1"))
        #expect(try Self.refusal(text.replacingOccurrences(of: "Tree=3\n", with: "Tree=7\n"), store).contains("Tree=3"))
    }

    @Test func unknownSplitKindsAndFlagsAreRefused() throws {
        let store = try Fixtures.store()
        let text = try Self.small()
        let dt = Self.line(text, "decision_type=")
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[dt - 1] = "decision_type=" + lines[dt - 1].dropFirst("decision_type=".count).split(separator: " ").map { _ in "26" }.joined(separator: " ")
        let bits = try Self.refusal(lines.joined(separator: "\n"), store)
        #expect(bits.contains("decision_type 26") && bits.contains("line \(dt)"), "\(bits)")

        let flag = try Self.refusal(text.replacingOccurrences(of: "feature_names=", with: "boost_from_nowhere\nfeature_names="), store)
        #expect(flag.contains("boost_from_nowhere"), "\(flag)")

        let pandas = try Self.refusal(text.replacingOccurrences(of: "pandas_categorical:null", with: "pandas_categorical:[[\"gold\",\"silver\"]]"), store)
        #expect(pandas.contains("pandas_categorical") && pandas.contains("categorical_feature"), "\(pandas)")
        // Categories that are their own codes are read as the codes.
        let codes = text.replacingOccurrences(of: "pandas_categorical:null", with: "pandas_categorical:[[0,1,2]]")
        #expect(throws: Never.self) { try ModelFormat.lightGBM.parse(Data(codes.utf8)) }
    }
}

/// LightGBM's split rules on hand-built one-split forests, values the fixtures cannot all hold.
@Suite struct DecisionForestRuleTests {
    /// The side `value` goes at the root of a one-split forest (`true` left), read off the propensity.
    static func goesLeft(_ root: DecisionForest.Node, words: [UInt32] = [], _ value: Float) throws -> Bool {
        let nodes = [root, .leaf(1), .leaf(-1)]
        let forest = try DecisionForest(arithmetic: .lightGBM, features: ["a"], nodes: nodes, roots: [0],
                                        categoryBounds: words.isEmpty ? [] : [0, Int32(words.count)], categoryWords: words,
                                        sigmoid: 1, averageOutput: false)
        let bound = try PropensityModel(id: "m", version: 1, kind: .forest(forest)).bound(to: try FeatureSchema(names: ["a"]))
        let one = [value].withUnsafeBufferPointer { bound.propensity($0) }
        // The block path (the branch-free layout for a numerical split) must agree bit for bit.
        var out: [Float] = [-1], margins: [Float] = [0]
        [value].withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                margins.withUnsafeMutableBufferPointer { bound.propensities(block: x, stride: 1, count: 1, margins: $0, out: o, outStride: 1) }
            }
        }
        #expect(out[0].bitPattern == one.bitPattern, "block path differs for \(value) at \(root)")
        return one > 0.5
    }

    @Test func categoricalSplitsTruncateAndRefuseNegativeMissingAndOutOfRange() throws {
        let split = DecisionForest.Node(feature: 0, value: 0, left: 1, categorical: true, defaultLeft: true, missing: .nan, categorySet: 0)
        let cases: [(Float, Bool)] = [(0, true), (1, true), (2, false), (3, true), (3.9, true), (-0.5, true), (1e-40, true),
                                      (-1, false), (.nan, false), (31, false), (32, false), (1e6, false), (3e9, false),
                                      (.infinity, false), (-.infinity, false)]
        for (v, left) in cases { #expect(try Self.goesLeft(split, words: [0b1011], v) == left, "category value \(v)") }
    }

    @Test func numericalSplitsFollowTheMissingType() throws {
        func node(_ t: Double, _ m: DecisionForest.Missing, defaultLeft: Bool) -> DecisionForest.Node {
            DecisionForest.Node(feature: 0, value: t, left: 1, defaultLeft: defaultLeft, missing: m)
        }
        // NaN as 0.0 (None), 0.0 to the default side (Zero), NaN to the default side (NaN).
        #expect(try Self.goesLeft(node(-1, .none, defaultLeft: true), .nan) == false)
        #expect(try Self.goesLeft(node(1, .none, defaultLeft: false), .nan) == true)
        #expect(try Self.goesLeft(node(1, .zero, defaultLeft: false), 0) == false)
        #expect(try Self.goesLeft(node(1, .zero, defaultLeft: false), 1e-36) == false)
        #expect(try Self.goesLeft(node(1, .zero, defaultLeft: false), .nan) == false)
        #expect(try Self.goesLeft(node(1, .zero, defaultLeft: false), 2e-35) == true)
        #expect(try Self.goesLeft(node(-1, .nan, defaultLeft: true), .nan) == true)
        #expect(try Self.goesLeft(node(-1, .nan, defaultLeft: true), 0) == false)
        // The zero window: a value of magnitude <= 1e-35 is 0.0, so -1e-35 <= -1e-35 does not hold.
        let kZero = DecisionForest.zeroThreshold
        #expect(try Self.goesLeft(node(-kZero, .nan, defaultLeft: true), Float(-kZero)) == false)
        #expect(try Self.goesLeft(node(0, .nan, defaultLeft: false), 1e-36) == true)
        // Double comparison: 0.1 as Float32 is above 0.1 as Double.
        #expect(try Self.goesLeft(node(0.1, .nan, defaultLeft: false), 0.1) == false)
        #expect(try Self.goesLeft(node(.infinity, .nan, defaultLeft: false), .infinity) == true)
    }
}
