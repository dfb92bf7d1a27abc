import Foundation
import NextBestCore
import NextBestStore
import Synchronization

/// The run `nextbest serve` answers from, and the store it records responses in. `refresh()` (called
/// every few seconds by the server) loads a newer finished run fully, then swaps it in with one
/// assignment under a lock: a lookup holds the `ServingRun` it started with, so it never sees half of two
/// runs, and nothing restarts.
public final class ServingState: Sendable {
    public let store: Store
    let journal: RunRepository
    private let current = Mutex<ServingRun?>(nil)

    /// Opens the store (which must exist) and loads its newest finished run, if any.
    public init(storePath: String) throws {
        store = try Store(path: storePath, mustExist: true)
        journal = RunRepository(store: store)
        _ = try refresh()
    }

    /// The run lookups answer from now (nil before the store's first finished run).
    public var run: ServingRun? { current.withLock { $0 } }

    /// Loads the newest finished run if it is not the one served; returns it when it switched.
    @discardableResult
    public func refresh() throws -> ServingRun? {
        guard let latest = try journal.latestFinished(), latest.plan.run != run?.run else { return nil }
        let loaded = try ServingRun(journal: journal, entry: latest)
        current.withLock { $0 = loaded }
        return loaded
    }

    /// Whether the store has a profile for `customer`.
    public func knows(_ customer: UInt64) throws -> Bool {
        try store.env.read { txn in try txn.get(store.profiles, key: ProfileCodec.key(customer)) != nil }
    }

    /// The customer's contacts (date, offer, channel, outcome), newest first: the history merged with every
    /// response served so far (an identical contact once), as the next run will read them.
    public func contacts(of customer: UInt64) throws -> [(String, String, String, String)] {
        try ResponseRecorder.contacts(store: store, customer: customer, through: .max).reversed().compactMap { v in
            v.withUnsafeBytes { b in
                HistoryCodec.decode(b).map { e in
                    (CalendarDay(daysSinceEpoch: e.day).description, String(decoding: e.offerID, as: UTF8.self),
                     String(decoding: e.channel, as: UTF8.self), e.outcome.text)
                }
            }
        }
    }
}
