import Foundation
import Testing
import NextBestCore
@testable import NextBestStore

@Suite struct CodecTests {
    @Test func profileRoundTrip() throws {
        let p = Profile(customerID: 9_199_597_691_035_321_799, region: 3, segment: 65000, features: [1.5, .nan, -0.0, .greatestFiniteMagnitude])
        let bytes = ProfileCodec.encode(p)
        #expect(bytes.count == ProfileCodec.headerSize + 16)
        #expect(bytes[0] == 1)
        let back = try bytes.withUnsafeBytes { try ProfileCodec.decodeProfile(id: p.customerID, $0, featureCount: 4) }
        #expect(back == p)
    }

    @Test func profileKeysSortByCustomerID() {
        let ids: [UInt64] = [5, 256, 1, 1 << 40, 255, UInt64.max]
        let keys = ids.map(ProfileCodec.key).sorted { $0.lexicographicallyPrecedes($1) }
        #expect(keys.map { k in k.withUnsafeBytes { ProfileCodec.customerID(key: $0)! } } == ids.sorted())
    }

    @Test func corruptProfileRecordsAreNamed() {
        let good = ProfileCodec.encode(Profile(customerID: 1, region: 0, segment: 0, features: [1, 2]))
        for bad in [Array(good.prefix(5)), [2] + Array(good.dropFirst()), Array(good.dropLast())] {
            #expect(throws: StoreError.self) { try bad.withUnsafeBytes { try ProfileCodec.decodeProfile(id: 7, $0, featureCount: 2) } }
        }
        #expect(throws: StoreError.self) { try good.withUnsafeBytes { try ProfileCodec.decodeProfile(id: 7, $0, featureCount: 3) } }
    }

    @Test func historyRoundTripAndOrder() throws {
        let e1 = ContactEvent(customerID: 1, offerID: "O1", channel: "email", day: CalendarDay("2026-11-01")!, outcome: .ignored)
        let e0 = ContactEvent(customerID: 1, offerID: "O9", channel: "sms", day: CalendarDay("1969-12-31")!, outcome: .accepted)
        let v1 = HistoryCodec.encodeValue(e1), v0 = HistoryCodec.encodeValue(e0)
        #expect(v0.lexicographicallyPrecedes(v1))
        try v1.withUnsafeBytes { b in
            let d = try #require(HistoryCodec.decode(b))
            #expect(d.day == e1.day.daysSinceEpoch && d.outcome == .ignored)
            #expect(String(decoding: d.offerID, as: UTF8.self) == "O1" && String(decoding: d.channel, as: UTF8.self) == "email")
        }
        for cut in 0..<v1.count { #expect(Array(v1.prefix(cut)).withUnsafeBytes { HistoryCodec.decode($0) } == nil) }
    }

    @Test func storeReopensAndGrowsMap() throws {
        let dir = Fixtures.tempDir("grow") + "/s"
        do {
            let env = try LMDBEnvironment(path: dir, initialMapSize: 1 << 20)
            try env.openDatabases([("big", false)])
            let db = try env.database("big")
            let value = [UInt8](repeating: 7, count: 4096)
            try env.write { txn in
                for i in 0..<2000 { try txn.put(db, key: ProfileCodec.key(UInt64(i)), value: value) }
            }
            #expect(env.mapSize > 1 << 20)
        }
        let env = try LMDBEnvironment(path: dir, readOnly: true)
        try env.openDatabases([("big", false)])
        let n = try env.read { try $0.count(try env.database("big")) }
        #expect(n == 2000)
    }

    /// Commits without a flush each (growing the map on the way) then one flush: everything is there
    /// when the store is opened again; an error inside is passed on and later writes still work.
    @Test func deferredSyncKeepsEveryCommit() throws {
        let dir = Fixtures.tempDir("nosync") + "/s"
        struct Boom: Error {}
        do {
            let env = try LMDBEnvironment(path: dir, initialMapSize: 1 << 20)
            try env.openDatabases([("big", false)])
            let db = try env.database("big")
            let value = [UInt8](repeating: 9, count: 4096)
            try env.deferringSync {
                for i in 0..<500 { try env.write { txn in _ = try txn.put(db, key: ProfileCodec.key(UInt64(i)), value: value) } }
            }
            #expect(throws: Boom.self) {
                try env.deferringSync {
                    try env.write { txn in _ = try txn.put(db, key: ProfileCodec.key(1_000), value: value) }
                    throw Boom()
                }
            }
            try env.write { txn in _ = try txn.put(db, key: ProfileCodec.key(2_000), value: value) }
        }
        let env = try LMDBEnvironment(path: dir, readOnly: true)
        try env.openDatabases([("big", false)])
        let n = try env.read { try $0.count(try env.database("big")) }
        #expect(n == 502)
    }

    /// Models are stored as binary records that give back exactly the imported model; every cut or a
    /// flipped kind is an error naming the place; a JSON record (stores written before) still reads.
    @Test func modelRecordsRoundTripAndOlderJSONStillReads() throws {
        let store = try Fixtures.store()
        for (name, format) in [("xgb_deep", ModelFormat.xgboostJSON), ("logit_all", .logisticJSON)] {
            let parsed = try format.parse(Data(contentsOf: URL(fileURLWithPath: Fixtures.models + "/\(name).json")))
            let raw = try #require(try store.env.read { try $0.get(store.models, key: Array(name.utf8)) })
            #expect(raw.withUnsafeBytes { ModelCodec.isBinary($0) })
            let m = try #require(try store.env.read { try store.model(name, in: $0) })
            #expect(m.kind == parsed && m.id == name && m.version == 1)
            for cut in stride(from: 0, to: raw.count, by: max(1, raw.count / 97)) {
                #expect(throws: ModelCodec.DecodeError.self) { try Array(raw.prefix(cut)).withUnsafeBytes { try ModelCodec.decode(id: name, $0) } }
            }
            var bad = raw
            bad[12] = 7
            #expect(throws: ModelCodec.DecodeError.self) { try bad.withUnsafeBytes { try ModelCodec.decode(id: name, $0) } }
            #expect(throws: ModelCodec.DecodeError.self) { try (raw + [0]).withUnsafeBytes { try ModelCodec.decode(id: name, $0) } }
        }
        // An older store's JSON record.
        let old = PropensityModel(id: "old", version: 4, kind: try ModelFormat.logisticJSON.parse(Data(contentsOf: URL(fileURLWithPath: Fixtures.models + "/logit_all.json"))))
        try store.env.write { txn in try store.putJSON(old, store.models, "old", in: txn) }
        #expect(try store.env.read { try store.model("old", in: $0) } == old)
        #expect(try store.env.read { try store.modelVersions(in: $0) }["old"] == 4)
        #expect(try store.env.read { try store.modelVersions(in: $0) }["xgb_deep"] == 1)
    }

    @Test func failedWriteLeavesNothing() throws {
        let store = try Store(path: Fixtures.tempDir("tx") + "/s")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try store.env.write { txn in
                try txn.put(store.meta, key: Array("k".utf8), value: Array("v".utf8))
                throw Boom()
            }
        }
        let v = try store.env.read { try $0.get(store.meta, key: Array("k".utf8)) }
        #expect(v == nil)
    }

    @Test func csvReaderHandlesQuotesAndCRLF() throws {
        let f = Fixtures.file("x.csv", "a,b\r\n\"x,\"\"y\"\"\",2\r\n\n\"multi\nline\",3\n")
        var rows: [[String]] = [], lines: [Int] = []
        try CSVReader(path: f).forEachRecord { r in rows.append((0..<r.count).map { r.string($0) }); lines.append(r.line) }
        #expect(rows == [["a", "b"], ["x,\"y\"", "2"], ["multi\nline", "3"]])
        #expect(lines == [1, 2, 4])
    }
}
