import Foundation
import NextBestStore

/// The places a command writes into, checked before any work, so that an unwritable `--out` (or one naming
/// a file) is refused at once with the option and the path, not after scoring and optimizing.
public enum OutputPlace {
    /// Why an output place cannot be used: the option, the path and a worded reason.
    public struct Unusable: Error, CustomStringConvertible, Equatable {
        public var option: String
        public var path: String
        public var reason: String
        public var description: String { "\(option) \(path): \(reason)" }
    }

    /// Makes sure `dir` is a directory this process can create files in (creating it and its parents if
    /// needed, as the run would), by creating and removing a probe file; then removes the temporary files
    /// (`.NAME.tmp-PID`) that processes no longer running left there, as a run killed during a write does.
    /// Returns the names of the files removed.
    @discardableResult
    public static func prepareDirectory(_ dir: String, option: String) throws -> [String] {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            guard isDir.boolValue else { throw Unusable(option: option, path: dir, reason: "is a file, not a directory") }
        } else {
            if let why = makeDirectories(dir) { throw Unusable(option: option, path: dir, reason: "cannot create the directory: \(why)") }
        }
        let probe = dir + "/.nextbest-probe-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Unusable(option: option, path: dir, reason: "cannot create files there: \(String(cString: strerror(errno)))") }
        close(fd)
        unlink(probe)
        return removeStaleTemporaries(in: dir)
    }

    /// Checks that the file `path` can be written: its directory as `prepareDirectory` checks it, and the
    /// path not a directory.
    public static func prepareFile(_ path: String, option: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw Unusable(option: option, path: path, reason: "is a directory, not a file")
        }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do { try prepareDirectory(dir, option: option) }
        catch let e as Unusable { throw Unusable(option: option, path: path, reason: "its directory \(dir) \(e.reason)") }
    }

    /// Creates `dir` and its missing parents: `Directories.make` (NextBestStore, which writes files too).
    public static func makeDirectories(_ dir: String) -> String? { Directories.make(dir) }

    /// Removes `.NAME.tmp-PID` files in `dir` whose process is gone (`kill(pid, 0)` fails with ESRCH).
    static func removeStaleTemporaries(in dir: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(".") {
            guard let r = name.range(of: ".tmp-", options: .backwards), let pid = Int32(name[r.upperBound...]), pid > 0 else { continue }
            guard pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            if unlink(dir + "/" + name) == 0 { removed.append(name) }
        }
        return removed.sorted()
    }
}
