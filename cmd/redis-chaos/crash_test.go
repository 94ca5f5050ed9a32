package main

// Crash tests: a redis-chaos process killed with SIGKILL can clean
// up nothing, so what it leaves behind must be harmless or recoverable.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/provision"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// crashProc is a redis-chaos binary run as a child process, its output
// (stdout and stderr) in a file: a pipe would be held open by any
// redis-server it leaves behind.
type crashProc struct {
	cmd  *exec.Cmd
	out  string // output file
	done chan error
}

// startCrashProc starts bin with args and waits until its output matches
// ready; it returns the process and the match. The process is killed (by its
// PID) when the test ends if it is still running.
func startCrashProc(t *testing.T, bin string, ready *regexp.Regexp, args ...string) (*crashProc, []string) {
	t.Helper()
	p := &crashProc{out: filepath.Join(t.TempDir(), "out.log"), done: make(chan error, 1)}
	f, err := os.Create(p.out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		select {
		case err := <-p.done:
			p.done <- err
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not end", args[0])
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := ready.FindStringSubmatch(p.output()); m != nil {
			return p, m
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("%s ended before it was ready: %v\n%s", args[0], err, p.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready:\n%s", args[0], p.output())
		}
	}
}

func (p *crashProc) output() string {
	b, _ := os.ReadFile(p.out)
	return string(b)
}

// kill sends SIGKILL to the process and waits until it is gone.
func (p *crashProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-p.done:
		p.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("not gone 10s after SIGKILL")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("exit %v, want killed by SIGKILL", err)
	}
}

// clusterShape is what the nodes say of the cluster: for every node asked,
// each node's address, role, master and slots, sorted (epochs, pings and the
// myself flag left out).
func clusterShape(ctx context.Context, addrs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1, DisableIdentity: true,
			DialTimeout: time.Second, ReadTimeout: time.Second})
		s, err := c.ClusterNodes(ctx).Result()
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("CLUSTER NODES on %s: %w", a, err)
		}
		var lines []string
		for l := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
			f := strings.Fields(l)
			if len(f) < 8 {
				return nil, fmt.Errorf("%s: CLUSTER NODES line %q", a, l)
			}
			addr, _, _ := strings.Cut(f[1], "@")
			var flags []string
			for fl := range strings.SplitSeq(f[2], ",") {
				if fl != "myself" {
					flags = append(flags, fl)
				}
			}
			lines = append(lines, strings.Join(append([]string{f[0], addr, strings.Join(flags, ","), f[3], f[7]}, f[8:]...), " "))
		}
		slices.Sort(lines)
		out[a] = strings.Join(lines, "\n")
	}
	return out, nil
}

// TestCrashProxyLeavesClusterUnchanged kills (SIGKILL) a `redis-chaos proxy
// --upstream` process while simulated faults of every kind and a scenario are
// active: the real cluster must be exactly as before (roles, slots, every node
// answering, writes working directly, no client of the proxy left on a node).
func TestCrashProxyLeavesClusterUnchanged(t *testing.T) {
	needRedis(t)
	ctx := context.Background()
	bin := goBuild(t, t.TempDir(), ".", "redis-chaos")
	cfg := provision.Config{BasePort: clusterTestBase(t, 6), Shards: 3, Replicas: 1, NodeTimeout: time.Second, Dir: t.TempDir()}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	cl, err := provision.Start(sctx, cfg)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cl.Stop(ctx); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	addrs := cl.Addrs()
	before, err := clusterShape(ctx, addrs)
	if err != nil {
		t.Fatal(err)
	}
	clients := func() (int, error) {
		n := 0
		for _, a := range addrs {
			c := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1, DisableIdentity: true, ReadTimeout: time.Second})
			s, err := c.ClientList(ctx).Result()
			c.Close()
			if err != nil {
				return 0, err
			}
			n += strings.Count(s, "\n") - 1 // not this client
		}
		return n, nil
	}
	baseClients, err := clients()
	if err != nil {
		t.Fatal(err)
	}

	p, m := startCrashProc(t, bin, apiLine, "proxy", "--upstream", strings.Join(addrs, ","),
		"--base-port", strconv.Itoa(clusterTestBase(t, 6)), "--api", "127.0.0.1:0", "--log-level", "warn")
	c := api.NewClient(m[1], "")
	specs := []fault.Spec{
		{Action: "down", Target: "shard:0"},
		{Action: "failover", Target: "shard:1"},
		{Action: "migrate", Target: "shard:2", To: "shard:1", Match: fault.Match{Slots: "16000-16100"}},
		{Action: "hang", Target: "replicas-of:shard:2"},
		{Action: "latency", Latency: fault.Duration(50 * time.Millisecond), Target: "all"},
		{Action: "reset", Target: "all", Match: fault.Match{Commands: []string{"DEBUG"}}},
		{Action: "error", Error: "MISCONF", Target: "masters:all", Match: fault.Match{Commands: []string{"SET"}}},
	}
	for _, s := range specs {
		s.TTL = fault.Duration(5 * time.Minute)
		if _, err := c.AddFault(ctx, s); err != nil {
			t.Fatalf("add %s: %v", s.Action, err)
		}
	}
	if _, err := c.StartScenario(ctx, "majority-masters-down", api.ScenarioRequest{Hold: fault.Duration(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		fs, err := c.Faults(ctx)
		if err != nil {
			return err
		}
		for _, f := range fs {
			if f.State != "active" {
				return fmt.Errorf("fault %s (%s) is %s %s", f.ID, f.Spec.Action, f.State, f.Error)
			}
		}
		top, err := c.Topology(ctx)
		if err != nil {
			return err
		}
		if !top.Virtual.Differ || top.Virtual.State != "fail" {
			return fmt.Errorf("virtual cluster %s, differs from the real one: %v", top.Virtual.State, top.Virtual.Differ)
		}
		return nil
	})

	p.kill(t)

	after, err := clusterShape(ctx, addrs)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if after[a] != before[a] {
			t.Errorf("%s sees another cluster after the crash:\nbefore:\n%s\nafter:\n%s", a, before[a], after[a])
		}
	}
	// Every node answers at once (not paused: SIGSTOP or CLIENT PAUSE would
	// time out), every master takes a write directly.
	masters := 0
	for _, n := range cl.Nodes() {
		rc := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1, DisableIdentity: true,
			DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
		info, err := rc.ClusterInfo(ctx).Result()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			t.Errorf("%s: CLUSTER INFO %q, %v", n.Addr, info, err)
		}
		if strings.Contains(before[n.Addr], n.ID+" "+n.Addr+" master ") {
			masters++
			// A key of this master's first slot range.
			slots, err := rc.ClusterSlots(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range slots {
				if s.Nodes[0].ID != n.ID {
					continue
				}
				key := keyInSlot(t, int(s.Start))
				if err := rc.Set(ctx, key, "after-crash", 0).Err(); err != nil {
					t.Errorf("%s: SET %s after the crash: %v", n.Addr, key, err)
				}
				if got, err := rc.Get(ctx, key).Result(); err != nil || got != "after-crash" {
					t.Errorf("%s: GET %s = %q, %v", n.Addr, key, got, err)
				}
				break
			}
		}
		rc.Close()
	}
	if masters != 3 {
		t.Errorf("%d masters, want 3:\n%v", masters, before)
	}
	// The dead proxy's connections are closed by the kernel.
	testenv.Eventually(t, 10*time.Second, func() error {
		n, err := clients()
		if err != nil {
			return err
		}
		if n > baseClients {
			return fmt.Errorf("%d clients on the nodes, %d before the proxy started", n, baseClients)
		}
		return nil
	})
}

// keyInSlot returns a key that hashes to slot.
func keyInSlot(t *testing.T, slot int) string {
	t.Helper()
	for i := range 1 << 20 {
		if k := "crash:" + strconv.Itoa(i); int(topology.Slot([]byte(k))) == slot {
			return k
		}
	}
	t.Fatalf("no key found for slot %d", slot)
	return ""
}

var upReady = regexp.MustCompile(`ready in [0-9.]+s`)

// TestClusterDownAfterCrashedUp kills (SIGKILL) `redis-chaos up` while a
// real-mode fault holds a node paused (SIGSTOP): `redis-chaos cluster down
// --dir`, run at once, must still succeed, leave none of the redis-server
// processes up started running, and remove the directory.
func TestClusterDownAfterCrashedUp(t *testing.T) {
	needRedis(t)
	ctx := context.Background()
	bin := goBuild(t, t.TempDir(), ".", "redis-chaos")
	dir := filepath.Join(t.TempDir(), "cluster")
	p, pids, c := startUpProc(t, bin, dir, "warn")
	f, err := c.AddFault(ctx, fault.Spec{Action: "hang", Target: "replica", Mode: "real", TTL: fault.Duration(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		g, err := c.Fault(ctx, f.ID)
		if err != nil {
			return err
		}
		if g.State != "active" {
			return fmt.Errorf("real hang is %s %s", g.State, g.Error)
		}
		return nil
	})

	p.kill(t)

	// The nodes of up are not daemons: they get SIGKILL when up dies
	// (Pdeathsig), possibly not yet; either way the directory and its state
	// file remain, and down must cope at once.
	var survivors []int
	for _, pid := range pids {
		if alive(pid) {
			survivors = append(survivors, pid)
		}
	}
	t.Logf("redis-server processes still running right after the crash: %v of %v", survivors, pids)
	if _, err := os.Stat(filepath.Join(dir, provision.StateFile)); err != nil {
		t.Fatalf("state file after the crash: %v", err)
	}
	cmd := exec.Command(bin, "cluster", "down", "--dir", dir, "--log-level", "warn")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cluster down after a crashed up: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "cluster stopped (6 nodes)") {
		t.Errorf("cluster down output: %s", out)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("redis-server pid %d still runs after cluster down", pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after cluster down: %v", dir, err)
	}
	out, err = exec.Command(bin, "cluster", "status", "--dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no cluster recorded") {
		t.Errorf("cluster status after down: %v\n%s", err, out)
	}
}

// startUpProc runs `up` (3 shards × 1 replica, node-timeout 1s) in dir as a
// child process and returns it, its nodes' PIDs and a client of its API.
// Whatever happens, no node outlives the test.
func startUpProc(t *testing.T, bin, dir, logLevel string) (*crashProc, []int, *api.Client) {
	t.Helper()
	base := clusterTestBase(t, 6)
	p, _ := startCrashProc(t, bin, upReady, "up", "--dir", dir, "--cluster-base-port", strconv.Itoa(base),
		"--shards", "3", "--replicas", "1", "--node-timeout", "1s",
		"--base-port", strconv.Itoa(clusterTestBase(t, 6)), "--api", "127.0.0.1:0", "--log-level", logLevel)
	pids := redisPIDs(t, base, 6)
	t.Cleanup(func() {
		for _, pid := range pids {
			if alive(pid) {
				syscall.Kill(pid, syscall.SIGCONT)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	if len(pids) != 6 {
		t.Fatalf("found %d redis-server processes on ports %d+, want 6", len(pids), base)
	}
	m := apiLine.FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no API address in the output:\n%s", p.output())
	}
	return p, pids, api.NewClient(m[1], "")
}
