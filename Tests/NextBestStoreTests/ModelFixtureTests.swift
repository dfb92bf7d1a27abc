import Foundation
import Testing
import NextBestCore
@testable import NextBestStore

/// Our model evaluators against predictions made by XGBoost and scikit-learn themselves
/// (fixtures written by Tests/Fixtures/make_fixtures.py).
@Suite struct ModelFixtureTests {
    @Test(arguments: [("xgb_small", ModelFormat.xgboostJSON), ("xgb_deep", .xgboostJSON), ("xgb_subset", .xgboostJSON),
                      ("logit_all", .logisticJSON), ("logit_subset", .logisticJSON)])
    func matchesReferenceImplementation(name: String, format: ModelFormat) throws {
        let store = try Fixtures.store()
        let expected = try Fixtures.expected(name)
        #expect(expected.count == 300)
        let (bound, count) = try store.env.read { txn in
            let schema = try #require(try store.schema(in: txn))
            let m = try #require(try store.model(name, in: txn))
            return (try m.bound(to: schema), schema.count)
        }
        var worst = 0.0
        var rows: [Float] = [], wanted: [Double] = []
        try store.env.read { txn in
            for (id, want) in expected {
                let v = try #require(try txn.get(store.profiles, key: ProfileCodec.key(id)))
                let p = try ProfileCodec.decodeProfile(id: id, UnsafeRawBufferPointer(start: v.withUnsafeBytes { $0.baseAddress }, count: v.count), featureCount: count)
                let got = p.features.withUnsafeBufferPointer { bound.propensity($0) }
                worst = max(worst, abs(Double(got) - want))
                rows += p.features
                wanted.append(want)
            }
        }
        #expect(worst < 1e-5, "max abs difference \(worst) for \(name)")
        // The block kernels the scoring loop runs (each one this CPU has), on the same rows.
        for kernel in TreeKernel.available {
            var out = [Float](repeating: -1, count: wanted.count), margins = [Float](repeating: 0, count: wanted.count)
            rows.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { o in
                    margins.withUnsafeMutableBufferPointer { m in
                        bound.propensities(block: x, stride: count, count: wanted.count, margins: m, out: o, outStride: 1, kernel: kernel)
                    }
                }
            }
            let blockWorst = zip(out, wanted).map { abs(Double($0) - $1) }.max() ?? .infinity
            #expect(blockWorst < 1e-5, "max abs difference \(blockWorst) for \(name) with the \(kernel) kernel")
        }
    }

    @Test func xgboostReaderRefusesOtherObjectives() throws {
        var json = try String(contentsOfFile: Fixtures.models + "/xgb_small.json", encoding: .utf8)
        json = json.replacingOccurrences(of: "\"binary:logistic\"", with: "\"reg:squarederror\"")
        #expect(throws: ModelError.self) { try ModelFormat.xgboostJSON.parse(Data(json.utf8)) }
    }

    @Test func modelWithUnknownColumnIsRefusedWithItsName() throws {
        let store = try Fixtures.store()
        let before = try Fixtures.digest(store)
        let f = Fixtures.file("m.json", #"{"features":["age","shoe_size"],"coefficients":[0.1,0.2],"intercept":-1}"#)
        do {
            _ = try ModelImporter.run(file: f, id: "m_new", format: .logisticJSON, store: store)
            Issue.record("expected a refusal")
        } catch let e as ImportError {
            #expect(e.description.contains("shoe_size"))
        }
        #expect(try Fixtures.digest(store) == before)
    }

    @Test func malformedModelFilesAreRefused() throws {
        let store = try Fixtures.store()
        let before = try Fixtures.digest(store)
        let cases: [(String, ModelFormat)] = [
            ("{not json", .logisticJSON),
            (#"{"features":["age"],"coefficients":[1,2],"intercept":0}"#, .logisticJSON),
            (#"{"features":["age"],"coefficients":["x"],"intercept":0}"#, .logisticJSON),
            (#"{"learner":{}}"#, .xgboostJSON),
            ("[]", .xgboostJSON),
        ]
        for (text, fmt) in cases {
            #expect(throws: ImportError.self) { try ModelImporter.run(file: Fixtures.file("bad.json", text), id: "bad", format: fmt, store: store) }
        }
        // A truncated tree file.
        let full = try String(contentsOfFile: Fixtures.models + "/xgb_small.json", encoding: .utf8)
        let cut = String(full.prefix(full.count / 2))
        #expect(throws: ImportError.self) { try ModelImporter.run(file: Fixtures.file("cut.json", cut), id: "cut", format: .xgboostJSON, store: store) }
        #expect(try Fixtures.digest(store) == before)
    }

    @Test func reimportBumpsVersion() throws {
        let store = try Fixtures.store()
        let (_, m) = try ModelImporter.run(file: Fixtures.models + "/logit_all.json", id: "logit_all", format: .logisticJSON, store: store)
        #expect(m.version == 2)
    }
}
