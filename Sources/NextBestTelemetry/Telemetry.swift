import CoreMetrics
import Prometheus

/// A run's metrics registry: swift-metrics handles backed by swift-prometheus, one registry per
/// process (no global bootstrap, so several roles in one test process keep theirs apart).
public final class Telemetry: Sendable {
    /// Where the values live; `exposition()` renders them.
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    /// An empty registry.
    public init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// The Prometheus text exposition of every value.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }

    /// A counter named `name` with `labels`, registered here.
    public func counter(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Counter { CoreMetrics.Counter(label: name, dimensions: labels, factory: factory) }
    /// A gauge named `name` with `labels`, registered here.
    public func gauge(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Meter { CoreMetrics.Meter(label: name, dimensions: labels, factory: factory) }
}
