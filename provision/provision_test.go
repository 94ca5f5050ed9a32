package provision

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// misconfText is Redis 7's MISCONF error, as a client sees it (without the "-").
const misconfText = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error."

// plainClient is a non-cluster client of one node, closed in t.Cleanup.
func plainClient(t testing.TB, addr string, readTimeout time.Duration) *redis.Client {
	t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: readTimeout, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func TestStartLayout(t *testing.T) {
	c := sharedCluster(t)
	ctx := testCtx(t, 10*time.Second)
	nodes := c.Nodes()
	if len(nodes) != 9 {
		t.Fatalf("got %d nodes, want 9", len(nodes))
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Problem(); err != nil {
		t.Fatalf("unhealthy after Start: %v", err)
	}
	wantSlots := ShardSlots(3)
	replicasOf := map[string]int{}
	covered := 0
	for i, ns := range st.Nodes {
		n := nodes[i]
		if n.Index != i || n.Addr != net.JoinHostPort(DefaultHost, strconv.Itoa(c.cfg.BasePort+i)) {
			t.Errorf("node %d: index %d addr %s", i, n.Index, n.Addr)
		}
		if n.PID == 0 || n.ID == "" {
			t.Errorf("node %d: pid %d id %q", i, n.PID, n.ID)
		}
		if _, err := os.Stat(filepath.Join(n.Dir, MarkerFile)); err != nil {
			t.Errorf("node %d: marker: %v", i, err)
		}
		if ns.Role != n.Role {
			t.Errorf("node %d: live role %s, provisioned %s", i, ns.Role, n.Role)
		}
		switch n.Role {
		case RoleMaster:
			if n.Shard != i || len(ns.Slots) != 1 || ns.Slots[0] != wantSlots[i] {
				t.Errorf("master %d: shard %d slots %v, want shard %d slots %v", i, n.Shard, ns.Slots, i, wantSlots[i])
			}
			for _, r := range ns.Slots {
				covered += r.End - r.Start + 1
			}
		case RoleReplica:
			wantShard := (i - 3) / 2
			if n.Shard != wantShard || ns.MasterID != nodes[wantShard].ID {
				t.Errorf("replica %d: shard %d master %s, want shard %d master %s", i, n.Shard, ns.MasterID, wantShard, nodes[wantShard].ID)
			}
			if ns.Link != "up" {
				t.Errorf("replica %d: link %s", i, ns.Link)
			}
			replicasOf[ns.MasterID]++
		}
	}
	if covered != SlotCount {
		t.Errorf("masters cover %d slots, want %d", covered, SlotCount)
	}
	for s := range 3 {
		if got := replicasOf[nodes[s].ID]; got != 2 {
			t.Errorf("master %d has %d replicas, want 2", s, got)
		}
	}
	// A cluster client sees the same thing.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{c.Seed()}})
	defer cc.Close()
	shards, err := cc.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 3 {
		t.Errorf("CLUSTER SHARDS: %d shards", len(shards))
	}
	for _, sh := range shards {
		if len(sh.Nodes) != 3 {
			t.Errorf("CLUSTER SHARDS: shard with %d nodes", len(sh.Nodes))
		}
	}
	if err := cc.Set(ctx, "layout-test", "v", 0).Err(); err != nil {
		t.Errorf("SET through a cluster client: %v", err)
	}
	// The state file lets another process attach.
	o, err := Open(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if got, want := o.Nodes(), c.Nodes(); len(got) != len(want) || got[4] != want[4] {
		t.Errorf("Open: nodes %v, want %v", got, want)
	}
}

// waitRole polls until node i has the live role want.
func waitRole(t testing.TB, ctx context.Context, c *Cluster, want Role, idx ...int) int {
	t.Helper()
	found := -1
	err := poll(ctx, 20*time.Millisecond, func() (bool, error) {
		for _, i := range idx {
			if st := c.nodeStatus(ctx, c.nodes[i]); st.Reachable && st.Role == want {
				found = i
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no node of %v became %s: %v", idx, want, err)
	}
	return found
}

func TestKillMasterFailoverAndRestart(t *testing.T) {
	c := sharedCluster(t)
	restoreCluster(t, c)
	ctx := testCtx(t, time.Minute)
	id := c.Nodes()[0].ID
	begin := time.Now()
	if err := c.Kill(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if c.Running(0) {
		t.Fatal("node 0 still running after Kill")
	}
	limit := c.NodeTimeout() + 5*time.Second
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	promoted := waitRole(t, wctx, c, RoleMaster, 3, 4)
	t.Logf("replica %d promoted %s after the kill (node-timeout %s)", promoted, time.Since(begin).Round(time.Millisecond), c.NodeTimeout())

	if err := c.Restart(ctx, 0); err != nil {
		t.Fatal(err)
	}
	st := c.nodeStatus(ctx, c.nodes[0])
	if st.Role != RoleReplica || st.MasterID != c.Nodes()[promoted].ID {
		t.Errorf("restarted node 0: role %s master %s, want replica of %s", st.Role, st.MasterID, c.Nodes()[promoted].ID)
	}
	if got, _ := c.client(c.nodes[0]).Do(ctx, "CLUSTER", "MYID").Text(); got != id {
		t.Errorf("restarted node 0 has id %s, want %s", got, id)
	}
	if err := c.RevertAll(ctx); err != nil {
		t.Fatal(err)
	}
	if st := c.nodeStatus(ctx, c.nodes[0]); st.Role != RoleMaster {
		t.Errorf("after RevertAll node 0 is %s, want master", st.Role)
	}
}

func TestRestartReplica(t *testing.T) {
	c := sharedCluster(t)
	restoreCluster(t, c)
	tests := []struct {
		name string
		down func(context.Context, int) error
	}{
		{"kill", c.Kill},
		{"stop", c.StopNode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			const i = 8
			id, oldPID := c.Nodes()[i].ID, c.Nodes()[i].PID
			if err := tt.down(ctx, i); err != nil {
				t.Fatal(err)
			}
			if c.Running(i) || pidAlive(oldPID, c.Nodes()[i].Dir) {
				t.Fatal("node still running")
			}
			if err := tt.down(ctx, i); !errors.Is(err, ErrNodeDown) {
				t.Errorf("second %s: %v, want ErrNodeDown", tt.name, err)
			}
			if err := c.Restart(ctx, i); err != nil {
				t.Fatal(err)
			}
			n := c.Nodes()[i]
			if n.ID != id || n.PID == oldPID || n.PID == 0 {
				t.Errorf("after restart: id %s pid %d, want id %s and a new pid", n.ID, n.PID, id)
			}
			if err := c.WaitHealthy(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPauseResume(t *testing.T) {
	c := sharedCluster(t)
	restoreCluster(t, c)
	ctx := testCtx(t, 30*time.Second)
	const i = 5 // a replica: a short pause does not start a failover
	cl := plainClient(t, c.Nodes()[i].Addr, 300*time.Millisecond)
	if err := cl.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(ctx, i); err != nil {
		t.Fatal(err)
	}
	if !c.Paused(i) {
		t.Error("Paused reports false")
	}
	begin := time.Now()
	err := cl.Ping(ctx).Err()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("PING on a paused node: %v, want a timeout", err)
	}
	if d := time.Since(begin); d < 250*time.Millisecond {
		t.Errorf("timed out after %s, want about 300ms", d)
	}
	if err := c.Resume(ctx, i); err != nil {
		t.Fatal(err)
	}
	if err := cl.Ping(ctx).Err(); err != nil {
		t.Errorf("PING after Resume: %v", err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestFailover(t *testing.T) {
	c := sharedCluster(t)
	restoreCluster(t, c)
	ctx := testCtx(t, 30*time.Second)
	if err := c.Failover(ctx, 0, false); !errors.Is(err, ErrRole) {
		t.Errorf("Failover of a master: %v, want ErrRole", err)
	}
	// Different shards: Redis masters refuse to vote about the same master twice
	// within 2×node-timeout, which would slow the second failover down.
	tests := []struct {
		replica, master int
		force           bool
	}{
		{6, 1, false},
		{7, 2, true},
	}
	for _, tt := range tests {
		t.Run("force="+strconv.FormatBool(tt.force), func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			if err := c.Failover(ctx, tt.replica, tt.force); err != nil {
				t.Fatal(err)
			}
			if st := c.nodeStatus(ctx, c.nodes[tt.master]); st.Role != RoleReplica {
				t.Errorf("old master %d is %s after the failover", tt.master, st.Role)
			}
			if err := c.RevertAll(ctx); err != nil {
				t.Fatal(err)
			}
			if st := c.nodeStatus(ctx, c.nodes[tt.master]); st.Role != RoleMaster {
				t.Errorf("after RevertAll node %d is %s", tt.master, st.Role)
			}
		})
	}
}

func TestMisconf(t *testing.T) {
	c := sharedCluster(t)
	restoreCluster(t, c)
	ctx := testCtx(t, 30*time.Second)
	const i = 1
	cl := plainClient(t, c.Nodes()[i].Addr, 2*time.Second)
	key := KeyInSlot("misconf-test", ShardSlots(3)[i].Start+7)
	if err := cl.Set(ctx, key, "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.InduceMisconf(ctx, i); err != nil {
		t.Fatal(err)
	}
	err := cl.Set(ctx, key, "during", 0).Err()
	if err == nil || err.Error() != misconfText {
		t.Errorf("SET during MISCONF: %v\nwant: %s", err, misconfText)
	}
	if got, err := cl.Get(ctx, key).Result(); err != nil || got != "before" {
		t.Errorf("GET during MISCONF: %q, %v", got, err)
	}
	if err := c.InduceMisconf(ctx, i); err != nil {
		t.Errorf("InduceMisconf twice: %v", err)
	}
	// A replica restarted meanwhile rejoins the cluster but cannot sync (the master
	// answers its PING with MISCONF) until the failure is cleared.
	if err := c.Restart(ctx, 5); err != nil {
		t.Fatalf("restart a replica during MISCONF: %v", err)
	}
	if err := cl.Set(ctx, key, "during", 0).Err(); err == nil || err.Error() != misconfText {
		t.Errorf("SET during MISCONF after a replica restart: %v", err)
	}
	if err := c.InduceMisconf(ctx, 3); !errors.Is(err, ErrRole) {
		t.Errorf("InduceMisconf on a replica: %v, want ErrRole", err)
	}
	if err := c.ClearMisconf(ctx, i); err != nil {
		t.Fatal(err)
	}
	if err := cl.Set(ctx, key, "after", 0).Err(); err != nil {
		t.Errorf("SET after ClearMisconf: %v", err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Errorf("replica did not resync after ClearMisconf: %v", err)
	}
	save, err := cl.ConfigGet(ctx, "save").Result()
	if err != nil || save["save"] != "" {
		t.Errorf("save config after ClearMisconf: %v %v", save, err)
	}
}

func TestMisconfEmptyMaster(t *testing.T) {
	c := sharedCluster(t)
	restoreCluster(t, c)
	ctx := testCtx(t, 30*time.Second)
	const i = 2
	cl := plainClient(t, c.Nodes()[i].Addr, 2*time.Second)
	if err := cl.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.InduceMisconf(ctx, i); err != nil {
		t.Fatal(err)
	}
	key := KeyInSlot("x", ShardSlots(3)[i].End)
	if err := cl.Set(ctx, key, "v", 0).Err(); err == nil || err.Error() != misconfText {
		t.Errorf("SET during MISCONF: %v", err)
	}
	if err := c.ClearMisconf(ctx, i); err != nil {
		t.Fatal(err)
	}
	if n, err := cl.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("DBSIZE after ClearMisconf: %d %v, want the helper key removed", n, err)
	}
}

func TestMigration(t *testing.T) {
	c := sharedCluster(t)
	restoreCluster(t, c)
	ctx := testCtx(t, 30*time.Second)
	const slot = 100 // served by node 0
	nodes := c.Nodes()
	src := plainClient(t, nodes[0].Addr, 2*time.Second)
	dst := plainClient(t, nodes[1].Addr, 2*time.Second)
	present, absent := KeyInSlot("mig-present", slot), KeyInSlot("mig-absent", slot)
	if present == absent {
		t.Fatal("keys collide")
	}
	if err := src.Set(ctx, present, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.StartMigration(ctx, slot, 1, 2); !errors.Is(err, ErrMigration) {
		t.Errorf("migration from a node that does not serve the slot: %v", err)
	}
	if err := c.StartMigration(ctx, slot, 0, 1); err != nil {
		t.Fatal(err)
	}
	_, err := src.Get(ctx, absent).Result()
	if addr, ok := redis.IsAskError(err); !ok || addr != nodes[1].Addr {
		t.Errorf("GET of a key not on the source during migration: %v, want ASK %d %s", err, slot, nodes[1].Addr)
	} else if err.Error() != "ASK 100 "+nodes[1].Addr {
		t.Errorf("ASK text %q", err.Error())
	}
	if got, err := src.Get(ctx, present).Result(); err != nil || got != "v" {
		t.Errorf("GET of a key still on the source: %q %v", got, err)
	}
	if err := c.FinishMigration(ctx, slot); err != nil {
		t.Fatal(err)
	}
	_, err = src.Get(ctx, present).Result()
	if addr, ok := redis.IsMovedError(err); !ok || addr != nodes[1].Addr {
		t.Errorf("GET on the old owner after migration: %v, want MOVED %d %s", err, slot, nodes[1].Addr)
	}
	if got, err := dst.Get(ctx, present).Result(); err != nil || got != "v" {
		t.Errorf("GET on the new owner: %q %v", got, err)
	}
	if err := c.FinishMigration(ctx, slot); !errors.Is(err, ErrMigration) {
		t.Errorf("second FinishMigration: %v", err)
	}
	if err := c.RevertAll(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := src.Get(ctx, present).Result(); err != nil || got != "v" {
		t.Errorf("GET on the first owner after RevertAll: %q %v", got, err)
	}
	if len(c.Migrations()) != 0 {
		t.Errorf("migrations left: %v", c.Migrations())
	}
}

func TestActionsRefuseOtherNodes(t *testing.T) {
	c := sharedCluster(t)
	ctx := testCtx(t, 20*time.Second)
	addr := startHandmadeNode(t)
	if err := Verify(ctx, Config{}, addr); !errors.Is(err, ErrNotProvisioned) {
		t.Errorf("Verify(hand-made node): %v, want ErrNotProvisioned", err)
	}
	if _, err := OpenByAddr(ctx, Config{}, addr); !errors.Is(err, ErrNotProvisioned) {
		t.Errorf("OpenByAddr(hand-made node): %v, want ErrNotProvisioned", err)
	}
	if _, err := c.Index(addr); !errors.Is(err, ErrNotProvisioned) {
		t.Errorf("Index(hand-made node): %v, want ErrNotProvisioned", err)
	}
	if err := Verify(ctx, Config{}, c.Addrs()[0], addr); !errors.Is(err, ErrNotProvisioned) {
		t.Errorf("Verify(ours, hand-made): %v, want ErrNotProvisioned", err)
	}
	if err := Verify(ctx, Config{}, c.Addrs()...); err != nil {
		t.Errorf("Verify(our nodes): %v", err)
	}
	o, err := OpenByAddr(ctx, Config{}, c.Addrs()[4])
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Dir() != c.Dir() {
		t.Errorf("OpenByAddr found %s, want %s", o.Dir(), c.Dir())
	}
	for ref, want := range map[string]int{c.Addrs()[3]: 3, c.Nodes()[2].ID: 2, "7": 7} {
		if got, err := c.Index(ref); err != nil || got != want {
			t.Errorf("Index(%q) = %d, %v; want %d", ref, got, err, want)
		}
	}
	if err := c.Kill(ctx, 99); !errors.Is(err, ErrNodeIndex) {
		t.Errorf("Kill(99): %v, want ErrNodeIndex", err)
	}
}

// startHandmadeNode starts a cluster-enabled redis-server without this package (so
// without a marker) and stops it by PID in t.Cleanup.
func startHandmadeNode(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	port := freeBase(t, 1)
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", DefaultHost,
		"--cluster-enabled", "yes", "--dir", dir, "--save", "", "--appendonly", "no",
		"--logfile", filepath.Join(dir, "redis.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	addr := net.JoinHostPort(DefaultHost, strconv.Itoa(port))
	cl := plainClient(t, addr, time.Second)
	ctx := testCtx(t, 10*time.Second)
	if err := poll(ctx, 10*time.Millisecond, func() (bool, error) { return cl.Ping(ctx).Err() == nil, nil }); err != nil {
		t.Fatalf("hand-made node did not start: %v", err)
	}
	return addr
}

func TestStartErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	base := freeBase(t, 3)
	ln, err := net.Listen("tcp", net.JoinHostPort(DefaultHost, strconv.Itoa(base+1)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	bus, err := net.Listen("tcp", net.JoinHostPort(DefaultHost, strconv.Itoa(base+2+busPortOffset)))
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	dir := t.TempDir()
	tests := []struct {
		name     string
		cfg      Config
		want     error
		contains string
	}{
		{"port in use", Config{BasePort: base, Shards: 2, Replicas: -1}, ErrPortInUse, "port of node 1 127.0.0.1:" + strconv.Itoa(base+1)},
		{"bus port in use", Config{BasePort: base + 2, Shards: 1, Replicas: -1}, ErrPortInUse, "cluster bus port of node 0"},
		{"no redis-server", Config{BasePort: base, RedisServer: "/nonexistent/redis-server"}, ErrRedisServerNotFound, "bash scripts/install-redis.sh installs it"},
		{"negative shards", Config{Shards: -1}, ErrInvalidConfig, "shards"},
		{"ports beyond 65535", Config{BasePort: 60000}, ErrInvalidConfig, "65535"},
		{"unspecified host", Config{Host: "0.0.0.0"}, ErrInvalidConfig, "host"},
		{"short node timeout", Config{NodeTimeout: time.Millisecond}, ErrInvalidConfig, "node timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Dir = filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			c, err := Start(testCtx(t, 10*time.Second), tt.cfg)
			if err == nil {
				_ = c.Stop(context.Background())
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("Start: %v\nwant %v containing %q", err, tt.want, tt.contains)
			}
			if _, err := os.Stat(tt.cfg.Dir); err == nil {
				t.Errorf("Start wrote %s before failing", tt.cfg.Dir)
			}
		})
	}
	if left := redisChildren(); len(left) > len(sharedPIDs()) {
		t.Errorf("failed starts left processes: %v", left)
	}
}

// sharedPIDs returns the PIDs of the shared cluster, if it runs.
func sharedPIDs() []int {
	var out []int
	if shared.c != nil {
		for _, n := range shared.c.Nodes() {
			if n.PID != 0 {
				out = append(out, n.PID)
			}
		}
	}
	return out
}

func TestStopRemovesEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	c, err := startFree(t, Config{Shards: 1, Replicas: 1, NodeTimeout: testNodeTimeout})
	if err != nil {
		t.Fatal(err)
	}
	dir := c.Dir()
	nodes := c.Nodes()
	if len(nodes) != 2 {
		t.Fatalf("%d nodes", len(nodes))
	}
	ctx := testCtx(t, 30*time.Second)
	if err := c.Pause(ctx, 1); err != nil { // Stop copes with a paused node
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if _, err := os.Stat("/proc/" + strconv.Itoa(n.PID)); err == nil {
			t.Errorf("node %d (pid %d) still exists", n.Index, n.PID)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp dir %s still there: %v", dir, err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := c.Kill(ctx, 0); !errors.Is(err, ErrStopped) {
		t.Errorf("Kill after Stop: %v, want ErrStopped", err)
	}
}

func TestDaemonOpenStop(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	c, err := startFree(t, Config{Shards: 1, Replicas: 1, Dir: dir, Daemon: true, NodeTimeout: testNodeTimeout})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 30*time.Second)
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	// Daemonised nodes lead their own sessions.
	for _, n := range c.Nodes() {
		if sid, _ := syscall.Getpgid(n.PID); sid != n.PID {
			t.Errorf("node %d: process group %d, want its own", n.Index, sid)
		}
	}
	if _, err := Start(ctx, Config{Dir: dir, BasePort: freeBase(t, 2), Shards: 1, Replicas: 1}); !errors.Is(err, ErrRunning) {
		t.Errorf("Start in a dir with a running cluster: %v, want ErrRunning", err)
	}
	o, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := o.Status(ctx)
	if err != nil || st.Problem() != nil {
		t.Fatalf("Status through Open: %v %v", err, st.Problem())
	}
	if err := o.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		if pidAlive(n.PID, n.Dir) {
			t.Errorf("node %d still alive after Stop through Open", n.Index)
		}
	}
	if err := o.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after Remove: %v", dir, err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrNoState) {
		t.Errorf("Open after Remove: %v, want ErrNoState", err)
	}
}

func TestAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	c := startCluster(t, Config{
		Shards: 1, Replicas: 1, NodeTimeout: testNodeTimeout,
		ExtraConfig: []string{"requirepass secret", "user app on >apppw ~* &* +@all"},
		Password:    "secret",
	})
	ctx := testCtx(t, 20*time.Second)
	cl := plainClient(t, c.Seed(), time.Second)
	if err := cl.Ping(ctx).Err(); err == nil || !isAuthError(err) {
		t.Errorf("PING without AUTH: %v, want NOAUTH", err)
	}
	app := redis.NewClient(&redis.Options{Addr: c.Seed(), Username: "app", Password: "apppw"})
	defer app.Close()
	if err := app.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Errorf("SET as the ACL user: %v", err)
	}
	if err := Verify(ctx, Config{Password: "secret"}, c.Addrs()...); err != nil {
		t.Errorf("Verify with the password: %v", err)
	}
	if err := c.InduceMisconf(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.RevertAll(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRevertAllCombined(t *testing.T) {
	c := sharedCluster(t)
	restoreCluster(t, c)
	ctx := testCtx(t, time.Minute)
	const slot = 200 // served by node 0
	steps := []struct {
		name string
		do   func() error
	}{
		{"migrate slot 200 from 0 to 2", func() error { return c.StartMigration(ctx, slot, 0, 2) }},
		{"MISCONF on 0", func() error { return c.InduceMisconf(ctx, 0) }},
		{"pause 7", func() error { return c.Pause(ctx, 7) }},
		{"stop 4", func() error { return c.StopNode(ctx, 4) }},
		{"kill 1", func() error { return c.Kill(ctx, 1) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	if err := c.RevertAll(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Problem(); err != nil {
		t.Fatalf("after RevertAll: %v", err)
	}
	want := ShardSlots(3)
	for i, ns := range st.Nodes {
		if ns.Role != ns.Node.Role {
			t.Errorf("node %d is %s, provisioned %s", i, ns.Role, ns.Node.Role)
		}
		if ns.Role == RoleMaster && (len(ns.Slots) != 1 || ns.Slots[0] != want[i]) {
			t.Errorf("master %d serves %v, want %v", i, ns.Slots, want[i])
		}
	}
	cl := plainClient(t, c.Nodes()[0].Addr, time.Second)
	if err := cl.Set(ctx, KeyInSlot("revert", slot), "v", 0).Err(); err != nil {
		t.Errorf("SET on node 0 after RevertAll: %v", err)
	}
}
