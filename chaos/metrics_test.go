package chaos_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/chaos/stack"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// TestFaultsActiveByAction: redis_chaos_faults_active has an action label,
// with every action listed (0 when none is active).
func TestFaultsActiveByAction(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{Shards: 1, Replicas: -1})
	reg := prometheus.NewRegistry()
	e := startOn(t, stack.Config{Proxy: testenv.ProxyConfig(c.Addrs()), NodeTimeout: time.Second,
		Engine: chaos.Config{Seed: 1, Registerer: reg}}).Engine

	active := func() (map[string]float64, error) {
		mfs, err := reg.Gather()
		if err != nil {
			return nil, err
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "redis_chaos_faults_active" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "action" {
						out[l.GetValue()] = m.GetGauge().GetValue()
					}
				}
			}
		}
		return out, nil
	}
	want := func(w map[string]float64) func() error {
		return func() error {
			got, err := active()
			if err != nil {
				return err
			}
			for _, a := range fault.Actions {
				v, ok := got[a]
				if !ok || v != w[a] {
					return fmt.Errorf("redis_chaos_faults_active: %v, want %v (every action listed)", got, w)
				}
			}
			return nil
		}
	}
	testenv.Eventually(t, 5*time.Second, want(nil))
	var ids []string
	for _, s := range []fault.Spec{
		{Action: "latency", Target: "all", Latency: fault.Duration(time.Millisecond)},
		{Action: "latency", Target: "all", Latency: fault.Duration(2 * time.Millisecond)},
		{Action: "error", Error: "OOM", Target: "all"},
	} {
		f, err := e.Add(s, "test")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.ID)
	}
	testenv.Eventually(t, 5*time.Second, want(map[string]float64{"latency": 2, "error": 1}))
	if err := e.Remove(ids[0]); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, want(map[string]float64{"latency": 1, "error": 1}))
}
