import Foundation
import Testing
@testable import NextBestCore
@testable import NextBestStore

/// Categorical (text) profile columns and the models that split on them (fixtures written by
/// Tests/Fixtures/make_categorical_fixtures.py with pandas, LightGBM and XGBoost).
@Suite struct CategoricalColumnTests {
    static let dir = Fixtures.root + "/categorical"
    /// Model id → (file, format, expectations).
    static let models: [(String, String, ModelFormat, String)] = [
        ("lgb_text", "lgb_text.txt", .lightGBM, "lgb_text"), ("xgb_text", "xgb_text.json", .xgboostJSON, "xgb_text"),
        ("xgb_ubj", "xgb_text.ubj", .xgboostUBJ, "xgb_text"), ("xgb_onehot", "xgb_onehot.json", .xgboostJSON, "xgb_onehot"),
        ("logistic", "logistic.json", .logisticJSON, "logistic"),
    ]

    /// A store with both profile files (`branch` declared categorical) and every model imported.
    static func store() throws -> Store {
        let store = try Store(path: Fixtures.tempDir("cat") + "/store")
        _ = try ProfileImporter.run(file: dir + "/profiles.csv", store: store, categorical: ["branch"])
        _ = try ProfileImporter.run(file: dir + "/profiles_more.csv", store: store)
        for (id, file, format, _) in models { _ = try ModelImporter.run(file: dir + "/" + file, id: id, format: format, store: store) }
        // The campaign's ONNX offer (make_mixed_onnx_fixture.py), so that campaign.yaml imports.
        _ = try ModelImporter.run(file: dir + "/onnx_numeric.onnx", id: "onnx_numeric", format: .onnx, store: store)
        return store
    }

    /// The CSV's text cells by customer and column.
    static func cells(_ file: String) throws -> [UInt64: [String: String]] {
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        var out: [UInt64: [String: String]] = [:]
        for l in lines.dropFirst() { out[UInt64(l[0])!] = Dictionary(uniqueKeysWithValues: zip(lines[0], l)) }
        return out
    }

    @Test func importDetectsAndDeclaresTextColumns() throws {
        let store = try Self.store()
        let schema = try #require(try store.env.read { txn in try store.schema(in: txn) })
        #expect(schema.names == ["age", "income", "balance", "occupation", "gold", "branch"])
        #expect(Set(schema.categoriesByName.keys) == ["occupation", "gold", "branch"])
        // Append-only: the second file's new value comes last.
        #expect(schema.categories[3]!.names.last == "diver")
        // Every stored code names the CSV's text; an empty cell is NaN.
        var cells = try Self.cells(Self.dir + "/profiles.csv")
        cells.merge(try Self.cells(Self.dir + "/profiles_more.csv")) { a, _ in a }
        try store.env.read { txn in
            for (id, row) in cells {
                let v = try #require(try txn.get(store.profiles, key: ProfileCodec.key(id)))
                let p = try v.withUnsafeBytes { try ProfileCodec.decodeProfile(id: id, $0, featureCount: schema.count) }
                for (i, name) in schema.names.enumerated() {
                    let text = row[name]!
                    if text.isEmpty { #expect(p.features[i].isNaN); continue }
                    if let d = schema.categories[i] { #expect(d.names[Int(p.features[i])] == text) }
                    else { #expect(p.features[i] == Float(text)!) }
                }
            }
        }
        // A reopened store reads the same schema; its format tag says it has text columns.
        let again = try Store(path: store.env.path, mustExist: true)
        let tag = try again.env.read { txn in try txn.get(again.meta, key: Array("format".utf8)) }
        #expect(tag.map { String(decoding: $0, as: UTF8.self) } == Store.categoricalFormatTag)
        #expect(try again.env.read { txn in try again.schema(in: txn) } == schema)
    }

    /// A column numeric in its first rows and text later turns categorical: the earlier rows are recoded.
    @Test func aColumnTurningTextIsRecoded() throws {
        let store = try Store(path: Fixtures.tempDir("cat") + "/store")
        let csv = "customer_id,region,segment,x,tier\n1,n,m,1.5,1\n2,n,m,2,01\n3,n,m,,\n4,n,m,3,gold\n5,n,m,4,1\n"
        _ = try ProfileImporter.run(file: Fixtures.file("p.csv", csv), store: store)
        let schema = try #require(try store.env.read { txn in try store.schema(in: txn) })
        #expect(schema.categories[1]?.names == ["1", "01", "gold"])
        #expect(!schema.isCategorical(0))
        let tiers: [Float] = try store.env.read { txn in
            try (1...5).map { id in
                let v = try #require(try txn.get(store.profiles, key: ProfileCodec.key(UInt64(id))))
                return try v.withUnsafeBytes { try ProfileCodec.decodeProfile(id: UInt64(id), $0, featureCount: 2) }.features[1]
            }
        }
        #expect(tiers[0] == 0 && tiers[1] == 1 && tiers[2].isNaN && tiers[3] == 2 && tiers[4] == 0)
    }

    @Test func refusalsNameFileLineAndColumnAndWriteNothing() throws {
        let store = try Self.store()
        let before = try Fixtures.digest(store)
        func refusal(_ csv: String, _ categorical: [String] = []) -> String {
            do { _ = try ProfileImporter.run(file: Fixtures.file("bad.csv", csv), store: store, categorical: categorical) }
            catch { return "\(error)" }
            Issue.record("expected a refusal"); return ""
        }
        let header = "customer_id,region,segment,age,income,balance,occupation,gold,branch\n"
        let text = refusal(header + "1,n,m,30,1,2,chef,yes,101\n2,n,m,old,1,2,chef,yes,101\n")
        #expect(text.contains("bad.csv:3") && text.contains("'age'") && text.contains("--categorical"), "\(text)")
        let unknown = refusal(header + "1,n,m,30,1,2,chef,yes,101\n", ["colour"])
        #expect(unknown.contains("--categorical") && unknown.contains("colour"), "\(unknown)")
        let numeric = refusal(header + "1,n,m,30,1,2,chef,yes,101\n", ["age"])
        #expect(numeric.contains("numeric") && numeric.contains("'age'"), "\(numeric)")
        #expect(try Fixtures.digest(store) == before)
    }

    /// Every customer, one at a time and through the block path, within 1e-5 of the library's own
    /// prediction (the model as stored: record encoded, decoded, bound to the store's codes).
    @Test(arguments: models.map(\.0))
    func matchesTheLibrary(id: String) throws {
        let store = try Self.store()
        let name = Self.models.first { $0.0 == id }!.3
        let expected = try String(contentsOfFile: Self.dir + "/expected_\(name).csv", encoding: .utf8)
            .split(separator: "\n").dropFirst().map { l in let f = l.split(separator: ","); return (UInt64(f[0])!, Double(f[1])!) }
        #expect(expected.count == 340)
        let (bound, count) = try store.env.read { txn in
            let schema = try #require(try store.schema(in: txn))
            return (try #require(try store.model(id, in: txn)).bound(to: schema), schema.count)
        }
        var rows: [Float] = [], single: [Float] = []
        try store.env.read { txn in
            for (cid, _) in expected {
                let v = try #require(try txn.get(store.profiles, key: ProfileCodec.key(cid)))
                let p = try v.withUnsafeBytes { try ProfileCodec.decodeProfile(id: cid, $0, featureCount: count) }
                single.append(p.features.withUnsafeBufferPointer { bound.propensity($0) })
                rows += p.features
            }
        }
        let worst = zip(single, expected).map { abs(Double($0) - $1.1) }.max() ?? .infinity
        #expect(worst < 1e-5, "max abs difference \(worst) for \(id)")
        var out = [Float](repeating: -1, count: expected.count), margins = out
        rows.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                margins.withUnsafeMutableBufferPointer { m in
                    bound.propensities(block: x, stride: count, count: expected.count, margins: m, out: o, outStride: 1)
                }
            }
        }
        #expect(zip(out, single).allSatisfy { $0.bitPattern == $1.bitPattern })
    }

    /// A model reading a text column as a number is refused at import, naming the column.
    @Test func numericReadersOfTextColumnsAreRefused() throws {
        let store = try Self.store()
        let json = #"{"features":["age","occupation"],"coefficients":[0.1,0.2],"intercept":0}"#
        do {
            _ = try ModelImporter.run(file: Fixtures.file("m.json", json), id: "bad", format: .logisticJSON, store: store)
            Issue.record("expected a refusal")
        } catch let e as ImportError {
            #expect(e.description.contains("occupation") && e.description.contains("text"), "\(e)")
        }
    }

    /// The binary model record keeps the categories (kind 3) and an older forest record (kind 2) decodes.
    @Test func forestRecordKeepsCategories() throws {
        let store = try Self.store()
        for id in ["lgb_text", "xgb_text"] {
            let m = try #require(try store.env.read { txn in try store.model(id, in: txn) })
            guard case .forest(let f) = m.kind else { Issue.record("\(id) is not a forest"); continue }
            #expect(f.categoryNames?[3].contains("nurse") == true)
            let bytes = ModelCodec.encode(m)
            #expect(bytes[12] == 3)
            #expect(try bytes.withUnsafeBytes { try ModelCodec.decode(id: id, $0) } == m)
        }
    }
}

/// Values that are not text categories, and campaigns that would read codes as amounts.
@Suite struct CategoricalRefusalTests {
    @Test func nonFiniteNumbersStayRefusedAtTheFirstImport() throws {
        let store = try Store(path: Fixtures.tempDir("cat") + "/store")
        do {
            _ = try ProfileImporter.run(file: Fixtures.file("p.csv", "customer_id,region,segment,x\n1,n,m,2\n2,n,m,inf\n"), store: store)
            Issue.record("expected a refusal")
        } catch let e as ImportError {
            #expect(e.description.contains("p.csv:3") && e.description.contains("not a finite number"), "\(e)")
        }
        #expect(try store.env.read { txn in try store.schema(in: txn) } == nil)
    }

    @Test func aTextValueColumnIsRefused() throws {
        let store = try CategoricalColumnTests.store()
        let yaml = try String(contentsOfFile: CategoricalColumnTests.dir + "/campaign.yaml", encoding: .utf8)
            .replacingOccurrences(of: "value_column: income", with: "value_column: occupation")
        do {
            _ = try CampaignImporter.run(file: Fixtures.file("c.yaml", yaml), store: store)
            Issue.record("expected a refusal")
        } catch {
            #expect("\(error)".contains("occupation") && "\(error)".contains("text"), "\(error)")
        }
    }
}
