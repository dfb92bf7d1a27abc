import NextBestCore
import NextBestCluster

/// `nextbest simulate`'s table of compared figures (figure, base, simulated, limits): every column but the
/// last as wide as its widest cell and two spaces more, so a long figure name (`offers.…mortgage_remortgage`)
/// never runs into the numbers.
enum SimulationTable {
    /// Spaces between columns, at least.
    static let gap = 2

    /// The table with a header line; every line ends with a newline.
    static func text(_ lines: [Simulation.Line]) -> String {
        func number(_ v: Double) -> String { v.isNaN ? "-" : FixedDecimal.string(v, decimals: 2) }
        return columns([["figure", "base", "simulated", "limits (simulated)"]]
                       + lines.map { [$0.name, number($0.base), number($0.simulated), $0.limit] })
    }

    /// `rows` of cells as lines: each column but the last padded to its widest cell plus `gap` spaces (no
    /// spaces at the end of a line).
    static func columns(_ rows: [[String]]) -> String {
        let count = rows.map(\.count).max() ?? 0
        let widths = (0..<count).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max()! + gap }
        return rows.map { row in
            var line = row.enumerated().map { c, cell in
                c == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[c] - cell.count)
            }.joined()
            while line.hasSuffix(" ") { line.removeLast() }
            return line + "\n"
        }.joined()
    }
}
