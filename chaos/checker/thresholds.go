package checker

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ThresholdInfo describes one field of Thresholds as users name it: in the
// config file (checker: thresholds: NAME: VALUE), in --checker-threshold
// NAME=VALUE and in GET /v1/rules.
type ThresholdInfo struct {
	Name    string `json:"name"`    // kebab-case, e.g. command-timeout
	Rule    string `json:"rule"`    // the rule it belongs to
	Kind    string `json:"kind"`    // duration, int, float or share (a float in (0, 1])
	Default string `json:"default"` // as ParseThreshold reads it
	Help    string `json:"help"`
}

// threshold ties a ThresholdInfo to its field.
type threshold struct {
	ThresholdInfo
	dur *time.Duration
	num *int
	flt *float64
}

// thresholdTable lists every field of t, in catalogue order.
func thresholdTable(t *Thresholds) []threshold {
	d := func(name, rule string, p *time.Duration, help string) threshold {
		return threshold{ThresholdInfo: ThresholdInfo{Name: name, Rule: rule, Kind: "duration", Help: help}, dur: p}
	}
	n := func(name, rule string, p *int, help string) threshold {
		return threshold{ThresholdInfo: ThresholdInfo{Name: name, Rule: rule, Kind: "int", Help: help}, num: p}
	}
	f := func(name, rule string, p *float64, help string) threshold {
		return threshold{ThresholdInfo: ThresholdInfo{Name: name, Rule: rule, Kind: "float", Help: help}, flt: p}
	}
	s := func(name, rule string, p *float64, help string) threshold {
		x := f(name, rule, p, help)
		x.Kind = "share"
		return x
	}
	return []threshold{
		d("moved-follow", RuleMovedIgnored, &t.MovedFollow, "a MOVED must be followed within this"),
		n("stale-moved", RuleStaleSlotMap, &t.StaleMoved, "MOVED replies for one slot from one node …"),
		d("stale-window", RuleStaleSlotMap, &t.StaleWindow, "… within this of the first"),
		d("ask-window", RuleAskUpdatesMap, &t.AskWindow, "how long an ASK is remembered"),
		d("refresh-interval", RuleTopologyRefreshStorm, &t.RefreshInterval, "at most one topology read per this, sustained …"),
		d("refresh-window", RuleTopologyRefreshStorm, &t.RefreshWindow, "… over this window"),
		f("refresh-error-ratio", RuleTopologyRefreshStorm, &t.RefreshErrorRatio, "or topology reads ≥ this × errors …"),
		n("refresh-min-errors", RuleTopologyRefreshStorm, &t.RefreshMinErrors, "… with at least this many errors in the window"),
		f("reconnect-rate", RuleReconnectStorm, &t.ReconnectRate, "failed connection attempts per second to one node …"),
		d("reconnect-window", RuleReconnectStorm, &t.ReconnectWindow, "… over this window"),
		n("reconnect-failures", RuleReconnectStorm, &t.ReconnectFailures, "or this many failures in a row at gaps that do not grow …"),
		d("reconnect-min-gap", RuleReconnectStorm, &t.ReconnectMinGap, "… all shorter than this"),
		d("immediate-resend", RuleNoBackoffRetry, &t.ImmediateResend, "a resend this soon after the error is immediate"),
		f("resend-rate", RuleNoBackoffRetry, &t.ResendRate, "more than this many immediate resends per second …"),
		s("resend-share", RuleNoBackoffRetry, &t.ResendShare, "… making up at least this share of the client's resends"),
		d("command-timeout", RuleNoCommandTimeout, &t.CommandTimeout, "a client still waiting for a reply after this has no command timeout"),
		d("retry-window", RuleUnsafeRetry, &t.RetryWindow, "an identical command this soon after an unknown outcome is a retry"),
		f("probe-rate", RuleHealthCheckFanout, &t.ProbeRate, "probes per second per node …"),
		d("probe-window", RuleHealthCheckFanout, &t.ProbeWindow, "… over this window …"),
		n("fanout-min-nodes", RuleHealthCheckFanout, &t.FanoutMinNodes, "… on at least this many nodes …"),
		s("fanout-share", RuleHealthCheckFanout, &t.FanoutShare, "… and at least this share of the known nodes"),
		s("restart-share", RuleRestartOnSingleFault, &t.RestartShare, "share of the client's connections closed …"),
		d("restart-window", RuleRestartOnSingleFault, &t.RestartWindow, "… within this window …"),
		n("restart-min-conns", RuleRestartOnSingleFault, &t.RestartMinConns, "… out of at least this many …"),
		n("restart-max-fault-nodes", RuleRestartOnSingleFault, &t.RestartMaxFaultNodes, "… while faults touch at most this many nodes …"),
		d("restart-handshake", RuleRestartOnSingleFault, &t.RestartHandshake, "… followed by a handshake within this"),
		d("coverage-window", RuleFullCoverage, &t.CoverageWindow, "no data command answered for this long while slots are uncovered …"),
		n("coverage-min-commands", RuleFullCoverage, &t.CoverageMinCommands, "… from a client that sent at least this many in the window before"),
		n("pipeline-max", RuleUnboundedPipeline, &t.PipelineMax, "outstanding commands on one connection"),
		n("replay-burst", RuleUnboundedPipeline, &t.ReplayBurst, "or this many outstanding …"),
		d("replay-window", RuleUnboundedPipeline, &t.ReplayWindow, "… within this of a reconnect"),
		n("crossslot-count", RuleCrossSlot, &t.CrossSlotCount, "this many CROSSSLOT replies …"),
		d("crossslot-window", RuleCrossSlot, &t.CrossSlotWindow, "… within this window"),
		d("desync-gap", RuleReplyDesyncRisk, &t.DesyncGap, "a handshake reply outstanding this long …"),
		n("handshake-commands", RuleReplyDesyncRisk, &t.HandshakeCommands, "… among the first this many commands of a connection"),
	}
}

// value formats a threshold's current value as ParseThreshold reads it.
func (x *threshold) value() string {
	switch {
	case x.dur != nil:
		return x.dur.String()
	case x.num != nil:
		return strconv.Itoa(*x.num)
	default:
		return strconv.FormatFloat(*x.flt, 'g', -1, 64)
	}
}

// set parses s into the threshold's field. Every threshold must be positive
// (zero would mean "the default"); shares are at most 1.
func (x *threshold) set(s string) error {
	s = strings.TrimSpace(s)
	switch {
	case x.dur != nil:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 10s, 500ms)", s)
		}
		if d <= 0 {
			return fmt.Errorf("%s: must be positive", s)
		}
		*x.dur = d
	case x.num != nil:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		if n <= 0 {
			return fmt.Errorf("%d: must be 1 or more", n)
		}
		*x.num = n
	default:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		if f <= 0 || f != f || f > 1e12 {
			return fmt.Errorf("%s: must be positive", s)
		}
		if x.Kind == "share" && f > 1 {
			return fmt.Errorf("%s: a share must be in (0, 1]", s)
		}
		*x.flt = f
	}
	return nil
}

// ThresholdInfos lists every threshold with its default, in catalogue order.
func ThresholdInfos() []ThresholdInfo {
	var t Thresholds
	t.setDefaults()
	table := thresholdTable(&t)
	out := make([]ThresholdInfo, len(table))
	for i := range table {
		out[i] = table[i].ThresholdInfo
		out[i].Default = table[i].value()
	}
	return out
}

// Set sets the threshold called name (kebab-case, as ThresholdInfos names
// them) from its text: a Go duration (10s), a whole number, or a number.
// Unknown names and bad or non-positive values are errors.
func (t *Thresholds) Set(name, value string) error {
	table := thresholdTable(t)
	for i := range table {
		if table[i].Name == name {
			return table[i].set(value)
		}
	}
	return fmt.Errorf("unknown threshold%s", suggest(name, table))
}

// suggest names the closest known threshold for a misspelt one.
func suggest(name string, table []threshold) string {
	alt := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
	for _, x := range table {
		if x.Name == alt || strings.ReplaceAll(x.Name, "-", "") == strings.ReplaceAll(alt, "-", "") {
			return fmt.Sprintf(": did you mean %q?", x.Name)
		}
	}
	return " (" + strconv.Itoa(len(table)) + " known: GET /v1/rules or docs/checker-rules.md list them)"
}

// Values returns every threshold of t as text, by name; zero fields show
// their defaults (the values a Checker built from t uses).
func (t Thresholds) Values() map[string]string {
	t.setDefaults()
	table := thresholdTable(&t)
	out := make(map[string]string, len(table))
	for i := range table {
		out[table[i].Name] = table[i].value()
	}
	return out
}

// ruleThresholds returns the thresholds of each rule, by name, as in t.
func ruleThresholds(t Thresholds) map[string]map[string]string {
	table := thresholdTable(&t)
	out := map[string]map[string]string{}
	for i := range table {
		m := out[table[i].Rule]
		if m == nil {
			m = map[string]string{}
			out[table[i].Rule] = m
		}
		m[table[i].Name] = table[i].value()
	}
	return out
}
