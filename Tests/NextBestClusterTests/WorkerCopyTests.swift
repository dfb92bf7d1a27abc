import Foundation
import Testing
@testable import NextBestStore

/// `nextbest worker-copy` (issue 25): the copy a worker host gets has the store's fingerprint, every
/// profile, contact, model and the campaign, scores the same, and none of the kept runs.
@Suite struct WorkerCopyTests {
    let cli = InspectExportTests()

    @Test func theCopyScoresTheSameAndLeavesTheKeptRunsOut() throws {
        let (store, _, _) = try cli.storeWithRun()
        let copy = ClusterFixtures.tempDir("copy") + "/store"
        let r = try cli.nextbest(["worker-copy", "--store", store, "--to", copy])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("left out") && !r.out.contains("left out 0 records"), "\(r.out)")
        #expect(try cli.nextbest(["fingerprint", "--store", copy]).out == cli.nextbest(["fingerprint", "--store", store]).out)
        #expect(try cli.nextbest(["runs", "list", "--store", copy]).out.contains("no runs kept"))
        #expect(try cli.nextbest(["runs", "list", "--store", store]).out.contains(" done "))
        do {
            let a = try Store(path: store, readOnly: true), b = try Store(path: copy, readOnly: true)
            for name in ["profiles", "history", "models", "offers"] {
                let na = try a.env.read { try $0.count(try a.env.database(name)) }, nb = try b.env.read { try $0.count(try b.env.database(name)) }
                #expect(na == nb && na > 0, "\(name): \(na) in the store, \(nb) in the copy")
            }
            #expect(try b.env.read { try $0.count(b.results) } == 0)
        }
        let sa = ClusterFixtures.tempDir("s") + "/a.csv", sb = ClusterFixtures.tempDir("s") + "/b.csv"
        #expect(try cli.nextbest(["score", "--store", store, "--model", "xgb_deep", "--out", sa]).status == 0)
        #expect(try cli.nextbest(["score", "--store", copy, "--model", "xgb_deep", "--out", sb]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: sa)) == Data(contentsOf: URL(fileURLWithPath: sb)))
        // A copy into a place that holds a store is refused.
        #expect(try cli.nextbest(["worker-copy", "--store", store, "--to", copy]).status != 0)
    }
}
