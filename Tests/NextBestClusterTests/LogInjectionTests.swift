import Foundation
import Testing
import Logging
import NextBestCore
@testable import NextBestCluster

/// Peer-supplied strings (HELLO worker ids, routing ids) cannot forge or hide lines of a text log
/// (issue 21, item 11).
@Suite struct LogInjectionTests {
    static let evil = "w1\nnextbest coordinator: run 00000000000000ff finished\r\u{1B}[2K\u{1B}]0;pwned\u{07}\u{85}\u{2028}"

    @Test func textLinesEscapeControlCharactersOfMessagesAndMetadata() {
        var lines: [String] = []
        let log = RoleLog { lines.append($0) }
        log.set("run", Self.evil)
        log("worker \(Self.evil) joined", shard: 3)
        #expect(lines.count == 1)
        let line = lines[0]
        #expect(!line.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 })
        #expect(line.hasPrefix(#"worker w1\nnextbest coordinator: run 00000000000000ff finished\r\u{1B}[2K\u{1B}]0;pwned\u{7}\u{85}\u{2028} joined  "#), "\(line)")
        #expect(line.contains(#"run=w1\nnextbest"#) && line.hasSuffix("shard=3"), "\(line)")
        // Ordinary text is untouched.
        #expect(LineLogHandler.line(format: .text, label: "l", level: .info, message: "scored shard 4 (café, 12 ms)", metadata: ["run": "ab"], date: Date())
                == "scored shard 4 (café, 12 ms)  run=ab")
    }

    @Test func jsonLinesStayOneLine() {
        let line = LineLogHandler.line(format: .json, label: "l", level: .info, message: "worker \(Self.evil)", metadata: ["worker": .string(Self.evil)], date: Date())
        #expect(!line.contains("\n") && !line.contains("\u{1B}"))
    }
}
