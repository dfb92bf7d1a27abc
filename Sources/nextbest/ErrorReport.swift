import ArgumentParser
import Foundation
import Logging
import NextBestCore
import NextBestCluster

/// The last line a failed command writes on standard error, in the command's `--log-format`: stamped text
/// like every text log line, or one JSON object with the level, the message and the exit code.
enum ErrorLine {
    /// The line (no newline) for `message` ending the command with `status`.
    ///
    /// Text: `2026-12-06T02:00:01.250Z error nextbest: MESSAGE  exit_code=65`; a message of several lines
    /// (an infeasible campaign's conflicts) keeps its later lines below the first, each line's control
    /// characters escaped. JSON: `{"time":…,"level":"error","logger":"nextbest","message":…,"exit_code":65,"failure":"input_refused"}`.
    static func render(_ message: String, status: ExitStatus, format: LogFormat, date: Date = Date()) -> String {
        switch format {
        case .text:
            let lines = message.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let first = LineLogHandler.line(format: .text, label: "nextbest", level: .error, message: lines[0],
                                            metadata: ["exit_code": "\(status.rawValue)"], date: date, stamp: LineStamp(prefix: "nextbest: "))
            return ([first] + lines.dropFirst().map(Quoted.escapingControls)).joined(separator: "\n")
        case .json:
            return JSONText.object([("time", .string(LineLogHandler.timestamp(date))), ("level", .string(Logger.Level.error.rawValue)),
                                    ("logger", .string("nextbest")), ("message", .string(message)),
                                    ("exit_code", .int(Int64(status.rawValue))), ("failure", .string(status.name))]).renderLine()
        }
    }
}

/// Runs a command body; an error it throws ends the command with the error line (in `format`) and the exit
/// status of its kind (`ExitStatus.of`). `ExitCode` and `CleanExit` pass through.
func reportingErrors<T>(_ format: LogFormat = .text, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch {
        let status = ExitStatus.of(error)
        printError(ErrorLine.render("\(error)", status: status, format: format))
        throw ExitCode(status.rawValue)
    }
}
