package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/chaos/stack"
	"github.com/redis-chaos/redis-chaos/provision"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// TestEngine runs the engine tests that share one real cluster: seeded
// reproducibility and plans (plan_test.go). Each test gets its own proxy and
// engine in front of that cluster.
func TestEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{NodeTimeout: time.Second})
	on := func(t *testing.T, seed uint64) (*chaos.Engine, *proxy.Server) { return engineOn(t, c, seed) }
	t.Run("seeded picks", func(t *testing.T) { testSeededPicks(t, on) })
	t.Run("seeded probability", func(t *testing.T) { testSeededProbability(t, on) })
	t.Run("every scenario starts", func(t *testing.T) { testEveryScenarioStarts(t, on) })
	t.Run("plan steps at offsets", func(t *testing.T) { testPlanSteps(t, on) })
	t.Run("plan with a scenario, stopped", func(t *testing.T) { testPlanScenarioStop(t, on) })
	t.Run("plan loop", func(t *testing.T) { testPlanLoop(t, on) })
	t.Run("plan from YAML", func(t *testing.T) { testPlanYAML(t, on) })
	t.Run("bad plans", func(t *testing.T) { testBadPlans(t, on) })
	t.Run("cross-slot before cluster down", func(t *testing.T) { testCrossSlotFirst(t, on) })
	t.Run("hang counts the commands it holds", func(t *testing.T) { testHangCounts(t, on) })
}

// testHangCounts: a hang fault's injected count is the commands it held.
func testHangCounts(t *testing.T, on engineFactory) {
	e, p := on(t, 1)
	node := ownerOf(t, p, "hang:{1}")
	f, err := e.Add(fault.Spec{Action: "hang", Target: node.Announce}, "test")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for range 2 {
		c := redis.NewClient(&redis.Options{Addr: node.Announce, MaxRetries: -1, PoolSize: 1, ReadTimeout: 20 * time.Second})
		defer c.Close()
		go func() { errs <- c.Get(context.Background(), "hang:{1}").Err() }()
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		g, err := e.Get(f.ID)
		if err != nil {
			return err
		}
		if n := g.Injected; n != 2 {
			return fmt.Errorf("hang fault injected=%d while it holds 2 GETs", n)
		}
		return nil
	})
	if err := e.Remove(f.ID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil && !errors.Is(err, redis.Nil) {
			t.Errorf("GET after the hang ended: %v", err)
		}
	}
}

// testCrossSlotFirst: with a shard down for good the virtual cluster is down
// and keyed commands get CLUSTERDOWN, but one whose keys are in several slots
// gets CROSSSLOT, as from Redis (getNodeByQuery checks the keys first).
func testCrossSlotFirst(t *testing.T, on engineFactory) {
	e, p := on(t, 7)
	f, err := e.Add(fault.Spec{Action: "down", Target: "shard:0", TTL: fault.Duration(time.Minute)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Remove(f.ID)
	var live string
	for _, n := range p.Topology().Masters() {
		if !slices.Contains(f.Nodes, n.Addr) {
			live, _ = p.Announced(n.Addr)
			break
		}
	}
	rc := redis.NewClient(&redis.Options{Addr: live, MaxRetries: -1})
	defer rc.Close()
	ctx := context.Background()
	testenv.Eventually(t, 10*time.Second, func() error {
		if err := rc.Set(ctx, "{a}1", "v", 0).Err(); err == nil || err.Error() != "CLUSTERDOWN The cluster is down" {
			return fmt.Errorf("SET while a shard is down: %v, want CLUSTERDOWN", err)
		}
		return nil
	})
	err = rc.MSet(ctx, "{a}1", "v", "{b}1", "v").Err()
	if err == nil || err.Error() != "CROSSSLOT Keys in request don't hash to the same slot" {
		t.Errorf("MSET of keys in two slots while the cluster is down: %v, want CROSSSLOT", err)
	}
}

type engineFactory func(t *testing.T, seed uint64) (*chaos.Engine, *proxy.Server)

// engineOn starts a proxy with its own engine in front of the cluster.
func engineOn(t *testing.T, c *provision.Cluster, seed uint64) (*chaos.Engine, *proxy.Server) {
	t.Helper()
	s := startOn(t, stack.Config{Proxy: testenv.ProxyConfig(c.Addrs()), Engine: chaos.Config{Seed: seed}})
	return s.Engine, s.Proxy
}

// picks plays the same sequence of selectors and scenarios on an engine and
// returns the nodes each one picked.
func picks(t *testing.T, e *chaos.Engine) []string {
	t.Helper()
	var out []string
	for _, target := range []string{"master", "replica", "masters:majority", "master:random", "replica:random", "replica", "master"} {
		f, err := e.Add(fault.Spec{Action: "error", Error: "OOM", Target: target}, "test")
		if err != nil {
			t.Fatalf("target %s: %v", target, err)
		}
		out = append(out, target+"="+strings.Join(f.Nodes, ","))
		if err := e.Remove(f.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Scenarios are stopped at once: well before node-timeout, so that the
	// virtual cluster never fails over and every scenario starts from the
	// same cluster.
	for _, name := range []string{"replica-down", "master-down", "shard-replicas-down", "majority-masters-down", "shard-down", "misconf", "hang", "replica-down", "master-down"} {
		r, err := e.StartScenario(name, chaos.RunOptions{Hold: time.Minute})
		if err != nil {
			t.Fatalf("scenario %s: %v", name, err)
		}
		if r.Seed != e.Seed() {
			t.Errorf("run seed %d, engine seed %d", r.Seed, e.Seed())
		}
		out = append(out, name+"="+strings.Join(r.Nodes, ","))
		if err := e.StopRun(r.ID); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func testSeededPicks(t *testing.T, on engineFactory) {
	a, _ := on(t, 42)
	b, _ := on(t, 42)
	c, _ := on(t, 43)
	pa, pb, pc := picks(t, a), picks(t, b), picks(t, c)
	if !slices.Equal(pa, pb) {
		t.Errorf("same seed, different picks:\n%v\n%v", pa, pb)
	}
	if slices.Equal(pa, pc) {
		t.Errorf("seeds 42 and 43 picked the same nodes %d times in a row: %v", len(pa), pa)
	}
	for _, p := range pa {
		if strings.HasSuffix(p, "=") {
			t.Errorf("a pick chose no node: %s", p)
		}
	}
	t.Logf("seed 42: %v", pa)
}

// injections sends n GETs through the proxy and reports which got the fault's error.
func injections(t *testing.T, e *chaos.Engine, p *proxy.Server, n int) []bool {
	t.Helper()
	ctx := context.Background()
	const key = "prob:{1}"
	node := ownerOf(t, p, key)
	f, err := e.Add(fault.Spec{Action: "error", Error: "LOADING", Target: node.Announce,
		Match: fault.Match{Commands: []string{"GET"}, Probability: 0.3}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Remove(f.ID)
	c := redis.NewClient(&redis.Options{Addr: node.Announce, MaxRetries: -1, PoolSize: 1})
	defer c.Close()
	out := make([]bool, n)
	for i := range out {
		err := c.Get(ctx, key).Err()
		switch {
		case err == nil || errors.Is(err, redis.Nil):
		case strings.HasPrefix(err.Error(), "LOADING"):
			out[i] = true
		default:
			t.Fatalf("GET %d: %v", i, err)
		}
	}
	return out
}

func testSeededProbability(t *testing.T, on engineFactory) {
	a, pa := on(t, 42)
	b, pb := on(t, 42)
	c, pc := on(t, 43)
	const n = 200
	ia, ib, ic := injections(t, a, pa, n), injections(t, b, pb, n), injections(t, c, pc, n)
	if !slices.Equal(ia, ib) {
		t.Errorf("same seed, different injections:\n%s\n%s", bits(ia), bits(ib))
	}
	if slices.Equal(ia, ic) {
		t.Errorf("seeds 42 and 43 injected on the same commands: %s", bits(ia))
	}
	k := 0
	for _, x := range ia {
		if x {
			k++
		}
	}
	if k < n*15/100 || k > n*45/100 {
		t.Errorf("probability 0.3 injected %d of %d commands", k, n)
	}
	t.Logf("seed 42 injected %d/%d: %s", k, n, bits(ia))
}

func bits(b []bool) string {
	var s strings.Builder
	for _, x := range b {
		if x {
			s.WriteByte('x')
		} else {
			s.WriteByte('.')
		}
	}
	return s.String()
}

// ownerOf returns the proxy node of the master serving key.
func ownerOf(t *testing.T, p *proxy.Server, key string) proxy.NodeInfo {
	t.Helper()
	slot := topology.Slot([]byte(key))
	for _, m := range p.Topology().Masters() {
		for _, r := range m.Slots {
			if slot >= r.From && slot <= r.To {
				for _, n := range p.Nodes() {
					if n.Addr == m.Addr {
						return n
					}
				}
			}
		}
	}
	t.Fatalf("no master for %s", key)
	return proxy.NodeInfo{}
}

// waitDone waits for a run to end.
func waitDone(t *testing.T, e *chaos.Engine, id string, within time.Duration) *chaos.Run {
	t.Helper()
	var r *chaos.Run
	testenv.Eventually(t, within, func() error {
		var err error
		if r, err = e.GetRun(id); err != nil {
			return err
		}
		if r.State == "running" {
			return fmt.Errorf("run %s still running: phases %v", id, phaseNames(r))
		}
		return nil
	})
	return r
}

func phaseNames(r *chaos.Run) []string {
	var out []string
	for _, p := range r.Phases {
		out = append(out, p.Name)
	}
	return out
}

// testEveryScenarioStarts starts each built-in scenario, checks that it names
// the nodes it picked, and stops it before node-timeout.
func testEveryScenarioStarts(t *testing.T, on engineFactory) {
	e, _ := on(t, 6)
	for _, sc := range chaos.ScenarioList() {
		r, err := e.StartScenario(sc.Name, chaos.RunOptions{Hold: time.Minute})
		if err != nil {
			t.Errorf("scenario %s: %v", sc.Name, err)
			continue
		}
		if len(r.Nodes) == 0 || len(r.Faults) == 0 || r.Expect == "" {
			t.Errorf("scenario %s: nodes %v, %d faults", sc.Name, r.Nodes, len(r.Faults))
		}
		if err := e.StopRun(r.ID); err != nil {
			t.Fatal(err)
		}
		if n := len(e.List()); n != 0 {
			t.Errorf("scenario %s left %d faults after it stopped", sc.Name, n)
		}
	}
}
