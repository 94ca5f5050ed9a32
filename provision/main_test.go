package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// testNodeTimeout is the cluster-node-timeout of test clusters: short, so failovers
// are quick, yet long enough that a busy 2-core machine does not fail nodes.
const testNodeTimeout = 1500 * time.Millisecond

func TestMain(m *testing.M) {
	if dir := os.Getenv(partitionHelperEnv); dir != "" {
		os.Exit(partitionHelper(dir))
	}
	code := m.Run()
	if !stopShared() {
		code = 1
	}
	if left := redisChildren(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "redis-server processes left behind: %v\n", left)
		code = 1
	}
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// sharedCluster returns the 3×2 cluster the tests share; TestMain stops it. Tests
// that damage it restore it with restoreCluster.
func sharedCluster(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	shared.once.Do(func() {
		// The shared cluster outlives the first test: it logs to stderr, not to t.
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		shared.c, shared.err = startFree(t, Config{NodeTimeout: testNodeTimeout, Logger: logger})
	})
	if shared.err != nil {
		t.Fatalf("start shared cluster: %v", shared.err)
	}
	return shared.c
}

// stopShared stops the shared cluster and reports whether it left nothing behind.
func stopShared() bool {
	if shared.c == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shared.c.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "stop shared cluster:", err)
		return false
	}
	if _, err := os.Stat(shared.c.Dir()); !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "shared cluster's temp dir %s left behind: %v\n", shared.c.Dir(), err)
		return false
	}
	return true
}

// restoreCluster registers a cleanup that reverts every fault action and waits for
// a healthy cluster, so the next test gets the provisioned layout.
func restoreCluster(t testing.TB, c *Cluster) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.RevertAll(ctx); err != nil {
			t.Errorf("RevertAll: %v", err)
		}
	})
}

// startCluster starts a cluster on free ports (see startFree) and stops it in
// t.Cleanup.
func startCluster(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	c, err := startFree(t, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

// startFree starts cfg on a free range of ports, trying another range when a port
// was taken between the probe and the start.
func startFree(t testing.TB, cfg Config) (*Cluster, error) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	for range 5 {
		cfg.BasePort = freeBase(t, cfg.withDefaults().nodeCount())
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		c, err := Start(ctx, cfg)
		cancel()
		if errors.Is(err, ErrPortInUse) {
			continue
		}
		return c, err
	}
	return nil, errors.New("no free port range found")
}

// freeBase returns a base port such that base..base+n-1 and their cluster bus ports
// can all be bound now.
func freeBase(t testing.TB, n int) int {
	t.Helper()
	for range 100 {
		// Below the ephemeral range (32768+), so that neither the node ports nor the
		// bus ports (+10000) collide with the local ports of outgoing connections.
		base := 11000 + rand.IntN(11000)
		ok := true
		for i := range n {
			if portFree(DefaultHost, base+i) != nil || portFree(DefaultHost, base+i+busPortOffset) != nil {
				ok = false
				break
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// testLogger logs to t at debug level when -v, else warnings only.
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // logging after the test ended
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// redisChildren lists the redis-server processes whose parent is this process.
func redisChildren() []int {
	var out []int
	me := strconv.Itoa(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(st, ')')
		j := bytes.IndexByte(st, '(')
		if i < 0 || j < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) > 1 && f[1] == me && strings.HasPrefix(string(st[j+1:i]), "redis-server") {
			out = append(out, pid)
		}
	}
	return out
}

// testCtx is a context bounded for one test step.
func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
