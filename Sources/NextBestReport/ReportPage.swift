import Foundation
import Mustache

/// Renders a run's `summary.json` as `report.html`, the page the operations team reads next to `nba.csv`:
/// one self-contained HTML file with inline CSS and inline SVG charts, no scripts and nothing fetched from the
/// network (a Content-Security-Policy forbids it). It shows the run summary, the convergence of the
/// optimization, constraint use against limits, offers by product, region, segment, channel and offer, the
/// propensity distribution per offer, and stage timings. Any field may be missing: what exists is rendered.
/// The same summary always gives the same bytes.
///
/// The summary is decoded into `SummaryModel`, turned into a `View` (formatted text and SVG charts) and
/// drawn through the Mustache templates in `ReportTemplate`. Depends on Foundation and Mustache only.
public enum ReportPage {
    /// Why a summary could not be rendered.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The text is not valid JSON; the message says what.
        case invalidJSON(String)
        /// The text is valid JSON but its top level is not an object (the message names what it is).
        case notAnObject(String)

        /// A one-line explanation for logs and error output.
        public var description: String {
            switch self {
            case .invalidJSON(let m): return "summary is not valid JSON: \(m)"
            case .notAnObject(let k): return "summary JSON must be an object, found \(k)"
            }
        }
    }

    /// Turns the text of a run's `summary.json` into the complete HTML of `report.html`, with `title` as the
    /// page title and heading. Throws `Failure` if the text is not JSON or not a JSON object.
    public static func render(summaryJSON: String, title: String) throws -> String {
        render(try SummaryModel.decode(summaryJSON), title: title)
    }

    /// The HTML of `report.html` for a decoded summary.
    public static func render(_ summary: SummaryModel, title: String) -> String {
        ReportTemplate.library.render(view(summary, title: title), withTemplate: "page") ?? ""
    }
}
