/// Solves one customer's sub-problem exactly: given each candidate's adjusted value (objective minus
/// priced resource use), choose at most one channel per offer, at most `maxOffers` offers and at most
/// `maxPerFamily` per family, maximizing the sum of adjusted values. Per offer the best channel is kept,
/// then offers are taken by adjusted value (only positive ones), skipping full families — exact for
/// these nested limits (a laminar matroid). Ties break by offer index, then channel index.
public struct SubProblemSolver: Sendable {
    public let maxOffers: Int
    public let maxPerFamily: Int32
    /// Family index per plan offer.
    public let offerFamily: ContiguousArray<Int32>
    private var order: ContiguousArray<Int32>
    private var values: ContiguousArray<Double>
    private var familyUse: ContiguousArray<Int32>

    public init(plan: ScoringPlan) {
        maxOffers = plan.campaign.perCustomer.maxOffers
        maxPerFamily = Int32(plan.campaign.perCustomer.maxPerFamily)
        offerFamily = ContiguousArray(plan.offers.map { Int32($0.family) })
        order = []
        order.reserveCapacity(plan.offers.count)
        values = ContiguousArray(repeating: 0, count: plan.offers.reduce(0) { $0 + $1.channels.count } + 1)
        familyUse = ContiguousArray(repeating: 0, count: plan.families.count)
    }

    /// Chooses from `candidates` (grouped by offer, channels ascending); appends chosen indices (into
    /// `candidates`) to `chosen` in order of adjusted value and returns the sum of their adjusted values.
    @inlinable
    public mutating func solve(_ candidates: UnsafeBufferPointer<Candidate>, adjusted: (Candidate) -> Double,
                               into chosen: inout ContiguousArray<Int32>) -> Double {
        solveImpl(candidates, adjusted: adjusted, into: &chosen)
    }

    @usableFromInline
    mutating func solveImpl(_ candidates: UnsafeBufferPointer<Candidate>, adjusted: (Candidate) -> Double,
                            into chosen: inout ContiguousArray<Int32>) -> Double {
        order.removeAll(keepingCapacity: true)
        let n = candidates.count
        if values.count < n { values = ContiguousArray(repeating: 0, count: n) }
        var i = 0
        while i < n {
            let offer = candidates[i].offer
            var best = i
            var bestValue = adjusted(candidates[i])
            var j = i + 1
            while j < n && candidates[j].offer == offer {
                let v = adjusted(candidates[j])
                if v > bestValue { best = j; bestValue = v }
                j += 1
            }
            if bestValue > 0 { order.append(Int32(best)); values[best] = bestValue }
            i = j
        }
        let vals = values
        order.withUnsafeMutableBufferPointer { buf in
            insertionSort(buf) { a, b in
                let va = vals[Int(a)], vb = vals[Int(b)]
                return va > vb || (va == vb && a < b)
            }
        }
        for f in 0..<familyUse.count { familyUse[f] = 0 }
        var total = 0.0
        var taken = 0
        for idx in order {
            if taken >= maxOffers { break }
            let fam = Int(offerFamily[Int(candidates[Int(idx)].offer)])
            if familyUse[fam] >= maxPerFamily { continue }
            familyUse[fam] += 1
            chosen.append(idx)
            total += vals[Int(idx)]
            taken += 1
        }
        return total
    }
}
