import ArgumentParser
import Foundation
import NextBestCluster

extension LogFormat: ExpressibleByArgument {}

/// Options of the commands that run jobs or serve them: where metrics are served and how logs look.
struct ObservabilityOptions: ParsableArguments {
    @Option(help: "Serve Prometheus metrics at http://ADDRESS:PORT/metrics while running (0: any free port, named in the log).")
    var metricsPort: Int?
    @Option(help: "The address the metrics endpoint listens on.")
    var metricsAddress: String = "0.0.0.0"
    @Option(help: "Keep serving metrics this many seconds after the job ends, so a scraper sees the final values.")
    var metricsLinger: Double = 0
    @Option(help: "Log lines as text, or as json (one object per line with the run and shard ids, for log shippers).")
    var logFormat: LogFormat = .text

    /// A logger for this command on standard error.
    func logger(prefix: String, quiet: Bool) -> RoleLog {
        RoleLog.standardError(prefix: prefix, format: logFormat, quiet: quiet)
    }

    /// Runs `body` with the metrics endpoint up (if asked for), then stops it after the linger time.
    func serving<T>(_ telemetry: Telemetry, log: RoleLog, _ body: () throws -> T) throws -> T {
        let server = try serve(telemetry, log: log)
        defer { finish(server) }
        return try body()
    }

    /// Starts the metrics endpoint if asked for; logs where it is.
    func serve(_ telemetry: Telemetry, log: RoleLog) throws -> MetricsServer? {
        guard let port = metricsPort else { return nil }
        let server = try MetricsServer(address: metricsAddress, port: port) { telemetry.exposition() }
        log("metrics at http://\(server.address):\(server.port)/metrics", level: .notice)
        return server
    }

    /// Stops the endpoint, after the linger time.
    func finish(_ server: MetricsServer?) {
        guard let server else { return }
        if metricsLinger > 0 { Thread.sleep(forTimeInterval: metricsLinger) }
        server.stop()
    }
}
