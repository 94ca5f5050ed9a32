package chaos

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
)

// TestPartitionTracking: the writes a partition counts are those a master on
// a side without a majority acknowledged to a client on its side, after the
// cut; transactions count at EXEC, unless WATCH could have aborted them.
func TestPartitionTracking(t *testing.T) {
	const exposed, safe = "10.0.0.1:6379", "10.0.0.2:6379"
	t0 := time.Unix(1000, 0)
	p := &partitionState{target: map[string]bool{exposed: true}, exposed: map[string]bool{exposed: true},
		start: t0, pending: map[uint64][]sentWrite{}, multi: map[uint64]*txn{}}
	write := &proxy.CommandInfo{Name: "SET", Write: true, FirstKey: 1, LastKey: 1, Step: 1}
	read := &proxy.CommandInfo{Name: "GET", ReadOnly: true, FirstKey: 1, LastKey: 1, Step: 1}
	conn := func(id uint64, node string) *proxy.ConnInfo {
		return &proxy.ConnInfo{ID: id, Node: node, Client: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000 + int(id)}, Name: "app"}
	}
	cmd := func(name, key string) *proxy.Command {
		c := &proxy.Command{Name: name, Args: [][]byte{[]byte(name)}, Slot: -1}
		switch name {
		case "SET":
			c.Info, c.Args = write, append(c.Args, []byte(key), []byte("v"))
		case "GET":
			c.Info, c.Args = read, append(c.Args, []byte(key))
		default:
			c.Info = &proxy.CommandInfo{Name: name}
		}
		return c
	}
	at := t0.Add(time.Second)
	reply := func(c *proxy.ConnInfo, name, key string, r byte) {
		p.observed(&proxy.Event{Type: proxy.EventCommand, Time: at, Conn: *c, Command: name, Key: key, Reply: r, Latency: time.Millisecond})
		at = at.Add(time.Millisecond)
	}
	send := func(c *proxy.ConnInfo, onTarget bool, name, key string) { p.sent(c, cmd(name, key), onTarget) }

	// Pipelined on one connection: a read between two writes, one refused.
	a := conn(1, exposed)
	send(a, true, "SET", "a1")
	send(a, true, "GET", "a1")
	send(a, true, "SET", "a2")
	send(a, true, "SET", "a3")
	reply(a, "SET", "a1", '+')
	reply(a, "GET", "a1", '$')
	reply(a, "SET", "a2", '-')
	reply(a, "SET", "a3", '+')
	// A client of the other side, and a master that keeps its slots.
	send(conn(2, exposed), false, "SET", "b1")
	reply(conn(2, exposed), "SET", "b1", '+')
	send(conn(3, safe), false, "SET", "c1")
	reply(conn(3, safe), "SET", "c1", '+')
	// A transaction: counted at EXEC; one discarded; one under WATCH.
	m := conn(4, exposed)
	for _, c := range []string{"MULTI", "SET", "SET", "EXEC"} {
		send(m, true, c, map[string]string{"SET": "m1"}[c])
	}
	reply(m, "MULTI", "", '+')
	reply(m, "SET", "m1", '+') // QUEUED
	reply(m, "SET", "m1", '+')
	reply(m, "EXEC", "", '*')
	for _, c := range []string{"MULTI", "SET", "DISCARD"} {
		send(m, true, c, map[string]string{"SET": "d1"}[c])
	}
	reply(m, "MULTI", "", '+')
	reply(m, "SET", "d1", '+')
	reply(m, "DISCARD", "", '+')
	for _, c := range []string{"WATCH", "MULTI", "SET", "EXEC"} {
		send(m, true, c, map[string]string{"SET": "w1", "WATCH": "w1"}[c])
	}
	reply(m, "SET", "w1", '+')
	reply(m, "EXEC", "", '*')
	// A write whose event never came does not stop the next one being found.
	send(a, true, "SET", "lost-event")
	send(a, true, "SET", "a4")
	reply(a, "SET", "a4", '+')
	// A write acknowledged before the cut (tracking starts a moment earlier).
	early := conn(5, exposed)
	send(early, true, "SET", "e1")
	p.observed(&proxy.Event{Type: proxy.EventCommand, Time: t0.Add(-time.Second), Conn: *early, Command: "SET", Key: "e1", Reply: '+'})
	// A closed connection forgets what it waited for.
	send(early, true, "SET", "e2")
	p.observed(&proxy.Event{Type: proxy.EventClose, Conn: *early})
	if p.waiting(5) {
		t.Error("a closed connection still waits")
	}

	wl := p.loss([]string{exposed}, false)
	var keys []string
	for _, w := range wl.Lost {
		keys = append(keys, w.Key)
		if w.Node != exposed || w.Client.Name != "app" || w.Time.Before(t0) {
			t.Errorf("write %+v", w)
		}
	}
	if got, want := strings.Join(keys, " "), "a1 a3 m1 m1 a4"; got != want || wl.Acknowledged != 5 {
		t.Errorf("lost %q (%d acknowledged), want %q (5)", got, wl.Acknowledged, want)
	}
	if wl := p.loss(nil, false); wl.Count() != 0 {
		t.Errorf("no master demoted: %d lost", wl.Count())
	}
}

// TestPartitionSide: match names the clients on the target's side; else a
// share of them, by identity (every connection of a client on one side).
func TestPartitionSide(t *testing.T) {
	mt, err := newMatcher(&fault.Match{ClientName: "worker-*"})
	if err != nil {
		t.Fatal(err)
	}
	byName := &partitionState{clients: mt}
	ip := func(a byte, port int) net.Addr { return &net.TCPAddr{IP: net.IPv4(10, 0, 0, a), Port: port} }
	if !byName.onTarget(&proxy.ConnInfo{Name: "worker-1", Client: ip(1, 1)}) || byName.onTarget(&proxy.ConnInfo{Name: "web", Client: ip(1, 2)}) {
		t.Error("client_name does not place clients")
	}
	byShare := &partitionState{share: 0.5, seed: 42}
	on := 0
	for a := byte(1); a <= 200; a++ {
		side := byShare.onTarget(&proxy.ConnInfo{Client: ip(a, 1000)})
		for port := 1001; port < 1005; port++ {
			if byShare.onTarget(&proxy.ConnInfo{Client: ip(a, port)}) != side {
				t.Fatalf("client 10.0.0.%d: its connections are on both sides", a)
			}
		}
		if side {
			on++
		}
	}
	if on < 70 || on > 130 {
		t.Errorf("share 0.5 placed %d of 200 clients on the target's side", on)
	}
	for _, share := range []float64{0, 1} {
		p := &partitionState{share: share}
		if got := p.onTarget(&proxy.ConnInfo{Client: ip(1, 1)}); got != (share == 1) {
			t.Errorf("share %v: on target %v", share, got)
		}
	}
}

func TestPartitionCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec fault.Spec
		want string // a field with a problem, "" for none
	}{
		{"sides by share", fault.Spec{Action: "partition", Target: "master", Share: 0.5}, ""},
		{"sides by name", fault.Spec{Action: "partition", Target: "master", Match: fault.Match{ClientName: "a*"}}, ""},
		{"no target", fault.Spec{Action: "partition"}, ""},
		{"share too big", fault.Spec{Action: "partition", Target: "master", Share: 2}, "share"},
		{"share and match", fault.Spec{Action: "partition", Target: "master", Share: 0.5, Match: fault.Match{Clients: "10.0.0.0/8"}}, "share"},
		{"commands", fault.Spec{Action: "partition", Target: "master", Match: fault.Match{Commands: []string{"GET"}}}, "match.commands"},
		{"probability", fault.Spec{Action: "partition", Target: "master", Match: fault.Match{Probability: 0.5}}, "match.probability"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := partitionAction{}.Check(&tc.spec)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("problems %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != tc.want {
				t.Fatalf("problems %v, want one on %s", errs, tc.want)
			}
		})
	}
}

// TestPartitionSentAfterLoss: a write sent while the partition heals, once
// its writes are accounted for, is not tracked (and does not panic).
func TestPartitionSentAfterLoss(t *testing.T) {
	const exposed = "10.0.0.1:6379"
	p := &partitionState{target: map[string]bool{exposed: true}, exposed: map[string]bool{exposed: true},
		start: time.Unix(1000, 0), pending: map[uint64][]sentWrite{}, multi: map[uint64]*txn{}}
	p.loss(nil, false)
	c := &proxy.ConnInfo{ID: 1, Node: exposed}
	for _, name := range []string{"SET", "MULTI", "WATCH"} {
		p.sent(c, &proxy.Command{Name: name, Args: [][]byte{[]byte(name), []byte("k")}, Slot: -1,
			Info: &proxy.CommandInfo{Name: name, Write: name == "SET", FirstKey: 1, LastKey: 1, Step: 1}}, true)
	}
	if len(p.pending) != 0 || len(p.multi) != 0 {
		t.Errorf("tracked after the loss was counted: %v %v", p.pending, p.multi)
	}
}
