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
    /// Use of the campaign's rows by one list of a customer: (row, amount in the row's LP unit) pairs
    /// (money for the budget) and its objective.
    static func use(_ s: SplitCustomer, _ list: [Int32], rows cs: ConstraintSet) -> (entries: [(row: Int32, value: Double)], micros: [Int64], objective: Double) {
        let n = cs.count
        var micros = [Int64](repeating: 0, count: n)
        var objective: Int64 = 0
        for c in list {
            guard let o = s.options.first(where: { $0.candidate == c }) else { continue }
            objective += o.objectiveMicros
            if cs.budgetRow >= 0 { micros[cs.budgetRow] += o.costMicros }
            for r in [o.productRow, o.channelRow, s.regionRow, s.segmentRow] where Int(r) < n { micros[Int(r)] += 1 }
        }
        let entries = micros.indices.filter { micros[$0] != 0 }.map { k in (Int32(k), Double(micros[k]) * (k == cs.budgetRow ? 1e-6 : 1)) }
        return (entries, micros, Double(objective) / 1e6)
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
        for (shard, i) in flat { let u = use(split[shard][i], split[shard][i].chosen, rows: cs).micros; for k in 0..<n { others[k] -= u[k] } }
        // Step 1: the LP over the alternatives, each customer's first alternative as its reference: a
        // variable per other alternative (its weight), the reference's weight being 1 minus theirs. A
        // customer with two alternatives needs no row of its own (its one weight is at most 1), so the LP
        // has the campaign's rows and one row per customer with three or more (one row per customer made
        // CLP take over a second for 31,000 customers at 10 M).
        var withReference = others
        var reference: [(micros: [Int64], objective: Double)] = []
        for (shard, i) in flat {
            let u = use(split[shard][i], split[shard][i].alternatives[0], rows: cs)
            for k in 0..<n { withReference[k] += u.micros[k] }
            reference.append((u.micros, u.objective))
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
                let entries = (0..<n).compactMap { k -> (row: Int32, value: Double)? in
                    let d = u.micros[k] - reference[f].micros[k]
                    return d == 0 ? nil : (Int32(k), Double(d) * (k == cs.budgetRow ? 1e-6 : 1))
                }
                columns.append(.init(cost: -(u.objective - reference[f].objective), upper: 1, entries: entries + own))
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
            for f in flat.indices where pick[f] >= 0 {
                let u = use(split[flat[f].0][flat[f].1], lists[f], rows: cs).micros
                for k in 0..<n { left[k] += u[k] }
            }
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
                                       entries: use(s, [o.candidate], rows: cs).entries + [(customerRow, 1), (offerRow[o.offer]!, 1), (familyRow[o.family]!, 1)]))
                owner.append((x, o.candidate))
            }
        }
        guard let chosen = IntegerProgram.solve(rows: rows, variables: variables) else { return nil }
        var lists = customers.map { _ in [Int32]() }
        for (v, o) in owner.enumerated() where chosen[v] { lists[o.customer].append(o.candidate) }
        return lists
    }
}
