import Foundation
import NextBestReport
import NextBestStore

/// The page branch staff use (`GET /`): look up the customer in front of them, see their next best
/// actions with the channel and a short reason, and record the customer's answer from a drop-down (a form
/// posted to `/ui/customers/{id}/responses`). Server-rendered HTML with its style inline and no script, so
/// it works offline, behind any proxy and on a small screen.
enum BranchPage {
    /// One offer as the page shows it.
    struct Offer {
        var rank: Int
        var offer: String
        var channel: String
        var propensity: String
        var expectedValue: String
    }

    /// What the page shows.
    struct Content {
        var customer: String = ""
        var run: String?
        var offers: [Offer]? = nil
        var notice: String? = nil
        var problem: String? = nil
        /// The customer's recorded contacts, newest first: date, offer, channel, outcome.
        var contacts: [(String, String, String, String)] = []
        var canRecord = true
    }

    static func escape(_ s: String) -> String { ReportPage.esc(s) }

    /// A short reason for an offer, from its propensity and expected value.
    static func reason(_ o: Offer) -> String {
        let p = (Double(o.propensity) ?? 0) * 100
        return String(format: "%.1f%% likely to respond; expected value %@", p, o.expectedValue)
    }

    static func render(_ c: Content) -> String {
        var h = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>nextbest: next best actions</title>
        <style>
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;padding:1rem;max-width:40rem;color:#1d2330;background:#f6f7f9}
        h1{font-size:1.25rem;margin:0 0 .75rem}
        form.lookup{display:flex;gap:.5rem;margin-bottom:1rem}
        input,select,button{font-size:1rem;padding:.5rem;border:1px solid #aab;border-radius:.4rem}
        input{flex:1;min-width:0}
        button{background:#1d5fd0;color:#fff;border-color:#1d5fd0}
        .offer{background:#fff;border:1px solid #dde;border-radius:.6rem;padding:.75rem;margin:.5rem 0}
        .offer h2{font-size:1.05rem;margin:0 0 .25rem}
        .muted{color:#5a6273;font-size:.9rem}
        .record{display:flex;gap:.5rem;margin-top:.5rem;flex-wrap:wrap}
        .notice{background:#e3f4e6;border:1px solid #9fd2a8;padding:.5rem;border-radius:.4rem}
        .problem{background:#fbe7e7;border:1px solid #e3a3a3;padding:.5rem;border-radius:.4rem}
        table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{text-align:left;padding:.25rem;border-bottom:1px solid #dde}
        </style></head><body>
        <h1>Next best actions</h1>
        <form class="lookup" method="get" action="/"><input name="customer" inputmode="numeric" placeholder="Customer id" value="\(escape(c.customer))" aria-label="Customer id"><button type="submit">Look up</button></form>

        """
        if let n = c.notice { h += "<p class=\"notice\" id=\"notice\">\(escape(n))</p>\n" }
        if let p = c.problem { h += "<p class=\"problem\" id=\"problem\">\(escape(p))</p>\n" }
        if let offers = c.offers {
            h += "<p class=\"muted\">Customer \(escape(c.customer)) · run \(escape(c.run ?? "-"))</p>\n"
            if offers.isEmpty { h += "<p id=\"none\">No offer for this customer tonight.</p>\n" }
            for o in offers {
                h += "<div class=\"offer\" id=\"offer-\(o.rank)\"><h2>\(o.rank). \(escape(o.offer)) <span class=\"muted\">by \(escape(o.channel))</span></h2>"
                h += "<div class=\"muted\">\(escape(reason(o)))</div>\n"
                if c.canRecord {
                    h += "<form class=\"record\" method=\"post\" action=\"/ui/customers/\(escape(c.customer))/responses\">"
                    h += "<input type=\"hidden\" name=\"offer_id\" value=\"\(escape(o.offer))\"><input type=\"hidden\" name=\"channel\" value=\"\(escape(o.channel))\">"
                    h += "<input type=\"hidden\" name=\"event_id\" value=\"ui-\(UUID().uuidString.lowercased())\">"
                    h += "<select name=\"outcome\" aria-label=\"Answer\"><option value=\"accepted\">Accepted</option><option value=\"rejected\">Rejected</option><option value=\"ignored\">Not interested now</option></select>"
                    h += "<button type=\"submit\">Record answer</button></form>\n"
                }
                h += "</div>\n"
            }
            h += "<h2 style=\"font-size:1rem\">Contacts recorded: <span id=\"contacts\">\(c.contacts.count)</span></h2>\n"
            if !c.contacts.isEmpty {
                h += "<table><tr><th>Date</th><th>Offer</th><th>Channel</th><th>Answer</th></tr>\n"
                for (d, o, ch, out) in c.contacts.prefix(10) { h += "<tr><td>\(escape(d))</td><td>\(escape(o))</td><td>\(escape(ch))</td><td>\(escape(out))</td></tr>\n" }
                h += "</table>\n"
            }
        }
        h += "</body></html>\n"
        return h
    }

    /// `application/x-www-form-urlencoded` fields.
    static func form(_ body: [UInt8]) -> [String: String] {
        var out: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            out[decode(kv[0])] = kv.count > 1 ? decode(kv[1]) : ""
        }
        return out
    }
}
