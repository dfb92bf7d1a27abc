import Foundation
import Synchronization
import Testing
import NextBestCore
@testable import NextBestCluster

/// `ListsFeed`: the merge hands a run's lists shard by shard to a reader on another thread.
@Suite struct MergeReadersTests {
    let totals = RunTotals(offers: 1, products: 1, channels: 1, regions: 1, segments: 1)

    @Test func aReaderWaitsForEachShardAndGetsItOnce() throws {
        let feed = ListsFeed()
        let got = Mutex<[[UInt8]]>([])
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for s in 0..<3 { if let l = try? feed.take(s).lists { got.withLock { $0.append(l) } } }
            done.signal()
        }
        // Posted after the reader started asking, shard 1 after a pause: the reader waits for them.
        feed.post(0, lists: [0], totals: totals)
        Thread.sleep(forTimeInterval: 0.05)
        feed.post(1, lists: [1], totals: totals)
        feed.post(2, lists: [2], totals: totals)
        done.wait()
        #expect(got.withLock { $0 } == [[0], [1], [2]])
        // Handed once: asked again after the merge ended, it is not there.
        feed.close()
        #expect(throws: ListsFeed.Closed.self) { _ = try feed.take(1) }
    }

    @Test func aMergeThatStopsWakesTheReaderAndPostsAfterItGaveUpAreDropped() throws {
        let feed = ListsFeed()
        let failed = Mutex<(any Error)?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            do { _ = try feed.take(0) } catch { failed.withLock { $0 = error } }
            done.signal()
        }
        Thread.sleep(forTimeInterval: 0.05)
        feed.close()
        done.wait()
        #expect(failed.withLock { $0 } is ListsFeed.Closed)
        let dropped = ListsFeed()
        dropped.abandon()
        dropped.post(0, lists: [7], totals: totals)
        dropped.close()
        #expect(throws: ListsFeed.Closed.self) { _ = try dropped.take(0) }
    }
}
