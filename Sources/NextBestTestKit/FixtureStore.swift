import Foundation
import NextBestCore
import NextBestStore

/// Builds stores from the repository's fixtures (`Tests/Fixtures`) for the tests of every target.
public enum FixtureStore {
    /// `Tests/Fixtures`, found from this file's place in the repository.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tests/Fixtures").path

    /// This test process's own directory under the temporary directory, removed when the process exits,
    /// so a test run leaves nothing behind in `TMPDIR`.
    public static let processDir: String = {
        let p = NSTemporaryDirectory() + "nextbest-tests-\(getpid())-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: FixtureStore.processDir) }
        return p
    }()

    /// A fresh empty directory inside `processDir`.
    public static func tempDir(_ name: String = "t") -> String {
        let p = processDir + "/\(name)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    /// A store with the fixture profiles, the five models trained by XGBoost and scikit-learn, the
    /// fixture history and a campaign (default: `campaign_small.yaml`). Returns the store and its path.
    public static func make(campaign: String? = nil) throws -> (Store, String) {
        let path = tempDir("store") + "/store"
        let store = try Store(path: path)
        _ = try ProfileImporter.run(file: root + "/models/profiles.csv", store: store)
        for m in ["xgb_small", "xgb_deep", "xgb_subset"] {
            _ = try ModelImporter.run(file: root + "/models/\(m).json", id: m, format: .xgboostJSON, store: store)
        }
        for m in ["logit_all", "logit_subset"] {
            _ = try ModelImporter.run(file: root + "/models/\(m).json", id: m, format: .logisticJSON, store: store)
        }
        _ = try HistoryImporter.run(file: root + "/history_small.csv", store: store)
        _ = try CampaignImporter.run(file: campaign ?? root + "/campaign_small.yaml", store: store)
        return (store, path)
    }
}
