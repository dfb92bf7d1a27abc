import Foundation
import NextBestCore
import NextBestWire

/// The embedded default of `nextbest run`: a coordinator in this process on a loopback port and N local
/// worker processes (this same executable, `worker --once`), stopped when the run ends.
public enum LocalCluster {
    /// What to run.
    public struct Options: Sendable {
        public var coordinator: Coordinator.Options
        public var workers: Int
        /// Threads per worker (default: the cores shared out among the workers).
        public var threadsPerWorker: Int
        /// The `nextbest` executable the workers run.
        public var executable: String
        /// The workers' log format (they log errors only).
        public var logFormat: LogFormat = .text
        /// How the coordinator and its local workers talk (default: a private Unix socket, unencrypted).
        public var transport: Transport = .unixSocket
        public init(coordinator: Coordinator.Options, workers: Int, threadsPerWorker: Int? = nil, executable: String) {
            self.coordinator = coordinator
            self.workers = max(1, workers)
            self.threadsPerWorker = threadsPerWorker ?? max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, workers))
            self.executable = executable
        }
    }

    /// How a local cluster's processes reach the coordinator.
    public enum Transport: String, Sendable, CaseIterable {
        /// `ipc://` in a directory of mode 0700: only this user's processes can connect; nothing encrypted.
        case unixSocket = "unix"
        /// The coordinator's bind address as given (a loopback TCP port) with fresh CURVE keys.
        case curveTCP = "curve-tcp"
    }

    /// This process's executable.
    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    public static func run(_ options: Options, resume: UInt64? = nil, log: @escaping (String) -> Void) throws -> LocalRunner.Result {
        try run(options, resume: resume, logger: RoleLog(log))
    }

    /// Runs the job, logging through `logger`.
    public static func run(_ options: Options, resume: UInt64? = nil, logger log: RoleLog) throws -> LocalRunner.Result {
        var co = options.coordinator
        co.minWorkers = options.workers
        if co.waitTimeout == nil { co.waitTimeout = 120 }
        // A private endpoint: a Unix socket in a directory only this user can open, so only processes of
        // this user can join (as with CURVE keys kept in such a directory) and no message is encrypted on
        // its way between processes of one machine (decrypting every list and propensity costs the
        // coordinator CPU time in proportion to the population). With `transport = .curveTCP`, the loopback TCP port
        // and CURVE keys of the cluster roles instead.
        // A Unix socket's path must fit in 108 bytes: a long TMPDIR falls back to /tmp.
        var tmp = NSTemporaryDirectory()
        if !tmp.hasSuffix("/") { tmp += "/" }
        if tmp.utf8.count > 60 { tmp = "/tmp/" }
        for dead in removeStaleRunDirectories(in: tmp) { log("removed \(dead), left by a run that was killed", level: .notice) }
        let runDir = tmp + "nextbest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // SIGTERM or SIGINT (systemd stopping the job, Ctrl-C) would end the process before any `defer`:
        // the private directory is removed first, then the signal ends the process (the workers, started
        // with --parent-pid, leave when it is gone).
        let signals = SignalCleanup(removing: runDir)
        defer { signals.cancel() }
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: runDir) }
        var curveArguments: [String] = []
        switch options.transport {
        case .unixSocket:
            co.bind = "ipc://" + runDir + "/coordinator.sock"
            co.curveSecret = nil
            co.allowedKeys = []
        case .curveTCP:
            try CurveKeyFiles.generate(dir: runDir, name: "coordinator")
            let workerPub = try CurveKeyFiles.generate(dir: runDir, name: "worker")
            co.curveSecret = try CurveKeyFiles.read(runDir + "/coordinator.secret")
            co.allowedKeys = [CurveKeys.decode(workerPub)!]
            curveArguments = ["--curve-secret", runDir + "/worker.secret", "--coordinator-key", runDir + "/coordinator.pub"]
        }
        let coordinator = try Coordinator(co, logger: log)
        let endpoint = coordinator.endpoint
        var children: [Process] = []
        defer { stop(children) }
        for k in 0..<options.workers {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: options.executable)
            p.environment = WorkerEnvironment.withHugePages()
            p.arguments = ["worker", "--connect", endpoint, "--store", co.storePath, "--threads", String(options.threadsPerWorker),
                           "--once", "--quiet", "--parent-pid", String(getpid()), "--id", "local-\(getpid())-\(k + 1)",
                           "--log-format", options.logFormat.rawValue] + curveArguments
            try p.run()
            children.append(p)
        }
        log("started \(options.workers) local worker(s) with \(options.threadsPerWorker) thread(s) each, connected to \(endpoint)")
        let watched = children
        coordinator.abortCheck = {
            for (k, p) in watched.enumerated() where !p.isRunning && p.terminationStatus != 0 {
                return "local worker \(k + 1) exited with status \(p.terminationStatus) (its message is above)"
            }
            return nil
        }
        return try coordinator.run(resume: resume)
    }

    /// Removes the private directories (`nextbest-PID-N` under `tmp`, owned by this user) of runs whose
    /// process is gone: a run killed with SIGKILL cannot remove its own. Returns the paths removed.
    static func removeStaleRunDirectories(in tmp: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: tmp) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix("nextbest-") {
            let parts = name.split(separator: "-")
            guard parts.count == 3, let pid = Int32(parts[1]), pid > 0, UInt32(parts[2]) != nil, pid != getpid() else { continue }
            guard kill(pid, 0) != 0, errno == ESRCH else { continue }
            let path = tmp + name
            var st = stat()
            guard lstat(path, &st) == 0, st.st_uid == getuid(), (st.st_mode & S_IFMT) == S_IFDIR else { continue }
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed.sorted()
    }

    /// Handles SIGTERM and SIGINT while a local cluster runs: removes its private directory, then ends the
    /// process with the same signal (default action) at once, so the exit status still says which signal
    /// stopped it. (Stopping the workers here first made the run fail on their exit before the signal.)
    ///
    /// A dispatch source per signal, not `UnixSignals`: the cleanup must run in the signal's wake, without
    /// an async context to start first, and the end (`raise`, `_exit`) leaves nothing for a sequence to do.
    /// `@unchecked Sendable` because `sigaction` and the source protocol are not `Sendable`: both properties
    /// are set once in `init` and only read by `cancel`; the handlers capture only the path and the signal.
    final class SignalCleanup: @unchecked Sendable {
        private let sources: [DispatchSourceSignal]
        private let queue = DispatchQueue(label: "nextbest-local-cluster-signals")
        private static let signals = [SIGTERM, SIGINT]

        /// The dispositions before, restored by `cancel`.
        private let previous: [Int32: sigaction]

        init(removing path: String) {
            var sources: [DispatchSourceSignal] = []
            var previous: [Int32: sigaction] = [:]
            for sig in Self.signals {
                var old = sigaction()
                if sigaction(sig, nil, &old) == 0 { previous[sig] = old }
                // Ignored as a disposition, so that the dispatch source (not the default action) sees it.
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
                source.setEventHandler {
                    try? FileManager.default.removeItem(atPath: path)
                    signal(sig, SIG_DFL)
                    var set = sigset_t()
                    sigemptyset(&set)
                    sigaddset(&set, sig)
                    pthread_sigmask(SIG_UNBLOCK, &set, nil)
                    raise(sig)
                    _exit(128 + sig)
                }
                source.resume()
                sources.append(source)
            }
            self.sources = sources
            self.previous = previous
        }

        /// Stops handling: the dispositions from before again.
        func cancel() {
            for s in sources { s.cancel() }
            for sig in Self.signals {
                if var old = previous[sig] { sigaction(sig, &old, nil) } else { signal(sig, SIG_DFL) }
            }
        }
    }

    /// Waits a little for the workers to leave on their own (they were told BYE), then terminates them.
    static func stop(_ children: [Process]) {
        let exited = DispatchGroup()
        for p in children {
            exited.enter()
            DispatchQueue.global().async {
                p.waitUntilExit()
                exited.leave()
            }
        }
        if exited.wait(timeout: .now() + 5) == .timedOut {
            for p in children where p.isRunning { p.terminate() }
            exited.wait()
        }
    }
}
