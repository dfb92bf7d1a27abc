import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 server for Prometheus scrapes: `GET /metrics` answers the text exposition format
/// produced by `body`, anything else a 404. One thread accepts and answers connections one at a time
/// (a scrape every few seconds is the whole load); `stop()` closes the socket and joins the thread.
public final class MetricsServer: @unchecked Sendable {
    /// Why the server could not start.
    public enum Failure: Error, CustomStringConvertible {
        case bind(address: String, port: Int, errno: Int32)
        public var description: String {
            switch self {
            case let .bind(a, p, e):
                return "cannot serve metrics on \(a):\(p): \(String(cString: strerror(e))) (choose another --metrics-port, or 0 for any free port)"
            }
        }
    }

    private let fd: Int32
    private let body: @Sendable () -> [UInt8]
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var stopped = false
    /// The bound address and port (the port chosen by the system when asked for 0).
    public let address: String
    public let port: Int

    /// Binds `address:port` (IPv4; "0.0.0.0" for every interface) and starts answering.
    public init(address: String = "0.0.0.0", port: Int, body: @escaping @Sendable () -> [UInt8]) throws {
        self.body = body
        self.address = address
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw Failure.bind(address: address, port: port, errno: errno) }
        var yes: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = in_port_t(UInt16(clamping: port)).bigEndian
        guard inet_pton(AF_INET, address, &sa.sin_addr) == 1 else { close(s); throw Failure.bind(address: address, port: port, errno: EINVAL) }
        let bound = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(s, 16) == 0 else { let e = errno; close(s); throw Failure.bind(address: address, port: port, errno: e) }
        var got = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &got) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        self.port = Int(UInt16(bigEndian: got.sin_port))
        fd = s
        let thread = Thread { [self] in serve(); done.signal() }
        thread.name = "nextbest-metrics"
        thread.start()
    }

    /// The URL a scraper uses.
    public var url: String { "http://\(address == "0.0.0.0" ? "127.0.0.1" : address):\(port)/metrics" }

    /// Stops answering and waits for the serving thread.
    public func stop() {
        let first = lock.withLock { () -> Bool in defer { stopped = true }; return !stopped }
        guard first else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        done.wait()
    }

    deinit { stop() }

    private func serve() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 {
                if errno == EINTR { continue }
                return
            }
            answer(c)
            close(c)
        }
    }

    private func answer(_ c: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 16_384 {
            let n = buffer.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            request += buffer[0..<n]
            if request.count >= 4 && request.suffix(4).elementsEqual([13, 10, 13, 10]) { break }
            if let _ = request.firstRange(of: [13, 10, 13, 10]) { break }
        }
        let firstLine = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let method = firstLine.first.map(String.init) ?? ""
        let path = firstLine.count > 1 ? String(firstLine[1].split(separator: "?").first ?? "") : ""
        let status: String
        var payload: [UInt8]
        var type = "text/plain; charset=utf-8"
        if method != "GET" && method != "HEAD" {
            status = "405 Method Not Allowed"; payload = Array("only GET\n".utf8)
        } else if path == "/metrics" {
            status = "200 OK"; payload = body(); type = "text/plain; version=0.0.4; charset=utf-8"
        } else if path == "/" || path == "/healthz" {
            status = "200 OK"; payload = Array("nextbest: metrics at /metrics\n".utf8)
        } else {
            status = "404 Not Found"; payload = Array("not found; metrics are at /metrics\n".utf8)
        }
        var response = Array("HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n".utf8)
        if method != "HEAD" { response += payload }
        var sent = 0
        while sent < response.count {
            let n = response.withUnsafeBytes { send(c, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }
}
