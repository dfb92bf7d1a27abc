import Mustache

/// The page's Mustache templates, kept in the binary as text rather than as a SwiftPM resource: `nextbest` is
/// installed as one file (cluster/README.md copies `.build/release/nextbest` to /usr/local/bin), and on Linux a
/// resource lives in a separate `nextbest_NextBestReport.resources` directory that `Bundle.module` traps
/// without, at the end of a run. The names the templates use are the properties of `ReportPage.View` and the
/// types in it; `{{{svg}}}` (three braces) is SVG drawn by `ReportPage.Chart`, inserted unescaped.
enum ReportTemplate {
    /// The whole page: one `<section>` per entry of `sections`, drawn by the block its content fills.
    static let page = #"""
    {{% CONTENT_TYPE: NEXTBEST_HTML}}
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
    <meta name="generator" content="nextbest ReportPage">
    <title>{{title}}</title>
    <style>
    :root{--ink:{{colors.ink}};--muted:{{colors.muted}};--line:{{colors.line}};--bg:#f4f6f8;--card:#ffffff;--accent:{{colors.accent}};--bind:{{colors.bind}}}
    *{box-sizing:border-box}
    html{-webkit-text-size-adjust:100%}
    body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans","DejaVu Sans",sans-serif;font-variant-numeric:tabular-nums}
    .wrap{max-width:1180px;margin:0 auto;padding:0 20px}
    header.top{background:#17324d;color:#fff;padding:22px 0 0;margin-bottom:22px}
    header.top h1{margin:0;font-size:24px;font-weight:600;letter-spacing:.2px}
    .subtitle{margin:4px 0 14px;color:#c7d4e2;font-size:14px}
    nav{display:flex;flex-wrap:wrap;gap:2px 18px;padding:8px 0 10px;border-top:1px solid rgba(255,255,255,.15)}
    nav a{color:#dbe6f1;text-decoration:none;font-size:13px}
    nav a:hover{color:#fff;text-decoration:underline}
    section{margin:0 0 30px}
    h2{font-size:18px;font-weight:600;margin:0 0 12px;padding-bottom:6px;border-bottom:2px solid var(--line)}
    h3{font-size:14px;font-weight:600;margin:0 0 8px;color:var(--ink)}
    .card{background:var(--card);border:1px solid #dfe3e8;border-radius:6px;padding:14px 16px;margin:0 0 14px;min-width:0}
    figure{margin:0}
    figcaption,.figcap{font-size:13px;font-weight:600;color:var(--muted);margin:0 0 8px}
    svg.chart{display:block;width:100%;height:auto;font-family:inherit;overflow:visible}
    .kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px;margin:0 0 14px}
    .kpi{background:var(--card);border:1px solid #dfe3e8;border-left:4px solid var(--accent);border-radius:6px;padding:10px 14px}
    .kpi-name{font-size:12px;text-transform:uppercase;letter-spacing:.5px;color:var(--muted)}
    .kpi-value{font-size:22px;font-weight:600;margin-top:2px}
    .kpi-sub{font-size:12px;color:var(--muted);margin-top:2px}
    .row2,.row3,.row32{display:grid;gap:14px;align-items:start}
    .row2{grid-template-columns:repeat(2,minmax(0,1fr))}
    .row3{grid-template-columns:repeat(3,minmax(0,1fr))}
    .row32{grid-template-columns:minmax(0,3fr) minmax(0,2fr)}
    .row2>.card,.row3>.card,.row32>.card{margin:0}
    .row2,.row3,.row32{margin-bottom:14px}
    @media (max-width:900px){.row2,.row3,.row32{grid-template-columns:minmax(0,1fr)}}
    table{border-collapse:collapse;width:100%;font-size:13px}
    table.kv th{text-align:left;font-weight:500;color:var(--muted);padding:4px 12px 4px 0;white-space:nowrap;vertical-align:top;width:1%}
    table.kv td{padding:4px 0;text-align:right;word-break:break-word}
    table.kv tr+tr th,table.kv tr+tr td{border-top:1px solid var(--line)}
    table.mono td{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px;text-align:left}
    .stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:0;background:var(--card);border:1px solid #dfe3e8;border-radius:6px;margin:0 0 14px}
    .stat{padding:9px 14px;border-right:1px solid var(--line)}
    .stat-name{font-size:12px;color:var(--muted)}
    .stat-value{font-size:15px;font-weight:600}
    .scroll{overflow-x:auto;background:var(--card);border:1px solid #dfe3e8;border-radius:6px;margin:0 0 10px}
    table.data th{background:#f7f9fb;text-align:left;font-weight:600;color:var(--muted);padding:7px 10px;border-bottom:1px solid #dfe3e8;white-space:nowrap}
    table.data td{padding:6px 10px;border-bottom:1px solid var(--line)}
    table.data tr:last-child td{border-bottom:none}
    table.data .num{text-align:right}
    tr.binding td{background:#fff4ec}
    tr.binding td:last-child{color:var(--bind);font-weight:600}
    .note{color:var(--muted);font-size:13px;margin:6px 0 0}
    .total{margin:10px 0 0;font-size:13px}
    .muted{color:var(--muted)}
    footer{color:var(--muted);font-size:12px;padding:8px 20px 30px}
    @media print{body{background:#fff}header.top{background:#fff;color:var(--ink)}.subtitle,nav a{color:var(--muted)}.card,.kpi,.scroll{break-inside:avoid}}
    </style>
    </head>
    <body>
    <header class="top"><div class="wrap">
    <h1>{{title}}</h1>
    <p class="subtitle">{{subtitle}}</p>
    <nav>
    {{#sections}}
    <a href="#{{id}}">{{heading}}</a>
    {{/sections}}
    </nav>
    </div></header>
    <main class="wrap">
    {{#sections}}
    <section id="{{id}}">
    <h2>{{heading}}</h2>
    {{#summary}}
    {{#showKPIs}}
    <div class="kpis">
    {{#kpis}}
    <div class="kpi"><div class="kpi-name">{{name}}</div><div class="kpi-value">{{value}}</div>{{#sub}}<div class="kpi-sub">{{.}}</div>{{/sub}}</div>
    {{/kpis}}
    </div>
    {{/showKPIs}}
    {{#showRow}}
    <div class="row2">
    {{#runTable}}
    <div class="card"><div class="figcap">Run</div>
    {{> table}}
    </div>
    {{/runTable}}
    {{#reached}}
    {{> figure}}
    {{/reached}}
    </div>
    {{/showRow}}
    {{#emptyNote}}
    <p class="note">{{.}}</p>
    {{/emptyNote}}
    {{/summary}}
    {{#convergence}}
    {{#showFigures}}
    <div class="row32">
    {{#figures}}
    {{> figure}}
    {{/figures}}
    </div>
    {{/showFigures}}
    {{#noHistory}}
    <p class="note">{{.}}</p>
    {{/noHistory}}
    {{#stats}}
    <div class="stats">
    {{#rows}}
    <div class="stat"><div class="stat-name">{{key}}</div><div class="stat-value">{{value}}</div></div>
    {{/rows}}
    </div>
    {{/stats}}
    {{/convergence}}
    {{#constraints}}
    {{#chart}}
    {{> figure}}
    {{/chart}}
    <div class="scroll"><table class="data"><thead><tr>{{#header}}<th{{#numeric}} class="num"{{/numeric}}>{{text}}</th>{{/header}}</tr></thead><tbody>
    {{#rows}}
    <tr{{#rowClass}} class="{{.}}"{{/rowClass}}>{{#cells}}<td{{#numeric}} class="num"{{/numeric}}>{{text}}</td>{{/cells}}</tr>
    {{/rows}}
    </tbody></table></div>
    <p class="note">{{bindingNote}}</p>
    {{/constraints}}
    {{#offers}}
    {{#groups}}
    <div class="{{cls}}">
    {{#cards}}
    <figure class="card"><h3>{{title}}</h3>
    {{{svg}}}{{#emptyText}}<p class="note">{{.}}</p>
    {{/emptyText}}</figure>
    {{/cards}}
    </div>
    {{/groups}}
    {{/offers}}
    {{#propensity}}
    {{#chart}}
    {{> figure}}
    {{/chart}}
    {{#notes}}
    <p class="note">{{.}}</p>
    {{/notes}}
    {{/propensity}}
    {{#timings}}
    <div class="row2">
    {{#stages}}
    <figure class="card"><h3>Seconds per stage</h3>
    {{{svg}}}{{#total}}<p class="total">Total wall time: <strong>{{.}}</strong> <span class="muted">(stages overlap: rounds and repair are part of optimize)</span></p>
    {{/total}}{{#empty}}<p class="note">No stage timings.</p>
    {{/empty}}</figure>
    {{/stages}}
    {{#latency}}
    <figure class="card"><h3>Shard latency</h3>
    {{{svg}}}{{> table}}</figure>
    {{/latency}}
    </div>
    {{#showTables}}
    <div class="row3">
    {{#tables}}
    <div class="card"><h3>{{title}}</h3>
    {{> table}}
    </div>
    {{/tables}}
    </div>
    {{/showTables}}
    {{/timings}}
    {{#since}}
    {{#table}}
    <div class="card">
    {{> table}}
    </div>
    {{/table}}
    {{#tables}}
    {{> grid}}
    {{/tables}}
    {{#notes}}
    <p class="note">{{.}}</p>
    {{/notes}}
    {{/since}}
    {{#trend}}
    {{#showFigures}}
    <div class="row2">
    {{#figures}}
    {{> figure}}
    {{/figures}}
    </div>
    {{/showFigures}}
    {{#tables}}
    {{> grid}}
    {{/tables}}
    {{/trend}}
    {{#other}}
    <div class="card">
    {{> table}}
    </div>
    {{/other}}
    </section>
    {{/sections}}
    </main>
    <footer class="wrap">Generated by nextbest from summary.json. Self-contained page: no scripts, no network.</footer>
    </body>
    </html>

    """#

    /// A two-column table: `cls` and `rows` (`key`, `value`).
    static let table = #"""
    {{% CONTENT_TYPE: NEXTBEST_HTML}}
    <table class="{{cls}}"><tbody>
    {{#rows}}
    <tr><th scope="row">{{key}}</th><td>{{value}}</td></tr>
    {{/rows}}
    </tbody></table>

    """#

    /// A chart in a card: `caption`, `svg`, `wide` and an optional `footnote`.
    static let figure = #"""
    {{% CONTENT_TYPE: NEXTBEST_HTML}}
    <figure class="card{{#wide}} wide{{/wide}}"><figcaption>{{caption}}</figcaption>
    {{{svg}}}{{#footnote}}<p class="note">{{.}}</p>
    {{/footnote}}</figure>

    """#

    /// A titled data table: `title`, `header` (cells) and `rows` (`rowClass`, cells).
    static let grid = #"""
    {{% CONTENT_TYPE: NEXTBEST_HTML}}
    <div class="figcap">{{title}}</div>
    <div class="scroll"><table class="data"><thead><tr>{{#header}}<th{{#numeric}} class="num"{{/numeric}}>{{text}}</th>{{/header}}</tr></thead><tbody>
    {{#rows}}
    <tr{{#rowClass}} class="{{.}}"{{/rowClass}}>{{#cells}}<td{{#numeric}} class="num"{{/numeric}}>{{text}}</td>{{/cells}}</tr>
    {{/rows}}
    </tbody></table></div>

    """#

    /// The page template with its partials, parsed once.
    static let library: MustacheLibrary = {
        MustacheContentTypes.register(PageEscaping(), named: "NEXTBEST_HTML")
        do {
            let page = try MustacheTemplate(string: page)
            return MustacheLibrary(templates: ["page": page, "table": try MustacheTemplate(string: table),
                                               "figure": try MustacheTemplate(string: figure), "grid": try MustacheTemplate(string: grid)])
        } catch {
            preconditionFailure("the report templates do not parse: \(error)")
        }
    }()
}

/// How `{{name}}` escapes text on the page (each template starts with `CONTENT_TYPE: NEXTBEST_HTML`):
/// `ReportPage.esc`, the escaping the charts use too. Mustache's own HTML escaping leaves control characters,
/// which HTML does not allow, as they are.
struct PageEscaping: MustacheContentType {
    func escapeText(_ text: String) -> String { ReportPage.esc(text) }
}
