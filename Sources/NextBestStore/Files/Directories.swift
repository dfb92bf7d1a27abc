import Foundation

/// Directories the store's files and the output files go in.
public enum Directories {
    /// Creates `dir` and its missing parents (mode 0777 less the umask, as `mkdir -p`); nil when done,
    /// else why not in words, naming the component that failed when it is not `dir` itself (Foundation's
    /// error here is often just "NSCocoaErrorDomain error 512").
    public static func make(_ dir: String) -> String? {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) { return isDir.boolValue ? nil : "\(dir) is a file, not a directory" }
        var path = dir.hasPrefix("/") ? "" : "."
        for part in dir.split(separator: "/", omittingEmptySubsequences: true) {
            path += "/" + part
            if mkdir(path, 0o777) == 0 { continue }
            let e = errno
            if e == EEXIST {
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { continue }
                return "\(path) is a file, not a directory"
            }
            return (path == dir ? "" : "\(path): ") + String(cString: strerror(e))
        }
        return nil
    }
}
