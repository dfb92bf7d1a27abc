import ArgumentParser
import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster

/// `nextbest run --store DIR --out DIR [--workers N]`: the nightly job on this machine, by default as a
/// coordinator with N local worker processes; `--workers 0` runs it in this one process.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Score every customer, choose their next best actions, write nba.csv and summary.json.")
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "The output directory.") var out: String
    @Option(help: "Local worker processes (default: the number of cores); 0 runs everything in this process.") var workers: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Threads: per worker (default: the cores shared out among the workers), or of this process with --workers 0.") var threads: Int?
    @Flag(help: "Print only the output paths.") var quiet = false
    @OptionGroup var optimizer: OptimizerOptions
    @Flag(help: "Do not start from (or remember) the previous run's prices.") var noWarmStart = false
    @Option(help: "After the run, delete the kept runs beyond the newest N from the store (0 keeps every run).") var keepRuns: Int = Coordinator.Options.defaultKeepRuns
    @Option(help: "Continue this run (its id is in the first log line) from the journal in the store, after it was interrupted.") var resume: String?
    @Option(help: "Also write the optimization instance (candidates.csv, constraints.json) into this directory, for an independent solver (with --workers 0).") var exportCandidates: String?
    @Option(help: "How the local workers reach the coordinator: unix (a private Unix socket) or curve-tcp (a loopback TCP port with fresh CURVE keys).") var localTransport: LocalCluster.Transport = .unixSocket
    @OptionGroup var observability: ObservabilityOptions

    func validate() throws {
        try OptionChecks.localWorkers(workers)
        try OptionChecks.threads(threads)
        if keepRuns < 0 { throw ValidationError("--keep-runs must be 0 (keep every run) or more, not \(keepRuns)") }
        if resume != nil && workers == 0 { throw ValidationError("--resume needs local workers (--workers 1 or more)") }
        if exportCandidates != nil && workers != 0 {
            throw ValidationError("--export-candidates writes the shards held in this process: add --workers 0 (the workers' shards are not exported)")
        }
    }

    func run() throws {
        try reportingErrors(observability.logFormat) {
            // Output places first: an unwritable --out is refused before any scoring or optimizing.
            try OutputPlace.prepareDirectory(out, option: "--out")
            if let exportCandidates { try OutputPlace.prepareDirectory(exportCandidates, option: "--export-candidates") }
            let log = observability.logger(prefix: "nextbest: ", quiet: quiet)
            // The responses `nextbest serve` recorded are not moved into the history: the run's plan records the
            // last sequence number given, and the run reads the served responses up to it (`ResponseRecorder`).
            let metrics = RunMetrics()
            let server = try observability.serve(metrics.telemetry, run: metrics, log: log)
            defer { observability.finish(server) }
            let r: LocalRunner.Result
            if workers <= 0 {
                var options = LocalRunner.Options(storePath: storeOptions.store, outDir: out, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
                                                  settings: optimizer.settings, warmStart: !noWarmStart)
                options.exportCandidates = exportCandidates
                options.metrics = metrics
                r = try LocalRunner.run(options, logger: log)
            } else {
                var co = Coordinator.Options(bind: "tcp://127.0.0.1:*", storePath: storeOptions.store, outDir: out)
                co.settings = optimizer.settings; co.warmStart = !noWarmStart; co.keepRuns = keepRuns
                co.liveProgress = !quiet && isatty(2) != 0 && observability.logFormat == .text
                co.metrics = metrics
                let resumeID = try resume.map { try parseRunID($0, option: "--resume") }
                var lo = LocalCluster.Options(coordinator: co, workers: workers, threadsPerWorker: threads, executable: LocalCluster.currentExecutable)
                lo.logFormat = observability.logFormat
                lo.transport = localTransport
                r = try LocalCluster.run(lo, resume: resumeID, logger: log)
            }
            RunReport.print(r, quiet: quiet)
        }
    }
}

extension LocalCluster.Transport: ExpressibleByArgument {}
