import Prometheus

/// One metric family as exposed: its name and what it means. The help text becomes the family's `# HELP`
/// line; swift-prometheus writes the `# TYPE` line from the kind of metric made of it.
public struct MetricFamily: Sendable, Equatable {
    /// The full name, unit suffix included (`nextbest_runs_total`, `nextbest_run_duration_seconds`).
    public let name: String
    /// What the series mean, in one line.
    public let help: String

    public init(_ name: String, help: String) {
        precondition(!help.isEmpty, "\(name): every metric family has a help text")
        self.name = name
        self.help = help
    }

    /// swift-prometheus's descriptor: the name as one piece (no unit suffix added), with the help text.
    var descriptor: MetricNameDescriptor { MetricNameDescriptor(metricName: name, unitName: "", helpText: help) }
}

/// A process's metrics registry: swift-prometheus's own registry, so every family is exposed with its
/// `# HELP` and `# TYPE` lines. One registry per process role (no global bootstrap, so several roles in
/// one test process keep theirs apart).
public final class Telemetry: Sendable {
    /// Where the values live; `exposition()` renders them.
    public let registry: PrometheusCollectorRegistry

    /// An empty registry.
    public init() {
        registry = PrometheusCollectorRegistry()
    }

    /// The Prometheus text exposition of every value.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    /// The counter of `family` with `labels`, registered here.
    public func counter(_ family: MetricFamily, _ labels: [(String, String)] = []) -> Counter {
        registry.makeCounter(descriptor: family.descriptor, labels: labels)
    }

    /// The gauge of `family` with `labels`, registered here.
    public func gauge(_ family: MetricFamily, _ labels: [(String, String)] = []) -> Gauge {
        registry.makeGauge(descriptor: family.descriptor, labels: labels)
    }

    /// The histogram of `family` with `labels` and the buckets' upper bounds `buckets` (a `+Inf` bucket is
    /// added), registered here.
    public func histogram(_ family: MetricFamily, buckets: [Double], _ labels: [(String, String)] = []) -> ValueHistogram {
        registry.makeValueHistogram(descriptor: family.descriptor, labels: labels, buckets: buckets)
    }
}
