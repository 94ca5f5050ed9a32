package checker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/provision"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// TestCluster shows every rule with a real client (go-redis with the
// offending option, redis-cli) or a scripted RESP client through a real
// proxy in front of a real cluster, under the fault that reveals it. The
// cluster is shared; each case gets its own proxy and checker.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	cl := testenv.StartCluster(t, testenv.ClusterOptions{})
	ctx := context.Background()

	cluster := func(h *harness, tweak func(*redis.ClusterOptions)) *redis.ClusterClient {
		o := &redis.ClusterOptions{Addrs: testenv.Seeds(h.p), DialTimeout: time.Second,
			ReadTimeout: time.Second, WriteTimeout: time.Second}
		if tweak != nil {
			tweak(o)
		}
		c := redis.NewClusterClient(o)
		t.Cleanup(func() { c.Close() })
		return c
	}
	single := func(addr string, tweak func(*redis.Options)) *redis.Client {
		o := &redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second}
		if tweak != nil {
			tweak(o)
		}
		c := redis.NewClient(o)
		t.Cleanup(func() { c.Close() })
		return c
	}
	cli := func(t *testing.T, addr string, args ...string) string {
		host, port, _ := net.SplitHostPort(addr)
		out, _ := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out))
	}

	t.Run(checker.RuleMovedIgnored, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		own, other := h.owner("user:1")
		// A plain (non-cluster) go-redis client pointed at the wrong node.
		c := single(other.Announce, nil)
		for i := 0; i < 3; i++ {
			if err := c.Get(ctx, "user:1").Err(); err == nil || !strings.HasPrefix(err.Error(), "MOVED") {
				t.Fatalf("GET through a plain client: %v, want MOVED", err)
			}
		}
		f := h.waitFinding(checker.RuleMovedIgnored, 5*time.Second)
		if f.Severity != checker.High || f.Client.Library() != checker.LibGoRedis ||
			!strings.Contains(f.Evidence[0].Reply, "MOVED") || !strings.Contains(f.Evidence[0].Reply, own.Announce) {
			t.Fatalf("finding %+v", f)
		}
		// A cluster client follows the same MOVED.
		h2 := newHarness(t, cl, nil)
		cc := cluster(h2, func(o *redis.ClusterOptions) { o.Addrs = []string{other.Announce} })
		for i := 0; i < 50; i++ {
			if err := cc.Get(ctx, fmt.Sprint("user:", i)).Err(); err != nil && !errors.Is(err, redis.Nil) {
				t.Fatal(err)
			}
		}
		time.Sleep(2500 * time.Millisecond) // past Thresholds.MovedFollow
		h2.none(checker.RuleMovedIgnored)
	})

	t.Run(checker.RuleStaleSlotMap, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		own, other := h.owner("stale")
		// go-redis with a static slot map that says "other" owns every slot:
		// it follows each MOVED but never learns.
		cc := cluster(h, func(o *redis.ClusterOptions) {
			o.ClusterSlots = func(context.Context) ([]redis.ClusterSlot, error) {
				return []redis.ClusterSlot{{Start: 0, End: 16383, Nodes: []redis.ClusterNode{{Addr: other.Announce}}}}, nil
			}
		})
		for i := 0; i < 4; i++ {
			if err := cc.Set(ctx, "stale", i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		f := h.waitFinding(checker.RuleStaleSlotMap, 5*time.Second)
		if !strings.Contains(f.Remedy, "ClusterSlots") {
			t.Fatalf("remedy %q", f.Remedy)
		}
		_ = own
		// The default go-redis reloads CLUSTER SLOTS on MOVED.
		h2 := newHarness(t, cl, nil)
		cc2 := cluster(h2, func(o *redis.ClusterOptions) { o.Addrs = []string{other.Announce} })
		for i := 0; i < 20; i++ {
			cc2.Set(ctx, "stale", i, 0)
		}
		h2.none(checker.RuleStaleSlotMap)
	})

	// asking sets up a migration of key's slot from its owner to another
	// master: ASK from the owner, MOVED back from the target unless ASKING.
	migrating := func(h *harness, key string) (src, dst proxy.NodeInfo) {
		src, dst = h.owner(key)
		slot := topology.Slot([]byte(key))
		h.ft.add(&testFault{action: "migrate", nodes: []string{src.Addr},
			match: func(_ *proxy.ConnInfo, cmd *proxy.Command) bool { return cmd.Slot == slot },
			act:   reply(fmt.Sprintf("-ASK %d %s", slot, dst.Announce))})
		h.ft.add(&testFault{action: "migrate", nodes: []string{dst.Addr},
			match: func(_ *proxy.ConnInfo, cmd *proxy.Command) bool { return cmd.Slot == slot },
			act: func(c *proxy.ConnInfo, cmd *proxy.Command) proxy.Action {
				if c.Asking {
					return proxy.Action{Route: src.Addr} // the importing node serves it (from the real owner)
				}
				return proxy.Action{Kind: proxy.Reply, Reply: []byte(fmt.Sprintf("-MOVED %d %s\r\n", slot, src.Announce))}
			}})
		return src, dst
	}

	t.Run(checker.RuleAskWithoutAsking, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		src, dst := migrating(h, "{mig}a")
		// A scripted client that follows ASK like MOVED, without ASKING.
		a := dialRaw(t, src.Announce)
		if l := a.do("GET", "{mig}a"); !strings.HasPrefix(l, "-ASK") {
			t.Fatalf("GET at the source: %s", l)
		}
		b := dialRaw(t, dst.Announce)
		if l := b.do("GET", "{mig}a"); !strings.HasPrefix(l, "-MOVED") {
			t.Fatalf("GET at the target without ASKING: %s", l)
		}
		h.waitFinding(checker.RuleAskWithoutAsking, 5*time.Second)
		// go-redis sends ASKING.
		h2 := newHarness(t, cl, nil)
		migrating(h2, "{mig}a")
		cc := cluster(h2, nil)
		for i := 0; i < 10; i++ {
			if err := cc.Set(ctx, "{mig}a", i, 0).Err(); err != nil {
				t.Fatalf("go-redis through a migration: %v", err)
			}
		}
		h2.none(checker.RuleAskWithoutAsking, checker.RuleAskUpdatesMap)
	})

	t.Run(checker.RuleAskUpdatesMap, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		src, dst := migrating(h, "{mig}a")
		a := dialRaw(t, src.Announce)
		a.do("GET", "{mig}a")
		b := dialRaw(t, dst.Announce)
		b.do("ASKING")
		if l := b.do("GET", "{mig}a"); strings.HasPrefix(l, "-") {
			t.Fatalf("ASKING + GET at the target: %s", l)
		}
		// Later commands for the slot go straight to the target.
		if l := b.do("GET", "{mig}b"); !strings.HasPrefix(l, "-MOVED") {
			t.Fatalf("GET at the target: %s", l)
		}
		h.waitFinding(checker.RuleAskUpdatesMap, 5*time.Second)
		h.none(checker.RuleAskWithoutAsking)
	})

	t.Run(checker.RuleTopologyRefreshStorm, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		// go-redis with a state reload interval far below sane values.
		cc := cluster(h, func(o *redis.ClusterOptions) { o.ClusterStateReloadInterval = 50 * time.Millisecond })
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			cc.Set(ctx, "refresh", 1, 0)
			time.Sleep(20 * time.Millisecond)
		}
		f := h.waitFinding(checker.RuleTopologyRefreshStorm, 5*time.Second)
		if !strings.Contains(f.Evidence[0].Command, "CLUSTER SLOTS") {
			t.Fatalf("evidence %+v", f.Evidence)
		}
	})

	t.Run(checker.RuleReconnectStorm, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		r := h.nodes("replica")[0]
		// The node is down: the proxy accepts and resets every connection (a
		// refused connection never reaches the proxy).
		h.ft.add(&testFault{action: "down", nodes: []string{r.Addr},
			act: func(*proxy.ConnInfo, *proxy.Command) proxy.Action { return proxy.Action{Kind: proxy.Close} }})
		// go-redis with backoff switched off and many retries.
		c := single(r.Announce, func(o *redis.Options) {
			o.MaxRetries = 10
			o.MinRetryBackoff, o.MaxRetryBackoff = -1, -1
			o.DialerRetries = 1
		})
		for i := 0; i < 5; i++ {
			if err := c.Ping(ctx).Err(); err == nil {
				t.Fatal("PING to a down node succeeded")
			}
		}
		f := h.waitFinding(checker.RuleReconnectStorm, 5*time.Second)
		if f.Nodes[0] != r.Addr {
			t.Fatalf("nodes %v, want %s", f.Nodes, r.Addr)
		}
	})

	t.Run(checker.RuleNoBackoffRetry, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		own, _ := h.owner("busy")
		slot := topology.Slot([]byte("busy"))
		h.ft.add(&testFault{action: "error", nodes: []string{own.Addr},
			match: func(_ *proxy.ConnInfo, cmd *proxy.Command) bool { return cmd.Slot == slot },
			act:   reply("-TRYAGAIN Multiple keys request during rehashing of slot")})
		// go-redis with its retry backoff switched off.
		cc := cluster(h, func(o *redis.ClusterOptions) {
			o.MinRetryBackoff, o.MaxRetryBackoff = -1, -1
			o.MaxRedirects = 10
		})
		for i := 0; i < 10; i++ {
			if err := cc.Set(ctx, "busy", 1, 0).Err(); err == nil {
				t.Fatal("SET succeeded through TRYAGAIN")
			}
		}
		h.waitFinding(checker.RuleNoBackoffRetry, 5*time.Second)
		// The default backoff (10 ms to 1 s) is not flagged.
		h2 := newHarness(t, cl, nil)
		own2, _ := h2.owner("busy")
		h2.ft.add(&testFault{action: "error", nodes: []string{own2.Addr},
			match: func(_ *proxy.ConnInfo, cmd *proxy.Command) bool { return cmd.Slot == slot },
			act:   reply("-TRYAGAIN Multiple keys request during rehashing of slot")})
		cc2 := cluster(h2, nil)
		for i := 0; i < 10; i++ {
			cc2.Set(ctx, "busy", 1, 0)
		}
		h2.none(checker.RuleNoBackoffRetry)
	})

	t.Run(checker.RuleNoCommandTimeout, func(t *testing.T) {
		h := newHarness(t, cl, func(c *checker.Config) { c.Thresholds.CommandTimeout = time.Second })
		own, _ := h.owner("hang")
		release := make(chan struct{})
		id := h.ft.add(&testFault{action: "hang", nodes: []string{own.Addr},
			match: commandIs("GET"),
			act: func(*proxy.ConnInfo, *proxy.Command) proxy.Action {
				return proxy.Action{Kind: proxy.Hang, Release: release}
			}})
		// go-redis with read timeouts switched off.
		cc := cluster(h, func(o *redis.ClusterOptions) { o.ReadTimeout = -1 })
		cc.Set(ctx, "hang", "v", 0)
		done := make(chan error, 1)
		go func() { done <- cc.Get(ctx, "hang").Err() }()
		f := h.waitFinding(checker.RuleNoCommandTimeout, 5*time.Second)
		if f.Evidence[0].Type != "held" || !strings.Contains(f.Remedy, "ReadTimeout") {
			t.Fatalf("finding %+v", f)
		}
		h.ft.stop(id)
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("GET after the hang: %v", err)
		}
	})

	t.Run(checker.RuleUnsafeRetry, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		own, _ := h.owner("counter")
		release := make(chan struct{})
		id := h.ft.add(&testFault{action: "hang", nodes: []string{own.Addr}, match: commandIs("INCR"),
			act: func(*proxy.ConnInfo, *proxy.Command) proxy.Action {
				return proxy.Action{Kind: proxy.Hang, Release: release}
			}})
		// go-redis's default: a timed-out INCR is retried.
		cc := cluster(h, func(o *redis.ClusterOptions) { o.ReadTimeout = 200 * time.Millisecond })
		if err := cc.Incr(ctx, "counter").Err(); err == nil {
			t.Fatal("INCR succeeded on a hung node")
		}
		f := h.waitFinding(checker.RuleUnsafeRetry, 5*time.Second)
		if len(f.Evidence) < 2 || f.Evidence[0].Command != "INCR" || f.Evidence[1].Conn == f.Evidence[0].Conn {
			t.Fatalf("evidence %+v", f.Evidence)
		}
		h.ft.stop(id)
		close(release)
	})

	t.Run(checker.RuleHealthCheckFanout, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		cc := cluster(h, nil)
		// A health check that PINGs every node five times a second.
		deadline := time.Now().Add(1500 * time.Millisecond)
		for time.Now().Before(deadline) {
			cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
			time.Sleep(200 * time.Millisecond)
		}
		f := h.waitFinding(checker.RuleHealthCheckFanout, 5*time.Second)
		if f.Severity != checker.Medium {
			t.Fatalf("severity %s", f.Severity)
		}
	})

	t.Run(checker.RuleRestartOnSingleFault, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		newApp := func() *redis.ClusterClient {
			return redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.Seeds(h.p), ReadOnly: true,
				RouteRandomly: true, DialTimeout: 300 * time.Millisecond, ReadTimeout: time.Second, MaxRedirects: 1})
		}
		app := newApp()
		defer func() { app.Close() }()
		for i := 0; i < 300; i++ { // connections to every node
			app.Set(ctx, fmt.Sprint("app:", i), i, 0)
			app.Get(ctx, fmt.Sprint("app:", i))
		}
		// One replica dies; the app's health check (every node must answer)
		// fails and the app restarts.
		r := h.nodes("replica")[0]
		h.ft.add(&testFault{action: "down", nodes: []string{r.Addr}})
		if err := h.p.SetDown(r.Addr, true); err != nil {
			t.Fatal(err)
		}
		defer h.p.SetDown(r.Addr, false)
		testenv.Eventually(t, 5*time.Second, func() error {
			err := app.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
			if err == nil {
				return errors.New("health check passed with a node down")
			}
			return nil
		})
		app.Close()
		app = newApp()
		app.Get(ctx, "app:1")
		time.Sleep(500 * time.Millisecond)
		h.flush()
		for _, c := range h.ck.Clients() {
			t.Logf("client %+v", c)
		}
		f := h.waitFinding(checker.RuleRestartOnSingleFault, 5*time.Second)
		if f.Severity != checker.High {
			t.Fatalf("severity %s", f.Severity)
		}
	})

	t.Run(checker.RuleFullCoverage, func(t *testing.T) {
		h := newHarness(t, cl, func(c *checker.Config) { c.Thresholds.CoverageWindow = 2 * time.Second })
		masters := h.nodes("master")
		lost := masters[0]
		// Keys on every shard, found by their slots.
		keys := map[string]string{} // key → owner announce
		for i := 0; len(keys) < 30; i++ {
			k := fmt.Sprint("cov:", i)
			own, _ := h.owner(k)
			keys[k] = own.Announce
		}
		// A "Jedis-like" scripted client: when a shard is lost it loops on
		// CLUSTER SLOTS and stops serving every key.
		conns := map[string]*raw{}
		for _, m := range masters {
			conns[m.Announce] = dialRaw(t, m.Announce)
		}
		// And a correct client: go-redis keeps serving the other shards.
		good := cluster(h, nil)
		serve := func(d time.Duration) {
			deadline := time.Now().Add(d)
			for time.Now().Before(deadline) {
				for k, a := range keys {
					c := conns[a]
					_, err := c.c.Write(resp("GET", k))
					if err == nil {
						_, err = c.reply(time.Second)
					}
					if err != nil {
						// A shard is gone: give up on data, poll the topology.
						other := conns[masters[1].Announce]
						for time.Now().Before(deadline) {
							other.do("CLUSTER", "SLOTS")
							time.Sleep(100 * time.Millisecond)
						}
						return
					}
					good.Get(ctx, k)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		serve(1500 * time.Millisecond)
		var shard []string
		for _, n := range h.shard(lost) {
			shard = append(shard, n.Addr)
		}
		id := h.ft.add(&testFault{action: "down", nodes: shard})
		for _, a := range shard {
			h.p.SetDown(a, true)
			defer h.p.SetDown(a, false)
		}
		// Four workers with an operation timeout, as an application has: a
		// key of the lost shard costs one of them 200 ms, not the rest.
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deadline := time.Now().Add(4 * time.Second)
				for time.Now().Before(deadline) {
					for k := range keys {
						opCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
						good.Get(opCtx, k)
						cancel()
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}
		serve(4 * time.Second)
		wg.Wait()
		// The outage ends as the correct client stops: it served the other
		// shards the whole time.
		h.ft.stop(id)
		f := h.waitFinding(checker.RuleFullCoverage, 5*time.Second)
		if f.Client.LibName != "" {
			t.Fatalf("flagged %s, want the scripted client", f.Client)
		}
		for _, g := range h.ck.Findings() {
			if g.Rule == checker.RuleFullCoverage && g.Client.Library() == checker.LibGoRedis {
				t.Errorf("go-redis flagged: %+v", g)
			}
		}
	})

	t.Run(checker.RuleUnboundedPipeline, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		cc := cluster(h, nil)
		// One go-redis pipeline of 5000 commands on one slot.
		_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := 0; i < 5000; i++ {
				p.Get(ctx, "{pipe}"+strconv.Itoa(i))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		f := h.waitFinding(checker.RuleUnboundedPipeline, 5*time.Second)
		if f.Evidence[0].Queued <= 1000 {
			t.Fatalf("evidence %+v", f.Evidence[0])
		}
		// Pipelines of 16 are fine.
		h2 := newHarness(t, cl, nil)
		cc2 := cluster(h2, nil)
		for j := 0; j < 50; j++ {
			cc2.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := 0; i < 16; i++ {
					p.Get(ctx, "{pipe}"+strconv.Itoa(i))
				}
				return nil
			})
		}
		h2.none(checker.RuleUnboundedPipeline)
	})

	t.Run(checker.RuleWriteToReplica, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		h.flush()
		time.Sleep(1100 * time.Millisecond) // the checker reads roles once a second
		r := h.nodes("replica")[0]
		// redis-cli (no -c) pointed at a replica.
		if out := cli(t, r.Announce, "SET", "replica-write", "1"); !strings.Contains(out, "MOVED") {
			t.Fatalf("redis-cli SET on a replica: %s", out)
		}
		f := h.waitFinding(checker.RuleWriteToReplica, 5*time.Second)
		if f.Nodes[0] != r.Addr {
			t.Fatalf("nodes %v", f.Nodes)
		}
		// Reads after READONLY are fine.
		cc := cluster(h, func(o *redis.ClusterOptions) { o.ReadOnly = true; o.RouteRandomly = true })
		for i := 0; i < 50; i++ {
			cc.Get(ctx, fmt.Sprint("ro:", i))
		}
		h.flush()
		for _, g := range h.ck.Findings() {
			if g.Rule == checker.RuleWriteToReplica && g.Client.Library() == checker.LibGoRedis {
				t.Errorf("go-redis replica reads flagged: %+v", g)
			}
		}
	})

	t.Run(checker.RuleCrossSlot, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		seed := testenv.Seeds(h.p)[0]
		for i := 0; i < 3; i++ {
			if out := cli(t, seed, "-c", "MGET", "a", "b", "c"); !strings.Contains(out, "CROSSSLOT") {
				t.Fatalf("redis-cli MGET: %s", out)
			}
		}
		h.waitFinding(checker.RuleCrossSlot, 5*time.Second)
	})

	t.Run(checker.RuleSelectNonzero, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		// go-redis configured with DB 1 for a cluster node.
		c := single(testenv.Seeds(h.p)[0], func(o *redis.Options) { o.DB = 1 })
		if err := c.Ping(ctx).Err(); err == nil {
			t.Fatal("SELECT 1 accepted in cluster mode")
		}
		f := h.waitFinding(checker.RuleSelectNonzero, 5*time.Second)
		// go-redis sends SELECT before CLIENT SETINFO and drops the connection
		// when it fails: the client never names itself.
		if !strings.Contains(f.Remedies[checker.LibGoRedis], "Options.DB") {
			t.Fatalf("finding %+v", f)
		}
	})

	t.Run(checker.RuleDangerousCommand, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		// Never let FLUSHALL reach the shared cluster.
		h.ft.add(&testFault{action: "error", match: commandIs("FLUSHALL", "FLUSHDB"), act: reply("-ERR blocked by the test")})
		seed := testenv.Seeds(h.p)[0]
		cli(t, seed, "KEYS", "*")
		cc := cluster(h, nil)
		cc.FlushAll(ctx)
		f := h.waitFinding(checker.RuleDangerousCommand, 5*time.Second)
		if f.Count < 2 {
			testenv.Eventually(t, 5*time.Second, func() error {
				h.flush()
				n := 0
				for _, g := range h.ck.Findings() {
					if g.Rule == checker.RuleDangerousCommand {
						n += g.Count
					}
				}
				if n < 2 {
					return fmt.Errorf("%d dangerous commands", n)
				}
				return nil
			})
		}
	})

	t.Run(checker.RuleReplyDesyncRisk, func(t *testing.T) {
		h := newHarness(t, cl, nil)
		addr := testenv.Seeds(h.p)[0]
		// The proxy delays the handshake PING of new connections by 1 s.
		h.ft.add(&testFault{action: "latency", match: commandIs("PING", "HELLO"),
			act: func(*proxy.ConnInfo, *proxy.Command) proxy.Action { return proxy.Action{Delay: time.Second} }})
		// A scripted client that times out on its PING after 200 ms and
		// keeps using the connection: its GET gets the PONG.
		r := dialRaw(t, addr)
		r.send("PING")
		if _, err := r.reply(200 * time.Millisecond); err == nil {
			t.Fatal("PING answered despite the delay")
		}
		r.send("GET", "desync")
		got, err := r.reply(3 * time.Second)
		if err != nil || got != "+PONG" {
			t.Fatalf("GET after a timed-out PING read %q, %v (want the PONG: replies are off by one)", got, err)
		}
		h.waitFinding(checker.RuleReplyDesyncRisk, 5*time.Second)
		// go-redis closes a connection whose handshake timed out.
		h2 := newHarness(t, cl, nil)
		h2.ft.add(&testFault{action: "latency", match: commandIs("HELLO"),
			act: func(*proxy.ConnInfo, *proxy.Command) proxy.Action { return proxy.Action{Delay: 500 * time.Millisecond} }})
		c := single(testenv.Seeds(h2.p)[0], func(o *redis.Options) { o.ReadTimeout = 200 * time.Millisecond; o.MaxRetries = -1 })
		for i := 0; i < 3; i++ {
			c.Ping(ctx)
		}
		time.Sleep(600 * time.Millisecond)
		h2.none(checker.RuleReplyDesyncRisk)
	})

	t.Run("no-false-positives", func(t *testing.T) { testNoFalsePositives(t, cl) })
}

// testNoFalsePositives drives a sensibly configured go-redis ClusterClient
// (timeouts set, default retries) through the seven outage scenarios, MOVED
// injections and latency, under a steady read/write load, and asserts that
// no high-severity finding appears.
func testNoFalsePositives(t *testing.T, cl *provision.Cluster) {
	h := newHarness(t, cl, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.Seeds(h.p),
		DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second,
		ClientName: "no-fp"})
	var wg sync.WaitGroup
	var ops, fails sync.Map
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				k := fmt.Sprintf("load:%d:%d", w, i%500)
				err := cc.Set(ctx, k, i, 0).Err()
				if err == nil {
					err = cc.Get(ctx, k).Err()
				}
				if err != nil && !errors.Is(err, redis.Nil) {
					fails.Store(w, i)
				}
				ops.Store(w, i)
				time.Sleep(2 * time.Millisecond)
			}
		}(w)
	}
	defer func() {
		cancel()
		wg.Wait()
		cc.Close()
	}()

	masters, replicas := h.nodes("master"), h.nodes("replica")
	addrs := func(ns ...proxy.NodeInfo) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Addr)
		}
		return out
	}
	shard0 := h.shard(masters[0])
	scenarios := []struct {
		name  string
		nodes []string
	}{
		{"replica-down", addrs(replicas[0])},
		{"master-down", addrs(masters[0])},
		{"shard-replicas-down", addrs(shard0[1:]...)},
		{"majority-masters-down", addrs(masters[:2]...)},
		{"all-masters-down", addrs(masters...)},
		{"shard-down", addrs(shard0...)},
		{"all-down", addrs(h.nodes("")...)},
	}
	time.Sleep(500 * time.Millisecond)
	for _, sc := range scenarios {
		id := h.ft.add(&testFault{action: "down", nodes: sc.nodes})
		for _, a := range sc.nodes {
			if err := h.p.SetDown(a, true); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(800 * time.Millisecond)
		for _, a := range sc.nodes {
			h.p.SetDown(a, false)
		}
		h.ft.stop(id)
		time.Sleep(500 * time.Millisecond)
		t.Logf("%s: done", sc.name)
	}
	// MOVED injections: one master answers 20% of its keyed commands with a
	// MOVED to another master (which sends the client back).
	var n int64
	var mu sync.Mutex
	id := h.ft.add(&testFault{action: "error", nodes: []string{masters[0].Addr},
		match: func(_ *proxy.ConnInfo, cmd *proxy.Command) bool {
			mu.Lock()
			defer mu.Unlock()
			n++
			return cmd.Slot >= 0 && n%5 == 0
		},
		act: func(_ *proxy.ConnInfo, cmd *proxy.Command) proxy.Action {
			return proxy.Action{Kind: proxy.Reply, Reply: []byte(fmt.Sprintf("-MOVED %d %s\r\n", cmd.Slot, masters[1].Announce))}
		}})
	time.Sleep(1500 * time.Millisecond)
	h.ft.stop(id)
	// Latency: 200 ms on one master.
	id = h.ft.add(&testFault{action: "latency", nodes: []string{masters[1].Addr},
		act: func(*proxy.ConnInfo, *proxy.Command) proxy.Action { return proxy.Action{Delay: 200 * time.Millisecond} }})
	time.Sleep(1500 * time.Millisecond)
	h.ft.stop(id)
	time.Sleep(2200 * time.Millisecond) // let the time-based rules run (MovedFollow)

	h.flush()
	total := 0
	ops.Range(func(_, v any) bool { total += v.(int); return true })
	if total < 200 {
		t.Fatalf("the load made only %d operations", total)
	}
	for _, f := range h.ck.Findings() {
		t.Logf("finding: %s (%s) by %s ×%d", f.Rule, f.Severity, f.Client, f.Count)
		if f.Severity == checker.High {
			t.Errorf("high-severity finding for a sensible go-redis client: %s", f.Rule)
			for _, e := range f.Evidence {
				t.Logf("  %s", e)
			}
		}
	}
	if st := h.ck.Stats(); st.Dropped > 0 {
		t.Logf("checker dropped %d events", st.Dropped)
	}
}
