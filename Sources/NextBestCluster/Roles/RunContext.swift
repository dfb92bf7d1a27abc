import Foundation
import NextBestCore
import NextBestStore
import NextBestWire

/// What both roles read from their store before a run: the scoring plan, the constraint rows, the
/// region and segment dictionaries and the store's fingerprint.
public struct RunContext: Sendable {
    public let store: Store
    public let plan: ScoringPlan
    public let regions: CodeDictionary
    public let segments: CodeDictionary
    public let constraints: ConstraintSet
    public let fingerprint: StoreFingerprint

    /// Opens the store (it must exist) and reads the run's inputs, with `campaign` instead of the store's
    /// when given (a what-if).
    public init(storePath: String, writable: Bool = false, campaign: Campaign? = nil) throws {
        try self.init(store: try Store(path: storePath, readOnly: !writable, mustExist: true), campaign: campaign)
    }

    /// Reads the run's inputs from a store open already (LMDB wants one environment per process: a
    /// process that holds the store, such as `nextbest serve`, passes it here).
    public init(store: Store, campaign: Campaign? = nil) throws {
        store.env.clearStaleReaders()
        self.store = store
        plan = try store.scoringPlan(campaign: campaign)
        (regions, segments) = try store.env.read { txn in (try store.regions(in: txn), try store.segments(in: txn)) }
        constraints = ConstraintSet(plan: plan, regions: regions, segments: segments)
        fingerprint = try StoreFingerprint.of(store)
    }

    /// The store's model versions: every model's, and the campaign's models' alone.
    public func modelVersions() throws -> (all: [String: Int], campaign: [String: Int]) {
        let all = try store.env.read { txn in try store.modelVersions(in: txn) }
        let ids = Set(plan.models.map(\.id))
        return (all, all.filter { ids.contains($0.key) })
    }

    /// The store's data stamp (renewed by every profile or contact import), as hex.
    public func dataStamp() throws -> String? {
        try store.dataStamp()
    }

    /// Empty totals sized for this catalogue.
    public func emptyTotals() -> RunTotals {
        RunTotals(offers: plan.offers.count, products: plan.products.count, channels: plan.channels.count,
                  regions: regions.count, segments: segments.count)
    }
}

extension RunContext {
    /// The largest legitimate frame for shards of at most `shardCustomers` customers of this store and
    /// campaign (`FrameLimit`), capped at the store's customer count.
    public func frameLimit(shardCustomers: Int) throws -> Int64 {
        let customers = min(shardCustomers, try store.env.read { txn in try store.profileCount(in: txn) })
        let labels = (plan.offers.map(\.idBytes.count).max() ?? 0) + (plan.channels.map(\.utf8.count).max() ?? 0)
        return FrameLimit.bytes(customers: customers, candidates: candidatesPerCustomer, maxOffers: plan.campaign.perCustomer.maxOffers,
                                labels: labels, rows: constraints.count)
    }

    /// The most candidates a customer can have: each offer once per channel it can go out on.
    public var candidatesPerCustomer: Int { plan.offers.reduce(0) { $0 + max(1, $1.channels.count) } }
}
