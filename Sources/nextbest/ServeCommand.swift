import ArgumentParser
import Foundation
import NextBestStore
import NextBestServe

/// `nextbest serve --store DIR [--bind 127.0.0.1:8080] [--tokens FILE]`: the newest finished run's lists
/// for inbound channels, and their customers' responses recorded as they happen (issue 26).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve",
        abstract: "Serve the newest finished run's lists over HTTP and record responses in the store.",
        discussion: """
        GET /v1/customers/{id}/nba answers the customer's ranked list from the newest finished run (it switches to
        a newer run as soon as one finishes, without a restart). POST /v1/customers/{id}/responses with
        {"offer_id", "channel", "outcome", "date", "event_id"} records a response in the contact history (once per
        event_id); the next run's fatigue sees it. /healthz and /metrics as usual. Stop with SIGTERM or Ctrl-C.
        """)
    @OptionGroup var storeOptions: StoreOptions
    @Option(help: ArgumentHelp("The address and port to listen on (loopback unless told otherwise; port 0: any free port).", valueName: "host:port"))
    var bind: String = "127.0.0.1:8080"
    @Option(help: "A file of bearer tokens, one `read TOKEN` or `record TOKEN` per line (without it, anyone who reaches the port may look up and record).")
    var tokens: String?
    @Option(help: "Seconds between checks for a newer finished run.") var refreshSeconds: Double = 2
    @Option(help: "Event-loop threads (default: the number of cores).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @OptionGroup var logging: LogOptions

    func validate() throws {
        guard Self.split(bind) != nil else { throw ValidationError("--bind takes host:port (such as 127.0.0.1:8080 or [::1]:8080), not '\(bind)'") }
        if refreshSeconds <= 0 { throw ValidationError("--refresh-seconds must be above 0, not \(refreshSeconds)") }
        if threads < 1 { throw ValidationError("--threads must be 1 or more, not \(threads)") }
    }

    /// `host:port` or `[v6]:port`.
    static func split(_ s: String) -> (host: String, port: Int)? {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(s[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func run() throws {
        try reportingErrors(logging.logFormat) {
            let log = logging.logger(prefix: "nextbest serve: ", quiet: false)
            let access = try tokens.map { try AccessTokens(path: $0) }
            let state = try ServingState(storePath: storeOptions.store)
            let router = ServeRouter(state: state, tokens: access)
            let (host, port) = Self.split(bind)!
            let server = try ServeServer(host: host, port: port, threads: threads, router: router)
            log("listening on http://\(host.contains(":") ? "[\(host)]" : host):\(server.port) "
                       + (state.run.map { "with run \(RunRepository.name($0.run)) (\($0.customers) customers with offers)" } ?? "(no finished run yet)")
                       + (access == nil ? "; no tokens: every client may look up and record" : ""))
            let stop = DispatchSemaphore(value: 0)
            signal(SIGTERM, SIG_IGN); signal(SIGINT, SIG_IGN)
            var sources: [DispatchSourceSignal] = []
            for sig in [SIGTERM, SIGINT] {
                let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                s.setEventHandler { stop.signal() }
                s.resume()
                sources.append(s)
            }
            let timer = DispatchSource.makeTimerSource(queue: .global())
            timer.schedule(deadline: .now() + refreshSeconds, repeating: refreshSeconds)
            timer.setEventHandler {
                do {
                    if let run = try state.refresh() { log("now serving run \(RunRepository.name(run.run)) (\(run.customers) customers with offers)") }
                } catch { log("the newest run cannot be served yet (\(error)); still serving the one before", level: .warning) }
            }
            timer.resume()
            stop.wait()
            timer.cancel()
            server.stop()
            log("stopped")
            _ = sources
        }
    }
}
