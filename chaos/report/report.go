// Package report turns a chaos run — its scenarios and fault windows, the
// traffic per node and the checker's findings — into a JSON document, JUnit
// XML for CI (one test case per scenario × rule) and a self-contained HTML
// page with a timeline chart.
//
//	r := report.Build(ck, report.Run{Name: "ci", Mode: "simulate", Start: start, End: time.Now()},
//		scenarios, report.NodesFrom(srv.Nodes()))
//	r.FailOn = checker.Medium
//	err := report.WriteFiles("reports/", r) // report.json, junit.xml, report.html
//
// A saved report.json can be read back with ReadJSON and rendered again.
package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/proxy"
)

// Version is the version of the JSON document.
const Version = 1

// Report is one run.
type Report struct {
	Version   int                  `json:"version"`
	Run       Run                  `json:"run"`
	Nodes     []Node               `json:"nodes"`
	Scenarios []Scenario           `json:"scenarios"`
	Series    []checker.NodeSeries `json:"series"` // traffic per node, 1 s buckets, Run.Start to Run.End
	Findings  []checker.Finding    `json:"findings"`
	Clients   []checker.ClientInfo `json:"clients"`
	Rules     []RuleRef            `json:"rules"` // the catalogue the run was checked against
	// Thresholds are the checker's thresholds in effect, by name (so that a
	// report says when a run was judged with other than the defaults).
	Thresholds map[string]string `json:"thresholds,omitempty"`
	// FailOn is the severity from which a finding fails the run (and its
	// JUnit test case); empty means any finding of severity low or more.
	FailOn checker.Severity `json:"fail_on,omitempty"`
	// FailIncomplete makes a scenario cut short or never played fail the
	// run (and its JUnit test case); otherwise it is reported as skipped.
	FailIncomplete bool `json:"fail_incomplete,omitempty"`
}

// Run describes the run.
type Run struct {
	ID       string        `json:"id,omitempty"`
	Name     string        `json:"name"`
	Mode     string        `json:"mode,omitempty"` // simulate or real
	Seed     uint64        `json:"seed,omitempty"`
	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end"`
	Command  []string      `json:"command,omitempty"`   // the application's test command
	ExitCode *int          `json:"exit_code,omitempty"` // its exit status, when it ran
	Seeds    []string      `json:"seeds,omitempty"`     // addresses given to the application
	Checker  checker.Stats `json:"checker"`
}

// Duration is the run's length.
func (r Run) Duration() time.Duration { return r.End.Sub(r.Start) }

// Node is one cluster node as the run saw it.
type Node struct {
	Addr     string `json:"addr"`     // real address
	Announce string `json:"announce"` // proxy address told to clients
	ID       string `json:"id,omitempty"`
	Role     string `json:"role,omitempty"`
	MasterID string `json:"master_id,omitempty"`
}

// NodesFrom converts the proxy's node list.
func NodesFrom(ns []proxy.NodeInfo) []Node {
	out := make([]Node, 0, len(ns))
	for _, n := range ns {
		out = append(out, Node{Addr: n.Addr, Announce: n.Announce, ID: n.ID, Role: n.Role, MasterID: n.MasterID})
	}
	return out
}

// Scenario is one scenario (or one step of a plan) of the run.
type Scenario struct {
	Name   string                `json:"name"`
	Detail string                `json:"detail,omitempty"` // what fails
	Expect string                `json:"expect,omitempty"` // what a safe client should observe
	Start  time.Time             `json:"start"`
	End    time.Time             `json:"end"`
	Phases []Phase               `json:"phases,omitempty"`
	Faults []checker.FaultWindow `json:"faults,omitempty"`
	// Status is StatusDone (or empty) when the scenario played to the end
	// of its recovery, StatusCut when it was stopped before (the command
	// ended), StatusNotPlayed when it never started; Reason says why.
	Status string `json:"status,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Writes is what a network partition of the scenario did to the writes
	// acknowledged during it; nil when it had none.
	Writes *Writes `json:"writes,omitempty"`
}

// Writes is what a network partition did to the writes clients sent through
// the proxy while it lasted.
type Writes struct {
	// Acknowledged counts the writes acknowledged by the masters cut off
	// from the majority of the masters.
	Acknowledged int `json:"acknowledged"`
	// Lost counts those gone after the heal (real mode), or, with AtRisk,
	// those a real cluster would have lost (simulate mode).
	Lost   int  `json:"lost"`
	AtRisk bool `json:"at_risk,omitempty"`
	// Demoted are the masters (real addresses) that lost their slots.
	Demoted []string `json:"demoted,omitempty"`
	// List holds the lost writes (at most MaxListedWrites).
	List []checker.LostWrite `json:"list,omitempty"`
}

// MaxListedWrites bounds Writes.List.
const MaxListedWrites = 1000

// String is one line: "149 acknowledged writes lost (of 149 acknowledged by
// the cut-off masters)".
func (w *Writes) String() string {
	what := "lost"
	if w.AtRisk {
		what = "at risk (a real cluster loses them)"
	}
	return fmt.Sprintf("%d acknowledged writes %s, of %d acknowledged by the cut-off masters", w.Lost, what, w.Acknowledged)
}

// Scenario statuses.
const (
	StatusDone      = "done"
	StatusCut       = "cut short"
	StatusNotPlayed = "not played"
)

// Complete reports whether the scenario played to its end.
func (s *Scenario) Complete() bool { return s.Status == "" || s.Status == StatusDone }

// Phase is a part of a scenario (inject, hold, recover).
type Phase struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// RuleRef names a rule of the catalogue.
type RuleRef struct {
	ID       string           `json:"id"`
	Severity checker.Severity `json:"severity"`
	Title    string           `json:"title"`
}

// Build collects a report from a checker. Findings, clients and the traffic
// series come from the checker; flush it first (Checker.Flush) so that the
// last events are in.
func Build(ck *checker.Checker, run Run, scenarios []Scenario, nodes []Node) *Report {
	if run.End.IsZero() {
		run.End = time.Now()
	}
	run.Checker = ck.Stats()
	r := &Report{
		Version:   Version,
		Run:       run,
		Nodes:     nodes,
		Scenarios: scenarios,
		Series:    ck.Series(run.Start, run.End),
		Findings:  ck.Findings(),
		Clients:   ck.Clients(),
	}
	in := ck.RulesInEffect()
	r.Thresholds = in.Thresholds
	for _, rule := range in.Rules {
		r.Rules = append(r.Rules, RuleRef{ID: rule.ID, Severity: rule.Severity, Title: rule.Title})
	}
	r.fillSeries()
	r.normalize()
	return r
}

// fillSeries gives every node a series, zeros for nodes without traffic, so
// that the chart has one line per node.
func (r *Report) fillSeries() {
	have := map[string]bool{}
	for _, s := range r.Series {
		have[s.Node] = true
	}
	for _, n := range r.Nodes {
		if have[n.Addr] {
			continue
		}
		s := checker.NodeSeries{Node: n.Addr, Port: n.Announce}
		for t := r.Run.Start.Truncate(time.Second); !t.After(r.Run.End); t = t.Add(time.Second) {
			s.Points = append(s.Points, checker.Point{Time: t.UTC()})
		}
		r.Series = append(r.Series, s)
	}
	sort.Slice(r.Series, func(i, j int) bool { return r.Series[i].Node < r.Series[j].Node })
}

// normalize fills defaults and sorts, so that a report reads the same after
// a JSON round trip.
func (r *Report) normalize() {
	if r.Version == 0 {
		r.Version = Version
	}
	if len(r.Rules) == 0 {
		for _, rule := range checker.Rules() {
			r.Rules = append(r.Rules, RuleRef{ID: rule.ID, Severity: rule.Severity, Title: rule.Title})
		}
	}
	sort.SliceStable(r.Scenarios, func(i, j int) bool {
		a, b := &r.Scenarios[i], &r.Scenarios[j]
		if (a.Status == StatusNotPlayed) != (b.Status == StatusNotPlayed) {
			return b.Status == StatusNotPlayed // never played: after those played, in their order
		}
		return a.Start.Before(b.Start)
	})
	sort.SliceStable(r.Nodes, func(i, j int) bool { return r.Nodes[i].Announce < r.Nodes[j].Announce })
}

// failOn returns the effective threshold.
func (r *Report) failOn() checker.Severity {
	if r.FailOn == "" {
		return checker.Low
	}
	return r.FailOn
}

// Failed reports whether the run failed: Verdict().Failed.
func (r *Report) Failed() bool { return r.Verdict().Failed }

// FailingFindings counts the findings at or above FailOn.
func (r *Report) FailingFindings() int {
	n := 0
	for i := range r.Findings {
		if r.Findings[i].Severity.AtLeast(r.failOn()) {
			n++
		}
	}
	return n
}

// CommandFailed reports whether the tested command ran and exited non-zero.
func (r *Report) CommandFailed() bool { return r.Run.ExitCode != nil && *r.Run.ExitCode != 0 }

// Incomplete returns the scenarios cut short or never played.
func (r *Report) Incomplete() []*Scenario {
	var out []*Scenario
	for i := range r.Scenarios {
		if !r.Scenarios[i].Complete() {
			out = append(out, &r.Scenarios[i])
		}
	}
	return out
}

// Verdict is the run's result as every output states it (the HTML
// headline, the JUnit file, redis-chaos run's exit code).
type Verdict struct {
	Failed bool
	// Reasons say why it failed: the command's failure first, then the
	// findings, then the scenarios not played to their end.
	Reasons []string
	// Notes are what did not fail the run but limits what it shows
	// (scenarios not played to their end, without FailIncomplete).
	Notes []string
}

// Verdict judges the run.
func (r *Report) Verdict() Verdict {
	var v Verdict
	if r.CommandFailed() {
		v.Reasons = append(v.Reasons, "the command failed (exit status "+strconv.Itoa(*r.Run.ExitCode)+")")
	}
	if n := r.FailingFindings(); n > 0 {
		v.Reasons = append(v.Reasons, plural(n, "finding")+" at or above "+string(r.failOn()))
	}
	for _, s := range r.Incomplete() {
		text := "scenario " + s.Name + " " + s.Status
		if s.Reason != "" {
			text += ": " + s.Reason
		}
		if r.FailIncomplete {
			v.Reasons = append(v.Reasons, text)
		} else {
			v.Notes = append(v.Notes, text)
		}
	}
	v.Failed = len(v.Reasons) > 0
	return v
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// During reports whether a finding occurred during [from, to]: one of its
// evidence events falls inside (or, without evidence, its first/last seen
// overlap).
func During(f *checker.Finding, from, to time.Time) bool {
	for _, e := range f.Evidence {
		if !e.Time.Before(from) && !e.Time.After(to) {
			return true
		}
	}
	if len(f.Evidence) == 0 {
		return !f.FirstSeen.After(to) && !f.LastSeen.Before(from)
	}
	return false
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("report: read JSON: %w", err)
	}
	if r.Version > Version {
		return nil, fmt.Errorf("report: version %d is newer than this program's %d", r.Version, Version)
	}
	r.normalize()
	return &r, nil
}

// Files written by WriteFiles.
const (
	FileJSON  = "report.json"
	FileJUnit = "junit.xml"
	FileHTML  = "report.html"
)

// WriteFiles writes report.json, junit.xml and report.html into dir.
func WriteFiles(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var errs []error
	for name, write := range map[string]func(io.Writer) error{
		FileJSON: r.WriteJSON, FileJUnit: r.WriteJUnit, FileHTML: r.WriteHTML,
	} {
		errs = append(errs, writeFile(filepath.Join(dir, name), write))
	}
	return errors.Join(errs...)
}

func writeFile(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("report: %w", err)
	}
	return os.Rename(tmp, path)
}
