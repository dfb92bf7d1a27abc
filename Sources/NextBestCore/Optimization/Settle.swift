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
    /// offers for the others) and its objective in micro-money. Sparse: a list touches a few rows of many
    /// (dense arrays of every row per list were most of the settle's own time at 10 M).
    struct Use {
        var rows: [(row: Int32, micros: Int64)]
        var objectiveMicros: Int64

        /// The LP entries of the amounts `rows` (money for the budget).
        static func entries(_ rows: [(row: Int32, micros: Int64)], _ cs: ConstraintSet) -> [(row: Int32, value: Double)] {
            rows.map { ($0.row, Double($0.micros) * (Int($0.row) == cs.budgetRow ? 1e-6 : 1)) }
        }

        /// This use less `other`'s, row by row (nonzero differences, in row order).
        func minus(_ other: Use) -> [(row: Int32, micros: Int64)] {
            var out: [(row: Int32, micros: Int64)] = []
            var i = 0, j = 0
            while i < rows.count || j < other.rows.count {
                let a = i < rows.count ? rows[i].row : .max, b = j < other.rows.count ? other.rows[j].row : .max
                let d = (a <= b ? rows[i].micros : 0) - (b <= a ? other.rows[j].micros : 0)
                if d != 0 { out.append((min(a, b), d)) }
                if a <= b { i += 1 }
                if b <= a { j += 1 }
            }
            return out
        }

        /// Adds `sign` times the amounts to the dense per-row `totals`.
        func add(to totals: inout [Int64], sign: Int64 = 1) {
            for r in rows { totals[Int(r.row)] += sign * r.micros }
        }
    }

    /// The use of `list` (candidates of customer `s`) of the rows of `cs`.
    static func use(_ s: SplitCustomer, _ list: [Int32], rows cs: ConstraintSet) -> Use {
        let n = cs.count
        var rows: [(row: Int32, micros: Int64)] = []
        rows.reserveCapacity(5 * list.count)
        var objective: Int64 = 0
        @inline(__always) func add(_ r: Int32, _ v: Int64) { if r >= 0 && Int(r) < n { rows.append((r, v)) } }
        for c in list {
            guard let o = s.options.first(where: { $0.candidate == c }) else { continue }
            objective += o.objectiveMicros
            if cs.budgetRow >= 0 { add(Int32(cs.budgetRow), o.costMicros) }
            add(o.productRow, 1); add(o.channelRow, 1); add(s.regionRow, 1); add(s.segmentRow, 1)
        }
        rows.sort { $0.row < $1.row }
        // Amounts on one row summed, zeros dropped.
        var merged: [(row: Int32, micros: Int64)] = []
        merged.reserveCapacity(rows.count)
        for r in rows {
            if let last = merged.last, last.row == r.row { merged[merged.count - 1].micros += r.micros } else { merged.append(r) }
        }
        merged.removeAll { $0.micros == 0 }
        return Use(rows: merged, objectiveMicros: objective)
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
    public static func changes(_ split: [[SplitCustomer]], rows cs: ConstraintSet, slotUse: [Int64],
                               allCandidates: ([[Int32]]) throws -> [[SplitCustomer]]) throws -> [[Repair.Change]]? {
        let n = cs.count
        let flat = split.enumerated().flatMap { shard, list in list.indices.map { (shard, $0) } }
        guard !flat.isEmpty else { return nil }
        // Everybody else's use.
        var others = Array(slotUse.prefix(n))
        for (shard, i) in flat { use(split[shard][i], split[shard][i].chosen, rows: cs).add(to: &others, sign: -1) }
        // Step 1: the LP over the alternatives, each customer's first alternative as its reference: a
        // variable per other alternative (its weight), the reference's weight being 1 minus theirs. A
        // customer with two alternatives needs no row of its own (its one weight is at most 1), so the LP
        // has the campaign's rows and one row per customer with three or more (one row per customer made
        // CLP take over a second for 31,000 customers at 10 M).
        var withReference = others
        var reference: [Use] = []
        reference.reserveCapacity(flat.count)
        for (shard, i) in flat {
            let u = use(split[shard][i], split[shard][i].alternatives[0], rows: cs)
            u.add(to: &withReference)
            reference.append(u)
        }
        let room = room(cs, others: withReference)
        var rowLower = room.map(\.lower), rowUpper = room.map(\.upper)
        var owner: [(customer: Int, alternative: Int)] = []
        var columns: [LinearProgram.Column] = []
        for (f, (shard, i)) in flat.enumerated() {
            let alternatives = split[shard][i].alternatives
            var own: [(row: Int32, value: Double)] = []
            if alternatives.count > 2 { own = [(Int32(rowLower.count), 1)]; rowLower.append(-.infinity); rowUpper.append(1) }
            for a in alternatives.indices.dropFirst() {
                let u = use(split[shard][i], alternatives[a], rows: cs)
                columns.append(.init(cost: -(Double(u.objectiveMicros) / 1e6 - Double(reference[f].objectiveMicros) / 1e6), upper: 1,
                                     entries: Use.entries(u.minus(reference[f]), cs) + own))
                owner.append((f, a))
            }
        }
        let lp = LinearProgram(rowLower: rowLower, rowUpper: rowUpper)
        lp.add(columns)
        guard lp.solve() == .optimal else { return nil }
        let z = lp.primal
        var weight = flat.indices.map { f in [Double](repeating: 0, count: split[flat[f].0][flat[f].1].alternatives.count) }
        weight = weight.map { w in var w = w; w[0] = 1; return w }
        for (j, o) in owner.enumerated() { weight[o.customer][o.alternative] = z[j]; weight[o.customer][0] -= z[j] }
        var pick = [Int](repeating: -1, count: flat.count)
        var heaviest = [(alternative: Int, weight: Double)](repeating: (0, -1), count: flat.count)
        for f in flat.indices {
            for (a, w) in weight[f].enumerated() {
                if w > 1 - 1e-7 { pick[f] = a }
                if w > heaviest[f].weight { heaviest[f] = (a, w) }
            }
        }
        // Step 2: the 0-1 program over the fractional customers, every candidate of theirs a variable.
        var lists = flat.indices.map { f in pick[f] >= 0 ? split[flat[f].0][flat[f].1].alternatives[pick[f]] : [] }
        let fractional = flat.indices.filter { pick[$0] < 0 }
        if !fractional.isEmpty {
            var left = others
            for f in flat.indices where pick[f] >= 0 { use(split[flat[f].0][flat[f].1], lists[f], rows: cs).add(to: &left) }
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
            let now = Set(lists[f]), before = Set(s.chosen)
            out[shard] += s.chosen.filter { !now.contains($0) }.map { Repair.Change(customer: s.customer, remove: $0, add: -1) }
            out[shard] += lists[f].filter { !before.contains($0) }.map { Repair.Change(customer: s.customer, remove: -1, add: $0) }
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
                                       entries: Use.entries(use(s, [o.candidate], rows: cs).rows, cs) + [(customerRow, 1), (offerRow[o.offer]!, 1), (familyRow[o.family]!, 1)]))
                owner.append((x, o.candidate))
            }
        }
        guard let chosen = IntegerProgram.solve(rows: rows, variables: variables) else { return nil }
        var lists = customers.map { _ in [Int32]() }
        for (v, o) in owner.enumerated() where chosen[v] { lists[o.customer].append(o.candidate) }
        return lists
    }
}
