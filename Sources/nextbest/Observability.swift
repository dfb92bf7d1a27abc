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

/// Options of the commands that run jobs or serve them: where metrics are served or written, and how logs
/// look.
struct ObservabilityOptions: ParsableArguments {
    @Option(help: "Serve Prometheus metrics at http://ADDRESS:PORT/metrics while running (0: any free port, named in the log).")
    var metricsPort: Int?
    @Option(help: ArgumentHelp("The address the metrics endpoint listens on: loopback unless told otherwise; 0.0.0.0 or :: for every interface. IPv6 as ::1 or [::1]; with a port ([::1]:9464, 127.0.0.1:9464) it serves metrics without --metrics-port.",
                               valueName: "host[:port]"))
    var metricsAddress: String = MetricsAddress.loopback
    @Option(help: "Keep serving metrics this many seconds after the job ends, so a scraper sees the final values.")
    var metricsLinger: Double = 0
    @Option(help: ArgumentHelp("At the end of the job, success or not, write its metrics in Prometheus text format to this file, atomically (a temporary file in the same directory, then renamed), for node_exporter's textfile collector. With or without --metrics-port.",
                               valueName: "path"))
    var metricsTextfile: String?
    @OptionGroup var log: LogOptions

    var logFormat: LogFormat { log.logFormat }

    /// A logger for this command on standard error.
    func logger(prefix: String, quiet: Bool) -> RoleLog { log.logger(prefix: prefix, quiet: quiet) }

    /// Where one command's metrics go: the endpoint and the textfile, each when asked for.
    struct Outlets: Sendable {
        let telemetry: Telemetry
        let server: MetricsServer?
        let textfile: MetricsTextfile?
        let log: RoleLog
    }

    /// Runs `body` with the metrics endpoint up (if asked for), then writes the textfile (if asked for) and
    /// stops the endpoint after the linger time, whether `body` succeeded or not. `run`: a job's metrics,
    /// which show the last success the textfile holds until the job completes.
    func serving<T>(_ telemetry: Telemetry, run: RunMetrics? = nil, log: RoleLog, _ body: () throws -> T) throws -> T {
        let outlets = try serve(telemetry, run: run, log: log)
        defer { finish(outlets) }
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

    /// Checks the textfile's place and starts the metrics endpoint, each if asked for; logs where the
    /// endpoint is. Call `finish` when the job ends, however it ends.
    func serve(_ telemetry: Telemetry, run: RunMetrics? = nil, log: RoleLog) throws -> Outlets {
        let textfile = metricsTextfile.map { MetricsTextfile(path: $0) }
        try textfile?.prepare()
        if let run, let t = textfile?.lastSuccess() { run.remember(lastSuccess: t) }
        var server: MetricsServer? = nil
        if let (host, port) = try endpoint() {
            server = try MetricsServer(address: host, port: port) { telemetry.exposition() }
            log("metrics at http://\(server!.endpoint)/metrics", level: .notice)
        }
        return Outlets(telemetry: telemetry, server: server, textfile: textfile, log: log)
    }

    /// The job ended: writes the textfile (a failure to write it is logged; the job's own outcome stands),
    /// then stops the endpoint after the linger time.
    func finish(_ outlets: Outlets) {
        if let textfile = outlets.textfile {
            do { try textfile.write(outlets.telemetry) } catch { outlets.log("\(error)", level: .error) }
        }
        guard let server = outlets.server else { return }
        if metricsLinger > 0 { Thread.sleep(forTimeInterval: metricsLinger) }
        server.stop()
    }
}
