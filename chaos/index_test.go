package chaos

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// staticData is a fixed 3-master cluster for tests of the policy alone (the
// end-to-end tests use a real cluster). Methods of Data it does not define
// (the embedded nil interface) are never called by these tests: they change
// no node.
type staticData struct {
	Data
	t *topology.Topology
}

func newStaticData() *staticData {
	t := &topology.Topology{}
	for i := range 3 {
		t.Nodes = append(t.Nodes, topology.Node{
			ID: fmt.Sprintf("%040d", i), Addr: "10.9.9.9:" + strconv.Itoa(30001+i), Role: topology.RoleMaster,
			Slots: []topology.Range{{From: i * 5462, To: min(i*5462+5461, topology.NumSlots-1)}},
		})
	}
	return &staticData{t: t}
}

func (d *staticData) Topology() *topology.Topology { return d.t }
func (d *staticData) Nodes() []proxy.NodeInfo {
	var out []proxy.NodeInfo
	for i, n := range d.t.Nodes {
		out = append(out, proxy.NodeInfo{ID: n.ID, Addr: n.Addr, Announce: "127.0.0.1:" + strconv.Itoa(7001+i), Role: n.Role})
	}
	return out
}
func (d *staticData) SetDown(string, bool) error { return nil }
func (d *staticData) ResetConns(string)          {}
func (d *staticData) Interrupt(func(*proxy.ConnInfo, *proxy.CommandInfo, int) []byte) int {
	return 0
}

func staticEngine() *Engine {
	return New(Config{Seed: 1, Data: newStaticData()})
}

var (
	getInfo = &proxy.CommandInfo{Name: "GET", ReadOnly: true, FirstKey: 1, LastKey: 1, Step: 1}
	setInfo = &proxy.CommandInfo{Name: "SET", Write: true, FirstKey: 1, LastKey: 1, Step: 1}
	pingInf = &proxy.CommandInfo{Name: "PING", Keyless: true}
)

func command(info *proxy.CommandInfo, key string) *proxy.Command {
	c := &proxy.Command{Name: info.Name, Info: info, Slot: -1, Args: [][]byte{[]byte(info.Name)}}
	if key != "" {
		c.Args = append(c.Args, []byte(key))
		c.Slot = topology.Slot([]byte(key))
	}
	return c
}

// TestIndexNeverHidesAMatch checks the index against the matchers: for random
// faults and commands, every fault whose matcher matches is a candidate.
func TestIndexNeverHidesAMatch(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[rnd.IntN(len(xs))] }
	globs := []string{"", "user:*", "user:1*", "u*", "*:1", "?ser:*", "[uo]ser:*", "order:\\*", "user:12", "a"}
	cidrs := []string{"", "127.0.0.1", "127.0.0.0/8", "10.0.0.0/8", "0.0.0.0/0", "::1", "::/0", "127.0.0.2,10.1.0.0/16", "::ffff:127.0.0.1"}
	keys := []string{"user:1", "user:12", "user:2", "order:*", "order:1", "a", "", "x:1"}
	clients := []net.Addr{
		&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3).To4(), Port: 1},
		&net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}, &net.UnixAddr{Name: "@", Net: "unix"}, nil,
	}
	for round := range 300 {
		var fs []*Fault
		for i := range 1 + rnd.IntN(80) {
			m := fault.Match{Keys: pick(globs...), Clients: pick(cidrs...)}
			if rnd.IntN(2) == 0 {
				m.Commands = []string{pick("GET", "SET", "PING")}
			}
			mt, err := newMatcher(&m)
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, &Fault{ID: "f" + strconv.Itoa(i), Spec: fault.Spec{Match: m}, matcher: mt})
		}
		ix := newFaultIndex(fs)
		for range 50 {
			info := []*proxy.CommandInfo{getInfo, setInfo, pingInf}[rnd.IntN(3)]
			key := ""
			if info != pingInf {
				key = pick(keys...)
			}
			cmd := command(info, key)
			c := &proxy.ConnInfo{Client: clients[rnd.IntN(len(clients))]}
			cand := ix.candidates(c, cmd, len(fs))
			in := map[int]bool{}
			for i := cand.next(0); i >= 0; i = cand.next(i + 1) {
				in[i] = true
			}
			for i, f := range fs {
				if f.matcher.match(c, cmd) && !in[i] {
					t.Fatalf("round %d: fault %+v matches %s %q from %v but is no candidate", round, f.Spec.Match, cmd.Name, key, c.Client)
				}
			}
		}
	}
}

func TestCandidatesNext(t *testing.T) {
	var c candidates
	for _, i := range []int{0, 5, 63, 64, 130, 255} {
		c.set.add(i)
	}
	var got []int
	for i := c.next(0); i >= 0; i = c.next(i + 1) {
		got = append(got, i)
	}
	if fmt.Sprint(got) != "[0 5 63 64 130 255]" {
		t.Errorf("next: %v", got)
	}
	all := candidates{n: 3}
	if all.next(0) != 0 || all.next(2) != 2 || all.next(3) != -1 {
		t.Error("unindexed candidates")
	}
	if newFaultIndex(make([]*Fault, maxIndexed+1)) != nil || newFaultIndex(nil) != nil {
		t.Error("an index over none or too many faults")
	}
}

// BenchmarkCommandNonMatchingFaults is the policy's own cost per command
// (no network): a GET on a node with 0 or 100 faults that do not match it.
func BenchmarkCommandNonMatchingFaults(b *testing.B) {
	for _, n := range []int{0, 100} {
		b.Run(fmt.Sprintf("faults=%d", n), func(b *testing.B) {
			e := staticEngine()
			for i := range n {
				s := fault.Spec{Target: "all", TTL: fault.Duration(time.Hour)}
				switch i % 3 {
				case 0:
					s.Action, s.Error, s.Match.Commands = "error", "MISCONF", []string{"SET", "HSET"}
				case 1:
					s.Action, s.Latency, s.Match.Keys = "latency", fault.Duration(time.Second), fmt.Sprintf("nomatch:%d:*", i)
				case 2:
					s.Action, s.After, s.Match.Clients = "reset", 1, fmt.Sprintf("10.%d.0.0/16", i)
				}
				if _, err := e.Add(s, "bench"); err != nil {
					b.Fatal(err)
				}
			}
			c := &proxy.ConnInfo{Node: "10.9.9.9:30001", Client: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}}
			cmd := command(getInfo, "bench:{k}")
			b.ReportAllocs()
			for b.Loop() {
				if a := e.Policy().Command(c, cmd); a.Kind != proxy.Forward || a.Fault != "" {
					b.Fatalf("action %+v", a)
				}
			}
		})
	}
}
