import Foundation
import Testing
import NextBestCore
@testable import NextBestStore
import NextBestTestKit

/// Property-based fuzzing of every importer: inputs made by mutating the corpus in
/// `Tests/Fixtures/fuzz/<importer>/` (byte flips, cuts, repeated or swapped lines, inserted tokens) are
/// imported into a store. Whatever the input, the importer returns or throws an error that names the file
/// (never crashes), and when it throws, the store is exactly as it was.
@Suite struct ImporterFuzzTests {
    static let corpus = FixtureStore.root + "/fuzz"
    static let tokens: [[UInt8]] = [",", "\n", "\r\n", "\"", "\"\"", "-1", "1e309", "NaN", "-0", "\u{0}", "é", "99999999999999999999999",
                                    ":", "{", "}", "[", "]", "- ", "\t", "  ", "#", "null", "true", "0x10", "2026-02-30", ",,,,", "&a", "*a", "!!binary"]
        .map { Array($0.utf8) }

    /// One mutated copy of `seed`.
    static func mutate(_ seed: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = seed
        for _ in 0..<(1 + Int(rng.next() % 4)) {
            let n = b.count
            let at = n == 0 ? 0 : Int(rng.next() % UInt64(n))
            switch rng.next() % 7 {
            case 0 where n > 0: b[at] = UInt8(truncatingIfNeeded: rng.next())
            case 1 where n > 0: b.removeSubrange(at..<min(n, at + 1 + Int(rng.next() % 16)))
            case 2: b.insert(contentsOf: tokens[Int(rng.next() % UInt64(tokens.count))], at: at)
            case 3: b = Array(b.prefix(at))
            case 4, 5:
                var lines = b.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
                guard lines.count > 1 else { continue }
                let i = Int(rng.next() % UInt64(lines.count)), j = Int(rng.next() % UInt64(lines.count))
                if rng.next() % 2 == 0 { lines.insert(lines[i], at: j) } else { lines.swapAt(i, j) }
                b = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
            default:
                if n > 0 { b[at] = b[at] ^ (1 << UInt8(rng.next() % 8)) }
            }
        }
        return b
    }

    func seeds(_ kind: String) throws -> [(name: String, bytes: [UInt8])] {
        let dir = Self.corpus + "/" + kind
        return try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map { ($0, Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0)))) }
    }

    /// Imports `count` mutations of every seed of `kind`; returns (accepted, refused).
    func fuzz(_ kind: String, count: Int, seed: UInt64, importer: (String, String, Store) throws -> Void) throws -> (Int, Int) {
        let store = try Fixtures.store()
        var rng = SplitMix64(seed: seed)
        var accepted = 0, refused = 0
        let dir = Fixtures.tempDir("fuzz-\(kind)")
        for (name, bytes) in try seeds(kind) {
            for i in 0..<count {
                let input = i == 0 ? bytes : Self.mutate(bytes, &rng)
                let path = dir + "/\(i)-" + name
                try Data(input).write(to: URL(fileURLWithPath: path))
                let before = try Fixtures.digest(store)
                do {
                    try importer(path, name, store)
                    accepted += 1
                } catch let e as ImportError {
                    refused += 1
                    #expect(e.description.contains(path), "the error does not name the file: \(e)")
                    #expect(try Fixtures.digest(store) == before, "a refused \(kind) import changed the store: \(path)")
                } catch {
                    refused += 1
                    #expect(try Fixtures.digest(store) == before, "a refused \(kind) import changed the store: \(path) (\(error))")
                }
            }
        }
        return (accepted, refused)
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
