package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
)

// JUnit XML, in the shape CI systems (Jenkins, GitLab, GitHub actions)
// read: one <testsuite> per scenario, one <testcase> per rule. A rule fails
// in a scenario when a finding of it, at or above FailOn, has evidence
// inside the scenario's window; the failure carries the evidence. Findings
// outside every scenario go to a suite of their own ("outside scenarios");
// without scenarios, the whole run is one suite.
//
// The verdict is in the file too: a suite "command" whose test case fails
// when the tested command exited non-zero, and in each scenario not played
// to its end a test case "completed" that fails (FailIncomplete) or is
// skipped, with the reason. The rules of a scenario never played are
// skipped: nothing was judged there.

// JUnitSuites is the XML document.
type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     float64      `xml:"time,attr"`
	Suites   []JUnitSuite `xml:"testsuite"`
}

// JUnitSuite is one scenario.
type JUnitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       float64         `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []JUnitProperty `xml:"properties>property,omitempty"`
	Cases      []JUnitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

// JUnitProperty is a name/value pair of a suite.
type JUnitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// JUnitCase is one rule in one scenario.
type JUnitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *JUnitFailure `xml:"failure,omitempty"`
	Skipped   *JUnitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// JUnitSkipped marks a test case that did not run.
type JUnitSkipped struct {
	Message string `xml:"message,attr"`
}

// JUnitFailure carries a finding's evidence.
type JUnitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnit builds the document.
func (r *Report) JUnit() JUnitSuites {
	doc := JUnitSuites{Name: "redis-chaos", Time: r.Run.Duration().Seconds()}
	if r.Run.Name != "" {
		doc.Name += " " + r.Run.Name
	}
	if r.Run.ExitCode != nil {
		suite := JUnitSuite{Name: "command", Tests: 1, Time: r.Run.Duration().Seconds()}
		if !r.Run.Start.IsZero() {
			suite.Timestamp = r.Run.Start.UTC().Format("2006-01-02T15:04:05")
		}
		tc := JUnitCase{Name: "exit status", Classname: "redis-chaos.command", Time: suite.Time}
		cmd := strings.Join(r.Run.Command, " ")
		if r.CommandFailed() {
			tc.Failure = &JUnitFailure{Type: "command",
				Message: fmt.Sprintf("the command failed (exit status %d): %s", *r.Run.ExitCode, cmd),
				Text:    "The tested command exited with status " + strconv.Itoa(*r.Run.ExitCode) + " under the faults of this run."}
			suite.Failures++
		} else {
			tc.SystemOut = "exit status 0: " + cmd
		}
		suite.Cases = append(suite.Cases, tc)
		doc.Suites = append(doc.Suites, suite)
		doc.Tests++
		doc.Failures += suite.Failures
	}
	type window struct {
		name     string
		from, to time.Time
		sc       *Scenario
		has      func(i int) bool // finding i belongs here
	}
	var windows []window
	attributed := make([]bool, len(r.Findings))
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		has := func(j int) bool { return During(&r.Findings[j], s.Start, s.End) }
		for j := range r.Findings {
			attributed[j] = attributed[j] || has(j)
		}
		windows = append(windows, window{name: s.Name, from: s.Start, to: s.End, sc: s, has: has})
	}
	switch {
	case len(windows) == 0:
		windows = append(windows, window{name: "run", from: r.Run.Start, to: r.Run.End,
			has: func(int) bool { return true }})
	case contains(attributed, false):
		windows = append(windows, window{name: "outside scenarios", from: r.Run.Start, to: r.Run.End,
			has: func(j int) bool { return !attributed[j] }})
	}
	for _, w := range windows {
		suite := JUnitSuite{Name: w.name, Time: w.to.Sub(w.from).Seconds()}
		if !w.from.IsZero() {
			suite.Timestamp = w.from.UTC().Format("2006-01-02T15:04:05")
		}
		if w.sc != nil {
			if w.sc.Detail != "" {
				suite.Properties = append(suite.Properties, JUnitProperty{"detail", w.sc.Detail})
			}
			if w.sc.Expect != "" {
				suite.Properties = append(suite.Properties, JUnitProperty{"expect", w.sc.Expect})
			}
			for _, f := range w.sc.Faults {
				suite.Properties = append(suite.Properties, JUnitProperty{"fault " + f.ID,
					f.Action + " on " + strings.Join(f.Nodes, ",") + " from " + f.Start.UTC().Format(time.RFC3339) + faultEnd(f)})
			}
		}
		notPlayed := w.sc != nil && w.sc.Status == StatusNotPlayed
		if w.sc != nil && !w.sc.Complete() {
			tc := JUnitCase{Name: "completed", Classname: "redis-chaos." + classPart(w.name), Time: suite.Time}
			msg := "scenario " + w.sc.Name + " " + w.sc.Status
			if w.sc.Reason != "" {
				msg += ": " + w.sc.Reason
			}
			if r.FailIncomplete {
				tc.Failure = &JUnitFailure{Type: "incomplete", Message: msg,
					Text: "The scenario was not played to the end of its recovery, so what it tests was not (fully) tested. Give the command more time (redis-chaos run prints the planned duration), or --loop."}
				suite.Failures++
			} else {
				tc.Skipped = &JUnitSkipped{Message: msg}
				suite.Skipped++
			}
			suite.Cases = append(suite.Cases, tc)
			suite.Tests++
		}
		for _, rule := range r.Rules {
			tc := JUnitCase{Name: rule.ID, Classname: "redis-chaos." + classPart(w.name)}
			if notPlayed {
				tc.Skipped = &JUnitSkipped{Message: "not played"}
				suite.Cases = append(suite.Cases, tc)
				suite.Tests++
				suite.Skipped++
				continue
			}
			var fails, notes []string
			var worst checker.Severity
			for i := range r.Findings {
				f := &r.Findings[i]
				if f.Rule != rule.ID {
					continue
				}
				if !w.has(i) {
					continue
				}
				text := findingText(f)
				if f.Severity.AtLeast(r.failOn()) {
					fails = append(fails, text)
					if f.Severity.Rank() > worst.Rank() {
						worst = f.Severity
					}
				} else {
					notes = append(notes, text)
				}
			}
			if len(fails) > 0 {
				tc.Failure = &JUnitFailure{
					Type:    string(worst),
					Message: fmt.Sprintf("%s (%s): %d client(s) — %s", rule.ID, worst, len(fails), rule.Title),
					Text:    strings.Join(fails, "\n\n"),
				}
				suite.Failures++
			}
			if len(notes) > 0 {
				tc.SystemOut = "below fail-on (" + string(r.failOn()) + "):\n" + strings.Join(notes, "\n\n")
			}
			suite.Cases = append(suite.Cases, tc)
			suite.Tests++
		}
		doc.Suites = append(doc.Suites, suite)
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Skipped += suite.Skipped
	}
	return doc
}

func faultEnd(f checker.FaultWindow) string {
	if f.End.IsZero() {
		return ""
	}
	return " to " + f.End.UTC().Format(time.RFC3339)
}

func classPart(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '.' {
			return '-'
		}
		return r
	}, s)
}

// findingText is a finding as plain text: who, how often, the evidence, the fix.
func findingText(f *checker.Finding) string {
	var b strings.Builder
	possible := ""
	if f.Possible {
		possible = ", possible"
	}
	fmt.Fprintf(&b, "%s [%s%s] by %s: %d time(s), %s to %s\n", f.Rule, f.Severity, possible, f.Client,
		f.Count, f.FirstSeen.UTC().Format("15:04:05.000"), f.LastSeen.UTC().Format("15:04:05.000"))
	b.WriteString(f.Explanation + "\n")
	b.WriteString("evidence:\n")
	for _, e := range f.Evidence {
		b.WriteString("  " + e.String() + "\n")
	}
	b.WriteString("correct: " + f.Correct + "\n")
	b.WriteString("remedy: " + f.Remedy)
	return b.String()
}

// WriteJUnit writes the JUnit XML.
func (r *Report) WriteJUnit(w io.Writer) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(r.JUnit()); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func contains(xs []bool, x bool) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
