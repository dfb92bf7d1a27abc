/// The coordinator's side of the optimization: Dantzig–Wolfe column generation with an exact restricted
/// master solved by CLP. Customers are grouped in `CustomerBuckets`; a pricing pass solves every
/// customer's sub-problem at one price vector and returns, per bucket, the objective and resource use of
/// that choice: one column per bucket. The master mixes each bucket's columns (convex weights) to maximize
/// the objective within the campaign's rows; its duals are the next prices, smoothed toward the prices of
/// the best Lagrangian bound so far (Wentges). The bound `L(p)` at any prices is an upper bound on the LP
/// optimum and the master's value a lower one: the rounds stop when they meet.
///
/// Feasibility: while the master cannot meet every row it is solved in phase 1 (minimize the rows'
/// violations, priced with the objective at weight 0). When phase 1 ends with violations left and no
/// column can reduce them, the LP relaxation — and so the campaign — is proven infeasible; the rows
/// with nonzero phase-1 duals conflict, and a deletion filter reduces them to an irreducible set.
public struct ColumnGeneration {
    /// Settings of the rounds.
    public struct Options: Sendable {
        /// Pricing passes at most (the first included).
        public var maxPasses: Int = 40
        /// Stop when (bound − master value) / bound is at most this.
        public var gapTolerance: Double = 5e-5
        /// Weight of the best-bound prices in the next point (Wentges smoothing; 0: the master's duals).
        public var smoothing: Double = 0.7
        /// Whether the second explore pass gives the buckets that would repeat the first one's choice the
        /// steps of a ladder when the master cannot meet every row yet (see `run`).
        public var ladderInExplore: Bool = false
        /// Buckets per step of that ladder at most (the others that would repeat are left out of the pass).
        public var ladderBucketsPerStep: Int = 2
        /// Whether, when the master meets every row after the first explore pass but is not within the gap
        /// tolerance, the second explore pass gives the buckets that would repeat the point the rounds would
        /// price everybody at next (see `run`).
        public var nextPointInExplore: Bool = false
        public init(maxPasses: Int = 40, gapTolerance: Double = 5e-5, smoothing: Double = 0.7) {
            self.maxPasses = maxPasses; self.gapTolerance = gapTolerance; self.smoothing = smoothing
        }
    }

    /// A column: one bucket's choice at one price point.
    struct Column {
        var bucket: Int
        var point: Int
        /// The pass that made it (its tag: shards keep the last passes' choices, see `KeptPass`); 0 for
        /// passes not tagged.
        var pass: UInt32 = 0
        var objective: Double
        var use: [Double]
    }

    /// A price point that was evaluated.
    public struct Point: Sendable, Equatable {
        public var prices: Prices
        public var weight: Double
    }

    /// How the rounds ended.
    public enum Status: Sendable, Equatable {
        /// The master is feasible; its value and the best bound (equal within the tolerance when converged).
        case feasible(converged: Bool)
        /// No mix of columns can meet the rows: proven by phase 1. The rows that conflict (irreducible), and
        /// the least total violation of those rows alone, in their units.
        case infeasible(rows: [Int], shortfall: [Double])
    }

    /// The outcome: the points, each bucket's mix, the bound and the history.
    public struct Outcome: Sendable {
        public var status: Status
        public var points: [Point]
        /// Per bucket, the points its columns mix, largest weight first (empty when infeasible).
        public var active: [[Int]]
        /// Per bucket, parallel to `active`: the pass that solved the bucket at each point (its tag, 0 if
        /// none was tagged).
        public var activePasses: [[UInt32]] = []

        /// The full-weight points each bucket's mix uses (see `PriceMix`).
        public var mix: PriceMix {
            var index: [Int: Int] = [:]
            var used: [Prices] = []
            let buckets = active.map { list in
                list.filter { points[$0].weight == 1 }.compactMap { p -> Int? in
                    if let i = index[p] { return i }
                    guard used.count < 255 else { return nil }
                    index[p] = used.count; used.append(points[p].prices)
                    return used.count - 1
                }
            }
            return PriceMix(points: used, buckets: buckets)
        }
        /// The master's value (a feasible LP value) and the best Lagrangian bound.
        public var masterValue: Double
        public var bound: Double
        /// The prices of the best bound (the next run's warm start).
        public var bestPrices: Prices
        public var passes: Int
        public var history: [DualSolver.Round]
    }

    public let rows: [ConstraintSet.Row]
    public let options: Options
    /// Pricing: solves every customer at a request and returns the aggregates with their buckets.
    let evaluate: (PricingRequest) throws -> Aggregates
    let onPass: ((DualSolver.Progress) -> Void)?

    public init(rows: [ConstraintSet.Row], options: Options = .init(), onPass: ((DualSolver.Progress) -> Void)? = nil,
                evaluate: @escaping (PricingRequest) throws -> Aggregates) {
        self.rows = rows; self.options = options; self.onPass = onPass; self.evaluate = evaluate
    }

    /// Scale of a row's amounts in the master: money for the budget (counted in micro-money), else 1.
    static func unit(_ r: ConstraintSet.Row) -> Double { r.kind == .budget ? 1e-6 : 1 }

    /// A duration in seconds.
    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    /// Splits net prices (per row, `upper − lower`) into `Prices`, clamped to the signs the row's bounds allow.
    static func prices(net: [Double], rows: [ConstraintSet.Row]) -> Prices {
        var p = Prices(count: rows.count)
        for (k, r) in rows.enumerated() {
            let q = net[k]
            if q > 0, r.upper != nil { p.upper[k] = q }
            if q < 0, r.lower != nil { p.lower[k] = -q }
        }
        return p
    }

    /// How far two price vectors are apart (largest difference of a net price).
    static func distance(_ a: Prices, _ b: Prices) -> Double {
        zip(a.netWithSentinel, b.netWithSentinel).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// The Lagrangian dual value at `p` from a full-weight evaluation there: an upper bound on the LP optimum.
    static func bound(_ rows: [ConstraintSet.Row], _ p: Prices, _ a: Aggregates) -> Double {
        DualSolver.dualValue(rows, p, a)
    }

    /// The state of one solve of the column generation (its master, columns and points).
    final class Master {
        let rows: [ConstraintSet.Row]
        /// Which rows take part (others are free): for the deletion filter.
        let included: [Bool]
        let lp: LinearProgram
        var columns: [Column] = []
        /// Elastic columns: (row, +1 for a min's shortfall, −1 for a max's excess); they come first.
        var elastic: [(row: Int, sign: Double)] = []
        let buckets = CustomerBuckets.count
        var phase = 1
        /// Phase-1 weight of each row's violation.
        let violationWeight: [Double]

        init(rows: [ConstraintSet.Row], included: [Bool]) {
            self.rows = rows
            self.included = included
            let inf = Double.infinity
            var lo: [Double] = [], up: [Double] = []
            for (k, r) in rows.enumerated() {
                let u = ColumnGeneration.unit(r)
                lo.append(included[k] ? r.lower.map { Double($0) * u } ?? -inf : -inf)
                up.append(included[k] ? r.upper.map { Double($0) * u } ?? inf : inf)
            }
            lo += [Double](repeating: 1, count: CustomerBuckets.count)
            up += [Double](repeating: 1, count: CustomerBuckets.count)
            lp = LinearProgram(rowLower: lo, rowUpper: up)
            // With the budget among the rows, a count's violation weighs more, so that a conflict's shortfall
            // is said in money (how much more budget the rows need) where it can be.
            let hasBudget = rows.indices.contains { included[$0] && rows[$0].kind == .budget }
            violationWeight = rows.map { $0.kind == .budget || !hasBudget ? 1 : 1000 }
            var cols: [LinearProgram.Column] = []
            for (k, r) in rows.enumerated() where included[k] {
                if r.upper != nil { elastic.append((k, -1)); cols.append(.init(cost: violationWeight[k], entries: [(Int32(k), -1)])) }
                if r.lower != nil { elastic.append((k, 1)); cols.append(.init(cost: violationWeight[k], entries: [(Int32(k), 1)])) }
            }
            lp.add(cols)
        }

        /// Adds the columns of one evaluation (one per bucket), skipping any equal to one the bucket has.
        func add(_ a: Aggregates, point: Int, pass: UInt32 = 0) -> [Column] { add(a, point: { _ in point }, pass: pass) }

        /// Adds the columns of one evaluation, bucket b's from point `point(b)` (nil: the pass left the
        /// bucket out, so it has no column).
        func add(_ a: Aggregates, point: (Int) -> Int?, pass: UInt32 = 0) -> [Column] {
            let n = rows.count
            var added: [Column] = []
            var lpCols: [LinearProgram.Column] = []
            for b in 0..<buckets {
                guard let point = point(b) else { continue }
                let use = (0..<n).map { k in Double(a.bucketUse[b * n + k]) * ColumnGeneration.unit(rows[k]) }
                let objective = Double(a.bucketPrimal[b]) / 1e6
                if columns.contains(where: { $0.bucket == b && $0.objective == objective && $0.use == use }) { continue }
                let c = Column(bucket: b, point: point, pass: pass, objective: objective, use: use)
                columns.append(c)
                added.append(c)
                var entries: [(row: Int32, value: Double)] = []
                for k in 0..<n where included[k] && use[k] != 0 { entries.append((Int32(k), use[k])) }
                entries.append((Int32(n + b), 1))
                lpCols.append(.init(cost: phase == 1 ? 0 : -objective, entries: entries))
            }
            lp.add(lpCols)
            return added
        }

        /// Switches the costs (and the elastic columns' bounds) to a phase.
        func setPhase(_ p: Int) {
            phase = p
            var costs = elastic.map { p == 1 ? violationWeight[$0.row] : 0 }
            costs += columns.map { p == 1 ? 0 : -$0.objective }
            lp.setCosts(costs)
            for j in elastic.indices { lp.setBounds(column: j, lower: 0, upper: p == 1 ? .infinity : 0) }
        }

        /// Solves the current phase; nil if CLP failed.
        func solve() -> LinearProgram.Status { lp.solve() }

        /// Net prices (per row) and bucket values from the last solve's duals.
        func duals() -> (net: [Double], bucketValue: [Double]) {
            let y = lp.duals
            let n = rows.count
            let p = ColumnGeneration.prices(net: (0..<n).map { included[$0] ? -y[$0] : 0 }, rows: rows)
            return ((0..<n).map { p.upper[$0] - p.lower[$0] }, (0..<buckets).map { -y[n + $0] })
        }

        /// The rows' weighted violation in the last (phase 1) solve.
        func violation() -> Double {
            weights().elastic.enumerated().reduce(0.0) { $0 + $1.element * violationWeight[elastic[$1.offset].row] }
        }

        /// Columns' weights and elastic values of the last solve.
        func weights() -> (columns: [Double], elastic: [Double]) {
            let x = lp.primal
            return (Array(x[elastic.count...]), Array(x[..<elastic.count]))
        }

        /// A column's reduced value at net prices and objective weight `w`, over its bucket's value.
        func reducedValue(_ c: Column, net: [Double], weight w: Double, bucketValue: [Double]) -> Double {
            var v = w * c.objective
            for k in 0..<rows.count where included[k] { v -= net[k] * c.use[k] }
            return v - bucketValue[c.bucket]
        }
    }

    /// Runs the rounds from `start` (the first point). `explore`, when given, is a mix found before (a
    /// presolve's on a sample, or the last run's): the next passes solve each bucket at the points its mix
    /// used there (the j-th pass at its j-th point), so the master can mix as that one did from the start.
    public func run(start: Prices, explore: PriceMix? = nil) throws -> Outcome {
        var st = RunState(master: Master(rows: rows, included: rows.map { _ in true }), start: start, smoothing: options.smoothing)
        let first = try price(start, weight: 1, &st)
        _ = st.master.add(first, point: 0, pass: UInt32(st.passes))
        if let explore, explore.fits(rows: rows.count) {
            let base = st.points.count
            st.points += explore.points.map { Point(prices: $0, weight: 1) }
            let depth = min(2, explore.buckets.map(\.count).max() ?? 0)
            // The prices each bucket was solved at so far (the first pass's for all): a pass that would solve
            // a bucket at one of them again leaves it out (its column would be one the master has).
            var solvedAt = [[Prices]](repeating: [start], count: CustomerBuckets.count)
            for j in 0..<depth where st.passes < options.maxPasses {
                // The stop test already holds with the columns so far: the next pass would only add to them.
                if j > 0, try withinGap(&st) { break }
                var points = explore.points
                var pick = explore.buckets.map { $0.isEmpty ? UInt8(0) : UInt8($0[j % $0.count]) }
                // In the second pass the buckets whose mix has one point would only repeat the first pass's
                // choice: the pass leaves them out. When the master cannot meet every row yet, some of them
                // take the steps of a ladder instead (see `ladder`), which phase 1 would otherwise spend a
                // pass of its own on.
                let repeats = explore.buckets.indices.filter { explore.buckets[$0].count <= j }
                for b in pick.indices where solvedAt[b].contains(points[Int(pick[b])]) { pick[b] = PricingRequest.unsolved }
                if j > 0 {
                    if options.ladderInExplore, !repeats.isEmpty, let steps = try ladderWhileShort(start: start, &st), points.count + steps.count <= 255 {
                        st.points += steps.map { Point(prices: $0, weight: 1) }
                        let onLadder = min(repeats.count, options.ladderBucketsPerStep * steps.count)
                        for (x, b) in repeats.prefix(onLadder).enumerated() { pick[b] = UInt8(points.count + x % steps.count) }
                        points += steps
                        st.laddered = true
                    } else if options.nextPointInExplore, !repeats.isEmpty, st.master.phase == 2, points.count < 255 {
                        // The master meets every row (`withinGap` just solved it) but is not within the gap: the
                        // buckets that would repeat take the point the first round would price everybody at,
                        // so that the pass those buckets' mixes ask for also makes that round's columns.
                        st.masterValue = -st.master.lp.objective
                        st.points.append(Point(prices: phaseTwoPoint(st), weight: 1))
                        for b in repeats { pick[b] = UInt8(points.count) }
                        points.append(st.points.last!.prices)
                    }
                }
                // Nothing left to solve: no pass.
                if !pick.contains(where: { $0 != PricingRequest.unsolved }) { continue }
                try spread(points, base: base, pick: pick, &st)
                for (b, p) in pick.enumerated() where p != PricingRequest.unsolved { solvedAt[b].append(points[Int(p)]) }
            }
        }
        rounds: while true {
            // Phase 1 until the master can meet every row.
            let step = st.master.phase == 1 ? try phaseOneStep(start: start, &st) : try phaseTwoStep(&st)
            switch step {
            case .next: continue
            case .stop: break rounds
            case .done(let outcome): return outcome
            }
        }
        if st.master.phase == 1 {
            // Out of passes before the master met every row: not proven either way.
            throw OptimizerError.undecided(passes: st.passes)
        }
        let (active, activePasses) = activeMix(st.master)
        var outcome = Outcome(status: .feasible(converged: st.converged), points: st.points, active: active,
                              masterValue: st.masterValue, bound: st.bestBound, bestPrices: st.bestPrices, passes: st.passes, history: st.history)
        outcome.activePasses = activePasses
        return outcome
    }

    /// The progress of one `run`: the points evaluated, the rounds, the master and the best bound so far.
    fileprivate struct RunState {
        var points: [Point] = []
        var history: [DualSolver.Round] = []
        let master: Master
        var bestBound = Double.infinity
        var bestPrices: Prices
        var masterValue = -Double.infinity
        var passes = 0
        let clock = ContinuousClock()
        var smoothing: Double
        var converged = false
        var laddered = false

        init(master: Master, start: Prices, smoothing: Double) {
            self.master = master
            bestPrices = start
            self.smoothing = smoothing
        }
    }

    /// What `run` does after a step: go on, stop (converged or out of passes), or return an outcome.
    fileprivate enum Step {
        case next, stop
        case done(Outcome)
    }

    /// One pass at prices `p` with objective weight `weight`: a point, a round, and (at full weight) a bound.
    fileprivate func price(_ p: Prices, weight: Double, _ st: inout RunState) throws -> Aggregates {
        st.points.append(Point(prices: p, weight: weight))
        st.passes += 1
        let t0 = st.clock.now
        let a = try evaluate(PricingRequest(points: [p], weights: [weight], pass: UInt32(st.passes)))
        let l = weight == 1 ? Self.bound(rows, p, a) : st.bestBound
        if l < st.bestBound { st.bestBound = l; st.bestPrices = p }
        st.history.append(DualSolver.Round(round: st.passes, dual: l,
                                           relaxedPrimal: Double(a.primalMicros) / 1e6, maxViolation: DualSolver.maxViolation(rows, a),
                                           feasible: st.masterValue.isFinite ? st.masterValue : nil, points: 1, seconds: Self.seconds(st.clock.now - t0)))
        onPass?(DualSolver.Progress(round: st.passes, bestDual: st.bestBound, target: st.masterValue.isFinite ? st.masterValue : nil))
        return a
    }

    /// One pass with each bucket at its own point of `spread` (`pick[bucket]`), all at full weight: no
    /// bound (no one point for everybody), a column per bucket solved (`PricingRequest.unsolved` leaves a
    /// bucket out; the pass's relaxed objective and violation are then those of the buckets it solved).
    fileprivate func spread(_ spread: [Prices], base: Int, pick: [UInt8], _ st: inout RunState) throws {
        st.passes += 1
        let t0 = st.clock.now
        let a = try evaluate(PricingRequest(points: spread, weights: Array(repeating: 1, count: spread.count), bucketPoint: pick, pass: UInt32(st.passes)))
        let solved = pick.filter { $0 != PricingRequest.unsolved }
        var round = DualSolver.Round(round: st.passes, dual: st.bestBound, relaxedPrimal: Double(a.primalMicros) / 1e6,
                                     maxViolation: DualSolver.maxViolation(rows, a), feasible: nil,
                                     points: Set(solved).count, seconds: Self.seconds(st.clock.now - t0))
        round.buckets = solved.count
        st.history.append(round)
        onPass?(DualSolver.Progress(round: st.passes, bestDual: st.bestBound, target: nil))
        _ = st.master.add(a, point: { pick[$0] == PricingRequest.unsolved ? nil : base + Int(pick[$0]) }, pass: UInt32(st.passes))
    }

    /// A phase 1 step: solve the master for the least violation; switch to phase 2 once it is met, else
    /// price at the duals (or first a ladder from the best prices), and prove infeasibility when nothing helps.
    fileprivate func phaseOneStep(start: Prices, _ st: inout RunState) throws -> Step {
        let master = st.master
        guard master.solve() == .optimal else { throw OptimizerError.master("phase 1 of the LP master did not solve") }
        let violation = master.violation()
        if violation <= 1e-7 {
            master.setPhase(2)
            return .next
        }
        if st.passes >= options.maxPasses { return .stop }
        let (net, bucketValue) = master.duals()
        if st.bestBound.isFinite && !st.laddered && Self.distance(start, Prices(count: rows.count)) > 0 {
            // Near a good bound (a presolve's, the last run's): first a ladder of steps from the best
            // prices along the direction that lowers the violation, one step per group of buckets, so
            // that one pass finds how far the prices must move; the exact phase 1 follows if needed.
            st.laddered = true
            let ladder = self.ladder(net: net, st)
            let base = st.points.count
            st.points += ladder.map { Point(prices: $0, weight: 1) }
            try spread(ladder, base: base, pick: (0..<CustomerBuckets.count).map { UInt8($0 % ladder.count) }, &st)
            return .next
        }
        let p = Self.prices(net: net, rows: rows)
        let a = try price(p, weight: 0, &st)
        let added = master.add(a, point: st.points.count - 1, pass: UInt32(st.passes))
        if !added.contains(where: { master.reducedValue($0, net: net, weight: 0, bucketValue: bucketValue) > 1e-7 * max(1, violation) }) {
            // No column lowers the violation: the LP relaxation is infeasible.
            let conflict = try irreducible(master: master, net: net, points: &st.points)
            return .done(Outcome(status: .infeasible(rows: conflict.rows, shortfall: conflict.shortfall), points: st.points, active: [],
                                 masterValue: -.infinity, bound: st.bestBound, bestPrices: st.bestPrices, passes: st.passes, history: st.history))
        }
        return .next
    }

    /// The ladder's steps: from the best prices along the phase-1 duals `net` (the direction that lowers
    /// the violation), 8 steps doubling from 1/64 of the prices' scale.
    fileprivate func ladder(net: [Double], _ st: RunState) -> [Prices] {
        let center = st.bestPrices.netWithSentinel.dropLast().map { $0 }
        let scale = max(center.map(abs).max() ?? 0, 1e-9) / max(net.map(abs).max() ?? 0, 1e-12)
        let steps = (0..<8).map { scale * Double(1 << $0) / 64 }
        return steps.map { t in Self.prices(net: zip(center, net).map { $0 + t * $1 }, rows: rows) }
    }

    /// Whether the master, with the columns it has, meets every row and is within the gap tolerance of the
    /// best bound: the test that stops the rounds (`phaseTwoStep`), made between explore passes. A master
    /// found to meet every row goes on in phase 2, as the rounds would take it.
    fileprivate func withinGap(_ st: inout RunState) throws -> Bool {
        let master = st.master
        if master.phase == 1 {
            guard master.solve() == .optimal else { throw OptimizerError.master("phase 1 of the LP master did not solve") }
            let violation = master.violation()
            guard violation <= 1e-7 else { return false }
            master.setPhase(2)
        }
        guard master.solve() == .optimal else { throw OptimizerError.master("the LP master did not solve") }
        return (st.bestBound - -master.lp.objective) / max(abs(st.bestBound), 1e-9) <= options.gapTolerance
    }

    /// The ladder's steps when the master (in phase 1, near a good bound, no ladder taken yet) cannot meet
    /// every row with the columns it has; nil when it can, or when no ladder applies.
    fileprivate func ladderWhileShort(start: Prices, _ st: inout RunState) throws -> [Prices]? {
        let master = st.master
        guard master.phase == 1, st.bestBound.isFinite, !st.laddered, Self.distance(start, Prices(count: rows.count)) > 0 else { return nil }
        guard master.solve() == .optimal else { throw OptimizerError.master("phase 1 of the LP master did not solve") }
        let violation = master.violation()
        guard violation > 1e-7 else { return nil }
        return ladder(net: master.duals().net, st)
    }

    /// A phase 2 step: solve the master; stop when its value is within the gap of the best bound (or out
    /// of passes), else price at the smoothed duals.
    fileprivate func phaseTwoStep(_ st: inout RunState) throws -> Step {
        let master = st.master
        guard master.solve() == .optimal else { throw OptimizerError.master("the LP master did not solve") }
        st.masterValue = -master.lp.objective
        let gap = (st.bestBound - st.masterValue) / max(abs(st.bestBound), 1e-9)
        if gap <= options.gapTolerance { st.converged = true; return .stop }
        if st.passes >= options.maxPasses { return .stop }
        let (net, bucketValue) = master.duals()
        let aggregates = try price(phaseTwoPoint(st), weight: 1, &st)
        let added = master.add(aggregates, point: st.points.count - 1, pass: UInt32(st.passes))
        let masterValue = st.masterValue
        let improving = added.contains { master.reducedValue($0, net: net, weight: 1, bucketValue: bucketValue) > 1e-9 * max(1, abs(masterValue)) }
        // Mispricing (nothing the master can use): the next point is nearer the master's duals.
        st.smoothing = improving ? options.smoothing : st.smoothing * 0.5
        if !improving && st.smoothing < 1e-3 { st.smoothing = 0 }
        return .next
    }

    /// The next point of phase 2 from the master's last solve: its duals smoothed toward the prices of the
    /// best bound (Wentges).
    fileprivate func phaseTwoPoint(_ st: RunState) -> Prices {
        let net = st.master.duals().net
        let center = st.bestBound.isFinite ? st.bestPrices.netWithSentinel.dropLast().map { $0 } : net
        let a = st.smoothing
        return Self.prices(net: zip(center, net).map { a * $0 + (1 - a) * $1 }, rows: rows)
    }

    /// Per bucket, the points its columns use with positive weight in the master's solution, heaviest
    /// first, and the pass that solved the bucket at each.
    fileprivate func activeMix(_ master: Master) -> (points: [[Int]], passes: [[UInt32]]) {
        let w = master.weights().columns
        var active = [[Int]](repeating: [], count: CustomerBuckets.count)
        var passes = [[UInt32]](repeating: [], count: CustomerBuckets.count)
        var weightOf = [[Double]](repeating: [], count: CustomerBuckets.count)
        for (j, c) in master.columns.enumerated() where w[j] > 1e-9 {
            if let at = active[c.bucket].firstIndex(of: c.point) { weightOf[c.bucket][at] += w[j] } else {
                active[c.bucket].append(c.point); passes[c.bucket].append(c.pass); weightOf[c.bucket].append(w[j])
            }
        }
        for b in active.indices {
            let order = active[b].indices.sorted { weightOf[b][$0] > weightOf[b][$1] || (weightOf[b][$0] == weightOf[b][$1] && active[b][$0] < active[b][$1]) }
            active[b] = order.map { active[b][$0] }
            passes[b] = order.map { passes[b][$0] }
        }
        return (active, passes)
    }

    /// Phase 1 over only the rows in `included`, with the columns of `from` to start: whether they can all
    /// hold, and if not, the least weighted violation and the duals at its optimum.
    func phaseOne(included: [Bool], from: Master, points: inout [Point]) throws -> (feasible: Bool, violation: [Double], net: [Double]) {
        let m = Master(rows: rows, included: included)
        for c in from.columns { addOne(m, c) }
        for _ in 0..<max(4, options.maxPasses) {
            guard m.solve() == .optimal else { throw OptimizerError.master("phase 1 of the LP master did not solve") }
            let e = m.weights().elastic
            let total = e.enumerated().reduce(0.0) { $0 + $1.element * m.violationWeight[m.elastic[$1.offset].row] }
            var violation = [Double](repeating: 0, count: rows.count)
            for (j, el) in m.elastic.enumerated() { violation[el.row] += e[j] }
            let (net, bucketValue) = m.duals()
            if total <= 1e-7 { return (true, violation, net) }
            let p = Self.prices(net: net, rows: rows)
            points.append(Point(prices: p, weight: 0))
            let added = m.add(try evaluate(PricingRequest(points: [p], weights: [0])), point: points.count - 1)
            if !added.contains(where: { m.reducedValue($0, net: net, weight: 0, bucketValue: bucketValue) > 1e-7 * max(1, total) }) {
                return (false, violation, net)
            }
        }
        let (_, e) = m.weights()
        var violation = [Double](repeating: 0, count: rows.count)
        for (j, el) in m.elastic.enumerated() { violation[el.row] += e[j] }
        return (false, violation, m.duals().net)
    }

    /// Adds an existing column to another master.
    private func addOne(_ m: Master, _ c: Column) {
        let n = rows.count
        m.columns.append(c)
        var entries: [(row: Int32, value: Double)] = []
        for k in 0..<n where m.included[k] && c.use[k] != 0 { entries.append((Int32(k), c.use[k])) }
        entries.append((Int32(n + c.bucket), 1))
        m.lp.add([.init(cost: 0, entries: entries)])
    }

    /// Reduces the rows that conflict at the end of phase 1 (nonzero duals) to an irreducible set (drop
    /// any one and the rest can hold), by a deletion filter, and measures the set's least violation.
    func irreducible(master: Master, net: [Double], points: inout [Point]) throws -> (rows: [Int], shortfall: [Double]) {
        var set = rows.indices.filter { abs(net[$0]) > 1e-9 }
        if set.isEmpty { set = Array(rows.indices) }
        var i = 0
        while i < set.count && set.count > 1 {
            var trial = set
            trial.remove(at: i)
            var included = rows.map { _ in false }
            for k in trial { included[k] = true }
            if try !phaseOne(included: included, from: master, points: &points).feasible { set = trial } else { i += 1 }
        }
        var included = rows.map { _ in false }
        for k in set { included[k] = true }
        let final = try phaseOne(included: included, from: master, points: &points)
        return (set, set.map { final.violation[$0] / Self.unit(rows[$0]) })
    }
}

/// The optimizer could not finish: the master failed, or the passes ran out before feasibility was decided.
public enum OptimizerError: Error, CustomStringConvertible, Sendable {
    case master(String)
    case undecided(passes: Int)

    public var description: String {
        switch self {
        case .master(let m): return "\(m) (a numerical failure of CLP): run again with --max-rounds raised, or report the campaign"
        case .undecided(let n): return "after \(n) pricing passes the optimizer could neither meet every constraint nor prove that they conflict: raise --max-rounds"
        }
    }
}
