/// The largest frame a peer can legitimately send, set as ZMQ_MAXMSGSIZE on both sockets so a frame past it
/// closes its connection before it is buffered (see docs/protocol.md, "Frame size limit").
///
/// The frames that grow with a shard are ROWS (a CSV line per chosen offer of each customer, at most 64
/// bytes and the labels, and the same lists in binary, at most 30 bytes a row), SPLITS (per split
/// customer its fields, its alternatives and one 36-byte option per candidate), MOVES (one 64-byte move and at
/// most one 36-byte remainder per customer), PROPS (4 bytes per model and customer), and RESCORE and RESTORE
/// toward a worker; the ones that grow with the campaign are AGGREGATES, FACTS, STATE and the pricing requests.
/// The limit is
/// `safetyFactor × (1 MiB + rows × (1 KiB + 16 × candidates) + customers × (128 + maxOffers × (96 + labels) + 40 × candidates))`,
/// with `candidates` the candidates a customer can have (each offer once per channel it goes out on),
/// `maxOffers` the campaign's offers per customer and `labels` the longest offer id plus the longest channel
/// name, in bytes.
public enum FrameLimit {
    /// How far past the largest frame the formula describes the limit is set.
    public static let safetyFactor = 2

    /// The limit in bytes for shards of at most `customers` customers.
    public static func bytes(customers: Int, candidates: Int, maxOffers: Int, labels: Int, rows: Int) -> Int64 {
        let c = Int64(max(customers, 1)), k = Int64(max(candidates, 1)), o = Int64(max(maxOffers, 1))
        let l = Int64(max(labels, 0)), r = Int64(max(rows, 0))
        let fixed = Int64(1 << 20) + r * (1_024 + 16 * k)
        let (perShard, over) = c.multipliedReportingOverflow(by: 128 + o * (96 + l) + 40 * k)
        guard !over else { return .max }
        let (sum, over2) = (fixed + perShard).multipliedReportingOverflow(by: Int64(safetyFactor))
        return over2 ? .max : sum
    }
}
