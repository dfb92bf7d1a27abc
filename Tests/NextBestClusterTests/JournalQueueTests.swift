import Foundation
import Testing
@testable import NextBestCluster

/// The coordinator's journal writes on their own thread: in order, reads after the writes queued before
/// them, and the first error stops the rest and reaches the coordinator.
@Suite struct JournalQueueTests {
    final class Log: @unchecked Sendable {
        let lock = NSLock()
        var items: [Int] = []
        func add(_ i: Int) { lock.withLock { items.append(i) } }
        var all: [Int] { lock.withLock { items } }
    }

    @Test func writesRunInOrderAndReadsSeeThem() throws {
        let q = JournalQueue(depth: 2)
        let log = Log()
        for i in 0..<50 { try q.add { usleep(100); log.add(i) } }
        #expect(try q.read { log.all.count } == 50)
        try q.finish()
        #expect(log.all == Array(0..<50))
    }

    @Test func theFirstErrorStopsTheRestAndIsThrown() throws {
        struct Full: Error, Equatable { var at: Int }
        let q = JournalQueue(depth: 1)
        let log = Log()
        var thrownByAdd = false
        for i in 0..<20 {
            do { try q.add { if i == 5 { throw Full(at: i) }; log.add(i) } } catch { thrownByAdd = true; break }
        }
        #expect(throws: Full(at: 5)) { try q.finish() }
        // Nothing after the failed write was written, whether or not `add` saw the error first.
        #expect(log.all == Array(0..<5))
        _ = thrownByAdd
    }
}
