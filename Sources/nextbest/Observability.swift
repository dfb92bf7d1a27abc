import ArgumentParser
import Foundation
import NextBestCluster
import NextBestTelemetry

extension LogFormat: ExpressibleByArgument {}

/// `--log-format`, on every command that logs or may fail: how its log lines and its final error line
/// look.
struct LogOptions: ParsableArguments {
    @Option(help: "Log lines as text (time, level, message), or as json (one object per line with the time, level, message and the run and shard ids, for log shippers); the error line that ends a failed command too.")
    var logFormat: LogFormat = .text

    /// A logger for this command on standard error (notices and errors only when `quiet`).
    func logger(prefix: String, quiet: Bool) -> RoleLog {
        RoleLog.standardError(prefix: prefix, format: logFormat, quiet: quiet)
    }
}

/// Options of the commands that run jobs or serve them: where metrics are served and how logs look.
struct ObservabilityOptions: ParsableArguments {
    @Option(help: "Serve Prometheus metrics at http://ADDRESS:PORT/metrics while running (0: any free port, named in the log).")
    var metricsPort: Int?
    @Option(help: ArgumentHelp("The address the metrics endpoint listens on: loopback unless told otherwise; 0.0.0.0 or :: for every interface. IPv6 as ::1 or [::1]; with a port ([::1]:9464, 127.0.0.1:9464) it serves metrics without --metrics-port.",
                               valueName: "host[:port]"))
    var metricsAddress: String = MetricsAddress.loopback
    @Option(help: "Keep serving metrics this many seconds after the job ends, so a scraper sees the final values.")
    var metricsLinger: Double = 0
    @OptionGroup var log: LogOptions

    var logFormat: LogFormat { log.logFormat }

    /// A logger for this command on standard error.
    func logger(prefix: String, quiet: Bool) -> RoleLog { log.logger(prefix: prefix, quiet: quiet) }

    /// Runs `body` with the metrics endpoint up (if asked for), then stops it after the linger time.
    func serving<T>(_ telemetry: Telemetry, log: RoleLog, _ body: () throws -> T) throws -> T {
        let server = try serve(telemetry, log: log)
        defer { finish(server) }
        return try body()
    }

    /// The host and port to serve metrics on, or nil when not asked for (neither `--metrics-port` nor a port in
    /// `--metrics-address`). A port in both must agree.
    func endpoint() throws -> (host: String, port: Int)? {
        let address: MetricsAddress
        do { address = try MetricsAddress(parsing: metricsAddress) } catch { throw ValidationError(error.description) }
        switch (metricsPort, address.port) {
        case (nil, nil): return nil
        case let (p?, nil), let (nil, p?): return (address.host, p)
        case let (p?, q?):
            guard p == q else { throw ValidationError("--metrics-port \(p) and the port \(q) in --metrics-address \(metricsAddress) disagree (give one)") }
            return (address.host, p)
        }
    }

    /// Starts the metrics endpoint if asked for; logs where it is.
    func serve(_ telemetry: Telemetry, log: RoleLog) throws -> MetricsServer? {
        guard let (host, port) = try endpoint() else { return nil }
        let server = try MetricsServer(address: host, port: port) { telemetry.exposition() }
        log("metrics at http://\(server.endpoint)/metrics", level: .notice)
        return server
    }

    /// Stops the endpoint, after the linger time.
    func finish(_ server: MetricsServer?) {
        guard let server else { return }
        if metricsLinger > 0 { Thread.sleep(forTimeInterval: metricsLinger) }
        server.stop()
    }
}
