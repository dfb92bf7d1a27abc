import Foundation
import Testing
@testable import NextBestCluster
@testable import NextBestStore

/// The output writer gives back exactly the bytes appended, whatever their chunking around its direct-I/O
/// buffer, and leaves no temporary file.
@Suite struct AtomicFileWriterTests {
    @Test(arguments: [0, 1, 4095, 4096, 4097, AtomicFileWriter.bufferSize - 1, AtomicFileWriter.bufferSize, 2 * AtomicFileWriter.bufferSize + 12_345,
                     4 * AtomicFileWriter.bufferSize + 77])
    func writesTheBytesAppended(total: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nextbest-afw-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/out.csv"
        var expected = [UInt8]()
        expected.reserveCapacity(total)
        var x: UInt64 = 0x9E3779B97F4A7C15
        let writer = try AtomicFileWriter(path: path)
        // Chunks of uneven sizes, some larger than the buffer.
        var sizes = [1, 7, 4096, 100_000, 3, AtomicFileWriter.bufferSize + 5]
        while expected.count < total {
            let n = min(sizes.removeFirst(), total - expected.count)
            sizes.append(n + 1)
            var chunk = [UInt8](repeating: 0, count: n)
            for i in 0..<n { x = x &* 6364136223846793005 &+ 1442695040888963407; chunk[i] = UInt8(truncatingIfNeeded: x >> 56) }
            writer.append(chunk)
            expected += chunk
        }
        #expect(!FileManager.default.fileExists(atPath: path), "the target appears only on commit")
        try writer.commit()
        let got = try #require(FileManager.default.contents(atPath: path))
        #expect(got.count == total)
        #expect([UInt8](got) == expected)
        #expect(writer.bytesWritten == total)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["out.csv"])
    }

    @Test func abortLeavesTheOldFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nextbest-afw-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/out.csv"
        let first = try AtomicFileWriter(path: path)
        first.append(Array("old\n".utf8))
        try first.commit()
        let second = try AtomicFileWriter(path: path)
        second.append([UInt8](repeating: 65, count: 10_000))
        second.abort()
        #expect(FileManager.default.contents(atPath: path) == Data("old\n".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["out.csv"])
    }
}
