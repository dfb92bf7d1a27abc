import NextBestCore

/// The binary profile record, version 1, little-endian:
/// `[version u8 = 1][flags u8 = 0][region u16][segment u16][feature count u16][features Float32 × count]`.
/// Keys are the customer id as 8 big-endian bytes, so LMDB's byte order is customer-id order.
public enum ProfileCodec {
    public static let version: UInt8 = 1
    public static let headerSize = 8

    /// The key of a customer id.
    @inlinable public static func key(_ id: UInt64) -> [UInt8] {
        withUnsafeBytes(of: id.bigEndian) { Array($0) }
    }

    /// Reads a key back into a customer id; nil if it is not 8 bytes.
    @inlinable public static func customerID(key: UnsafeRawBufferPointer) -> UInt64? {
        guard key.count == 8 else { return nil }
        return UInt64(bigEndian: key.loadUnaligned(as: UInt64.self))
    }

    /// Encodes a profile record.
    public static func encode(_ p: Profile) -> [UInt8] {
        var out = [UInt8]()
        encode(region: p.region, segment: p.segment, features: p.features, into: &out)
        return out
    }

    /// Encodes into a reusable buffer.
    public static func encode(region: UInt16, segment: UInt16, features: [Float], into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(headerSize + 4 * features.count)
        out.append(version)
        out.append(0)
        withUnsafeBytes(of: region.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: segment.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt16(features.count).littleEndian) { out.append(contentsOf: $0) }
        for f in features { withUnsafeBytes(of: f.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
    }

    /// The header fields of a record, after checking version and length against `featureCount`.
    public struct Header: Sendable {
        public var region: UInt16
        public var segment: UInt16
    }

    /// Decodes a record's header and copies its features into `features` (capacity >= featureCount).
    public static func decode(_ value: UnsafeRawBufferPointer, featureCount: Int,
                              into features: UnsafeMutableBufferPointer<Float>) -> Result<Header, ProfileDecodeError> {
        guard value.count >= headerSize else { return .failure(.truncated(value.count)) }
        guard value[0] == version else { return .failure(.version(value[0])) }
        let n = Int(UInt16(littleEndian: value.loadUnaligned(fromByteOffset: 6, as: UInt16.self)))
        guard n == featureCount else { return .failure(.featureCount(n, expected: featureCount)) }
        guard value.count == headerSize + 4 * n else { return .failure(.truncated(value.count)) }
        let region = UInt16(littleEndian: value.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        let segment = UInt16(littleEndian: value.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        for i in 0..<n {
            features[i] = Float(bitPattern: UInt32(littleEndian: value.loadUnaligned(fromByteOffset: headerSize + 4 * i, as: UInt32.self)))
        }
        return .success(Header(region: region, segment: segment))
    }

    /// Decodes a whole profile (tests, inspection).
    public static func decodeProfile(id: UInt64, _ value: UnsafeRawBufferPointer, featureCount: Int) throws -> Profile {
        var f = [Float](repeating: 0, count: featureCount)
        let r = f.withUnsafeMutableBufferPointer { decode(value, featureCount: featureCount, into: $0) }
        switch r {
        case .success(let h): return Profile(customerID: id, region: h.region, segment: h.segment, features: f)
        case .failure(let e): throw StoreError.corrupt(database: "profiles", key: "customer \(id)", reason: e.description)
        }
    }
}

/// Why a stored profile record could not be read.
public enum ProfileDecodeError: Error, CustomStringConvertible {
    case truncated(Int)
    case version(UInt8)
    case featureCount(Int, expected: Int)
    /// A region or segment code outside the store's dictionaries (`regions`, `segments` names known).
    case code(region: UInt16, segment: UInt16, regions: Int, segments: Int)

    public var description: String {
        switch self {
        case .truncated(let n): return "record of \(n) bytes is truncated"
        case .version(let v): return "record version \(v) is not supported (expected \(ProfileCodec.version))"
        case .featureCount(let n, let e): return "record holds \(n) features, the store schema has \(e)"
        case .code(let r, let s, let rs, let ss):
            return Int(r) >= rs ? "region code \(r) is outside the store's \(rs) regions" : "segment code \(s) is outside the store's \(ss) segments"
        }
    }
}
