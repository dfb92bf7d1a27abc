/// A shard's candidates folded to one entry per (customer, offer) for the price rounds.
///
/// A customer's channels for an offer differ only in their cost and priced use, which are the same for
/// every customer; which channels are eligible depends on the customer (a bit mask). So each round the best
/// channel of every (offer, eligible mask) pair is found once, and a customer's offer is then one
/// subtraction: `base − bestPrice[offer, mask] − fixed`, where `base` is the objective before the channel's
/// part (`expected value + cost` for the expected-value objective, the propensity otherwise).
public struct OfferEntries: Sendable {
    /// One customer's offer: its first candidate, the eligible channels and the channel-free objective.
    @usableFromInline
    struct Entry: Sendable {
        @usableFromInline var base: Double
        /// Index of the offer's first candidate in the table.
        @usableFromInline var first: Int32
        /// `slotBase[offer] + mask`: where this offer's best channel for this mask is kept each round.
        @usableFromInline var slot: UInt16
        @usableFromInline var family: UInt8
    }

    /// Channels per offer above which the table of masks would be too large (the rounds then use the
    /// candidates directly).
    public static let maxChannels = 8

    @usableFromInline let entries: ContiguousArray<Entry>
    /// `offsets[i]..<offsets[i + 1]` are customer i's entries.
    @usableFromInline let offsets: ContiguousArray<Int32>
    /// Per offer, its first slot (slots `slotBase[o] ..< slotBase[o] + 2^channels`).
    let slotBase: [Int]
    let slotCount: Int
    /// Per offer: its channels' plan indices and the objective's per-channel part (the cost, or 0).
    let channels: [[Int]]
    let channelObjective: [[Double]]

    /// Builds the entries of a table, or nil if an offer has more channels, or the plan more offers or
    /// families, than the layout holds.
    public init?(plan: ScoringPlan, table: CandidateTable) {
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
        // Position of a channel in its offer's list.
        var position = [Int](repeating: -1, count: plan.offers.count * channelCount)
        for (oi, o) in plan.offers.enumerated() { for (k, c) in o.channels.enumerated() { position[oi * channelCount + c] = k } }
        var entries = ContiguousArray<Entry>()
        var offsets = ContiguousArray<Int32>()
        offsets.reserveCapacity(table.customerCount + 1)
        offsets.append(0)
        // Count first and allocate once: growing a shard-sized array by doubling costs more in fresh pages
        // (the kernel clears each) and copies than the count.
        table.candidates.withUnsafeBufferPointer { cands in
            var n = 0
            for i in 0..<table.customerCount {
                let r = table.range(i)
                for j in r where j == r.lowerBound || cands[j].offer != cands[j - 1].offer { n += 1 }
            }
            entries.reserveCapacity(n)
        }
        table.candidates.withUnsafeBufferPointer { cands in
            for i in 0..<table.customerCount {
                let r = table.range(i)
                var j = r.lowerBound
                while j < r.upperBound {
                    let offer = Int(cands[j].offer)
                    let k0 = position[offer * channelCount + Int(cands[j].channel)]
                    var mask = 0
                    var e = j
                    while e < r.upperBound && Int(cands[e].offer) == offer {
                        mask |= 1 << position[offer * channelCount + Int(cands[e].channel)]
                        e += 1
                    }
                    let c = cands[j]
                    let base = c.objective + channelObjective[offer][k0]
                    entries.append(Entry(base: base, first: Int32(j), slot: UInt16(slotBase[offer] + mask),
                                         family: UInt8(plan.offers[offer].family)))
                    j = e
                }
                offsets.append(Int32(entries.count))
            }
        }
        self.entries = entries
        self.offsets = offsets
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
