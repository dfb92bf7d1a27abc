import Foundation
import Testing
import NextBestCore
@testable import NextBestStore

/// XGBoost models saved as UBJSON, the `reg:logistic` and `binary:logitraw` objectives, models without
/// feature names and `--format auto`, against XGBoost's own predictions (fixtures written by
/// Tests/Fixtures/make_xgboost_fixtures.py with XGBoost 3.2).
@Suite struct XGBoostUBJSONTests {
    /// A store holding only the fixture profiles.
    static func profileStore() throws -> Store {
        let store = try Store(path: Fixtures.tempDir("ubj") + "/store")
        _ = try ProfileImporter.run(file: Fixtures.models + "/profiles.csv", store: store)
        return store
    }

    /// Every customer's propensity under model `id`, read as `nextbest score` reads it: the stored
    /// profiles decoded, the stored model bound to the schema; also through each block kernel.
    static func scores(_ store: Store, model id: String) throws -> [[UInt64: Double]] {
        let (bound, count) = try store.env.read { txn in
            let schema = try #require(try store.schema(in: txn))
            let m = try #require(try store.model(id, in: txn))
            return (try m.bound(to: schema), schema.count)
        }
        var ids: [UInt64] = [], rows: [Float] = [], one: [UInt64: Double] = [:]
        var features = [Float](repeating: 0, count: count)
        try store.env.read { txn in
            try txn.scan(store.profiles) { k, v in
                let cid = try #require(ProfileCodec.customerID(key: k))
                _ = features.withUnsafeMutableBufferPointer { ProfileCodec.decode(v, featureCount: count, into: $0) }
                one[cid] = Double(features.withUnsafeBufferPointer { bound.propensity($0) })
                ids.append(cid)
                rows += features
                return true
            }
        }
        var all = [one]
        for kernel in TreeKernel.available {
            var out = [Float](repeating: -1, count: ids.count), margins = [Float](repeating: 0, count: ids.count)
            rows.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { o in
                    margins.withUnsafeMutableBufferPointer { m in
                        bound.propensities(block: x, stride: count, count: ids.count, margins: m, out: o, outStride: 1, kernel: kernel)
                    }
                }
            }
            all.append(Dictionary(uniqueKeysWithValues: zip(ids, out.map(Double.init))))
        }
        return all
    }

    @Test(arguments: [
        ("xgb_ubj_binary.ubj", "xgb_ubj_binary", nil as String?),
        ("xgb_ubj_reg.ubj", "xgb_ubj_reg", nil),
        ("xgb_ubj_logitraw.ubj", "xgb_ubj_logitraw", nil),
        ("xgb_ubj_noname.ubj", "xgb_ubj_noname", "credit_score,age,balance,income,savings_rate"),
        ("xgb_noname.json", "xgb_ubj_noname", "credit_score,age,balance,income,savings_rate"),
    ])
    func matchesXGBoostForEveryCustomer(file: String, expectedName: String, names: String?) throws {
        let store = try Self.profileStore()
        let featureNames = names.map { $0.split(separator: ",").map(String.init) }
        // format nil: `--format auto`, the CLI's default.
        _ = try ModelImporter.run(file: Fixtures.models + "/" + file, id: "m", format: nil, featureNames: featureNames, store: store)
        let expected = try Fixtures.expected(expectedName)
        #expect(expected.count == 300)
        for (i, got) in try Self.scores(store, model: "m").enumerated() {
            #expect(got.count == expected.count)
            var worst = 0.0
            for (id, want) in expected { worst = max(worst, abs((got[id] ?? .nan) - want)) }
            #expect(worst < 1e-5, "\(file) path \(i): max abs difference \(worst)")
        }
    }

    @Test func formatIsToldFromContent() throws {
        let cases: [(String, ModelFormat)] = [
            ("xgb_ubj_binary.ubj", .xgboostUBJ), ("xgb_small.json", .xgboostJSON), ("logit_all.json", .logisticJSON),
        ]
        for (file, format) in cases {
            let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.models + "/" + file))
            #expect(try ModelFormat.detect(data, file: file) == format)
        }
        let lightgbm = Data("tree\nversion=v4\nnum_class=1\n".utf8)
        #expect(try ModelFormat.detect(lightgbm, file: "m.txt") == .lightGBM)
        #expect(throws: ModelError.self) { try ModelFormat.detect(Data("hello".utf8), file: "x") }
        do { _ = try ModelFormat.detect(Data("hello".utf8), file: "x") } catch {
            #expect(error.description.contains("name it with --format"))
        }
    }

    @Test func truncatedUBJSONNamesTheOffset() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.models + "/xgb_ubj_binary.ubj"))
        for cut in [1, 9, 100, data.count / 2, data.count - 1] {
            do {
                _ = try UBJSON.parse(data.prefix(cut))
                Issue.record("a UBJSON document cut at \(cut) bytes was accepted")
            } catch {
                #expect(error.offset <= cut && error.description.contains("byte offset \(error.offset)"))
                #expect(error.description.contains("truncated"), "\(error)")
            }
        }
        let store = try Self.profileStore()
        let before = try Fixtures.digest(store)
        let f = Fixtures.tempDir("cut") + "/cut.ubj"
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: f))
        do {
            _ = try ModelImporter.run(file: f, id: "cut", format: nil, featureNames: nil, store: store)
            Issue.record("expected a refusal")
        } catch let e as ImportError {
            #expect(e.description.contains("cut.ubj") && e.description.contains("byte offset"), "\(e)")
        }
        #expect(try Fixtures.digest(store) == before)
    }

    @Test func hostileUBJSONIsRefusedWithoutHugeAllocations() throws {
        func bytes(_ s: String, _ tail: [UInt8] = []) -> Data { Data(s.utf8) + Data(tail) }
        let huge: [UInt8] = [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        let cases: [(Data, String)] = [
            (bytes("[$d#L", huge), "elements"),              // a typed array announcing 2^63 floats
            (bytes("[#L", huge), "elements"),                // a counted array announcing 2^63 values
            (bytes("{L", huge), "string"),                   // a key of 2^63 bytes
            (bytes("SL", [0xff, 0, 0, 0, 0, 0, 0, 1]), "negative"),
            (bytes("[$T#L", huge), "elements"),
            (bytes("H"), "high-precision"),
            (bytes("q"), "unknown type marker"),
            (Data(repeating: UInt8(ascii: "["), count: 600), "nested deeper"),
            (bytes("{i\u{1}aZi\u{1}aZ}"), "twice"),
            (bytes("Zi"), "after the end"),
        ]
        for (data, words) in cases {
            #expect(throws: UBJSONError.self) { try UBJSON.parse(data) }
            do { _ = try UBJSON.parse(data) } catch { #expect(error.description.contains(words), "\(error)") }
        }
        // What XGBoost writes and the rest of the types read back.
        let doc = bytes("{i\u{1}a[$U#i\u{2}", [1, 255]) + bytes("i\u{1}bNSi\u{2}hi") + bytes("i\u{1}cD", [0x3f, 0xf8, 0, 0, 0, 0, 0, 0]) + bytes("}N")
        let parsed = try #require(try UBJSON.parse(doc) as? [String: Any])
        #expect((parsed["a"] as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue } == [1, 255])
        #expect(parsed["b"] as? String == "hi")
        #expect((parsed["c"] as? NSNumber)?.doubleValue == 1.5)
    }

    @Test func featureNamesAreRequiredAndCounted() throws {
        let store = try Self.profileStore()
        let before = try Fixtures.digest(store)
        let file = Fixtures.models + "/xgb_ubj_noname.ubj"
        do {
            _ = try ModelImporter.run(file: file, id: "n", format: nil, featureNames: nil, store: store)
            Issue.record("a model without names was accepted without --feature-names")
        } catch let e as ImportError {
            #expect(e.description.contains("--feature-names") && e.description.contains("5 features"), "\(e)")
        }
        do {
            _ = try ModelImporter.run(file: file, id: "n", format: .xgboostUBJ, featureNames: ["age", "income"], store: store)
            Issue.record("2 names for 5 features were accepted")
        } catch let e as ImportError {
            #expect(e.description.contains("2 names") && e.description.contains("5 features"), "\(e)")
        }
        // Names given for a model that has its own replace them, in the same number.
        do {
            _ = try ModelImporter.run(file: Fixtures.models + "/xgb_ubj_binary.ubj", id: "b", format: nil, featureNames: ["age"], store: store)
            Issue.record("1 name for 10 features was accepted")
        } catch let e as ImportError {
            #expect(e.description.contains("1 names") && e.description.contains("10 features"), "\(e)")
        }
        #expect(try Fixtures.digest(store) == before)
    }

    @Test func defaultXGBoostNamesGetAHint() throws {
        let store = try Self.profileStore()
        var json = try String(contentsOfFile: Fixtures.models + "/xgb_noname.json", encoding: .utf8)
        json = json.replacingOccurrences(of: "\"feature_names\":[]", with: "\"feature_names\":[\"f0\",\"f1\",\"f2\",\"f3\",\"f4\"]")
        do {
            _ = try ModelImporter.run(file: Fixtures.file("f.json", json), id: "f", format: nil, featureNames: nil, store: store)
            Issue.record("expected a refusal")
        } catch let e as ImportError {
            #expect(e.description.contains("'f0'") && e.description.contains("--feature-names"), "\(e)")
        }
    }

    @Test func otherObjectivesAndBaseScoresAreRefused() throws {
        let json = try String(contentsOfFile: Fixtures.models + "/xgb_small.json", encoding: .utf8)
        for (from, to) in [("\"binary:logistic\"", "\"reg:squarederror\""), ("\"binary:logistic\"", "\"multi:softprob\"")] {
            #expect(throws: ModelError.self) { try ModelFormat.xgboostJSON.parse(Data(json.replacingOccurrences(of: from, with: to).utf8)) }
        }
        let base = try #require(json.range(of: #""base_score":"[^"]*""#, options: .regularExpression))
        for bad in ["[5E-1,2E-1]", "1.5", "x"] {
            let text = json.replacingCharacters(in: base, with: "\"base_score\":\"\(bad)\"")
            #expect(throws: ModelError.self) { try ModelFormat.xgboostJSON.parse(Data(text.utf8)) }
        }
        // XGBoost 3's vector form and 2's scalar form read alike.
        let a = try ModelFormat.xgboostJSON.parse(Data(json.replacingCharacters(in: base, with: "\"base_score\":\"[2.5E-1]\"").utf8))
        let b = try ModelFormat.xgboostJSON.parse(Data(json.replacingCharacters(in: base, with: "\"base_score\":\"2.5E-1\"").utf8))
        #expect(a == b)
    }
}
