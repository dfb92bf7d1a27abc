import Foundation
import Testing
@testable import NextBestTelemetry
#if canImport(Glibc)
import Glibc
#endif

/// A plain-socket HTTP client (no client library), IPv4 or IPv6, every call bounded by a timeout.
enum Client {
    enum Failure: Error, CustomStringConvertible {
        case resolve(String)
        case connect(String, Int32)
        case timedOut(Double)
        var description: String {
            switch self {
            case let .resolve(h): return "cannot resolve \(h)"
            case let .connect(h, e): return "cannot connect to \(h): \(String(cString: strerror(e)))"
            case let .timedOut(s): return "no complete answer within \(s) s"
            }
        }
    }

    /// A connected TCP socket to `host:port` (numeric host) with receive and send timeouts of `timeout`.
    static func connect(_ host: String, _ port: Int, timeout: Double = 5) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let ai = res else { throw Failure.resolve(host) }
        defer { freeaddrinfo(res) }
        let s = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw Failure.connect(host, errno) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard Glibc.connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 else {
            let e = errno
            close(s)
            throw Failure.connect(host, e)
        }
        return s
    }

    /// Reads until the peer closes, or throws after `timeout` seconds in all.
    static func readAll(_ s: Int32, timeout: Double) throws -> [UInt8] {
        let start = Date()
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(s, $0.baseAddress, $0.count, 0) }
            if n == 0 { return data }
            if n < 0 && errno != EINTR && errno != EAGAIN { return data }
            if n > 0 { data += buf[0..<n] }
            if Date().timeIntervalSince(start) > timeout { throw Failure.timedOut(timeout) }
        }
    }

    /// One request; the status line, the header block and the body.
    static func request(_ host: String, _ port: Int, _ method: String = "GET", _ path: String = "/metrics",
                        timeout: Double = 5) throws -> (status: String, headers: String, body: [UInt8]) {
        let s = try connect(host, port, timeout: timeout)
        defer { close(s) }
        let text = Array("\(method) \(path) HTTP/1.1\r\nHost: scrape\r\n\r\n".utf8)
        _ = text.withUnsafeBytes { send(s, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        let data = try readAll(s, timeout: timeout)
        guard let split = data.firstRange(of: Array("\r\n\r\n".utf8)) else { return (String(decoding: data, as: UTF8.self), "", []) }
        let head = String(decoding: data[..<split.lowerBound], as: UTF8.self)
        return (String(head.split(separator: "\r\n").first ?? ""), head, Array(data[split.upperBound...]))
    }

    /// Whether this machine can bind a socket on `::1`.
    static var hasIPv6Loopback: Bool {
        let s = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { return false }
        defer { close(s) }
        var sa = sockaddr_in6()
        sa.sin6_family = sa_family_t(AF_INET6)
        sa.sin6_addr = in6addr_loopback
        return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } } == 0
    }
}

/// The metrics endpoint (issue 21, item 12): loopback by default, concurrent, idle connections timed out,
/// IPv6, and the same paths and Prometheus text as before.
@Suite struct MetricsServerTests {
    static let exposition = Array("# TYPE nextbest_runs_total counter\nnextbest_runs_total{state=\"started\"} 3\n".utf8)

    func server(_ address: String = MetricsAddress.loopback, limits: MetricsServer.Limits = .init()) throws -> MetricsServer {
        try MetricsServer(address: address, port: 0, limits: limits) { Self.exposition }
    }

    @Test func defaultAddressIsLoopback() throws {
        let s = try MetricsServer(port: 0) { Self.exposition }
        defer { s.stop() }
        #expect(s.address == "127.0.0.1")
        #expect(MetricsAddress(host: s.address).isLoopback)
        #expect(s.url == "http://127.0.0.1:\(s.port)/metrics")
        #expect(try Client.request("127.0.0.1", s.port).status == "HTTP/1.1 200 OK")
    }

    /// The old server answered one connection at a time: twenty idle connections made a scrape wait
    /// (about 2 s each). 5 s bounds a hang, it is no speed claim.
    @Test func scrapeAnswersWhileTwentyConnectionsIdle() throws {
        let s = try server()
        defer { s.stop() }
        var idle: [Int32] = []
        defer { for c in idle { close(c) } }
        for _ in 0..<20 { idle.append(try Client.connect("127.0.0.1", s.port)) }
        // Three more send half a request and stop.
        for _ in 0..<3 {
            let c = try Client.connect("127.0.0.1", s.port)
            _ = Array("GET /metrics HTTP/1.1\r\nHost: x\r\n".utf8).withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            idle.append(c)
        }
        for _ in 0..<3 {
            let t = Date()
            let r = try Client.request("127.0.0.1", s.port, timeout: 5)
            #expect(r.status == "HTTP/1.1 200 OK")
            #expect(r.body == Self.exposition)
            #expect(Date().timeIntervalSince(t) < 5)
        }
    }

    /// The bounds below are generous (a loaded CI machine): they tell a closed connection from one kept forever.
    @Test func idleConnectionsAreClosed() throws {
        let s = try server(limits: .init(idle: .milliseconds(300), deadline: .seconds(60)))
        defer { s.stop() }
        let idle = try Client.connect("127.0.0.1", s.port, timeout: 1)
        defer { close(idle) }
        let t = Date()
        #expect(try Client.readAll(idle, timeout: 30).isEmpty)
        #expect(Date().timeIntervalSince(t) < 30)
    }

    /// A byte every 100 ms is never idle for 60 s, but the deadline (1 s) closes it.
    @Test func dribblingConnectionsAreClosedAtTheDeadline() throws {
        let s = try server(limits: .init(idle: .seconds(60), deadline: .seconds(1)))
        defer { s.stop() }
        let slow = try Client.connect("127.0.0.1", s.port)
        defer { close(slow) }
        let t = Date()
        var closed = false
        let header = Array("GET /metrics HTTP/1.1\r\nX-Slow: ".utf8)
        var sent = 0
        while !closed && Date().timeIntervalSince(t) < 30 {
            let byte: UInt8 = sent < header.count ? header[sent] : UInt8(ascii: "a")
            if send(slow, [byte], 1, Int32(MSG_NOSIGNAL)) <= 0 { closed = true }
            sent += 1
            usleep(100_000)
        }
        #expect(closed, "the dribbling connection was still open after 30 s")
        #expect(Date().timeIntervalSince(t) >= 0.9, "closed before the deadline")
    }

    @Test func tooManyConnectionsAreShedNotQueued() throws {
        let s = try server(limits: .init(idle: .seconds(60), deadline: .seconds(60), maxConnections: 4))
        defer { s.stop() }
        var held: [Int32] = []
        defer { for c in held { close(c) } }
        for _ in 0..<4 { held.append(try Client.connect("127.0.0.1", s.port)) }
        let extra = try Client.connect("127.0.0.1", s.port)
        defer { close(extra) }
        #expect(try Client.readAll(extra, timeout: 30).isEmpty)
        close(held.removeLast())
        // Once the server has seen that close, a scrape is answered again.
        var status = ""
        for _ in 0..<100 where status != "HTTP/1.1 200 OK" {
            status = (try? Client.request("127.0.0.1", s.port, timeout: 5).status) ?? ""
            if status != "HTTP/1.1 200 OK" { usleep(200_000) }
        }
        #expect(status == "HTTP/1.1 200 OK")
    }

    @Test func ipv6LoopbackScrape() throws {
        guard Client.hasIPv6Loopback else {
            print("MetricsServerTests: no ::1 on this machine; IPv6 scrape not tried")
            return
        }
        let s = try server("::1")
        defer { s.stop() }
        #expect(s.url == "http://[::1]:\(s.port)/metrics")
        #expect(s.endpoint.description == "[::1]:\(s.port)")
        let r = try Client.request("::1", s.port)
        #expect(r.status == "HTTP/1.1 200 OK")
        #expect(r.body == Self.exposition)
    }

    @Test func pathsMethodsAndFormatAreAsBefore() throws {
        let s = try server()
        defer { s.stop() }
        let m = try Client.request("127.0.0.1", s.port, "GET", "/metrics?x=1")
        #expect(m.status == "HTTP/1.1 200 OK")
        #expect(m.headers.lowercased().contains("content-type: text/plain; version=0.0.4; charset=utf-8"))
        #expect(m.headers.lowercased().contains("connection: close"))
        #expect(m.headers.lowercased().contains("content-length: \(Self.exposition.count)"))
        let head = try Client.request("127.0.0.1", s.port, "HEAD", "/metrics")
        #expect(head.status == "HTTP/1.1 200 OK" && head.body.isEmpty)
        #expect(try Client.request("127.0.0.1", s.port, "GET", "/healthz").body == Array("nextbest: metrics at /metrics\n".utf8))
        #expect(try Client.request("127.0.0.1", s.port, "GET", "/nothing").status == "HTTP/1.1 404 Not Found")
        #expect(try Client.request("127.0.0.1", s.port, "POST", "/metrics").status == "HTTP/1.1 405 Method Not Allowed")
        #expect(try Client.request("127.0.0.1", s.port, "GARBAGE\u{1}", "/").status.contains("400"))
    }

    @Test func aTakenPortIsRefusedInWords() throws {
        let s = try server()
        defer { s.stop() }
        do {
            _ = try MetricsServer(address: "127.0.0.1", port: s.port) { [] }
            Issue.record("bound a taken port")
        } catch let e as MetricsServer.Failure {
            #expect(e.description.contains("cannot serve metrics on 127.0.0.1:\(s.port)"))
            #expect(e.description.contains("in use"), "\(e)")
        }
        #expect(throws: MetricsServer.Failure.self) { _ = try MetricsServer(address: "no-such-host.invalid", port: 0) { [] } }
    }

    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1", nil), ("0.0.0.0:9464", "0.0.0.0", 9464), ("::1", "::1", nil), ("[::1]", "::1", nil),
        ("[::1]:9464", "::1", 9464), ("::", "::", nil), ("[::]:0", "::", 0), ("localhost:80", "localhost", 80), (" ::1 ", "::1", nil),
    ] as [(String, String, Int?)])
    func addressesParse(text: String, host: String, port: Int?) throws {
        let a = try MetricsAddress(parsing: text)
        #expect(a.host == host && a.port == port)
    }

    @Test func badAddressesAreRefusedInWords() {
        let cases: [(String, MetricsAddress.Failure)] = [
            ("", .empty), ("[::1", .unclosedBracket("[::1")), ("[abc]", .notIPv6InBrackets("[abc]")), ("[::1]:70000", .badPort("[::1]:70000")),
            ("127.0.0.1:", .badPort("127.0.0.1:")), ("[::1]x", .junkAfterBracket("[::1]x")), (":9464", .empty), ("h:-1", .badPort("h:-1")),
        ]
        for (text, failure) in cases {
            #expect(throws: failure) { _ = try MetricsAddress(parsing: text) }
        }
        #expect(MetricsAddress(host: "::").localHost == "[::1]" && MetricsAddress(host: "0.0.0.0").localHost == "127.0.0.1")
        #expect(!MetricsAddress(host: "0.0.0.0").isLoopback && MetricsAddress(host: "127.0.0.1").isLoopback)
    }
}
