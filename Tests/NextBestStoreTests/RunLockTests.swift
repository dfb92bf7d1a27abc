import Foundation
import Testing
@testable import NextBestStore

/// The store's run lock (issue 26: a response served during a run never changes that run): while a run
/// holds it, imports of profiles and contacts are refused at once, naming the run; several runs may hold it
/// together; released, the import goes.
@Suite struct RunLockTests {
    @Test func importsWaitForNoRun() throws {
        let dir = Fixtures.tempDir("runlock")
        var ran = 0
        // No run: the import's body runs.
        try RunLock.ensureNoRun(storePath: dir, what: "import served") { ran += 1 }
        #expect(ran == 1)

        var first = RunLock.holdForRun(storePath: dir, description: "run a by process 1")
        #expect(first != nil)
        // A second run shares the lock and names itself.
        var second = RunLock.holdForRun(storePath: dir, description: "run b by process 2")
        #expect(second != nil)
        do {
            try RunLock.ensureNoRun(storePath: dir, what: "import history") { ran += 1 }
            Issue.record("an import went while two runs held the lock")
        } catch let busy as RunLock.Busy {
            #expect(busy.holder == "run b by process 2")
            #expect(busy.description.contains("import history refused: a run is going on the store at \(dir) (run b by process 2)"))
        }
        second = nil
        #expect(throws: RunLock.Busy.self) { try RunLock.ensureNoRun(storePath: dir, what: "import profiles") { ran += 1 } }
        #expect(ran == 1)
        first = nil
        _ = (first, second)
        try RunLock.ensureNoRun(storePath: dir, what: "import served") { ran += 1 }
        #expect(ran == 2)
    }

    @Test func aStoreNotMadeYetHasNoRunGoing() throws {
        let dir = Fixtures.tempDir("runlock-new") + "/not-yet"
        let made = try RunLock.ensureNoRun(storePath: dir, what: "import profiles") { 7 }
        #expect(made == 7)
        #expect(!FileManager.default.fileExists(atPath: dir))
    }
}
