package report

import (
	"fmt"
	"html"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
)

// The timeline chart: inline SVG, no script.
//
//	┌ scenarios ─────────────────────────────────────────────┐
//	├ faults (shaded down the whole chart) ──────────────────┤
//	│ commands/s per node   (one polyline per node)          │
//	│ errors/s per node     (one polyline per node)          │
//	│ redirects/s per node  (MOVED and ASK)                  │
//	│ findings              (one marker per evidence event)  │
//	└ time axis ─────────────────────────────────────────────┘

const (
	chartW     = 1240
	padL       = 70
	padR       = 18
	bandH      = 22 // scenario band
	faultH     = 30 // fault band (overlapping faults in lanes)
	thrH       = 210
	errH       = 120
	redirH     = 80
	findH      = 44
	gapH       = 26
	axisH      = 30
	plotW      = chartW - padL - padR
	yScenarios = 4
	yFaults    = yScenarios + bandH + 4
	yThr       = yFaults + faultH + 20
	yErr       = yThr + thrH + gapH
	yRedir     = yErr + errH + gapH
	yFind      = yRedir + redirH + gapH
	chartH     = yFind + findH + axisH
)

// nodeStyle is how a node's series is drawn.
type nodeStyle struct {
	Node, Label, Color, Dash string
}

// shard hues: masters solid and dark, their replicas lighter and dashed.
var hues = [][3]string{
	{"#1f5fbf", "#5b8fdc", "#9dbbe9"},
	{"#c0561b", "#e0874f", "#efb58f"},
	{"#1e8a4c", "#4fb57a", "#8fd3ab"},
	{"#8b3fb0", "#b173d0", "#d2a9e6"},
	{"#a8323e", "#d0646f", "#e8a1a8"},
	{"#0f8a8a", "#47b5b5", "#8ad6d6"},
}

// styles assigns each node of the series a color: one hue per shard.
func (r *Report) styles() []nodeStyle {
	byAddr := map[string]Node{}
	for _, n := range r.Nodes {
		byAddr[n.Addr] = n
	}
	// Shards in the order of their masters' addresses.
	var masters []Node
	for _, n := range r.Nodes {
		if n.Role == "master" {
			masters = append(masters, n)
		}
	}
	sort.Slice(masters, func(i, j int) bool { return masters[i].Announce < masters[j].Announce })
	shardOf := map[string]int{}
	for i, m := range masters {
		shardOf[m.ID] = i
	}
	replicaIdx := map[string]int{}
	var out []nodeStyle
	for i, s := range r.Series {
		n, known := byAddr[s.Node]
		st := nodeStyle{Node: s.Node}
		port := s.Port
		if known && n.Announce != "" {
			port = n.Announce
		}
		st.Label = port
		switch {
		case known && n.Role == "master":
			h := hues[shardOf[n.ID]%len(hues)]
			st.Color, st.Label = h[0], port+" master"
		case known && n.Role != "" && n.MasterID != "":
			k := shardOf[n.MasterID]
			replicaIdx[n.MasterID]++
			h := hues[k%len(hues)]
			st.Color, st.Dash = h[min(replicaIdx[n.MasterID], 2)], "5 3"
			st.Label = port + " replica"
		default:
			st.Color = hues[i%len(hues)][i/len(hues)%3]
		}
		if known {
			st.Label += " (" + n.Addr + ")"
		} else {
			st.Label += " (" + s.Node + ")"
		}
		out = append(out, st)
	}
	return out
}

// chart renders the timeline as SVG.
func (r *Report) chart() string {
	start, end := r.Run.Start, r.Run.End
	if !end.After(start) {
		end = start.Add(time.Second)
	}
	span := end.Sub(start).Seconds()
	x := func(t time.Time) float64 {
		f := t.Sub(start).Seconds() / span
		return padL + math.Max(0, math.Min(1, f))*plotW
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet" role="img" aria-label="timeline">`,
		chartW, chartH)
	b.WriteString(`<rect x="0" y="0" width="100%" height="100%" fill="#ffffff"/>`)

	// Bands' captions.
	caption := func(y int, text string) {
		fmt.Fprintf(&b, `<text class="cap" x="%d" y="%d" text-anchor="end">%s</text>`, padL-8, y, esc(text))
	}
	caption(yScenarios+15, "scenarios")
	caption(yFaults+19, "faults")

	// Scenarios: a band per scenario, phase ticks.
	for i, sc := range r.Scenarios {
		if sc.Status == StatusNotPlayed {
			continue
		}
		x0, x1 := x(sc.Start), x(orEnd(sc.End, end))
		fill := []string{"#eef2f7", "#e4e9f1"}[i%2]
		fmt.Fprintf(&b, `<g class="scenario" data-scenario="%s"><title>%s</title>`, esc(sc.Name), esc(r.proxyNames(scenarioTitle(&sc, start))))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" stroke="#b8c2d0" stroke-width="0.5"/>`,
			x0, yScenarios, math.Max(x1-x0, 1), bandH, fill)
		fmt.Fprintf(&b, `<text class="band" x="%.1f" y="%d">%s</text>`, x0+4, yScenarios+15, esc(fit(sc.Name, x1-x0-8)))
		for _, p := range sc.Phases {
			px := x(p.Start)
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#8a96a8" stroke-width="1"><title>%s</title></line>`,
				px, px, yScenarios+bandH-6, yRedir+redirH, esc(sc.Name+": "+p.Name+" at "+offset(p.Start, start)))
		}
		b.WriteString(`</g>`)
	}

	// Fault windows, shaded from the fault band down to the errors panel;
	// overlapping faults share the band in lanes.
	var faults []checker.FaultWindow
	for _, sc := range r.Scenarios {
		faults = append(faults, sc.Faults...)
	}
	lanes := laneOf(faults, end)
	nl := 1
	for _, l := range lanes {
		nl = max(nl, l+1)
	}
	laneH := float64(faultH) / float64(nl)
	for i, f := range faults {
		x0, x1 := x(f.Start), x(orEnd(f.End, end))
		c := faultColor(f.Action)
		ly := float64(yFaults) + float64(lanes[i])*laneH
		fmt.Fprintf(&b, `<g class="fault-window"><title>%s</title>`, esc(r.faultTitle(f, start)))
		fmt.Fprintf(&b, `<rect class="fault" data-fault="%s" data-action="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.12"/>`,
			esc(f.ID), esc(f.Action), x0, ly, math.Max(x1-x0, 1.5), float64(yRedir+redirH)-ly, c)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.88" stroke="#fff" stroke-width="0.6"/>`,
			x0, ly, math.Max(x1-x0, 1.5), laneH, c)
		if laneH >= 10 {
			fmt.Fprintf(&b, `<text class="band light" x="%.1f" y="%.1f" font-size="%.1f">%s</text>`, x0+4, ly+laneH*0.72,
				math.Min(11, laneH*0.75), esc(fit(f.Action+" "+r.shortNodes(f.Nodes), x1-x0-8)))
		}
		b.WriteString(`</g>`)
	}

	styles := r.styles()
	thrMax, errMax, redirMax := 1, 1, 1
	for _, s := range r.Series {
		for _, p := range s.Points {
			thrMax = max(thrMax, p.Commands)
			errMax = max(errMax, p.Errors)
			redirMax = max(redirMax, p.Redirects)
		}
	}
	thrTop, errTop, redirTop := 4*niceCeil((thrMax+3)/4), 4*niceCeil((errMax+3)/4), 4*niceCeil((redirMax+3)/4)
	panel := func(y, h int, top int, title, kind string, value func(checker.Point) int) {
		fmt.Fprintf(&b, `<text class="title" x="%d" y="%d">%s</text>`, padL, y-7, esc(title))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#c9d1dc"/>`, padL, y, plotW, h)
		for i := 0; i <= 4; i++ {
			gy := float64(y+h) - float64(h)*float64(i)/4
			if i > 0 && i < 4 {
				fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e6eaf0"/>`, padL, padL+plotW, gy, gy)
			}
			fmt.Fprintf(&b, `<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, gy+4, human(top*i/4))
		}
		for i, s := range r.Series {
			st := styles[i]
			var pts []string
			for _, p := range s.Points {
				px := x(p.Time.Add(500 * time.Millisecond))
				py := float64(y+h) - float64(h)*float64(value(p))/float64(top)
				pts = append(pts, strconv.FormatFloat(px, 'f', 1, 64)+","+strconv.FormatFloat(py, 'f', 1, 64))
			}
			dash := ""
			if st.Dash != "" {
				dash = ` stroke-dasharray="` + st.Dash + `"`
			}
			fmt.Fprintf(&b, `<polyline class="series" data-chart="%s" data-node="%s" points="%s" fill="none" stroke="%s" stroke-width="1.6"%s stroke-linejoin="round"><title>%s</title></polyline>`,
				kind, esc(s.Node), strings.Join(pts, " "), st.Color, dash, esc(st.Label))
		}
	}
	panel(yThr, thrH, thrTop, "commands/s per node", "throughput", func(p checker.Point) int { return p.Commands })
	panel(yErr, errH, errTop, "errors/s per node (error replies, commands left without a reply, connections reset)", "errors",
		func(p checker.Point) int { return p.Errors })
	panel(yRedir, redirH, redirTop, "redirects/s per node (MOVED and ASK: a cluster client follows them)", "redirects",
		func(p checker.Point) int { return p.Redirects })

	// Findings lane.
	fmt.Fprintf(&b, `<text class="title" x="%d" y="%d">findings</text>`, padL, yFind-7)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fafbfc" stroke="#c9d1dc"/>`, padL, yFind, plotW, findH)
	for i := range r.Findings {
		f := &r.Findings[i]
		row := i % 3
		cy := float64(yFind) + 9 + float64(row)*13
		seen := map[int]bool{}
		times := []time.Time{f.FirstSeen}
		for _, e := range f.Evidence {
			times = append(times, e.Time)
		}
		label := -1.0 // the number goes left of the finding's first marker
		for _, t := range times {
			if t.Before(start) || t.After(end) {
				continue
			}
			px := x(t)
			if seen[int(px/3)] {
				continue
			}
			seen[int(px/3)] = true
			fmt.Fprintf(&b, `<g class="finding" data-rule="%s" data-severity="%s"><title>#%d %s (%s) by %s at %s</title>`,
				esc(f.Rule), f.Severity, i+1, esc(f.Rule), f.Severity, esc(f.Client.String()), offset(t, start))
			fmt.Fprintf(&b, `<path d="M%.1f %.1f l5 5 l-5 5 l-5 -5 z" fill="%s" stroke="#fff" stroke-width="0.8"/>`, px, cy-5, sevColor(f.Severity))
			b.WriteString(`</g>`)
			if label < 0 {
				label = px
			}
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-opacity="0.35" stroke-dasharray="2 3"/>`,
				px, px, yThr, yRedir+redirH, sevColor(f.Severity))
		}
		if label >= 0 {
			fmt.Fprintf(&b, `<text class="num" x="%.1f" y="%.1f" text-anchor="end">%d</text>`, math.Max(label-7, padL-3), cy+4, i+1)
		}
	}

	// Time axis.
	step := tickStep(span)
	ay := yFind + findH
	for s := 0.0; s <= span+1e-9; s += step {
		px := padL + s/span*plotW
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#9aa5b4"/>`, px, px, ay, ay+5)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>`, px, ay+18, axisLabel(s, start))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func orEnd(t, end time.Time) time.Time {
	if t.IsZero() || t.After(end) {
		return end
	}
	return t
}

func esc(s string) string { return html.EscapeString(s) }

// fit shortens a label to about the width available (px, ~6.2 px a character).
func fit(s string, width float64) string {
	n := int(width / 6.2)
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	return s[:n-1] + "…"
}

// shortNodes names nodes by the proxy address clients use.
func (r *Report) shortNodes(nodes []string) string {
	if len(nodes) > 3 {
		return fmt.Sprintf("%d nodes", len(nodes))
	}
	var out []string
	for _, n := range nodes {
		out = append(out, r.announce(n))
	}
	return strings.Join(out, " ")
}

// announce returns the proxy address of a real node, or the address itself.
func (r *Report) announce(addr string) string {
	for _, n := range r.Nodes {
		if n.Addr == addr && n.Announce != "" {
			return n.Announce
		}
	}
	return addr
}

// token is a word of free text that may be a node address.
var token = regexp.MustCompile(`[^\s,;()]+`)

// proxyNames rewrites the real node addresses in free text (a scenario's
// detail) to the proxy addresses clients use, as the fault columns name them.
func (r *Report) proxyNames(s string) string {
	return token.ReplaceAllStringFunc(s, r.announce)
}

func (r *Report) faultTitle(f checker.FaultWindow, start time.Time) string {
	var nodes []string
	for _, n := range f.Nodes {
		if a := r.announce(n); a != n {
			nodes = append(nodes, a+" ("+n+")")
		} else {
			nodes = append(nodes, n)
		}
	}
	s := fmt.Sprintf("fault %s: %s on %s from %s", f.ID, f.Action, strings.Join(nodes, ", "), offset(f.Start, start))
	if !f.End.IsZero() {
		s += " to " + offset(f.End, start)
	}
	if f.Detail != "" {
		s += " — " + f.Detail
	}
	return s
}

func scenarioTitle(sc *Scenario, start time.Time) string {
	s := fmt.Sprintf("%s: %s to %s", sc.Name, offset(sc.Start, start), offset(sc.End, start))
	if sc.Detail != "" {
		s += " — " + sc.Detail
	}
	if !sc.Complete() {
		s += " — " + sc.Status
		if sc.Reason != "" {
			s += ": " + sc.Reason
		}
	}
	return s
}

func faultColor(action string) string {
	switch action {
	case "down", "kill", "stop":
		return "#c62828"
	case "hang", "pause":
		return "#6a1b9a"
	case "latency":
		return "#ef6c00"
	case "reset":
		return "#ad1457"
	case "error":
		return "#d84315"
	case "failover":
		return "#1565c0"
	case "migrate":
		return "#00838f"
	}
	return "#546e7a"
}

func sevColor(s checker.Severity) string {
	switch s {
	case checker.High:
		return "#c62828"
	case checker.Medium:
		return "#ef8f00"
	case checker.Low:
		return "#1e88e5"
	}
	return "#78909c"
}

// niceCeil rounds up to 1, 2 or 5 × 10^k.
func niceCeil(v int) int {
	if v <= 1 {
		return 1
	}
	p := 1
	for p*10 < v {
		p *= 10
	}
	for _, m := range []int{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func human(v int) string {
	switch {
	case v >= 1_000_000 && v%100_000 == 0:
		return strconv.FormatFloat(float64(v)/1e6, 'f', -1, 64) + "M"
	case v >= 1000 && v%100 == 0:
		return strconv.FormatFloat(float64(v)/1e3, 'f', -1, 64) + "k"
	}
	return strconv.Itoa(v)
}

// tickStep picks a tick interval (s) giving at most about 14 ticks.
func tickStep(span float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600} {
		if span/s <= 14 {
			return s
		}
	}
	return 7200
}

func axisLabel(s float64, start time.Time) string {
	if s == 0 {
		return start.UTC().Format("15:04:05")
	}
	d := time.Duration(s * float64(time.Second))
	if d < time.Minute {
		return "+" + strconv.Itoa(int(s)) + "s"
	}
	return fmt.Sprintf("+%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

// offset is t relative to the run's start: "+12.3s".
func offset(t, start time.Time) string {
	return "+" + strconv.FormatFloat(t.Sub(start).Seconds(), 'f', 1, 64) + "s"
}

// laneOf stacks overlapping fault windows: lane i is the lowest free one.
func laneOf(fs []checker.FaultWindow, end time.Time) []int {
	lanes := make([]int, len(fs))
	var busy []time.Time // lane → end of its last window
	order := make([]int, len(fs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return fs[order[a]].Start.Before(fs[order[b]].Start) })
	for _, i := range order {
		f := fs[i]
		l := 0
		for l < len(busy) && busy[l].After(f.Start) {
			l++
		}
		if l == len(busy) {
			busy = append(busy, time.Time{})
		}
		busy[l] = orEnd(f.End, end)
		lanes[i] = min(l, 3)
	}
	return lanes
}
