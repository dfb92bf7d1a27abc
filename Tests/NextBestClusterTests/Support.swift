import Foundation
import NextBestCore
import NextBestStore
import NextBestTestKit

/// Fixture stores for the run tests (see `FixtureStore`).
enum ClusterFixtures {
    static var root: String { FixtureStore.root }
    static func tempDir(_ name: String = "t") -> String { FixtureStore.tempDir(name) }
    static func store(campaign: String? = nil) throws -> (Store, String) { try FixtureStore.make(campaign: campaign) }
}
