import Foundation

/// The ZeroMQ Authentication Protocol (RFC 27) handler of a coordinator: a REP socket on
/// `inproc://zeromq.zap.01` in the coordinator's context, on a thread of its own, that accepts a CURVE
/// client only if its public key is in the allow-list. Every refusal is reported (key and address).
public final class ZAPHandler: @unchecked Sendable {
    let socket: ZMQSocket
    let allowed: Set<[UInt8]>
    let report: @Sendable (String) -> Void
    private let lock = NSLock()
    private var stopped = false
    private var thread: Thread?
    public private(set) var refusals = 0

    /// Binds the handler in `context` (before any CURVE server socket binds) and starts its thread.
    public init(context: ZMQContext, allowed: [[UInt8]], report: @escaping @Sendable (String) -> Void) throws {
        socket = try context.socket(.rep)
        try socket.setLinger(0)
        try socket.bind("inproc://zeromq.zap.01")
        self.allowed = Set(allowed)
        self.report = report
        let t = Thread { [self] in serve() }
        t.name = "nextbest-zap"
        thread = t
        t.start()
    }

    var isStopped: Bool { lock.withLock { stopped } }

    func serve() {
        while !isStopped {
            guard (try? socket.poll(timeoutMs: 100)) == true, let frames = try? socket.receive() else { continue }
            // version, request id, domain, address, identity, mechanism, credentials…
            guard frames.count >= 6 else { try? socket.send([[UInt8]]([Array("1.0".utf8), [], Array("400".utf8), Array("malformed".utf8), [], []])); continue }
            let requestID = frames[1]
            let address = String(decoding: frames[3], as: UTF8.self)
            let mechanism = String(decoding: frames[5], as: UTF8.self)
            var ok = false
            var why = "not in the allow-list"
            if mechanism == "CURVE", frames.count >= 7, frames[6].count == 32 {
                ok = allowed.contains(frames[6])
            } else {
                why = "mechanism \(mechanism) is not CURVE"
            }
            if !ok {
                lock.withLock { refusals += 1 }
                let key = frames.count >= 7 ? (CurveKeys.encode(frames[6]) ?? "?") : "-"
                report("refused a connection from \(address): public key \(key) \(why)")
            }
            try? socket.send([Array("1.0".utf8), requestID, Array((ok ? "200" : "400").utf8), Array((ok ? "OK" : "not allowed").utf8),
                              Array((ok ? "worker" : "").utf8), []])
        }
        socket.close()
    }

    /// Stops the thread (the socket is closed by it).
    public func stop() {
        lock.withLock { stopped = true }
        while thread?.isFinished == false { usleep(5_000) }
    }
}

/// CURVE key files: `NAME.secret` holds the Z85 secret key (mode 0600), `NAME.pub` the Z85 public key.
public enum CurveKeyFiles {
    /// Why a key file cannot be used.
    public enum Failure: Error, CustomStringConvertible {
        case unreadable(String, String)
        case notAKey(String)
        public var description: String {
            switch self {
            case let .unreadable(p, why): return "cannot read the key file \(p): \(why)"
            case .notAKey(let p): return "\(p) does not hold a 40-character Z85 CURVE key"
            }
        }
    }

    /// Writes a new key pair as `dir/name.secret` and `dir/name.pub`; returns the public key.
    @discardableResult
    public static func generate(dir: String, name: String) throws -> String {
        let (pub, sec) = try CurveKeys.generate()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let secretPath = dir + "/" + name + ".secret"
        guard FileManager.default.createFile(atPath: secretPath, contents: Data((sec + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw Failure.unreadable(secretPath, "cannot create it")
        }
        try (pub + "\n").write(toFile: dir + "/" + name + ".pub", atomically: true, encoding: .utf8)
        return pub
    }

    /// Reads a key (public or secret) from a file: its first line, 40 Z85 characters.
    public static func read(_ path: String) throws -> String {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw Failure.unreadable(path, "\(error.localizedDescription)") }
        let key = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard CurveKeys.decode(key) != nil else { throw Failure.notAKey(path) }
        return key
    }

    /// The public keys of every `*.pub` file in a directory (or the one file given).
    public static func allowList(_ path: String) throws -> [[UInt8]] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw Failure.unreadable(path, "no such file or directory") }
        let files = isDir.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".pub") }.sorted().map { path + "/" + $0 }
            : [path]
        return try files.map { CurveKeys.decode(try read($0))! }
    }
}
