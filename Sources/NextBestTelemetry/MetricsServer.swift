import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The HTTP/1.1 endpoint Prometheus scrapes, on SwiftNIO: `GET /metrics` answers the text exposition
/// format produced by `body`, `/` and `/healthz` a one-line text, anything else a 404 (other methods a 405).
/// Connections are served concurrently on one event loop, each answered once and closed
/// (`Connection: close`); a connection that sends nothing for `Limits.idle`, or has not been answered within
/// `Limits.deadline`, is closed, so idle or slow clients cannot hold the endpoint and keep a scraper
/// waiting. IPv4 and IPv6.
public final class MetricsServer: Sendable {
    /// Why the server could not start.
    public enum Failure: Error, CustomStringConvertible {
        case bind(address: String, port: Int, reason: String)
        public var description: String {
            switch self {
            case let .bind(a, p, r):
                return "cannot serve metrics on \(MetricsAddress(host: a, port: p)): \(r) (choose another --metrics-port, or 0 for any free port)"
            }
        }
    }

    /// How long a connection may take, and how many may be open at once.
    public struct Limits: Sendable {
        /// A connection that sends nothing for this long is closed.
        public var idle: TimeAmount
        /// A connection not answered within this long of being accepted is closed (a client dribbling bytes).
        public var deadline: TimeAmount
        /// Connections past this many open at once are closed as soon as they are accepted.
        public var maxConnections: Int

        public init(idle: TimeAmount = .seconds(5), deadline: TimeAmount = .seconds(15), maxConnections: Int = 256) {
            self.idle = idle
            self.deadline = deadline
            self.maxConnections = maxConnections
        }
    }

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let stopped = NIOLockedValueBox(false)
    /// The host bound (as given, without brackets) and the port (the one chosen by the system when asked for 0).
    public let address: String
    public let port: Int

    /// Binds `address:port` (an IPv4 or IPv6 literal, or a name; "0.0.0.0" or "::" for every interface) and
    /// starts answering.
    public init(address: String = MetricsAddress.loopback, port: Int, limits: Limits = Limits(), body: @escaping @Sendable () -> [UInt8]) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let open = NIOLockedValueBox(0)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configure(channel, limits: limits, open: open, body: body)
                }
            }
        do {
            channel = try bootstrap.bind(host: address, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw Failure.bind(address: address, port: port, reason: Self.reason(error))
        }
        self.group = group
        self.address = address
        self.port = channel.localAddress?.port ?? port
    }

    /// Sets up one accepted connection: the connection count, the deadline, the idle timer, HTTP/1.1 and
    /// the answering handler.
    private static func configure(_ channel: any Channel, limits: Limits, open: NIOLockedValueBox<Int>,
                                  body: @escaping @Sendable () -> [UInt8]) throws {
        let count = open.withLockedValue { n -> Int in n += 1; return n }
        channel.closeFuture.whenComplete { _ in open.withLockedValue { $0 -= 1 } }
        guard count <= limits.maxConnections else {
            channel.close(promise: nil)
            return
        }
        let deadline = channel.eventLoop.scheduleTask(in: limits.deadline) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in deadline.cancel() }
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(IdleStateHandler(readTimeout: limits.idle))
        try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
        try sync.addHandler(MetricsHandler(body: body))
    }

    private static func reason(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }

    /// The bound address as `host:port`, IPv6 hosts in brackets.
    public var endpoint: MetricsAddress { MetricsAddress(host: address, port: port) }

    /// The URL a scraper on this machine uses.
    public var url: String { "http://\(MetricsAddress(host: address).localHost):\(port)/metrics" }

    /// Stops answering: closes the listening socket and the open connections, and ends the event loop.
    public func stop() {
        let first = stopped.withLockedValue { s -> Bool in defer { s = true }; return !s }
        guard first else { return }
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    deinit { stop() }
}

/// Answers one request on a connection and closes it; closes an idle connection.
final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let body: @Sendable () -> [UInt8]
    private var head: HTTPRequestHead?
    private var answered = false

    init(body: @escaping @Sendable () -> [UInt8]) { self.body = body }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head, !answered else { return }
            answered = true
            respond(to: head, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// What a request gets: status, content type and payload.
    static func answer(method: HTTPMethod, uri: String, body: () -> [UInt8]) -> (HTTPResponseStatus, String, [UInt8]) {
        let path = String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        let text = "text/plain; charset=utf-8"
        if method != .GET && method != .HEAD { return (.methodNotAllowed, text, Array("only GET\n".utf8)) }
        switch path {
        case "/metrics": return (.ok, "text/plain; version=0.0.4; charset=utf-8", body())
        case "/", "/healthz": return (.ok, text, Array("nextbest: metrics at /metrics\n".utf8))
        default: return (.notFound, text, Array("not found; metrics are at /metrics\n".utf8))
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let (status, type, payload) = Self.answer(method: head.method, uri: head.uri, body: body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(payload.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: payload)))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
