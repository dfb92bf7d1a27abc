import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The store's run lock: an advisory lock (`flock`) on `<store>/run.lock` that every run, resume and rescore
/// holds shared from its plan to its end, so that an import changing what workers read shard by shard
/// (profiles, contacts, the responses `nextbest serve` recorded) cannot land in the middle of a run and give
/// the shards scored after it another history than those scored before. Imports ask for it exclusively and
/// without waiting (`ensureNoRun`): while a run goes they are refused, saying which run and what to do. The
/// kernel drops the lock when the run's process ends, however it ends, so a crashed run never blocks an import.
public final class RunLock: Sendable {
    /// The lock file's descriptor (closed, and the lock with it, on `deinit`).
    private let fd: Int32

    /// An import refused because a run holds the lock.
    public struct Busy: Error, CustomStringConvertible, Sendable {
        public var store: String
        /// What the run wrote into the lock file (its run id and process), if readable.
        public var holder: String
        public var what: String
        public var description: String {
            "\(what) refused: a run is going on the store at \(store) (\(holder.isEmpty ? "lock held" : holder)); "
                + "nothing was changed. The run reads profiles and contacts shard by shard, so they must not change under it: "
                + "try again when it ends (responses served meanwhile are read by the next run)"
        }
    }

    static func path(_ storePath: String) -> String { storePath + "/run.lock" }

    private init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    /// Takes the lock shared for a run (`description`: its run id and process, written into the file for the
    /// refusal messages), waiting for an import that holds it exclusively to finish. Nil when the store has no
    /// directory to hold the file (the lock is advisory: the run goes on).
    public static func holdForRun(storePath: String, description: String) -> RunLock? {
        let fd = open(path(storePath), O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        while flock(fd, LOCK_SH) != 0 {
            if errno != EINTR { close(fd); return nil }
        }
        // Several runs may share the lock: the last to start names itself.
        let text = Array((description + "\n").utf8)
        if ftruncate(fd, 0) == 0 { _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        return RunLock(fd: fd)
    }

    /// Runs `body` holding the lock exclusively, or throws `Busy` at once if a run holds it. `what` names the
    /// import in the refusal. A store directory that does not exist yet has no run going.
    public static func ensureNoRun<T>(storePath: String, what: String, _ body: () throws -> T) throws -> T {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: storePath, isDirectory: &isDirectory), isDirectory.boolValue else { return try body() }
        let fd = open(path(storePath), O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return try body() }
        defer { close(fd) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            if errno == EWOULDBLOCK {
                var buffer = [UInt8](repeating: 0, count: 512)
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
                let holder = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
                throw Busy(store: storePath, holder: holder, what: what)
            }
            return try body()
        }
        return try body()
    }
}
