/// An operation a shard's selections went through, replayed by a worker that takes the shard over (the
/// RESTORE message carries them) and kept in a run's recipes (`RunRepository`), so a resumed run rebuilds
/// the shard's final selection without the rounds. Here, not in NextBestWire, because both the protocol and
/// the store encode it, each in its own format.
public enum ShardOp: Sendable, Equatable {
    /// PRICES: solve every customer's sub-problem at its point of the request (slot 0).
    case evaluate(PricingRequest)
    /// COPY between selection slots.
    case copy(from: UInt8, to: UInt8)
    /// APPLY of this shard's accepted repair changes to a slot.
    case apply(slot: UInt8, changes: [Repair.Change])
}
