package checker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/chaos/stack"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// outageScenarios are the seven outage scenarios of the acceptance.
var outageScenarios = []string{"replica-down", "master-down", "shard-replicas-down",
	"majority-masters-down", "all-masters-down", "shard-down", "all-down"}

// engineStack is the proxy with the chaos engine as its Policy and the
// checker as its Observer, put together as `redis-chaos proxy` does it: the
// checker learns the engine's faults and the virtual cluster's roles.
type engineStack struct {
	p  *proxy.Server
	e  *chaos.Engine
	ck *checker.Checker
}

func startEngineStack(t *testing.T, realMode bool) *engineStack {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	cl := testenv.StartCluster(t, testenv.ClusterOptions{NodeTimeout: time.Second})
	cfg := stack.Config{Proxy: testenv.ProxyConfig(cl.Addrs()), Engine: chaos.Config{Seed: 5},
		Checker: &checker.Config{Tick: 50 * time.Millisecond}}
	if realMode {
		cfg.Engine.Real = stack.RealCluster(cl)
	}
	s, err := stack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &engineStack{p: s.Proxy, e: s.Engine, ck: s.Checker}
}

// sensibleLoad drives a go-redis ClusterClient configured sensibly (dial,
// read and write timeouts set; retries, redirects and reloads at their
// defaults): workers writing and reading back keys spread over every slot.
type sensibleLoad struct {
	cc     *redis.ClusterClient
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ok     atomic.Int64
	failed atomic.Int64
}

func startSensibleLoad(t *testing.T, p *proxy.Server) *sensibleLoad {
	l := &sensibleLoad{cc: redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.Seeds(p),
		DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second,
		ClientName: "sensible"})}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for w := 0; w < 4; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				k := fmt.Sprintf("sensible:%d:%d", w, i%2000)
				err := l.cc.Set(ctx, k, i, 0).Err()
				if err == nil {
					err = l.cc.Get(ctx, k).Err()
				}
				if err != nil && !errors.Is(err, redis.Nil) {
					l.failed.Add(1)
					// A sensible application pauses a little after an error.
					select {
					case <-ctx.Done():
					case <-time.After(20 * time.Millisecond):
					}
				} else {
					l.ok.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	return l
}

func (l *sensibleLoad) stop() {
	l.cancel()
	l.wg.Wait()
	l.cc.Close()
}

// waitOK waits for n more successful operations.
func (l *sensibleLoad) waitOK(t *testing.T, n int64) {
	t.Helper()
	from := l.ok.Load()
	testenv.Eventually(t, 20*time.Second, func() error {
		if got := l.ok.Load() - from; got < n {
			return fmt.Errorf("%d successful operations, want %d", got, n)
		}
		return nil
	})
}

// playScenario plays a scenario of the engine to its end.
func playScenario(t *testing.T, s *engineStack, name string, opts chaos.RunOptions) *chaos.Run {
	t.Helper()
	run, err := s.e.StartScenario(name, opts)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	testenv.Eventually(t, opts.Hold+opts.Recover+60*time.Second, func() error {
		r, err := s.e.GetRun(run.ID)
		if err != nil {
			return err
		}
		if r.State == "running" {
			return fmt.Errorf("run %s still running", run.ID)
		}
		run = r
		return nil
	})
	if run.State != "done" {
		t.Fatalf("run %s: state %s (%s)", run.ID, run.State, run.Error)
	}
	return run
}

// highFindings logs every finding and returns the high-severity ones.
func highFindings(t *testing.T, ck *checker.Checker) []checker.Finding {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ck.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var high []checker.Finding
	for _, f := range ck.Findings() {
		t.Logf("finding: %s (%s) by %s ×%d", f.Rule, f.Severity, f.Client, f.Count)
		for _, e := range f.Evidence {
			t.Logf("  %s", e)
		}
		if f.Severity == checker.High {
			high = append(high, f)
		}
	}
	return high
}

// TestScenariosNoFalsePositives plays the engine's seven outage scenarios
// (simulated, as `redis-chaos scenario run` plays them) while a sensibly
// configured go-redis ClusterClient runs a read/write load through the proxy,
// with the checker wired as in `redis-chaos proxy`. No scenario may produce a
// high-severity finding. Findings are reset between scenarios so each is
// judged on its own; holds are shortened (node-timeout 1 s) to keep it quick.
func TestScenariosNoFalsePositives(t *testing.T) {
	s := startEngineStack(t, false)
	l := startSensibleLoad(t, s.p)
	defer l.stop()
	l.waitOK(t, 50)
	opts := chaos.RunOptions{Hold: 3 * time.Second, Recover: 3 * time.Second}
	for _, name := range outageScenarios {
		t.Run(name, func(t *testing.T) {
			s.ck.Reset()
			failedBefore := l.failed.Load()
			run := playScenario(t, s, name, opts)
			s.e.Clear("test") // back to the real topology for the next scenario
			// The client recovers; the time-based rules get the time they judge on.
			l.waitOK(t, 50)
			time.Sleep(2200 * time.Millisecond) // moved-follow (2s) is the longest check after recovery
			failed := l.failed.Load() - failedBefore
			t.Logf("%s: nodes %v, %d failed operations", name, run.Nodes, failed)
			if name != "replica-down" && name != "shard-replicas-down" && failed == 0 {
				t.Errorf("%s: no operation failed: the scenario did not reach the client", name)
			}
			for _, f := range highFindings(t, s.ck) {
				t.Errorf("%s: high-severity finding for a sensible go-redis client: %s by %s", name, f.Rule, f.Client)
			}
			if st := s.ck.Stats(); st.Dropped > 0 {
				t.Logf("checker dropped %d events", st.Dropped)
			}
		})
	}
}
