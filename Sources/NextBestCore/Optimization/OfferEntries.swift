/// A shard's candidates folded to one entry per (customer, offer) for the price rounds.
///
/// A customer's channels for an offer differ only in their cost and priced use, which are the same for
/// every customer; which channels are eligible depends on the customer (a bit mask). So each round the best
/// channel of every (offer, eligible mask) pair is found once, and a customer's offer is then one
/// subtraction: `base − bestPrice[offer, mask] − fixed`, where `base` is the objective before the channel's
/// part (`expected value + cost` for the expected-value objective, the propensity otherwise).
///
/// This value holds the layout (slots per offer and mask); the entries themselves go into a `Block`: a
/// table made with the layout builds every customer's as it is appended, while its candidates are in
/// cache (`CandidateTable.init(rule:entries:)`); otherwise a shard builds them from its candidates.
public struct OfferEntries: Sendable {
    /// The entries of some customers, one array per field: `offsets[n]..<offsets[n + 1]` are the n-th
    /// customer's. An entry is its channel-free objective (`bases`), its slot (`slots`: `slotBase[offer] +
    /// mask`, where this offer's best channel for this mask is kept each round) and where its candidates
    /// start among its customer's (`skips`; a customer has fewer candidates than the layout has slots).
    /// Twelve bytes an entry, where a record holding the table index took sixteen.
    public struct Block: Sendable, Equatable {
        var bases = ContiguousArray<Double>()
        var slots = ContiguousArray<UInt16>()
        var skips = ContiguousArray<UInt16>()
        var offsets: ContiguousArray<Int32> = [0]

        /// An empty block with room for `customers` customers and `entries` entries (pages never written
        /// are never backed).
        init(customers: Int = 0, entries: Int = 0) {
            offsets.reserveCapacity(customers + 1)
            bases.reserveCapacity(entries)
            slots.reserveCapacity(entries)
            skips.reserveCapacity(entries)
        }

        /// A block of these arrays (`offsets` starting at 0 and ending at the entries' count).
        init(bases: ContiguousArray<Double>, slots: ContiguousArray<UInt16>, skips: ContiguousArray<UInt16>, offsets: ContiguousArray<Int32>) {
            precondition(offsets.first == 0 && Int(offsets.last ?? -1) == bases.count && slots.count == bases.count && skips.count == bases.count,
                         "an offer entries block's arrays disagree")
            self.bases = bases; self.slots = slots; self.skips = skips; self.offsets = offsets
        }

        /// The number of customers.
        var count: Int { offsets.count - 1 }

        /// The entries of the customers at `positions` (in this block), in that order.
        func gathered(_ positions: ContiguousArray<Int32>) -> Block {
            var n = 0
            for p in positions { n += Int(offsets[Int(p) + 1] - offsets[Int(p)]) }
            var out = Block(customers: positions.count, entries: n)
            for p in positions {
                let r = Int(offsets[Int(p)])..<Int(offsets[Int(p) + 1])
                out.bases.append(contentsOf: bases[r])
                out.slots.append(contentsOf: slots[r])
                out.skips.append(contentsOf: skips[r])
                out.offsets.append(Int32(out.bases.count))
            }
            return out
        }
    }

    /// Channels per offer above which the table of masks would be too large (the rounds then use the
    /// candidates directly).
    public static let maxChannels = 8

    /// Per offer, its first slot (slots `slotBase[o] ..< slotBase[o] + 2^channels`).
    let slotBase: [Int]
    let slotCount: Int
    /// Per offer: its channels' plan indices and the objective's per-channel part (the cost, or 0).
    let channels: [[Int]]
    let channelObjective: [[Double]]
    /// Position of a channel in its offer's list (`offer * channelCount + channel`), -1 if not listed.
    let position: ContiguousArray<Int32>
    /// The objective's part of each (offer, position) pair (`offer * maxChannels + position`).
    let flatChannelObjective: ContiguousArray<Double>
    let offerSlotBase: ContiguousArray<Int32>
    /// Per slot: its offer.
    let slotOffer: ContiguousArray<UInt16>
    let offerFamily: ContiguousArray<UInt8>
    /// Per slot: its offer's family.
    let slotFamily: ContiguousArray<UInt8>
    let channelCount: Int

    /// The layout for a plan, or nil if an offer has more channels, or the plan more offers or families,
    /// than the layout holds.
    public init?(plan: ScoringPlan) {
        guard plan.offers.allSatisfy({ $0.channels.count <= Self.maxChannels }), plan.families.count <= 255 else { return nil }
        var slotBase: [Int] = []
        var n = 0
        for o in plan.offers { slotBase.append(n); n += 1 << o.channels.count }
        guard n <= Int(UInt16.max) else { return nil }
        self.slotBase = slotBase
        slotCount = n
        channels = plan.offers.map(\.channels)
        let expectedValue = plan.campaign.objective != .propensity
        let channelObjective = plan.offers.map { o in expectedValue ? o.cost : o.cost.map { _ in 0.0 } }
        self.channelObjective = channelObjective
        let channelCount = plan.channels.count
        self.channelCount = channelCount
        var position = ContiguousArray<Int32>(repeating: -1, count: plan.offers.count * channelCount)
        for (oi, o) in plan.offers.enumerated() { for (k, c) in o.channels.enumerated() { position[oi * channelCount + c] = Int32(k) } }
        self.position = position
        var flat = ContiguousArray<Double>(repeating: 0, count: plan.offers.count * Self.maxChannels)
        for (oi, co) in channelObjective.enumerated() { for (k, v) in co.enumerated() { flat[oi * Self.maxChannels + k] = v } }
        flatChannelObjective = flat
        offerSlotBase = ContiguousArray(slotBase.map { Int32($0) })
        offerFamily = ContiguousArray(plan.offers.map { UInt8($0.family) })
        var family = ContiguousArray<UInt8>(repeating: 0, count: n), offerOfSlot = ContiguousArray<UInt16>(repeating: 0, count: n)
        for (oi, o) in plan.offers.enumerated() {
            for mask in 0..<(1 << o.channels.count) { family[slotBase[oi] + mask] = UInt8(o.family); offerOfSlot[slotBase[oi] + mask] = UInt16(oi) }
        }
        slotFamily = family
        slotOffer = offerOfSlot
    }

    /// Builds the entries of customers `lower..<upper` of `table`, or of the customers listed in `only`
    /// (indices, in that order), into `block`, reusing its memory.
    func build(_ table: CandidateTable, customers lower: Int, _ upper: Int, only: UnsafeBufferPointer<Int32>? = nil, into block: inout Block) {
        block.bases.removeAll(keepingCapacity: true)
        block.slots.removeAll(keepingCapacity: true)
        block.skips.removeAll(keepingCapacity: true)
        block.offsets.removeAll(keepingCapacity: true)
        block.offsets.append(0)
        let count = only?.count ?? (upper - lower)
        table.candidates.withUnsafeBufferPointer { cands in
        table.values.withUnsafeBufferPointer { allValues in
        table.offsets.withUnsafeBufferPointer { offsets in
            // Allocate once, for at most one entry per candidate: growing a large array by doubling costs
            // fresh pages (the kernel clears each) and copies.
            var n = 0
            for k in 0..<count {
                let i = only.map { Int($0[k]) } ?? lower + k
                n += Int(offsets[i + 1]) - Int(offsets[i])
            }
            block.offsets.reserveCapacity(count + 1)
            block.bases.reserveCapacity(n)
            block.slots.reserveCapacity(n)
            block.skips.reserveCapacity(n)
            for k in 0..<count {
                let i = only.map { Int($0[k]) } ?? lower + k
                append(UnsafeBufferPointer(rebasing: cands[Int(offsets[i])..<Int(offsets[i + 1])]),
                       values: table.customerValues(allValues, i), rule: table.rule, to: &block)
            }
        }}}
    }

    /// Appends one customer's entries (its candidates `cands`, grouped by offer, and its kept values) to
    /// `block`: one entry per offer, its mask of eligible channels and its channel-free objective.
    func append(_ cands: UnsafeBufferPointer<Candidate>, values: UnsafeBufferPointer<Float>, rule: ExpectedValueRule, to block: inout Block) {
        let hi = max(cands.count, 1)
        // The customer's entries are built on the stack and appended three arrays at once: appending entry
        // by entry checked each array's uniqueness and capacity for every entry.
        withWriter(rule: rule) { writer in
        withUnsafeTemporaryAllocation(of: Double.self, capacity: hi) { bases in
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: 2 * hi) { slotsAndSkips in
            let n = writer.write(cands, values: values, bases: bases.baseAddress!, slots: slotsAndSkips.baseAddress!,
                                 skips: slotsAndSkips.baseAddress! + hi)
            block.bases.append(contentsOf: UnsafeBufferPointer(rebasing: bases[0..<n]))
            block.slots.append(contentsOf: UnsafeBufferPointer(rebasing: slotsAndSkips[0..<n]))
            block.skips.append(contentsOf: UnsafeBufferPointer(rebasing: slotsAndSkips[hi..<(hi + n)]))
            block.offsets.append(Int32(block.bases.count))
        }}}
    }

    /// The layout's and a rule's tables as buffers, reached once for as many customers as the caller writes
    /// (`withWriter`): reaching them per entry through `rule.objective` retained and released them (a tenth of
    /// the entries' time).
    struct Writer {
        let position: UnsafeBufferPointer<Int32>
        let channelObjective: UnsafeBufferPointer<Double>
        let slotBase: UnsafeBufferPointer<Int32>
        let slotOffer: UnsafeBufferPointer<UInt16>
        let valueIndex: UnsafeBufferPointer<Int32>
        let fixedValue: UnsafeBufferPointer<Double>
        let pairCost: UnsafeBufferPointer<Double>
        let propensityObjective: Bool
        let ruleChannels: Int
        let channelCount: Int

        /// Writes one customer's entries (its candidates `cands`, grouped by offer, and its values) to `bases`,
        /// `slots` and `skips` (room for one entry per candidate each) and returns how many it wrote. A
        /// rebuild (`CandidateTable.rebuilt`) writes only the changed offers' entries this way and copies the
        /// others from the held table's block.
        @inline(__always)
        func write(_ cands: UnsafeBufferPointer<Candidate>, values: UnsafeBufferPointer<Float>,
                   bases: UnsafeMutablePointer<Double>, slots: UnsafeMutablePointer<UInt16>, skips: UnsafeMutablePointer<UInt16>) -> Int {
            let hi = cands.count
            var j = 0, n = 0
            while j < hi {
                let c = cands[j]
                let offer = Int(c.offer)
                let k0 = Int(position[offer &* channelCount &+ Int(c.channel)])
                var mask = 1 << k0
                var e = j + 1
                while e < hi && Int(cands[e].offer) == offer {
                    mask |= 1 << Int(position[offer &* channelCount &+ Int(cands[e].channel)])
                    e += 1
                }
                let objective = propensityObjective ? Double(c.propensity)
                    : ExpectedValueRule.expectedValue(c, values: values, index: valueIndex, fixed: fixedValue, cost: pairCost, channelCount: ruleChannels)
                bases[n] = objective + channelObjective[offer &* OfferEntries.maxChannels &+ k0]
                slots[n] = UInt16(Int(slotBase[offer]) + mask)
                skips[n] = UInt16(truncatingIfNeeded: j)
                n &+= 1
                j = e
            }
            return n
        }
    }

    /// Calls `body` with a writer of this layout's entries for `rule` (the plan's).
    func withWriter<R>(rule: ExpectedValueRule, _ body: (Writer) throws -> R) rethrows -> R {
        try position.withUnsafeBufferPointer { position in
        try flatChannelObjective.withUnsafeBufferPointer { channelObjective in
        try offerSlotBase.withUnsafeBufferPointer { slotBase in
        try slotOffer.withUnsafeBufferPointer { slotOffer in
        try rule.offerValueIndex.withUnsafeBufferPointer { valueIndex in
        try rule.offerValue.withUnsafeBufferPointer { fixedValue in
        try rule.pairCost.withUnsafeBufferPointer { pairCost in
            try body(Writer(position: position, channelObjective: channelObjective, slotBase: slotBase, slotOffer: slotOffer, valueIndex: valueIndex,
                            fixedValue: fixedValue, pairCost: pairCost, propensityObjective: rule.propensityObjective,
                            ruleChannels: rule.channelCount, channelCount: channelCount))
        }}}}}}}
    }

    /// Each slot's best channel for one round.
    struct BestChannels {
        /// The objective's channel part plus the priced use of the best channel (+∞ for an empty mask).
        var price: ContiguousArray<Double>
        /// Its position among the eligible candidates (the offer's candidates hold only those channels).
        var position: ContiguousArray<Int32>
        /// Its position in the offer's channel list.
        var channel: ContiguousArray<Int32>
    }

    /// For prices given as the priced use of each (offer, channel) pair (`pairPrice[offer * channelCount +
    /// channel]`): per slot the best channel. First channel wins ties, as in `SubProblemSolver`.
    func bestChannels(pairPrice: ContiguousArray<Double>, channelCount: Int) -> BestChannels {
        var best = BestChannels(price: ContiguousArray(repeating: .infinity, count: slotCount),
                                position: ContiguousArray(repeating: 0, count: slotCount),
                                channel: ContiguousArray(repeating: 0, count: slotCount))
        for (o, chans) in channels.enumerated() {
            for mask in 1..<(1 << chans.count) {
                var price = Double.infinity, position: Int32 = 0, channel: Int32 = 0, seen: Int32 = 0
                for (k, ch) in chans.enumerated() where mask & (1 << k) != 0 {
                    // The objective's channel part plus the priced use, as the rounds subtract them.
                    let p = channelObjective[o][k] + pairPrice[o * channelCount + ch]
                    if p < price { price = p; position = seen; channel = Int32(k) }
                    seen += 1
                }
                best.price[slotBase[o] + mask] = price
                best.position[slotBase[o] + mask] = position
                best.channel[slotBase[o] + mask] = channel
            }
        }
        return best
    }
}
