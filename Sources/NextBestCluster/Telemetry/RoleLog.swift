import Foundation
import Logging
import Synchronization
import NextBestCore

/// How log lines are written: `text` for people at a terminal or in journald, `json` (one object per
/// line: time, level, message and metadata) for log shippers.
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// A swift-log handler that hands each line to a writer: as text (`message  key=value …`, after the time,
/// the level and the writer's prefix when the writer stamps its lines) or as a JSON object per line. The
/// writer does the I/O.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider? = nil
    let label: String
    let format: LogFormat
    let write: LineWriter

    /// A handler for `label` writing through `write`.
    public init(label: String, format: LogFormat, write: LineWriter) {
        self.label = label; self.format = format; self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let p = metadataProvider { all.merge(p.get(), uniquingKeysWith: { _, b in b }) }
        if let m = event.metadata { all.merge(m, uniquingKeysWith: { _, b in b }) }
        write.write(Self.line(format: format, label: label, level: event.level, message: "\(event.message)", metadata: all, date: Date(),
                              stamp: write.stamp))
    }

    /// One rendered line (no newline). Text lines escape every control character of the message and the
    /// metadata (`\n`, `\u{1B}`, …): worker ids, routing ids and addresses come from peers, and a newline
    /// or an escape sequence in one must not forge or hide lines. (JSON lines escape them as JSON.)
    ///
    /// With `stamp`, a text line starts with the time (ISO 8601, UTC, milliseconds), the level and the
    /// stamp's prefix: `2026-12-06T02:00:01.250Z info nextbest: message  key=value`. (JSON lines always
    /// carry the time and the level as fields.)
    public static func line(format: LogFormat, label: String, level: Logger.Level, message: String, metadata: Logger.Metadata, date: Date,
                            stamp: LineStamp? = nil) -> String {
        let keys = metadata.keys.sorted()
        switch format {
        case .text:
            let tail = keys.map { Quoted.escapingControls("\($0)=\(metadata[$0]!)") }.joined(separator: " ")
            let head = stamp.map { "\(timestamp(date)) \(level.rawValue) \($0.prefix)" } ?? ""
            let message = head + Quoted.escapingControls(message)
            return tail.isEmpty ? message : message + "  " + tail
        case .json:
            var fields: [(String, JSONText)] = [("time", .string(timestamp(date))), ("level", .string(level.rawValue)),
                                                ("logger", .string(label)), ("message", .string(message))]
            for k in keys where !["time", "level", "logger", "message"].contains(k) { fields.append((k, .string("\(metadata[k]!)"))) }
            return JSONText.object(fields).renderLine()
        }
    }

    /// `d` as ISO 8601 in UTC with milliseconds: `2026-12-06T02:00:01.250Z`.
    public static func timestamp(_ d: Date) -> String {
        var t = time_t(d.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        let ms = Int((d.timeIntervalSince1970 - floor(d.timeIntervalSince1970)) * 1000)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms)
    }
}

/// What starts each text line of a writer that stamps its lines: the time and the level (added by the
/// handler), then `prefix` (`nextbest: `, `nextbest coordinator: `).
public struct LineStamp: Sendable, Equatable {
    public var prefix: String
    public init(prefix: String) { self.prefix = prefix }
}

/// Where log lines go: standard error, text lines stamped with time, level and a prefix; or a closure
/// (tests, embedding programs), lines as they are.
///
/// `@unchecked Sendable` because the sink is any closure (not `@Sendable`): it is only ever called under
/// `serial`, one line at a time, so whatever it touches is touched by one thread at a time.
public final class LineWriter: @unchecked Sendable {
    private let serial = Mutex(())
    private let sink: (String) -> Void
    /// How text lines start, or nil for the message first.
    let stamp: LineStamp?

    /// Lines to a closure, one call per line, never two at once; text lines stamped with `stamp` if given.
    public init(stamp: LineStamp? = nil, _ sink: @escaping (String) -> Void) { self.stamp = stamp; self.sink = sink }

    /// Lines to standard error; text lines start with the time, the level and `prefix` (JSON lines carry
    /// the time and level as fields).
    public static func standardError(prefix: String, format: LogFormat) -> LineWriter {
        LineWriter(stamp: format == .text ? LineStamp(prefix: prefix) : nil) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    func write(_ line: String) { serial.withLock { _ in sink(line) } }
}

/// The log of a coordinator, worker or one-process run: swift-log underneath, with the run id (once
/// known) and the shard a line is about as metadata; called like a function with the message.
public final class RoleLog: Sendable {
    private let logger: Mutex<Logger>

    /// Logs through `logger`.
    public init(_ logger: Logger) { self.logger = Mutex(logger) }

    /// Logs text lines (message and metadata) to a closure.
    public convenience init(_ sink: @escaping (String) -> Void) {
        let writer = LineWriter(sink)
        self.init(Logger(label: "nextbest") { label in LineLogHandler(label: label, format: .text, write: writer) })
    }

    /// A logger for a command: text lines with `prefix`, or JSON lines, on standard error.
    public static func standardError(prefix: String, format: LogFormat, label: String = "nextbest", quiet: Bool = false) -> RoleLog {
        let writer = LineWriter.standardError(prefix: prefix, format: format)
        var logger = Logger(label: label) { label in LineLogHandler(label: label, format: format, write: writer) }
        logger.logLevel = quiet ? .notice : .info
        return RoleLog(logger)
    }

    /// Sets (or clears) metadata carried by every later line, such as `run`.
    public func set(_ key: String, _ value: String?) {
        logger.withLock { $0[metadataKey: key] = value.map { .string($0) } }
    }

    /// Logs `message` at `level`, with the shard it concerns.
    public func callAsFunction(_ message: String, shard: Int? = nil, level: Logger.Level = .info) {
        let l = logger.withLock { $0 }
        l.log(level: level, "\(message)", metadata: shard.map { ["shard": .stringConvertible($0)] })
    }
}
