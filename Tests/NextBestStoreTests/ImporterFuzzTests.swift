import Foundation
import Testing
import NextBestCore
@testable import NextBestStore
import NextBestTestKit

/// Property-based fuzzing of every importer: inputs made by mutating the corpus in
/// `Tests/Fixtures/fuzz/<importer>/` (`Mutator`: byte flips, cuts, splices, repeated or swapped lines,
/// inserted tokens, deep nesting, huge numbers, aliases; seeded, see `Fuzz`) are
/// imported into a store. Whatever the input, the importer returns or throws an error that names the file
/// (never crashes), and when it throws, the store is exactly as it was.
@Suite struct ImporterFuzzTests {
    static let corpus = FixtureStore.root + "/fuzz"

    func seeds(_ kind: String) throws -> [(name: String, bytes: [UInt8])] {
        let dir = Self.corpus + "/" + kind
        return try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map { ($0, Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0)))) }
    }

    /// Imports `count` inputs per seed file of `kind` (the seeds themselves, then `Mutator` mutations of a
    /// seed picked by the run's generator); returns (accepted, refused).
    func fuzz(_ kind: String, count: Int, seed: UInt64, importer: (String, String, Store) throws -> Void) throws -> (Int, Int) {
        let store = try Fixtures.store()
        let files = try seeds(kind)
        let dir = Fixtures.tempDir("fuzz-\(kind)")
        let fuzz = Fuzz("import-\(kind)", iterations: count * files.count, seed: seed)
        var picked = 0
        let outcome = fuzz.run(inputs: { rng, i in
            picked = i < files.count ? i : rng.below(files.count)
            return i < files.count ? files[i].bytes : Mutator.mutate(files[picked].bytes, others: files.map(\.bytes), rng: &rng)
        }) { input, i in
            let name = files[picked].name
            let path = dir + "/\(i)-" + name
            _ = FileManager.default.createFile(atPath: path, contents: Data(input))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let before = try? Fixtures.digest(store)
            do {
                try importer(path, name, store)
                return nil
            } catch let e as ImportError {
                #expect(e.description.contains(path), "\(fuzz.tag(i)): the error does not name the file: \(e.description.prefix(300))")
                #expect((try? Fixtures.digest(store)) == before, "\(fuzz.tag(i)): a refused \(kind) import changed the store")
                return e.reason
            } catch {
                #expect((try? Fixtures.digest(store)) == before, "\(fuzz.tag(i)): a refused \(kind) import changed the store (\(error))")
                return "\(error)"
            }
        }
        return (outcome.accepted, outcome.refused)
    }

    @Test func profiles() throws {
        let (ok, bad) = try fuzz("profiles", count: 250, seed: 1) { path, _, store in _ = try ProfileImporter.run(file: path, store: store) }
        #expect(ok > 0 && bad > 0)
    }

    @Test func history() throws {
        let (ok, bad) = try fuzz("history", count: 400, seed: 2) { path, _, store in _ = try HistoryImporter.run(file: path, store: store) }
        #expect(ok > 0 && bad > 0)
    }

    @Test func campaigns() throws {
        let (ok, bad) = try fuzz("campaign", count: 200, seed: 3) { path, _, store in _ = try CampaignImporter.run(file: path, store: store) }
        #expect(ok > 0 && bad > 0)
    }

    @Test func models() throws {
        let (ok, bad) = try fuzz("model", count: 200, seed: 4) { path, name, store in
            _ = try ModelImporter.run(file: path, id: "fuzzed", format: name.contains(".xgb.") ? .xgboostJSON : .logisticJSON, store: store)
        }
        #expect(ok > 0 && bad > 0)
    }
}
