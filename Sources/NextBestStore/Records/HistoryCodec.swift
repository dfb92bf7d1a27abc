import NextBestCore

/// Contact-history records in the `history` database (`DUPSORT`): key = customer id (8 bytes big-endian),
/// value = `[day i32 big-endian][outcome u8][offer id length u8][offer id][channel length u8][channel]`.
/// Values sort by day; an identical event imported twice is stored once.
public enum HistoryCodec {
    /// Encodes one event's value.
    public static func encodeValue(_ e: ContactEvent) -> [UInt8] {
        var out = [UInt8]()
        let day = UInt32(bitPattern: e.day.daysSinceEpoch ^ Int32.min) // order-preserving for negatives
        withUnsafeBytes(of: day.bigEndian) { out.append(contentsOf: $0) }
        out.append(e.outcome.rawValue)
        let o = Array(e.offerID.utf8), c = Array(e.channel.utf8)
        out.append(UInt8(o.count)); out.append(contentsOf: o)
        out.append(UInt8(c.count)); out.append(contentsOf: c)
        return out
    }

    /// The fields of a stored value, zero-copy (ids point into `value`).
    public struct View {
        public var day: Int32
        public var outcome: ContactOutcome
        public var offerID: UnsafeRawBufferPointer
        public var channel: UnsafeRawBufferPointer
    }

    /// Reads a stored value; nil if it is malformed.
    public static func decode(_ v: UnsafeRawBufferPointer) -> View? {
        guard v.count >= 7 else { return nil }
        let raw = UInt32(bigEndian: v.loadUnaligned(as: UInt32.self))
        let day = Int32(bitPattern: raw) ^ Int32.min
        guard let outcome = ContactOutcome(rawValue: v[4]) else { return nil }
        let ol = Int(v[5])
        guard v.count >= 6 + ol + 1 else { return nil }
        let cl = Int(v[6 + ol])
        guard v.count == 7 + ol + cl else { return nil }
        return View(day: day, outcome: outcome,
                    offerID: UnsafeRawBufferPointer(rebasing: v[6..<(6 + ol)]),
                    channel: UnsafeRawBufferPointer(rebasing: v[(7 + ol)..<(7 + ol + cl)]))
    }
}
