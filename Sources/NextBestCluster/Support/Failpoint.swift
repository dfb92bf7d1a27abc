import Foundation

/// Fault injection for tests and the fault-injection script: `NEXTBEST_FAILPOINT=name:N[,name:N…]` makes
/// this process kill itself with SIGKILL (no cleanup, like a crash or `kill -9`) the N-th time it reaches
/// the named point. Points: `coordinator.scored` (shards scored), `coordinator.round` (price rounds),
/// `coordinator.written` (shards merged into nba.csv), `worker.scored`, `worker.round`. Unset: no effect.
/// `armed` points do something other than killing: `worker.damage-lists` (the N-th COLLECT answered with
/// lists cut short, which a coordinator must refuse).
public enum Failpoint {
    static let points: [String: Int] = {
        guard let spec = ProcessInfo.processInfo.environment["NEXTBEST_FAILPOINT"] else { return [:] }
        var out: [String: Int] = [:]
        for part in spec.split(separator: ",") {
            let kv = part.split(separator: ":")
            if kv.count == 2, let n = Int(kv[1]) { out[String(kv[0])] = n }
        }
        return out
    }()

    /// Whether `name` is armed for the `count`-th hit (for points whose fault is not a kill).
    @inline(__always) public static func armed(_ name: String, _ count: Int) -> Bool {
        guard !points.isEmpty, points[name] == count else { return false }
        FileHandle.standardError.write(Data("nextbest: failpoint \(name):\(count) reached\n".utf8))
        return true
    }

    /// Kills the process if `name` is armed for the `count`-th hit.
    @inline(__always) public static func hit(_ name: String, _ count: Int) {
        guard !points.isEmpty, points[name] == count else { return }
        FileHandle.standardError.write(Data("nextbest: failpoint \(name):\(count) reached; killing this process\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
