/// Makes the selection found at the final prices satisfy every campaign-wide constraint, losing as little
/// objective as it can, then uses any slack left to add value. Deterministic: moves are ranked by
/// objective lost per unit of resource, ties by customer id.
///
/// A move changes one customer's list: drop a chosen offer, swap it for another candidate (another
/// channel, another offer), or add a candidate. No move may push another constraint past its max, or
/// below its min when it is met. The shards only propose moves (each customer its best one); the choice
/// among them is global and made where the prices are kept (`Repair.run` over a `ShardGroup`), so it is the
/// same in one process and over the wire.
public enum Repair {
    /// Row use of one candidate: its budget row (cost in micro-money), product, channel, region and segment
    /// rows (one offer each). A row equal to the number of constraints means "no such row".
    public struct Use: Sendable, Hashable {
        public var budget: Int32, product: Int32, channel: Int32, region: Int32, segment: Int32
        public var cost: Int64
        public init(budget: Int32, product: Int32, channel: Int32, region: Int32, segment: Int32, cost: Int64) {
            self.budget = budget; self.product = product; self.channel = channel; self.region = region; self.segment = segment; self.cost = cost
        }
        /// No use at all (an absent side of a move).
        public static func none(rows: Int) -> Use {
            let n = Int32(rows)
            return Use(budget: n, product: n, channel: n, region: n, segment: n, cost: 0)
        }
        /// This use's amount of row `k`: the cost for the budget row, one offer for the others.
        @inline(__always) func amount(_ k: Int32) -> Int64 {
            (budget == k ? cost : 0) + (product == k ? 1 : 0) + (channel == k ? 1 : 0) + (region == k ? 1 : 0) + (segment == k ? 1 : 0)
        }
        @inline(__always) func touches(_ k: Int32) -> Bool {
            budget == k || product == k || channel == k || region == k || segment == k
        }
        /// Every row index is in `0...rows` (rows itself being "none").
        public func isValid(rows: Int) -> Bool {
            let n = UInt32(rows)
            // Unsigned: a negative row is out of range too (no array built: millions of moves are checked).
            return UInt32(bitPattern: budget) <= n && UInt32(bitPattern: product) <= n && UInt32(bitPattern: channel) <= n
                && UInt32(bitPattern: region) <= n && UInt32(bitPattern: segment) <= n
        }
    }

    /// A proposed change to one customer's list, with the row use of both sides so that whoever chooses
    /// among moves needs nothing else.
    public struct Move: Sendable, Equatable {
        public var shard: Int32
        /// The customer's index within its shard.
        public var customer: Int32
        /// Chosen candidate removed, or -1.
        public var remove: Int32
        /// Candidate added, or -1.
        public var add: Int32
        public var customerID: UInt64
        /// Objective lost per unit of the target row (lower is better).
        public var score: Double
        public var removeUse: Use
        public var addUse: Use
        public init(shard: Int32, customer: Int32, remove: Int32, add: Int32, customerID: UInt64, score: Double, removeUse: Use, addUse: Use) {
            self.shard = shard; self.customer = customer; self.remove = remove; self.add = add
            self.customerID = customerID
            self.score = score; self.removeUse = removeUse; self.addUse = addUse
        }
        /// The change the shard applies when the move is accepted.
        public var change: Change { Change(customer: customer, remove: remove, add: add) }
    }

    /// An accepted move as its shard applies it.
    public struct Change: Sendable, Equatable {
        public var customer: Int32
        public var remove: Int32
        public var add: Int32
        public init(customer: Int32, remove: Int32, add: Int32) { self.customer = customer; self.remove = remove; self.add = add }
    }

    /// What a repair pass aims at: bring a max row down, a min row up, or add value within every limit.
    public enum Goal: Sendable, Equatable {
        case reduce(Int), increase(Int), improve
        var target: Int? { switch self { case .reduce(let k), .increase(let k): return k; case .improve: return nil } }
        /// Its row (if any) is one of `rows` constraint rows.
        public func isValid(rows: Int) -> Bool { target.map { $0 >= 0 && $0 < rows } ?? true }
    }

    /// A constraint the repair could not satisfy.
    public struct Shortfall: Sendable, Equatable {
        public var row: Int
        public var use: Int64
    }

    static func rowUse(_ s: ShardOptimizer, customer i: Int, candidate ci: Int) -> Use {
        let none = Int32(s.constraints.count)
        let c = s.table.candidates[ci]
        let b = s.constraints.budgetRow >= 0 ? Int32(s.constraints.budgetRow) : none
        return Use(budget: b, product: s.productRowOfOffer[Int(c.offer)], channel: s.channelRowOf[Int(c.channel)],
                   region: s.regionRow(i), segment: s.segmentRow(i), cost: s.pairCostMicros[Int(c.offer) &* s.channelCount &+ Int(c.channel)])
    }

    @inline(__always) static func apply(_ u: Use, sign: Int64, to delta: inout [Int64]) {
        delta[Int(u.budget)] += sign * u.cost
        delta[Int(u.product)] += sign
        delta[Int(u.channel)] += sign
        delta[Int(u.region)] += sign
        delta[Int(u.segment)] += sign
    }

    /// Every row's bounds as plain integers (no bound: the extreme value), for the sparse check of a move:
    /// only the (at most ten) rows a move touches are looked at.
    struct Limits {
        let upper: [Int64]
        let lower: [Int64]
        init(_ rows: [ConstraintSet.Row]) {
            upper = rows.map { $0.upper ?? .max } + [.max]
            lower = rows.map { $0.lower ?? .min } + [.min]
        }

        /// Does the move that removes use `r` and adds use `a` keep every max (and every min that is met)
        /// satisfied, except the `target` row (-1 for none)? Only the rows the two touch are looked at.
        @inline(__always)
        func keepsOthers(use: [Int64], remove r: Use, add a: Use, target: Int32) -> Bool {
            use.withUnsafeBufferPointer { use in
                upper.withUnsafeBufferPointer { upper in
                    lower.withUnsafeBufferPointer { lower in
                        @inline(__always) func ok(_ k: Int32) -> Bool {
                            if k == target || Int(k) >= use.count - 1 { return true }
                            let d = a.amount(k) - r.amount(k)
                            if d == 0 { return true }
                            let after = use[Int(k)] + d
                            // A max may not be passed; a min may not be left (or be gone further from).
                            return d > 0 ? after <= upper[Int(k)] : after >= lower[Int(k)]
                        }
                        return ok(r.budget) && ok(r.product) && ok(r.channel) && ok(r.region) && ok(r.segment)
                            && ok(a.budget) && ok(a.product) && ok(a.channel) && ok(a.region) && ok(a.segment)
                    }
                }
            }
        }

        /// `keepsOthers` for uses built by a shard from its own tables (`Repair.rowUse`): each field's row is
        /// of that field's kind (or "none"), so a row's change comes from one field of each side: the same
        /// answer from at most ten single-row checks, and none where both sides share the row (a swap keeps
        /// the customer's region and segment, often the product or channel). The proposals' inner loop runs
        /// this for every move it scores; the coordinator's `choose` keeps the general check, since its uses
        /// come over the wire.
        @inline(__always)
        func keepsOthersSameKinds(use: UnsafeBufferPointer<Int64>, upper: UnsafeBufferPointer<Int64>, lower: UnsafeBufferPointer<Int64>,
                                  remove r: Use, add a: Use, target: Int32) -> Bool {
            let none = Int32(use.count - 1)
            @inline(__always) func ok(_ k: Int32, _ d: Int64) -> Bool {
                if d == 0 || k == target || k >= none { return true }
                let after = use[Int(k)] &+ d
                return d > 0 ? after <= upper[Int(k)] : after >= lower[Int(k)]
            }
            @inline(__always) func field(_ ka: Int32, _ kr: Int32, _ da: Int64, _ dr: Int64) -> Bool {
                ka == kr ? ok(ka, da &- dr) : (ok(ka, da) && ok(kr, 0 &- dr))
            }
            return field(a.budget, r.budget, a.cost, r.cost) && field(a.product, r.product, 1, 1) && field(a.channel, r.channel, 1, 1)
                && field(a.region, r.region, 1, 1) && field(a.segment, r.segment, 1, 1)
        }
    }

    // MARK: The shard's side

    /// Use of every row (plus a trailing "none" entry) and the objective of a slot's selection.
    public static func state(_ s: ShardOptimizer, slot: Int) -> SelectionState {
        var st = SelectionState(rows: s.constraints.count + 1)
        let mo = s.maxOffers, channelCount = s.channelCount
        let budget = s.constraints.budgetRow >= 0 ? s.constraints.budgetRow : s.constraints.count
        var objective: Int64 = 0
        // Over plain buffers: at 10 M customers this runs over 30 M chosen candidates several times a run
        // (the per-element array accesses through the optimizer cost ~3 s of CPU).
        let rule = s.table.rule
        st.use.withUnsafeMutableBufferPointer { use in
         s.table.values.withUnsafeBufferPointer { allValues in
          s.table.candidates.withUnsafeBufferPointer { cands in
            s.selections[slot].withUnsafeBufferPointer { sel in
              s.pairCostMicros.withUnsafeBufferPointer { pairCost in
                s.productRowOfOffer.withUnsafeBufferPointer { prow in
                  s.channelRowOf.withUnsafeBufferPointer { crow in
                    s.customerRegionRow.withUnsafeBufferPointer { rrow in
                      s.customerSegmentRow.withUnsafeBufferPointer { srow in
                        let customers = s.table.customerCount
                        for i in 0..<customers {
                          if i &+ ShardOptimizer.chosenAhead < customers {
                            ShardOptimizer.prefetchChosen(sel, cands, customer: i &+ ShardOptimizer.chosenAhead, maxOffers: mo)
                          }
                          for j in 0..<mo {
                            let ci = sel[i &* mo &+ j]
                            guard ci >= 0 else { continue }
                            let c = cands[Int(ci)]
                            use[budget] &+= pairCost[Int(c.offer) &* channelCount &+ Int(c.channel)]
                            use[Int(prow[Int(c.offer)])] &+= 1
                            use[Int(crow[Int(c.channel)])] &+= 1
                            use[Int(rrow[i])] &+= 1
                            use[Int(srow[i])] &+= 1
                            objective &+= RunTotals.micros(rule.objective(c, values: s.table.customerValues(allValues, i)))
                          }
                        }
                      }
                    }
                  }
                }
              }
            }
          }
         }
        }
        st.objectiveMicros = objective
        return st
    }

    /// Is the customer's list still valid after removing `remove` and adding `add`? (`family[o]` is plan
    /// offer o's family: read from a plain buffer, not through the plan's offers, in the proposals' loop.)
    @inline(__always)
    static func listAllows(_ cands: UnsafeBufferPointer<Candidate>, _ family: UnsafeBufferPointer<Int32>, maxOffers: Int, maxPerFamily: Int,
                           _ sel: UnsafeBufferPointer<Int32>, customer i: Int, remove: Int32, add: Int32) -> Bool {
        guard add >= 0 else { return true }
        let addOffer = cands[Int(add)].offer
        let fam = family[Int(addOffer)]
        var count = 0, famCount = 0
        for j in 0..<maxOffers {
            let ci = sel[i &* maxOffers &+ j]
            if ci < 0 || ci == remove { continue }
            if ci == add { return false }
            let o = cands[Int(ci)].offer
            if o == addOffer { return false }
            count += 1
            if family[Int(o)] == fam { famCount += 1 }
        }
        return count < maxOffers && famCount < maxPerFamily
    }

    /// Every customer's best move toward `goal` in one shard's slot, given the global `use`
    /// (`rows + 1` entries), sorted in the global order (`order`); if there are more than `limit`, only
    /// the best `limit`. Sorting here, on the shards' threads, leaves the coordinator a merge of sorted
    /// lists instead of a sort of every move (millions in an improve pass at 10 M customers).
    ///
    /// Per customer the moves are considered in a fixed order (drops, then per candidate not chosen: the
    /// add, then the swaps with each chosen one) and the first with the lowest score is kept. Moves that
    /// cannot reach the goal are never looked at: reducing a row needs a removed candidate that uses it,
    /// increasing one an added candidate that uses it.
    public static func proposals(_ s: ShardOptimizer, shard si: Int, slot: Int, goal: Goal, use: [Int64], limit: Int = .max) -> [Move] {
        Array(proposalList(s, shard: si, slot: slot, goal: goal, use: use, limit: limit))
    }

    /// `proposals` with, for an improve pass cut at `limit`, a summary of the moves left out
    /// (`Remainder`), so the coordinator can tell when none of them could be accepted any more.
    public static func proposalList(_ s: ShardOptimizer, shard si: Int, slot: Int, goal: Goal, use: [Int64], limit: Int = .max) -> MoveList {
        guard case .improve = goal, limit < s.table.customerCount else {
            return MoveList(allProposals(s, shard: si, slot: slot, goal: goal, use: use, limit: limit))
        }
        var moves = allProposals(s, shard: si, slot: slot, goal: goal, use: use, limit: .max)
        guard moves.count > limit else { return MoveList(moves) }
        let rest = Remainder.summary(of: moves[limit...], rows: s.constraints.count)
        moves.removeSubrange(limit...)
        return MoveList(moves, rest: rest)
    }

    static func allProposals(_ s: ShardOptimizer, shard si: Int, slot: Int, goal: Goal, use: [Int64], limit: Int) -> [Move] {
        let rows = s.constraints.rows
        precondition(use.count == rows.count + 1, "a use per constraint row and one for none")
        var moves: [Move] = []
        let limits = Limits(rows)
        // With a limit, only the best `limit` moves of the shard are sent: a max-heap of the best kept so far
        // (keys in the global order). Once it is full, its top bounds what can still be sent, so a move
        // scoring above it is not checked further and a customer whose best is past it is not listed. The
        // list is the same as sorting every customer's best and cutting it at `limit`.
        let bounded = limit < s.table.customerCount
        var heap = ContiguousArray<MoveKey>()
        if bounded { heap.reserveCapacity(limit) }
        var bound = Double.infinity
        let offerFamily = ContiguousArray(s.plan.offers.map { Int32($0.family) })
        // The current customer's candidates' objectives (derived once per customer, not per move).
        let objectives = UnsafeMutablePointer<Double>.allocate(capacity: max(1, s.plan.offers.reduce(0) { $0 + $1.channels.count }))
        defer { objectives.deallocate() }
        use.withUnsafeBufferPointer { useBuf in
        limits.upper.withUnsafeBufferPointer { upperBuf in
        limits.lower.withUnsafeBufferPointer { lowerBuf in
        s.table.candidates.withUnsafeBufferPointer { cands in
         s.table.values.withUnsafeBufferPointer { allValues in
          s.selections[slot].withUnsafeBufferPointer { sel in
            s.pairCostMicros.withUnsafeBufferPointer { pairCost in
              s.productRowOfOffer.withUnsafeBufferPointer { prow in
                s.channelRowOf.withUnsafeBufferPointer { crow in
                 offerFamily.withUnsafeBufferPointer { family in
                  let buffers = ProposalBuffers(use: useBuf, upper: upperBuf, lower: lowerBuf, cands: cands, values: allValues, sel: sel,
                                                pairCost: pairCost, prow: prow, crow: crow, family: family)
                  var search = ProposalSearch(s, goal: goal, limits: limits, use: use, buffers: buffers, objectives: objectives)
                  for i in 0..<s.table.customerCount {
                    guard let best = search.bestMove(customer: i, bound: bound) else { continue }
                    if bounded {
                        let kept = keepBest((score: best.score, customer: s.table.customerIDs[i]), in: &heap, limit: limit)
                        if heap.count == limit { bound = heap[0].score }
                        if !kept { continue }
                    }
                    moves.append(Move(shard: Int32(si), customer: Int32(i), remove: best.remove, add: best.add, customerID: s.table.customerIDs[i], score: best.score,
                                      removeUse: best.ru, addUse: best.au))
                  }
                 }
                }
              }
            }
          }
         }
        }
        }
        }
        }
        moves.sort(by: order)
        if moves.count > limit { moves.removeSubrange(limit...) }
        return moves
    }

    /// Offers `key` to the max-heap of the best `limit` keys so far: pushed while the heap is not full, else
    /// put in place of the top when it precedes it. Whether the key was kept.
    private static func keepBest(_ key: MoveKey, in heap: inout ContiguousArray<MoveKey>, limit: Int) -> Bool {
        @inline(__always) func heapLess(_ a: MoveKey, _ b: MoveKey) -> Bool { precedes(a, b) }
        if heap.count < limit {
            // Sift up.
            heap.append(key)
            var c = heap.count - 1
            while c > 0 {
                let p = (c - 1) / 2
                if !heapLess(heap[p], heap[c]) { break }
                heap.swapAt(p, c); c = p
            }
            return true
        } else if heapLess(key, heap[0]) {
            // Replace the top, sift down.
            heap[0] = key
            var c = 0
            while true {
                let l = 2 * c + 1, r = l + 1
                var m = c
                if l < heap.count && heapLess(heap[m], heap[l]) { m = l }
                if r < heap.count && heapLess(heap[m], heap[r]) { m = r }
                if m == c { break }
                heap.swapAt(c, m); c = m
            }
            return true
        }
        return false
    }

    /// The plain buffers a proposal pass reads for every move (held for the length of the pass).
    private struct ProposalBuffers {
        let use: UnsafeBufferPointer<Int64>
        let upper: UnsafeBufferPointer<Int64>
        let lower: UnsafeBufferPointer<Int64>
        let cands: UnsafeBufferPointer<Candidate>
        let values: UnsafeBufferPointer<Float>
        let sel: UnsafeBufferPointer<Int32>
        let pairCost: UnsafeBufferPointer<Int64>
        let prow: UnsafeBufferPointer<Int32>
        let crow: UnsafeBufferPointer<Int32>
        let family: UnsafeBufferPointer<Int32>
    }

    /// A customer's best move so far: its score and both sides.
    private struct BestMove {
        var found = false
        var score = Double.infinity
        var remove: Int32 = -1, add: Int32 = -1
        var ru: Use, au: Use
    }

    /// One shard's search for every customer's best move toward a goal: the pass's constants and the
    /// scratch lists of the current customer's chosen candidates.
    private struct ProposalSearch {
        let s: ShardOptimizer
        let b: ProposalBuffers
        let limits: Limits
        let use: [Int64]
        let none: Use
        let budgetRow: Int32
        let mo: Int
        let target: Int32
        let targetUpper: Int64
        let channelCount: Int
        /// 0 improve, 1 reduce, 2 increase.
        let mode: Int
        let targetIsRegion: Bool
        let targetIsSegment: Bool
        let maxPerFamily: Int
        let objectives: UnsafeMutablePointer<Double>
        var chosen = ContiguousArray<Int32>()
        var chosenUse = ContiguousArray<Use>()
        /// Per chosen candidate, its use of the target row (reduce and increase passes).
        var chosenAmount = ContiguousArray<Int64>()

        init(_ s: ShardOptimizer, goal: Goal, limits: Limits, use: [Int64], buffers: ProposalBuffers, objectives: UnsafeMutablePointer<Double>) {
            let rows = s.constraints.rows
            self.s = s
            b = buffers
            self.limits = limits
            self.use = use
            self.objectives = objectives
            none = Use.none(rows: rows.count)
            let noneRow = Int32(rows.count)
            budgetRow = s.constraints.budgetRow >= 0 ? Int32(s.constraints.budgetRow) : noneRow
            mo = s.maxOffers
            target = Int32(goal.target ?? -1)
            targetUpper = goal.target.flatMap { rows[$0].upper } ?? .max
            channelCount = s.channelCount
            switch goal { case .reduce: mode = 1; case .increase: mode = 2; case .improve: mode = 0 }
            targetIsRegion = mode != 0 && rows[Int(target)].kind == .region
            targetIsSegment = mode != 0 && rows[Int(target)].kind == .segment
            maxPerFamily = s.plan.campaign.perCustomer.maxPerFamily
            chosen.reserveCapacity(mo)
            chosenAmount.reserveCapacity(mo)
            chosenUse.reserveCapacity(mo)
        }

        /// The rows candidate `ci` of a customer in `region` and `segment` uses.
        @inline(__always) func useOf(_ ci: Int, region: Int32, segment: Int32) -> Use {
            let c = b.cands[ci]
            return Use(budget: budgetRow, product: b.prow[Int(c.offer)], channel: b.crow[Int(c.channel)],
                       region: region, segment: segment, cost: b.pairCost[Int(c.offer) &* channelCount &+ Int(c.channel)])
        }

        /// Customer i's best move, nil when it has none (or none that can still be sent, past `bound`).
        mutating func bestMove(customer i: Int, bound: Double) -> BestMove? {
            let region = s.regionRow(i), segment = s.segmentRow(i)
            // Region and segment rows can only change through their own customers.
            if targetIsRegion && region != target { return nil }
            if targetIsSegment && segment != target { return nil }
            let touching = gatherChosen(customer: i, region: region, segment: segment)
            if mode == 1 && !touching { return nil }
            let lo = Int(s.table.offsets[i]), hi = Int(s.table.offsets[i + 1])
            let values = s.table.customerValues(b.values, i)
            s.table.rule.objectives(UnsafeBufferPointer(rebasing: b.cands[lo..<hi]), values: values, into: objectives)
            var best = BestMove(ru: none, au: none)
            if mode != 2 { for (j, r) in chosen.enumerated() { consider(r, chosenUse[j], -1, none, customer: i, lo: lo, bound: bound, &best) } }
            considerAdding(customer: i, region: region, segment: segment, lo: lo, hi: hi, bound: bound, &best)
            return best.found ? best : nil
        }

        /// Fills the chosen lists with customer i's selection; whether any of it uses the target row.
        @inline(__always) mutating func gatherChosen(customer i: Int, region: Int32, segment: Int32) -> Bool {
            chosen.removeAll(keepingCapacity: true)
            chosenUse.removeAll(keepingCapacity: true)
            chosenAmount.removeAll(keepingCapacity: true)
            var touching = false
            for j in 0..<mo {
                let c = b.sel[i * mo + j]
                if c >= 0 {
                    chosen.append(c)
                    let u = useOf(Int(c), region: region, segment: segment)
                    chosenUse.append(u)
                    let amount = u.amount(target)
                    chosenAmount.append(amount)
                    if amount > 0 { touching = true }
                }
            }
            return touching
        }

        /// The moves that add one of the customer's candidates (`lo ..< hi`), alone or in place of a chosen one.
        @inline(__always) func considerAdding(customer i: Int, region: Int32, segment: Int32, lo: Int, hi: Int, bound: Double, _ best: inout BestMove) {
            @inline(__always) func objective(_ ci: Int) -> Double { objectives[ci &- lo] }
            // Improving a full list needs a swap to a candidate worth more than some chosen one: one
            // worth at most the least chosen can improve nothing (and can't be added).
            var floor = -Double.infinity
            if mode == 0 && chosen.count >= mo {
                floor = .infinity
                for r in chosen { floor = min(floor, objective(Int(r))) }
            }
            for a in lo..<hi {
                let a32 = Int32(a)
                if mode == 0 && (objective(a) <= 0 || objective(a) - floor <= 1e-12) { continue }
                if chosen.contains(a32) { continue }
                let au = useOf(a, region: region, segment: segment)
                if mode == 0 {
                    consider(-1, none, a32, au, customer: i, lo: lo, bound: bound, &best)
                    for (j, r) in chosen.enumerated() { consider(r, chosenUse[j], a32, au, customer: i, lo: lo, bound: bound, &best) }
                    continue
                }
                // A swap moves the target row by the added use less the removed one: reducing it needs a
                // removed candidate using more of it than the added one, increasing it the converse.
                // The others are the moves `consider` would refuse first; skipping them changes nothing.
                let aAmount = au.amount(target)
                if mode == 2 {
                    if aAmount == 0 { continue }
                    consider(-1, none, a32, au, customer: i, lo: lo, bound: bound, &best)
                }
                for (j, r) in chosen.enumerated() where mode == 1 ? chosenAmount[j] > aAmount : aAmount > chosenAmount[j] {
                    consider(r, chosenUse[j], a32, au, customer: i, lo: lo, bound: bound, &best)
                }
            }
        }

        /// Scores a move; keeps it if it reaches the goal, keeps every other row and the list valid, and
        /// beats the best so far.
        @inline(__always) func consider(_ remove: Int32, _ ru: Use, _ add: Int32, _ au: Use, customer i: Int, lo: Int, bound: Double, _ best: inout BestMove) {
            var dObj = 0.0
            if remove >= 0 { dObj -= objectives[Int(remove) &- lo] }
            if add >= 0 { dObj += objectives[Int(add) &- lo] }
            let score: Double
            var dTarget: Int64 = 0
            if mode == 0 {
                guard dObj > 1e-12 else { return }
                score = -dObj
            } else {
                dTarget = au.amount(target) - ru.amount(target)
                if mode == 1 {
                    guard dTarget < 0 else { return }
                    score = -dObj / Double(-dTarget)
                } else {
                    guard dTarget > 0 else { return }
                    score = -dObj / Double(dTarget)
                }
            }
            if best.found && !(score < best.score) { return }
            if score > bound { return }
            guard limits.keepsOthersSameKinds(use: b.use, upper: b.upper, lower: b.lower, remove: ru, add: au, target: target) else { return }
            // Never overshoot a max on the target row itself.
            if mode == 2 && use[Int(target)] + dTarget > targetUpper { return }
            guard Repair.listAllows(b.cands, b.family, maxOffers: mo, maxPerFamily: maxPerFamily, b.sel, customer: i, remove: remove, add: add) else { return }
            best.found = true; best.score = score
            best.remove = remove; best.add = add; best.ru = ru; best.au = au
        }
    }

    // MARK: The global side

    /// The global order of moves: by score, ties by customer id. A customer proposes one move, so no
    /// further key is needed and the order does not depend on how customers are split into shards.
    public static func order(_ a: Move, _ b: Move) -> Bool {
        precedes((a.score, a.customerID), (b.score, b.customerID))
    }

    /// A move's place in the global order: its score, then its customer's id.
    public typealias MoveKey = (score: Double, customer: UInt64)

    /// The global order on keys (`order` on moves).
    @inline(__always) public static func precedes(_ a: MoveKey, _ b: MoveKey) -> Bool {
        a.score < b.score || (a.score == b.score && a.customer < b.customer)
    }

    /// Every move of every shard's list as (shard, index), in the global order: a k-way merge of the lists,
    /// which the shards send sorted (`proposals`); a list that is not (a peer that sorts otherwise) is
    /// sorted here first, in place, so the order never depends on the sender.
    static func globalOrder(_ lists: inout [MoveList]) -> ContiguousArray<(shard: Int32, index: Int32)> {
        for s in lists.indices {
            let list = lists[s]
            if list.indices.dropFirst().contains(where: { !precedes(list.key($0 - 1), list.key($0)) }) { lists[s] = MoveList(list.sorted(by: order)) }
        }
        // The lists' keys, flat: (score, customer id) is unique, a customer proposing one move.
        var start = ContiguousArray<Int>([0])
        var score = ContiguousArray<Double>(), customer = ContiguousArray<UInt64>()
        let total = lists.reduce(0) { $0 + $1.count }
        score.reserveCapacity(total); customer.reserveCapacity(total)
        for list in lists {
            for i in list.indices { let k = list.key(i); score.append(k.score); customer.append(k.customer) }
            start.append(score.count)
        }
        var out = ContiguousArray<(shard: Int32, index: Int32)>()
        out.reserveCapacity(total)
        // A binary heap of the lists' heads, as positions in the flat keys, with their list.
        var heap = ContiguousArray<(at: Int, shard: Int)>()
        for s in lists.indices where start[s] < start[s + 1] { heap.append((start[s], s)) }
        score.withUnsafeBufferPointer { sc in
            customer.withUnsafeBufferPointer { cu in
                @inline(__always) func less(_ a: Int, _ b: Int) -> Bool { sc[a] < sc[b] || (sc[a] == sc[b] && cu[a] < cu[b]) }
                func siftDown(_ from: Int) {
                    var i = from
                    while true {
                        let l = 2 * i + 1, r = l + 1
                        var m = i
                        if l < heap.count && less(heap[l].at, heap[m].at) { m = l }
                        if r < heap.count && less(heap[r].at, heap[m].at) { m = r }
                        if m == i { return }
                        heap.swapAt(i, m)
                        i = m
                    }
                }
                for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
                while let top = heap.first {
                    out.append((Int32(top.shard), Int32(top.at - start[top.shard])))
                    if top.at + 1 < start[top.shard + 1] {
                        heap[0].at = top.at + 1
                    } else {
                        heap[0] = heap[heap.count - 1]
                        heap.removeLast()
                    }
                    if !heap.isEmpty { siftDown(0) }
                }
            }
        }
        return out
    }

    /// Accepts moves in order while they still help and keep the other constraints; returns the accepted
    /// changes per shard and updates `use`. With a `cutoff` (the moves are only those up to it in the global
    /// order, some beyond it were not sent), returns nil if the pass would need a move past it.
    static func choose(_ moves: ContiguousArray<Move>, rows: [ConstraintSet.Row], shards: Int, goal: Goal, use: inout [Int64],
                       cutoff: MoveKey? = nil) -> (changes: [[Change]], applied: Int)? {
        choose(count: moves.count, move: { moves[$0] }, rows: rows, shards: shards, goal: goal, use: &use, cutoff: cutoff)
    }

    /// `choose` over moves reached by their place in the global order (no copy of the moves in that order:
    /// an improve pass at 10 M customers has millions).
    static func choose(count: Int, move: (Int) -> Move, rows: [ConstraintSet.Row], shards: Int, goal: Goal, use: inout [Int64],
                       cutoff: MoveKey? = nil, rest: [Remainder]? = nil) -> (changes: [[Change]], applied: Int)? {
        var changes = [[Change]](repeating: [], count: shards)
        var applied = 0
        let limits = Limits(rows)
        let none = Use.none(rows: rows.count)
        let target = Int32(goal.target ?? -1)
        // An improve pass whose cut lists came with summaries of the moves left out goes on past the cut
        // while none of those could be accepted: the use changes only when a move is accepted, so a move
        // refused now would be refused when its turn came. After each acceptance it looks again.
        let budgetRow = rows.firstIndex { $0.kind == .budget }
        var pastCutoff = false
        func restBlocked() -> Bool { rest.map { $0.allSatisfy { $0.isBlocked(use: use, limits: limits, budgetRow: budgetRow) } } ?? false }
        func done() -> Bool {
            switch goal {
            case .reduce(let k): if let u = rows[k].upper, use[k] <= u { return true }
            case .increase(let k): if let l = rows[k].lower, use[k] >= l { return true }
            case .improve: break
            }
            return false
        }
        for i in 0..<count {
            let m = move(i)
            if done() { return (changes, applied) }
            if !pastCutoff, let c = cutoff, precedes(c, (m.score, m.customerID)) {
                guard restBlocked() else { return nil }
                pastCutoff = true
            }
            let ru = m.remove >= 0 ? m.removeUse : none, au = m.add >= 0 ? m.addUse : none
            guard limits.keepsOthers(use: use, remove: ru, add: au, target: target) else { continue }
            if case .increase(let k) = goal, let u = rows[k].upper, use[k] + au.amount(target) - ru.amount(target) > u { continue }
            changes[Int(m.shard)].append(m.change)
            apply(ru, sign: -1, to: &use)
            apply(au, sign: 1, to: &use)
            applied += 1
            if pastCutoff && !restBlocked() { return nil }
        }
        // Every move sent was looked at: if some were not sent, the pass may have needed them.
        if cutoff != nil && !done() && !restBlocked() { return nil }
        return (changes, applied)
    }

    /// The first per-shard limit of a reduce or increase pass: a count row needs at least `excess` moves
    /// (each moves it by one), with room for moves that are skipped; the budget, a few thousand.
    /// Split over `shards`, each sends its share four times over (the best moves are spread over the
    /// customers, so over the shards), and never fewer than 256: a shard's list is cut to what the pass is
    /// likely to reach, as every move sent crosses the wire and is merged.
    static func initialLimit(_ row: ConstraintSet.Row, excess: Int64, shards: Int = 1) -> Int {
        let total = row.kind == .budget ? 8_192 : Int(min(max(excess, 0), 1 << 24)) * 2 + 1_024
        return min(total, max(256, (total * 4 + shards - 1) / max(shards, 1)))
    }

    /// Repairs the selection in `slot` of every shard of the group; returns the rows still violated
    /// (empty when feasible).
    @discardableResult
    public static func run<G: ShardGroup>(_ group: G, slot: Int, maxPasses: Int = 50, improveLimit: Int? = nil, improvePasses: Int = 5) throws -> [Shortfall] {
        let rows = group.constraints.rows
        guard !rows.isEmpty else { return [] }
        var use = try group.state(slot: slot).use
        // A reduce or increase pass needs only the first moves of the global order: each shard sends its
        // best `limit`. That is exact while no move past a truncated list's last one is reached (every move
        // before it in the global order was sent); if one would be, the pass is asked again with a larger
        // limit. An improve pass may accept any move, so it asks for all.
        func pass(_ goal: Goal) throws -> Int {
            var limit: Int
            switch goal {
            case .reduce(let k): limit = initialLimit(rows[k], excess: use[k] - (rows[k].upper ?? use[k]), shards: group.shardCount)
            case .increase(let k): limit = initialLimit(rows[k], excess: (rows[k].lower ?? use[k]) - use[k], shards: group.shardCount)
            case .improve: limit = improveLimit ?? max(1_024, group.customerCount / max(1, group.shardCount) / 4)
            }
            while true {
                var lists = try group.proposals(slot: slot, goal: goal, use: use, limit: limit)
                var cutoff: MoveKey? = nil
                var rest: [Remainder]? = nil
                if case .improve = goal { rest = [] }
                for list in lists {
                    if list.count >= limit, let last = list.last {
                        let key = (score: last.score, customer: last.customerID)
                        if cutoff.map({ precedes(key, $0) }) ?? true { cutoff = key }
                        rest?.append(contentsOf: list.rest)
                    }
                }
                let keys = globalOrder(&lists)
                var trial = use
                let chosen = keys.withUnsafeBufferPointer { ks in
                    choose(count: ks.count, move: { lists[Int(ks[$0].shard)][Int(ks[$0].index)] }, rows: rows, shards: group.shardCount,
                           goal: goal, use: &trial, cutoff: cutoff, rest: rest)
                }
                guard let (changes, applied) = chosen else {
                    limit = limit >= Int(Int32.max) / 8 ? .max : limit * (rest == nil ? 8 : 4)
                    continue
                }
                use = trial
                if applied > 0 { try group.apply(changes, slot: slot) }
                return applied
            }
        }
        // 1. Every max, by moves that free the most resource per unit of objective lost.
        for _ in 0..<maxPasses {
            guard let k = rows.indices.first(where: { k in rows[k].upper.map { use[k] > $0 } ?? false }) else { break }
            if try pass(.reduce(k)) == 0 { break }
        }
        // 2. Every unmet min, by the cheapest moves toward it that break nothing else.
        for _ in 0..<maxPasses {
            guard let k = rows.indices.first(where: { k in rows[k].lower.map { use[k] < $0 } ?? false }) else { break }
            if try pass(.increase(k)) == 0 { break }
        }
        // 3. Use the slack: moves that add objective and keep every constraint.
        if rows.indices.allSatisfy({ k in (rows[k].upper.map { use[k] <= $0 } ?? true) && (rows[k].lower.map { use[k] >= $0 } ?? true) }) {
            for _ in 0..<improvePasses {
                if try pass(.improve) == 0 { break }
            }
        }
        var out: [Shortfall] = []
        for (k, r) in rows.enumerated() {
            if let u = r.upper, use[k] > u { out.append(.init(row: k, use: use[k])) }
            else if let l = r.lower, use[k] < l { out.append(.init(row: k, use: use[k])) }
        }
        return out
    }
}

/// Use of every constraint row (plus a trailing "none" entry) and the objective, in micro-units, of a
/// selection: exact, so shards' states add up the same in any order.
public struct SelectionState: Sendable, Equatable {
    public var use: [Int64]
    public var objectiveMicros: Int64 = 0
    public init(rows: Int) { use = Array(repeating: 0, count: rows) }
    public init(use: [Int64], objectiveMicros: Int64) { self.use = use; self.objectiveMicros = objectiveMicros }
    public mutating func add(_ o: SelectionState) {
        for k in 0..<min(use.count, o.use.count) { use[k] += o.use[k] }
        objectiveMicros += o.objectiveMicros
    }
}
