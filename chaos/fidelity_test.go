package chaos_test

import (
	"slices"
	"testing"
	"time"
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
