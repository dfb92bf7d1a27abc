import Foundation
import NextBestStore
import NextBestTelemetry

/// `--metrics-textfile PATH`: a process's metrics in Prometheus text format, written at the end of its run
/// (success or not) for node_exporter's textfile collector, so a nightly job's final figures outlive the
/// process. Written atomically (`AtomicFile`: a temporary file in the same directory, then renamed), so the
/// collector never reads half a file.
public struct MetricsTextfile: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// Refuses, before any work, a path whose directory cannot take files or that is a directory.
    public func prepare() throws { try OutputPlace.prepareFile(path, option: "--metrics-textfile") }

    /// `nextbest_last_success_timestamp_seconds` as the file holds it now (an earlier run's), if it does.
    public func lastSuccess() -> Double? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let prefix = MetricFamilies.lastSuccess.name + " "
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix(prefix) {
            if let v = Double(line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)), v.isFinite, v > 0 { return v }
        }
        return nil
    }

    /// Writes `telemetry`'s exposition over the file.
    public func write(_ telemetry: Telemetry) throws { try AtomicFile.write([telemetry.exposition()], to: path) }
}
