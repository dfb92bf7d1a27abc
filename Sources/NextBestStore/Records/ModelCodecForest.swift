import NextBestCore

/// The body of a `DecisionForest` record (kind 2), after the feature names: `u8` arithmetic (0 LightGBM, 1 ONNX, 2 ONNX probability),
/// `f64` sigmoid, `u8` average-output, `u32` n, n × node (`i32` feature, `f64` value, `i32` left, `u8`
/// flags: bit 0 categorical, bit 1 default left, bits 2–3 missing type, 3 = ONNX `.exact`; `i32` category set), `u32` n,
/// n × `i32` roots, `u32` n, n × `i32` category-set bounds, `u32` n, n × `u32` bitset words.
extension ModelCodec {
    static let forestNodeBytes = 21

    static func encodeForest(_ f: DecisionForest, into out: inout [UInt8]) {
        func u8(_ v: UInt8) { out.append(v) }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func f64(_ v: Double) { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        func i32s(_ a: [Int32]) { u32(UInt32(a.count)); for x in a { u32(UInt32(bitPattern: x)) } }
        out.reserveCapacity(out.count + 10 + forestNodeBytes * f.nodes.count + 4 * (f.roots.count + f.categoryBounds.count + f.categoryWords.count) + 16)
        u8(f.arithmetic.rawValue); f64(f.sigmoid); u8(f.averageOutput ? 1 : 0)
        u32(UInt32(f.nodes.count))
        for n in f.nodes {
            u32(UInt32(bitPattern: n.feature)); f64(n.value); u32(UInt32(bitPattern: n.left))
            u8((n.categorical ? 1 : 0) | (n.defaultLeft ? 2 : 0) | n.missing.rawValue << 2)
            u32(UInt32(bitPattern: n.categorySet))
        }
        i32s(f.roots); i32s(f.categoryBounds)
        u32(UInt32(f.categoryWords.count)); for w in f.categoryWords { u32(w) }
    }

    /// Reads a forest body at `at`, checking every count against the bytes left; the forest is built
    /// through its validating initializer.
    static func decodeForest(features: [String], _ bytes: UnsafeRawBufferPointer, at: inout Int) throws(DecodeError) -> DecisionForest {
        var r = ForestCursor(bytes: bytes, at: at)
        defer { at = r.at }
        guard let arithmetic = DecisionForest.Arithmetic(rawValue: try r.u8("the arithmetic")) else {
            throw DecodeError(reason: "unknown tree arithmetic \(bytes[r.at - 1])")
        }
        let sigmoid = Double(bitPattern: try r.u64("the sigmoid")), average = try r.u8("the average flag") != 0
        let n = try r.count(forestNodeBytes, "the tree nodes")
        var nodes: [DecisionForest.Node] = []
        nodes.reserveCapacity(n)
        for _ in 0..<n {
            let f = Int32(bitPattern: try r.u32("a node")), v = Double(bitPattern: try r.u64("a node"))
            let l = Int32(bitPattern: try r.u32("a node")), flags = try r.u8("a node")
            let set = Int32(bitPattern: try r.u32("a node"))
            guard flags < 16, let missing = DecisionForest.Missing(rawValue: flags >> 2) else { throw DecodeError(reason: "a tree node has unknown flags \(flags)") }
            nodes.append(DecisionForest.Node(feature: f, value: v, left: l, categorical: flags & 1 != 0,
                                             defaultLeft: flags & 2 != 0, missing: missing, categorySet: set))
        }
        let roots = try r.i32s("the tree roots"), bounds = try r.i32s("the category sets")
        let w = try r.count(4, "the category bitsets")
        var words: [UInt32] = []
        words.reserveCapacity(w)
        for _ in 0..<w { words.append(try r.u32("a category word")) }
        do {
            return try DecisionForest(arithmetic: arithmetic, features: features, nodes: nodes, roots: roots,
                                      categoryBounds: bounds, categoryWords: words, sigmoid: sigmoid, averageOutput: average)
        } catch {
            throw DecodeError(reason: error.description)
        }
    }

    /// Little-endian reads that check the bytes left.
    struct ForestCursor {
        let bytes: UnsafeRawBufferPointer
        var at: Int

        func need(_ n: Int, _ what: String) throws(DecodeError) {
            guard n >= 0, bytes.count - at >= n else { throw DecodeError(reason: "record ends inside \(what) (byte \(at) of \(bytes.count))") }
        }
        mutating func u8(_ what: String) throws(DecodeError) -> UInt8 { try need(1, what); defer { at += 1 }; return bytes[at] }
        mutating func u32(_ what: String) throws(DecodeError) -> UInt32 {
            try need(4, what); defer { at += 4 }
            return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        }
        mutating func u64(_ what: String) throws(DecodeError) -> UInt64 {
            try need(8, what); defer { at += 8 }
            return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self))
        }
        mutating func count(_ size: Int, _ what: String) throws(DecodeError) -> Int {
            let n = Int(try u32(what))
            try need(n * size, what)
            return n
        }
        mutating func i32s(_ what: String) throws(DecodeError) -> [Int32] {
            let n = try count(4, what)
            var out: [Int32] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(Int32(bitPattern: try u32(what))) }
            return out
        }
    }
}
