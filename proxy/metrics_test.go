package proxy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// TestMetricsCountEveryCommand checks the data path's metrics against what a
// client sent: the counter by command and outcome, and the latency
// histogram (counted per connection, flushed per batch) whose count is every
// answered command and whose buckets are cumulative.
func TestMetricsCountEveryCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{Shards: 1, Replicas: -1})
	reg := prometheus.NewRegistry()
	p := testenv.StartProxy(t, c.Addrs(), func(pc *proxy.Config) { pc.Registerer = reg })
	node := p.Nodes()[0].Addr
	cl := redis.NewClient(&redis.Options{Addr: testenv.Seeds(p)[0], Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	ctx := context.Background()
	const n = 500
	pipe := cl.Pipeline()
	for i := range n {
		pipe.Set(ctx, fmt.Sprint("m", i), i, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := cl.Get(ctx, fmt.Sprint("m", i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Do(ctx, "INCR", "m0x", "extra").Err(); err == nil {
		t.Fatal("INCR with a wrong arity should fail")
	}
	cl.Close() // flushes the connection's counts

	var families map[string]*dto.MetricFamily
	testenv.Eventually(t, 5*time.Second, func() error {
		fs, err := reg.Gather()
		if err != nil {
			return err
		}
		families = map[string]*dto.MetricFamily{}
		for _, f := range fs {
			families[f.GetName()] = f
		}
		if got := count(families, node, "GET", "ok"); got != n {
			return fmt.Errorf("GET ok = %v, want %d", got, n)
		}
		return nil
	})
	if got := count(families, node, "SET", "ok"); got != n {
		t.Errorf("SET ok = %v, want %d", got, n)
	}
	if got := count(families, node, "INCR", "error"); got != 1 {
		t.Errorf("INCR error = %v, want 1", got)
	}
	hf := families["redis_chaos_command_duration_seconds"]
	if hf == nil || len(hf.Metric) != 1 {
		t.Fatalf("latency histogram: %v", hf)
	}
	h := hf.Metric[0].GetHistogram()
	if lbl := hf.Metric[0].GetLabel(); len(lbl) != 1 || lbl[0].GetValue() != node {
		t.Errorf("histogram labels %v, want node=%s", lbl, node)
	}
	// Every answered command is in the histogram once.
	var total float64
	for _, m := range families["redis_chaos_commands_total"].Metric {
		total += m.GetCounter().GetValue()
	}
	if got := h.GetSampleCount(); float64(got) != total || got < 2*n+1 {
		t.Errorf("histogram count = %d, commands counted %v (sent at least %d)", got, total, 2*n+1)
	}
	if h.GetSampleSum() <= 0 || h.GetSampleSum() > float64(2*n+1)*10 {
		t.Errorf("histogram sum = %v", h.GetSampleSum())
	}
	var prev uint64
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() < prev {
			t.Errorf("bucket le=%v count %d < previous %d", b.GetUpperBound(), b.GetCumulativeCount(), prev)
		}
		prev = b.GetCumulativeCount()
	}
	if prev > h.GetSampleCount() || prev == 0 {
		t.Errorf("last finite bucket %d, count %d", prev, h.GetSampleCount())
	}
}

func count(fs map[string]*dto.MetricFamily, node, cmd, outcome string) float64 {
	f := fs["redis_chaos_commands_total"]
	if f == nil {
		return 0
	}
	for _, m := range f.Metric {
		l := map[string]string{}
		for _, lp := range m.GetLabel() {
			l[lp.GetName()] = lp.GetValue()
		}
		if l["node"] == node && l["command"] == cmd && l["outcome"] == outcome {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestMetricsUpstreamConnections: redis_chaos_upstream_connections follows
// the connections that carry client commands, own (1:1 or pinned) and shared.
func TestMetricsUpstreamConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	modeFixed(t)
	c := testenv.StartCluster(t, testenv.ClusterOptions{Shards: 1, Replicas: -1})
	for _, share := range []bool{false, true} {
		reg := prometheus.NewRegistry()
		p := testenv.StartProxy(t, c.Addrs(), func(pc *proxy.Config) { pc.Registerer = reg; pc.ShareUpstreams = share })
		node, seed := p.Nodes()[0].Addr, testenv.Seeds(p)[0]
		gauge := func(kind string) float64 {
			fs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				if f.GetName() != "redis_chaos_upstream_connections" {
					continue
				}
				for _, m := range f.GetMetric() {
					var n, k string
					for _, l := range m.GetLabel() {
						switch l.GetName() {
						case "node":
							n = l.GetValue()
						case "kind":
							k = l.GetValue()
						}
					}
					if n == node && k == kind {
						return m.GetGauge().GetValue()
					}
				}
			}
			return 0
		}
		want := func(own, shared float64) {
			t.Helper()
			testenv.Eventually(t, 5*time.Second, func() error {
				if o, s := gauge("own"), gauge("shared"); o != own || s != shared {
					return fmt.Errorf("share=%v: own=%v shared=%v, want %v and %v", share, o, s, own, shared)
				}
				return nil
			})
		}
		rcs := pingedConns(t, seed, 5)
		if share {
			want(0, proxy.SharedPerNode)
			rcs[0].send("ASKING") // pins
			if l := rcs[0].line(t); l != "+OK" {
				t.Fatalf("ASKING = %q", l)
			}
			want(1, proxy.SharedPerNode)
		} else {
			want(5, 0)
		}
		for _, rc := range rcs {
			rc.c.Close()
		}
		want(0, 0)
	}
}
