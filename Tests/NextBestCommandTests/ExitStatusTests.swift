import ArgumentParser
import Foundation
import Testing
@testable import NextBestCore
@testable import NextBestStore
@testable import NextBestWire
@testable import NextBestCluster
@testable import nextbest

/// Every kind of failure ends every command with its own exit status (issue 25): the classification by
/// error type, and the table the help and docs/exit-codes.md show.
@Suite struct ExitStatusTests {
    /// (Swift Testing has an `ExitStatus` of its own.)
    typealias ExitStatus = nextbest.ExitStatus
    struct Unforeseen: Error {}

    static let cases: [(any Error, ExitStatus)] = [
        (ValidationError("--format must be one of csv, jsonl, not 'x'"), .usage),
        (ImportError(file: "profiles.csv", line: 3, reason: "column 2 is empty"), .inputRefused),
        (CampaignError(path: "offers[0].model", line: 7, reason: "unknown model"), .inputRefused),
        (ModelError.invalid("no trees"), .inputRefused),
        (PlanError.unknownModel("m"), .inputRefused),
        (StoreError.missing("the store has no model 'm'"), .inputRefused),
        (RunRepository.Failure.unknownRun("00000000deadbeef"), .inputRefused),
        (Simulation.Failure.notFinished("00000000deadbeef"), .inputRefused),
        (Optimizer.Infeasible(conflicts: ["region north min 9 exceeds the 3 offers its eligible customers can receive at most"]), .infeasible),
        (ClusterError.noWorkers(waitedSeconds: 1, minimum: 1), .clusterFailure),
        (ClusterError.workerLost(worker: "w1", silentSeconds: 10, shards: 2), .clusterFailure),
        (ClusterError.aborted("local worker 1 exited with status 74"), .clusterFailure),
        (ClusterError.runRefused("run 00000000deadbeef has not finished (or was pruned): rescore starts from a finished run"), .inputRefused),
        (Worker.Failure.refused("store fingerprint differs"), .clusterFailure),
        (WireError.notNextBest, .clusterFailure),
        (StoreError.cannotOpen(path: "/nowhere", reason: "no store there"), .io),
        (StoreError.lmdb(operation: "mdb_put", code: 28, message: "No space left on device"), .io),
        (StoreError.corrupt(database: "profiles", key: "customer 1", reason: "truncated"), .io),
        (OutputPlace.Unusable(option: "--out", path: "/proc/x", reason: "cannot create the directory"), .io),
        (OutputError.cannotWrite(path: "/proc/x/nba.csv", reason: "read-only"), .io),
        (CocoaError(.fileWriteNoPermission), .io),
        (POSIXError(.EACCES), .io),
        (RunLock.Busy(store: "/srv/nextbest/store", holder: "a run started 2026-12-06T02:00:00.000Z by process 42 on night-1", what: "import served"), .busy),
        (OptimizerError.undecided(passes: 3), .internalFailure),
        (Unforeseen(), .internalFailure),
    ]

    @Test func eachErrorTypeHasItsStatus() {
        for (error, status) in Self.cases {
            #expect(ExitStatus.of(error) == status, "\(type(of: error)) \(error)")
        }
    }

    @Test func everyFailureHasItsOwnCode() {
        let codes = ExitStatus.allCases.map(\.rawValue)
        #expect(Set(codes).count == codes.count)
        #expect(Set(ExitStatus.allCases.map(\.name)).count == codes.count)
        // Usage is ArgumentParser's own code for a validation error, so both kinds of bad option agree.
        #expect(ExitStatus.usage.rawValue == ExitCode.validationFailure.rawValue)
        // Every failure the classification can give, and success, are in the table: nothing maps to 1.
        #expect(!codes.contains(1))
        #expect(Set(Self.cases.map { ExitStatus.of($0.0) }).union([.success]) == Set(ExitStatus.allCases))
    }

    /// docs/exit-codes.md lists every code with its name, and `nextbest --help` shows the table.
    @Test func theTableIsDocumented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("docs/exit-codes.md"), encoding: .utf8)
        for s in ExitStatus.allCases {
            #expect(doc.contains("| \(s.rawValue) | `\(s.name)` |"), "docs/exit-codes.md lacks \(s.rawValue) \(s.name)")
            #expect(ExitStatus.table.split(separator: "\n").contains { $0.split(separator: " ").prefix(2) == ["\(s.rawValue)", "\(s.name)"] })
        }
        #expect(NextBest.configuration.discussion.contains(ExitStatus.table))
        #expect(NextBest.configuration.version == "nextbest \(NextBestVersion.number)")
    }
}
