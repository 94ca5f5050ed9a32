// Package fault defines faults as users write them (API JSON, CLI flags, the
// config file's faults: list and plan YAML) and checks them. It knows nothing
// of the proxy or the cluster: targets stay strings here and are resolved by
// the engine against live roles when a fault starts, and the actions ("down",
// "latency", …) are defined by the engine, which registers each one here
// (Register) with the check of its own fields.
package fault

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Kind is one action as users write it: its name in a fault's "action"
// field and the check of the fields it reads. The chaos engine defines every
// action (one small type per action) and registers its Kind here, so that
// Validate knows them wherever faults are read: the API, the CLI, the config
// file and plans.
type Kind interface {
	Name() string
	// Check returns the problems of the fields this action reads (Validate
	// checks the fields every fault has).
	Check(s *Spec) Errors
}

// Summarizer is a Kind that shows a fault with its main parameter
// ("error MISCONF", "latency 100ms±50ms"); other kinds show their name.
type Summarizer interface {
	Summary(s *Spec) string
}

// Actions lists the name of every registered action, in registration order.
var Actions []string

var kinds = map[string]Kind{}

// Register makes an action known to Validate. It panics if the name is taken.
func Register(k Kind) {
	name := k.Name()
	if _, dup := kinds[name]; dup {
		panic("fault: action " + name + " registered twice")
	}
	kinds[name] = k
	Actions = append(Actions, name)
}

// Summary is the fault's action with its main parameter: "error MISCONF",
// "latency 100ms±50ms", "down".
func (s *Spec) Summary() string {
	if k, ok := kinds[s.Action].(Summarizer); ok {
		return k.Summary(s)
	}
	return s.Action
}

// Redis's error texts (Redis 7 source), by the name used in a fault's "error".
// MOVED and ASK are completed with the slot and address when injected.
var ErrorTexts = map[string]string{
	"MOVED":                "MOVED",
	"ASK":                  "ASK",
	"CLUSTERDOWN":          "CLUSTERDOWN The cluster is down",
	"CLUSTERDOWN_READONLY": "CLUSTERDOWN The cluster is down and only accepts read commands",
	"CLUSTERDOWN_UNBOUND":  "CLUSTERDOWN Hash slot not served",
	"CROSSSLOT":            "CROSSSLOT Keys in request don't hash to the same slot",
	"TRYAGAIN":             "TRYAGAIN Multiple keys request during rehashing of slot",
	"MISCONF":              "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.",
	"LOADING":              "LOADING Redis is loading the dataset in memory",
	"READONLY":             "READONLY You can't write against a read only replica.",
	"MASTERDOWN":           "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
	"BUSY":                 "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
	"NOREPLICAS":           "NOREPLICAS Not enough good replicas to write.",
	"OOM":                  "OOM command not allowed when used memory > 'maxmemory'.",
}

// Categories a match can name.
var Categories = []string{"write", "read", "keyless", "keyed", "blocking", "admin", "pubsub"}

// Duration is a time.Duration that reads and writes as "1.5s" in JSON and YAML.
// A number needs its unit ("100" could mean milliseconds, as in toxiproxy,
// or seconds): only 0 may go without one.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1.5s" (or the number 0).
//
// A bad value is a *json.UnmarshalTypeError, which encoding/json completes
// with the field's path (so the API can name the field).
func (d *Duration) UnmarshalJSON(b []byte) error {
	bad := &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[Duration]()}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var f float64
		if err2 := json.Unmarshal(b, &f); err2 != nil || f != 0 {
			return bad
		}
		*d = 0
		return nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		return bad
	}
	*d = v
	return nil
}

// UnmarshalText reads "1.5s" (YAML, flags).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	*d = v
	return err
}

// MarshalText writes the duration as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ParseDuration reads "1.5s", "200ms" (or "0").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("bad duration %q: a number needs a unit (\"%sms\" or \"%ss\"?)", s, s, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (want e.g. \"1.5s\", \"200ms\")", s)
	}
	return Duration(v), nil
}

// Match narrows a fault to some commands. Empty fields match everything.
type Match struct {
	Commands    []string `json:"commands,omitempty" yaml:"commands,omitempty"`
	Categories  []string `json:"categories,omitempty" yaml:"categories,omitempty"`
	Keys        string   `json:"keys,omitempty" yaml:"keys,omitempty"`       // glob on the first key
	Slots       string   `json:"slots,omitempty" yaml:"slots,omitempty"`     // "0-5460,6000"
	Clients     string   `json:"clients,omitempty" yaml:"clients,omitempty"` // IP or CIDR of the client
	ClientName  string   `json:"client_name,omitempty" yaml:"client_name,omitempty"`
	LibName     string   `json:"lib_name,omitempty" yaml:"lib_name,omitempty"`
	Probability float64  `json:"probability,omitempty" yaml:"probability,omitempty"` // 0 means 1
	Count       int      `json:"count,omitempty" yaml:"count,omitempty"`             // at most this many commands; 0 = no limit
}

// Spec is a fault as a user writes it.
type Spec struct {
	Action string   `json:"action" yaml:"action"`
	Error  string   `json:"error,omitempty" yaml:"error,omitempty"` // error: a name of ErrorTexts or a custom "PREFIX text"
	Target string   `json:"target,omitempty" yaml:"target,omitempty"`
	Match  Match    `json:"match,omitempty" yaml:"match,omitempty"`
	Delay  Duration `json:"delay,omitempty" yaml:"delay,omitempty"` // start after this
	TTL    Duration `json:"ttl,omitempty" yaml:"ttl,omitempty"`     // expire after this; 0 = the default TTL

	// latency
	Latency Duration `json:"latency,omitempty" yaml:"latency,omitempty"`
	Jitter  Duration `json:"jitter,omitempty" yaml:"jitter,omitempty"` // uniform 0..jitter added
	// reset
	After int `json:"after,omitempty" yaml:"after,omitempty"` // reset on every Nth matching command
	// migrate: the target's slots in Match.Slots (or all its slots) move to To;
	// ASK for the first AskFor (default: half the TTL), then MOVED.
	To     string   `json:"to,omitempty" yaml:"to,omitempty"`
	AskFor Duration `json:"ask_for,omitempty" yaml:"ask_for,omitempty"`
	// partition: the target's nodes are one side, every other node the other.
	// The clients Match's client fields name are on the target's side; without
	// them, Share of the clients (0-1, by client identity) are, and the
	// others are with the rest of the cluster.
	Share float64 `json:"share,omitempty" yaml:"share,omitempty"`
	// Mode is "simulate" (default) or "real" (provisioned clusters only).
	Mode string `json:"mode,omitempty" yaml:"mode,omitempty"`
}

// FieldError is a problem with one field of a fault.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Errors is every problem found in one fault or list of faults.
type Errors []*FieldError

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Limits bound what Validate accepts.
type Limits struct {
	DefaultTTL time.Duration // if zero, 5m
	MaxTTL     time.Duration // if zero, 1h
}

func (l Limits) withDefaults() Limits {
	if l.DefaultTTL == 0 {
		l.DefaultTTL = 5 * time.Minute
	}
	if l.MaxTTL == 0 {
		l.MaxTTL = time.Hour
	}
	return l
}

// Validate checks a spec and fills its defaults (TTL, error name case). It
// returns every problem, each naming its field.
func (s *Spec) Validate(l Limits) error {
	l = l.withDefaults()
	var errs Errors
	bad := func(field, format string, a ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, a...)})
	}
	s.Action = strings.ToLower(strings.TrimSpace(s.Action))
	if s.Action == "" {
		bad("action", "required: one of %s", strings.Join(Actions, ", "))
	} else if k, ok := kinds[s.Action]; !ok {
		bad("action", "unknown action %q: want one of %s", s.Action, strings.Join(Actions, ", "))
	} else {
		errs = append(errs, k.Check(s)...)
	}
	if s.Latency < 0 {
		bad("latency", "must not be negative")
	}
	if s.Jitter < 0 {
		bad("jitter", "must not be negative")
	}
	if err := ValidateTarget(s.Target); err != nil {
		bad("target", "%v", err)
	}
	if s.Delay < 0 {
		bad("delay", "must not be negative")
	}
	switch {
	case s.TTL < 0:
		bad("ttl", "must not be negative")
	case s.TTL == 0:
		s.TTL = Duration(l.DefaultTTL)
	case s.TTL.D() > l.MaxTTL:
		bad("ttl", "%v is above the maximum TTL %v", s.TTL.D(), l.MaxTTL)
	}
	if s.AskFor < 0 || (s.AskFor > 0 && s.AskFor > s.TTL) {
		bad("ask_for", "must be between 0 and the TTL")
	}
	switch strings.ToLower(s.Mode) {
	case "", "simulate":
		s.Mode = "simulate"
	case "real":
		s.Mode = "real"
	default:
		bad("mode", "want simulate or real, not %q", s.Mode)
	}
	m := &s.Match
	for i, c := range m.Commands {
		if strings.TrimSpace(c) == "" || strings.ContainsAny(c, " \t\r\n") {
			bad(fmt.Sprintf("match.commands[%d]", i), "not a command name: %q", c)
		}
		m.Commands[i] = strings.ToUpper(strings.TrimSpace(c))
	}
	for i, c := range m.Categories {
		c = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(c), "@"))
		m.Categories[i] = c
		if !contains(Categories, c) {
			bad(fmt.Sprintf("match.categories[%d]", i), "unknown category %q: want one of %s", c, strings.Join(Categories, ", "))
		}
	}
	if m.Keys != "" {
		if _, err := path.Match(m.Keys, ""); err != nil {
			bad("match.keys", "bad glob %q", m.Keys)
		}
	}
	if m.Slots != "" {
		if _, err := ParseSlots(m.Slots); err != nil {
			bad("match.slots", "%v", err)
		}
	}
	if m.Clients != "" {
		if _, err := ParseClients(m.Clients); err != nil {
			bad("match.clients", "%v", err)
		}
	}
	if m.Probability < 0 || m.Probability > 1 {
		bad("match.probability", "must be between 0 and 1")
	}
	if m.Count < 0 {
		bad("match.count", "must be 0 or more")
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// ErrorNames lists the error names a fault can use, sorted.
func ErrorNames() []string {
	names := []string{"ASK", "BUSY", "CLUSTERDOWN", "CLUSTERDOWN_READONLY", "CLUSTERDOWN_UNBOUND", "CROSSSLOT",
		"LOADING", "MASTERDOWN", "MISCONF", "MOVED", "NOREPLICAS", "OOM", "READONLY", "TRYAGAIN"}
	return names
}

// ErrorText returns the error line (without '-' and CRLF) of an error fault:
// Redis's exact text for a known name, or the custom text as given.
func (s *Spec) ErrorText() (string, error) {
	name := strings.TrimSpace(s.Error)
	if t, ok := ErrorTexts[strings.ToUpper(name)]; ok {
		return t, nil
	}
	if strings.ContainsAny(name, "\r\n") {
		return "", errors.New("an error text cannot contain CR or LF")
	}
	prefix, _, _ := strings.Cut(name, " ")
	if prefix == "" || strings.ToUpper(prefix) != prefix || !strings.Contains(name, " ") {
		return "", fmt.Errorf("unknown error %q: want one of %s, or a custom \"PREFIX message\" with an upper-case prefix", name, strings.Join(ErrorNames(), ", "))
	}
	return name, nil
}

// ErrorName returns the upper-case error name or the custom text's prefix.
func (s *Spec) ErrorName() string {
	name := strings.ToUpper(strings.TrimSpace(s.Error))
	if _, ok := ErrorTexts[name]; ok {
		return name
	}
	p, _, _ := strings.Cut(strings.TrimSpace(s.Error), " ")
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Range is an inclusive slot range.
type Range struct{ From, To int }

// ParseSlots reads "0-5460,6000".
func ParseSlots(s string) ([]Range, error) {
	var out []Range
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		a, b, isRange := strings.Cut(part, "-")
		from, err := strconv.Atoi(strings.TrimSpace(a))
		if err != nil || from < 0 || from > 16383 {
			return nil, fmt.Errorf("bad slot %q (slots are 0-16383)", part)
		}
		to := from
		if isRange {
			to, err = strconv.Atoi(strings.TrimSpace(b))
			if err != nil || to < from || to > 16383 {
				return nil, fmt.Errorf("bad slot range %q (want FROM-TO within 0-16383)", part)
			}
		}
		out = append(out, Range{from, to})
	}
	if len(out) == 0 {
		return nil, errors.New("no slots given")
	}
	return out, nil
}

// ParseClients reads an IP or CIDR (comma-separated list allowed).
func ParseClients(s string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			ip := net.ParseIP(part)
			if ip == nil {
				return nil, fmt.Errorf("bad client address %q (want an IP or CIDR)", part)
			}
			bits := 32
			if ip.To4() == nil {
				bits = 128
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			return nil, fmt.Errorf("bad client CIDR %q", part)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no client address given")
	}
	return out, nil
}

// Selectors a target can be, besides an address or a node id.
var selectors = []string{"all", "master", "replica", "masters:all", "masters:majority", "shard:N", "replicas-of:shard:N", "master:random", "replica:random"}

// ValidateTarget checks a target's syntax: empty (the fault's default), an
// address host:port, a node id (40 hex digits), or a selector.
func ValidateTarget(t string) error {
	t = strings.TrimSpace(t)
	if t == "" {
		return nil
	}
	for _, part := range strings.Split(t, ",") {
		if err := validateOneTarget(strings.TrimSpace(part)); err != nil {
			return err
		}
	}
	return nil
}

func validateOneTarget(t string) error {
	switch t {
	case "all", "master", "replica", "masters", "replicas", "masters:all", "masters:majority", "master:random", "replica:random":
		return nil
	}
	if n, ok := strings.CutPrefix(t, "shard:"); ok {
		if _, err := strconv.Atoi(n); err == nil {
			return nil
		}
		return fmt.Errorf("bad selector %q: want shard:N with N a shard number", t)
	}
	if n, ok := strings.CutPrefix(t, "replicas-of:shard:"); ok {
		if _, err := strconv.Atoi(n); err == nil {
			return nil
		}
		return fmt.Errorf("bad selector %q: want replicas-of:shard:N", t)
	}
	if _, _, err := net.SplitHostPort(t); err == nil {
		return nil
	}
	if len(t) == 40 && isHex(t) {
		return nil
	}
	return fmt.Errorf("unknown target %q: want an address HOST:PORT, a node id, or one of %s", t, strings.Join(selectors, ", "))
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
