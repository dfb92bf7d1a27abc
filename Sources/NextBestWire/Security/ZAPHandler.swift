import Foundation
import Synchronization

/// The ZeroMQ Authentication Protocol (RFC 27) handler of a coordinator: a REP socket on
/// `inproc://zeromq.zap.01` in the coordinator's context, on a thread of its own, that accepts a CURVE
/// client only if its public key is in the allow-list. Every refusal is reported (key and address).
///
/// The socket is used only by the handler's thread (libzmq's rule); `stopped` and `refusals` are shared with
/// the coordinator's thread under a `Mutex`.
public final class ZAPHandler: Sendable {
    let socket: ZMQSocket
    let allowed: Set<[UInt8]>
    let report: @Sendable (String) -> Void
    private let state = Mutex(State())
    /// Signalled by the handler's thread when it has closed the socket and ended.
    private let finished = DispatchSemaphore(value: 0)

    struct State {
        var stopped = false
        var joined = false
        var refusals = 0
        /// The thread has closed its socket and is about to end.
        var ended = false
    }

    /// How many connections were refused so far.
    public var refusals: Int { state.withLock { $0.refusals } }

    /// Binds the handler in `context` (before any CURVE server socket binds) and starts its thread.
    public init(context: ZMQContext, allowed: [[UInt8]], report: @escaping @Sendable (String) -> Void) throws {
        socket = try context.socket(.rep)
        try socket.setLinger(0)
        try socket.bind("inproc://zeromq.zap.01")
        self.allowed = Set(allowed)
        self.report = report
        let t = Thread { [self] in
            serve()
            finished.signal()
        }
        t.name = "nextbest-zap"
        t.start()
    }

    var isStopped: Bool { state.withLock { $0.stopped } }

    /// Whether the handler's thread has closed its socket (true once `stop` has returned).
    var hasEnded: Bool { state.withLock { $0.ended } }

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
                state.withLock { $0.refusals += 1 }
                let key = frames.count >= 7 ? (CurveKeys.encode(frames[6]) ?? "?") : "-"
                report("refused a connection from \(address): public key \(key) \(why)")
            }
            try? socket.send([Array("1.0".utf8), requestID, Array((ok ? "200" : "400").utf8), Array((ok ? "OK" : "not allowed").utf8),
                              Array((ok ? "worker" : "").utf8), []])
        }
        socket.close()
        state.withLock { $0.ended = true }
    }

    /// Stops the thread and waits for it to end (it notices within one 100 ms poll; the socket is closed by
    /// it). Calling it again returns at once.
    public func stop() {
        let first = state.withLock { s in
            defer { s.stopped = true; s.joined = true }
            return !s.joined
        }
        if first { finished.wait() }
    }
}

/// CURVE key files: `NAME.secret` holds the Z85 secret key (mode 0600), `NAME.pub` the Z85 public key.
public enum CurveKeyFiles {
    /// Why a key file cannot be used.
    public enum Failure: Error, CustomStringConvertible {
        case unreadable(String, String)
        case notAKey(String)
        /// `generate` would replace an existing key file (without `force`).
        case exists(String)
        /// A secret key file others may read.
        case exposed(String, mode: UInt16)
        /// A public key given where a secret key is expected (or the reverse).
        case wrongHalf(String, String)
        /// An allow-list that lets nobody in.
        case emptyAllowList(String)

        public var description: String {
            switch self {
            case let .unreadable(p, why): return "cannot read the key file \(p): \(why)"
            case .notAKey(let p): return "\(p) does not hold a 40-character Z85 CURVE key"
            case .exists(let p): return "\(p) exists: refusing to replace a key pair (pass --force to replace it; hosts holding the old public key must get the new one)"
            case let .exposed(p, mode):
                return "the secret key file \(p) is readable by others (mode \(String(mode, radix: 8))): run `chmod 600 \(p)`; anyone who read it can pose as this host, so consider a new key pair"
            case let .wrongHalf(p, why): return "\(p): \(why)"
            case .emptyAllowList(let p): return "--allow-keys \(p) holds no *.pub file: no worker could ever join"
            }
        }
    }

    /// Writes a new key pair as `dir/name.secret` and `dir/name.pub`; returns the public key.
    ///
    /// The secret is created with mode 0600 from the start (`open` with `O_EXCL` and that mode, then
    /// `fchmod` against a umask that removed owner bits): it is never readable by others, not even for a
    /// moment. An existing pair is never replaced unless `force` is set (then each file is replaced by a
    /// rename, the secret's temporary file created 0600 as well).
    @discardableResult
    public static func generate(dir: String, name: String, force: Bool = false) throws -> String {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw Failure.wrongHalf(name, "a key name must be a file name (no '/')")
        }
        let (pub, sec) = try CurveKeys.generate()
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        catch { throw Failure.unreadable(dir, "cannot create the directory: \((error as NSError).localizedDescription)") }
        let secretPath = dir + "/" + name + ".secret", publicPath = dir + "/" + name + ".pub"
        if !force {
            for p in [secretPath, publicPath] where FileManager.default.fileExists(atPath: p) { throw Failure.exists(p) }
        }
        try writeNew(secretPath, Array((sec + "\n").utf8), mode: 0o600, replace: force)
        try writeNew(publicPath, Array((pub + "\n").utf8), mode: 0o644, replace: force)
        return pub
    }

    /// Creates `path` with `mode` (exclusive: an existing file is an error unless `replace`, which writes
    /// a temporary file beside it and renames it over) and writes `bytes`.
    static func writeNew(_ path: String, _ bytes: [UInt8], mode: mode_t, replace: Bool) throws {
        let target = replace ? path + ".tmp-\(getpid())" : path
        if replace { unlink(target) }
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let e = errno
            if e == EEXIST { throw Failure.exists(path) }
            throw Failure.unreadable(path, "cannot create it: \(String(cString: strerror(e)))")
        }
        var failed: Int32 = fchmod(fd, mode) == 0 ? 0 : errno
        if failed == 0 {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n != bytes.count { failed = n < 0 ? errno : EIO }
        }
        if failed == 0, fsync(fd) != 0 { failed = errno }
        close(fd)
        if failed == 0, replace, rename(target, path) != 0 { failed = errno }
        guard failed == 0 else {
            unlink(target)
            throw Failure.unreadable(path, "cannot write it: \(String(cString: strerror(failed)))")
        }
    }

    /// Reads a key (public or secret) from a file: its first line, 40 Z85 characters.
    public static func read(_ path: String) throws -> String {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw Failure.unreadable(path, "\(error.localizedDescription)") }
        let key = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard CurveKeys.decode(key) != nil else { throw Failure.notAKey(path) }
        return key
    }

    /// Reads a secret key file, refusing one that group or others may read, a `.pub` file, and a file
    /// holding the same key as the `.pub` beside it (the public half given by mistake).
    public static func readSecret(_ path: String) throws -> String {
        if path.hasSuffix(".pub") {
            throw Failure.wrongHalf(path, "this is a public key file; give the secret one (NAME.secret from `nextbest keys generate`)")
        }
        var st = stat()
        guard stat(path, &st) == 0 else { throw Failure.unreadable(path, String(cString: strerror(errno))) }
        let mode = UInt16(truncatingIfNeeded: st.st_mode) & 0o777
        guard mode & 0o077 == 0 else { throw Failure.exposed(path, mode: mode) }
        let key = try read(path)
        if path.hasSuffix(".secret") {
            let pubPath = String(path.dropLast(".secret".count)) + ".pub"
            if let pub = try? read(pubPath), pub == key {
                throw Failure.wrongHalf(path, "holds the same key as \(pubPath), the public half: give the secret key")
            }
        }
        return key
    }

    /// Reads a public key file (the coordinator's, for a worker), refusing a `.secret` file: a secret key
    /// must never leave its host.
    public static func readPublic(_ path: String) throws -> String {
        if path.hasSuffix(".secret") {
            throw Failure.wrongHalf(path, "this is a secret key file; give the other side's public key (its NAME.pub)")
        }
        return try read(path)
    }

    /// The public keys of every `*.pub` file in a directory (or the one file given); an empty list
    /// (nobody could join) is refused.
    public static func allowList(_ path: String) throws -> [[UInt8]] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw Failure.unreadable(path, "no such file or directory") }
        let files: [String]
        if isDir.boolValue {
            do { files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".pub") }.sorted().map { path + "/" + $0 } }
            catch { throw Failure.unreadable(path, (error as NSError).localizedDescription) }
        } else {
            _ = try readPublic(path)
            files = [path]
        }
        guard !files.isEmpty else { throw Failure.emptyAllowList(path) }
        return try files.map { CurveKeys.decode(try read($0))! }
    }
}
