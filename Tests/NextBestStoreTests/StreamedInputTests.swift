import Foundation
import Testing
import NextBestCore
@testable import NextBestStore

/// Imports from standard input (`-`) and gzip files, read in chunks (issue 24): the same records, line
/// numbers and refusals as a plain file, and nothing stored when the compressed data is bad.
@Suite struct StreamedInputTests {
    static let plain = Fixtures.models + "/profiles.csv"
    static let gzipped = Fixtures.models + "/profiles.csv.gz"

    /// Every profile record of the store.
    static func profileRecords(_ store: Store) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        try store.env.read { txn in try txn.scan(store.profiles) { k, v in out.append(Array(k) + Array(v)); return true } }
        return out
    }

    /// Fields and line numbers of every record of `text`, read `chunk` bytes at a time (or the error).
    static func records(_ text: String, chunk: Int) -> Result<[String], ImportError> {
        let path = Fixtures.file("r.csv", text)
        var rows: [String] = []
        do {
            let reader = CSVReader(input: try InputFile(path: path), path: path, chunkBytes: chunk)
            try reader.forEachRecord { r in rows.append("\(r.line):" + (0..<r.count).map { r.string($0) }.joined(separator: "|")) }
            return .success(rows)
        } catch let e as ImportError {
            return .failure(ImportError(file: "r", line: e.line, key: e.key, reason: e.reason))
        } catch { return .failure(ImportError(file: "r", line: nil, reason: "\(error)")) }
    }

    @Test func chunkBoundariesChangeNothing() {
        let texts = [
            "\u{FEFF}a,b,c\r\n1,\"x\ny\",3\r\n\n4,\"q\"\"q\",\r\n5,6,7",
            "h1,h2\n\"multi\nline\nfield\",2\n,\n\n\nlast,\"\"\n",
            "a,b\n1,\"unterminated\n2,3\n",
            "a,b\n1,\"x\"y\n",
            "x\r\ny\r",
        ]
        for text in texts {
            let whole = Self.records(text, chunk: 1 << 20)
            for chunk in [1, 2, 3, 5, 7, 16] {
                #expect(Self.records(text, chunk: chunk) == whole, "chunk \(chunk) on \(text.debugDescription)")
            }
        }
        if case .failure(let e) = Self.records("a\n1\n\"b\nc\n", chunk: 2) { #expect(e.line == 3 && e.reason.contains("unterminated")) }
        else { Issue.record("an unterminated quote was accepted") }
    }

    @Test func overlongRecordIsRefusedWithItsLineAndColumn() throws {
        let path = Fixtures.file("long.csv", "customer_id,region,segment,income\n1,n,s,2\n2,n,s," + String(repeating: "9", count: 500) + "\n")
        let reader = CSVReader(input: try InputFile(path: path), path: path, chunkBytes: 8, recordLimit: 64)
        do {
            try reader.forEachRecord { _ in }
            Issue.record("a record over the limit was read")
        } catch let e as ImportError {
            #expect(e.line == 3 && e.reason.contains("longer than 64 bytes") && e.reason.contains("'income'"), "\(e)")
        }
    }

    @Test func gzipProfilesImportAsThePlainFile() throws {
        let a = try Store(path: Fixtures.tempDir("plain") + "/store")
        let b = try Store(path: Fixtures.tempDir("gz") + "/store")
        let ra = try ProfileImporter.run(file: Self.plain, store: a)
        let rb = try ProfileImporter.run(file: Self.gzipped, store: b)
        #expect(ra.rows == 300 && rb.rows == 300)
        #expect(try Self.profileRecords(a) == Self.profileRecords(b))
    }

    @Test func gzipMembersOneAfterAnotherAreOneInput() throws {
        let text = try String(contentsOfFile: Self.plain, encoding: .utf8)
        let cut = try #require(text.range(of: "\n", range: text.index(text.startIndex, offsetBy: 5000)..<text.endIndex))
        let dir = Fixtures.tempDir("members")
        try Self.gzip(Data(text[..<cut.upperBound].utf8), to: dir + "/a.gz")
        try Self.gzip(Data(text[cut.upperBound...].utf8), to: dir + "/b.gz")
        let both = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.gz")) + Data(contentsOf: URL(fileURLWithPath: dir + "/b.gz"))
        try both.write(to: URL(fileURLWithPath: dir + "/p.csv.gz"))
        let a = try Store(path: dir + "/s1"), b = try Store(path: dir + "/s2")
        _ = try ProfileImporter.run(file: dir + "/p.csv.gz", store: a)
        _ = try ProfileImporter.run(file: Self.plain, store: b)
        #expect(try Self.profileRecords(a) == Self.profileRecords(b))
    }

    @Test func standardInputIsReadInProcess() throws {
        // `-` reads the given descriptor (the process's standard input by default); here the .gz file's.
        let fd = open(Self.gzipped, O_RDONLY)
        #expect(fd >= 0)
        defer { close(fd) }
        let input = try InputFile(path: "-", standardInput: fd)
        #expect(input.name == "standard input")
        var lines = 0
        try CSVReader(input: input, path: "-", chunkBytes: 4096).forEachRecord { _ in lines += 1 }
        #expect(lines == 301)
    }

    @Test func corruptGzipIsRefusedWithItsOffsetAndNothingStored() throws {
        let store = try Store(path: Fixtures.tempDir("bad") + "/store")
        _ = try ProfileImporter.run(file: Self.plain, store: store)
        let before = try Fixtures.digest(store)
        let good = try Data(contentsOf: URL(fileURLWithPath: Self.gzipped))
        var flipped = good
        for i in stride(from: good.count / 2, to: good.count / 2 + 64, by: 1) { flipped[i] ^= 0x5a }
        let dir = Fixtures.tempDir("gzbad")
        let cases: [(String, Data, String)] = [
            ("flipped.csv.gz", flipped, "corrupt gzip data"),
            ("cut.csv.gz", good.prefix(good.count * 2 / 3), "ends early"),
            ("notgzip.csv.gz", Data("customer_id,region\n".utf8), "not gzip"),
            ("trailing.csv.gz", good + Data("garbage".utf8), "corrupt gzip data"),
        ]
        for (name, data, words) in cases {
            let f = dir + "/" + name
            try data.write(to: URL(fileURLWithPath: f))
            do {
                _ = try ProfileImporter.run(file: f, store: store)
                Issue.record("\(name) was imported")
            } catch let e as ImportError {
                #expect(e.description.contains(name) && e.description.contains(words), "\(e)")
                if words != "not gzip" { #expect(e.description.contains("compressed byte offset"), "\(e)") }
            }
            #expect(try Fixtures.digest(store) == before, "\(name) changed the store")
        }
    }

    @Test func gzipModelsAndCampaignsAreRead() throws {
        let store = try Store(path: Fixtures.tempDir("gzm") + "/store")
        _ = try ProfileImporter.run(file: Self.gzipped, store: store)
        let dir = Fixtures.tempDir("gzm")
        let ubj = try Data(contentsOf: URL(fileURLWithPath: Fixtures.models + "/xgb_ubj_binary.ubj"))
        let gz = dir + "/m.ubj.gz"
        try Self.gzip(ubj, to: gz)
        let (_, m) = try ModelImporter.run(file: gz, id: "m", format: nil, featureNames: nil, store: store)
        #expect(m.features.count == 10)
    }

    @Test func standardInputThroughTheCommandLine() throws {
        let bin = StreamedInputTests.executable
        guard FileManager.default.isExecutableFile(atPath: bin) else {
            Issue.record("no nextbest executable at \(bin) (build it with swift build --build-tests)")
            return
        }
        let storePath = Fixtures.tempDir("cli") + "/store"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["import", "profiles", "-", "--store", storePath]
        p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: Self.gzipped))
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(text.contains("imported 300 profiles") && text.contains("from -"), "\(text)")
        let reference = try Store(path: Fixtures.tempDir("ref") + "/store")
        _ = try ProfileImporter.run(file: Self.plain, store: reference)
        #expect(try Self.profileRecords(Store(path: storePath)) == Self.profileRecords(reference))
    }

    /// The `nextbest` executable built beside this test bundle.
    static var executable: String {
        if let e = ProcessInfo.processInfo.environment["NEXTBEST_BIN"] { return e }
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("nextbest").path
    }

    /// Writes `data` gzip-compressed with the system's gzip.
    static func gzip(_ data: Data, to path: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "gzip -c > \"$0\"", path]
        let input = Pipe()
        p.standardInput = input
        try p.run()
        input.fileHandleForWriting.write(data)
        try input.fileHandleForWriting.close()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }
}
