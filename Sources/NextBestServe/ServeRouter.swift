import Foundation
import NextBestCore
import NextBestStore
import NextBestCluster
import NextBestInspect
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
    /// Other headers (`Location`, `WWW-Authenticate`).
    public var headers: [(String, String)] = []
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
            answer = authorized(r, record: false) ?? lookup(parts[2], explain: Self.query(r.uri)["explain"].map { $0 == "1" || $0 == "true" } ?? false)
            lookupLatency.record(clock.now - t0)
        case ("POST", 4) where parts[0] == "v1" && parts[1] == "customers" && parts[3] == "responses":
            route = "record"
            answer = authorized(r, record: true) ?? record(parts[2], body: r.body)
            recordLatency.record(clock.now - t0)
        case ("GET", 0):
            route = "page"
            answer = page(r)
        case ("POST", 4) where parts[0] == "ui" && parts[1] == "customers" && parts[3] == "responses":
            route = "page_record"
            answer = pageRecord(r, customer: parts[2])
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

    // MARK: the branch page

    /// The page's role: Basic authentication with the token as the password (a browser asks for it), or a
    /// bearer token; everybody when the server has no tokens.
    func pageRole(_ r: ServeRequest) -> AccessTokens.Role? {
        guard let tokens else { return .record }
        if let a = r.authorization, a.hasPrefix("Basic "), let d = Data(base64Encoded: String(a.dropFirst(6))),
           let pair = String(data: d, encoding: .utf8), let colon = pair.firstIndex(of: ":") {
            return tokens.role(authorization: "Bearer " + pair[pair.index(after: colon)...])
        }
        return tokens.role(authorization: r.authorization)
    }

    static let challenge = ServeResponse(status: 401, contentType: "text/plain; charset=utf-8", body: Array("sign in with your token as the password\n".utf8),
                                         headers: [("WWW-Authenticate", "Basic realm=\"nextbest\", charset=\"UTF-8\"")])

    func page(_ r: ServeRequest) -> ServeResponse {
        guard let role = pageRole(r) else { return Self.challenge }
        let q = Self.query(r.uri)
        var c = BranchPage.Content()
        c.canRecord = role == .record
        if let n = q["recorded"], !n.isEmpty { c.notice = "Recorded: \(n)" }
        if let text = q["customer"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty {
            c.customer = text
            if let id = UInt64(text) {
                let answer = lookup(text)
                if answer.status == 200, let run = state.run {
                    c.run = RunRepository.name(run.run)
                    c.offers = (run.rows(of: id) ?? []).map { BranchPage.Offer(rank: $0.rank, offer: $0.offer, channel: $0.channel, propensity: $0.propensity, expectedValue: $0.expectedValue) }
                    c.contacts = (try? state.contacts(of: id)) ?? []
                } else {
                    c.problem = answer.status == 404 ? "Customer \(id) is not known." : "No list can be shown now (\(answer.status))."
                }
            } else {
                c.problem = "A customer id is a number."
            }
        }
        return ServeResponse(status: 200, contentType: "text/html; charset=utf-8", body: Array(BranchPage.render(c).utf8))
    }

    func pageRecord(_ r: ServeRequest, customer: String) -> ServeResponse {
        guard let role = pageRole(r) else { return Self.challenge }
        guard role == .record else { return Self.error(403, "this token may look up lists but not record responses") }
        let f = BranchPage.form(r.body)
        let today = CalendarDay(daysSinceEpoch: Int32((Date().timeIntervalSince1970 / 86400).rounded(.down))).description
        let body = JSONText.object([("offer_id", .string(f["offer_id"] ?? "")), ("channel", .string(f["channel"] ?? "")), ("outcome", .string(f["outcome"] ?? "")),
                                    ("date", .string(today)), ("event_id", .string(f["event_id"] ?? ""))]).renderLine()
        let answer = record(customer, body: Array(body.utf8))
        guard answer.status == 200 || answer.status == 201 else { return answer }
        let note = "\(f["offer_id"] ?? "") \(f["outcome"] ?? "")".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        return ServeResponse(status: 303, contentType: "text/plain; charset=utf-8", body: Array("recorded\n".utf8),
                             headers: [("Location", "/?customer=\(customer)&recorded=\(note)")])
    }

    func authorized(_ r: ServeRequest, record: Bool) -> ServeResponse? {
        guard let tokens else { return nil }
        guard let role = tokens.role(authorization: r.authorization) else { return Self.error(401, "a bearer token is needed (Authorization: Bearer TOKEN)") }
        if record && role != .record { return Self.error(403, "this token may look up lists but not record responses") }
        return nil
    }

    func lookup(_ idText: String, explain: Bool = false) -> ServeResponse {
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
        var fields: [(String, JSONText)] = [("customer_id", .raw(String(id))), ("run_id", .string(RunRepository.name(run.run))),
                                            ("run_started", .string(run.started)), ("nba", list)]
        if explain {
            // The same explanation as `nextbest explain --json`, from the store this server holds.
            do {
                let e = try CustomerExplain.explain(context: try RunContext(store: state.store), run: run.run, customer: id)
                fields.append(("explain", .raw(e.json.trimmingCharacters(in: .whitespacesAndNewlines))))
            } catch { return Self.error(500, "cannot explain customer \(id): \(error)") }
        }
        return Self.json(200, .object(fields))
    }

    /// The query's `name=value` pairs.
    static func query(_ uri: String) -> [String: String] {
        guard let q = uri.split(separator: "?", maxSplits: 1).dropFirst().first else { return [:] }
        var out: [String: String] = [:]
        for pair in q.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[String(kv[0]).removingPercentEncoding ?? String(kv[0])] = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
        }
        return out
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
