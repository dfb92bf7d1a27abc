import Foundation
import Testing
import NextBestCore
import NextBestONNX
@testable import NextBestStore
import NextBestTestKit

/// Seeded fuzzing of the readers without a store (issue 21): the campaign reader (YAML and JSON) and the
/// model readers (XGBoost JSON, logistic JSON, LightGBM text) take mutations of valid files (`Tests/Fixtures/fuzz`, the
/// fixture models and campaigns) and either accept them, with what they accept usable, or throw an error
/// that says what is wrong in a bounded message. A trap ends the test process; the seed printed first
/// rebuilds every input (`NEXTBEST_FUZZ_SEED`, iteration numbers from 0).
@Suite struct ReaderFuzzTests {
    static func bytes(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: FixtureStore.root + "/" + path) ?? Data()) }

    static let yamlSeeds = ["fuzz/campaign/seed.yaml", "fuzz/campaign/constrained.yaml", "campaign_small.yaml", "campaign_constrained.yaml"].map(bytes)
    static let jsonSeeds = [bytes("fuzz/campaign/seed.json")]
    static let xgbSeeds = ["fuzz/model/xgb_small.xgb.json", "models/xgb_small.json", "models/xgb_subset.json", "categorical/xgb_onehot.json"].map(bytes)
    static let ubjSeeds = ["models/xgb_ubj_binary.ubj", "models/xgb_ubj_logitraw.ubj", "models/xgb_ubj_reg.ubj", "categorical/xgb_text.ubj"].map(bytes)
    static let logitSeeds = ["fuzz/model/logit_all.logit.json", "models/logit_all.json", "models/logit_subset.json"].map(bytes)
    static let lightGBMSeeds = ["lightgbm/lgb_small.txt", "lightgbm/lgb_cat.txt", "lightgbm/lgb_xent.txt", "categorical/lgb_text.txt"].map(bytes)

    static let onnxSeeds = ["onnx/onnx_gb.onnx", "onnx/onnx_gb_scaled.onnx", "onnx/onnx_logreg.onnx"].map(bytes)

    /// Iteration 0..<seeds.count is each seed as it is; later ones mutate a seed picked by the generator.
    static func inputs(_ seeds: [[UInt8]]) -> (inout SplitMix64, Int) -> [UInt8] {
        { rng, i in i < seeds.count ? seeds[i] : Mutator.mutate(seeds[rng.below(seeds.count)], others: seeds, rng: &rng) }
    }

    /// Reads `input` as campaign file `name` (written to disk: the reader's real entry point); nil when
    /// accepted, else the message, which must name the file and stay short.
    func campaign(_ input: [UInt8], name: String, dir: String, fuzz: Fuzz, i: Int) -> String? {
        let path = dir + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(input))
        do {
            let c = try CampaignImporter.parse(file: path)
            #expect(!c.offers.isEmpty && c.offers.count <= Campaign.maxOffers, "\(fuzz.tag(i)): accepted \(c.offers.count) offers")
            #expect(Set(c.offers.map(\.id)).count == c.offers.count, "\(fuzz.tag(i)): accepted duplicate offer ids")
            return nil
        } catch let e as ImportError {
            #expect(e.description.hasPrefix(path), "\(fuzz.tag(i)): the message does not name the file: \(e.description.prefix(300))")
            #expect(e.description.utf8.count < 4_000, "\(fuzz.tag(i)): a message of \(e.description.utf8.count) bytes")
            return e.reason
        } catch {
            Issue.record("\(fuzz.tag(i)): refused with \(type(of: error)), not an ImportError: \(String(describing: error).prefix(300))")
            return "\(error)"
        }
    }

    @Test func campaignYAML() {
        let fuzz = Fuzz("campaign-yaml", iterations: 1_500, seed: 21)
        let dir = FixtureStore.tempDir("fuzz-yaml")
        let o = fuzz.run(inputs: Self.inputs(Self.yamlSeeds)) { input, i in campaign(input, name: "c.yaml", dir: dir, fuzz: fuzz, i: i) }
        #expect(o.accepted >= Self.yamlSeeds.count && o.refused > fuzz.iterations / 4, "\(o)")
    }

    @Test func campaignJSON() {
        let fuzz = Fuzz("campaign-json", iterations: 1_500, seed: 22)
        let dir = FixtureStore.tempDir("fuzz-json")
        let o = fuzz.run(inputs: Self.inputs(Self.jsonSeeds)) { input, i in campaign(input, name: "c.json", dir: dir, fuzz: fuzz, i: i) }
        #expect(o.accepted >= Self.jsonSeeds.count && o.refused > fuzz.iterations / 4, "\(o)")
    }

    /// Parses `input` as `format`; an accepted model must survive the store's codec unchanged, bind to a
    /// schema of its features, and give propensities in [0, 1] for rows of zeros, of ordinary values and of
    /// missing (NaN) values.
    func model(_ input: [UInt8], _ format: ModelFormat, fuzz: Fuzz, i: Int) -> String? {
        let kind: PropensityModel.Kind
        do { kind = try format == .onnx ? ONNXReader.read(Data(input)) : format.parse(Data(input)) } catch {
            #expect(!error.description.isEmpty && error.description.utf8.count < 4_000, "\(fuzz.tag(i)): message \(error.description.prefix(300))")
            return error.description
        }
        let model = PropensityModel(id: "fuzzed", version: 1, kind: kind)
        let encoded = ModelCodec.encode(model)
        let decoded = encoded.withUnsafeBytes { try? ModelCodec.decode(id: "fuzzed", $0) }
        #expect(decoded == model, "\(fuzz.tag(i)): the model does not survive the store's codec")
        // A model with text categories binds to text columns: their dictionaries hold its values reversed
        // and one it never saw.
        var text: [String: [String]] = [:]
        if case .forest(let f) = kind, let names = f.categoryNames {
            for (k, list) in names.enumerated() where !list.isEmpty { text[f.features[k]] = list.reversed() + ["never-seen"] }
        }
        guard let schema = try? FeatureSchema(names: ["extra_0"] + model.features.reversed() + ["extra_1"]).withCategories(text) else {
            Issue.record("\(fuzz.tag(i)): accepted feature names no schema can hold: \(model.features.prefix(4))")
            return nil
        }
        do {
            let bound = try model.bound(to: schema)
            var rng = SplitMix64(seed: fuzz.seed, stream: UInt64(i) | 1 << 63)
            let rows: [[Float]] = [Array(repeating: 0, count: schema.count), (0..<schema.count).map { _ in Float(rng.normal() * 100) },
                                   Array(repeating: .nan, count: schema.count)]
            for row in rows {
                let p = row.withUnsafeBufferPointer { bound.propensity($0) }
                #expect(p >= 0 && p <= 1, "\(fuzz.tag(i)): propensity \(p) for \(row.prefix(4))")
            }
        } catch {
            Issue.record("\(fuzz.tag(i)): an accepted model does not bind to its own features: \(error)")
        }
        return nil
    }

    @Test func xgboostModels() {
        let fuzz = Fuzz("model-xgboost", iterations: 1_200, seed: 23)
        let o = fuzz.run(inputs: Self.inputs(Self.xgbSeeds)) { input, i in model(input, .xgboostJSON, fuzz: fuzz, i: i) }
        #expect(o.accepted >= Self.xgbSeeds.count && o.refused > fuzz.iterations / 4, "\(o)")
    }

    /// XGBoost UBJSON (issue 24): mutated binary models are refused with a byte offset or a key path, or
    /// accepted and usable; no mutation may trap or allocate what a count announces before checking it.
    @Test func xgboostUBJSONModels() {
        let fuzz = Fuzz("model-xgboost-ubj", iterations: 1_200, seed: 25)
        let o = fuzz.run(inputs: Self.inputs(Self.ubjSeeds)) { input, i in model(input, .xgboostUBJ, fuzz: fuzz, i: i) }
        #expect(o.accepted >= Self.ubjSeeds.count && o.refused > fuzz.iterations / 4, "\(o)")
    }

    @Test func logisticModels() {
        let fuzz = Fuzz("model-logistic", iterations: 2_000, seed: 24)
        let o = fuzz.run(inputs: Self.inputs(Self.logitSeeds)) { input, i in model(input, .logisticJSON, fuzz: fuzz, i: i) }
        #expect(o.accepted >= Self.logitSeeds.count && o.refused > fuzz.iterations / 4, "\(o)")
    }

    @Test func lightGBMModels() {
        let fuzz = Fuzz("model-lightgbm", iterations: 1_200, seed: 25)
        let o = fuzz.run(inputs: Self.inputs(Self.lightGBMSeeds)) { input, i in model(input, .lightGBM, fuzz: fuzz, i: i) }
        #expect(o.accepted >= Self.lightGBMSeeds.count && o.refused > fuzz.iterations / 4, "\(o)")
    }

    @Test func onnxModels() {
        let fuzz = Fuzz("model-onnx", iterations: 400, seed: 26)
        let o = fuzz.run(inputs: Self.inputs(Self.onnxSeeds)) { input, i in model(input, .onnx, fuzz: fuzz, i: i) }
        #expect(o.accepted >= Self.onnxSeeds.count && o.refused > fuzz.iterations / 4, "\(o)")
    }

    /// Found by `logisticModels` (seed 24): a feature name of 64 KiB or more was accepted and trapped when the
    /// model was stored (its length is a UInt16 in the record). Names longer than a store column's, and empty
    /// ones, are refused.
    @Test func featureNamesNoColumnCanHaveAreRefused() throws {
        for bytes in [Campaign.maxLabelBytes + 1, 70_000] {
            let name = String(repeating: "f", count: bytes)
            let json = #"{"features": ["age", "\#(name)"], "coefficients": [1, 2], "intercept": 0}"#
            #expect(throws: ModelError.self) { _ = try ModelFormat.logisticJSON.parse(Data(json.utf8)) }
            do { _ = try LogisticModel(features: [name], coefficients: [1], intercept: 0) } catch {
                #expect(error.description.contains("feature 1 has a name of \(bytes) bytes") && error.description.utf8.count < 1_000, "\(error)")
            }
            let leaf = TreeEnsemble.Node(feature: -1, threshold: 0.5, left: 0, defaultLeft: false)
            #expect(throws: ModelError.self) { _ = try TreeEnsemble(features: [name], baseMargin: 0, nodes: [leaf], roots: [0]) }
        }
        // Found by bench/fuzz.sh (model-logistic seed 24 iteration 21014): an empty name was accepted.
        #expect(throws: ModelError.self) { _ = try ModelFormat.logisticJSON.parse(Data(#"{"features": ["", "age"], "coefficients": [1, 2], "intercept": 0}"#.utf8)) }
        do { _ = try LogisticModel(features: ["age", ""], coefficients: [1, 1], intercept: 0) } catch {
            #expect(error.description.contains("feature 2 has an empty name"), "\(error)")
        }
        #expect(throws: ModelError.self) {
            _ = try TreeEnsemble(features: [""], baseMargin: 0, nodes: [.init(feature: -1, threshold: 0.5, left: 0, defaultLeft: false)], roots: [0])
        }
        let ok = String(repeating: "f", count: Campaign.maxLabelBytes)
        let m = PropensityModel(id: "m", version: 1, kind: .logistic(try LogisticModel(features: [ok], coefficients: [1], intercept: 0)))
        #expect(ModelCodec.encode(m).withUnsafeBytes { try? ModelCodec.decode(id: "m", $0) } == m)
    }

    /// The same seed gives the same inputs; another seed other ones.
    @Test func generatorIsReproducible() {
        func run(_ seed: UInt64) -> [[UInt8]] {
            let f = Fuzz("repro", iterations: 50, seed: seed, environment: [:])
            var out: [[UInt8]] = []
            _ = f.run(inputs: Self.inputs(Self.yamlSeeds)) { input, _ in out.append(input); return nil }
            return out
        }
        #expect(run(7) == run(7))
        #expect(run(7) != run(8))
        #expect(Fuzz("x", iterations: 10, seed: 1, environment: ["NEXTBEST_FUZZ_ITERATIONS": "3x", "NEXTBEST_FUZZ_SEED": "99"]).iterations == 30)
        #expect(Fuzz("x", iterations: 10, seed: 1, environment: ["NEXTBEST_FUZZ_ITERATIONS": "12345"]).iterations == 12_345)
        #expect(Fuzz("x", iterations: 10, seed: 1, environment: ["NEXTBEST_FUZZ_SEED": "99"]).seed == 99)
    }
}
