import Foundation
import Testing
import NextBestCore
import NextBestStore
@testable import NextBestCluster

/// Runs are kept in the store (journal and lists) and can be listed, shown and pruned.
@Suite struct RunsTests {
    func nextbest(_ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ClusterProcessTests.executable)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    @Test func runsAreKeptListedShownAndPruned() throws {
        let path = try ClusterFixtures.store().1
        var ids: [String] = []
        for k in 0..<2 {
            let (status, _) = try nextbest(["run", "--store", path, "--out", ClusterFixtures.tempDir("r\(k)"), "--workers", "1", "--no-warm-start", "--quiet"])
            #expect(status == 0)
        }
        let (_, list) = try nextbest(["runs", "list", "--store", path])
        let lines = list.split(separator: "\n").dropFirst()
        #expect(lines.count == 2 && lines.allSatisfy { $0.contains("done") && $0.contains(" 300 ") })
        ids = lines.map { String($0.prefix(16)) }
        let (_, show) = try nextbest(["runs", "show", ids[1], "--store", path])
        #expect(show.contains("\"model_versions\"") && show.contains("\"xgb_deep\": 1") && show.contains("\"final_prices\""))
        // The kept lists of the first run are in the store until it is pruned.
        let first = try #require(RunJournal.parse(ids[0]))
        func kept() throws -> Bool { try RunJournal(store: try Store(path: path, readOnly: true, mustExist: true)).mergedRows(first, shard: 0) != nil }
        #expect(try kept())
        let (status, pruned) = try nextbest(["runs", "prune", "--store", path, "--keep", "1"])
        #expect(status == 0 && pruned.contains("pruned 1 run"))
        #expect(try !kept())
        let (_, after) = try nextbest(["runs", "list", "--store", path])
        #expect(after.contains(ids[1]) && !after.contains(ids[0]))
    }
}
