package chaos_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// fidelityTolerance: runs of one reply class shorter than this are timing
// noise (e.g. a client that reconnects a moment before or after a node turns
// writable) and are left out of the comparison.
const fidelityTolerance = 300 * time.Millisecond

// withTolerance drops the short runs, then collapses consecutive duplicates.
func withTolerance(spans []span, tol time.Duration) []string {
	var out []string
	for i, s := range spans {
		// The first and last runs always count: they are the steady states.
		if i > 0 && i < len(spans)-1 && lasted(spans, i) < tol {
			continue
		}
		if n := len(out); n == 0 || out[n-1] != s.class {
			out = append(out, s.class)
		}
	}
	return out
}

// TestFidelity plays master-down and majority-masters-down in simulate mode
// and in real mode (on a provisioned cluster) and checks that a go-redis
// ClusterClient sees the same sequence of reply classes per shard.
func TestFidelity(t *testing.T) {
	for _, name := range []string{"master-down", "majority-masters-down"} {
		t.Run(name, func(t *testing.T) {
			got := map[string]map[bool][][]string{}
			for _, mode := range []string{"simulate", "real"} {
				s := startStack(t, mode == "real", 1)
				r, spans := runScenarioSpans(t, s, name, mode, 5*time.Second)
				hit := shardsOf(t, s.proxy, r.Nodes)
				byHit := map[bool][][]string{}
				for i, sp := range spans {
					byHit[hit[i]] = append(byHit[hit[i]], withTolerance(sp, fidelityTolerance))
				}
				got[mode] = byHit
			}
			for _, hit := range []bool{true, false} {
				sim, real := got["simulate"][hit], got["real"][hit]
				if len(sim) != len(real) {
					t.Fatalf("hit=%v: %d shards in simulate, %d in real", hit, len(sim), len(real))
				}
				for i := range sim {
					if !slices.Equal(sim[i], real[i]) {
						t.Errorf("hit=%v shard %d: simulate %v, real %v", hit, i, sim[i], real[i])
					}
				}
			}
		})
	}
}

// TestFidelityFailoverReturn: while a master is down and its replica has
// taken over, clearing the faults in simulate mode (DELETE /v1/faults)
// returns the view to the real topology the way the old master, back, takes
// its slots again with a manual failover (CLUSTER FAILOVER): a short write
// pause, then MOVED, and no connection error. Real mode kills the master,
// restarts it when the faults are cleared (it rejoins as a replica), and
// fails over to it a moment later, as an operator would.
func TestFidelityFailoverReturn(t *testing.T) {
	got := map[string]map[bool][][]string{}
	for _, mode := range []string{"simulate", "real"} {
		s := startStack(t, mode == "real", 1)
		// A small pool: once as many dials as it holds were refused, go-redis
		// probes the node once a second and meanwhile fails at once with the
		// last dial error (its default pool, 10 per core, gets there after a
		// few seconds down). A view that returns to the old master as soon as
		// it is back shows that as connection errors.
		l := startLoadWith(t, s.proxy, "", 5)
		l.waitOK(t, 5)
		f, err := s.engine.Add(fault.Spec{Action: "down", Target: "master", Mode: mode, TTL: fault.Duration(time.Minute)}, "test")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(6 * time.Second) // the failover, and clients on the promoted replica
		back := time.Now()
		s.engine.Clear("test")
		if mode == "real" {
			i, err := s.cluster.Index(f.Nodes[0])
			if err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 30*time.Second, func() error { // restarted by the revert, rejoined
				st, err := s.cluster.Status(context.Background())
				if err != nil {
					return err
				}
				if n := st.Nodes[i]; !n.Reachable || n.ClusterState != "ok" || n.Link != "up" {
					return fmt.Errorf("node %d: reachable %v, cluster_state %q, link %q", i, n.Reachable, n.ClusterState, n.Link)
				}
				return nil
			})
			time.Sleep(2 * time.Second) // an operator fails over a moment later
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err = s.cluster.Failover(ctx, i, false)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(3 * time.Second) // what the clients see after it
		l.result()
		hit := shardsOf(t, s.proxy, f.Nodes)
		byHit := map[bool][][]string{}
		for i, sp := range l.spans {
			var after []span // from the return on (master-down itself is TestFidelity's)
			for _, x := range sp {
				if !x.last.Before(back) {
					after = append(after, x)
				}
				if !x.last.Before(back) && x.class != "ok" {
					t.Errorf("%s: shard %d got %s after the faults were cleared: %v", mode, i, x.class, sp)
				}
			}
			t.Logf("%s: shard %d (hit %v): %v", mode, i, hit[i], sp)
			byHit[hit[i]] = append(byHit[hit[i]], withTolerance(after, fidelityTolerance))
		}
		got[mode] = byHit
	}
	compareFidelity(t, got)
}

// compareFidelity compares the class sequences of simulate and real mode,
// shard by shard, hit or not.
func compareFidelity(t *testing.T, got map[string]map[bool][][]string) {
	t.Helper()
	for _, hit := range []bool{true, false} {
		sim, real := got["simulate"][hit], got["real"][hit]
		if len(sim) != len(real) {
			t.Fatalf("hit=%v: %d shards in simulate, %d in real", hit, len(sim), len(real))
		}
		for i := range sim {
			if !slices.Equal(sim[i], real[i]) {
				t.Errorf("hit=%v shard %d: simulate %v, real %v", hit, i, sim[i], real[i])
			}
		}
	}
}

// TestFidelityPartitions plays partition-master and partition-majority in
// simulate mode and in real mode with a go-redis client on each side, and
// checks that each sees the same sequence of reply classes per shard (the
// shards whose master is cut off, and the others) in both modes.
func TestFidelityPartitions(t *testing.T) {
	scenarios := []string{"partition-master", "partition-majority"}
	// side → scenario → mode → hit → per-shard classes
	got := map[string]map[string]map[string]map[bool][][]string{}
	for _, mode := range []string{"simulate", "real"} {
		s := startStack(t, mode == "real", 1)
		for _, name := range scenarios {
			// Long enough for a second election: after a split vote Redis
			// waits 4 s (with this node-timeout) before trying again.
			hit, spans := sideLoads(t, s, name, mode, 8*time.Second)
			if len(hit) != 1 {
				t.Fatalf("%s (%s) cut off the masters of shards %v, want one", name, mode, hit)
			}
			for side, sp := range spans {
				if got[side] == nil {
					got[side] = map[string]map[string]map[bool][][]string{}
				}
				if got[side][name] == nil {
					got[side][name] = map[string]map[bool][][]string{}
				}
				byHit := map[bool][][]string{}
				for i, x := range sp {
					byHit[hit[i]] = append(byHit[hit[i]], withTolerance(x, fidelityTolerance))
				}
				got[side][name][mode] = byHit
			}
			if mode == "simulate" {
				s.engine.Clear("test") // the real cluster keeps the new master; the virtual one goes back
			}
		}
	}
	for side, byName := range got {
		for _, name := range scenarios {
			t.Run(name+"/"+side, func(t *testing.T) { compareFidelity(t, byName[name]) })
		}
	}
}
