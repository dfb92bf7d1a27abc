/// Settles the customers the LP master leaves split (see `SplitCustomer`) into whole lists that keep
/// every row, in two steps:
///
/// 1. An LP (CLP) over each split customer's alternatives (its lists at the points its bucket mixes):
///    one weight per alternative, summing to 1 per customer, the campaign's rows within the room the
///    others leave. The master's mix is a feasible point of it, so it is feasible; at an optimal vertex
///    all but a few customers (at most one per binding row) take one alternative whole.
/// 2. A 0-1 program (CBC) over the customers left fractional, with every one of their candidates (asked
///    of their shards then: the split customers come with their alternatives' candidates only), in the
///    room the settled ones leave. If it finds nothing, those customers take their heaviest alternative
///    and the caller's repair mends the rest.
public enum Settle {
    /// The most fractional customers the 0-1 program takes.
    static let maxProgramCustomers = 1_000
    /// One list's use of the campaign's rows: its nonzero amounts in row order (micro-money for the budget,
    /// offers for the others). Sparse: a list touches a few rows of many (dense arrays of every row per list
    /// were most of the settle's own time at 10 M).
    typealias Amounts = [(row: Int32, micros: Int64)]

    /// The use of `list` (candidates of customer `s`) of the rows of `cs` into `out` (emptied first; its
    /// storage is reused from list to list), and the list's objective in micro-money.
    static func use(_ s: SplitCustomer, _ list: [Int32], rows cs: ConstraintSet, into out: inout Amounts) -> Int64 {
        let n = cs.count
        out.removeAll(keepingCapacity: true)
        var objective: Int64 = 0
        @inline(__always) func add(_ r: Int32, _ v: Int64) { if r >= 0 && Int(r) < n { out.append((r, v)) } }
        for c in list {
            guard let o = s.options.first(where: { $0.candidate == c }) else { continue }
            objective += o.objectiveMicros
            if cs.budgetRow >= 0 { add(Int32(cs.budgetRow), o.costMicros) }
            add(o.productRow, 1); add(o.channelRow, 1); add(s.regionRow, 1); add(s.segmentRow, 1)
        }
        // In row order (a few entries: insertion), amounts on one row summed, zeros dropped.
        for k in out.indices.dropFirst() {
            let x = out[k]
            var j = k
            while j > 0 && out[j - 1].row > x.row { out[j] = out[j - 1]; j -= 1 }
            out[j] = x
        }
        var w = 0
        for k in out.indices {
            if w > 0 && out[w - 1].row == out[k].row { out[w - 1].micros += out[k].micros } else { out[w] = out[k]; w += 1 }
        }
        out.removeLast(out.count - w)
        out.removeAll { $0.micros == 0 }
        return objective
    }

    /// Adds `sign` times the amounts `a` to the dense per-row `totals`.
    static func add(_ a: Amounts, to totals: inout [Int64], sign: Int64 = 1) {
        for r in a { totals[Int(r.row)] += sign * r.micros }
    }

    /// The LP value of `micros` on row `row` (money for the budget).
    @inline(__always) static func value(_ micros: Int64, row: Int32, _ cs: ConstraintSet) -> Double {
        Double(micros) * (Int(row) == cs.budgetRow ? 1e-6 : 1)
    }

    /// The rows' room for `customers` when everybody else uses `others` (micro-money for the budget).
    static func room(_ cs: ConstraintSet, others: [Int64]) -> [IntegerProgram.Row] {
        cs.rows.enumerated().map { k, r in
            let u = k == cs.budgetRow ? 1e-6 : 1.0
            return IntegerProgram.Row(lower: r.lower.map { Double($0 - others[k]) * u } ?? -.infinity,
                                      upper: r.upper.map { Double($0 - others[k]) * u } ?? .infinity)
        }
    }

    /// The changes to slot 0 per shard that settle `split` (whose current lists are in `slotUse`, the
    /// slot's use of every row), or nil when nothing better than the current lists was found.
    /// `allCandidates` gives customers (per shard, their indices) with every candidate of theirs.
    ///
    /// Tens of thousands of customers at 10 M: their amounts and weights are kept in flat arrays, and the LP's
    /// columns are written straight in the column-major form CLP takes (no array per list or column).
    public static func changes(_ split: [[SplitCustomer]], rows cs: ConstraintSet, slotUse: [Int64],
                               allCandidates: ([[Int32]]) throws -> [[SplitCustomer]]) throws -> [[Repair.Change]]? {
        let n = cs.count
        let flat = split.enumerated().flatMap { shard, list in list.indices.map { (shard, $0) } }
        guard !flat.isEmpty else { return nil }
        var scratch: Amounts = []
        // Everybody else's use.
        var others = Array(slotUse.prefix(n))
        for list in split { for s in list { _ = use(s, s.chosen, rows: cs, into: &scratch); add(scratch, to: &others, sign: -1) } }
        // Step 1: the LP over the alternatives, each customer's first alternative as its reference: a
        // variable per other alternative (its weight), the reference's weight being 1 minus theirs. A
        // customer with two alternatives needs no row of its own (its one weight is at most 1), so the LP
        // has the campaign's rows and one row per customer with three or more (one row per customer made
        // CLP take over a second for 31,000 customers at 10 M).
        var withReference = others
        // Customer f's reference amounts are `reference[referenceStart[f]..<referenceStart[f + 1]]`; its
        // alternatives' weights `weight[weightStart[f]..<weightStart[f + 1]]`.
        var reference: Amounts = [], referenceStart = [0], referenceObjective: [Int64] = [], weightStart = [0]
        reference.reserveCapacity(8 * flat.count); referenceStart.reserveCapacity(flat.count + 1)
        referenceObjective.reserveCapacity(flat.count); weightStart.reserveCapacity(flat.count + 1)
        for list in split {
            for s in list {
                referenceObjective.append(use(s, s.alternatives[0], rows: cs, into: &scratch))
                add(scratch, to: &withReference)
                reference += scratch
                referenceStart.append(reference.count)
                weightStart.append(weightStart.last! + s.alternatives.count)
            }
        }
        let room = room(cs, others: withReference)
        var rowLower = room.map(\.lower), rowUpper = room.map(\.upper)
        var owner: [(customer: Int, alternative: Int)] = []
        var columns = LinearProgram.ColumnBatch()
        var f = 0
        for list in split {
            for s in list {
                let alternatives = s.alternatives
                let own = alternatives.count > 2 ? Int32(rowLower.count) : -1
                if own >= 0 { rowLower.append(-.infinity); rowUpper.append(1) }
                let ref = referenceStart[f]..<referenceStart[f + 1]
                for a in alternatives.indices.dropFirst() {
                    let objective = use(s, alternatives[a], rows: cs, into: &scratch)
                    // This alternative's amounts less the reference's, row by row.
                    var i = 0, j = ref.lowerBound
                    while i < scratch.count || j < ref.upperBound {
                        let x = i < scratch.count ? scratch[i].row : .max, y = j < ref.upperBound ? reference[j].row : .max
                        let d = (x <= y ? scratch[i].micros : 0) - (y <= x ? reference[j].micros : 0)
                        if d != 0 { columns.entry(row: min(x, y), value: value(d, row: min(x, y), cs)) }
                        if x <= y { i += 1 }
                        if y <= x { j += 1 }
                    }
                    if own >= 0 { columns.entry(row: own, value: 1) }
                    columns.close(cost: -(Double(objective) / 1e6 - Double(referenceObjective[f]) / 1e6), upper: 1)
                    owner.append((f, a))
                }
                f += 1
            }
        }
        let lp = LinearProgram(rowLower: rowLower, rowUpper: rowUpper)
        lp.add(columns)
        guard lp.solve() == .optimal else { return nil }
        let z = lp.primal
        var weight = [Double](repeating: 0, count: weightStart.last!)
        for f in flat.indices { weight[weightStart[f]] = 1 }
        // The reference's weight is 1 less the others'.
        for (j, o) in owner.enumerated() { weight[weightStart[o.customer] + o.alternative] = z[j]; weight[weightStart[o.customer]] -= z[j] }
        var pick = [Int](repeating: -1, count: flat.count)
        var heaviest = [(alternative: Int, weight: Double)](repeating: (0, -1), count: flat.count)
        for f in flat.indices {
            for a in 0..<(weightStart[f + 1] - weightStart[f]) {
                let w = weight[weightStart[f] + a]
                if w > 1 - 1e-7 { pick[f] = a }
                if w > heaviest[f].weight { heaviest[f] = (a, w) }
            }
        }
        // Step 2: the 0-1 program over the fractional customers, every candidate of theirs a variable.
        var lists = flat.indices.map { f in pick[f] >= 0 ? split[flat[f].0][flat[f].1].alternatives[pick[f]] : [] }
        let fractional = flat.indices.filter { pick[$0] < 0 }
        if !fractional.isEmpty {
            var left = others
            for f in flat.indices where pick[f] >= 0 { _ = use(split[flat[f].0][flat[f].1], lists[f], rows: cs, into: &scratch); add(scratch, to: &left) }
            // An optimal vertex leaves about one customer per binding row fractional; many more means a
            // degenerate LP, and the 0-1 program would be large: those take their heaviest alternative.
            if fractional.count <= maxProgramCustomers, let customers = try withAll(fractional.map { flat[$0] }, split, allCandidates),
               let chosen = wholeLists(customers, rows: cs, others: left) {
                for (x, f) in fractional.enumerated() { lists[f] = chosen[x] }
            } else {
                for f in fractional { lists[f] = split[flat[f].0][flat[f].1].alternatives[heaviest[f].alternative] }
            }
        }
        var out = split.map { _ in [Repair.Change]() }
        for (f, (shard, i)) in flat.enumerated() {
            let s = split[shard][i]
            // A few candidates each: looked up in the lists themselves.
            for c in s.chosen where !lists[f].contains(c) { out[shard].append(Repair.Change(customer: s.customer, remove: c, add: -1)) }
            for c in lists[f] where !s.chosen.contains(c) { out[shard].append(Repair.Change(customer: s.customer, remove: -1, add: c)) }
        }
        return out
    }

    /// `customers` (shard, index in `split[shard]`) with every candidate of theirs, in the same order; nil if
    /// a shard did not give one of them back.
    static func withAll(_ customers: [(Int, Int)], _ split: [[SplitCustomer]],
                        _ allCandidates: ([[Int32]]) throws -> [[SplitCustomer]]) throws -> [SplitCustomer]? {
        var asked = split.map { _ in [Int32]() }
        for (shard, i) in customers { asked[shard].append(split[shard][i].customer) }
        let answers = try allCandidates(asked)
        guard answers.count == split.count else { return nil }
        var out: [SplitCustomer] = []
        for (shard, i) in customers {
            guard let full = answers[shard].first(where: { $0.customer == split[shard][i].customer }),
                  split[shard][i].chosen.allSatisfy({ c in full.options.contains { $0.candidate == c } }) else { return nil }
            var s = full
            s.chosen = split[shard][i].chosen
            out.append(s)
        }
        return out
    }

    /// The 0-1 program over `customers`: every candidate a variable; per customer at most one channel per
    /// offer, `maxOffers` offers and `maxPerFamily` per family; the campaign's rows within the room left
    /// by everybody else (`others`). Each customer's chosen candidates, or nil if none was found.
    static func wholeLists(_ customers: [SplitCustomer], rows cs: ConstraintSet, others: [Int64]) -> [[Int32]]? {
        var rows = room(cs, others: others)
        var variables: [IntegerProgram.Variable] = []
        var owner: [(customer: Int, candidate: Int32)] = []
        var scratch: Amounts = []
        func amounts(_ s: SplitCustomer, _ candidate: Int32) -> [(row: Int32, value: Double)] {
            _ = use(s, [candidate], rows: cs, into: &scratch)
            return scratch.map { ($0.row, value($0.micros, row: $0.row, cs)) }
        }
        for (x, s) in customers.enumerated() {
            let customerRow = Int32(rows.count)
            rows.append(.init(lower: -.infinity, upper: Double(s.maxOffers)))
            var offerRow: [Int32: Int32] = [:], familyRow: [Int32: Int32] = [:]
            for o in s.options where offerRow[o.offer] == nil { offerRow[o.offer] = Int32(rows.count); rows.append(.init(lower: -.infinity, upper: 1)) }
            for o in s.options where familyRow[o.family] == nil {
                familyRow[o.family] = Int32(rows.count); rows.append(.init(lower: -.infinity, upper: Double(s.maxPerFamily)))
            }
            for o in s.options {
                variables.append(.init(objective: Double(o.objectiveMicros) / 1e6,
                                       entries: amounts(s, o.candidate) + [(customerRow, 1), (offerRow[o.offer]!, 1), (familyRow[o.family]!, 1)]))
                owner.append((x, o.candidate))
            }
        }
        guard let chosen = IntegerProgram.solve(rows: rows, variables: variables) else { return nil }
        var lists = customers.map { _ in [Int32]() }
        for (v, o) in owner.enumerated() where chosen[v] { lists[o.customer].append(o.candidate) }
        return lists
    }
}
