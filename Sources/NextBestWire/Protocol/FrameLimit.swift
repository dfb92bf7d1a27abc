/// The largest frame a peer can legitimately send, set as ZMQ_MAXMSGSIZE on both sockets so a frame past it
/// closes its connection before it is buffered (see docs/protocol.md, "Frame size limit").
///
/// The frames that grow with the data are per shard: ROWS (one CSV line per chosen offer of each customer),
/// SPLITS (one option per candidate of a split customer), MOVES (64 bytes per move), PROPS (4 bytes per model
/// and customer), RESCORE and RESTORE toward a worker; the ones that grow with the campaign are AGGREGATES,
/// FACTS, STATE and the pricing requests (a few KB per constraint row). The limit is
/// `safetyFactor × (1 MiB + rows × (1 KiB + 16 × candidates) + customers × (64 + candidates × (80 + labels)))`,
/// with `candidates` the candidates a customer can have (each offer once per channel it goes out on) and
/// `labels` the longest offer id plus the longest channel name, in bytes: 80 bytes cover a CSV line's customer
/// id, rank, propensity and value, a SPLITS option and a MOVE record.
public enum FrameLimit {
    /// How far past the largest frame the formula describes the limit is set.
    public static let safetyFactor = 2

    /// The limit in bytes for shards of at most `customers` customers.
    public static func bytes(customers: Int, candidates: Int, labels: Int, rows: Int) -> Int64 {
        let c = Int64(max(customers, 1)), k = Int64(max(candidates, 1)), l = Int64(max(labels, 0)), r = Int64(max(rows, 0))
        let fixed = Int64(1 << 20) + r * (1_024 + 16 * k)
        let (perShard, over) = c.multipliedReportingOverflow(by: 64 + k * (80 + l))
        guard !over else { return .max }
        let (sum, over2) = (fixed + perShard).multipliedReportingOverflow(by: Int64(safetyFactor))
        return over2 ? .max : sum
    }
}
