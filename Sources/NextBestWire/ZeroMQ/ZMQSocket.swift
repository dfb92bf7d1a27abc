import CZeroMQ
import Foundation

/// A libzmq context: owns the I/O threads of every socket made from it.
///
/// `@unchecked Sendable`: the handle is a raw pointer, and libzmq guards a context itself (contexts are
/// thread-safe, unlike sockets); the class has no other state.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    public init(ioThreads: Int32 = 1) throws {
        guard let h = zmq_ctx_new() else { throw ZMQError.last("ctx_new") }
        handle = h
        zmq_ctx_set(h, ZMQ_IO_THREADS, ioThreads)
    }

    deinit { zmq_ctx_term(handle) }

    /// A new socket of `type` (`ZMQ_ROUTER`, `ZMQ_DEALER`, …).
    public func socket(_ type: ZMQSocket.Kind) throws -> ZMQSocket { try ZMQSocket(context: self, kind: type) }
}

/// One libzmq socket. Not thread-safe: use a socket from one thread at a time (as libzmq requires).
///
/// `@unchecked Sendable` so that a socket can be made on one thread and handed to the thread that will own
/// it (the ZAP handler's, a worker's loop); nothing guards it: each socket has exactly one owning thread at a
/// time, by construction of its users (`ZAPHandler`, `Hub`, `Worker`).
public final class ZMQSocket: @unchecked Sendable {
    /// The socket patterns nextbest uses.
    public enum Kind: Sendable {
        case router, dealer, pair, rep
        var raw: Int32 {
            switch self {
            case .rep: return ZMQ_REP
            case .router: return ZMQ_ROUTER
            case .dealer: return ZMQ_DEALER
            case .pair: return ZMQ_PAIR
            }
        }
    }

    let handle: UnsafeMutableRawPointer
    let context: ZMQContext
    private var closed = false

    init(context: ZMQContext, kind: Kind) throws {
        guard let h = zmq_socket(context.handle, kind.raw) else { throw ZMQError.last("socket") }
        handle = h
        self.context = context
        try setInt(ZMQ_LINGER, 0)
    }

    deinit { close() }

    /// Closes the socket (pending messages are dropped: linger 0 unless set otherwise).
    public func close() {
        if !closed { zmq_close(handle); closed = true }
    }

    func setInt(_ option: Int32, _ value: Int32) throws {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size) == 0 else { throw ZMQError.last("setsockopt \(option)") }
    }

    func setBytes(_ option: Int32, _ value: [UInt8]) throws {
        let rc = value.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw ZMQError.last("setsockopt \(option)") }
    }

    /// How long pending outgoing messages are kept after `close`, in milliseconds.
    public func setLinger(_ ms: Int32) throws { try setInt(ZMQ_LINGER, ms) }
    /// Receive timeout in milliseconds (-1: block).
    public func setReceiveTimeout(_ ms: Int32) throws { try setInt(ZMQ_RCVTIMEO, ms) }
    /// Send timeout in milliseconds (-1: block).
    public func setSendTimeout(_ ms: Int32) throws { try setInt(ZMQ_SNDTIMEO, ms) }
    /// The identity a DEALER presents to a ROUTER.
    public func setIdentity(_ id: [UInt8]) throws { try setBytes(ZMQ_ROUTING_ID, id) }
    /// Makes a ROUTER fail sends to unknown peers instead of dropping them silently.
    public func setRouterMandatory(_ on: Bool) throws { try setInt(ZMQ_ROUTER_MANDATORY, on ? 1 : 0) }
    /// Largest message accepted, in bytes (-1: no limit); bigger ones close the connection.
    public func setMaxMessageSize(_ bytes: Int64) throws {
        var v = bytes
        guard zmq_setsockopt(handle, ZMQ_MAXMSGSIZE, &v, MemoryLayout<Int64>.size) == 0 else { throw ZMQError.last("setsockopt maxmsgsize") }
    }

    /// CURVE server: this socket's secret key (32 bytes); clients must know its public key. Clients are
    /// checked by the context's ZAP handler (`ZAPHandler`) under `domain`.
    public func setCurveServer(secretKey: [UInt8], domain: String = "nextbest") throws {
        try setInt(ZMQ_CURVE_SERVER, 1)
        try setBytes(ZMQ_ZAP_DOMAIN, Array(domain.utf8))
        try setBytes(ZMQ_CURVE_SECRETKEY, secretKey)
    }

    /// CURVE client: the server's public key and this client's key pair (32 bytes each).
    public func setCurveClient(serverKey: [UInt8], publicKey: [UInt8], secretKey: [UInt8]) throws {
        try setBytes(ZMQ_CURVE_SERVERKEY, serverKey)
        try setBytes(ZMQ_CURVE_PUBLICKEY, publicKey)
        try setBytes(ZMQ_CURVE_SECRETKEY, secretKey)
    }

    public func bind(_ endpoint: String) throws {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError.last("bind \(endpoint)") }
    }

    public func connect(_ endpoint: String) throws {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError.last("connect \(endpoint)") }
    }

    /// The endpoint actually bound (resolves `tcp://127.0.0.1:*` to the chosen port).
    public func lastEndpoint() throws -> String {
        var buf = [CChar](repeating: 0, count: 256)
        var len = buf.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buf, &len) == 0 else { throw ZMQError.last("getsockopt last_endpoint") }
        return Self.text(buf)
    }

    /// A NUL-terminated C buffer as a string.
    static func text(_ buf: [CChar]) -> String {
        let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Sends the frames as one multipart message.
    public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws {
        for (i, f) in frames.enumerated() {
            var flags: Int32 = i + 1 < frames.count ? ZMQ_SNDMORE : 0
            if dontWait { flags |= ZMQ_DONTWAIT }
            let rc = f.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
            guard rc >= 0 else { throw ZMQError.last("send") }
        }
    }

    /// Receives one multipart message; nil when the receive timeout expires.
    public func receive() throws -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        while true {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            let rc = zmq_msg_recv(&msg, handle, 0)
            if rc < 0 {
                let e = ZMQError.last("receive")
                if e.isTimeout && frames.isEmpty { return nil }
                throw e
            }
            let size = zmq_msg_size(&msg)
            let data = zmq_msg_data(&msg)
            frames.append(size == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: size)))
            if zmq_msg_more(&msg) == 0 { return frames }
        }
    }

    /// Sends frames, then receives, for request/reply sockets.
    public func send(_ frames: [String]) throws { try send(frames.map { Array($0.utf8) }) }

    /// Waits up to `timeoutMs` for a message to arrive, or (when given) for the file descriptor `wake` to
    /// become readable; true if a message can be received now.
    public func poll(timeoutMs: Int, wake: Int32? = nil) throws -> Bool {
        var items = [zmq_pollitem_t(socket: handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)]
        if let wake { items.append(zmq_pollitem_t(socket: nil, fd: wake, events: Int16(ZMQ_POLLIN), revents: 0)) }
        let rc = zmq_poll(&items, Int32(items.count), timeoutMs)
        if rc < 0 && zmq_errno() == EINTR { return false }
        guard rc >= 0 else { throw ZMQError.last("poll") }
        return items[0].revents & Int16(ZMQ_POLLIN) != 0
    }
}

/// CURVE key pairs (Z85 text, 40 characters each) for authenticating workers.
public enum CurveKeys {
    public static func generate() throws -> (publicKey: String, secretKey: String) {
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw ZMQError.last("curve_keypair (is libzmq built with libsodium?)") }
        return (ZMQSocket.text(pub), ZMQSocket.text(sec))
    }

    /// The public key of a Z85 secret key; nil if the secret is not a valid key.
    public static func publicKey(ofSecret secret: String) -> String? {
        guard decode(secret) != nil else { return nil }
        var pub = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&pub, secret) == 0 else { return nil }
        return ZMQSocket.text(pub)
    }

    /// Encodes 32 key bytes as Z85 text.
    public static func encode(_ key: [UInt8]) -> String? {
        guard key.count == 32 else { return nil }
        var out = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&out, key, 32) != nil else { return nil }
        return ZMQSocket.text(out)
    }

    /// Decodes a Z85 key to its 32 bytes; nil if it is not a valid 40-character key.
    public static func decode(_ z85: String) -> [UInt8]? {
        guard z85.utf8.count == 40 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        guard zmq_z85_decode(&out, z85) != nil else { return nil }
        return out
    }
}
