// Package test holds end-to-end tests of the whole product: real Redis
// clusters, the proxy, the chaos engine and the control API, driven by the
// tools users run (redis-cli, go-redis).
package test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/chaos/stack"
	"github.com/redis-chaos/redis-chaos/provision"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// env is a real cluster with a proxy, a chaos engine and the control API.
type env struct {
	cluster *provision.Cluster
	proxy   *proxy.Server
	engine  *chaos.Engine
	api     *api.Client
}

func startStack(tb testing.TB, seed uint64) *env {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(tb, testenv.ClusterOptions{NodeTimeout: time.Second})
	s := &env{cluster: c}
	st := s.addProxy(tb, seed)
	s.proxy, s.engine = st.Proxy, st.Engine
	srv := httptest.NewServer(st.API)
	tb.Cleanup(srv.Close)
	s.api = api.NewClient(srv.URL, "")
	return s
}

// addProxy starts another stack (a proxy with its own engine) in front of
// the cluster.
func (s *env) addProxy(tb testing.TB, seed uint64) *stack.Stack {
	tb.Helper()
	st, err := stack.Start(context.Background(), stack.Config{Proxy: testenv.ProxyConfig(s.cluster.Addrs()),
		Engine: chaos.Config{Seed: seed}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// owner returns the proxy node of the master that serves key, and another master.
func (s *env) owner(tb testing.TB, key string) (own, other proxy.NodeInfo) {
	tb.Helper()
	slot := topology.Slot([]byte(key))
	byAddr := map[string]proxy.NodeInfo{}
	for _, n := range s.proxy.Nodes() {
		byAddr[n.Addr] = n
	}
	var masters []proxy.NodeInfo
	found := false
	for _, m := range s.proxy.Topology().Masters() {
		masters = append(masters, byAddr[m.Addr])
		for _, r := range m.Slots {
			if slot >= r.From && slot <= r.To {
				own, found = byAddr[m.Addr], true
			}
		}
	}
	if !found {
		tb.Fatalf("no master serves slot %d", slot)
	}
	for _, m := range masters {
		if m.Addr != own.Addr {
			return own, m
		}
	}
	tb.Fatal("one master only")
	return
}

// redisCLI runs redis-cli against a proxy address and returns what it
// printed. Not on a terminal, redis-cli prints an error reply as its raw text.
func redisCLI(t *testing.T, addr string, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", host, "-p", port}, args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("redis-cli: %v", err)
	}
	return strings.TrimRight(string(out), "\n")
}

func needRedisCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("needs redis-cli")
	}
}

// TestErrors shares one cluster between the error tests.
func TestErrors(t *testing.T) {
	needRedisCLI(t)
	s := startStack(t, 1)
	t.Run("every kind reaches redis-cli", func(t *testing.T) { testErrorKinds(t, s) })
	t.Run("custom error on the next command", func(t *testing.T) { testCustomError(t, s) })
	t.Run("3s TTL", func(t *testing.T) { testFaultTTL(t, s) })
	t.Run("redirect before OOM and MISCONF", func(t *testing.T) { testRedirectFirst(t, s) })
}

// testRedirectFirst checks Redis's order of checks: a node answers a keyed
// command for a slot it does not serve with MOVED, and one whose keys are in
// several slots with CROSSSLOT, before the errors it checks later (OOM,
// MISCONF, READONLY …), even with such a fault on it.
func testRedirectFirst(t *testing.T, s *env) {
	ctx := context.Background()
	const mine, theirs = "first:{a}", "first:{b}"
	own, _ := s.owner(t, mine)
	owner2, _ := s.owner(t, theirs)
	if owner2.Addr == own.Addr {
		t.Fatalf("%s and %s on the same node", mine, theirs)
	}
	for _, name := range []string{"OOM", "MISCONF", "READONLY", "LOADING"} {
		t.Run(name, func(t *testing.T) {
			f, err := s.api.AddFault(ctx, fault.Spec{Action: "error", Error: name, Target: own.Announce, TTL: fault.Duration(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.api.RemoveFault(ctx, f.ID)
			want := "MOVED " + strconv.Itoa(topology.Slot([]byte(theirs))) + " " + owner2.Announce
			if got := redisCLI(t, own.Announce, "SET", theirs, "x"); got != want {
				t.Errorf("SET of another node's key: %q, want %q (the redirect comes first)", got, want)
			}
			if got := redisCLI(t, own.Announce, "SET", mine, "x"); got != fault.ErrorTexts[name] {
				t.Errorf("SET of its own key: %q, want %q", got, fault.ErrorTexts[name])
			}
			// Keys in two slots: CROSSSLOT comes before both.
			if got, want := redisCLI(t, own.Announce, "MSET", mine, "x", theirs, "y"), fault.ErrorTexts["CROSSSLOT"]; got != want {
				t.Errorf("MSET of keys in two slots: %q, want %q", got, want)
			}
			if g, err := s.api.Fault(ctx, f.ID); err != nil || g.Injected != 1 {
				t.Errorf("injected = %d (%v), want 1", g.Injected, err)
			}
		})
	}
}

// testErrorKinds injects every error kind on SET and checks that redis-cli
// prints Redis's exact text, while other commands are untouched.
func testErrorKinds(t *testing.T, s *env) {
	ctx := context.Background()
	const key = "errkind:{a}"
	own, other := s.owner(t, key)
	slot := topology.Slot([]byte(key))
	if got := redisCLI(t, own.Announce, "SET", key, "before"); got != "OK" {
		t.Fatalf("SET before any fault: %q", got)
	}
	names := make([]string, 0, len(fault.ErrorTexts))
	for n := range fault.ErrorTexts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			f, err := s.api.AddFault(ctx, fault.Spec{Action: "error", Error: name, Target: own.Announce, To: other.Announce,
				Match: fault.Match{Commands: []string{"SET"}, Keys: "errkind:*"}, TTL: fault.Duration(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.api.RemoveFault(ctx, f.ID)
			want := fault.ErrorTexts[name]
			if name == "MOVED" || name == "ASK" {
				want = name + " " + strconv.Itoa(slot) + " " + other.Announce
			}
			for _, proto := range []string{"-2", "-3"} {
				if got := redisCLI(t, own.Announce, proto, "SET", key, "during"); got != want {
					t.Errorf("redis-cli %s SET: %q\nwant %q", proto, got, want)
				}
			}
			// Not matching: another command, another key.
			if got := redisCLI(t, own.Announce, "GET", key); got != "before" {
				t.Errorf("GET (not matching) = %q, want the value", got)
			}
			if got := redisCLI(t, own.Announce, "SET", "other:{a}", "x"); got != "OK" {
				t.Errorf("SET on another key (not matching) = %q", got)
			}
			g, err := s.api.Fault(ctx, f.ID)
			if err != nil || g.Injected != 2 {
				t.Errorf("injected = %d (%v), want 2", g.Injected, err)
			}
		})
	}
	if got := redisCLI(t, own.Announce, "GET", key); got != "before" {
		t.Errorf("after the faults: GET = %q: an injected SET reached Redis", got)
	}
}

// testCustomError checks a user's own error text, and that a fault reaches
// the next command of a connection opened before it.
func testCustomError(t *testing.T, s *env) {
	ctx := context.Background()
	own, _ := s.owner(t, "k")
	// A connection opened before the fault gets it on its next command.
	c := redis.NewClient(&redis.Options{Addr: own.Announce, MaxRetries: -1, PoolSize: 1})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	f, err := s.api.AddFault(ctx, fault.Spec{Action: "error", Error: "ERR chaos: no writes today", Target: own.Announce,
		Match: fault.Match{Categories: []string{"write"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", "v2", 0).Err(); err == nil || err.Error() != "ERR chaos: no writes today" {
		t.Errorf("next command on an open connection: %v", err)
	}
	if got := redisCLI(t, own.Announce, "INCR", "k2"); got != "ERR chaos: no writes today" {
		t.Errorf("redis-cli INCR: %q", got)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Errorf("read untouched: %q %v", v, err)
	}
	if err := s.api.RemoveFault(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", "v3", 0).Err(); err != nil {
		t.Errorf("after removal: %v", err)
	}
}

// testFaultTTL checks that a fault with a 3 s TTL acts until it expires and
// is gone after it.
func testFaultTTL(t *testing.T, s *env) {
	ctx := context.Background()
	own, _ := s.owner(t, "ttl:{x}")
	f, err := s.api.AddFault(ctx, fault.Spec{Action: "error", Error: "LOADING", Target: own.Announce,
		Match: fault.Match{Keys: "ttl:*"}, TTL: fault.Duration(3 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	added := time.Now()
	want := fault.ErrorTexts["LOADING"]
	if got := redisCLI(t, own.Announce, "GET", "ttl:{x}"); got != want {
		t.Fatalf("GET under the fault: %q", got)
	}
	var goneAfter time.Duration
	testenv.Eventually(t, 10*time.Second, func() error {
		got := redisCLI(t, own.Announce, "SET", "ttl:{x}", "v")
		if got != "OK" {
			if el := time.Since(added); el > 3500*time.Millisecond {
				return fmt.Errorf("still %q %v after the fault was added", got, el)
			}
			return errors.New(got)
		}
		goneAfter = time.Since(added)
		return nil
	})
	if goneAfter < 2900*time.Millisecond {
		t.Errorf("fault gone after %v, before its 3s TTL", goneAfter)
	}
	if _, err := s.api.Fault(ctx, f.ID); !api.IsNotFound(err) {
		t.Errorf("expired fault still listed: %v", err)
	}
	if list, _ := s.api.Faults(ctx); len(list) != 0 {
		t.Errorf("faults after expiry: %d", len(list))
	}
	t.Logf("gone after %v", goneAfter.Round(10*time.Millisecond))
}
