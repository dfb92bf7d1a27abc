import Foundation
import Testing
import NextBestCore
@testable import NextBestStore
@testable import NextBestCluster

/// Shards cut from the profile index are the shards cut by walking every key; the index follows the data.
@Suite struct ShardPlanTests {
    func shards(_ p: ShardPlan) -> [String] { p.shards.map { "\($0.index):\($0.lower)-\($0.upper.map(String.init) ?? "end"):\($0.customers)" } }

    @Test func theIndexGivesTheShardsOfTheWalk() throws {
        let (store, _) = try ClusterFixtures.store()
        // The importers built an index (step 1024, so one entry for these 300 customers).
        let built = try #require(try store.env.read { try store.profileIndex(in: $0) })
        #expect(built.step == ProfileIndex.defaultStep && built.count == 300 && built.ids.count == 1)
        // A fine index, so that shards span several entries.
        try store.env.write { try store.markDataChanged(in: $0, indexStep: 16) }
        let index = try #require(try store.env.read { try store.profileIndex(in: $0) })
        #expect(index.step == 16 && index.count == 300 && index.ids.count == 19)
        for size in [16, 17, 50, 64, 299, 300, 1_000] {
            let walked = try ShardPlan.make(store: store, shardSize: size, useIndex: false)
            let seeked = try ShardPlan.make(store: store, shardSize: size)
            #expect(shards(seeked) == shards(walked), "shard size \(size)")
            #expect(seeked.customers == 300)
        }
    }

    @Test func contactsKeepTheIndexAndProfilesRebuildIt() throws {
        let (store, _) = try ClusterFixtures.store()
        let before = try #require(try store.env.read { try store.profileIndex(in: $0) })
        let stamp = try store.env.read { try $0.get(store.meta, key: Array("data_stamp".utf8)) }
        // New contacts: a new stamp, the same index carried over to it.
        let firstID = before.ids[0]
        let contacts = ClusterFixtures.tempDir("h") + "/h.csv"
        try "customer_id,offer_id,channel,date,outcome\n\(firstID),O01,email,2026-11-01,ignored\n".write(toFile: contacts, atomically: true, encoding: .utf8)
        _ = try HistoryImporter.run(file: contacts, store: store)
        #expect(try store.env.read { try $0.get(store.meta, key: Array("data_stamp".utf8)) } != stamp)
        #expect(try store.env.read { try store.profileIndex(in: $0) } == before)
        // A profile changed without the index: it is no longer current, and the walk is used.
        try store.env.write { txn in _ = try txn.put(store.meta, key: Array("data_stamp".utf8), value: [UInt8](repeating: 1, count: 16)) }
        #expect(try store.env.read { try store.profileIndex(in: $0) } == nil)
        #expect(try ShardPlan.make(store: store, shardSize: 2_000).customers == 300)
    }
}
