import Foundation
import Logging
import Testing
@testable import NextBestCluster
@testable import nextbest

/// The error line that ends a failed command, and the time and level on text log lines (issue 25).
@Suite struct ErrorLineTests {
    static let date = Date(timeIntervalSince1970: 1_796_349_601.25)  // 2026-12-04T02:00:01.250Z

    @Test func jsonErrorLinesAreOneObjectWithTheExitCode() throws {
        let message = "the campaign's constraints cannot all hold:\n  - region north min 9\nrelax the constraints"
        let line = ErrorLine.render(message, status: .infeasible, format: .json, date: Self.date)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "error")
        #expect(object["message"] as? String == message)
        #expect(object["exit_code"] as? Int == 78)
        #expect(object["failure"] as? String == "infeasible")
        #expect(object["time"] as? String == "2026-12-04T02:00:01.250Z")
    }

    @Test func textErrorLinesAreStampedAndKeepLaterLines() {
        let line = ErrorLine.render("cannot open store at /x: no store there\n  - second\u{1B}[2K", status: .io, format: .text, date: Self.date)
        let lines = line.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2)
        #expect(lines[0] == "2026-12-04T02:00:01.250Z error nextbest: cannot open store at /x: no store there  exit_code=74", "\(line)")
        #expect(lines[1] == #"  - second\u{1B}[2K"#, "\(line)")
    }

    @Test func textLogLinesOfStandardErrorCarryTimeAndLevel() {
        let stamped = LineLogHandler.line(format: .text, label: "nextbest", level: .notice, message: "metrics at http://127.0.0.1:9464/metrics",
                                          metadata: ["run": "ab"], date: Self.date, stamp: LineStamp(prefix: "nextbest: "))
        #expect(stamped == "2026-12-04T02:00:01.250Z notice nextbest: metrics at http://127.0.0.1:9464/metrics  run=ab")
        // A writer to a closure (tests, embedding programs) gets the message first, as before.
        var lines: [String] = []
        RoleLog { lines.append($0) }("scored shard 4")
        #expect(lines == ["scored shard 4"])
        // Standard error's writer stamps text lines only.
        #expect(LineWriter.standardError(prefix: "nextbest: ", format: .text).stamp == LineStamp(prefix: "nextbest: "))
        #expect(LineWriter.standardError(prefix: "nextbest: ", format: .json).stamp == nil)
    }
}
