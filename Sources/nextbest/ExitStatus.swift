import ArgumentParser
import Foundation
import NextBestCore
import NextBestStore
import NextBestWire
import NextBestCluster
import NextBestInspect
import NextBestTelemetry
import NextBestServe

/// What a `nextbest` command's exit status tells a scheduler, in the spirit of sysexits.h: one code per
/// kind of failure, the same for every command. `docs/exit-codes.md` and `nextbest --help` show the table.
enum ExitStatus: Int32, CaseIterable, Sendable {
    /// The command did what it was asked.
    case success = 0
    /// A bad option or option value (EX_USAGE).
    case usage = 64
    /// An input was refused: a file, record, model, campaign or run (EX_DATAERR).
    case inputRefused = 65
    /// The cluster failed: workers missing, lost, failing or refused, or the run aborted (EX_UNAVAILABLE).
    case clusterFailure = 69
    /// The optimizer failed, or an error nextbest does not classify (EX_SOFTWARE).
    case internalFailure = 70
    /// The store cannot be opened or read, or an output cannot be written (EX_IOERR).
    case io = 74
    /// A run is going on the store, so an import of profiles or contacts waits (EX_TEMPFAIL: try again later).
    case busy = 75
    /// The campaign's constraints cannot all be met (EX_CONFIG: the campaign is the configuration at fault).
    case infeasible = 78

    /// The name in JSON error lines (`"failure"`) and in the table.
    var name: String {
        switch self {
        case .success: return "success"
        case .usage: return "usage"
        case .inputRefused: return "input_refused"
        case .clusterFailure: return "cluster_failure"
        case .internalFailure: return "internal"
        case .io: return "io"
        case .busy: return "busy"
        case .infeasible: return "infeasible"
        }
    }

    /// What the code means, in a few words (docs/exit-codes.md says more, and what to do).
    var meaning: String {
        switch self {
        case .success: return "done"
        case .usage: return "a bad option or option value"
        case .inputRefused: return "an input file, record, model, campaign or run refused"
        case .clusterFailure: return "workers missing, lost, failing or refused; run aborted"
        case .internalFailure: return "the optimizer failed, or an unexpected error"
        case .io: return "the store cannot be read, or an output cannot be written"
        case .busy: return "a run is going on the store: import again when it ends"
        case .infeasible: return "the campaign's constraints cannot all be met"
        }
    }

    /// The table for `--help`: `  65  input_refused  meaning`.
    static var table: String {
        allCases.map { "  \($0.rawValue)".padding(toLength: 6, withPad: " ", startingAt: 0) + $0.name.padding(toLength: 17, withPad: " ", startingAt: 0) + $0.meaning }
            .joined(separator: "\n")
    }

    /// The exit status for `error`, by its type (and, where one type covers several kinds, its case).
    static func of(_ error: any Error) -> ExitStatus {
        switch error {
        case is ValidationError:
            return .usage
        case is Optimizer.Infeasible:
            return .infeasible
        case is OptimizerError:
            return .internalFailure
        case ClusterError.runRefused:
            return .inputRefused
        case is ClusterError, is Worker.Failure, is WireError, is ZMQError:
            return .clusterFailure
        case is RunLock.Busy:
            return .busy
        case let e as StoreError:
            switch e {
            case .missing: return .inputRefused
            case .lmdb, .corrupt, .cannotOpen: return .io
            }
        case let e as RunRepository.Failure:
            switch e {
            case .unknownRun, .storeChanged, .oldFormat, .newerRecord, .listsAsText: return .inputRefused
            case .corrupt, .propensityFile, .listsFile, .cannotDeleteFiles: return .io
            }
        case let e as RunExport.Failure:
            switch e {
            case .notFinished: return .inputRefused
            case .missingShard, .malformedRow: return .io
            }
        case let e as CurveKeyFiles.Failure:
            switch e {
            case .unreadable, .exists: return .io
            case .notAKey, .exposed, .wrongHalf, .emptyAllowList: return .inputRefused
            }
        case let e as RunComparison.Failure:
            switch e {
            case .notFinished: return .inputRefused
            case .missingShard, .damagedLists: return .io
            }
        case let e as AccessTokens.Failure:
            switch e {
            case .unreadable: return .io
            case .badLine: return .inputRefused
            }
        case is ServeServer.Failure, is ServingRun.Failure:
            return .io
        case is ImportError, is CampaignError, is RunCompare.Failure, is YAMLLimits.Violation, is ModelError, is UBJSONError, is SchemaError, is DictionaryError,
             is PlanError, is NonFinitePropensity, is ShardScorer.ReuseMismatch, is Simulation.Failure, is CustomerExplain.Failure:
            return .inputRefused
        case is OutputError, is OutputPlace.Unusable, is MetricsServer.Failure, is ProfileDecodeError, is NBALists.Failure, is ModelCodec.DecodeError,
             is POSIXError:
            return .io
        case let e as CocoaError where e.isFileError:
            return .io
        default:
            return .internalFailure
        }
    }
}
