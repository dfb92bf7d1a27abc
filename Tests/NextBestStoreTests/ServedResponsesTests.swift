import Foundation
import Testing
import NextBestCore
@testable import NextBestStore

/// Served responses read by sequence number (issue 26): a plan keeps its bound (older plans read as none),
/// the walk gives each customer's responses up to the bound in one forward pass, merged contacts count an
/// identical one once, and folding moves only those up to the bound without a new data stamp.
@Suite struct ServedResponsesTests {
    @Test func aPlanKeepsItsBoundAndAnOlderPlanReadsAsNone() throws {
        var p = RunRepository.Plan(run: 1, fingerprint: 2, shardSize: 10, maxRounds: 5, warmStart: nil, lower: [0], upper: [nil], customers: [3],
                                   started: "2026-01-01T00:00:00Z", dataStamp: "00ff", rescoredFrom: 9, servedThrough: 42)
        #expect(try p.encoded().withUnsafeBytes { try RunRepository.Plan.decode($0) } == p)
        p.servedThrough = nil
        // A plan written before the field: the record ends after `rescored_from`.
        let old = Array(p.encoded().dropLast())
        let read = try old.withUnsafeBytes { try RunRepository.Plan.decode($0) }
        #expect(read == p && read.servedThrough == nil && read.servedBound == 0)
    }

    @Test func theWalkGivesEachCustomersResponsesUpToTheBoundAndFoldingKeepsTheStamp() throws {
        let store = try Store(path: Fixtures.tempDir("served") + "/store")
        let responses: [(UInt64, UInt64, [UInt8])] = [(5, 1, [1]), (9, 2, [2]), (12, 3, [3]), (5, 4, [4])]
        try store.env.write { txn in
            for (c, seq, v) in responses {
                _ = try txn.put(store.meta, key: ResponseRecorder.pendingPrefix + ProfileCodec.key(c) + ResponseRecorder.bigEndian(seq), value: v)
            }
            _ = try txn.put(store.meta, key: ResponseRecorder.sequenceKey, value: ResponseRecorder.bigEndian(4))
            try store.markDataChanged(in: txn, profilesChanged: false)
        }
        try store.env.read { txn in
            var w = try ServedWalk(store: store, txn: txn, from: 6, through: 3)
            defer { w.close() }
            var out: [[UInt8]] = []
            #expect(!w.mayHave(8) && w.mayHave(9))
            try w.contacts(of: 8, into: &out)
            #expect(out.isEmpty)
            try w.contacts(of: 9, into: &out)
            #expect(out == [[2]])
            out = []
            try w.contacts(of: 12, into: &out)
            #expect(out == [[3]] && !w.mayHave(100))
            var all = try ServedWalk(store: store, txn: txn, from: 0, through: 3)
            defer { all.close() }
            out = []
            try all.contacts(of: 5, into: &out)
            #expect(out == [[1]], "sequence 4 is past the bound")
            let none = try ServedWalk(store: store, txn: txn, from: 0, through: 0)
            #expect(!none.mayHave(5))
        }
        #expect(ResponseRecorder.merged(history: [[1], [3]], served: [[3], [2], [2]]) == [[1], [2], [3]])
        #expect(ResponseRecorder.merged(history: [[3], [1]], served: []) == [[3], [1]])
        #expect(try ResponseRecorder.contacts(store: store, customer: 5, through: 4) == [[1], [4]])
        let stamp = try store.dataStamp()
        let folded = try ResponseRecorder.fold(store: store, through: 2)
        #expect(folded.responses == 2 && folded.alreadyThere == 0 && folded.remaining == 2 && folded.through == 2 && folded.bound == 2)
        #expect(try store.dataStamp() == stamp, "folding does not renew the data stamp")
        #expect(try ResponseRecorder.pending(store: store).map(\.sequence) == [4, 3])
        // What a run bound to 2 or more reads is the same after the fold.
        #expect(try ResponseRecorder.contacts(store: store, customer: 5, through: 4) == [[1], [4]])
        #expect(try ResponseRecorder.contacts(store: store, customer: 9, through: 0) == [[2]])
        #expect(try ResponseRecorder.foldedThrough(store: store) == 2)
        // No kept run: everything served is folded.
        #expect(try ResponseRecorder.foldBound(store: store) == 4)
    }
}
