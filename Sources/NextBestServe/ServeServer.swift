import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The HTTP/1.1 side of `nextbest serve`, on SwiftNIO: keep-alive connections (load generators and
/// channel back-ends reuse them), request bodies up to `maxBody` bytes, each request answered by
/// `ServeRouter` on the connection's event loop.
public final class ServeServer: Sendable {
    /// Why the server could not start.
    public enum Failure: Error, CustomStringConvertible {
        case bind(address: String, port: Int, reason: String)
        public var description: String {
            switch self {
            case let .bind(a, p, r): return "cannot serve on \(a):\(p): \(r) (choose another --bind)"
            }
        }
    }

    /// Request bodies past this many bytes get a 413.
    public static let maxBody = 64 * 1024

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    public let port: Int

    /// Binds `host:port` (0: any free port) and starts answering with `router`.
    public init(host: String, port: Int, threads: Int = System.coreCount, router: ServeRouter) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try sync.addHandler(ServeHandler(router: router))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw Failure.bind(address: host, port: port, reason: "\(error)")
        }
        self.group = group
        self.port = channel.localAddress?.port ?? port
    }

    /// Stops answering and ends the event loops.
    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// Waits until the listening socket closes.
    public func wait() { try? channel.closeFuture.wait() }
}

/// Collects one request at a time on a connection and writes the router's answer.
final class ServeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let router: ServeRouter
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var tooLarge = false

    init(router: ServeRouter) { self.router = router }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h; body.removeAll(keepingCapacity: true); tooLarge = false
        case .body(var buffer):
            if body.count + buffer.readableBytes > ServeServer.maxBody { tooLarge = true } else if let bytes = buffer.readBytes(length: buffer.readableBytes) { body += bytes }
        case .end:
            guard let head else { return }
            self.head = nil
            let answer = tooLarge
                ? ServeResponse(status: 413, contentType: "application/json", body: Array("{\"error\":\"the body is larger than \(ServeServer.maxBody) bytes\"}\n".utf8))
                : router.handle(ServeRequest(method: head.method.rawValue, uri: head.uri, authorization: head.headers.first(name: "Authorization"), body: body))
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: answer.contentType)
            headers.add(name: "Content-Length", value: String(answer.body.count))
            for (name, value) in answer.headers { headers.add(name: name, value: value) }
            let keepAlive = head.isKeepAlive && !tooLarge
            headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: answer.status), headers: headers))), promise: nil)
            if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body)))), promise: nil) }
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in if !keepAlive { channel.close(promise: nil) } }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
