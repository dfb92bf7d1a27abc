/// The shards an optimization runs over, wherever they are held: in this process (`ShardArray`, or the
/// cluster's parallel local group) or on worker processes behind the wire. Every operation covers all
/// shards and combines their answers in shard order, so the optimizer's decisions cannot depend on where
/// the shards live or how many there are.
public protocol ShardGroup: AnyObject {
    /// The campaign-wide constraints (the same for every shard).
    var constraints: ConstraintSet { get }
    var shardCount: Int { get }
    /// Customers in all shards.
    var customerCount: Int { get }
    /// Facts for the feasibility check made before any round, combined over the shards.
    func precheckFacts() throws -> PrecheckFacts
    /// Solves every customer's sub-problem at its point of `request` (each shard records the selection in
    /// slot 0) and returns the aggregates, per bucket too, combined in shard order. With a sample (not
    /// `.all`), only the sample's customers are solved and no selection changes.
    func evaluate(_ request: PricingRequest, sample: CustomerSample) throws -> Aggregates
    /// The customers the master leaves split (see `ShardOptimizer.splitCustomers`), per shard in shard order.
    func splitCustomers(_ request: PricingRequest, active: [[UInt8]], passes: [[UInt32]]) throws -> [[SplitCustomer]]
    /// The customers `customers[shard]` (indices in their shard) with every candidate of theirs (see
    /// `ShardOptimizer.withAllCandidates`), per shard in shard order.
    func withAllCandidates(_ customers: [[Int32]]) throws -> [[SplitCustomer]]
    /// Copies selection slot `from` over slot `to` in every shard.
    func copySelection(from: Int, to: Int) throws
    /// Row use and objective of a slot's selection, summed over the shards.
    func state(slot: Int) throws -> SelectionState
    /// Every customer's best repair move toward `goal`, per shard in shard order; a shard with more than
    /// `limit` moves gives only its best `limit` (see `Repair.proposals`).
    func proposals(slot: Int, goal: Repair.Goal, use: [Int64], limit: Int) throws -> [Repair.MoveList]
    /// Applies accepted changes (`changes[shard]`) to a slot's selection.
    func apply(_ changes: [[Repair.Change]], slot: Int) throws
}

extension ShardGroup {
    /// Solves every customer's sub-problem at `prices`.
    public func evaluate(_ prices: Prices) throws -> Aggregates { try evaluate(PricingRequest(prices), sample: .all) }
    /// Solves every customer's sub-problem at `prices` (over `sample`).
    public func evaluate(_ prices: Prices, sample: CustomerSample) throws -> Aggregates { try evaluate(PricingRequest(prices), sample: sample) }
}

/// What the feasibility check needs from the shards: for every min row, the most offers its customers
/// can receive at all, and a histogram of each customer's cheapest way to use the row.
public struct PrecheckFacts: Sendable, Equatable {
    /// Per row (0 for rows without a min).
    public var capacity: [Int64]
    /// Per row: (cost in micro-money, customers whose cheapest candidate using the row costs that),
    /// ascending by cost.
    public var cheapest: [[CostCount]]

    /// One bar of a cost histogram.
    public struct CostCount: Sendable, Equatable {
        public var cost: Int64
        public var count: Int64
        public init(cost: Int64, count: Int64) { self.cost = cost; self.count = count }
    }

    public init(rows: Int) {
        capacity = Array(repeating: 0, count: rows)
        cheapest = Array(repeating: [], count: rows)
    }

    /// Adds another shard's facts.
    public mutating func add(_ o: PrecheckFacts) {
        for k in 0..<min(capacity.count, o.capacity.count) {
            capacity[k] += o.capacity[k]
            var merged: [Int64: Int64] = [:]
            for b in cheapest[k] { merged[b.cost, default: 0] += b.count }
            for b in o.cheapest[k] { merged[b.cost, default: 0] += b.count }
            cheapest[k] = merged.sorted { $0.key < $1.key }.map { CostCount(cost: $0.key, count: $0.value) }
        }
    }

    /// The facts of one shard. One pass per min row over the shard's candidates through their buffers; a
    /// customer's cheapest use of the row is counted per (offer, channel) pair (its cost is the pair's), and
    /// the pairs' counts are summed by cost at the end (a dictionary update per customer took 5 % of a 10 M
    /// rescore's samples).
    public static func of(_ s: ShardOptimizer) -> PrecheckFacts {
        let cs = s.constraints
        let rows = cs.rows
        var facts = PrecheckFacts(rows: rows.count)
        let minRows = rows.indices.filter { rows[$0].lower != nil && rows[$0].kind != .budget }
        if minRows.isEmpty { return facts }
        let maxPerFamily = s.plan.campaign.perCustomer.maxPerFamily, maxOffers = s.maxOffers
        let family = ContiguousArray(s.plan.offers.map { Int32($0.family) })
        let pairs = s.pairCostMicros.count, channelCount = s.channelCount
        var famCount = ContiguousArray<Int32>(repeating: 0, count: max(1, s.plan.families.count))
        var seen = ContiguousArray<Bool>(repeating: false, count: max(1, s.plan.offers.count))
        var pairCount = ContiguousArray<Int64>(repeating: 0, count: pairs)
        let customers = s.table.customerCount
        let entries = s.offerEntries.flatMap { oe in s.entriesAtHand.map { (oe, $0) } }
        for k in minRows {
            let k32 = Int32(k)
            // A region's or segment's row is used by every candidate of its customers and by no other
            // customer's: the others are skipped (they are most of a shard for a row of one region).
            let byCustomer = rows[k].kind == .region || rows[k].kind == .segment
            var capacity: Int64 = 0
            for p in 0..<pairs { pairCount[p] = 0 }
            if byCustomer, let (oe, block) = entries {
                capacity = customerRowFacts(s, row: k32, entries: oe, block: block, pairCount: &pairCount)
                facts.capacity[k] = capacity
                facts.cheapest[k] = histogram(pairCount, budget: cs.budgetRow >= 0, cost: s.pairCostMicros)
                continue
            }
            s.table.candidates.withUnsafeBufferPointer { cands in
            s.table.offsets.withUnsafeBufferPointer { offsets in
            s.productRowOfOffer.withUnsafeBufferPointer { productRow in
            s.channelRowOf.withUnsafeBufferPointer { channelRow in
            s.pairCostMicros.withUnsafeBufferPointer { cost in
            s.customerRegionRow.withUnsafeBufferPointer { regionRow in
            s.customerSegmentRow.withUnsafeBufferPointer { segmentRow in
            family.withUnsafeBufferPointer { family in
            famCount.withUnsafeMutableBufferPointer { famCount in
            seen.withUnsafeMutableBufferPointer { seen in
                for i in 0..<customers {
                    // Every candidate of a customer of the row's region or segment uses it.
                    let everyCandidate = regionRow[i] == k32 || segmentRow[i] == k32
                    if byCustomer && !everyCandidate { continue }
                    let lo = Int(offsets[i]), hi = Int(offsets[i + 1])
                    var n = 0
                    var bestPair = -1
                    var best = Int64.max
                    for ci in lo..<hi {
                        let c = cands[ci]
                        let o = Int(c.offer)
                        guard everyCandidate || productRow[o] == k32 || channelRow[Int(c.channel)] == k32 else { continue }
                        let pair = o &* channelCount &+ Int(c.channel)
                        if cost[pair] < best { best = cost[pair]; bestPair = pair }
                        if seen[o] { continue }
                        let f = Int(family[o])
                        if Int(famCount[f]) >= maxPerFamily || n >= maxOffers { continue }
                        seen[o] = true; famCount[f] += 1; n += 1
                    }
                    // Undo the marks (fewer than the offers and families).
                    for ci in lo..<hi { let o = Int(cands[ci].offer); seen[o] = false; famCount[Int(family[o])] = 0 }
                    capacity += Int64(n)
                    if bestPair >= 0 { pairCount[bestPair] += 1 }
                }
            }}}}}}}}}}
            facts.capacity[k] = capacity
            facts.cheapest[k] = histogram(pairCount, budget: cs.budgetRow >= 0, cost: s.pairCostMicros)
        }
        return facts
    }

    /// Customers per cheapest cost (0 for every customer without a budget row), ascending by cost, from the
    /// customers counted per (offer, channel) pair.
    static func histogram(_ pairCount: ContiguousArray<Int64>, budget: Bool, cost: ContiguousArray<Int64>) -> [CostCount] {
        var hist: [Int64: Int64] = [:]
        for p in pairCount.indices where pairCount[p] > 0 { hist[budget ? cost[p] : 0, default: 0] += pairCount[p] }
        return hist.sorted { $0.key < $1.key }.map { CostCount(cost: $0.key, count: $0.value) }
    }

    /// A region's or segment's min row (`row`) over the offer entries: what the walk over the candidates finds
    /// (every candidate of the row's customers uses it), with fewer reads. An entry is one offer of the
    /// customer (no marks for offers seen), and its slot's cheapest channel stands for the offer's
    /// candidates: found once per slot, the first of the cheapest in channel order, as the walk keeps the
    /// first of equal costs in candidate order. Returns the capacity; counts each customer at its cheapest
    /// pair in `pairCount`. (The walk over the candidates was 3 % of a 10 M rescore's samples, between its
    /// scoring and its first pass.)
    static func customerRowFacts(_ s: ShardOptimizer, row: Int32, entries oe: OfferEntries, block: OfferEntries.Block,
                                 pairCount: inout ContiguousArray<Int64>) -> Int64 {
        let maxPerFamily = Int32(s.plan.campaign.perCustomer.maxPerFamily), maxOffers = s.maxOffers
        let channelCount = s.channelCount
        // Per slot: the cheapest (offer, channel) pair among its mask's channels.
        var cheapestPair = ContiguousArray<Int32>(repeating: -1, count: oe.slotCount)
        for slot in 0..<oe.slotCount {
            let o = Int(oe.slotOffer[slot]), mask = slot - oe.slotBase[o]
            var best = Int64.max
            for ch in oe.channels[o].enumerated().filter({ mask >> $0.offset & 1 == 1 }).map(\.element).sorted() {
                let pair = o * channelCount + ch
                if s.pairCostMicros[pair] < best { best = s.pairCostMicros[pair]; cheapestPair[slot] = Int32(pair) }
            }
        }
        var famCount = ContiguousArray<Int32>(repeating: 0, count: max(1, s.plan.families.count))
        var capacity: Int64 = 0
        let customers = s.table.customerCount
        cheapestPair.withUnsafeBufferPointer { cheapestPair in
        s.pairCostMicros.withUnsafeBufferPointer { cost in
        s.customerRegionRow.withUnsafeBufferPointer { regionRow in
        s.customerSegmentRow.withUnsafeBufferPointer { segmentRow in
        oe.slotFamily.withUnsafeBufferPointer { slotFamily in
        block.slots.withUnsafeBufferPointer { slots in
        block.offsets.withUnsafeBufferPointer { offsets in
        famCount.withUnsafeMutableBufferPointer { famCount in
        pairCount.withUnsafeMutableBufferPointer { pairCount in
            for i in 0..<customers where regionRow[i] == row || segmentRow[i] == row {
                let lo = Int(offsets[i]), hi = Int(offsets[i + 1])
                var n = 0
                var bestPair: Int32 = -1
                var best = Int64.max
                for e in lo..<hi {
                    let slot = Int(slots[e])
                    // Every entry's mask has a channel; a slot without one would cost nothing here.
                    let pair = cheapestPair[slot], c = pair >= 0 ? cost[Int(pair)] : Int64.max
                    bestPair = c < best ? pair : bestPair
                    best = min(best, c)
                    let f = Int(slotFamily[slot])
                    let room = famCount[f] < maxPerFamily && n < maxOffers
                    famCount[f] &+= room ? 1 : 0
                    n &+= room ? 1 : 0
                }
                for e in lo..<hi { famCount[Int(slotFamily[Int(slots[e])])] = 0 }
                capacity += Int64(n)
                if bestPair >= 0 { pairCount[Int(bestPair)] += 1 }
            }
        }}}}}}}}}
        return capacity
    }
}

/// Shards held in this process and worked one after another: the reference `ShardGroup`.
public final class ShardArray: ShardGroup {
    public var shards: [ShardOptimizer]
    public let constraints: ConstraintSet
    public var shardCount: Int { shards.count }
    public var customerCount: Int { shards.reduce(0) { $0 + $1.table.customerCount } }

    public init(_ shards: [ShardOptimizer], constraints: ConstraintSet) {
        self.shards = shards
        self.constraints = constraints
    }

    public func precheckFacts() throws -> PrecheckFacts {
        var f = PrecheckFacts(rows: constraints.count)
        for s in shards { f.add(.of(s)) }
        return f
    }

    public func evaluate(_ request: PricingRequest, sample: CustomerSample) throws -> Aggregates {
        var total = Aggregates(rows: constraints.count)
        for i in shards.indices { total.add(shards[i].evaluate(request, sample: sample)) }
        return total
    }

    public func splitCustomers(_ request: PricingRequest, active: [[UInt8]], passes: [[UInt32]]) throws -> [[SplitCustomer]] {
        shards.indices.map { shards[$0].splitCustomers(request, active: active, passes: passes) }
    }

    public func withAllCandidates(_ customers: [[Int32]]) throws -> [[SplitCustomer]] {
        shards.indices.map { i in i < customers.count ? shards[i].withAllCandidates(customers[i]) : [] }
    }

    public func copySelection(from: Int, to: Int) throws {
        for i in shards.indices { shards[i].copySelection(from: from, to: to) }
    }

    public func state(slot: Int) throws -> SelectionState {
        var st = SelectionState(rows: constraints.count + 1)
        for s in shards { st.add(s.state(slot: slot)) }
        return st
    }

    public func proposals(slot: Int, goal: Repair.Goal, use: [Int64], limit: Int) throws -> [Repair.MoveList] {
        shards.enumerated().map { i, s in Repair.proposalList(s, shard: i, slot: slot, goal: goal, use: use, limit: limit) }
    }

    public func apply(_ changes: [[Repair.Change]], slot: Int) throws {
        for (i, c) in changes.enumerated() where !c.isEmpty { shards[i].apply(c, slot: slot) }
    }
}
