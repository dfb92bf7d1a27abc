import Foundation
import NextBestStore
import NextBestReport

/// Writes `report.html` (see `ReportPage`) next to a run's `nba.csv`, atomically.
public enum RunReportFile {
    /// Renders the summary and writes `outDir/report.html`; returns its path.
    @discardableResult
    public static func write(summary: String, outDir: String) throws -> String {
        let path = outDir + "/report.html"
        try AtomicFile.write(try ReportPage.render(summaryJSON: summary, title: "nextbest run report"), to: path)
        return path
    }
}
