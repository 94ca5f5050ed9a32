package chaos_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/chaos/stack"
	"github.com/redis-chaos/redis-chaos/provision"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

func TestMain(m *testing.M) {
	// The outage scenarios mostly wait on the virtual cluster's timers: play
	// them all at once, unless -parallel says otherwise.
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "8")
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// env is a real cluster with a proxy and an engine in front of it.
type env struct {
	cluster *provision.Cluster
	proxy   *proxy.Server
	engine  *chaos.Engine
	checker *checker.Checker // nil unless started with one
	stop    func()           // stops the engine (as on SIGTERM: every fault ends, real ones reverted)
}

const testNodeTimeout = time.Second

func startStack(t *testing.T, realMode bool, seed uint64) *env {
	t.Helper()
	return startStackWith(t, realMode, seed, nil)
}

// startStackWith is startStack with a checker (when ck is not nil).
func startStackWith(t *testing.T, realMode bool, seed uint64, ck *checker.Config) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{NodeTimeout: testNodeTimeout})
	cfg := stack.Config{Proxy: testenv.ProxyConfig(c.Addrs()), Engine: chaos.Config{Seed: seed}, Checker: ck}
	if realMode {
		cfg.Engine.Real = stack.RealCluster(c)
	}
	if os.Getenv("DBG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	s, err := stack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() { s.Close() })
	t.Cleanup(stop)
	return &env{cluster: c, proxy: s.Proxy, engine: s.Engine, checker: s.Checker, stop: stop}
}

// startOn starts the stack and closes it when the test ends.
func startOn(tb testing.TB, cfg stack.Config) *stack.Stack {
	tb.Helper()
	s, err := stack.Start(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// shardKeys returns one key per shard (shard order: masters by first slot).
func shardKeys(t *testing.T, p *proxy.Server) []string {
	t.Helper()
	masters := p.Topology().Masters()
	keys := make([]string, len(masters))
	for i := 0; ; i++ {
		k := fmt.Sprintf("load:%d", i)
		s := topology.Slot([]byte(k))
		for j, m := range masters {
			for _, r := range m.Slots {
				if s >= r.From && s <= r.To && keys[j] == "" {
					keys[j] = k
				}
			}
		}
		if !slices.Contains(keys, "") {
			return keys
		}
	}
}

// shardOf returns the shard (by real topology at start) of a real node address.
func shardOf(t *testing.T, p *proxy.Server, addr string) int {
	t.Helper()
	top := p.Topology()
	for i, m := range top.Masters() {
		if m.Addr == addr {
			return i
		}
		for _, r := range top.ReplicasOf(m.ID) {
			if r.Addr == addr {
				return i
			}
		}
	}
	t.Fatalf("node %s in no shard", addr)
	return -1
}

// classify names the class of a command's outcome as a client sees it.
func classify(err error) string {
	var ne net.Error
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		return "ok"
	case strings.HasPrefix(err.Error(), "CLUSTERDOWN"):
		return "clusterdown"
	case strings.HasPrefix(err.Error(), "MOVED"), strings.HasPrefix(err.Error(), "ASK"):
		return "moved"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne), errors.Is(err, os.ErrDeadlineExceeded), strings.Contains(err.Error(), "EOF"),
		strings.Contains(err.Error(), "connection reset"), strings.Contains(err.Error(), "refused"):
		return "conn"
	}
	w, _, _ := strings.Cut(err.Error(), " ")
	return w
}

type span struct {
	class       string
	first, last time.Time
	n           int
}

func (s span) String() string {
	return fmt.Sprintf("%s×%d(%dms)", s.class, s.n, s.last.Sub(s.first).Milliseconds())
}

// lasted is how long a class persisted: until the next class was first seen.
func lasted(spans []span, i int) time.Duration {
	if i+1 < len(spans) {
		return spans[i+1].first.Sub(spans[i].first)
	}
	return spans[i].last.Sub(spans[i].first)
}

// load drives SET/GET on one key per shard and records the reply classes.
type load struct {
	mu      sync.Mutex
	classes [][]string // per shard, consecutive duplicates collapsed
	spans   [][]span   // per shard, each run of one class with its time span
	counts  []map[string]int
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startLoad(t *testing.T, p *proxy.Server) *load { return startLoadWith(t, p, "", 1000) }

// startLoadAs is startLoad with a client that names itself (CLIENT SETNAME).
func startLoadAs(t *testing.T, p *proxy.Server, name string) *load {
	return startLoadWith(t, p, name, 1000)
}

// startLoadWith is startLoad with a client named name (if not empty) and
// pools of poolSize connections per node (0: go-redis's default, which
// stops dialling a node that refused it and probes it once a second).
func startLoadWith(t *testing.T, p *proxy.Server, name string, poolSize int) *load {
	t.Helper()
	keys := shardKeys(t, p)
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		ClientName:                 name,
		Addrs:                      testenv.Seeds(p),
		DialTimeout:                300 * time.Millisecond,
		ReadTimeout:                500 * time.Millisecond,
		WriteTimeout:               500 * time.Millisecond,
		MaxRetries:                 -1,
		ClusterStateReloadInterval: 500 * time.Millisecond,
		// A large pool keeps go-redis from switching to its 1 s dial-probe
		// backoff, so the client sees the node again as soon as it answers.
		PoolSize: poolSize,
	})
	l := &load{classes: make([][]string, len(keys)), spans: make([][]span, len(keys)),
		counts: make([]map[string]int, len(keys)), stop: make(chan struct{})}
	for i, k := range keys {
		l.counts[i] = map[string]int{}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-tick.C:
				}
				// go-redis retries a refused dial 5 times with backoff (~0.5 s)
				// before it reports the error: give it the time to.
				began := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := cc.Set(ctx, k, "v", 0).Err()
				if err == nil {
					err = cc.Get(ctx, k).Err()
				}
				cancel()
				c := classify(err)
				if c != "ok" && os.Getenv("DBG") != "" {
					fmt.Println(time.Now().Format("05.000"), k, err)
				}
				l.mu.Lock()
				l.counts[i][c]++
				if n := len(l.classes[i]); n == 0 || l.classes[i][n-1] != c {
					l.classes[i] = append(l.classes[i], c)
				}
				now := time.Now()
				if n := len(l.spans[i]); n == 0 || l.spans[i][n-1].class != c {
					// A class begins with the command that met it: a timeout
					// lasts the whole wait.
					l.spans[i] = append(l.spans[i], span{class: c, first: began, last: now, n: 1})
				} else {
					l.spans[i][n-1].last = now
					l.spans[i][n-1].n++
				}
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() { l.close(); cc.Close() })
	return l
}

func (l *load) close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func (l *load) result() ([][]string, []map[string]int) {
	l.close()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.classes, l.counts
}

// waitOK polls until every shard answered ok at least n times.
func (l *load) waitOK(t *testing.T, n int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, c := range l.counts {
			if c["ok"] < n {
				return fmt.Errorf("shard %d: %d ok", i, c["ok"])
			}
		}
		return nil
	})
}

// runScenario plays a scenario under load and returns the class sequences.
func runScenario(t *testing.T, s *env, name, mode string, hold time.Duration) (*chaos.Run, [][]string) {
	r, l := playUnderLoad(t, s, name, mode, hold)
	classes, _ := l.result()
	return r, classes
}

// runScenarioSpans plays a scenario under load and returns the runs of each class.
func runScenarioSpans(t *testing.T, s *env, name, mode string, hold time.Duration) (*chaos.Run, [][]span) {
	r, l := playUnderLoad(t, s, name, mode, hold)
	l.result()
	return r, l.spans
}

func playUnderLoad(t *testing.T, s *env, name, mode string, hold time.Duration) (*chaos.Run, *load) {
	t.Helper()
	l := startLoad(t, s.proxy)
	l.waitOK(t, 5)
	run, err := s.engine.StartScenario(name, chaos.RunOptions{Mode: mode, Hold: hold, Recover: 4 * time.Second})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	select {
	case <-time.After(hold + 60*time.Second):
		t.Fatalf("scenario %s did not end", name)
	case <-waitRun(s.engine, run.ID):
	}
	r, _ := s.engine.GetRun(run.ID)
	if r.State != "done" {
		t.Fatalf("run %s: state %s (%s)", run.ID, r.State, r.Error)
	}
	l.result()
	t.Logf("%s (%s): nodes %v; runs per shard %v", name, mode, r.Nodes, l.spans)
	return r, l
}

func waitRun(e *chaos.Engine, id string) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		defer close(c)
		for {
			r, err := e.GetRun(id)
			if err != nil || r.State != "running" {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return c
}

func shardsOf(t *testing.T, p *proxy.Server, nodes []string) map[int]bool {
	out := map[int]bool{}
	for _, n := range nodes {
		out[shardOf(t, p, n)] = true
	}
	return out
}

func assertSeq(t *testing.T, shard int, got []string, check func([]string) bool, want string) {
	t.Helper()
	if !check(got) {
		t.Errorf("shard %d: reply classes %v, want %s", shard, got, want)
	}
}

func onlyOK(c []string) bool { return len(c) == 1 && c[0] == "ok" }

func startsEndsOK(c []string) bool { return len(c) > 0 && c[0] == "ok" && c[len(c)-1] == "ok" }

func has(c []string, class string) bool { return slices.Contains(c, class) }

// downThenRejoin: ok, connection errors while the nodes are dead, perhaps
// CLUSTERDOWN while restarted masters wait out the writable delay, then ok.
func downThenRejoin(c []string) bool {
	if !startsEndsOK(c) || !has(c, "conn") {
		return false
	}
	if i := slices.Index(c, "clusterdown"); i >= 0 && i < slices.Index(c, "conn") {
		return false
	}
	return true
}

// TestOutageScenarios plays the outage scenarios in simulate mode, at the
// same time, each on its own proxy and engine in front of one cluster (a
// simulated fault leaves the real cluster alone).
func TestOutageScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{NodeTimeout: testNodeTimeout})
	hold := 4 * time.Second
	for _, tc := range []struct {
		name  string
		check func(t *testing.T, hit map[int]bool, classes [][]string)
	}{
		{"replica-down", func(t *testing.T, hit map[int]bool, classes [][]string) {
			for i, c := range classes {
				assertSeq(t, i, c, onlyOK, "only ok")
			}
		}},
		{"shard-replicas-down", func(t *testing.T, hit map[int]bool, classes [][]string) {
			for i, c := range classes {
				assertSeq(t, i, c, onlyOK, "only ok (master reads and writes are unaffected)")
			}
		}},
		{"master-down", func(t *testing.T, hit map[int]bool, classes [][]string) {
			for i, c := range classes {
				if hit[i] {
					assertSeq(t, i, c, func(c []string) bool { return startsEndsOK(c) && has(c, "conn") },
						"ok, connection errors on the dead master, then ok after the failover")
				} else {
					assertSeq(t, i, c, func(c []string) bool {
						return startsEndsOK(c) && has(c, "clusterdown") && !has(c, "conn")
					}, "ok, the short CLUSTERDOWN window between fail and promotion, ok")
				}
			}
		}},
		{"majority-masters-down", func(t *testing.T, hit map[int]bool, classes [][]string) {
			for i, c := range classes {
				if hit[i] {
					assertSeq(t, i, c, downThenRejoin, "ok, connection errors, (CLUSTERDOWN while rejoining), ok")
				} else {
					assertSeq(t, i, c, func(c []string) bool {
						return startsEndsOK(c) && has(c, "clusterdown") && !has(c, "conn")
					}, "ok, CLUSTERDOWN, ok after recovery")
				}
			}
		}},
		{"all-masters-down", func(t *testing.T, hit map[int]bool, classes [][]string) {
			for i, c := range classes {
				assertSeq(t, i, c, downThenRejoin, "ok, connection errors, (CLUSTERDOWN while rejoining), ok")
			}
		}},
		{"shard-down", func(t *testing.T, hit map[int]bool, classes [][]string) {
			for i, c := range classes {
				if hit[i] {
					assertSeq(t, i, c, downThenRejoin, "ok, connection errors, (CLUSTERDOWN while rejoining), ok")
				} else {
					assertSeq(t, i, c, func(c []string) bool { return startsEndsOK(c) && has(c, "clusterdown") && !has(c, "conn") },
						"ok, CLUSTERDOWN (full coverage), ok")
				}
			}
		}},
		{"all-down", func(t *testing.T, hit map[int]bool, classes [][]string) {
			for i, c := range classes {
				assertSeq(t, i, c, downThenRejoin, "ok, connection errors, (CLUSTERDOWN while rejoining), ok")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := startOn(t, stack.Config{Proxy: testenv.ProxyConfig(c.Addrs()), Engine: chaos.Config{Seed: 42}})
			s := &env{cluster: c, proxy: st.Proxy, engine: st.Engine}
			r, classes := runScenario(t, s, tc.name, "simulate", hold)
			tc.check(t, shardsOf(t, s.proxy, r.Nodes), classes)
			// After recovery the cluster through the proxy is whole again.
			assertClusterOK(t, s.proxy)
		})
	}
}

// assertClusterOK checks CLUSTER INFO through every proxy port.
func assertClusterOK(t *testing.T, p *proxy.Server) {
	t.Helper()
	for _, seed := range testenv.Seeds(p) {
		c := redis.NewClient(&redis.Options{Addr: seed, MaxRetries: -1})
		info, err := c.ClusterInfo(context.Background()).Result()
		c.Close()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			t.Errorf("CLUSTER INFO via %s after recovery: %v %q", seed, err, info)
		}
	}
}

// TestClusterViewDuringMasterDown checks that CLUSTER INFO and CLUSTER NODES
// through the proxy tell the same story as the reply classes.
func TestClusterViewDuringMasterDown(t *testing.T) {
	s := startStack(t, false, 7)
	run, err := s.engine.StartScenario("master-down", chaos.RunOptions{Hold: 5 * time.Second, Recover: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dead := run.Nodes[0]
	var other string
	for _, n := range s.proxy.Nodes() {
		if n.Addr != dead {
			other = n.Announce
			break
		}
	}
	c := redis.NewClient(&redis.Options{Addr: other, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	deadAnnounce, _ := s.proxy.Announced(dead)
	nodesLine := func() string {
		out, err := c.ClusterNodes(ctx).Result()
		if err != nil {
			return "error: " + err.Error()
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, deadAnnounce) {
				return l
			}
		}
		return ""
	}
	// fail? at once.
	if l := nodesLine(); !strings.Contains(l, "master,fail?") {
		t.Fatalf("right after the fault: %q, want master,fail?", l)
	}
	// fail and cluster_state:fail after node-timeout, then a promotion.
	var sawFail bool
	testenv.Eventually(t, 10*time.Second, func() error {
		info, _ := c.ClusterInfo(ctx).Result()
		if strings.Contains(info, "cluster_state:fail") {
			sawFail = true
		}
		l := nodesLine()
		if sawFail && strings.Contains(l, "master,fail") && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		return fmt.Errorf("state %q, node %q", info[:strings.Index(info, "\r")], l)
	})
	// The promoted replica owns the dead master's slots in CLUSTER SLOTS.
	slots, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, sl := range slots {
		if sl.Nodes[0].Addr == deadAnnounce {
			t.Fatalf("dead master still owns slots %d-%d", sl.Start, sl.End)
		}
	}
	<-waitRun(s.engine, run.ID)
	// Back: the old master is a replica now, as in Redis.
	testenv.Eventually(t, 5*time.Second, func() error {
		if l := nodesLine(); !strings.Contains(l, " slave ") {
			return fmt.Errorf("old master after recovery: %q", l)
		}
		return nil
	})
}

// TestBlockedClientReleased: a client blocked in BLPOP on a master's slot gets
// CLUSTERDOWN when the cluster goes down (as Redis unblocks it), and its
// connection keeps working afterwards.
func TestBlockedClientReleased(t *testing.T) {
	s := startStack(t, false, 3)
	keys := shardKeys(t, s.proxy)
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.Seeds(s.proxy), MaxRetries: -1,
		MaxRedirects: -1, ReadTimeout: 30 * time.Second})
	defer cc.Close()
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- cc.BLPop(ctx, 20*time.Second, keys[0]).Err() }()
	// Wait until the proxy holds the BLPOP, then lose the majority of masters.
	time.Sleep(200 * time.Millisecond)
	masters := s.proxy.Topology().Masters()
	target := masters[1].Addr + "," + masters[2].Addr
	if _, err := s.engine.Add(fault.Spec{Action: "down", Target: target, TTL: fault.Duration(5 * time.Second)}, "test"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
			t.Fatalf("BLPOP ended with %v, want CLUSTERDOWN", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("released after %v", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the blocked client was not released")
	}
	// The node was asked to unblock the BLPOP: the same connection answers at once.
	s.engine.Clear("test")
	c := redis.NewClient(&redis.Options{Addr: proxyAddrOf(t, s, keys[0]), MaxRetries: -1, PoolSize: 1})
	defer c.Close()
	testenv.Eventually(t, 10*time.Second, func() error { return c.Set(ctx, keys[0]+"x", "1", 0).Err() })
}

func proxyAddrOf(t *testing.T, s *env, key string) string {
	slot := topology.Slot([]byte(key))
	for _, m := range s.proxy.Topology().Masters() {
		for _, r := range m.Slots {
			if slot >= r.From && slot <= r.To {
				a, _ := s.proxy.Announced(m.Addr)
				return a
			}
		}
	}
	t.Fatalf("no owner for %s", key)
	return ""
}
