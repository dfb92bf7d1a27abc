import Foundation
import Synchronization
import NextBestCore
import NextBestStore

/// A run's merged lists handed shard by shard from the merge to a reader on another thread: the reader
/// asks for shard after shard and waits until the merge has posted it. A shard is handed over once and
/// then forgotten, so only the shards the reader has not reached yet are held. Posts after the reader gave
/// up (`abandon`) are dropped; a reader waiting when the merge stops (`close`) gets `Closed`.
///
/// `@unchecked Sendable`: the state is only touched with `condition` locked.
final class ListsFeed: @unchecked Sendable {
    /// The merge stopped before posting the shard asked for.
    struct Closed: Error, CustomStringConvertible {
        var shard: Int
        var description: String { "the merge stopped before shard \(shard)" }
    }

    private let condition = NSCondition()
    private var shards: [Int: (lists: [UInt8], totals: RunTotals)] = [:]
    private var closed = false
    private var abandoned = false

    /// The merge has shard `s`'s lists (shards are posted in order, each once).
    func post(_ s: Int, lists: [UInt8], totals: RunTotals) {
        condition.lock()
        defer { condition.unlock() }
        guard !abandoned else { return }
        shards[s] = (lists, totals)
        condition.broadcast()
    }

    /// Shard `s`'s lists, once posted.
    func take(_ s: Int) throws -> (lists: [UInt8], totals: RunTotals) {
        condition.lock()
        defer { condition.unlock() }
        while shards[s] == nil && !closed { condition.wait() }
        guard let got = shards.removeValue(forKey: s) else { throw Closed(shard: s) }
        return got
    }

    /// The merge is over (finished or failed): nothing more is posted.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// The reader stopped: what is held is dropped, and so is what is posted from now on.
    func abandon() {
        condition.lock()
        abandoned = true
        shards = [:]
        condition.unlock()
    }
}

/// What a coordinator's job reads from the run's lists as they are merged, on threads of their own while the
/// merge streams (the lists are in memory then, and the cores mostly wait on the workers): a rescore's
/// changes.csv against the run rescored, and the comparison with the previous kept run for the summary.
/// Before, both were made after the merge, reading the run's lists back from the store: 1.5–2.2 s of a 10 M
/// rescore after its `total`.
final class MergeReaders: @unchecked Sendable {
    /// What the readers made (`finish`).
    struct Results {
        /// The customers listed in changes.csv (committed), for a rescore.
        var changedCustomers: Int?
        /// The comparison with the previous kept run: nil without one; the error when it could not be made.
        var sincePrevious: Result<RunComparison, any Error>?
    }

    private let feeds: [ListsFeed]
    /// Signalled by each reader as it ends.
    private let ended = DispatchSemaphore(value: 0)
    private var started = 0
    private let changes = Mutex<Result<Changes.Written, any Error>?>(nil)
    private let comparison = Mutex<Result<RunComparison, any Error>?>(nil)
    private let hasComparison: Bool
    /// Whether the comparison's top offers are changes.csv's tally (it compares the same two runs).
    private let topOffersFromChanges: Bool

    /// Starts the readers of run `run`'s lists: changes.csv at `changesPath` against run `base` (same shards)
    /// when given, and the comparison with `previous` when given.
    init(journal: RunRepository, run: UInt64, shards: Int, changesAgainst base: UInt64?, changesPath: String,
         previous: UInt64?, catalogue: @escaping @Sendable () throws -> RunComparison.Catalogue) {
        let changesFeed = base.map { _ in ListsFeed() }, compareFeed = previous.map { _ in ListsFeed() }
        feeds = [changesFeed, compareFeed].compactMap { $0 }
        hasComparison = previous != nil
        // A rescore of the previous run (the usual case): changes.csv's reader hands the run's lists it reads
        // to the comparison, so they are read from the store once, and its walk of both runs' customers
        // tallies the top offers, so the comparison reads only the shards' tables and totals.
        let shared = base != nil && base == previous ? ListsFeed() : nil
        topOffersFromChanges = shared != nil
        if let base, let feed = changesFeed {
            start { [self] in
                let r = Result { try Changes.write(base: base, shards: shards, journal: journal, new: { try feed.take($0).lists }, to: changesPath,
                                                   read: { s, lists, totals in shared?.post(s, lists: lists, totals: totals) }) }
                if case .failure = r { feed.abandon() }
                shared?.close()
                changes.withLock { $0 = r }
            }
        }
        if let previous, let feed = compareFeed {
            start { [self] in
                let r = Result { try RunComparison.compare(journal: journal, a: previous, b: run, catalogue: catalogue(), psi: false,
                                                           topOffers: shared == nil,
                                                           running: { try feed.take($0) }, readA: shared.map { a in { try a.take($0) } }) }
                if case .failure = r { feed.abandon(); shared?.abandon() }
                comparison.withLock { $0 = r }
            }
        }
    }

    /// Runs `body` on a thread of its own: readers wait on the merge for long stretches, and on the shared
    /// dispatch queues they took the threads the merge renders its shards on (on 2 cores the merge then took
    /// 2 s longer).
    private func start(_ body: @escaping @Sendable () -> Void) {
        started += 1
        let ended = self.ended
        let thread = Thread { body(); ended.signal() }
        thread.name = "nextbest.merge-reader"
        thread.start()
    }

    private func waitForReaders() {
        for _ in 0..<started { ended.wait() }
        started = 0
    }

    /// Shard `s` is merged.
    func post(_ s: Int, lists: [UInt8], totals: RunTotals) {
        for f in feeds { f.post(s, lists: lists, totals: totals) }
    }

    /// The merge is over: waits for the readers and gives what they made (changes.csv's failure is thrown).
    func finish() throws -> Results {
        for f in feeds { f.close() }
        waitForReaders()
        let written = try changes.withLock { $0 }.map { try $0.get() }
        var since = hasComparison ? comparison.withLock { $0 } : nil
        if topOffersFromChanges, case .success(var c) = since, let written {
            c.topOffer = written.topOffer
            since = .success(c)
        }
        return Results(changedCustomers: written?.changed, sincePrevious: since)
    }

    /// The merge failed: the readers are stopped and waited for.
    func cancel() {
        for f in feeds { f.close() }
        waitForReaders()
    }
}
