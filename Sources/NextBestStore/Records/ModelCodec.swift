import NextBestCore

/// The binary model record, version 1, little-endian: `"NBM"`, version `u8 = 1`, model version `i64`,
/// kind `u8` (0 logistic, 1 trees, 2 forest, 3 forest with text categories, 4 logistic with a normalizer),
/// then the body:
/// - logistic: features (`u32` n, n × (`u16` length, UTF-8)), `u32` n, n × `f64` coefficients, `f64` intercept;
/// - trees: features as above, `f32` base margin, `u32` n, n × node (`i32` feature, `f32` threshold,
///   `i32` left, `u8` default-left), `u32` n, n × `i32` roots;
/// - forest (`DecisionForest`, added without a version change: older records decode as before): features
///   as above, then the body `encodeForest` describes;
/// - forest with text categories (kind 3, a forest whose `categoryNames` is set; kinds 0–2 unchanged):
///   as kind 2, then `u32` n (the feature count), n × category list (as the features: `u32` count, then
///   `u16` length and UTF-8 each), empty for a feature without categories;
/// - logistic with a normalizer (kind 4, an ONNX `Normalizer` in front of a `LinearClassifier`): as kind 0,
///   then `u8` norm (0 MAX, 1 L1, 2 L2), `u32` n, n × (`i32` feature index, `f64` scale, `f64` shift,
///   `f64` weight).
///
/// The model id is the record's key. Decoding checks every count against the bytes left and builds the
/// model through its validating initializer, so a damaged record is an error, never a trap. Stores written
/// before this record existed hold models as JSON; `Store.model` reads both. Decoding the binary record
/// of the standard workload's 16 tree models takes milliseconds where the JSON took about a second in
/// every process of a run.
public enum ModelCodec {
    public static let version: UInt8 = 1
    static let magic: [UInt8] = Array("NBM".utf8)

    /// Why a record cannot be read.
    public struct DecodeError: Error, CustomStringConvertible, Sendable {
        public var reason: String
        public var description: String { reason }
    }

    /// Whether `bytes` is a binary model record (else it is the older JSON form).
    public static func isBinary(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes[0] == magic[0] && bytes[1] == magic[1] && bytes[2] == magic[2]
    }

    public static func encode(_ m: PropensityModel) -> [UInt8] {
        var out = magic
        out.append(version)
        func u8(_ v: UInt8) { out.append(v) }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func f32(_ v: Float) { u32(v.bitPattern) }
        func f64(_ v: Double) { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        func strings(_ s: [String]) { u32(UInt32(s.count)); for x in s { let b = Array(x.utf8); u16(UInt16(b.count)); out.append(contentsOf: b) } }
        i64(Int64(m.version))
        switch m.kind {
        case .logistic(let l):
            u8(l.normalization == nil ? 0 : 4); strings(l.features)
            u32(UInt32(l.coefficients.count)); for c in l.coefficients { f64(c) }
            f64(l.intercept)
            if let n = l.normalization {
                u8(n.norm.code); u32(UInt32(n.feature.count))
                for k in n.feature.indices { u32(UInt32(bitPattern: n.feature[k])); f64(n.scale[k]); f64(n.shift[k]); f64(n.weight[k]) }
            }
        case .trees(let t):
            u8(1); strings(t.features); f32(t.baseMargin)
            out.reserveCapacity(out.count + 13 * t.nodes.count + 4 * t.roots.count + 8)
            u32(UInt32(t.nodes.count))
            for n in t.nodes { u32(UInt32(bitPattern: n.feature)); f32(n.threshold); u32(UInt32(bitPattern: n.left)); u8(n.defaultLeft ? 1 : 0) }
            u32(UInt32(t.roots.count)); for r in t.roots { u32(UInt32(bitPattern: r)) }
        case .forest(let f):
            u8(f.categoryNames == nil ? 2 : 3); strings(f.features)
            encodeForest(f, into: &out)
            if let names = f.categoryNames { u32(UInt32(names.count)); for list in names { strings(list) } }
        }
        return out
    }

    /// A list of names (`u32` count, then each as `u16` length and UTF-8 bytes) at `at`, which it moves past.
    static func strings(_ bytes: UnsafeRawBufferPointer, at: inout Int) throws(DecodeError) -> [String] {
        func need(_ n: Int, _ what: String) throws(DecodeError) {
            guard n >= 0, bytes.count - at >= n else { throw DecodeError(reason: "record ends inside \(what) (byte \(at) of \(bytes.count))") }
        }
        try need(4, "the feature names")
        let n = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
        at += 4
        try need(n * 2, "the feature names")
        var out: [String] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            try need(2, "a feature name")
            let len = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
            at += 2
            try need(len, "a feature name")
            guard let s = String(validating: UnsafeRawBufferPointer(rebasing: bytes[at..<(at + len)]), as: UTF8.self) else {
                throw DecodeError(reason: "a feature name is not UTF-8")
            }
            out.append(s)
            at += len
        }
        return out
    }

    public static func decode(id: String, _ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> PropensityModel {
        var at = 0
        func need(_ n: Int, _ what: String) throws(DecodeError) {
            guard n >= 0, bytes.count - at >= n else { throw DecodeError(reason: "record ends inside \(what) (byte \(at) of \(bytes.count))") }
        }
        func u8(_ what: String) throws(DecodeError) -> UInt8 { try need(1, what); defer { at += 1 }; return bytes[at] }
        func u16(_ what: String) throws(DecodeError) -> UInt16 { try need(2, what); defer { at += 2 }; return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
        func u32(_ what: String) throws(DecodeError) -> UInt32 { try need(4, what); defer { at += 4 }; return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64(_ what: String) throws(DecodeError) -> UInt64 { try need(8, what); defer { at += 8 }; return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        func count(_ size: Int, _ what: String) throws(DecodeError) -> Int {
            let n = Int(try u32(what))
            try need(n * size, what)
            return n
        }
        func strings() throws(DecodeError) -> [String] { try Self.strings(bytes, at: &at) }
        guard isBinary(bytes) else { throw DecodeError(reason: "not a binary model record") }
        at = 3
        let v = try u8("the version")
        guard v == version else { throw DecodeError(reason: "model record version \(v), this nextbest reads \(version)") }
        let modelVersion = Int64(bitPattern: try u64("the model version"))
        let kind: PropensityModel.Kind
        do {
            switch try u8("the kind") {
            case let k where k == 0 || k == 4:
                let features = try strings()
                let n = try count(8, "the coefficients")
                var coefficients: [Double] = []
                coefficients.reserveCapacity(n)
                for _ in 0..<n { coefficients.append(Double(bitPattern: try u64("a coefficient"))) }
                let intercept = Double(bitPattern: try u64("the intercept"))
                var model = try LogisticModel(features: features, coefficients: coefficients, intercept: intercept)
                if k == 4 {
                    let code = try u8("the normalizer's norm")
                    guard let norm = LogisticModel.Normalization.Norm(code: code) else { throw DecodeError(reason: "unknown normalizer norm \(code)") }
                    let m = try count(28, "the normalizer")
                    var f: [Int32] = [], a: [Double] = [], b: [Double] = [], w: [Double] = []
                    for _ in 0..<m {
                        f.append(Int32(bitPattern: try u32("the normalizer")))
                        a.append(Double(bitPattern: try u64("the normalizer"))); b.append(Double(bitPattern: try u64("the normalizer")))
                        w.append(Double(bitPattern: try u64("the normalizer")))
                    }
                    model = try model.with(try LogisticModel.Normalization(norm: norm, feature: f, scale: a, shift: b, weight: w))
                }
                kind = .logistic(model)
            case 1:
                let features = try strings()
                let base = Float(bitPattern: try u32("the base margin"))
                let n = try count(13, "the tree nodes")
                var nodes: [TreeEnsemble.Node] = []
                nodes.reserveCapacity(n)
                for _ in 0..<n {
                    let f = Int32(bitPattern: try u32("a node")), t = Float(bitPattern: try u32("a node"))
                    let l = Int32(bitPattern: try u32("a node")), d = try u8("a node")
                    nodes.append(TreeEnsemble.Node(feature: f, threshold: t, left: l, defaultLeft: d != 0))
                }
                let r = try count(4, "the tree roots")
                var roots: [Int32] = []
                roots.reserveCapacity(r)
                for _ in 0..<r { roots.append(Int32(bitPattern: try u32("a root"))) }
                kind = .trees(try TreeEnsemble(features: features, baseMargin: base, nodes: nodes, roots: roots))
            case 2:
                let features = try strings()
                kind = .forest(try decodeForest(features: features, bytes, at: &at))
            case 3:
                let features = try strings()
                let forest = try decodeForest(features: features, bytes, at: &at)
                let n = try count(4, "the category lists")
                var names: [[String]] = []
                for _ in 0..<n { names.append(try strings()) }
                kind = .forest(try forest.withCategoryNames(names))
            case let k:
                throw DecodeError(reason: "unknown model kind \(k)")
            }
        } catch let e as DecodeError {
            throw e
        } catch {
            throw DecodeError(reason: "\(error)")
        }
        guard at == bytes.count else { throw DecodeError(reason: "\(bytes.count - at) bytes after the model") }
        guard modelVersion >= 0, modelVersion <= Int64(Int32.max) else { throw DecodeError(reason: "model version \(modelVersion) out of range") }
        return PropensityModel(id: id, version: Int(modelVersion), kind: kind)
    }

    /// The model version alone (binary or JSON record).
    public static func modelVersion(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Int? {
        guard isBinary(bytes) else { return nil }
        guard bytes.count >= 12, bytes[3] == version else { throw DecodeError(reason: "model record too short or of another version") }
        return Int(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: Int64.self)))
    }
}
