import Foundation
import Testing
@testable import NextBestCore
@testable import NextBestSynthetic

/// The fast kernels give exactly what the plain ones give: the complete-tree and leaf-mask (AVX-512) block
/// evaluations against the node walk, and the rounds over offer entries against the rounds over candidates.
@Suite struct KernelTests {
    /// A random tree in XGBoost's array form: leaves at any depth up to `maxDepth`, random default
    /// directions, thresholds drawn from the feature's range.
    static func randomTree(_ rng: inout SplitMix64, features: Int, maxDepth: Int) -> TreeEnsemble.TreeArrays {
        var t = TreeEnsemble.TreeArrays(left: [], right: [], feature: [], threshold: [], defaultLeft: [])
        func node(_ depth: Int) -> Int {
            let i = t.left.count
            t.left.append(-1); t.right.append(-1); t.feature.append(0); t.threshold.append(0); t.defaultLeft.append(false)
            if depth == maxDepth || (depth > 0 && rng.unit() < 0.25) {
                t.threshold[i] = Float(rng.unit() - 0.5)
                return i
            }
            t.feature[i] = Int(rng.next() % UInt64(features))
            t.threshold[i] = Float(rng.unit() * 4 - 2)
            t.defaultLeft[i] = rng.unit() < 0.5
            let l = node(depth + 1)
            let r = node(depth + 1)
            t.left[i] = l; t.right[i] = r
            return i
        }
        _ = node(0)
        return t
    }

    @Test(arguments: [1, 3, 5, 6, 7, 9, 14])
    func treeKernelsEqualTheNodeWalk(maxDepth: Int) throws {
        var rng = SplitMix64(seed: UInt64(maxDepth))
        let f = 7
        let names = (0..<f).map { "f\($0)" }
        var nodes: [TreeEnsemble.Node] = [], roots: [Int32] = []
        for _ in 0..<25 { try TreeEnsemble.flatten(Self.randomTree(&rng, features: f, maxDepth: maxDepth), featureCount: f, into: &nodes, roots: &roots) }
        let ensemble = try TreeEnsemble(features: names, baseMargin: -1.3, nodes: nodes, roots: roots)
        // The store's schema has the model's features in another order, with extra columns between.
        let schema = try FeatureSchema(names: ["z0"] + names.reversed() + ["z1"])
        let bound = try PropensityModel(id: "t", version: 1, kind: .trees(ensemble)).bound(to: schema)
        #expect((bound.forest != nil) == (maxDepth <= CompleteForest.maxDepth))
        let stride = schema.count, count = 300
        var x = [Float](repeating: 0, count: stride * count)
        for i in 0..<x.count {
            let u = rng.unit()
            // Missing values, values exactly on thresholds' scale, infinities.
            x[i] = u < 0.15 ? .nan : (u < 0.17 ? (u < 0.16 ? .infinity : -.infinity) : Float(rng.unit() * 5 - 2.5))
        }
        #expect((bound.leafMask != nil) == (maxDepth <= LeafMaskForest.maxDepth))
        // Every kernel this CPU runs, each alone and (the vector one) with the block transposed once for
        // several models, as the scoring loop does.
        for kernel in TreeKernel.available {
            for shared in kernel == .avx512 ? [false, true] : [false] {
                var out = [Float](repeating: -1, count: count), margins = [Float](repeating: 0, count: count)
                var columns = FeatureColumns(featureCount: stride)
                x.withUnsafeBufferPointer { xs in
                    out.withUnsafeMutableBufferPointer { o in
                        margins.withUnsafeMutableBufferPointer { m in
                            // Blocks of uneven sizes, as the last block of a shard is (shared columns hold 64 rows).
                            var i = 0
                            for size in shared ? [1, 64, 63, 64, 17, 64, 27] : [1, 128, 77, 94] {
                                let block = UnsafeBufferPointer(rebasing: xs[(i * stride)..<((i + size) * stride)])
                                if shared { columns.fill(rows: block.baseAddress!, stride: stride, count: size) }
                                bound.propensities(block: block, stride: stride, count: size, margins: m,
                                                   out: UnsafeMutableBufferPointer(rebasing: o[i...]), outStride: 1,
                                                   columns: shared ? columns : nil, kernel: kernel)
                                i += size
                            }
                            #expect(i == count)
                        }
                    }
                }
                for i in 0..<count {
                    let walk = x.withUnsafeBufferPointer { bound.propensity(UnsafeBufferPointer(rebasing: $0[(i * stride)..<((i + 1) * stride)])) }
                    #expect(out[i].bitPattern == walk.bitPattern, "\(kernel) customer \(i): block \(out[i]) vs walk \(walk)")
                }
            }
        }
    }

    /// Logistic models over a block's transposed columns (eight customers per vector) give the bits of the
    /// customer-by-customer sum: missing values skipped, infinities and zero coefficients as they come.
    @Test func logisticBlocksOverColumnsEqualTheRowSum() throws {
        var rng = SplitMix64(seed: 11)
        let names = (0..<9).map { "f\($0)" }
        let coefficients = (0..<9).map { i in i == 4 ? 0 : rng.unit() * 4 - 2 }
        let model = try LogisticModel(features: names, coefficients: coefficients, intercept: -0.7)
        let schema = try FeatureSchema(names: ["z0"] + names.reversed() + ["z1", "z2"])
        let bound = try PropensityModel(id: "l", version: 1, kind: .logistic(model)).bound(to: schema)
        let stride = schema.count
        var columns = FeatureColumns(featureCount: stride)
        for size in [1, 7, 16, 17, 63, 64] {
            var x = [Float](repeating: 0, count: stride * size)
            for i in 0..<x.count {
                let u = rng.unit()
                x[i] = u < 0.2 ? .nan : (u < 0.22 ? (u < 0.21 ? .infinity : -.infinity) : Float(rng.unit() * 6 - 3))
            }
            var out = [Float](repeating: -1, count: size), margins = [Float](repeating: 0, count: size)
            x.withUnsafeBufferPointer { xs in
                columns.fill(rows: xs.baseAddress!, stride: stride, count: size)
                out.withUnsafeMutableBufferPointer { o in
                    margins.withUnsafeMutableBufferPointer { m in
                        bound.propensities(block: xs, stride: stride, count: size, margins: m, out: o, outStride: 1, columns: columns)
                    }
                }
            }
            for i in 0..<size {
                let row = x.withUnsafeBufferPointer { bound.propensity(UnsafeBufferPointer(rebasing: $0[(i * stride)..<((i + 1) * stride)])) }
                #expect(out[i].bitPattern == row.bitPattern, "block of \(size), customer \(i): \(out[i]) vs \(row)")
            }
        }
    }

    /// The AVX-512 kernel is the one chosen where the CPU has it, and it covers the models the generator
    /// makes (trees of depth 6).
    @Test func theVectorKernelIsChosenWhereTheCPURunsIt() throws {
        let g = PopulationGenerator(customers: 100, offers: 4, seed: 3, trees: 5, depth: 6)
        let plan = try ScoringPlan(campaign: g.campaign(estimatingFrom: 100), schema: g.schema, models: g.propensityModels())
        let trees = plan.models.filter { $0.kind == .trees }
        #expect(!trees.isEmpty)
        #expect(trees.allSatisfy { $0.uses(.portable) })
        #expect(trees.allSatisfy { $0.uses(.avx512) } == CPUFeatures.hasAVX512)
        if ProcessInfo.processInfo.environment["NEXTBEST_TREE_KERNEL"] == nil {
            #expect(TreeKernel.selected == (CPUFeatures.hasAVX512 ? .avx512 : .portable))
        }
    }

    /// One per family takes the one-pass path (each family's best), more the general greedy; both must
    /// choose what the candidate path chooses.
    /// The first `customers` of a generated population scored into one shard's table.
    static func scored(_ g: PopulationGenerator, plan: ScoringPlan, customers: Int) -> CandidateTable {
        scored(g, plan: plan, ids: 0..<customers)
    }

    /// The campaign's constraints against the generator's dictionaries.
    static func constraints(_ g: PopulationGenerator, plan: ScoringPlan) -> ConstraintSet {
        ConstraintSet(plan: plan, regions: CodeDictionary(names: g.regions), segments: CodeDictionary(names: g.segments))
    }

    /// The generated customers at `ids`, scored into a table (a shard of them); with `entries`, the table
    /// also builds the optimizer's offer entries as customers are appended (as workers score).
    static func scored(_ g: PopulationGenerator, plan: ScoringPlan, ids: Range<Int>, entries: Bool = false) -> CandidateTable {
        var scorer = CustomerScorer(plan: plan)
        var table = CandidateTable(rule: ExpectedValueRule(plan: plan), entries: entries ? OfferEntries(plan: plan) : nil)
        for i in ids {
            let p = g.profile(at: i)
            scorer.begin()
            p.features.withUnsafeBufferPointer { scorer.score($0) }
            table.append(customerID: p.customerID, region: p.region, segment: p.segment, candidates: scorer.candidates, values: scorer.values)
        }
        return table
    }

    @Test(arguments: [Campaign.Objective.expectedValue, .propensity], [1, 2])
    func offerEntriesRoundsEqualCandidateRounds(objective: Campaign.Objective, perFamily: Int) throws {
        let g = PopulationGenerator(customers: 4_000, offers: 16, seed: 11, trees: 8, depth: 4)
        var campaign = g.campaign(estimatingFrom: 1_000)
        campaign.objective = objective
        campaign.perCustomer.maxPerFamily = perFamily
        let plan = try ScoringPlan(campaign: campaign, schema: g.schema, models: g.propensityModels())
        let table = Self.scored(g, plan: plan, customers: 3_000)
        let cs = Self.constraints(g, plan: plan)
        #expect(cs.count > 5)
        var fast = ShardOptimizer(plan: plan, constraints: cs, table: table)
        var plain = ShardOptimizer(plan: plan, constraints: cs, table: table, foldOffers: false)
        #expect(fast.offerEntries != nil && plain.offerEntries == nil)
        // A shard holds tens of millions of candidates: 8 bytes each (the expected value is derived).
        #expect(MemoryLayout<Candidate>.stride == 8)
        var rng = SplitMix64(seed: 5)
        for round in 0..<12 {
            var prices = Prices(count: cs.count)
            for k in 0..<cs.count where round > 0 {
                let scale = cs.rows[k].kind == .budget ? 2.0 : 40.0
                prices.upper[k] = rng.unit() < 0.6 ? rng.unit() * scale : 0
                prices.lower[k] = rng.unit() < 0.3 ? rng.unit() * scale : 0
            }
            let a = fast.evaluate(prices), b = plain.evaluate(prices)
            // The first round builds every customer's entries and keeps them for the later ones.
            #expect(fast.keepsEntries, "round \(round)")
            #expect(fast.selection == plain.selection, "round \(round): selections differ")
            #expect(a.use == b.use && a.offers == b.offers && a.costMicros == b.costMicros, "round \(round)")
            // Values are summed from the same choices; the fold may round a last digit differently.
            #expect(abs(a.dualMicros - b.dualMicros) <= 3_000 && abs(a.primalMicros - b.primalMicros) <= 3_000, "round \(round)")
            #expect(a.offers > 0)
        }
    }

    /// Two customers solved together (`solvePair`, the pass's usual step with one offer per family) get each
    /// the list and sum it gets solved alone: lengths that differ (one empty), ties, values at or below 0,
    /// families reached by several entries in a row and apart.
    @Test func aPairSolvedTogetherIsEachSolvedAlone() throws {
        let g = PopulationGenerator(customers: 100, offers: 16, seed: 3, trees: 2, depth: 2)
        var campaign = g.campaign(estimatingFrom: 100)
        campaign.perCustomer.maxPerFamily = 1
        let plan = try ScoringPlan(campaign: campaign, schema: g.schema, models: g.propensityModels())
        let families = plan.families.count
        #expect(families >= 3)
        var solver = SubProblemSolver(plan: plan)
        #expect(solver.solvesPairs)
        var rng = SplitMix64(seed: 17)
        // 64 slots; a slot's family, and two price tables (each customer at its own point).
        let slotFamily = (0..<64).map { s in UInt8(s % 7 < 3 ? 0 : (s / 5) % families) }
        let prices = (0..<2).map { _ in (0..<64).map { _ in Double(Int(rng.next() % 5)) } }
        func customer() -> (bases: [Double], slots: [UInt16]) {
            let n = Int(rng.next() % 30)
            // Few distinct values, so that ties are common.
            return ((0..<n).map { _ in Double(Int(rng.next() % 9)) - 2 }, (0..<n).map { _ in UInt16(rng.next() % 64) })
        }
        func reference(_ bases: [Double], _ slots: [UInt16], _ price: [Double], _ fixed: Double) -> (chosen: [Int32], sum: Double) {
            var best: [Int: (value: Double, entry: Int)] = [:]
            for k in bases.indices {
                let slot = Int(slots[k]), v = bases[k] - price[slot] - fixed, f = Int(slotFamily[slot])
                if v > 0 && v > (best[f]?.value ?? 0) { best[f] = (v, k) }
            }
            let ranked = best.values.sorted { $0.value != $1.value ? $0.value > $1.value : $0.entry < $1.entry }.prefix(solver.maxOffers)
            return (ranked.map { Int32($0.entry) }, ranked.reduce(0.0) { $0 + $1.value })
        }
        for round in 0..<2_000 {
            let a = customer(), b = customer()
            let fa = Double(Int(rng.next() % 3)), fb = Double(Int(rng.next() % 3))
            var aloneA = ContiguousArray<Int32>(), aloneB = ContiguousArray<Int32>(), pairA = ContiguousArray<Int32>(), pairB = ContiguousArray<Int32>()
            try slotFamily.withUnsafeBufferPointer { fam in
                try prices[0].withUnsafeBufferPointer { pa in
                    try prices[1].withUnsafeBufferPointer { pb in
                        try a.bases.withUnsafeBufferPointer { ba in
                            try b.bases.withUnsafeBufferPointer { bb in
                                try a.slots.withUnsafeBufferPointer { sa in
                                    try b.slots.withUnsafeBufferPointer { sb in
                                        // Empty buffers have no base address: a stand-in never read.
                                        let dummy = UnsafeMutablePointer<UInt16>.allocate(capacity: 1)
                                        defer { dummy.deallocate() }
                                        let sa = sa.baseAddress ?? UnsafePointer(dummy), sb = sb.baseAddress ?? UnsafePointer(dummy)
                                        let va = solver.solve(bases: ba, slots: sa, slotFamily: fam.baseAddress!, price: pa.baseAddress!, fixed: fa, into: &aloneA)
                                        let vb = solver.solve(bases: bb, slots: sb, slotFamily: fam.baseAddress!, price: pb.baseAddress!, fixed: fb, into: &aloneB)
                                        let (pva, pvb) = solver.solvePair(bases: ba, slots: sa, price: pa.baseAddress!, fixed: fa,
                                                                          bases2: bb, slots2: sb, price2: pb.baseAddress!, fixed2: fb,
                                                                          slotFamily: fam.baseAddress!, into: &pairA, &pairB)
                                        #expect(pairA == aloneA && pairB == aloneB, "round \(round)")
                                        #expect(pva == va && pvb == vb, "round \(round)")
                                        // Both against the rule written out: per family its first best positive
                                        // entry, then the families by value, ties to the earlier entry.
                                        let refA = reference(a.bases, a.slots, prices[0], fa), refB = reference(b.bases, b.slots, prices[1], fb)
                                        #expect(Array(aloneA) == refA.chosen && Array(aloneB) == refB.chosen, "round \(round)")
                                        #expect(va == refA.sum && vb == refB.sum, "round \(round)")
                                        try #require(pairA == aloneA && pairB == aloneB && Array(aloneA) == refA.chosen)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The precheck's facts for a region's and a segment's min rows read from the offer entries (built while
    /// scoring) are the facts the walk over the candidates finds: capacities and cheapest costs, with one and
    /// two offers per family, with and without a budget; a product's and a channel's min rows (always walked
    /// over the candidates) alongside.
    @Test(arguments: [1, 2], [true, false])
    func precheckFactsFromEntriesAreTheCandidatesFacts(perFamily: Int, budget: Bool) throws {
        let g = PopulationGenerator(customers: 3_000, offers: 16, seed: 23, trees: 4, depth: 3)
        var campaign = g.campaign(estimatingFrom: 1_000)
        campaign.perCustomer.maxPerFamily = perFamily
        campaign.constraints = .init(budget: budget ? 1_000_000 : nil, products: [.init(name: campaign.offers[0].product, bounds: .init(min: 10, max: nil))],
                                     regions: [.init(name: g.regions[0], bounds: .init(min: 50, max: nil)), .init(name: g.regions[1], bounds: .init(min: nil, max: 900))],
                                     segments: [.init(name: g.segments[1], bounds: .init(min: 40, max: 2_000))],
                                     channels: [.init(name: campaign.offers[0].channels[0].channel, bounds: .init(min: 5, max: nil))])
        let plan = try ScoringPlan(campaign: campaign, schema: g.schema, models: g.propensityModels())
        let cs = Self.constraints(g, plan: plan)
        let withEntries = ShardOptimizer(plan: plan, constraints: cs, table: Self.scored(g, plan: plan, ids: 0..<2_500, entries: true))
        let walked = ShardOptimizer(plan: plan, constraints: cs, table: Self.scored(g, plan: plan, ids: 0..<2_500), foldOffers: false)
        #expect(withEntries.entriesAtHand != nil && walked.offerEntries == nil)
        let a = PrecheckFacts.of(withEntries), b = PrecheckFacts.of(walked)
        #expect(a == b)
        // Every min row has customers who could take an offer, each counted once at its cheapest cost.
        let minRows = cs.rows.indices.filter { cs.rows[$0].lower != nil && cs.rows[$0].kind != .budget }
        #expect(minRows.count == 4 && minRows.allSatisfy { a.capacity[$0] > 0 })
        #expect(minRows.allSatisfy { k in (1...Int64(2_500)).contains(a.cheapest[k].reduce(0) { $0 + $1.count }) })
    }

    /// A bucket read from a kept pass (`PricingRequest.bucketPass`) gets the lists and totals solving it
    /// again gives: the settle step's pass and split customers are the same whether a shard kept the
    /// passes (the usual case) or took the shard over since and solves them (a restored shard).
    @Test(arguments: [true, false])
    func keptPassesGiveWhatSolvingGives(entries: Bool) throws {
        let (fast, plain, cs) = try Self.shardPair(seed: 7, perFamily: 1)
        var keeping = entries ? fast : plain
        var solving = keeping
        var rng = SplitMix64(seed: 9)
        func point() -> Prices { Self.randomPrices(cs, &rng) }
        let points = (0..<4).map { _ in point() }
        // Passes 1–3 at one point each (kept), pass 4 a spread of points 2 and 3 by bucket (kept).
        for (k, p) in points.prefix(3).enumerated() { _ = keeping.evaluate(PricingRequest(points: [p], weights: [1], pass: UInt32(k + 1))) }
        let spreadPick = (0..<CustomerBuckets.count).map { UInt8($0 % 2) }
        _ = keeping.evaluate(PricingRequest(points: [points[2], points[3]], weights: [1, 1], bucketPoint: spreadPick, pass: 4))
        // The settle request: bucket b at one of the four points, read from the pass that solved it there
        // (pass 4 for point 3; for some buckets a pass nobody kept, so those are solved).
        var active: [[UInt8]] = [], passes: [[UInt32]] = []
        for b in 0..<CustomerBuckets.count {
            let main = UInt8(b % 4), other = UInt8((b + 1) % 4)
            func pass(_ p: UInt8) -> UInt32 { b % 7 == 0 ? 99 : (p == 3 ? (b % 2 == 1 ? 4 : 0) : UInt32(p) + 1) }
            active.append(b % 3 == 0 ? [main] : [main, other])
            passes.append(active[b].map(pass))
        }
        let request = PricingRequest(points: points, weights: [1, 1, 1, 1], bucketPoint: active.map { $0[0] }, bucketPass: passes.map { $0[0] })
        var plainRequest = request
        plainRequest.bucketPass = []
        let a = keeping.evaluate(request), b = solving.evaluate(plainRequest)
        #expect(keeping.selection == solving.selection)
        #expect(a == b)
        #expect(a.offers > 0)
        let kept = keeping.splitCustomers(request, active: active, passes: passes)
        let solved = solving.splitCustomers(plainRequest, active: active)
        #expect(kept == solved)
        #expect(!kept.isEmpty)
    }

    /// A pass that leaves buckets out (`PricingRequest.unsolved`) gives the solved buckets the totals a
    /// pass over everybody at the same points gives them, and the others nothing; a kept pass is never
    /// read for a bucket it left out (the settle step solves that bucket, with the same lists).
    @Test(arguments: [true, false])
    func aPassThatLeavesBucketsOutSolvesTheRestAsAWholePass(entries: Bool) throws {
        let (fast, plain, cs) = try Self.shardPair(seed: 11, perFamily: 1)
        var partial = entries ? fast : plain
        var whole = partial
        var rng = SplitMix64(seed: 4)
        func point() -> Prices { Self.randomPrices(cs, &rng) }
        let points = [point(), point()]
        let left = (0..<CustomerBuckets.count).map { $0 % 4 != 1 }
        let wholePick = (0..<CustomerBuckets.count).map { UInt8($0 % 2) }
        let partialPick = wholePick.indices.map { left[$0] ? PricingRequest.unsolved : wholePick[$0] }
        // First both at point 0 everywhere (kept as pass 1), then pass 2: the whole spread or a part of it.
        _ = partial.evaluate(PricingRequest(points: [points[0]], weights: [1], pass: 1))
        _ = whole.evaluate(PricingRequest(points: [points[0]], weights: [1], pass: 1))
        let a = partial.evaluate(PricingRequest(points: points, weights: [1, 1], bucketPoint: partialPick, pass: 2))
        let b = whole.evaluate(PricingRequest(points: points, weights: [1, 1], bucketPoint: wholePick, pass: 2))
        let n = cs.count
        var solvedOffers: Int64 = 0
        for bucket in 0..<CustomerBuckets.count {
            let use = Array(a.bucketUse[(bucket * n)..<((bucket + 1) * n)]), wholeUse = Array(b.bucketUse[(bucket * n)..<((bucket + 1) * n)])
            if left[bucket] {
                #expect(a.bucketPrimal[bucket] == 0 && use.allSatisfy { $0 == 0 }, "bucket \(bucket) was left out")
            } else {
                #expect(a.bucketPrimal[bucket] == b.bucketPrimal[bucket] && use == wholeUse, "bucket \(bucket)")
                solvedOffers += use.reduce(0, +)
            }
        }
        #expect(solvedOffers > 0)
        // The settle step names pass 2 for every bucket at its point of the spread: the buckets pass 2 left
        // out are solved (the shard kept pass 2, but not their lists), the others copied; both as solving all.
        let settle = PricingRequest(points: points, weights: [1, 1], bucketPoint: wholePick, bucketPass: Array(repeating: 2, count: CustomerBuckets.count))
        var plainSettle = settle
        plainSettle.bucketPass = []
        var fresh = entries ? fast : plain
        _ = fresh.evaluate(PricingRequest(points: [points[1]], weights: [1], pass: 1))
        let settled = partial.evaluate(settle), solved = fresh.evaluate(plainSettle)
        let sameTotals = settled == solved, sameLists = partial.selection == fresh.selection
        #expect(sameTotals, "the settle pass's totals differ from solving every bucket")
        #expect(sameLists, "the settle pass's lists differ from solving every bucket")
        let active = (0..<CustomerBuckets.count).map { [wholePick[$0], 1 - wholePick[$0]] }
        // Pass 1 solved everybody at point 0: the tag for a bucket's other point when that is point 0.
        let passes = (0..<CustomerBuckets.count).map { [UInt32(2), wholePick[$0] == 1 ? UInt32(1) : 0] }
        #expect(partial.splitCustomers(settle, active: active, passes: passes) == fresh.splitCustomers(plainSettle, active: active))
    }

    /// Two shards over the same customers (offer entries, and the plain candidates path) of a generated
    /// population whose campaign gives `perFamily` offers per family.
    /// With `whileScoring`, the fast shard's table built its entries as it was scored.
    static func shardPair(seed: UInt64, perFamily: Int, whileScoring: Bool = false) throws
        -> (fast: ShardOptimizer, plain: ShardOptimizer, cs: ConstraintSet) {
        let g = PopulationGenerator(customers: 4_000, offers: 16, seed: seed, trees: 8, depth: 4)
        var campaign = g.campaign(estimatingFrom: 1_000)
        campaign.perCustomer.maxPerFamily = perFamily
        let plan = try ScoringPlan(campaign: campaign, schema: g.schema, models: g.propensityModels())
        let table = scored(g, plan: plan, ids: 0..<3_000)
        let cs = constraints(g, plan: plan)
        let fastTable = whileScoring ? scored(g, plan: plan, ids: 0..<3_000, entries: true) : table
        #expect((fastTable.offerEntries != nil) == whileScoring)
        return (ShardOptimizer(plan: plan, constraints: cs, table: fastTable),
                ShardOptimizer(plan: plan, constraints: cs, table: table, foldOffers: false), cs)
    }

    /// The entries a table builds as customers are appended are those built afterwards from its candidates,
    /// and a sample's gathered from them are those built from the sample's candidates.
    @Test(arguments: [Campaign.Objective.expectedValue, .propensity])
    func entriesBuiltWhileScoringEqualEntriesBuiltAfter(objective: Campaign.Objective) throws {
        let g = PopulationGenerator(customers: 2_000, offers: 16, seed: 29, trees: 8, depth: 4)
        var campaign = g.campaign(estimatingFrom: 1_000)
        campaign.objective = objective
        let plan = try ScoringPlan(campaign: campaign, schema: g.schema, models: g.propensityModels())
        let table = Self.scored(g, plan: plan, ids: 0..<1_500, entries: true)
        let layout = try #require(OfferEntries(plan: plan))
        let kept = try #require(table.offerEntries)
        var after = OfferEntries.Block()
        layout.build(table, customers: 0, table.customerCount, into: &after)
        #expect(kept.count == 1_500 && kept.bases.count > 1_500)
        #expect(kept.bases == after.bases && kept.slots == after.slots && kept.skips == after.skips && kept.offsets == after.offsets)
        let members = ContiguousArray((0..<Int32(1_500)).filter { $0 % 7 == 3 })
        var built = OfferEntries.Block()
        members.withUnsafeBufferPointer { layout.build(table, customers: 0, 0, only: $0, into: &built) }
        let gathered = kept.gathered(members)
        #expect(gathered.bases == built.bases && gathered.slots == built.slots && gathered.skips == built.skips && gathered.offsets == built.offsets)
    }

    /// Random prices for the rows of `cs`: some rows priced, budget prices smaller.
    static func randomPrices(_ cs: ConstraintSet, _ rng: inout SplitMix64) -> Prices {
        var prices = Prices(count: cs.count)
        for k in 0..<cs.count {
            let scale = cs.rows[k].kind == .budget ? 2.0 : 40.0
            prices.upper[k] = rng.unit() < 0.6 ? rng.unit() * scale : 0
            prices.lower[k] = rng.unit() < 0.3 ? rng.unit() * scale : 0
        }
        return prices
    }

    /// A request with several points (each bucket at its own) gives the same choices and per-bucket
    /// aggregates over the offer entries as over the candidates, before and after the entries are kept,
    /// over everybody and over a sample.
    @Test(arguments: [1, 2], [false, true])
    func severalPointsOverEntriesEqualCandidates(perFamily: Int, whileScoring: Bool) throws {
        var (fast, plain, cs) = try Self.shardPair(seed: 13, perFamily: perFamily, whileScoring: whileScoring)
        var rng = SplitMix64(seed: 7)
        for round in 0..<5 {
            let points = (0..<3).map { _ in Self.randomPrices(cs, &rng) }
            let request = PricingRequest(points: points, weights: [1, 1, 1], bucketPoint: (0..<CustomerBuckets.count).map { _ in UInt8(rng.next() % 3) })
            // The first round starts with the sample (its own entries, none kept yet), the later ones
            // read the sample's customers from every customer's kept entries.
            let samples = round == 0 ? [CustomerSample(modulus: 4), .all] : [.all, CustomerSample(modulus: 4)]
            for sample in samples {
                #expect(fast.keepsEntries == (round > 0))
                let a = fast.evaluate(request, sample: sample), b = plain.evaluate(request, sample: sample)
                #expect(fast.selection == plain.selection, "round \(round): selections differ")
                #expect(a.use == b.use && a.bucketUse == b.bucketUse && a.offers == b.offers && a.costMicros == b.costMicros, "round \(round)")
                #expect(zip(a.bucketPrimal, b.bucketPrimal).allSatisfy { abs($0 - $1) <= 1_000 })
                #expect(a.offers > 0)
            }
            // Plain rounds in between, so that later requests run over kept entries.
            _ = fast.evaluate(points[0]); _ = plain.evaluate(points[0])
        }
        #expect(fast.keepsEntries)
    }

    /// The customers a mixed bucket leaves split, found over the offer entries, are those found over the
    /// candidates, with the same lists in the same order.
    @Test(arguments: [1, 2], [false, true])
    func splitCustomersOverEntriesEqualCandidates(perFamily: Int, whileScoring: Bool) throws {
        var (fast, plain, cs) = try Self.shardPair(seed: 19, perFamily: perFamily, whileScoring: whileScoring)
        var rng = SplitMix64(seed: 23)
        let points = (0..<3).map { _ in Self.randomPrices(cs, &rng) }
        let pick = (0..<CustomerBuckets.count).map { _ in UInt8(rng.next() % 3) }
        let request = PricingRequest(points: points, weights: [1, 1, 1], bucketPoint: pick)
        // Half the buckets mix their own point with another one.
        let active: [[UInt8]] = pick.enumerated().map { b, p in b % 2 == 0 ? [p, (p + 1) % 3] : [p] }
        _ = fast.evaluate(request); _ = plain.evaluate(request)
        let a = fast.splitCustomers(request, active: active), b = plain.splitCustomers(request, active: active)
        #expect(a.count > 10)
        #expect(a == b)
    }

    /// A sample's round solves exactly the sample's customers (the same aggregates as a shard holding only
    /// them, on both paths) and leaves the selection alone.
    @Test func sampledRoundsSolveOnlyTheSample() throws {
        let g = PopulationGenerator(customers: 3_000, offers: 16, seed: 12, trees: 8, depth: 4)
        let plan = try ScoringPlan(campaign: g.campaign(estimatingFrom: 1_000), schema: g.schema, models: g.propensityModels())
        let sample = CustomerSample(modulus: 4)
        var scorer = CustomerScorer(plan: plan)
        var table = CandidateTable(plan: plan), sampled = CandidateTable(plan: plan)
        for i in 0..<3_000 {
            let p = g.profile(at: i)
            scorer.begin()
            p.features.withUnsafeBufferPointer { scorer.score($0) }
            table.append(customerID: p.customerID, region: p.region, segment: p.segment, candidates: scorer.candidates, values: scorer.values)
            if sample.contains(p.customerID) {
                sampled.append(customerID: p.customerID, region: p.region, segment: p.segment, candidates: scorer.candidates, values: scorer.values)
            }
        }
        // About one in four, and not a run of neighbours.
        #expect(sampled.customerCount > 600 && sampled.customerCount < 900, "\(sampled.customerCount) of 3000 in the sample")
        let cs = Self.constraints(g, plan: plan)
        var rng = SplitMix64(seed: 9)
        for fold in [true, false] {
            var whole = ShardOptimizer(plan: plan, constraints: cs, table: table, foldOffers: fold)
            var part = ShardOptimizer(plan: plan, constraints: cs, table: sampled, foldOffers: fold)
            _ = whole.evaluate(Prices(count: cs.count))
            let before = whole.selection
            for round in 0..<6 {
                var prices = Prices(count: cs.count)
                for k in 0..<cs.count where round > 0 {
                    prices.upper[k] = rng.unit() < 0.6 ? rng.unit() * (cs.rows[k].kind == .budget ? 2.0 : 40.0) : 0
                }
                let a = whole.evaluate(prices, sample: sample), b = part.evaluate(prices)
                #expect(a == b, "fold \(fold) round \(round): the sample's aggregates differ from its own shard's")
                #expect(a.offers > 0)
                #expect(whole.selection == before, "a sample's round changed the selection")
            }
        }
    }

    @Test func samplesAreFixedByIDAndSizedByTheirTarget() {
        #expect(CustomerSample.of(customers: 100_000, target: 250_000).isAll)
        #expect(CustomerSample.of(customers: 499_999, target: 250_000).isAll)
        #expect(CustomerSample.of(customers: 1_000_000, target: 250_000).modulus == 4)
        #expect(CustomerSample.of(customers: 10_000_000, target: 250_000).modulus == 32)
        #expect(CustomerSample.of(customers: 10_000_000, target: 0).isAll)
        let s = CustomerSample(modulus: 32)
        let n = (0..<200_000).reduce(0) { $0 + (s.contains(UInt64($1) + 10_000_000) ? 1 : 0) }
        #expect(abs(n - 200_000 / 32) < 300, "\(n) of 200000 in a 1-in-32 sample")
        // Limits scale to the sample's share.
        let rows = [ConstraintSet.Row(kind: .budget, name: "budget", lower: nil, upper: 1_000_000_000),
                    ConstraintSet.Row(kind: .region, name: "north", lower: 3_300, upper: nil)]
        let scaled = s.scaled(rows)
        #expect(scaled[0].upper == 31_250_000 && scaled[1].lower == 103 && scaled[1].upper == nil)
    }

    /// The coordinator's merge of the shards' move lists gives the order a sort of all moves gives, with
    /// ties of score broken by customer id, and sorts a list that arrives unsorted.
    @Test func movesMergeInTheGlobalOrder() {
        var rng = SplitMix64(seed: 5)
        var lists: [[Repair.Move]] = []
        var id: UInt64 = 0
        for s in 0..<7 {
            var list: [Repair.Move] = []
            for _ in 0..<Int(rng.next() % 300) {
                id += 1 + rng.next() % 3
                let use = Repair.Use.none(rows: 3)
                // Few distinct scores, so that ties are common.
                list.append(Repair.Move(shard: Int32(s), customer: Int32(list.count), remove: -1, add: 0, customerID: id, score: Double(rng.next() % 20) / 4, removeUse: use, addUse: use))
            }
            // Shard 3 sends its list unsorted; the others sorted, as `Repair.proposals` does.
            lists.append(s == 3 ? list : list.sorted(by: Repair.order))
        }
        let all = lists.flatMap { $0 }.sorted(by: Repair.order).map(\.customerID)
        // Odd shards' lists as a coordinator receives them (records read in place, after a header), the
        // others as arrays: the merge reads both the same way.
        var merged = lists.enumerated().map { s, list -> Repair.MoveList in
            guard s % 2 == 1 else { return Repair.MoveList(list) }
            var bytes: [UInt8] = [1, 2, 3]
            for m in list { Repair.MoveList.appendRecord(m, to: &bytes) }
            return Repair.MoveList(records: bytes, at: 3, count: list.count, shard: Int32(s))
        }
        let order = Repair.globalOrder(&merged)
        #expect(order.map { merged[Int($0.shard)][Int($0.index)].customerID } == all)
        #expect(order.count == all.count)
    }

    /// A move read in place from its record is the move written, field for field, negative numbers,
    /// "none" uses and special scores included.
    @Test func moveRecordsReadBackExactly() {
        var rng = SplitMix64(seed: 8)
        let moves = (0..<500).map { i -> Repair.Move in
            func use() -> Repair.Use {
                i % 7 == 0 ? .none(rows: 9) : .init(budget: Int32(rng.next() % 10), product: Int32(rng.next() % 10), channel: Int32(rng.next() % 10),
                                                     region: Int32(rng.next() % 10), segment: Int32(rng.next() % 10), cost: Int64(bitPattern: rng.next()))
            }
            return Repair.Move(shard: 4, customer: Int32(i), remove: i % 3 == 0 ? -1 : Int32(rng.next() % 1000), add: i % 5 == 0 ? -1 : Int32(rng.next() % 1000),
                               customerID: rng.next(), score: i == 3 ? -0.0 : Double(Int64(bitPattern: rng.next()) % 1_000) / 3,
                               removeUse: use(), addUse: use())
        }
        var bytes: [UInt8] = Array(repeating: 0xAB, count: 17)
        for m in moves { Repair.MoveList.appendRecord(m, to: &bytes) }
        #expect(bytes.count == 17 + moves.count * Repair.MoveList.recordSize)
        let list = Repair.MoveList(records: bytes, at: 17, count: moves.count, shard: 4)
        #expect(Array(list) == moves)
        #expect(list == Repair.MoveList(moves))
        #expect(list.indices.allSatisfy { list.key($0) == (moves[$0].score, moves[$0].customerID) })
    }

    /// A shard asked for its best `limit` moves (pruning with the heap of the best so far) sends exactly the
    /// first `limit` of every customer's best move in the global order, for every row and both directions.
    @Test func aLimitedMoveListIsTheHeadOfTheFullOne() throws {
        let g = PopulationGenerator(customers: 3_000, offers: 16, seed: 13, trees: 8, depth: 4)
        let plan = try ScoringPlan(campaign: g.campaign(estimatingFrom: 1_000), schema: g.schema, models: g.propensityModels())
        let table = Self.scored(g, plan: plan, customers: 3_000)
        let cs = Self.constraints(g, plan: plan)
        var shard = ShardOptimizer(plan: plan, constraints: cs, table: table)
        _ = shard.evaluate(Prices(count: cs.count))
        let use = Repair.state(shard, slot: 0).use
        var checked = 0
        for k in 0..<cs.count {
            for goal in [Repair.Goal.reduce(k), .increase(k)] {
                let all = Repair.proposals(shard, shard: 0, slot: 0, goal: goal, use: use)
                for limit in [1, 7, 100, 2_999] {
                    let cut = Repair.proposals(shard, shard: 0, slot: 0, goal: goal, use: use, limit: limit)
                    #expect(cut == Array(all.prefix(limit)), "goal \(goal), limit \(limit)")
                }
                if all.count > 100 { checked += 1 }
            }
        }
        // Enough rows have more moves than the limits cut at, so the pruning is exercised.
        #expect(checked >= 3)
    }

    /// A group that records the limit of every improve request and whether the lists came back cut.
    final class RecordingGroup: ShardGroup {
        let inner: ShardArray
        var improveCalls: [(limit: Int, cut: Bool, longest: Int)] = []
        init(_ inner: ShardArray) { self.inner = inner }
        var constraints: ConstraintSet { inner.constraints }
        var shardCount: Int { inner.shardCount }
        var customerCount: Int { inner.customerCount }
        func precheckFacts() throws -> PrecheckFacts { try inner.precheckFacts() }
        func evaluate(_ request: PricingRequest, sample: CustomerSample) throws -> Aggregates { try inner.evaluate(request, sample: sample) }
        func splitCustomers(_ request: PricingRequest, active: [[UInt8]], passes: [[UInt32]]) throws -> [[SplitCustomer]] {
            try inner.splitCustomers(request, active: active, passes: passes)
        }
        func withAllCandidates(_ customers: [[Int32]]) throws -> [[SplitCustomer]] { try inner.withAllCandidates(customers) }
        func copySelection(from: Int, to: Int) throws { try inner.copySelection(from: from, to: to) }
        func state(slot: Int) throws -> SelectionState { try inner.state(slot: slot) }
        func proposals(slot: Int, goal: Repair.Goal, use: [Int64], limit: Int) throws -> [Repair.MoveList] {
            let lists = try inner.proposals(slot: slot, goal: goal, use: use, limit: limit)
            if case .improve = goal { improveCalls.append((limit, lists.contains { !$0.rest.isEmpty }, lists.map(\.count).max() ?? 0)) }
            return lists
        }
        func apply(_ changes: [[Repair.Change]], slot: Int) throws { try inner.apply(changes, slot: slot) }
    }

    /// An improve pass that asks each shard for its best moves only, with a summary of the rest, accepts
    /// exactly the moves the pass over every move accepts: same selections, same use, whatever the limit
    /// (here acceptances go on to the end of the lists, so the passes ask again: `chooseOnSummaries…`
    /// covers ending on the summaries).
    @Test func aCutImprovePassAcceptsWhatTheFullOneAccepts() throws {
        let g = PopulationGenerator(customers: 4_000, offers: 16, seed: 17, trees: 6, depth: 3)
        let plan = try ScoringPlan(campaign: g.campaign(estimatingFrom: 4_000), schema: g.schema, models: g.propensityModels())
        let cs = Self.constraints(g, plan: plan)
        func group() -> RecordingGroup {
            let shards = (0..<4).map { k in
                ShardOptimizer(plan: plan, constraints: cs, table: Self.scored(g, plan: plan, ids: (k * 1_000)..<((k + 1) * 1_000)))
            }
            return RecordingGroup(ShardArray(shards, constraints: cs))
        }
        // At the optimizer's final prices, as in a run: the selection is near the limits, the repair mends
        // what is left and its improve passes find most moves refused for want of budget.
        let prices = try Optimizer.run(group()).prices
        let reference = group()
        _ = try reference.evaluate(prices)
        #expect(try Repair.run(reference, slot: 0, improveLimit: .max).isEmpty)
        let want = try reference.state(slot: 0)
        #expect(reference.improveCalls.count >= 1 && !reference.improveCalls.contains { $0.cut })
        // A limit below the longest list a shard proposed must cut some list.
        let longest = reference.improveCalls.map(\.longest).max() ?? 0
        let limits = [1, 3, 20, 100, 150, 200, 250, 300, 350]
        #expect(limits.filter { $0 < longest }.count >= 5, "longest list \(longest)")
        for limit in limits {
            let cut = group()
            _ = try cut.evaluate(prices)
            #expect(try Repair.run(cut, slot: 0, improveLimit: limit).isEmpty)
            #expect(try cut.state(slot: 0) == want, "limit \(limit)")
            #expect(zip(cut.inner.shards, reference.inner.shards).allSatisfy { $0.selections[0] == $1.selections[0] }, "limit \(limit)")
            if limit < longest { #expect(cut.improveCalls.contains { $0.cut }, "limit \(limit): no list was cut") }
        }
    }

    /// `choose` over lists cut at a limit, with summaries of the moves left out, gives what it gives over
    /// the full lists whenever it answers, and answers (goes past the cut) when the budget runs out before
    /// the cut: random moves, costs and limits, a budget and three count rows near their maxima.
    @Test func chooseOnSummariesAgreesWithTheFullLists() {
        var rng = SplitMix64(seed: 23)
        let rows = [ConstraintSet.Row(kind: .budget, name: "budget", lower: nil, upper: 1_000_000),
                    ConstraintSet.Row(kind: .product, name: "p0", lower: nil, upper: 60),
                    ConstraintSet.Row(kind: .product, name: "p1", lower: 10, upper: 60),
                    ConstraintSet.Row(kind: .channel, name: "c0", lower: nil, upper: 80)]
        let none = Repair.Use.none(rows: rows.count)
        var answered = 0, askedMore = 0
        for trial in 0..<400 {
            let shards = 3
            var lists: [[Repair.Move]] = []
            var id: UInt64 = 0
            for s in 0..<shards {
                var list: [Repair.Move] = []
                for c in 0..<Int(20 + rng.next() % 80) {
                    id += 1
                    // Most moves raise the cost (an added candidate costs 5 to 55, a removed one 0 to 9, in thousands).
                    func use(_ added: Bool) -> Repair.Use {
                        Repair.Use(budget: 0, product: rng.next() % 3 == 0 ? 4 : Int32(1 + rng.next() % 2), channel: rng.next() % 2 == 0 ? 3 : 4,
                                   region: 4, segment: 4, cost: Int64(added ? 5 + rng.next() % 51 : rng.next() % 10) * 1_000)
                    }
                    let hasRemove = rng.next() % 4 != 0, hasAdd = true  // an improve pass proposes no plain drops
                    list.append(Repair.Move(shard: Int32(s), customer: Int32(c), remove: hasRemove ? 1 : -1, add: hasAdd ? 2 : -1, customerID: id,
                                            score: -Double(rng.next() % 1_000), removeUse: hasRemove ? use(false) : none, addUse: hasAdd ? use(true) : none))
                }
                lists.append(list.sorted(by: Repair.order))
            }
            // Uses at or just under the limits; the budget's slack from none to a few moves' worth.
            let slack = trial % 4 == 0 ? 0 : Int64(rng.next() % 120) * 1_000
            let start: [Int64] = [1_000_000 - slack, 60 - Int64(rng.next() % 3), 30, 80 - Int64(rng.next() % 3), 0]
            var full = start
            var all = lists.map { Repair.MoveList($0) }
            let wanted = all.isEmpty ? nil : { () -> (changes: [[Repair.Change]], applied: Int)? in
                let keys = Repair.globalOrder(&all)
                return Repair.choose(count: keys.count, move: { all[Int(keys[$0].shard)][Int(keys[$0].index)] }, rows: rows, shards: shards,
                                     goal: .improve, use: &full)
            }()
            let limit = Int(1 + rng.next() % 60)
            var cut = lists.map { l -> Repair.MoveList in
                l.count > limit ? Repair.MoveList(Array(l[..<limit]), rest: Repair.Remainder.summary(of: l[limit...], rows: rows.count)) : Repair.MoveList(l)
            }
            var cutoff: (score: Double, customer: UInt64)? = nil
            var rest: [Repair.Remainder] = []
            for l in cut where l.count >= limit {
                let k = l.key(l.count - 1)
                if cutoff == nil || k.score < cutoff!.score || (k.score == cutoff!.score && k.customer < cutoff!.customer) { cutoff = k }
                rest += l.rest
            }
            var got = start
            let keys = Repair.globalOrder(&cut)
            let answer = Repair.choose(count: keys.count, move: { cut[Int(keys[$0].shard)][Int(keys[$0].index)] }, rows: rows, shards: shards,
                                       goal: .improve, use: &got, cutoff: cutoff, rest: rest)
            if let answer {
                answered += 1
                #expect(answer.changes == wanted?.changes && answer.applied == wanted?.applied && got == full, "trial \(trial), limit \(limit)")
            } else {
                askedMore += 1
            }
        }
        // Both outcomes occur: some passes end on the summaries, others need the moves left out.
        #expect(answered > 40 && askedMore > 40, "\(answered) answered, \(askedMore) asked for more")
    }

    /// The proposals' check of the other rows (`keepsOthersSameKinds`, one row per field) answers as the
    /// general one does (every row summed over every field) for every move a shard can build: drops, adds
    /// and swaps among a customer's candidates, at uses on both sides of every limit, for every target.
    @Test func theSparseRowCheckAgreesWithTheGeneralOne() throws {
        let g = PopulationGenerator(customers: 400, offers: 16, seed: 21, trees: 4, depth: 3)
        let plan = try ScoringPlan(campaign: g.campaign(estimatingFrom: 400), schema: g.schema, models: g.propensityModels())
        let table = Self.scored(g, plan: plan, customers: 400)
        let cs = Self.constraints(g, plan: plan)
        let shard = ShardOptimizer(plan: plan, constraints: cs, table: table)
        let limits = Repair.Limits(cs.rows)
        let none = Repair.Use.none(rows: cs.count)
        var rng = SplitMix64(seed: 7)
        var compared = 0, refused = 0
        var firstMismatch: String? = nil
        for trial in 0..<20 {
            // Each row's use at, just under or just over one of its bounds (or far from both).
            var use = cs.rows.map { r -> Int64 in
                let edge = [r.upper, r.lower].compactMap { $0 }.randomElement(using: &rng) ?? 1_000
                let step: Int64 = r.kind == .budget ? Int64.random(in: 0...5_000_000, using: &rng) : 1
                return max(0, edge + [-step, 0, step, 0].randomElement(using: &rng)!)
            } + [0]
            if trial % 10 == 0 { use = use.map { $0 / 2 } }
            for i in stride(from: trial % 7, to: table.customerCount, by: 7) {
                let lo = Int(table.offsets[i]), hi = Int(table.offsets[i + 1])
                let uses = (lo..<hi).map { Repair.rowUse(shard, customer: i, candidate: $0) } + [none]
                for a in uses { for r in uses {
                    for target in [Int32(-1), Int32.random(in: 0..<Int32(cs.count), using: &rng)] {
                        let general = limits.keepsOthers(use: use, remove: r, add: a, target: target)
                        let sparse = use.withUnsafeBufferPointer { u in limits.upper.withUnsafeBufferPointer { up in limits.lower.withUnsafeBufferPointer { lw in
                            limits.keepsOthersSameKinds(use: u, upper: up, lower: lw, remove: r, add: a, target: target) } } }
                        if general != sparse, firstMismatch == nil { firstMismatch = "use \(use), remove \(r), add \(a), target \(target)" }
                        compared += 1
                        if !general { refused += 1 }
                    }
                } }
            }
        }
        #expect(firstMismatch == nil, "\(firstMismatch ?? "")")
        // Both answers occur often: the uses sit on the limits.
        #expect(refused > compared / 20 && refused < compared - compared / 20, "\(refused) of \(compared) refused")
    }

    /// A slot's state counted ahead (`keepState`, as a worker does after the settle pass) follows the changes
    /// applied to it, those not applied included (an add with no room left), and is the state counted afresh;
    /// another pass or a copy over the slot drops it.
    @Test func aKeptStateFollowsTheChangesAppliedToItsSlot() throws {
        let g = PopulationGenerator(customers: 3_000, offers: 16, seed: 13, trees: 8, depth: 4)
        let plan = try ScoringPlan(campaign: g.campaign(estimatingFrom: 1_000), schema: g.schema, models: g.propensityModels())
        let table = Self.scored(g, plan: plan, customers: 2_000)
        let cs = Self.constraints(g, plan: plan)
        var s = ShardOptimizer(plan: plan, constraints: cs, table: table)
        _ = s.evaluate(Prices(count: cs.count))
        let before = Repair.state(s, slot: 0)
        s.keepState(slot: 0)
        var rng = SplitMix64(seed: 3)
        var changes: [Repair.Change] = [], full = 0
        for i in stride(from: 0, to: table.customerCount, by: 3) {
            let chosen = (0..<s.maxOffers).map { s.selections[0][i * s.maxOffers + $0] }.filter { $0 >= 0 }
            if chosen.count == s.maxOffers { full += 1 }
            if let c = chosen.first, rng.unit() < 0.5 { changes.append(.init(customer: Int32(i), remove: c, add: -1)) }
            if let a = table.range(i).filter({ !chosen.contains(Int32($0)) }).randomElement(using: &rng) {
                changes.append(.init(customer: Int32(i), remove: -1, add: Int32(a)))
            }
        }
        #expect(full > 10 && changes.count > 500)
        s.apply(changes, slot: 0)
        let fresh = Repair.state(s, slot: 0)
        #expect(fresh != before)
        #expect(s.state(slot: 0) == fresh)
        // Changes to another slot leave it alone.
        s.copySelection(from: 0, to: 1)
        s.apply(stride(from: 1, to: 300, by: 3).compactMap { i in
            s.selections[1][i * s.maxOffers] >= 0 ? Repair.Change(customer: Int32(i), remove: s.selections[1][i * s.maxOffers], add: -1) : nil
        }, slot: 1)
        #expect(s.state(slot: 0) == fresh && s.state(slot: 1) == Repair.state(s, slot: 1) && s.state(slot: 1) != fresh)
        // A copy over the slot, and another pass, drop it.
        s.copySelection(from: 1, to: 0)
        #expect(s.state(slot: 0) == Repair.state(s, slot: 1))
        s.keepState(slot: 0)
        var prices = Prices(count: cs.count)
        for k in 0..<cs.count { prices.upper[k] = cs.rows[k].kind == .budget ? 0.5 : 3 }
        _ = s.evaluate(prices)
        #expect(s.state(slot: 0) == Repair.state(s, slot: 0) && s.state(slot: 0) != Repair.state(s, slot: 1))
    }
}
