/// A customer the LP master leaves split: its bucket mixes several price points and the customer's
/// choice differs between them. It carries what the integer program that settles it needs: the
/// candidates of its alternatives with their objectives and the rows they use, and what slot 0 holds
/// for it now.
public struct SplitCustomer: Sendable, Equatable {
    /// One candidate of the customer.
    public struct Option: Sendable, Equatable {
        /// Index into the shard's candidate table.
        public var candidate: Int32
        /// Plan offer and family (for the per-customer limits).
        public var offer: Int32
        public var family: Int32
        /// Rows the candidate uses (the constraint count for none) and its cost in micro-money.
        public var productRow: Int32
        public var channelRow: Int32
        public var objectiveMicros: Int64
        public var costMicros: Int64
        public init(candidate: Int32, offer: Int32, family: Int32, productRow: Int32, channelRow: Int32, objectiveMicros: Int64, costMicros: Int64) {
            self.candidate = candidate; self.offer = offer; self.family = family; self.productRow = productRow
            self.channelRow = channelRow; self.objectiveMicros = objectiveMicros; self.costMicros = costMicros
        }
    }

    /// Customer index in its shard.
    public var customer: Int32
    public var regionRow: Int32
    public var segmentRow: Int32
    /// Candidates slot 0 holds for the customer.
    public var chosen: [Int32]
    /// The customer's choices at each point its bucket mixes (sorted candidate lists, no repeats; the
    /// first is `chosen`).
    public var alternatives: [[Int32]] = []
    public var options: [Option]
    /// The campaign's per-customer limits (offers, offers per family).
    public var maxOffers: Int32
    public var maxPerFamily: Int32

    public init(customer: Int32, regionRow: Int32, segmentRow: Int32, chosen: [Int32], options: [Option], maxOffers: Int32, maxPerFamily: Int32) {
        self.customer = customer; self.regionRow = regionRow; self.segmentRow = segmentRow; self.chosen = chosen; self.options = options
        self.maxOffers = maxOffers; self.maxPerFamily = maxPerFamily
    }

    /// Whether every index is in range for a shard of `rows` constraints and the customer's candidates are
    /// sane (a list read from the wire is checked before use).
    public func isValid(rows: Int) -> Bool {
        let none = Int32(rows)
        func row(_ r: Int32) -> Bool { r >= 0 && r <= none }
        return row(regionRow) && row(segmentRow) && options.count <= 4096 && maxOffers >= 1 && maxPerFamily >= 1
            && options.allSatisfy { row($0.productRow) && row($0.channelRow) && $0.offer >= 0 && $0.family >= 0 && $0.costMicros >= 0 }
            && chosen.allSatisfy { c in options.contains { $0.candidate == c } }
            && alternatives.count <= 255 && alternatives.allSatisfy { $0.allSatisfy { c in options.contains { $0.candidate == c } } }
    }
}

extension ShardOptimizer {
    /// The customers of buckets that mix several points (`active[bucket]`, indices into
    /// `request.points`, more than one) whose choice at some active point differs from slot 0's (which
    /// holds their choice at their bucket's own point of `request`). `passes[bucket]`, parallel to
    /// `active[bucket]`, names the kept pass (`KeptPass`) that solved the bucket at each point: its lists
    /// are read rather than solved again (a point without one is solved).
    public mutating func splitCustomers(_ request: PricingRequest, active: [[UInt8]], passes: [[UInt32]] = []) -> [SplitCustomer] {
        let mixed = active.map { $0.count > 1 }
        guard mixed.contains(true) else { return [] }
        var out: [SplitCustomer] = []
        for (i, alternatives) in alternatives(request, active: active, passes: passes, mixed: mixed) {
            // The candidates of its alternatives only: one chosen at none of its bucket's points is priced
            // out at all of them, and every other candidate would cost the wire and the programs (at 10 M,
            // ~30 candidates for each of tens of thousands of customers) for nothing they use.
            // (The 0-1 program over the customers the LP leaves fractional asks for all their candidates:
            // `withAllCandidates`.)
            let used = Set(alternatives.joined())
            var s = splitCustomer(i, chosen: alternatives[0], candidates: table.range(i).filter { used.contains(Int32($0)) })
            s.alternatives = alternatives
            out.append(s)
        }
        return out
    }

    /// Customers `customers` (indices in this shard; those out of range are skipped) with every candidate
    /// of theirs and slot 0's lists, no alternatives: what the 0-1 program settling them takes.
    public func withAllCandidates(_ customers: [Int32]) -> [SplitCustomer] {
        customers.filter { $0 >= 0 && Int($0) < table.customerCount }.map { c in
            let i = Int(c)
            let list = (0..<maxOffers).compactMap { j -> Int32? in let x = selections[0][i * maxOffers + j]; return x >= 0 ? x : nil }.sorted()
            return splitCustomer(i, chosen: list, candidates: Array(table.range(i)))
        }
    }

    /// Customer `i` as a split customer holding `candidates` (indices in the table) as its options.
    func splitCustomer(_ i: Int, chosen: [Int32], candidates: [Int]) -> SplitCustomer {
        let options = candidates.map { ci -> SplitCustomer.Option in
            let c = table.candidates[ci]
            return SplitCustomer.Option(candidate: Int32(ci), offer: Int32(c.offer), family: Int32(plan.offers[Int(c.offer)].family),
                                        productRow: productRowOfOffer[Int(c.offer)], channelRow: channelRowOf[Int(c.channel)],
                                        objectiveMicros: RunTotals.micros(table.objective(ci, customer: i)), costMicros: costMicros(ci))
        }
        return SplitCustomer(customer: Int32(i), regionRow: regionRow(i), segmentRow: segmentRow(i), chosen: chosen, options: options,
                             maxOffers: Int32(maxOffers), maxPerFamily: Int32(plan.campaign.perCustomer.maxPerFamily))
    }

    /// The customers of mixed buckets with more than one list among slot 0's and their bucket's active
    /// points, each with its lists (slot 0's first, then in the order of the points). Slot 0 already holds
    /// each customer's list at its bucket's own point, so that point is not read again; the others come
    /// from the kept passes (or are solved). Lists are compared in small sorted buffers, and arrays are
    /// made only for the customers whose lists differ (a few per cent of the mixed buckets' customers).
    private mutating func alternatives(_ request: PricingRequest, active: [[UInt8]], passes: [[UInt32]], mixed: [Bool]) -> [(Int, [[Int32]])] {
        let mo = maxOffers
        let keptAt: [[KeptPass?]] = active.indices.map { b in
            active[b].indices.map { x in passes.count == active.count && x < passes[b].count ? keptPass(passes[b][x], bucket: b) : nil }
        }
        var solving: PointSolving? = nil
        var found: [(Int, [[Int32]])] = []
        let current = UnsafeMutablePointer<Int32>.allocate(capacity: mo), other = UnsafeMutablePointer<Int32>.allocate(capacity: mo)
        defer { current.deallocate(); other.deallocate() }
        for i in 0..<table.customerCount where mixed[Int(customerBucket[i])] {
            let bucket = Int(customerBucket[i])
            let main = request.bucketPoint.isEmpty ? 0 : request.bucketPoint[bucket]
            var n = 0
            for j in 0..<mo where selections[0][i * mo + j] >= 0 { current[n] = selections[0][i * mo + j]; n += 1 }
            Self.sortSmall(current, n)
            var alternatives: [[Int32]]? = nil
            for (x, p) in active[bucket].enumerated() where p != main {
                let m: Int
                if let kp = keptAt[bucket][x] {
                    m = keptList(kp, customer: i, into: other)
                } else {
                    if solving == nil { solving = PointSolving(&self, request) }
                    m = solving!.list(self, customer: i, point: Int(p), into: other)
                }
                if m == n && (0..<n).allSatisfy({ current[$0] == other[$0] }) { continue }
                let list = Array(UnsafeBufferPointer(start: other, count: m))
                if alternatives == nil { alternatives = [Array(UnsafeBufferPointer(start: current, count: n))] }
                if !alternatives!.contains(list) { alternatives!.append(list) }
            }
            if let alternatives { found.append((i, alternatives)) }
        }
        if let solving { self.solver = solving.solver }
        return found
    }

    /// Sorts the `n` values at `p` in place (insertion sort: a customer's list has a few entries).
    @inline(__always)
    static func sortSmall(_ p: UnsafeMutablePointer<Int32>, _ n: Int) {
        guard n > 1 else { return }
        for a in 1..<n {
            let v = p[a]
            var b = a
            while b > 0 && p[b - 1] > v { p[b] = p[b - 1]; b -= 1 }
            p[b] = v
        }
    }
}

/// Solves one customer at one point of a request, for the points no kept pass holds: over the offer
/// entries when every point is at full weight, else over the candidates (the two give the same lists).
struct PointSolving {
    var solver: SubProblemSolver
    let entries: (oe: OfferEntries, block: OfferEntries.Block, tables: ShardOptimizer.PointTables)?
    let nets: [ContiguousArray<Double>]
    let pairPrice: [ContiguousArray<Double>]
    let weights: [Double]
    var chosen = ContiguousArray<Int32>()

    init(_ shard: inout ShardOptimizer, _ request: PricingRequest) {
        solver = shard.solver
        weights = request.weights
        if let oe = shard.offerEntries, request.weights.allSatisfy({ $0 == 1 }) {
            entries = (oe, shard.entrySource(oe, sample: .all).block, ShardOptimizer.PointTables(shard, oe, request))
            nets = []; pairPrice = []
        } else {
            entries = nil
            nets = request.points.map(\.netWithSentinel)
            pairPrice = nets.map(shard.pairPrices)
        }
    }

    /// Customer `i`'s list at point `p`, sorted, into `out` (room for `maxOffers`); its length.
    mutating func list(_ shard: ShardOptimizer, customer i: Int, point p: Int, into out: UnsafeMutablePointer<Int32>) -> Int {
        chosen.removeAll(keepingCapacity: true)
        let region = Int(shard.regionRow(i)), segment = Int(shard.segmentRow(i))
        if let (oe, block, t) = entries {
            let lo = Int(block.offsets[i]), hi = Int(block.offsets[i + 1])
            let ps = p * t.slots, net = p * t.stride
            let fixed = t.net[net + region] + t.net[net + segment]
            block.bases.withUnsafeBufferPointer { bases in
            block.slots.withUnsafeBufferPointer { slots in
            oe.slotFamily.withUnsafeBufferPointer { slotFamily in
            t.price.withUnsafeBufferPointer { prices in
                _ = solver.solve(bases: UnsafeBufferPointer(rebasing: bases[lo..<hi]), slots: slots.baseAddress! + lo,
                                 slotFamily: slotFamily.baseAddress!, price: prices.baseAddress! + ps, fixed: fixed, into: &chosen)
            }}}}
            for (x, k) in chosen.enumerated() {
                out[x] = shard.table.offsets[i] + Int32(block.skips[lo + Int(k)]) + t.position[ps + Int(block.slots[lo + Int(k)])]
            }
        } else {
            let r = shard.table.range(i)
            let net = nets[p], pp = pairPrice[p], w = weights[p], channelCount = shard.plan.channels.count, rule = shard.table.rule
            let fixed = net[region] + net[segment]
            shard.table.candidates.withUnsafeBufferPointer { all in
            shard.table.values.withUnsafeBufferPointer { allValues in
                let values = shard.table.customerValues(allValues, i)
                _ = solver.solve(UnsafeBufferPointer(rebasing: all[r]), adjusted: { c in
                    w * rule.objective(c, values: values) - pp[Int(c.offer) &* channelCount &+ Int(c.channel)] - fixed
                }, into: &chosen)
            }}
            for (x, k) in chosen.enumerated() { out[x] = Int32(r.lowerBound) + k }
        }
        ShardOptimizer.sortSmall(out, chosen.count)
        return chosen.count
    }
}
