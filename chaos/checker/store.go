package checker

import (
	"sort"
	"time"
)

type findingKey struct {
	rule   string
	client clientKey
}

// findingState is a finding being aggregated: the first evidence events are
// kept, then a ring of the latest.
type findingState struct {
	f       Finding
	head    []EvidenceEvent
	tail    *ring[EvidenceEvent]
	nodes   map[string]struct{}
	certain bool // an occurrence was not only possible
}

func (fs *findingState) snapshot() Finding {
	f := fs.f
	if !fs.certain {
		f.Possible = true
		f.Severity = f.Severity.lower()
	}
	f.Evidence = make([]EvidenceEvent, 0, len(fs.head)+fs.tail.len())
	f.Evidence = append(f.Evidence, fs.head...)
	for i := 0; i < fs.tail.len(); i++ {
		f.Evidence = append(f.Evidence, fs.tail.at(i))
	}
	f.Nodes = make([]string, 0, len(fs.nodes))
	for n := range fs.nodes {
		f.Nodes = append(f.Nodes, n)
	}
	sort.Strings(f.Nodes)
	if f.Remedies != nil {
		m := make(map[string]string, len(f.Remedies))
		for k, v := range f.Remedies {
			m[k] = v
		}
		f.Remedies = m
	}
	return f
}

// occur records one occurrence of a rule by a client, with its evidence.
func (k *Checker) occur(rule string, c *clientState, at time.Time, evidence ...EvidenceEvent) {
	k.record(rule, c, at, true, evidence)
}

// occurPossible records an occurrence the wire cannot confirm (another
// explanation fits as well): a finding made only of such occurrences says
// so (Finding.Possible) and ranks one severity lower.
func (k *Checker) occurPossible(rule string, c *clientState, at time.Time, evidence ...EvidenceEvent) {
	k.record(rule, c, at, false, evidence)
}

func (k *Checker) record(rule string, c *clientState, at time.Time, certain bool, evidence []EvidenceEvent) {
	if k.disabled[rule] || c == nil {
		return
	}
	r := k.rules[rule]
	key := findingKey{rule, c.key}
	fs := k.findings[key]
	if fs == nil {
		if len(k.findings) >= k.lim.MaxFindings {
			k.m.finding(rule, r.Severity)
			return
		}
		lib := Library(c.id.LibName)
		fs = &findingState{
			f: Finding{Rule: rule, Severity: r.Severity, Title: r.Title, Client: c.id,
				FirstSeen: at, LastSeen: at, Explanation: r.Explanation, Correct: r.Correct,
				Remedy: r.RemedyForVersion(lib, c.id.LibVer)},
			tail:  newRing[EvidenceEvent](max(k.lim.MaxEvidence-k.lim.MaxEvidence/2, 1)),
			nodes: map[string]struct{}{},
		}
		if lib == "" {
			fs.f.Remedies = r.Remedies
		}
		k.findings[key] = fs
		c.findings++
		k.log.Info("finding", "rule", rule, "severity", r.Severity, "client", c.id.String())
	}
	fs.certain = fs.certain || certain
	fs.f.Count++
	if at.Before(fs.f.FirstSeen) {
		fs.f.FirstSeen = at
	}
	if at.After(fs.f.LastSeen) {
		fs.f.LastSeen = at
	}
	for _, e := range evidence {
		if e.Node != "" && len(fs.nodes) < 64 {
			fs.nodes[e.Node] = struct{}{}
		}
		if len(fs.head) < k.lim.MaxEvidence/2 {
			fs.head = append(fs.head, e)
		} else {
			fs.tail.push(e)
		}
	}
	k.m.finding(rule, r.Severity)
}

// deferredFinding is an occurrence on a connection that has not named its
// client yet.
type deferredFinding struct {
	rule string
	at   time.Time
	evs  []EvidenceEvent
}

// identified reports whether a connection has named its client.
func (cn *connState) identified() bool { return cn.lib != "" && cn.ver != "" || cn.name != "" }

// occurConn records an occurrence caused by one connection. A connection
// still in its handshake that has not named its client (CLIENT SETINFO comes
// after HELLO, AUTH and SELECT) keeps it until it does, or until it closes.
func (k *Checker) occurConn(rule string, cn *connState, at time.Time, evs ...EvidenceEvent) {
	if !cn.identified() && cn.cmds <= k.th.HandshakeCommands && len(cn.rc.deferred) < 8 {
		cn.rc.deferred = append(cn.rc.deferred, deferredFinding{rule, at, evs})
		return
	}
	k.occur(rule, cn.client, at, evs...)
}

// settle hands a connection's deferred occurrences to a client.
func (k *Checker) settle(cn *connState, c *clientState) {
	for _, d := range cn.rc.deferred {
		k.occur(d.rule, c, d.at, d.evs...)
	}
	cn.rc.deferred = nil
}
