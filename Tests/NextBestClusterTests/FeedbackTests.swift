import Foundation
import Testing
import NextBestCore
@testable import NextBestStore
@testable import NextBestCluster

/// The day's responses: appended to the history once however often the file is imported, and the next
/// run's fatigue rule removes an offer the customer ignored `max_ignored` times.
@Suite struct FeedbackTests {
    func digest(_ store: Store) throws -> UInt64 {
        var h = FNV64()
        try store.env.read { txn in
            for db in [store.profiles, store.offers, store.models, store.history, store.runs, store.results, store.meta] {
                try txn.scan(db) { k, v in h.add(k); h.add(v); return true }
            }
        }
        return h.value
    }

    func lists(_ path: String) throws -> [UInt64: [String]] {
        var out: [UInt64: [String]] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst() {
            let f = line.split(separator: ",")
            out[UInt64(f[0])!, default: []].append(String(f[2]))
        }
        return out
    }

    @Test func responsesImportedTwiceEqualOnceAndFatigueUsesThem() throws {
        let path = try ClusterFixtures.store().1
        let before = try LocalRunner.run(.init(storePath: path, outDir: ClusterFixtures.tempDir("fb0"), threads: 2, warmStart: false))
        let first = try lists(before.nbaPath)
        // A customer and the top offer they got; two ignored contacts with it within the 90-day window.
        let (customer, offers) = try #require(first.sorted { $0.key < $1.key }.first { !$0.value.isEmpty && $0.key != 474640 })
        let offer = offers[0]
        let file = ClusterFixtures.tempDir("fb") + "/responses.csv"
        try ("customer_id,offer_id,channel,date,outcome\n"
             + "\(customer),\(offer),email,2026-11-20,ignored\n\(customer),\(offer),sms,2026-11-21,ignored\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        // (One LMDB environment per process at a time: the store is opened for the imports only.)
        do {
            let store = try Store(path: path, mustExist: true)
            let r1 = try HistoryImporter.run(file: file, store: store)
            let once = try digest(store)
            let r2 = try HistoryImporter.run(file: file, store: store)
            #expect(r1.added == 2 && r2.added == 0 && r2.skipped == 2)
            #expect(try digest(store) == once)
        }
        let after = try LocalRunner.run(.init(storePath: path, outDir: ClusterFixtures.tempDir("fb1"), threads: 2, warmStart: false))
        let second = try lists(after.nbaPath)
        #expect(!(second[customer] ?? []).contains(offer), "customer \(customer) still gets \(offer) after ignoring it twice")
        #expect(after.totals.fatigued == before.totals.fatigued + 1)
    }
}
