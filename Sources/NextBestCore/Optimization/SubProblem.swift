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
    private var familyOf: ContiguousArray<Int32> = []
    /// One per family (`maxPerFamily == 1`): the family's best positive value so far (0: none) and its
    /// entry (-1: none); one more at the end, where the pass writes an entry that does not better its
    /// family's best (never read). A second pair of tables for the second customer of `solvePair`.
    private var familyBest: ContiguousArray<Double>
    private var familyBestIndex: ContiguousArray<Int32>
    private var familyBest2: ContiguousArray<Double>
    private var familyBestIndex2: ContiguousArray<Int32>
    /// Scratch for the pick: one key per family (`pickFamilyBests`).
    private var familyKeys: ContiguousArray<UInt128>

    public init(plan: ScoringPlan) {
        maxOffers = plan.campaign.perCustomer.maxOffers
        maxPerFamily = Int32(plan.campaign.perCustomer.maxPerFamily)
        offerFamily = ContiguousArray(plan.offers.map { Int32($0.family) })
        order = ContiguousArray(repeating: 0, count: plan.offers.reduce(0) { $0 + $1.channels.count } + 1)
        values = ContiguousArray(repeating: 0, count: plan.offers.reduce(0) { $0 + $1.channels.count } + 1)
        familyUse = ContiguousArray(repeating: 0, count: plan.families.count)
        familyBest = ContiguousArray(repeating: 0, count: plan.families.count + 1)
        familyBestIndex = ContiguousArray(repeating: -1, count: plan.families.count + 1)
        familyBest2 = familyBest
        familyBestIndex2 = familyBestIndex
        familyKeys = ContiguousArray(repeating: 0, count: max(1, plan.families.count))
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
        let n = candidates.count
        if values.count < n { values = ContiguousArray(repeating: 0, count: n) }
        if familyOf.count < n { familyOf = ContiguousArray(repeating: 0, count: n) }
        if order.count < n { order = ContiguousArray(repeating: 0, count: n) }
        // Per offer its best channel, if its adjusted value is positive: (candidate index, value) pairs in
        // candidate order.
        var m = 0
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
            if bestValue > 0 { order[m] = Int32(best); values[m] = bestValue; familyOf[m] = offerFamily[Int(offer)]; m += 1 }
            i = j
        }
        return takeBest(count: m, into: &chosen)
    }

    /// The same choice over a customer's offer entries (see `OfferEntries`): entry k's value is its base
    /// (`bases[k]`) less the best channel's price for its slot (`price[slots[k]]`) and `fixed`; its family is
    /// `slotFamily[slots[k]]`. Appends the chosen entries' indices to `chosen`.
    @usableFromInline
    mutating func solve(bases: UnsafeBufferPointer<Double>, slots: UnsafePointer<UInt16>, slotFamily: UnsafePointer<UInt8>,
                        price: UnsafePointer<Double>, fixed: Double, into chosen: inout ContiguousArray<Int32>) -> Double {
        if maxPerFamily == 1 { return solveOnePerFamily(bases: bases, slots: slots, slotFamily: slotFamily, price: price, fixed: fixed, into: &chosen) }
        let n = bases.count
        if values.count < n { values = ContiguousArray(repeating: 0, count: n) }
        if familyOf.count < n { familyOf = ContiguousArray(repeating: 0, count: n) }
        if order.count < n { order = ContiguousArray(repeating: 0, count: n) }
        // Every entry is written at the next place and kept only if positive: no data-dependent branch.
        var m = 0
        order.withUnsafeMutableBufferPointer { order in
        values.withUnsafeMutableBufferPointer { values in
        familyOf.withUnsafeMutableBufferPointer { familyOf in
            for k in 0..<n {
                let slot = Int(slots[k])
                let v = bases[k] - price[slot] - fixed
                order[m] = Int32(truncatingIfNeeded: k)
                values[m] = v
                familyOf[m] = Int32(slotFamily[slot])
                m += v > 0 ? 1 : 0
            }
        }}}
        return takeBest(count: m, into: &chosen)
    }

    /// Whether `solvePair` applies: a family gives at most one offer.
    @inlinable public var solvesPairs: Bool { maxPerFamily == 1 }

    /// `solve(bases:)` when a family gives at most one offer: the greedy over all offers that skips full
    /// families takes exactly the best offer of each family, best first, so one pass keeps each family's
    /// best (entries come in index order, so the first of equal values stays, as the ties rule asks) and
    /// the pick runs over the families. Same choice, same order, same sum as the general path.
    @usableFromInline
    mutating func solveOnePerFamily(bases: UnsafeBufferPointer<Double>, slots: UnsafePointer<UInt16>, slotFamily: UnsafePointer<UInt8>,
                                    price: UnsafePointer<Double>, fixed: Double, into chosen: inout ContiguousArray<Int32>) -> Double {
        let maxOffers = self.maxOffers
        return familyBest.withUnsafeMutableBufferPointer { best in
            familyBestIndex.withUnsafeMutableBufferPointer { bestIndex in
                familyKeys.withUnsafeMutableBufferPointer { keys in
                    Self.keepFamilyBests(bases: bases, slots: slots, slotFamily: slotFamily, price: price, fixed: fixed,
                                         best: best.baseAddress!, bestIndex: bestIndex.baseAddress!, spare: best.count - 1)
                    return Self.pickFamilyBests(best, bestIndex, keys: keys, maxOffers: maxOffers, into: &chosen)
                }
            }
        }
    }

    /// Two customers' sub-problems at once when a family gives at most one offer (`solvesPairs`): each the
    /// choice `solve(bases:)` makes for it alone, into `chosen` and `chosen2`; returns both sums.
    ///
    /// A customer's pass is one chain of dependent steps (an entry's family best is read after the last
    /// entry's was written), so the core mostly waits; the two customers' passes are independent and run
    /// interleaved, entry by entry (bench/RESULTS.md, 2026-12-07, fifteenth session).
    @inlinable
    public mutating func solvePair(bases: UnsafeBufferPointer<Double>, slots: UnsafePointer<UInt16>, price: UnsafePointer<Double>, fixed: Double,
                                   bases2: UnsafeBufferPointer<Double>, slots2: UnsafePointer<UInt16>, price2: UnsafePointer<Double>, fixed2: Double,
                                   slotFamily: UnsafePointer<UInt8>,
                                   into chosen: inout ContiguousArray<Int32>, _ chosen2: inout ContiguousArray<Int32>) -> (Double, Double) {
        solvePairImpl(bases: bases, slots: slots, price: price, fixed: fixed, bases2: bases2, slots2: slots2, price2: price2, fixed2: fixed2,
                      slotFamily: slotFamily, into: &chosen, &chosen2)
    }

    @usableFromInline
    mutating func solvePairImpl(bases: UnsafeBufferPointer<Double>, slots: UnsafePointer<UInt16>, price: UnsafePointer<Double>, fixed: Double,
                                bases2: UnsafeBufferPointer<Double>, slots2: UnsafePointer<UInt16>, price2: UnsafePointer<Double>, fixed2: Double,
                                slotFamily: UnsafePointer<UInt8>,
                                into chosen: inout ContiguousArray<Int32>, _ chosen2: inout ContiguousArray<Int32>) -> (Double, Double) {
        precondition(maxPerFamily == 1, "solvePair is for one offer per family")
        let maxOffers = self.maxOffers
        return familyBest.withUnsafeMutableBufferPointer { best in
        familyBestIndex.withUnsafeMutableBufferPointer { bestIndex in
        familyBest2.withUnsafeMutableBufferPointer { best2 in
        familyBestIndex2.withUnsafeMutableBufferPointer { bestIndex2 in
        familyKeys.withUnsafeMutableBufferPointer { keys in
            let spare = best.count - 1
            let b = best.baseAddress!, bi = bestIndex.baseAddress!, b2 = best2.baseAddress!, bi2 = bestIndex2.baseAddress!
            let common = min(bases.count, bases2.count)
            for k in 0..<common {
                let slot = Int(slots[k]), slot2 = Int(slots2[k])
                let v = bases[k] - price[slot] - fixed, v2 = bases2[k] - price2[slot2] - fixed2
                let f = Int(slotFamily[slot]), f2 = Int(slotFamily[slot2])
                let to = v > b[f] ? f : spare, to2 = v2 > b2[f2] ? f2 : spare
                b[to] = v; bi[to] = Int32(truncatingIfNeeded: k)
                b2[to2] = v2; bi2[to2] = Int32(truncatingIfNeeded: k)
            }
            // The longer customer's last entries alone.
            Self.keepFamilyBests(bases: UnsafeBufferPointer(rebasing: bases[common...]), slots: slots + common, slotFamily: slotFamily,
                                 price: price, fixed: fixed, best: b, bestIndex: bi, spare: spare, first: common)
            Self.keepFamilyBests(bases: UnsafeBufferPointer(rebasing: bases2[common...]), slots: slots2 + common, slotFamily: slotFamily,
                                 price: price2, fixed: fixed2, best: b2, bestIndex: bi2, spare: spare, first: common)
            return (Self.pickFamilyBests(best, bestIndex, keys: keys, maxOffers: maxOffers, into: &chosen),
                    Self.pickFamilyBests(best2, bestIndex2, keys: keys, maxOffers: maxOffers, into: &chosen2))
        }}}}}
    }

    /// Each family's best positive entry (value and index, `first` + its position in `bases`), kept where the
    /// tables hold the entries seen before. No data-dependent branch (which entries win is unpredictable,
    /// and a mispredicted branch per entry cost more than the rest of the pass): a family's best starts at
    /// 0, so "positive and better" is one comparison, and an entry is written where it goes, its family's
    /// place when it is better and the spare place after the families otherwise, a conditional move. (Written
    /// as a select of the value, the compiler made the store conditional, a branch per entry; the package
    /// builds NextBestCore with x86's conversion of conditional moves into branches turned off, which made
    /// the place a branch too.)
    @inline(__always) @usableFromInline
    static func keepFamilyBests(bases: UnsafeBufferPointer<Double>, slots: UnsafePointer<UInt16>, slotFamily: UnsafePointer<UInt8>,
                                price: UnsafePointer<Double>, fixed: Double, best: UnsafeMutablePointer<Double>,
                                bestIndex: UnsafeMutablePointer<Int32>, spare: Int, first: Int = 0) {
        for k in 0..<bases.count {
            let slot = Int(slots[k])
            let v = bases[k] - price[slot] - fixed
            let f = Int(slotFamily[slot])
            let to = v > best[f] ? f : spare
            best[to] = v
            bestIndex[to] = Int32(truncatingIfNeeded: first &+ k)
        }
    }

    /// Takes the families' bests, best first (ties: the earlier entry), up to `maxOffers`; appends their
    /// entries to `chosen`, returns the sum of their values in the order taken, and clears the tables.
    ///
    /// Each family with an entry gets one key, its value's bits above its entry's index reversed (a family's best
    /// with an entry is positive, and positive doubles order as their bit patterns do; the earlier entry gives
    /// the larger key), 0 without one; each pick is the largest key, found by conditional moves. Comparing the
    /// values and the indices apart was a branch on each (half of them mispredicted: the pick was a third of
    /// the pass at 1 M customers).
    @inline(__always) @usableFromInline
    static func pickFamilyBests(_ best: UnsafeMutableBufferPointer<Double>, _ bestIndex: UnsafeMutableBufferPointer<Int32>,
                                keys: UnsafeMutableBufferPointer<UInt128>, maxOffers: Int, into chosen: inout ContiguousArray<Int32>) -> Double {
        let families = best.count - 1
        for f in 0..<families {
            let i = bestIndex[f]
            let key = UInt128(best[f].bitPattern) << 64 | UInt128(UInt32(bitPattern: Int32.max &- i))
            keys[f] = i >= 0 ? key : 0
            best[f] = 0; bestIndex[f] = -1
        }
        var total = 0.0
        var taken = 0
        while taken < maxOffers {
            var bk: UInt128 = 0, bf = 0
            for f in 0..<families {
                let k = keys[f], larger = k > bk
                bk = larger ? k : bk; bf = larger ? f : bf
            }
            if bk == 0 { break }
            chosen.append(Int32.max &- Int32(bitPattern: UInt32(truncatingIfNeeded: bk)))
            total += Double(bitPattern: UInt64(truncatingIfNeeded: bk >> 64))
            taken += 1
            keys[bf] = 0
        }
        return total
    }

    /// Takes the `m` values in `values`/`order`/`familyOf` by value (ties: lower `order`), skipping full
    /// families, up to `maxOffers`: a scan for the best remaining one per pick, as only a few are taken.
    /// Appends the taken `order` entries to `chosen`; returns the sum of their values, in the order taken.
    @usableFromInline
    mutating func takeBest(count: Int, into chosen: inout ContiguousArray<Int32>) -> Double {
        var m = count
        if m == 0 { return 0 }
        for f in 0..<familyUse.count { familyUse[f] = 0 }
        var total = 0.0
        var taken = 0
        while taken < maxOffers && m > 0 {
            var bp = 0
            var bi = order[0]
            var bv = values[0]
            for p in 1..<m {
                let v = values[p], idx = order[p]
                if v > bv || (v == bv && idx < bi) { bp = p; bi = idx; bv = v }
            }
            let fam = Int(familyOf[bp])
            m -= 1
            order[bp] = order[m]
            values[bp] = values[m]
            familyOf[bp] = familyOf[m]
            if familyUse[fam] >= maxPerFamily { continue }
            familyUse[fam] += 1
            chosen.append(bi)
            total += bv
            taken += 1
        }
        return total
    }
}
