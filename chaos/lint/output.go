package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
)

// WriteText prints the findings grouped by file, then a summary line.
func WriteText(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	last := ""
	for _, f := range r.Findings {
		if f.File != last {
			if last != "" {
				ew.printf("\n")
			}
			ew.printf("%s\n", f.File)
			last = f.File
		}
		ew.printf("  %d: %s [%s]", f.Line, f.Level, f.RuleID)
		if f.Checker != "" {
			ew.printf(" (runtime: %s)", f.Checker)
		}
		ew.printf("\n      %s\n      fix: %s\n", f.Message, f.Fix)
	}
	if len(r.Findings) > 0 {
		ew.printf("\n")
	}
	var names []string
	for _, c := range r.Clients {
		n := c.Name
		switch {
		case c.Version != "" && c.Via != "":
			n += " " + c.Version + " (" + c.Via + ")"
		case c.Version != "":
			n += " " + c.Version
		case c.Range != "":
			n += " " + c.Range
		}
		names = append(names, n)
	}
	sort.Strings(names)
	names = compact(names)
	clients := "none"
	if len(names) > 0 {
		clients = strings.Join(names, ", ")
	}
	ew.printf("%d finding(s) in %d file(s) scanned; clients: %s\n", len(r.Findings), r.Files, clients)
	return ew.err
}

func compact(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, a...)
	}
}

// WriteJSON writes the Result as one indented JSON document.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// SARIF 2.1.0, the subset CI systems read.
type (
	sarifLog struct {
		Version string     `json:"version"`
		Schema  string     `json:"$schema"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		InformationURI string      `json:"informationUri,omitempty"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string            `json:"id"`
		ShortDescription     sarifText         `json:"shortDescription"`
		FullDescription      sarifText         `json:"fullDescription"`
		Help                 sarifText         `json:"help"`
		DefaultConfiguration sarifConfig       `json:"defaultConfiguration"`
		Properties           map[string]string `json:"properties,omitempty"`
	}
	sarifConfig struct {
		Level string `json:"level"`
	}
	sarifText struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex int             `json:"ruleIndex"`
		Level     string          `json:"level"`
		Message   sarifText       `json:"message"`
		Locations []sarifLocation `json:"locations"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysical `json:"physicalLocation"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
		Region           sarifRegion   `json:"region"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine int `json:"startLine"`
	}
)

// SARIFSchema is the schema URI written in $schema.
const SARIFSchema = "https://json.schemastore.org/sarif-2.1.0.json"

func sarifLevel(s Severity) string {
	switch s {
	case High:
		return "error"
	case Medium:
		return "warning"
	}
	return "note"
}

// WriteSARIF writes a SARIF 2.1.0 log with every rule in the driver.
func WriteSARIF(w io.Writer, r *Result) error {
	driver := sarifDriver{Name: "redis-chaos-lint", InformationURI: "https://github.com/redis-chaos/redis-chaos#lint"}
	index := map[string]int{}
	for i, rule := range rules {
		index[rule.ID] = i
		props := map[string]string{"client": rule.Client, "severity": rule.Severity.String()}
		if rule.Checker != "" {
			props["checkerRule"] = rule.Checker
		}
		driver.Rules = append(driver.Rules, sarifRule{
			ID:                   rule.ID,
			ShortDescription:     sarifText{rule.Short},
			FullDescription:      sarifText{rule.Explanation},
			Help:                 sarifText{"Fix: " + rule.Fix},
			DefaultConfiguration: sarifConfig{sarifLevel(rule.Severity)},
			Properties:           props,
		})
	}
	results := []sarifResult{}
	for _, f := range r.Findings {
		results = append(results, sarifResult{
			RuleID: f.RuleID, RuleIndex: index[f.RuleID], Level: sarifLevel(f.Severity),
			Message: sarifText{f.Message + " Fix: " + f.Fix},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{
				ArtifactLocation: sarifArtifact{URI: sarifURI(f.File)},
				Region:           sarifRegion{StartLine: f.Line},
			}}},
		})
	}
	log := sarifLog{Version: "2.1.0", Schema: SARIFSchema, Runs: []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

// sarifURI keeps relative paths relative (viewers resolve them against the
// checkout) and turns absolute ones into file URIs.
func sarifURI(p string) string {
	if filepath.IsAbs(p) {
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(p)}).String()
	}
	return (&url.URL{Path: strings.TrimPrefix(p, "./")}).String()
}
