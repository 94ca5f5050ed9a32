package report

import (
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
)

// WriteHTML writes a self-contained page: inline CSS and SVG, no script, no
// network access.
func (r *Report) WriteHTML(w io.Writer) error {
	return page.Execute(w, r.view())
}

type htmlView struct {
	R        *Report
	Title    string
	Chart    template.HTML
	Legend   []nodeStyle
	Counts   []sevCount
	Failed   bool
	Verdict  Verdict
	FailOn   checker.Severity
	Duration string
	Exit     string
}

type sevCount struct {
	Severity checker.Severity
	N        int
}

func (r *Report) view() htmlView {
	vd := r.Verdict()
	v := htmlView{R: r, Chart: template.HTML(r.chart()), Legend: r.styles(), Failed: vd.Failed, Verdict: vd, FailOn: r.failOn(),
		Duration: r.Run.Duration().Round(100 * time.Millisecond).String()}
	v.Title = "redis-chaos report"
	if r.Run.Name != "" {
		v.Title += ": " + r.Run.Name
	}
	for _, s := range []checker.Severity{checker.High, checker.Medium, checker.Low, checker.Info} {
		n := 0
		for i := range r.Findings {
			if r.Findings[i].Severity == s {
				n++
			}
		}
		v.Counts = append(v.Counts, sevCount{s, n})
	}
	if r.Run.ExitCode != nil {
		v.Exit = "exit " + strconv.Itoa(*r.Run.ExitCode)
	}
	return v
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"offset": func(t time.Time, r *Report) string { return offset(t, r.Run.Start) },
	"clock":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"join":   strings.Join,
	"sev":    func(s checker.Severity) string { return string(s) },
	"inc":    func(i int) int { return i + 1 },
	"faults": func(sc Scenario, r *Report) string {
		var parts []string
		for _, f := range sc.Faults {
			parts = append(parts, f.Action+" "+r.shortNodes(f.Nodes))
		}
		return strings.Join(parts, "; ")
	},
	"lib":        func(c checker.ClientID) string { return c.Library() },
	"proxyNames": func(s string, r *Report) string { return r.proxyNames(s) },
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
:root { --fg: #1d2733; --muted: #5d6b7c; --line: #d9dfe7; --bg: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 1290px; margin: 0 auto; padding: 22px 24px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 10px; }
.sub { color: var(--muted); margin-bottom: 16px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 14px 0 6px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 120px; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 20px; font-weight: 600; }
.pass { color: #1e8a4c; } .fail { color: #c62828; }
.verdict { background: #fff; border: 1px solid var(--line); border-left: 6px solid currentColor; border-radius: 8px; padding: 10px 14px; font-size: 15px; }
.verdict .muted { font-size: 13px; margin-top: 3px; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px; }
svg.timeline { display: block; font-family: inherit; width: 100%; height: auto; }
svg .cap { font-size: 11px; fill: #6b7788; }
svg .band { font-size: 11px; fill: #2b3644; }
svg .band.light { fill: #fff; font-weight: 600; }
svg .title { font-size: 12px; fill: #2b3644; font-weight: 600; }
svg .tick { font-size: 10.5px; fill: #6b7788; }
svg .num { font-size: 10px; fill: #2b3644; font-weight: 700; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 8px 4px 2px; font-size: 12.5px; color: #37424f; }
.legend svg { vertical-align: middle; margin-right: 5px; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid #edf0f4; vertical-align: top; }
th { background: #f0f3f7; font-size: 12px; color: #4a5666; text-transform: uppercase; letter-spacing: .03em; }
tr:last-child td { border-bottom: 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; }
.high { background: #c62828; } .medium { background: #ef8f00; } .low { background: #1e88e5; } .info { background: #78909c; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
details summary { cursor: pointer; color: #1f5fbf; }
pre { white-space: pre-wrap; margin: 6px 0 0; font-size: 12px; background: #f6f8fa; padding: 8px; border-radius: 6px; }
.muted { color: var(--muted); }
.rule { font-weight: 600; }
.remedy { margin-top: 4px; }
.none { padding: 14px; background: #fff; border: 1px solid var(--line); border-radius: 8px; color: #1e8a4c; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<div class="sub">{{clock .R.Run.Start}} · {{.Duration}}{{with .R.Run.Mode}} · {{.}} mode{{end}}{{if .R.Run.Seed}} · seed {{.R.Run.Seed}}{{end}}{{with .R.Run.Command}} · <code>{{join . " "}}</code>{{end}}{{with .Exit}} ({{.}}){{end}}</div>
<div class="verdict {{if .Failed}}fail{{else}}pass{{end}}" id="verdict"><b>{{if .Failed}}FAIL{{else}}PASS{{end}}</b>{{if .Verdict.Reasons}}: {{join .Verdict.Reasons "; "}}{{else}}: the command succeeded and no finding reaches {{sev .FailOn}}{{end}}{{with .Verdict.Notes}}<div class="muted">not failing the run: {{join . "; "}}</div>{{end}}</div>
<div class="cards">
  <div class="card"><div class="k">result</div><div class="v {{if .Failed}}fail{{else}}pass{{end}}">{{if .Failed}}FAIL{{else}}PASS{{end}}</div><div class="muted">fail on {{sev .FailOn}}</div></div>
  {{range .Counts}}<div class="card"><div class="k">{{sev .Severity}}</div><div class="v">{{.N}}</div><div class="muted">findings</div></div>{{end}}
  <div class="card"><div class="k">scenarios</div><div class="v">{{len .R.Scenarios}}</div></div>
  <div class="card"><div class="k">clients</div><div class="v">{{len .R.Clients}}</div></div>
  <div class="card"><div class="k">events</div><div class="v">{{.R.Run.Checker.Processed}}</div><div class="muted">{{.R.Run.Checker.Dropped}} dropped</div></div>
</div>

<h2>Timeline</h2>
<div class="panel">
{{.Chart}}
<div class="legend">
{{range .Legend}}<span><svg width="26" height="10"><line x1="1" y1="5" x2="25" y2="5" stroke="{{.Color}}" stroke-width="2.5"{{if .Dash}} stroke-dasharray="{{.Dash}}"{{end}}/></svg>{{.Label}}</span>{{end}}
<span><svg width="14" height="12"><path d="M7 1 l5 5 l-5 5 l-5 -5 z" fill="#c62828"/></svg>finding (high)</span>
<span><svg width="14" height="12"><path d="M7 1 l5 5 l-5 5 l-5 -5 z" fill="#ef8f00"/></svg>medium</span>
<span><svg width="14" height="12"><path d="M7 1 l5 5 l-5 5 l-5 -5 z" fill="#1e88e5"/></svg>low</span>
</div>
</div>

{{if .R.Scenarios}}
<h2>Scenarios</h2>
<table>
<tr><th>scenario</th><th>window</th><th>faults</th><th>phases</th><th>a safe client</th></tr>
{{range .R.Scenarios}}<tr><td class="rule">{{.Name}}{{if not .Complete}} <span class="fail">({{.Status}})</span>{{end}}{{with .Detail}}<div class="muted">{{proxyNames . $.R}}</div>{{end}}{{with .Reason}}<div class="muted">{{.}}</div>{{end}}{{with .Writes}}<div class="{{if .AtRisk}}muted{{else}}fail{{end}}">{{.String}}</div>{{end}}</td>
<td class="mono">{{offset .Start $.R}} – {{offset .End $.R}}</td>
<td class="mono">{{faults . $.R}}</td>
<td>{{range $i, $p := .Phases}}{{if $i}}, {{end}}{{$p.Name}} {{offset $p.Start $.R}}{{end}}</td>
<td>{{.Expect}}</td></tr>{{end}}
</table>
{{end}}

<h2>Findings</h2>
{{if .R.Findings}}
<table>
<tr><th>#</th><th>severity</th><th>rule</th><th>client</th><th>count</th><th>seen</th><th>what happened and how to fix it</th></tr>
{{range $i, $f := .R.Findings}}<tr>
<td>{{inc $i}}</td>
<td><span class="badge {{sev $f.Severity}}">{{sev $f.Severity}}</span>{{if $f.Possible}}<div class="muted">possible</div>{{end}}</td>
<td><span class="rule">{{$f.Rule}}</span><div class="muted">{{$f.Title}}</div></td>
<td>{{$f.Client.String}}{{with $f.Nodes}}<div class="muted mono">{{join . " "}}</div>{{end}}</td>
<td>{{$f.Count}}</td>
<td class="mono">{{offset $f.FirstSeen $.R}}<br>{{offset $f.LastSeen $.R}}</td>
<td>{{$f.Explanation}}
<div class="remedy"><b>Correct:</b> {{$f.Correct}}</div>
<div class="remedy"><b>Remedy{{with lib $f.Client}} ({{.}}){{end}}:</b> {{$f.Remedy}}</div>
{{if $f.Remedies}}<details><summary>remedy per library</summary><pre>{{range $lib, $txt := $f.Remedies}}{{$lib}}: {{$txt}}
{{end}}</pre></details>{{end}}
<details><summary>evidence ({{len $f.Evidence}} events)</summary><pre>{{range $f.Evidence}}{{.String}}
{{end}}</pre></details>
</td></tr>{{end}}
</table>
{{else}}
<div class="none">No unsafe client behaviour observed.</div>
{{end}}

{{if .R.Clients}}
<h2>Clients</h2>
<table>
<tr><th>client</th><th>library</th><th>connections</th><th>commands</th><th>errors</th><th>redirects</th><th>nodes</th><th>findings</th></tr>
{{range .R.Clients}}<tr><td>{{.ClientID.String}}</td><td>{{.Library}}</td><td>{{.Connects}} ({{.Conns}} open)</td><td>{{.Commands}}</td><td>{{.Errors}}</td><td>{{.Redirects}}</td><td>{{len .Nodes}}</td><td>{{.Findings}}</td></tr>{{end}}
</table>
{{end}}
<p class="muted">Generated by redis-chaos. Traffic is counted per second from the proxy's view; errors are error replies other than MOVED/ASK, commands left without a reply and connections reset by a fault (connections refused by a down node never reach the proxy: the fault band shows them); redirects are counted apart. Values and credentials are never recorded.</p>
</main>
</body>
</html>
`
