import Foundation
import NextBestCore
import NextBestStore

/// Builds fixture stores for the run tests.
enum ClusterFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures").path

    static func tempDir(_ name: String = "t") -> String {
        let p = NSTemporaryDirectory() + "nextbest-\(name)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    /// The fixture store: 300 profiles, five models from XGBoost and scikit-learn, history, campaign.
    static func store(campaign: String? = nil) throws -> (Store, String) {
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
