package provision

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ack is a write a node acknowledged, and when its reply arrived.
type ack struct {
	key string
	at  time.Time
}

// writer SETs a new key in one slot on one node every few milliseconds and
// records the writes the node acknowledged and the errors it answered.
type writer struct {
	mu     sync.Mutex
	acked  []ack
	errs   map[string]int // error replies by first word
	stop   chan struct{}
	done   chan struct{}
	prefix string
}

func startWriter(t *testing.T, addr, prefix string) *writer {
	t.Helper()
	cl := plainClient(t, addr, 300*time.Millisecond)
	w := &writer{errs: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{}), prefix: prefix}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			key := fmt.Sprintf("%s:%d", prefix, i)
			err := cl.Set(context.Background(), key, i, 0).Err()
			now := time.Now()
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, ack{key, now})
			} else {
				word, _, _ := strings.Cut(err.Error(), " ")
				w.errs[word]++
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *writer) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// TestPartitionIsolatedMaster isolates master 0: it keeps acknowledging writes
// until node-timeout, then answers CLUSTERDOWN; the majority promotes one of
// its replicas; after the heal it is a replica of it, and exactly the writes it
// acknowledged after the cut are gone.
func TestPartitionIsolatedMaster(t *testing.T) {
	c := sharedCluster(t)
	restoreCluster(t, c)
	ctx := testCtx(t, 2*time.Minute)
	nodes := c.Nodes()
	// Keys of this run only (the shared cluster keeps those of earlier runs).
	w := startWriter(t, nodes[0].Addr, KeyInSlot(fmt.Sprintf("partition-%d", time.Now().UnixNano()), 100))
	waitFor(t, ctx, func() error {
		if w.count() < 10 {
			return errors.New("writes before the cut")
		}
		return nil
	})
	before := time.Now()
	p, err := c.Partition(ctx, []int{0})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Exposed(), []int{0}) {
		t.Errorf("exposed masters %v, want [0]", p.Exposed())
	}
	if p.Start().Before(before) || p.Start().After(time.Now()) {
		t.Errorf("start %v outside the call", p.Start())
	}
	if got := p.Sides(); len(got) != 2 || !slices.Equal(got[1], []int{0}) {
		t.Errorf("sides %v", got)
	}
	// The majority promotes a replica of node 0; node 0 sees the cluster down.
	var promoted int
	waitFor(t, ctx, func() error {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		for _, r := range []int{3, 4} {
			if st.Nodes[r].Role == RoleMaster && len(st.Nodes[r].Slots) > 0 {
				promoted = r
				if st.Nodes[0].ClusterState != "fail" || st.Nodes[0].Role != RoleMaster {
					return fmt.Errorf("node 0: %s, cluster_state:%s", st.Nodes[0].Role, st.Nodes[0].ClusterState)
				}
				return nil
			}
		}
		return errors.New("no replica of node 0 promoted yet")
	})
	w.mu.Lock()
	downs := w.errs["CLUSTERDOWN"]
	w.mu.Unlock()
	if downs == 0 {
		t.Errorf("node 0 never answered CLUSTERDOWN during the partition (errors %v)", w.errs)
	}
	w.close()
	h, err := p.Heal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.Demoted, []int{0}) {
		t.Errorf("demoted %v, want [0]", h.Demoted)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Nodes[0].Role != RoleReplica || st.Nodes[0].MasterID != nodes[promoted].ID {
		t.Errorf("after the heal node 0 is %s of %s, want a replica of node %d", st.Nodes[0].Role, st.Nodes[0].MasterID, promoted)
	}
	// Every write acknowledged before the cut is there, none after it.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer cc.Close()
	var kept, lost, lostBefore, keptAfter int
	for _, a := range w.acked {
		n, err := cc.Exists(ctx, a.key).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case a.at.Before(h.Start) && n == 1:
			kept++
		case a.at.Before(h.Start):
			lostBefore++
		case n == 0:
			lost++
		default:
			keptAfter++
		}
	}
	t.Logf("writes acknowledged: %d before the cut (kept), %d after it (lost); errors %v", kept, lost, w.errs)
	if lostBefore > 0 || keptAfter > 0 || lost == 0 {
		t.Errorf("%d writes acknowledged before the cut lost, %d after it kept, %d after it lost; want 0, 0, >0", lostBefore, keptAfter, lost)
	}
	assertUnpartitioned(t, ctx, c)
}

// assertUnpartitioned checks that no trace of a partition is left: every node
// announces its own cluster bus port, every replica its own credentials, the
// state file records none, and the cluster is healthy.
func assertUnpartitioned(t *testing.T, ctx context.Context, c *Cluster) {
	t.Helper()
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		cfg, err := c.newClientFor(t, n.Addr).ConfigGet(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if cfg["cluster-announce-bus-port"] != "0" || cfg["masteruser"] != "" || cfg["masterauth"] != "" {
			t.Errorf("node %d: cluster-announce-bus-port %q masteruser %q masterauth %q, want 0 and none",
				n.Index, cfg["cluster-announce-bus-port"], cfg["masteruser"], cfg["masterauth"])
		}
	}
	st, err := readState(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if st.Partition != nil {
		t.Errorf("the state file still records a partition: %+v", st.Partition)
	}
}

func (c *Cluster) newClientFor(t *testing.T, addr string) *redis.Client {
	cl := c.newClient(addr)
	t.Cleanup(func() { cl.Close() })
	return cl
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, cond func() error) {
	t.Helper()
	var last error
	if err := poll(ctx, 20*time.Millisecond, func() (bool, error) {
		last = cond()
		return last == nil, nil
	}); err != nil {
		t.Fatalf("%v (last: %v)", err, last)
	}
}

// partitionHelperEnv makes the test binary a helper process that opens the
// cluster in the directory it names, isolates node 0, says "partitioned",
// and on SIGTERM heals and exits.
const partitionHelperEnv = "PROVISION_TEST_PARTITION_DIR"

func partitionHelper(dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	c, err := Open(dir)
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	p, err := c.Partition(ctx, []int{0})
	if err != nil {
		fmt.Println("partition:", err)
		return 1
	}
	fmt.Println("partitioned")
	<-ctx.Done()
	if _, err := p.Heal(context.Background()); err != nil {
		fmt.Println("heal:", err)
		return 1
	}
	if err := c.Close(); err != nil {
		fmt.Println("close:", err)
		return 1
	}
	fmt.Println("healed")
	return 0
}

// startPartitionHelper runs the helper on c and waits until its partition is
// in place.
func startPartitionHelper(t *testing.T, c *Cluster) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), partitionHelperEnv+"="+c.Dir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "partitioned" {
		t.Fatalf("helper: %q %v", sc.Text(), sc.Err())
	}
	return cmd, sc
}

// TestPartitionProcessEnds: a process holding a partition heals it when it
// gets SIGTERM; one killed with SIGKILL leaves the nodes announcing relay
// ports nobody serves, and RevertAll, from another process, undoes it.
func TestPartitionProcessEnds(t *testing.T) {
	c := sharedCluster(t)
	restoreCluster(t, c)
	t.Run("SIGTERM", func(t *testing.T) {
		ctx := testCtx(t, time.Minute)
		cmd, sc := startPartitionHelper(t, c)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if !sc.Scan() || sc.Text() != "healed" {
			t.Fatalf("helper after SIGTERM: %q %v", sc.Text(), sc.Err())
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
		assertUnpartitioned(t, ctx, c)
	})
	t.Run("SIGKILL", func(t *testing.T) {
		ctx := testCtx(t, time.Minute)
		cmd, _ := startPartitionHelper(t, c)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		st, err := readState(c.Dir())
		if err != nil {
			t.Fatal(err)
		}
		if st.Partition == nil || st.Partition.PID != cmd.Process.Pid {
			t.Fatalf("state file after the helper died: partition %+v", st.Partition)
		}
		// The relays are gone with the helper: the nodes announce their ports.
		cfg, err := c.newClientFor(t, c.Nodes()[1].Addr).ConfigGet(ctx, "cluster-announce-bus-port").Result()
		if err != nil {
			t.Fatal(err)
		}
		if cfg["cluster-announce-bus-port"] != strconv.Itoa(st.Partition.Relays[1]) {
			t.Errorf("node 1 announces %s, want the dead relay's port %d", cfg["cluster-announce-bus-port"], st.Partition.Relays[1])
		}
		o, err := Open(c.Dir())
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if _, err := o.Partition(ctx, []int{1}); !errors.Is(err, ErrPartition) {
			t.Errorf("a new partition over the one left behind: %v, want ErrPartition", err)
		}
		if err := o.RevertAll(ctx); err != nil {
			t.Fatal(err)
		}
		assertUnpartitioned(t, ctx, c)
	})
}

// TestPartitionRestartedNode: a replica restarted during a partition, whose
// master is on the other side, cannot sync from it (its restart forgot the
// credentials that keep it from doing so, and gets them again); after the heal
// all is as before.
func TestPartitionRestartedNode(t *testing.T) {
	c := sharedCluster(t)
	restoreCluster(t, c)
	ctx := testCtx(t, 2*time.Minute)
	p, err := c.Partition(ctx, []int{0})
	if err != nil {
		t.Fatal(err)
	}
	// Node 3, a replica of node 0, restarts before the majority fails node 0
	// over: its nodes.conf still names node 0 its master.
	if err := c.Kill(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, 3); err != nil {
		t.Fatalf("restart during the partition: %v", err)
	}
	master0 := c.Nodes()[0].ID
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := st.Nodes[3]; n.MasterID == master0 && n.Link == "up" {
			t.Fatal("node 3 synced from node 0 across the partition")
		}
	}
	if _, err := p.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	assertUnpartitioned(t, ctx, c)
}
