/// Every `step`-th customer id of the profiles in key order and their count, kept in `meta/profile_index`
/// for the data stamp it was built at, so that a run cuts its shards by seeking instead of walking every
/// profile (at 10 M customers the walk touched 1.7 GB of pages in the coordinator at every run).
///
/// Record: `[version u8 = 1][step u32][count u64][stamp: 16 bytes][ids: u64 × ceil(count / step)]`,
/// little-endian. It is rebuilt in the transaction that changes profiles (`Store.markDataChanged`) and
/// carried over to the new stamp by one that changes contacts only; a record whose stamp is not the
/// store's, or a store without one, is ignored (the shards are then cut by walking the keys).
public struct ProfileIndex: Sendable, Equatable {
    public static let version: UInt8 = 1
    /// The step of the indexes the importers build.
    public static let defaultStep = 1024
    public var step: Int
    public var count: Int
    /// `ids[j]` is the customer id at position `j * step` in key order.
    public var ids: [UInt64]

    public init(step: Int, count: Int, ids: [UInt64]) { self.step = step; self.count = count; self.ids = ids }

    func encode(stamp: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [Self.version]
        withUnsafeBytes(of: UInt32(step).littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: stamp.count == 16 ? stamp : [UInt8](repeating: 0, count: 16))
        for id in ids { withUnsafeBytes(of: id.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }

    /// The index in `bytes` if it is well formed and was built at `stamp`.
    static func decode(_ bytes: UnsafeRawBufferPointer, stamp: [UInt8]) -> ProfileIndex? {
        guard bytes.count >= 29, bytes[0] == version else { return nil }
        let step = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 1, as: UInt32.self)))
        let count = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 5, as: UInt64.self))
        guard step > 0, count < UInt64(Int32.max) * 64, Array(bytes[13..<29]) == stamp else { return nil }
        let n = (Int(count) + step - 1) / step
        guard bytes.count == 29 + 8 * n else { return nil }
        let ids = (0..<n).map { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 29 + 8 * $0, as: UInt64.self)) }
        return ProfileIndex(step: step, count: Int(count), ids: ids)
    }
}
