package checker

import (
	"context"
	"hash/maphash"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
)

// sim feeds a Checker synthetic events on a fake clock, without a goroutine:
// the rule logic alone, fast and deterministic.
type sim struct {
	t     testing.TB
	k     *Checker
	now   time.Time
	next  uint64
	nodes []proxy.NodeInfo
	fault []FaultWindow
}

var simSeed = maphash.MakeSeed()

func newSim(t testing.TB, tweak func(*Config)) *sim {
	s := &sim{t: t, now: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}
	for i, role := range []string{"master", "master", "master", "replica", "replica", "replica"} {
		n := proxy.NodeInfo{ID: "id" + itoa(i), Addr: "10.0.0.1:" + itoa(30001+i), Listen: "127.0.0.1:" + itoa(7001+i),
			Announce: "127.0.0.1:" + itoa(7001+i), Role: role}
		if role == "replica" {
			n.MasterID = "id" + itoa(i-3)
		}
		s.nodes = append(s.nodes, n)
	}
	cfg := Config{Now: func() time.Time { return s.now }, Nodes: s, Faults: FaultFunc(s.active)}
	if tweak != nil {
		tweak(&cfg)
	}
	s.k = New(cfg)
	return s
}

func (s *sim) Nodes() []proxy.NodeInfo { return s.nodes }

func (s *sim) active(t time.Time) []FaultWindow {
	var out []FaultWindow
	for _, w := range s.fault {
		if w.ActiveAt(t) {
			out = append(out, w)
		}
	}
	return out
}

func (s *sim) advance(d time.Duration) { s.now = s.now.Add(d) }

// tick flushes the events and runs the time-based rules at the fake time.
func (s *sim) tick() { s.k.Flush(context.Background()) }

func (s *sim) findings(rule string) []Finding {
	s.tick()
	var out []Finding
	for _, f := range s.k.Findings() {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

func (s *sim) want(rule string, n int) Finding {
	s.t.Helper()
	fs := s.findings(rule)
	if len(fs) != n {
		s.t.Fatalf("%s: %d findings, want %d: %+v", rule, len(fs), n, s.k.Findings())
	}
	if n == 0 {
		return Finding{}
	}
	if len(fs[0].Evidence) == 0 {
		s.t.Fatalf("%s: finding without evidence", rule)
	}
	return fs[0]
}

func (s *sim) only(rules ...string) {
	s.t.Helper()
	s.tick()
	for _, f := range s.k.Findings() {
		if !contains(rules, f.Rule) {
			s.t.Errorf("unexpected finding %s: %v", f.Rule, f.Evidence)
		}
	}
}

type simConn struct {
	s    *sim
	info proxy.ConnInfo
	out  int
}

// conn opens a connection to node i (index into s.nodes) and identifies it.
func (s *sim) conn(i int, lib, ver, name string) *simConn {
	s.next++
	n := s.nodes[i]
	c := &simConn{s: s, info: proxy.ConnInfo{ID: s.next, Node: n.Addr, Listen: n.Listen,
		Client: &net.TCPAddr{IP: net.IPv4(10, 1, 1, 1), Port: 40000 + int(s.next)}, Since: s.now}}
	s.k.handle(&proxy.Event{Type: proxy.EventConnect, Time: s.now, Conn: c.info, Slot: -1})
	c.info.LibName, c.info.LibVer, c.info.Name = lib, ver, name
	return c
}

// cmdSpec describes one command event.
type cmdSpec struct {
	name, sub, key string
	reply          byte   // 0: none
	err            string // error line for reply '-'
	lat            time.Duration
	queued         int
	fault          string
	reason         string
	raw            string // bytes hashed (default: name sub key)
}

func (c *simConn) do(sp cmdSpec) *proxy.Event {
	ev := &proxy.Event{Type: proxy.EventCommand, Time: c.s.now, Conn: c.info, Command: sp.name, Sub: sp.sub,
		Key: sp.key, Slot: -1, Reply: sp.reply, Err: sp.err, Latency: sp.lat, Queued: sp.queued, Fault: sp.fault,
		Reason: sp.reason}
	if sp.key != "" {
		ev.Slot = slotOf(sp.key)
	}
	raw := sp.raw
	if raw == "" {
		raw = sp.name + " " + sp.sub + " " + sp.key
	}
	ev.Hash = maphash.String(simSeed, raw)
	if sp.reply == '-' && sp.err == "" {
		ev.Err = "ERR"
	}
	c.s.k.handle(ev)
	c.info.Asking = sp.name == "ASKING"
	return ev
}

// ok runs a command answered at once with '+'.
func (c *simConn) ok(name, key string) {
	c.do(cmdSpec{name: name, key: key, reply: '+', lat: 100 * time.Microsecond})
}

func (c *simConn) held(name, key string) {
	ev := &proxy.Event{Type: proxy.EventHeld, Time: c.s.now, Conn: c.info, Command: name, Key: key, Slot: -1,
		Hash: maphash.String(simSeed, name+"  "+key)}
	if key != "" {
		ev.Slot = slotOf(key)
	}
	c.s.k.handle(ev)
}

func (c *simConn) close(reason string) {
	c.s.k.handle(&proxy.Event{Type: proxy.EventClose, Time: c.s.now, Conn: c.info, Slot: -1, Reason: reason})
}

// slotOf is a stand-in for the CRC16 slot (tests only need stable distinct slots).
func slotOf(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(maphash.String(simSeed, key) % 16384)
}

func moved(slot int, port int) string { return "MOVED " + itoa(slot) + " 127.0.0.1:" + itoa(port) }
func ask(slot int, port int) string   { return "ASK " + itoa(slot) + " 127.0.0.1:" + itoa(port) }
