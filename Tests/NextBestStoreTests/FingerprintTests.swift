import Foundation
import Testing
import NextBestCore
@testable import NextBestStore
import NextBestTestKit

/// The store fingerprint a coordinator compares with each worker's.
@Suite struct FingerprintTests {
    @Test func equalForACopyAndChangedByModelsCampaignAndProfiles() throws {
        let (store, path) = try FixtureStore.make()
        let base = try StoreFingerprint.of(store)
        #expect(base.profiles == 300 && base.models == 5 && base.campaignVersion == 1)
        // A compacting copy (how a store is shipped to worker hosts) has the same fingerprint.
        let copyDir = FixtureStore.tempDir("copy")
        try store.env.copyCompacted(to: copyDir)
        let copy = try Store(path: copyDir, readOnly: true)
        #expect(try StoreFingerprint.of(copy) == base)
        _ = path
        // A re-imported model (new version) changes it.
        let (s2, _) = try FixtureStore.make()
        _ = try ModelImporter.run(file: FixtureStore.root + "/models/logit_all.json", id: "logit_all", format: .logisticJSON, store: s2)
        #expect(try StoreFingerprint.of(s2).digest != base.digest)
        // Another campaign changes it.
        let (s3, _) = try FixtureStore.make(campaign: FixtureStore.root + "/lp/all_kinds/campaign.yaml")
        #expect(try StoreFingerprint.of(s3).digest != base.digest)
        // One more customer changes it.
        let (s4, _) = try FixtureStore.make()
        let f = FixtureStore.tempDir("p") + "/p.csv"
        try ("customer_id,region,segment,age,income,balance,tenure_months,num_products,card_spend,savings_rate,digital_logins,mortgage_ltv,credit_score\n"
             + "42,north,young,1,2,3,4,5,6,7,8,9,10\n").write(toFile: f, atomically: true, encoding: .utf8)
        _ = try ProfileImporter.run(file: f, store: s4)
        let fp4 = try StoreFingerprint.of(s4)
        #expect(fp4.profiles == 301 && fp4.digest != base.digest)
        // New contacts in the copy's original change it (the copy is now stale); the same file again does not.
        let h = FixtureStore.tempDir("h") + "/h.csv"
        try "customer_id,offer_id,channel,date,outcome\n474640,SAV1,email,2026-11-20,ignored\n".write(toFile: h, atomically: true, encoding: .utf8)
        _ = try HistoryImporter.run(file: h, store: store)
        let fp5 = try StoreFingerprint.of(store)
        #expect(fp5.digest != base.digest && fp5.profiles == base.profiles)
        _ = try HistoryImporter.run(file: h, store: store)
        #expect(try StoreFingerprint.of(store) == fp5)
    }
}
