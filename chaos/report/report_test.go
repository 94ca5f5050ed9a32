package report

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
)

// sample is a report of a 60 s run over 6 nodes with two scenarios, three
// findings (one outside every scenario) and traffic with a dip.
func sample() *Report {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	r := &Report{Run: Run{ID: "run-1", Name: "ci", Mode: "simulate", Seed: 42, Start: start, End: start.Add(60 * time.Second),
		Command: []string{"go", "test", "./..."}, Checker: checker.Stats{Processed: 123456}}}
	exit := 0
	r.Run.ExitCode = &exit
	for i := 0; i < 6; i++ {
		n := Node{Addr: "10.0.0.1:" + itoa(30001+i), Announce: "127.0.0.1:" + itoa(7001+i), ID: "id" + itoa(i), Role: "master"}
		if i >= 3 {
			n.Role, n.MasterID = "replica", "id"+itoa(i-3)
		}
		r.Nodes = append(r.Nodes, n)
		s := checker.NodeSeries{Node: n.Addr, Port: n.Announce}
		for sec := 0; sec < 60; sec++ {
			p := checker.Point{Time: start.Add(time.Duration(sec) * time.Second), Commands: 1000 + 10*i}
			if i == 0 && sec >= 10 && sec < 20 {
				p.Commands, p.Errors = 0, 40
			}
			s.Points = append(s.Points, p)
		}
		r.Series = append(r.Series, s)
	}
	ev := func(sec float64, cmd, reply string) checker.EvidenceEvent {
		return checker.EvidenceEvent{Time: start.Add(time.Duration(sec * float64(time.Second))), Type: "command", Conn: 7,
			Node: "10.0.0.1:30001", Port: "127.0.0.1:7001", Command: cmd, Slot: 12, Reply: reply}
	}
	r.Scenarios = []Scenario{
		{Name: "master-down", Detail: "master 127.0.0.1:7001", Expect: "errors for one shard until the failover",
			Start: start.Add(10 * time.Second), End: start.Add(25 * time.Second),
			Phases: []Phase{{"inject", start.Add(10 * time.Second), start.Add(10 * time.Second)}, {"hold", start.Add(10 * time.Second), start.Add(20 * time.Second)}, {"recover", start.Add(20 * time.Second), start.Add(25 * time.Second)}},
			Faults: []checker.FaultWindow{{ID: "f1", Action: "down", Nodes: []string{"10.0.0.1:30001"}, Start: start.Add(10 * time.Second), End: start.Add(20 * time.Second)}}},
		{Name: "latency", Start: start.Add(30 * time.Second), End: start.Add(45 * time.Second),
			Faults: []checker.FaultWindow{{ID: "f2", Action: "latency", Nodes: []string{"10.0.0.1:30002"}, Start: start.Add(30 * time.Second), End: start.Add(40 * time.Second)},
				{ID: "f3", Action: "error", Nodes: []string{"10.0.0.1:30003"}, Start: start.Add(32 * time.Second), End: start.Add(36 * time.Second), Detail: "MOVED"}}},
	}
	client := checker.ClientID{Addr: "10.1.1.1", LibName: "go-redis(,go1.26)", LibVer: "9.23.0"}
	r.Findings = []checker.Finding{
		{Rule: checker.RuleUnsafeRetry, Severity: checker.High, Title: "Non-idempotent commands are resent", Client: client,
			FirstSeen: start.Add(12 * time.Second), LastSeen: start.Add(14 * time.Second), Count: 3, Nodes: []string{"10.0.0.1:30001"},
			Evidence:    []checker.EvidenceEvent{ev(12, "INCR", "none"), ev(12.3, "INCR", ":")},
			Explanation: "may run twice", Correct: "do not retry", Remedy: "MaxRedirects -1"},
		{Rule: checker.RuleTopologyRefreshStorm, Severity: checker.Medium, Title: "The topology is re-read too often", Client: client,
			FirstSeen: start.Add(33 * time.Second), LastSeen: start.Add(35 * time.Second), Count: 1,
			Evidence:    []checker.EvidenceEvent{ev(33, "CLUSTER SLOTS", "*")},
			Explanation: "storm", Correct: "coalesce", Remedy: "reload interval"},
		{Rule: checker.RuleDangerousCommand, Severity: checker.Medium, Title: "Administrative commands", Client: checker.ClientID{Addr: "10.1.1.2"},
			FirstSeen: start.Add(50 * time.Second), LastSeen: start.Add(50 * time.Second), Count: 1,
			Evidence:    []checker.EvidenceEvent{ev(50, "KEYS", "*")},
			Explanation: "KEYS blocks", Correct: "SCAN", Remedy: "use SCAN", Remedies: map[string]string{"go-redis": "Scan"}},
	}
	r.Clients = []checker.ClientInfo{{ClientID: client, Library: "go-redis", Commands: 10000, Connects: 12, Nodes: []string{"10.0.0.1:30001"}}}
	r.normalize()
	return r
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestJSONRoundTrip(t *testing.T) {
	r := sample()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// The same document again, and the same values from then on (a nil
	// slice comes back empty the first time).
	a, b := new(bytes.Buffer), new(bytes.Buffer)
	r.WriteJSON(a)
	back.WriteJSON(b)
	if a.String() != b.String() {
		t.Fatalf("round trip differs:\n%s\n----\n%s", a, b)
	}
	again, err := ReadJSON(bytes.NewReader(b.Bytes()))
	if err != nil || !reflect.DeepEqual(back, again) {
		t.Fatalf("second round trip differs: %v", err)
	}
	if !back.Run.Start.Equal(r.Run.Start) || len(back.Findings[0].Evidence) != 2 || *back.Run.ExitCode != 0 ||
		back.Scenarios[1].Faults[1].Detail != "MOVED" || back.Series[0].Points[15].Errors != 40 {
		t.Fatalf("values lost: %+v", back.Run)
	}
	if _, err := ReadJSON(strings.NewReader(`{"version": 99}`)); err == nil {
		t.Fatal("a newer version was accepted")
	}
}

func TestJUnit(t *testing.T) {
	r := sample()
	var buf bytes.Buffer
	if err := r.WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, buf.String())
	}
	rules := len(checker.Rules())
	// The command's exit status, two scenarios and the findings outside them.
	if len(doc.Suites) != 4 || doc.Tests != 3*rules+1 || doc.Failures != 3 {
		t.Fatalf("suites %d, tests %d, failures %d; want 4, %d, 3", len(doc.Suites), doc.Tests, doc.Failures, 3*rules+1)
	}
	if s := doc.Suites[0]; s.Name != "command" || s.Tests != 1 || s.Failures != 0 || s.Cases[0].Name != "exit status" {
		t.Fatalf("command suite %+v", s)
	}
	doc.Suites = doc.Suites[1:]
	want := map[string]string{"master-down": checker.RuleUnsafeRetry, "latency": checker.RuleTopologyRefreshStorm,
		"outside scenarios": checker.RuleDangerousCommand}
	for _, s := range doc.Suites {
		if s.Tests != rules || s.Failures != 1 {
			t.Errorf("suite %s: %d tests, %d failures", s.Name, s.Tests, s.Failures)
		}
		for _, c := range s.Cases {
			if c.Failure == nil {
				continue
			}
			if c.Name != want[s.Name] {
				t.Errorf("suite %s: %s failed, want %s", s.Name, c.Name, want[s.Name])
			}
			if !strings.Contains(c.Failure.Text, "evidence:") || !strings.Contains(c.Failure.Text, "conn 7") {
				t.Errorf("failure without evidence: %q", c.Failure.Text)
			}
		}
	}
	// FailOn high: the medium findings pass, with a note.
	r.FailOn = checker.High
	doc = r.JUnit()
	if doc.Failures != 1 {
		t.Fatalf("fail-on high: %d failures, want 1", doc.Failures)
	}
	notes := 0
	for _, s := range doc.Suites[1:] { // [0]: the command
		for _, c := range s.Cases {
			if c.SystemOut != "" {
				notes++
			}
		}
	}
	if notes != 2 {
		t.Fatalf("%d notes for findings below fail-on, want 2", notes)
	}
	// No scenarios: one suite for the run.
	r.Scenarios = nil
	r.Run.ExitCode = nil
	if doc = r.JUnit(); len(doc.Suites) != 1 || doc.Suites[0].Name != "run" || doc.Tests != rules {
		t.Fatalf("without scenarios: %+v", doc.Suites)
	}
}

func TestHTML(t *testing.T) {
	r := sample()
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, kind := range []string{"throughput", "errors", "redirects"} {
		for _, n := range r.Nodes {
			re := regexp.MustCompile(`<polyline class="series" data-chart="` + kind + `" data-node="` + regexp.QuoteMeta(n.Addr) + `"`)
			if got := len(re.FindAllString(page, -1)); got != 1 {
				t.Errorf("%s chart: %d series for %s, want 1", kind, got, n.Addr)
			}
		}
	}
	if got := strings.Count(page, `<polyline class="series"`); got != 3*len(r.Nodes) {
		t.Errorf("%d series, want %d", got, 3*len(r.Nodes))
	}
	for _, id := range []string{"f1", "f2", "f3"} {
		if !strings.Contains(page, `<rect class="fault" data-fault="`+id+`"`) {
			t.Errorf("fault window %s missing", id)
		}
	}
	if got := strings.Count(page, `<g class="finding"`); got < len(r.Findings) {
		t.Errorf("%d finding markers, want at least %d", got, len(r.Findings))
	}
	for _, s := range []string{"unsafe-retry", "MaxRedirects -1", "master-down", "FAIL", "go test ./..."} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	// Self-contained: no external resources, no script.
	for _, bad := range []string{"<script", "src=\"http", "href=\"http", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFiles(dir, sample()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{FileJSON, FileJUnit, FileHTML} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestEmptyReport(t *testing.T) {
	r := &Report{Run: Run{Name: "empty", Start: time.Now()}}
	r.normalize()
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "No unsafe client behaviour observed") {
		t.Fatal("empty report")
	}
	if err := r.WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
}

// verdictOf reads the headline of the HTML page.
func verdictOf(t *testing.T, r *Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)<div class="verdict (pass|fail)" id="verdict"><b>(PASS|FAIL)</b>(.*?)</div>`).FindStringSubmatch(buf.String())
	if m == nil {
		t.Fatal("no verdict on the page")
	}
	if (m[1] == "fail") != (m[2] == "FAIL") {
		t.Fatalf("verdict class %s, text %s", m[1], m[2])
	}
	return m[2] + m[3]
}

func TestVerdictCommandFailed(t *testing.T) {
	r := sample()
	r.Findings = nil // no finding: only the command fails
	exit := 1
	r.Run.ExitCode = &exit
	v := r.Verdict()
	if !v.Failed || len(v.Reasons) != 1 || !strings.Contains(v.Reasons[0], "the command failed (exit status 1)") {
		t.Fatalf("verdict %+v", v)
	}
	if h := verdictOf(t, r); !strings.HasPrefix(h, "FAIL") || !strings.Contains(h, "the command failed (exit status 1)") {
		t.Fatalf("HTML headline %q", h)
	}
	doc := r.JUnit()
	if doc.Failures != 1 || doc.Suites[0].Name != "command" || doc.Suites[0].Cases[0].Failure == nil ||
		!strings.Contains(doc.Suites[0].Cases[0].Failure.Message, "exit status 1") {
		t.Fatalf("JUnit: %d failures, first suite %+v", doc.Failures, doc.Suites[0])
	}
	// The command's failure comes first, before the findings.
	r = sample()
	r.Run.ExitCode = &exit
	if v := r.Verdict(); len(v.Reasons) != 2 || !strings.HasPrefix(v.Reasons[0], "the command failed") ||
		v.Reasons[1] != "3 findings at or above low" {
		t.Fatalf("verdict %+v", v)
	}
	// Exit 0 and no finding: PASS everywhere.
	r = sample()
	r.Findings = nil
	if h := verdictOf(t, r); !strings.HasPrefix(h, "PASS") || r.JUnit().Failures != 0 {
		t.Fatalf("PASS run: headline %q, JUnit failures %d", h, r.JUnit().Failures)
	}
}

func TestVerdictIncomplete(t *testing.T) {
	r := sample()
	r.Findings = nil
	r.Scenarios[1].Status, r.Scenarios[1].Reason = StatusCut, "the command ended 3s into hold (of 10s)"
	r.Scenarios = append(r.Scenarios, Scenario{Name: "hang", Status: StatusNotPlayed, Reason: "the command ended before it started"})
	r.normalize()
	rules := len(checker.Rules())
	for _, fail := range []bool{true, false} {
		r.FailIncomplete = fail
		v := r.Verdict()
		if v.Failed != fail || len(v.Reasons)+len(v.Notes) != 2 {
			t.Fatalf("fail %v: verdict %+v", fail, v)
		}
		h := verdictOf(t, r)
		if !strings.Contains(h, "scenario latency cut short: the command ended 3s into hold") ||
			!strings.Contains(h, "scenario hang not played") || strings.HasPrefix(h, "FAIL") != fail {
			t.Fatalf("fail %v: headline %q", fail, h)
		}
		doc := r.JUnit()
		byName := map[string]JUnitSuite{}
		for _, s := range doc.Suites {
			byName[s.Name] = s
		}
		lat, hang := byName["latency"], byName["hang"]
		if len(lat.Cases) != rules+1 || lat.Cases[0].Name != "completed" || len(hang.Cases) != rules+1 {
			t.Fatalf("fail %v: suites %+v", fail, doc.Suites)
		}
		if fail {
			if lat.Cases[0].Failure == nil || hang.Cases[0].Failure == nil || doc.Failures != 2 ||
				!strings.Contains(lat.Cases[0].Failure.Message, "3s into hold") {
				t.Fatalf("incomplete scenarios do not fail: %+v / %+v", lat.Cases[0], hang.Cases[0])
			}
		} else if lat.Cases[0].Skipped == nil || hang.Cases[0].Skipped == nil || doc.Failures != 0 {
			t.Fatalf("incomplete scenarios not skipped: %+v / %+v", lat.Cases[0], hang.Cases[0])
		}
		if hang.Skipped < rules || hang.Cases[1].Skipped == nil {
			t.Fatalf("rules of a scenario never played are not skipped: %+v", hang)
		}
		if lat.Cases[1].Skipped != nil {
			t.Fatal("the rules of a scenario cut short were not judged")
		}
	}
	// The never-played scenario is listed last and not drawn.
	if r.Scenarios[len(r.Scenarios)-1].Name != "hang" {
		t.Fatalf("order %v", r.Scenarios)
	}
	var buf bytes.Buffer
	r.WriteHTML(&buf)
	if strings.Contains(buf.String(), `data-scenario="hang"`) {
		t.Fatal("a scenario never played is drawn on the timeline")
	}
}

// TestHTMLNamesProxyAddresses: the scenarios table names nodes by the proxy
// addresses clients use, in its text as in its fault column (the scenario's
// detail carries the real addresses the engine picked).
func TestHTMLNamesProxyAddresses(t *testing.T) {
	r := sample()
	r.Scenarios[0].Detail = "one master; nodes 10.0.0.1:30002, 10.0.0.1:30005 (10.0.0.1:300021 is no node)"
	r.Scenarios[0].Faults[0].Nodes = []string{"10.0.0.1:30002"}
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	start, end := strings.Index(page, "<h2>Scenarios</h2>"), strings.Index(page, "<h2>Findings</h2>")
	if start < 0 || end < start {
		t.Fatal("no scenarios table")
	}
	table := page[start:end]
	for _, want := range []string{"nodes 127.0.0.1:7002, 127.0.0.1:7005 (10.0.0.1:300021 is no node)", "down 127.0.0.1:7002"} {
		if !strings.Contains(table, want) {
			t.Errorf("scenarios table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "10.0.0.1:30002 ") || strings.Contains(table, "10.0.0.1:30002,") {
		t.Errorf("scenarios table names a real address:\n%s", table)
	}
	if !regexp.MustCompile(`<title>master-down: [^<]*one master; nodes 127\.0\.0\.1:7002, 127\.0\.0\.1:7005`).MatchString(page) {
		t.Errorf("the chart's scenario band does not name proxy addresses")
	}
}
