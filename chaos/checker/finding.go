package checker

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
)

// Severity ranks findings. The zero value is unknown and ranks lowest.
type Severity string

// Severities, most severe first.
const (
	High   Severity = "high"   // data loss, duplicated writes, an outage of the app, or a client that cannot work with a cluster
	Medium Severity = "medium" // load or latency amplification, slow recovery, wrong routing
	Low    Severity = "low"    // a configuration mistake that fails loudly
	Info   Severity = "info"   // worth knowing; never fails a run by default
)

// Rank orders severities: high 4, medium 3, low 2, info 1, anything else 0.
func (s Severity) Rank() int {
	switch s {
	case High:
		return 4
	case Medium:
		return 3
	case Low:
		return 2
	case Info:
		return 1
	}
	return 0
}

// lower is the next severity down (info stays info).
func (s Severity) lower() Severity {
	switch s {
	case High:
		return Medium
	case Medium:
		return Low
	}
	return Info
}

// AtLeast reports whether s is as severe as min or more.
func (s Severity) AtLeast(min Severity) bool { return s.Rank() >= min.Rank() }

// ParseSeverity accepts high, medium, low and info in any case.
func ParseSeverity(s string) (Severity, error) {
	sev := Severity(strings.ToLower(strings.TrimSpace(s)))
	if sev.Rank() == 0 {
		return "", fmt.Errorf("checker: unknown severity %q (want high, medium, low or info)", s)
	}
	return sev, nil
}

// ClientID is how a finding names the client: see Checker for how
// connections are grouped into clients.
type ClientID struct {
	Addr    string `json:"addr"`     // client IP address
	LibName string `json:"lib_name"` // CLIENT SETINFO LIB-NAME, as sent
	LibVer  string `json:"lib_ver"`  // CLIENT SETINFO LIB-VER
	Name    string `json:"name"`     // CLIENT SETNAME
}

// String is a short human form: "go-redis 9.23.0 name=app @10.0.0.7".
func (c ClientID) String() string {
	var b strings.Builder
	if c.LibName != "" {
		b.WriteString(c.LibName)
		if c.LibVer != "" {
			b.WriteString(" " + c.LibVer)
		}
	} else {
		b.WriteString("unidentified client")
	}
	if c.Name != "" {
		b.WriteString(" name=" + c.Name)
	}
	b.WriteString(" @" + c.Addr)
	return b.String()
}

// Library returns the client library the lib-name stands for, one of the
// Lib… constants, or "" when it is not one this package knows.
func (c ClientID) Library() string { return Library(c.LibName) }

// EvidenceEvent is one observed event kept as evidence. It never holds
// values, and the arguments of credential-bearing commands are never kept.
type EvidenceEvent struct {
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`              // connect, command, held, close; fault and client for summaries
	Conn      uint64    `json:"conn"`              // proxy connection id
	Node      string    `json:"node"`              // real address of the node
	Port      string    `json:"port"`              // proxy address the client used
	Command   string    `json:"command,omitempty"` // "GET", "CLUSTER SLOTS"
	Key       string    `json:"key,omitempty"`     // first key (omitted when keys are redacted)
	Slot      int       `json:"slot"`              // -1 for keyless commands
	Reply     string    `json:"reply,omitempty"`   // "+", ":", "-MOVED 3999 127.0.0.1:7002", "none"
	LatencyMS float64   `json:"latency_ms,omitempty"`
	Queued    int       `json:"queued,omitempty"` // commands outstanding on the connection when sent
	Fault     string    `json:"fault,omitempty"`  // fault that decided the outcome
	Reason    string    `json:"reason,omitempty"` // why a connection closed, or why a reply is missing
	Note      string    `json:"note,omitempty"`   // why this event is evidence
}

// String is one line for logs, JUnit failures and the HTML report.
func (e EvidenceEvent) String() string {
	var b strings.Builder
	b.WriteString(e.Time.Format("15:04:05.000"))
	if e.Conn != 0 {
		fmt.Fprintf(&b, " conn %d %s", e.Conn, e.Port)
	}
	switch e.Type {
	case "fault", "client":
		b.WriteString(" " + e.Note)
		return b.String()
	case "connect":
		b.WriteString(" connect")
	case "close":
		b.WriteString(" close")
	default:
		if e.Type == "held" {
			b.WriteString(" held")
		}
		b.WriteString(" " + e.Command)
		if e.Key != "" {
			b.WriteString(" " + e.Key)
		}
		if e.Slot >= 0 {
			fmt.Fprintf(&b, " (slot %d)", e.Slot)
		}
		if e.Reply != "" {
			b.WriteString(" → " + e.Reply)
		}
		if e.LatencyMS > 0 {
			fmt.Fprintf(&b, " in %.1fms", e.LatencyMS)
		}
	}
	if e.Reason != "" {
		b.WriteString(" (" + e.Reason + ")")
	}
	if e.Fault != "" {
		b.WriteString(" [fault " + e.Fault + "]")
	}
	if e.Note != "" {
		b.WriteString(": " + e.Note)
	}
	return b.String()
}

// Finding is one rule broken by one client, aggregated over every occurrence.
type Finding struct {
	Rule      string    `json:"rule"`
	Severity  Severity  `json:"severity"`
	Title     string    `json:"title"`
	Client    ClientID  `json:"client"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int       `json:"count"` // occurrences
	// Possible: every occurrence has another explanation the wire cannot
	// rule out; Severity is then one below the rule's.
	Possible    bool            `json:"possible,omitempty"`
	Nodes       []string        `json:"nodes"`    // real addresses of the nodes involved
	Evidence    []EvidenceEvent `json:"evidence"` // a bounded sample: the first occurrences and the latest
	Explanation string          `json:"explanation"`
	Correct     string          `json:"correct"` // what a correct client does instead
	// Remedy is the fix for the client's library when it is known, else a
	// generic one; Remedies lists every known library's fix when the client
	// did not name its library.
	Remedy   string            `json:"remedy"`
	Remedies map[string]string `json:"remedies,omitempty"`
}

// evidenceFrom turns an event into evidence, dropping what must not be kept.
func evidenceFrom(ev *proxy.Event, redactKeys bool, note string) EvidenceEvent {
	e := EvidenceEvent{
		Time: ev.Time,
		Conn: ev.Conn.ID,
		Node: ev.Conn.Node,
		Port: ev.Conn.Listen,
		Slot: ev.Slot,
		Note: note,
	}
	switch ev.Type {
	case proxy.EventConnect:
		e.Type = "connect"
		e.Slot = -1
		return e
	case proxy.EventClose:
		e.Type = "close"
		e.Slot = -1
		e.Reason = redactText(ev.Reason)
		return e
	case proxy.EventHeld:
		e.Type = "held"
	default:
		e.Type = "command"
	}
	e.Command = ev.Command
	if e.Command == "" {
		e.Command = "(unknown)"
	}
	if ev.Sub != "" {
		e.Command += " " + ev.Sub
	}
	if !redactKeys && !sensitive(ev.Command, ev.Sub) {
		e.Key = truncate(ev.Key, 128)
	}
	if sensitive(ev.Command, ev.Sub) {
		e.Slot = -1
	}
	switch {
	case ev.Type == proxy.EventHeld:
		e.Reply = "none (held: the node hangs)"
	case ev.Reply == 0:
		e.Reply = "none"
	case ev.Reply == '-':
		e.Reply = "-" + redactText(ev.Err)
	default:
		e.Reply = string(ev.Reply)
	}
	e.LatencyMS = float64(ev.Latency.Microseconds()) / 1000
	e.Queued = ev.Queued
	e.Fault = ev.Fault
	e.Reason = redactText(ev.Reason)
	return e
}

// sensitive reports commands whose arguments may carry credentials.
func sensitive(cmd, sub string) bool {
	switch cmd {
	case "AUTH", "HELLO", "MIGRATE":
		return true
	case "CONFIG":
		return sub == "SET"
	case "ACL":
		return sub == "SETUSER"
	}
	return false
}

// redactText cuts argument echoes out of error texts and reasons (Redis
// quotes the first arguments of an unknown command).
func redactText(s string) string {
	if i := strings.Index(s, ", with args beginning with:"); i >= 0 {
		s = s[:i] + ", with args beginning with: (redacted)"
	}
	return truncate(s, 200)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// clientIP extracts the IP of a client address.
func clientIP(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case nil:
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// MarshalJSON keeps Finding's JSON stable when Remedies is empty.
func (f Finding) MarshalJSON() ([]byte, error) {
	type plain Finding
	if f.Evidence == nil {
		f.Evidence = []EvidenceEvent{}
	}
	if f.Nodes == nil {
		f.Nodes = []string{}
	}
	return json.Marshal(plain(f))
}
