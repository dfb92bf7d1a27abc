import Foundation
import Testing
@testable import nextbest

/// Small pieces of the commands: `simulate`'s table and what a failed import removes (issue 25).
@Suite struct CommandHelpersTests {
    @Test func simulateColumnsNeverRunTogether() {
        let name = "offers.personal_loan_consolidation_mortgage_remortgage"
        let text = SimulationTable.columns([["figure", "base", "simulated", "limits (simulated)"],
                                            [name, "18800.00", "17500.00", "max 20"],
                                            ["cost", "-", "20.00", ""]])
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[1].hasPrefix(name + "  18800.00"), "\(text)")
        // Columns line up: each number starts where its header does.
        for (header, cell) in [("base", "18800.00"), ("simulated", "17500.00"), ("limits (simulated)", "max 20")] {
            #expect(lines[0].range(of: header)!.lowerBound.utf16Offset(in: lines[0]) == lines[1].range(of: cell)!.lowerBound.utf16Offset(in: lines[1]))
        }
        #expect(lines[2] == "cost" + String(repeating: " ", count: name.count - 4 + 2) + "-" + String(repeating: " ", count: 9) + "20.00", "\(text)")
    }

    @Test func aFailedImportRemovesOnlyWhatItCreated() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("nextbest-import-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        #expect(Import.outermostMissing(base) == nil)
        #expect(Import.outermostMissing(base + "/a/b/store") == base + "/a")
        struct Refused: Error {}
        #expect(throws: Refused.self) { try Import.intoStore(base + "/a/b/store") { _ in throw Refused() } }
        #expect(!FileManager.default.fileExists(atPath: base + "/a") && FileManager.default.fileExists(atPath: base))
        // An import that succeeds keeps its new store; a later failure does not remove it.
        try Import.intoStore(base + "/store") { _ in }
        #expect(throws: Refused.self) { try Import.intoStore(base + "/store") { _ in throw Refused() } }
        #expect(FileManager.default.fileExists(atPath: base + "/store/data.mdb"))
    }
}
