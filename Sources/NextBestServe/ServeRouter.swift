import Foundation
import NextBestCore
import NextBestStore
import Prometheus

/// One HTTP request as the router sees it.
public struct ServeRequest: Sendable {
    public var method: String
    /// The path and query as sent (`/v1/customers/42/nba?x=1`).
    public var uri: String
    public var authorization: String?
    public var body: [UInt8]

    public init(method: String, uri: String, authorization: String? = nil, body: [UInt8] = []) {
        self.method = method; self.uri = uri; self.authorization = authorization; self.body = body
    }
}

/// The answer to a request.
public struct ServeResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
}

/// What `nextbest serve` answers, without sockets (`ServeServer` carries requests to it):
/// - `GET /v1/customers/{id}/nba`: the served run's list for the customer (404 for a customer the store
///   does not know; an empty list for one the run gave no offer);
/// - `POST /v1/customers/{id}/responses` with `{offer_id, channel, outcome, date, event_id}`: recorded by
///   `ResponseRecorder` (201, or 200 for an event id recorded before); 400 naming the field at fault;
/// - `GET /healthz`: 200 once a run is served (503 before), with its id; `GET /metrics`: request counts and
///   latency histograms.
/// With tokens, lookups need a `read` or `record` bearer token and responses a `record` one (401 / 403).
public final class ServeRouter: Sendable {
    public let state: ServingState
    let tokens: AccessTokens?
    let registry = PrometheusCollectorRegistry()
    let lookupLatency: DurationHistogram
    let recordLatency: DurationHistogram

    public init(state: ServingState, tokens: AccessTokens?) {
        self.state = state; self.tokens = tokens
        let buckets: [Duration] = [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
                                   .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(250)]
        lookupLatency = registry.makeDurationHistogram(descriptor: .init(namespace: "nextbest", subsystem: "serve", metricName: "lookup_duration", unitName: "seconds",
                                                                         helpText: "Time to answer GET /v1/customers/{id}/nba."), labels: [], buckets: buckets)
        recordLatency = registry.makeDurationHistogram(descriptor: .init(namespace: "nextbest", subsystem: "serve", metricName: "record_duration", unitName: "seconds",
                                                                         helpText: "Time to record POST /v1/customers/{id}/responses (one write transaction)."), labels: [], buckets: buckets)
    }

    func count(_ route: String, _ status: Int) {
        registry.makeCounter(descriptor: .init(namespace: "nextbest", subsystem: "serve", metricName: "requests", unitName: "total",
                                               helpText: "HTTP requests answered, by route and status."),
                             labels: [("route", route), ("status", String(status))]).increment()
    }

    /// Answers `r`.
    public func handle(_ r: ServeRequest) -> ServeResponse {
        let clock = ContinuousClock(), t0 = clock.now
        let path = String(r.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let answer: ServeResponse, route: String
        switch (r.method, parts.count) {
        case ("GET", 4) where parts[0] == "v1" && parts[1] == "customers" && parts[3] == "nba":
            route = "lookup"
            answer = authorized(r, record: false) ?? lookup(parts[2])
            lookupLatency.record(clock.now - t0)
        case ("POST", 4) where parts[0] == "v1" && parts[1] == "customers" && parts[3] == "responses":
            route = "record"
            answer = authorized(r, record: true) ?? record(parts[2], body: r.body)
            recordLatency.record(clock.now - t0)
        case ("GET", 1) where parts[0] == "healthz":
            route = "healthz"
            if let run = state.run { answer = Self.text(200, "ok: serving run \(RunRepository.name(run.run)) (\(run.customers) customers with offers)\n") }
            else { answer = Self.text(503, "no finished run in the store yet\n") }
        case ("GET", 1) where parts[0] == "metrics":
            route = "metrics"
            answer = ServeResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
        default:
            route = "other"
            answer = Self.error(404, "not found: \(r.method) \(path) (see GET /v1/customers/{id}/nba, POST /v1/customers/{id}/responses, /healthz, /metrics)")
        }
        count(route, answer.status)
        return answer
    }

    func authorized(_ r: ServeRequest, record: Bool) -> ServeResponse? {
        guard let tokens else { return nil }
        guard let role = tokens.role(authorization: r.authorization) else { return Self.error(401, "a bearer token is needed (Authorization: Bearer TOKEN)") }
        if record && role != .record { return Self.error(403, "this token may look up lists but not record responses") }
        return nil
    }

    func lookup(_ idText: String) -> ServeResponse {
        guard let id = UInt64(idText) else { return Self.error(400, "customer id '\(idText)' is not an unsigned 64-bit integer", field: "customer_id") }
        guard let run = state.run else { return Self.error(503, "no finished run in the store yet: run `nextbest run` first") }
        let rows = run.rows(of: id)
        if rows == nil {
            do { guard try state.knows(id) else { return Self.error(404, "customer \(id) is not in the store") } }
            catch { return Self.error(500, "cannot read the store: \(error)") }
        }
        let list: JSONText = .array((rows ?? []).map { row in
            .object([("rank", .int(Int64(row.rank))), ("offer_id", .string(row.offer)), ("channel", .string(row.channel)),
                     ("propensity", .raw(row.propensity)), ("expected_value", .raw(row.expectedValue))])
        })
        return Self.json(200, .object([("customer_id", .raw(String(id))), ("run_id", .string(RunRepository.name(run.run))),
                                       ("run_started", .string(run.started)), ("nba", list)]))
    }

    func record(_ idText: String, body: [UInt8]) -> ServeResponse {
        guard let id = UInt64(idText) else { return Self.error(400, "customer id '\(idText)' is not an unsigned 64-bit integer", field: "customer_id") }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            return Self.error(400, "the body is not a JSON object {offer_id, channel, outcome, date, event_id}")
        }
        var fields: [String: String] = [:]
        for name in ["offer_id", "channel", "outcome", "date", "event_id"] {
            guard let v = object[name] as? String else { return Self.error(400, "\(name) is missing or not a string", field: name) }
            fields[name] = v
        }
        let response = ResponseRecorder.Response(customer: id, offer: fields["offer_id"]!, channel: fields["channel"]!, outcome: fields["outcome"]!,
                                                 date: fields["date"]!, eventID: fields["event_id"]!)
        do {
            switch try ResponseRecorder.record(response, store: state.store) {
            case .recorded(let seq): return Self.json(201, .object([("recorded", .bool(true)), ("sequence", .int(Int64(seq)))]))
            case .duplicate(let seq): return Self.json(200, .object([("recorded", .bool(false)), ("sequence", .int(Int64(seq))), ("reason", .string("event_id recorded before"))]))
            }
        } catch let refusal as ResponseRecorder.Refusal {
            if case .unknownCustomer = refusal { return Self.error(404, refusal.description, field: "customer_id") }
            if case .eventReused = refusal { return Self.error(409, refusal.description, field: "event_id") }
            return Self.error(400, refusal.description, field: refusal.fieldName)
        } catch {
            return Self.error(500, "cannot record the response: \(error)")
        }
    }

    static func json(_ status: Int, _ v: JSONText) -> ServeResponse {
        ServeResponse(status: status, contentType: "application/json", body: Array((v.renderLine() + "\n").utf8))
    }

    static func error(_ status: Int, _ message: String, field: String? = nil) -> ServeResponse {
        json(status, .object([("error", .string(message))] + (field.map { [("field", JSONText.string($0))] } ?? [])))
    }

    static func text(_ status: Int, _ s: String) -> ServeResponse {
        ServeResponse(status: status, contentType: "text/plain; charset=utf-8", body: Array(s.utf8))
    }
}
