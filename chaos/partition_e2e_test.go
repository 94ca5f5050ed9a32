package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/chaos/stack"
	"github.com/redis-chaos/redis-chaos/provision"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// sideLoads plays a partition scenario with a go-redis client on each side
// (named "minority" and "majority"; the minority one is placed on the
// cut-off side) and returns each client's spans per shard, and the shards
// whose master was cut off.
func sideLoads(t *testing.T, s *env, name, mode string, hold time.Duration) (map[int]bool, map[string][][]span) {
	t.Helper()
	masters := s.proxy.Topology().Masters() // as the partition starts: shard order, and what is cut off
	loads := map[string]*load{"minority": startLoadAs(t, s.proxy, "minority"), "majority": startLoadAs(t, s.proxy, "majority")}
	for _, l := range loads {
		l.waitOK(t, 5)
	}
	run, err := s.engine.StartScenario(name, chaos.RunOptions{Mode: mode, Hold: hold, Recover: 5 * time.Second,
		Clients: &fault.Match{ClientName: "minority"}})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	select {
	case <-time.After(hold + 90*time.Second):
		t.Fatalf("scenario %s did not end", name)
	case <-waitRun(s.engine, run.ID):
	}
	r, _ := s.engine.GetRun(run.ID)
	if r.State != "done" {
		t.Fatalf("run %s: state %s (%s)", run.ID, r.State, r.Error)
	}
	out := map[string][][]span{}
	for side, l := range loads {
		l.result()
		out[side] = l.spans
		t.Logf("%s (%s) %s client: nodes %v; runs per shard %v", name, mode, side, r.Nodes, l.spans)
	}
	hit := map[int]bool{}
	for i, m := range masters {
		for _, n := range r.Nodes {
			if n == m.Addr {
				hit[i] = true
			}
		}
	}
	return hit, out
}

// partitionWriter writes new keys in every master's slots (one goroutine per
// master) through the proxy, as a client named "minority", and records the
// writes acknowledged.
type partitionWriter struct {
	mu    sync.Mutex
	acked []string
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startPartitionWriter(t *testing.T, s *env) *partitionWriter {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.Seeds(s.proxy), ClientName: "minority",
		ReadTimeout: 300 * time.Millisecond, MaxRetries: -1, MaxRedirects: -1})
	w := &partitionWriter{stop: make(chan struct{})}
	run := time.Now().UnixNano()
	for _, m := range s.proxy.Topology().Masters() {
		prefix := provision.KeyInSlot(fmt.Sprintf("lost-%d", run), m.Slots[0].From)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-w.stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				key := fmt.Sprintf("%s:%d", prefix, i)
				if err := cc.Set(context.Background(), key, i, 0).Err(); err == nil {
					w.mu.Lock()
					w.acked = append(w.acked, key)
					w.mu.Unlock()
				}
			}
		}()
	}
	t.Cleanup(func() { w.close(); cc.Close() })
	return w
}

func (w *partitionWriter) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// assertProvisionedShape checks the real cluster is healthy with its
// provisioned shape: cluster_state:ok everywhere, 3 masters with 2 replicas each.
func assertProvisionedShape(t *testing.T, c *provision.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	replicas := map[string]int{}
	masters := 0
	for _, n := range st.Nodes {
		if n.ClusterState != "ok" {
			t.Errorf("node %s: cluster_state:%s", n.Addr, n.ClusterState)
		}
		if n.Role == provision.RoleMaster {
			masters++
		} else {
			replicas[n.MasterID]++
		}
	}
	if masters != 3 || len(replicas) != 3 {
		t.Errorf("%d masters, replicas per master %v; want 3 masters with 2 replicas each", masters, replicas)
	}
	for m, n := range replicas {
		if n != 2 {
			t.Errorf("master %s has %d replicas, want 2", m, n)
		}
	}
}

// shardOfNode is the provisioned shard of the node at addr.
func shardOfNode(st provision.Status, addr string) int {
	for _, n := range st.Nodes {
		if n.Addr == addr {
			return n.Shard
		}
	}
	return -1
}

// TestPartitionLostWrites isolates a master in real mode with a client on its
// side writing new keys: after the heal, the writes the engine reports lost
// are exactly the acknowledged keys a direct read of the cluster no longer
// finds, the checker has them as findings of that client, and the cluster is
// healthy with its provisioned shape.
func TestPartitionLostWrites(t *testing.T) {
	s := startStackWith(t, true, 1, &checker.Config{})
	w := startPartitionWriter(t, s)
	testenv.Eventually(t, 10*time.Second, func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.acked) < 30 {
			return fmt.Errorf("%d writes before the partition", len(w.acked))
		}
		return nil
	})
	f, err := s.engine.Add(fault.Spec{Action: "partition", Target: "master", Mode: "real",
		Match: fault.Match{ClientName: "minority"}, TTL: fault.Duration(time.Minute)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Nodes) != 1 || f.State != "active" || f.Error != "" {
		t.Fatalf("partition: nodes %v, %s %s", f.Nodes, f.State, f.Error)
	}
	master := f.Nodes[0]
	// Hold until the majority has promoted a replica (its election may take
	// a second try: Redis waits 4 s after a split vote).
	testenv.Eventually(t, 30*time.Second, func() error {
		st, err := s.cluster.Status(context.Background())
		if err != nil {
			return err
		}
		for _, n := range st.Nodes {
			if n.Addr != master && n.Role == provision.RoleMaster && n.Shard == shardOfNode(st, master) {
				return nil
			}
		}
		return fmt.Errorf("no replica of %s promoted yet", master)
	})
	if err := s.engine.Remove(f.ID); err != nil {
		t.Fatal(err)
	}
	w.close()
	testenv.Eventually(t, time.Minute, func() error {
		if f, _ = s.engine.Ended(f.ID); f == nil || f.Writes == nil {
			return errors.New("writes not accounted for yet")
		}
		return nil
	})
	// What a direct read of the healed cluster shows.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: s.cluster.Addrs()})
	defer cc.Close()
	ctx := context.Background()
	missing := 0
	for _, k := range w.acked {
		n, err := cc.Exists(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			missing++
		}
	}
	t.Logf("acknowledged %d writes; %d missing after the heal; the engine reports %d lost of %d acknowledged during the partition, demoted %v",
		len(w.acked), missing, f.Writes.Count(), f.Writes.Acknowledged, f.Writes.Demoted)
	if missing == 0 {
		t.Fatal("no acknowledged write was lost: the master was not replaced during the partition")
	}
	if f.Writes.Count() != missing || f.Writes.AtRisk {
		t.Errorf("the engine reports %d lost writes (at risk %v), a direct read shows %d", f.Writes.Count(), f.Writes.AtRisk, missing)
	}
	if len(f.Writes.Demoted) != 1 || f.Writes.Demoted[0] != master {
		t.Errorf("demoted %v, want [%s]", f.Writes.Demoted, master)
	}
	for _, lw := range f.Writes.Lost {
		if lw.Command != "SET" || lw.Node != master || lw.Client.Name != "minority" || lw.Time.IsZero() {
			t.Errorf("lost write %+v", lw)
			break
		}
	}
	findings := 0
	for _, x := range s.checker.Findings() {
		if x.Rule == checker.RuleWriteLost {
			findings += x.Count
			if x.Client.Name != "minority" || x.Severity != checker.High || x.Possible {
				t.Errorf("finding %s by %s (%s, possible %v)", x.Rule, x.Client, x.Severity, x.Possible)
			}
		}
	}
	if findings != missing {
		t.Errorf("the checker counts %d lost writes, a direct read shows %d", findings, missing)
	}
	assertProvisionedShape(t, s.cluster)
}

// TestPartitionStopMidway stops the engine (as SIGTERM does) while a real
// partition holds: the partition is healed before Run returns, and the real
// cluster is healthy with its provisioned shape, its bus on its own ports.
func TestPartitionStopMidway(t *testing.T) {
	s := startStack(t, true, 2)
	f, err := s.engine.Add(fault.Spec{Action: "partition", Target: "master", Mode: "real", Share: 0.5, TTL: fault.Duration(time.Minute)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if f.State != "active" || f.Error != "" {
		t.Fatalf("real partition: %s %s", f.State, f.Error)
	}
	time.Sleep(2 * testNodeTimeout) // the majority fails the master over
	s.stop()
	assertProvisionedShape(t, s.cluster)
	for _, n := range s.cluster.Nodes() {
		c := redis.NewClient(&redis.Options{Addr: n.Addr})
		v, err := c.ConfigGet(context.Background(), "cluster-announce-bus-port").Result()
		c.Close()
		if err != nil || v["cluster-announce-bus-port"] != "0" {
			t.Errorf("node %s announces bus port %v (%v), want its own", n.Addr, v, err)
		}
	}
}

// TestPartitionSimulatedViews: during a simulated partition-master, a client
// on the cut-off side sees the master accept writes, then CLUSTERDOWN after
// node-timeout, and no reply from the others; a client on the other side sees
// no reply from the master, then its replica promoted; after the heal both
// see the promoted master, and the writes the old master acknowledged are
// reported at risk.
func TestPartitionSimulatedViews(t *testing.T) {
	s := startStack(t, false, 3)
	masters := s.proxy.Topology().Masters()
	f, err := s.engine.Add(fault.Spec{Action: "partition", Target: masters[0].Addr, Match: fault.Match{ClientName: "minority"},
		TTL: fault.Duration(time.Minute)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	key := provision.KeyInSlot("view", masters[0].Slots[0].From)
	ctx := context.Background()
	announced := func(addr string) string { a, _ := s.proxy.Announced(addr); return a }
	client := func(name, addr string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: announced(addr), ClientName: name, ReadTimeout: 300 * time.Millisecond, MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		return c
	}
	minority, majority := client("minority", masters[0].Addr), client("majority", masters[1].Addr)
	if err := minority.Set(ctx, key, "1", 0).Err(); err != nil {
		t.Fatalf("the cut-off master refused a write from its side: %v", err)
	}
	acked := 1
	if err := client("minority", masters[1].Addr).Ping(ctx).Err(); err == nil {
		t.Error("a node across the partition answered the cut-off side")
	}
	if err := client("majority", masters[0].Addr).Get(ctx, key).Err(); err == nil {
		t.Error("the cut-off master answered the other side")
	}
	// The cut-off side turns to cluster_state:fail; the other side promotes a replica.
	testenv.Eventually(t, 10*time.Second, func() error {
		err := minority.Set(ctx, key, "2", 0).Err()
		if err == nil {
			acked++
		}
		if err == nil || err.Error() != "CLUSTERDOWN The cluster is down" {
			return fmt.Errorf("cut-off side: %v", err)
		}
		slots, err := majority.ClusterSlots(ctx).Result()
		if err != nil {
			return err
		}
		for _, sl := range slots {
			if sl.Start <= masters[0].Slots[0].From && masters[0].Slots[0].From <= sl.End && sl.Nodes[0].Addr == announced(masters[0].Addr) {
				return fmt.Errorf("the other side still sees %s serve the slots", masters[0].Addr)
			}
		}
		return nil
	})
	if err := s.engine.Remove(f.ID); err != nil {
		t.Fatal(err)
	}
	// Healed: the old master is a replica; both sides are led to the new one.
	for _, c := range []*redis.Client{minority, majority} {
		err := c.Set(ctx, key, "3", 0).Err()
		if err == nil || err.Error()[:5] != "MOVED" {
			t.Errorf("after the heal: %v, want MOVED to the promoted replica", err)
		}
	}
	var ended *chaos.Fault
	testenv.Eventually(t, 5*time.Second, func() error {
		if x, ok := s.engine.Ended(f.ID); ok && x.Writes != nil {
			ended = x
			return nil
		}
		return fmt.Errorf("fault %s not accounted for", f.ID)
	})
	wl := ended.Writes
	if !wl.AtRisk || wl.Count() != acked || wl.Acknowledged != acked || len(wl.Demoted) != 1 || wl.Demoted[0] != masters[0].Addr {
		t.Errorf("writes: %d at risk (%v) of %d acknowledged, demoted %v; want the %d SETs the cut-off master acknowledged, at risk, demoted [%s]",
			wl.Count(), wl.AtRisk, wl.Acknowledged, wl.Demoted, acked, masters[0].Addr)
	}
	for _, lw := range wl.Lost {
		if lw.Key != key || lw.Command != "SET" || lw.Client.Name != "minority" {
			t.Errorf("write at risk %+v", lw)
		}
	}
}

// TestSimulateWritesNothingUpstream plays partition-master, partition-majority
// and master-down in simulate mode, each followed by fault clear (the
// failback), in front of a cluster whose only user for the proxy and its
// clients may not write nor administer: no node's ACL LOG has a denied
// command afterwards, so neither the proxy nor the engine sent one, and the
// clients read on both sides.
func TestSimulateWritesNothingUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	const reader, readerPass = "reader", "reader-pw"
	c := testenv.StartCluster(t, testenv.ClusterOptions{NodeTimeout: testNodeTimeout, Username: "admin", Password: "admin-pw",
		ExtraConfig: []string{
			"user admin on >admin-pw ~* &* +@all",
			// Everything but writes and administration; the proxy reads the
			// settings (CONFIG GET), the topology (CLUSTER …) and INFO.
			"user " + reader + " on >" + readerPass + " ~* &* +@all -@write -@admin -@dangerous +info +config|get +cluster|info +cluster|nodes +cluster|shards +cluster|slots +cluster|myid",
			"user default off",
		}})
	pc := testenv.ProxyConfig(c.Addrs())
	pc.Username, pc.Password = reader, readerPass
	s := startOn(t, stack.Config{Proxy: pc, Engine: chaos.Config{Seed: 5}})
	admin := func(addr string) *redis.Client {
		cl := redis.NewClient(&redis.Options{Addr: addr, Username: "admin", Password: "admin-pw"})
		t.Cleanup(func() { cl.Close() })
		return cl
	}
	ctx := context.Background()
	// Keys to read, one per shard, written by the admin directly.
	keys := shardKeys(t, s.Proxy)
	direct := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), Username: "admin", Password: "admin-pw"})
	defer direct.Close()
	for _, k := range keys {
		if err := direct.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes() {
		admin(n.Addr).Do(ctx, "ACL", "LOG", "RESET")
	}
	var reads sync.WaitGroup
	stop := make(chan struct{})
	ok := map[string]int{}
	var mu sync.Mutex
	for _, side := range []string{"minority", "majority"} {
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.Seeds(s.Proxy), Username: reader, Password: readerPass,
			ClientName: side, ReadTimeout: 300 * time.Millisecond, MaxRetries: -1})
		defer cc.Close()
		reads.Add(1)
		go func() {
			defer reads.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				for _, k := range keys {
					if cc.Get(ctx, k).Err() == nil {
						mu.Lock()
						ok[side]++
						mu.Unlock()
					}
				}
			}
		}()
	}
	for _, name := range []string{"partition-master", "partition-majority", "master-down"} {
		run, err := s.Engine.StartScenario(name, chaos.RunOptions{Hold: 3 * time.Second, Recover: time.Second,
			Clients: &fault.Match{ClientName: "minority"}})
		if err != nil {
			t.Fatal(err)
		}
		<-waitRun(s.Engine, run.ID)
		s.Engine.Clear("test") // the failback
		time.Sleep(failbackTime)
	}
	close(stop)
	reads.Wait()
	if ok["minority"] == 0 || ok["majority"] == 0 {
		t.Fatalf("reads that succeeded by side: %v", ok)
	}
	for _, n := range c.Nodes() {
		entries, err := admin(n.Addr).Do(ctx, "ACL", "LOG").Slice()
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) > 0 {
			t.Errorf("node %s denied %d command(s) to the read-only user, e.g. %v", n.Addr, len(entries), entries[0])
		}
	}
}

// failbackTime is how long fault clear takes to return replaced masters
// (their grace, then the write pause), with a margin.
const failbackTime = 3 * time.Second
