import Foundation
import NextBestCore

/// Shards held in this process, worked on several threads: each operation runs the shards in parallel and
/// combines their answers in shard order (the same answers as `ShardArray`, faster).
public final class LocalShards: ShardGroup {
    public var shards: [ShardOptimizer]
    public let constraints: ConstraintSet
    public let threads: Int
    public var shardCount: Int { shards.count }
    public var customerCount: Int { shards.reduce(0) { $0 + $1.table.customerCount } }

    public init(_ shards: [ShardOptimizer], constraints: ConstraintSet, threads: Int) {
        self.shards = shards
        self.constraints = constraints
        self.threads = max(1, threads)
    }

    /// Runs `body` for every shard index on up to `threads` threads and returns the answers in shard order.
    func each<T>(_ body: @Sendable (inout ShardOptimizer, Int) -> T) -> [T] {
        let count = shards.count
        let results = Slots<T>(count: count)
        let next = Counter()
        shards.withUnsafeMutableBufferPointer { buf in
            nonisolated(unsafe) let b = buf
            DispatchQueue.concurrentPerform(iterations: min(threads, max(count, 1))) { _ in
                while let i = next.claim(below: count) { results.set(i, body(&b[i], i)) }
            }
        }
        return results.values()
    }

    public func precheckFacts() throws -> PrecheckFacts {
        var f = PrecheckFacts(rows: constraints.count)
        for x in each({ s, _ in PrecheckFacts.of(s) }) { f.add(x) }
        return f
    }

    public func evaluate(_ request: PricingRequest, sample: CustomerSample) throws -> Aggregates {
        var total = Aggregates(rows: constraints.count)
        for a in each({ s, _ in s.evaluate(request, sample: sample) }) { total.add(a) }
        return total
    }

    public func splitCustomers(_ request: PricingRequest, active: [[UInt8]], passes: [[UInt32]]) throws -> [[SplitCustomer]] {
        each { s, _ in s.splitCustomers(request, active: active, passes: passes) }
    }

    public func withAllCandidates(_ customers: [[Int32]]) throws -> [[SplitCustomer]] {
        each { s, i in i < customers.count ? s.withAllCandidates(customers[i]) : [] }
    }

    public func copySelection(from: Int, to: Int) throws {
        for i in shards.indices { shards[i].copySelection(from: from, to: to) }
    }

    public func state(slot: Int) throws -> SelectionState {
        var st = SelectionState(rows: constraints.count + 1)
        for x in each({ s, _ in s.state(slot: slot) }) { st.add(x) }
        return st
    }

    public func proposals(slot: Int, goal: Repair.Goal, use: [Int64], limit: Int) throws -> [Repair.MoveList] {
        each { s, i in Repair.proposalList(s, shard: i, slot: slot, goal: goal, use: use, limit: limit) }
    }

    public func apply(_ changes: [[Repair.Change]], slot: Int) throws {
        for (i, c) in changes.enumerated() where !c.isEmpty { shards[i].apply(c, slot: slot) }
    }
}
