package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// fakeData is a data path for the engine without a proxy: a 3×2 cluster.
type fakeData struct{ t *topology.Topology }

func newFakeData() *fakeData {
	t := &topology.Topology{}
	slots := []topology.Range{{From: 0, To: 5460}, {From: 5461, To: 10922}, {From: 10923, To: 16383}}
	for m := 0; m < 3; m++ {
		t.Nodes = append(t.Nodes, topology.Node{ID: fmt.Sprintf("%040d", m), Addr: fmt.Sprintf("10.0.0.%d:6379", m),
			Role: topology.RoleMaster, Slots: []topology.Range{slots[m]}})
	}
	for m := 0; m < 3; m++ {
		for r := 0; r < 2; r++ {
			i := 3 + 2*m + r
			t.Nodes = append(t.Nodes, topology.Node{ID: fmt.Sprintf("%040d", i), Addr: fmt.Sprintf("10.0.0.%d:6379", i),
				Role: topology.RoleReplica, MasterID: fmt.Sprintf("%040d", m)})
		}
	}
	return &fakeData{t}
}

func (d *fakeData) Topology() *topology.Topology { return d.t }
func (d *fakeData) Nodes() []proxy.NodeInfo {
	var out []proxy.NodeInfo
	for _, n := range d.t.Nodes {
		out = append(out, proxy.NodeInfo{ID: n.ID, Addr: n.Addr, Announce: n.Addr, Role: n.Role, MasterID: n.MasterID})
	}
	return out
}
func (d *fakeData) SetDown(string, bool) error { return nil }
func (d *fakeData) ResetConns(string)          {}
func (d *fakeData) Interrupt(func(*proxy.ConnInfo, *proxy.CommandInfo, int) []byte) int {
	return 0
}

// stepClock is a time the test sets, stepping the engine's timers itself.
type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time                       { return c.t }
func (c *stepClock) After(time.Duration) <-chan time.Time { return nil }

// step moves the clock by d, running the engine's timers every 20 ms.
func (c *stepClock) step(e *Engine, d time.Duration) {
	for end := c.t.Add(d); c.t.Before(end); {
		c.t = c.t.Add(20 * time.Millisecond)
		e.step()
	}
}

// writeGets is what the policy does with a SET on a slot of shard 0, sent
// by a client named name to node addr: ok when it is forwarded to the node
// as it is (or to the real master of a promoted replica).
func writeGets(e *Engine, name, addr string) string {
	c := &proxy.ConnInfo{ID: 1, Node: addr, Name: name}
	cmd := &proxy.Command{Name: "SET", Args: [][]byte{[]byte("SET"), []byte("k"), []byte("v")},
		Info: &proxy.CommandInfo{Name: "SET", Write: true, FirstKey: 1, LastKey: 1, Step: 1}, Slot: 100}
	a := e.pol.Command(c, cmd)
	switch a.Kind {
	case proxy.Hang:
		return "held"
	case proxy.Reply:
		w, _, _ := strings.Cut(strings.TrimPrefix(string(a.Reply), "-"), " ")
		return w
	}
	return "ok"
}

// TestPartitionTimeline plays simulated partitions on a virtual 3×2 cluster
// with a settable clock (node-timeout 1 s) and checks what a write to shard 0
// gets on each side, as Redis's rules say.
func TestPartitionTimeline(t *testing.T) {
	const m0, m1, r0 = "10.0.0.0:6379", "10.0.0.1:6379", "10.0.0.3:6379"
	start := func(t *testing.T, target string) (*Engine, *stepClock, *Fault) {
		t.Helper()
		ck := &stepClock{t: time.Unix(1000, 0)}
		e := New(Config{Data: newFakeData(), Settings: Settings{NodeTimeout: time.Second, FullCoverage: true}, Clock: ck, Seed: 1})
		f, err := e.Add(fault.Spec{Action: "partition", Target: target, Match: fault.Match{ClientName: "minority"}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		return e, ck, f
	}
	expect := func(t *testing.T, e *Engine, when string, want map[[2]string]string) {
		t.Helper()
		for k, w := range want {
			if got := writeGets(e, k[0], k[1]); got != w {
				t.Errorf("%s: a SET from the %s side to %s gets %s, want %s", when, k[0], k[1], got, w)
			}
		}
	}
	t.Run("one master cut off", func(t *testing.T) {
		e, ck, f := start(t, m0)
		expect(t, e, "at the cut", map[[2]string]string{
			{"minority", m0}: "ok", {"minority", m1}: "held", {"majority", m0}: "held"})
		ck.step(e, 1100*time.Millisecond)
		expect(t, e, "after node-timeout", map[[2]string]string{{"minority", m0}: "CLUSTERDOWN"})
		ck.step(e, 3*time.Second)
		expect(t, e, "after the failover", map[[2]string]string{
			{"minority", m0}: "CLUSTERDOWN", {"majority", r0}: "ok", {"majority", m1}: "MOVED"})
		if err := e.Remove(f.ID); err != nil {
			t.Fatal(err)
		}
		expect(t, e, "healed", map[[2]string]string{{"minority", m0}: "MOVED", {"majority", m0}: "MOVED", {"minority", r0}: "ok"})
		if w, _ := e.Ended(f.ID); w.Writes == nil || !w.Writes.AtRisk || len(w.Writes.Demoted) != 1 || w.Writes.Demoted[0] != m0 {
			t.Errorf("writes: %+v", w.Writes)
		}
	})
	t.Run("a shard cut off, nothing to promote", func(t *testing.T) {
		e, ck, f := start(t, m0+",10.0.0.3:6379,10.0.0.4:6379")
		ck.step(e, 4*time.Second)
		expect(t, e, "during", map[[2]string]string{{"minority", m0}: "CLUSTERDOWN", {"majority", m1}: "CLUSTERDOWN"})
		if err := e.Remove(f.ID); err != nil {
			t.Fatal(err)
		}
		// Redis: the minority master waits out its rejoin delay (node-timeout,
		// 0.5-5 s) before it takes writes again; the majority clears the
		// master's FAIL flag 2 × node-timeout after it set it (long ago here).
		expect(t, e, "just healed", map[[2]string]string{{"minority", m0}: "CLUSTERDOWN", {"majority", m0}: "CLUSTERDOWN", {"majority", m1}: "ok"})
		ck.step(e, 1100*time.Millisecond)
		expect(t, e, "a node-timeout later", map[[2]string]string{{"minority", m0}: "ok", {"majority", m1}: "ok"})
	})
	t.Run("a short cut clears FAIL later", func(t *testing.T) {
		e, ck, f := start(t, m0+",10.0.0.3:6379,10.0.0.4:6379")
		ck.step(e, 1500*time.Millisecond) // the majority flags m0 FAIL: cluster_state:fail
		expect(t, e, "during", map[[2]string]string{{"majority", m1}: "CLUSTERDOWN"})
		if err := e.Remove(f.ID); err != nil {
			t.Fatal(err)
		}
		ck.step(e, 500*time.Millisecond)
		expect(t, e, "0.5 s after the heal", map[[2]string]string{{"majority", m1}: "CLUSTERDOWN"})
		ck.step(e, 2*time.Second)
		expect(t, e, "2 × node-timeout after FAIL", map[[2]string]string{{"majority", m1}: "ok", {"minority", m0}: "ok"})
	})
}
