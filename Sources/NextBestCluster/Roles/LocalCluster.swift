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
        public init(coordinator: Coordinator.Options, workers: Int, threadsPerWorker: Int? = nil, executable: String) {
            self.coordinator = coordinator
            self.workers = max(1, workers)
            self.threadsPerWorker = threadsPerWorker ?? max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, workers))
            self.executable = executable
        }
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
        // Its own CURVE keys: only the workers it starts can join, even on loopback.
        let keyDir = NSTemporaryDirectory() + "nextbest-keys-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: keyDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: keyDir) }
        try CurveKeyFiles.generate(dir: keyDir, name: "coordinator")
        let workerPub = try CurveKeyFiles.generate(dir: keyDir, name: "worker")
        co.curveSecret = try CurveKeyFiles.read(keyDir + "/coordinator.secret")
        co.allowedKeys = [CurveKeys.decode(workerPub)!]
        let coordinator = try Coordinator(co, logger: log)
        let endpoint = coordinator.endpoint
        var children: [Process] = []
        defer { stop(children) }
        for k in 0..<options.workers {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: options.executable)
            p.arguments = ["worker", "--connect", endpoint, "--store", co.storePath, "--threads", String(options.threadsPerWorker),
                           "--once", "--quiet", "--parent-pid", String(getpid()), "--id", "local-\(getpid())-\(k + 1)",
                           "--curve-secret", keyDir + "/worker.secret", "--coordinator-key", keyDir + "/coordinator.pub",
                           "--log-format", options.logFormat.rawValue]
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

    /// Waits a little for the workers to leave on their own (they were told BYE), then terminates them.
    static func stop(_ children: [Process]) {
        let deadline = Date().addingTimeInterval(5)
        while children.contains(where: { $0.isRunning }) && Date() < deadline { usleep(20_000) }
        for p in children where p.isRunning { p.terminate() }
        for p in children { p.waitUntilExit() }
    }
}
