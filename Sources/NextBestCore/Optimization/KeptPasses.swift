/// The totals of one pass per customer bucket (`CustomerBuckets`): use of every row (with the sentinel
/// row "no row" last, `rows + 1` per bucket), objective, Lagrangian value, offers and cost, all exact
/// integers (micro-units), so that totals composed from several passes are the same as one pass's.
struct BucketTotals: Sendable {
    let rows: Int
    var use: ContiguousArray<Int64>
    var primal: ContiguousArray<Int64>
    var dual: ContiguousArray<Int64>
    var offers: ContiguousArray<Int64>
    var cost: ContiguousArray<Int64>

    init(rows: Int) {
        self.rows = rows
        use = ContiguousArray(repeating: 0, count: (rows + 1) * CustomerBuckets.count)
        primal = ContiguousArray(repeating: 0, count: CustomerBuckets.count)
        dual = primal; offers = primal; cost = primal
    }

    /// Adds bucket `b` of `other`.
    mutating func add(bucket b: Int, of other: BucketTotals) {
        let stride = rows + 1
        for k in 0..<stride { use[b * stride + k] += other.use[b * stride + k] }
        primal[b] += other.primal[b]; dual[b] += other.dual[b]; offers[b] += other.offers[b]; cost[b] += other.cost[b]
    }

    /// The pass's aggregates: totals and per-bucket columns (the sentinel row dropped).
    func aggregates() -> Aggregates {
        var agg = Aggregates(rows: rows)
        for b in 0..<CustomerBuckets.count {
            for k in 0..<rows {
                let u = use[b * (rows + 1) + k]
                agg.use[k] += u
                agg.bucketUse[b * rows + k] = u
            }
            agg.bucketPrimal[b] = primal[b]
            agg.primalMicros += primal[b]
            agg.dualMicros += dual[b]
            agg.offers += offers[b]
            agg.costMicros += cost[b]
        }
        return agg
    }
}

/// A full pass's selection and totals, kept by a shard under the tag its request carried
/// (`PricingRequest.pass`): each list as its customer's candidate positions (`UInt16.max` for an empty
/// place), which is a quarter of the memory of candidate indices. Settling the integer answer reads each
/// bucket's choice at its main point, and the other points its bucket mixes, from these rather than
/// solving every customer again (at 10 M customers that pass and the split customers' one took about 1.7 s
/// of the optimize stage).
struct KeptPass: Sendable {
    var tag: UInt32
    var lists: ContiguousArray<UInt16>
    var totals: BucketTotals
    /// Per bucket, whether the pass solved it (a pass may leave buckets out: `PricingRequest.unsolved`);
    /// only those buckets' lists and totals are the pass's.
    var solved: [Bool]
}

extension ShardOptimizer {
    /// Full passes a shard keeps at most (the oldest goes first): a run's settle step uses the last few.
    /// At the default 50,000 customers per shard and 3 offers each, one pass takes 300 KB.
    static let keptPassLimit = 10

    /// Keeps slot 0 (just evaluated over everybody) and its totals under `pass`.
    mutating func keep(pass: UInt32, totals: BucketTotals, solved: [Bool]) {
        guard canKeepPasses else { return }
        let mo = maxOffers
        var lists = ContiguousArray<UInt16>(repeating: UInt16.max, count: table.customerCount * mo)
        selections[0].withUnsafeBufferPointer { sel in
            table.offsets.withUnsafeBufferPointer { first in
                for i in 0..<table.customerCount {
                    for j in 0..<mo where sel[i * mo + j] >= 0 { lists[i * mo + j] = UInt16(sel[i * mo + j] - first[i]) }
                }
            }
        }
        kept.removeAll { $0.tag == pass }
        if kept.count >= Self.keptPassLimit { kept.removeFirst(kept.count - Self.keptPassLimit + 1) }
        kept.append(KeptPass(tag: pass, lists: lists, totals: totals, solved: solved))
    }

    /// The kept pass with tag `pass`, if this shard has it and it solved bucket `bucket`.
    func keptPass(_ pass: UInt32, bucket: Int) -> KeptPass? {
        pass == 0 ? nil : kept.last { $0.tag == pass }.flatMap { $0.solved[bucket] ? $0 : nil }
    }

    /// Copies into `selection` the lists of the buckets whose `request.bucketPass` this shard kept, adds
    /// their totals, and returns which buckets were so filled (nil when none was).
    func reuseKept(_ request: PricingRequest, into selection: inout ContiguousArray<Int32>,
                            totals: inout BucketTotals) -> ContiguousArray<Bool>? {
        guard request.bucketPass.count == CustomerBuckets.count, !kept.isEmpty else { return nil }
        var source = [Int](repeating: -1, count: CustomerBuckets.count)
        for b in 0..<CustomerBuckets.count {
            let tag = request.bucketPass[b]
            if tag != 0, let k = kept.lastIndex(where: { $0.tag == tag }), kept[k].solved[b] { source[b] = k }
        }
        guard source.contains(where: { $0 >= 0 }) else { return nil }
        for b in 0..<CustomerBuckets.count where source[b] >= 0 { totals.add(bucket: b, of: kept[source[b]].totals) }
        let mo = maxOffers
        selection.withUnsafeMutableBufferPointer { sel in
            table.offsets.withUnsafeBufferPointer { first in
                for i in 0..<table.customerCount {
                    let k = source[Int(customerBucket[i])]
                    guard k >= 0 else { continue }
                    kept[k].lists.withUnsafeBufferPointer { lists in
                        for j in 0..<mo {
                            let c = lists[i * mo + j]
                            sel[i * mo + j] = c == UInt16.max ? -1 : first[i] + Int32(c)
                        }
                    }
                }
            }
        }
        return ContiguousArray(source.map { $0 >= 0 })
    }

    /// Customer `i`'s list in a kept pass, sorted, into `out` (room for `maxOffers`); its length.
    @inline(__always)
    func keptList(_ pass: KeptPass, customer i: Int, into out: UnsafeMutablePointer<Int32>) -> Int {
        let mo = maxOffers
        var n = 0
        pass.lists.withUnsafeBufferPointer { lists in
            for j in 0..<mo where lists[i * mo + j] != UInt16.max { out[n] = table.offsets[i] + Int32(lists[i * mo + j]); n += 1 }
        }
        Self.sortSmall(out, n)
        return n
    }
}
