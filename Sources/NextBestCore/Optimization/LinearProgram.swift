import CCoinOR

/// A linear program held by COIN-OR CLP that grows by columns: the optimizer's restricted master. Rows
/// are fixed at creation (`lower <= row <= upper`, either side may be infinite); columns are added in
/// batches and the program is re-solved from the previous basis (primal simplex: new columns enter, the
/// old basis stays feasible). Minimizes; one instance is used on one thread.
public final class LinearProgram {
    /// The outcome of a solve.
    public enum Status: Sendable, Equatable { case optimal, infeasible, failed(Int32) }

    private let model: UnsafeMutableRawPointer
    public let rowCount: Int
    public private(set) var columnCount = 0
    private var solvedOnce = false

    /// A program with `lower.count` rows and no columns.
    public init(rowLower lower: [Double], rowUpper upper: [Double]) {
        precondition(lower.count == upper.count)
        model = Clp_newModel()!
        rowCount = lower.count
        Clp_setLogLevel(model, 0)
        Clp_setOptimizationDirection(model, 1)
        let starts = [CoinBigIndex](repeating: 0, count: 1)
        var lo = lower.map(Self.finite), up = upper.map(Self.finite)
        lo.withUnsafeMutableBufferPointer { l in
            up.withUnsafeMutableBufferPointer { u in
                starts.withUnsafeBufferPointer { s in
                    Clp_loadProblem(model, 0, Int32(rowCount), s.baseAddress, nil, nil, nil, nil, nil, l.baseAddress, u.baseAddress)
                }
            }
        }
    }

    deinit { Clp_deleteModel(model) }

    /// CLP's infinity is COIN_DBL_MAX; ±infinity is passed as that.
    static func finite(_ v: Double) -> Double { v.isInfinite ? (v > 0 ? Double.greatestFiniteMagnitude : -Double.greatestFiniteMagnitude) : v }

    /// A column: its cost, bounds and nonzero entries (row, value).
    public struct Column: Sendable {
        public var cost: Double
        public var lower: Double = 0
        public var upper: Double = .infinity
        public var entries: [(row: Int32, value: Double)]
        public init(cost: Double, lower: Double = 0, upper: Double = .infinity, entries: [(row: Int32, value: Double)]) {
            self.cost = cost; self.lower = lower; self.upper = upper; self.entries = entries
        }
    }

    /// Appends columns; returns the index of the first.
    @discardableResult
    public func add(_ columns: [Column]) -> Int {
        var batch = ColumnBatch()
        for c in columns {
            for e in c.entries { batch.entry(row: e.row, value: e.value) }
            batch.close(cost: c.cost, lower: c.lower, upper: c.upper)
        }
        return add(batch)
    }

    /// Columns in the column-major arrays COIN-OR's loaders take, written one entry at a time (no array
    /// per column): a column's nonzero entries (`entry`), then its cost and bounds (`close`).
    public struct ColumnBatch {
        var starts: [CoinBigIndex] = [0]
        var rows: [Int32] = []
        var values: [Double] = []
        var lower: [Double] = []
        var upper: [Double] = []
        var cost: [Double] = []

        public init() {}

        /// The columns closed so far.
        public var count: Int { cost.count }

        /// An entry of the column being written (zeros are left out).
        public mutating func entry(row: Int32, value: Double) {
            if value != 0 { rows.append(row); values.append(value) }
        }

        /// Ends the column being written.
        public mutating func close(cost c: Double, lower lo: Double = 0, upper up: Double = .infinity) {
            starts.append(CoinBigIndex(rows.count))
            cost.append(c); lower.append(LinearProgram.finite(lo)); upper.append(LinearProgram.finite(up))
        }
    }

    /// Adds the columns of `batch`; returns the index of the first.
    @discardableResult
    public func add(_ batch: ColumnBatch) -> Int {
        let first = columnCount
        guard batch.count > 0 else { return first }
        Clp_addColumns(model, Int32(batch.count), batch.lower, batch.upper, batch.cost, batch.starts, batch.rows, batch.values)
        columnCount += batch.count
        return first
    }

    /// Changes the costs of all columns (`costs.count == columnCount`).
    public func setCosts(_ costs: [Double]) {
        precondition(costs.count == columnCount)
        Clp_chgObjCoefficients(model, costs)
    }

    /// Changes one column's bounds.
    public func setBounds(column: Int, lower: Double, upper: Double) {
        let lo = Clp_columnLower(model)!, up = Clp_columnUpper(model)!
        lo[column] = Self.finite(lower); up[column] = Self.finite(upper)
    }

    /// Solves from the last basis (the first time from scratch).
    public func solve() -> Status {
        let rc: Int32
        if solvedOnce { rc = Clp_primal(model, 0) } else { rc = Clp_initialSolve(model); solvedOnce = true }
        _ = rc
        if Clp_isProvenOptimal(model) != 0 { return .optimal }
        if Clp_isProvenPrimalInfeasible(model) != 0 { return .infeasible }
        // Numerical trouble: once more from scratch before giving up.
        _ = Clp_initialSolve(model)
        if Clp_isProvenOptimal(model) != 0 { return .optimal }
        if Clp_isProvenPrimalInfeasible(model) != 0 { return .infeasible }
        return .failed(Clp_status(model))
    }

    public var objective: Double { Clp_objectiveValue(model) }

    /// Column values of the last solve.
    public var primal: [Double] { Array(UnsafeBufferPointer(start: Clp_getColSolution(model), count: columnCount)) }

    /// Row duals of the last solve: a column's reduced cost is `cost - Σ dual[row] · entry`.
    public var duals: [Double] { Array(UnsafeBufferPointer(start: Clp_getRowPrice(model), count: rowCount)) }
}

/// A small 0-1 program solved once by COIN-OR CBC: maximize `objective · x` subject to row bounds, every
/// variable binary. Used for the customers the LP master leaves split between price points. Bounded by
/// node count, not time, so that the answer does not depend on the machine's speed.
public enum IntegerProgram {
    /// A row over some variables: `lower <= Σ coefficient · x <= upper`.
    public struct Row: Sendable {
        public var lower: Double
        public var upper: Double
        public init(lower: Double, upper: Double) { self.lower = lower; self.upper = upper }
    }

    /// A variable: its objective and its entries (row, coefficient).
    public struct Variable: Sendable {
        public var objective: Double
        public var entries: [(row: Int32, value: Double)]
        public init(objective: Double, entries: [(row: Int32, value: Double)]) { self.objective = objective; self.entries = entries }
    }

    /// Solves; returns the chosen variables (x = 1) or nil when CBC finds no integer solution within
    /// `maxNodes` nodes. `start`, when given, is a feasible 0-1 solution to begin from.
    public static func solve(rows: [Row], variables: [Variable], maxNodes: Int32 = 20_000, start: [Bool]? = nil) -> [Bool]? {
        if variables.isEmpty { return rows.allSatisfy { $0.lower <= 1e-9 && $0.upper >= -1e-9 } ? [] : nil }
        let model = Cbc_newModel()!
        defer { Cbc_deleteModel(model) }
        var batch = LinearProgram.ColumnBatch()
        for v in variables {
            for e in v.entries { batch.entry(row: e.row, value: e.value) }
            batch.close(cost: v.objective)
        }
        let (starts, index, value) = (batch.starts, batch.rows, batch.values)
        let n = variables.count
        let colLo = [Double](repeating: 0, count: n), colUp = [Double](repeating: 1, count: n)
        let obj = variables.map(\.objective)
        let rowLo = rows.map { LinearProgram.finite($0.lower) }, rowUp = rows.map { LinearProgram.finite($0.upper) }
        Cbc_loadProblem(model, Int32(n), Int32(rows.count), starts, index, value, colLo, colUp, obj, rowLo, rowUp)
        Cbc_setObjSense(model, -1)
        for j in 0..<n { Cbc_setInteger(model, Int32(j)) }
        Cbc_setLogLevel(model, 0)
        Cbc_setMaximumNodes(model, maxNodes)
        Cbc_setAllowableFractionGap(model, 1e-7)
        Cbc_setParameter(model, "threads", "0")
        if let start, start.count == n {
            var idx = (0..<Int32(n)).map { $0 }
            var vals = start.map { $0 ? 1.0 : 0.0 }
            idx.withUnsafeMutableBufferPointer { i in vals.withUnsafeMutableBufferPointer { v in Cbc_setMIPStartI(model, Int32(n), i.baseAddress, v.baseAddress) } }
        }
        _ = Cbc_solve(model)
        guard Cbc_numberSavedSolutions(model) > 0 || Cbc_isProvenOptimal(model) != 0, let sol = Cbc_getColSolution(model) else { return nil }
        let x = (0..<n).map { sol[$0] > 0.5 }
        // Check the answer against the rows ourselves: CBC's tolerances are not ours.
        var act = [Double](repeating: 0, count: rows.count)
        for (j, v) in variables.enumerated() where x[j] { for e in v.entries { act[Int(e.row)] += e.value } }
        for (k, r) in rows.enumerated() where act[k] < r.lower - 1e-6 || act[k] > r.upper + 1e-6 { return nil }
        return x
    }
}
