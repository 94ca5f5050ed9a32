package checker

import (
	"encoding/json"
	"net/http"
	"strings"
)

// FindingsBody is the body of GET /v1/findings.
type FindingsBody struct {
	Findings []Finding `json:"findings"`
	Stats    Stats     `json:"stats"`
}

// ClientsBody is the body of GET /v1/clients.
type ClientsBody struct {
	Clients []ClientInfo `json:"clients"`
}

// Filter selects findings; the zero value selects all.
type Filter struct {
	Severities  []Severity // any of these
	MinSeverity Severity   // at least this
	Rules       []string   // any of these rule ids
	Client      string     // substring of the client's address, lib-name or name
}

// Match reports whether f selects the finding.
func (f Filter) Match(x *Finding) bool {
	if len(f.Severities) > 0 && !contains(f.Severities, x.Severity) {
		return false
	}
	if f.MinSeverity != "" && !x.Severity.AtLeast(f.MinSeverity) {
		return false
	}
	if len(f.Rules) > 0 && !contains(f.Rules, x.Rule) {
		return false
	}
	if f.Client != "" && !strings.Contains(x.Client.Addr, f.Client) && !strings.Contains(x.Client.LibName, f.Client) &&
		!strings.Contains(x.Client.Name, f.Client) {
		return false
	}
	return true
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// ParseFilter reads a Filter from query parameters. The error names the
// parameter at fault.
func ParseFilter(q map[string][]string) (Filter, *FieldError) {
	var f Filter
	for _, v := range splitList(q["severity"]) {
		s, err := ParseSeverity(v)
		if err != nil {
			return f, &FieldError{Field: "severity", Reason: err.Error()}
		}
		f.Severities = append(f.Severities, s)
	}
	if v := first(q["min_severity"]); v != "" {
		s, err := ParseSeverity(v)
		if err != nil {
			return f, &FieldError{Field: "min_severity", Reason: err.Error()}
		}
		f.MinSeverity = s
	}
	for _, v := range splitList(q["rule"]) {
		if _, ok := RuleByID(v); !ok {
			return f, &FieldError{Field: "rule", Reason: "unknown rule " + v}
		}
		f.Rules = append(f.Rules, v)
	}
	f.Client = first(q["client"])
	return f, nil
}

// FieldError is a bad request parameter.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "checker: " + e.Field + ": " + e.Reason }

func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return strings.TrimSpace(vs[0])
}

// ServeFindings serves the findings a Filter selects from the query
// (?severity=high,medium ?min_severity=medium ?rule=… ?client=…), and the
// checker's Stats.
func (k *Checker) ServeFindings(w http.ResponseWriter, r *http.Request) {
	f, ferr := ParseFilter(r.URL.Query())
	if ferr != nil {
		writeError(w, http.StatusBadRequest, ferr.Field, ferr.Reason)
		return
	}
	all := k.Findings()
	body := FindingsBody{Findings: make([]Finding, 0, len(all)), Stats: k.Stats()}
	for i := range all {
		if f.Match(&all[i]) {
			body.Findings = append(body.Findings, all[i])
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// DeleteFindings forgets every finding (Reset).
func (k *Checker) DeleteFindings(w http.ResponseWriter, r *http.Request) {
	k.Reset()
	w.WriteHeader(http.StatusNoContent)
}

// ServeClients serves the clients the checker watched.
func (k *Checker) ServeClients(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, ClientsBody{Clients: k.Clients()})
}

// RulesBody is the body of GET /v1/rules: the catalogue with the severities
// and thresholds this checker uses (Config's, defaults for the rest).
type RulesBody struct {
	Rules      []Rule            `json:"rules"`
	Thresholds map[string]string `json:"thresholds"` // every threshold by name
	Disabled   []string          `json:"disabled,omitempty"`
}

// RulesInEffect returns the catalogue as this checker applies it: severities
// overridden by Config.Severities and the thresholds of Config.Thresholds.
func (k *Checker) RulesInEffect() RulesBody {
	rules := rulesWith(k.th)
	for i := range rules {
		if r, ok := k.rules[rules[i].ID]; ok {
			rules[i].Severity = r.Severity
		}
	}
	return RulesBody{Rules: rules, Thresholds: k.th.Values(), Disabled: append([]string(nil), k.cfg.Disabled...)}
}

// ServeRules serves the rules as this checker applies them (RulesInEffect).
func (k *Checker) ServeRules(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, k.RulesInEffect())
}

// writeJSON and writeError produce the same bodies as the control API
// (package api), which imports this package and so cannot be imported here.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, field, reason string) {
	writeJSON(w, code, struct {
		Error  string `json:"error"`
		Field  string `json:"field,omitempty"`
		Reason string `json:"reason"`
	}{http.StatusText(code), field, reason})
}
