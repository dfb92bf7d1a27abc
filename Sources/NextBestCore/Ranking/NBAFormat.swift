/// The `nba.csv` format: `customer_id,rank,offer_id,channel,propensity,expected_value`, one row per
/// offer made, sorted by customer id then rank (1 = best). Propensity has 6 decimals, expected value 4.
public enum NBAFormat {
    public static let header = "customer_id,rank,offer_id,channel,propensity,expected_value\n"
    /// Decimals of the propensity column (a literal, so that callers in other modules print with constant
    /// divisors).
    @inlinable public static var propensityDecimals: Int { 6 }
    /// Decimals of the expected-value column.
    @inlinable public static var valueDecimals: Int { 4 }

    /// Appends one row.
    @inlinable
    public static func appendRow(customerID: UInt64, rank: Int, offerID: [UInt8], channel: [UInt8],
                                 propensity: Float, expectedValue: Double, to out: inout [UInt8]) {
        out.appendDecimal(customerID)
        out.append(UInt8(ascii: ","))
        out.appendDecimal(UInt64(rank))
        out.append(UInt8(ascii: ","))
        out.append(contentsOf: offerID)
        out.append(UInt8(ascii: ","))
        out.append(contentsOf: channel)
        out.append(UInt8(ascii: ","))
        FixedDecimal.append(Double(propensity), decimals: propensityDecimals, to: &out)
        out.append(UInt8(ascii: ","))
        FixedDecimal.append(expectedValue, decimals: valueDecimals, to: &out)
        out.append(UInt8(ascii: "\n"))
    }
}

/// Orders a customer's chosen candidates for display: by objective descending, ties by offer index.
public enum NBARanking {
    /// Whether an offer with objective `a` (offer index `offerA`) ranks before one with `b` (`offerB`).
    @inlinable @inline(__always)
    public static func precedes(_ a: Double, offer offerA: UInt16, _ b: Double, offer offerB: UInt16) -> Bool {
        a > b || (a == b && offerA < offerB)
    }

    @inlinable
    public static func rank(_ chosen: inout ContiguousArray<Int32>, in table: CandidateTable, customer i: Int) {
        chosen.withUnsafeMutableBufferPointer { buf in
            insertionSort(buf) { a, b in
                precedes(table.objective(Int(a), customer: i), offer: table.candidates[Int(a)].offer,
                         table.objective(Int(b), customer: i), offer: table.candidates[Int(b)].offer)
            }
        }
    }
}
