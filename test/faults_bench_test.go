package test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// nonMatching returns n faults on every node whose match never hits a GET
// from 127.0.0.1 on the benchmark's key: a mix of command, key-glob and
// client-address filters, over the error, latency and reset actions.
func nonMatching(n int) []fault.Spec {
	out := make([]fault.Spec, 0, n)
	for i := range n {
		s := fault.Spec{Target: "all", TTL: fault.Duration(time.Hour)}
		switch i % 3 {
		case 0:
			s.Action, s.Error = "error", "MISCONF"
			s.Match.Commands = []string{"SET", "HSET"}
		case 1:
			s.Action, s.Latency = "latency", fault.Duration(time.Second)
			s.Match.Keys = fmt.Sprintf("nomatch:%d:*", i)
		case 2:
			s.Action, s.After = "reset", 1
			s.Match.Clients = fmt.Sprintf("10.%d.0.0/16", i)
		}
		out = append(out, s)
	}
	return out
}

const (
	benchKey      = "bench:{k}"
	benchPipeline = 16 // GETs per pipeline
	benchConns    = 16 // concurrent clients
)

// pipelines drives GET pipelines through one proxy port from benchConns
// connections.
type pipelines struct{ c *redis.Client }

func newPipelines(tb testing.TB, addr string) *pipelines {
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: benchConns, MinIdleConns: benchConns, MaxRetries: -1})
	tb.Cleanup(func() { c.Close() })
	return &pipelines{c}
}

func (p *pipelines) one(ctx context.Context) error {
	cmds, err := p.c.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for range benchPipeline {
			pl.Get(ctx, benchKey)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, cmd := range cmds {
		if v, _ := cmd.(*redis.StringCmd).Result(); v != "value" {
			return fmt.Errorf("GET = %q: a fault matched", v)
		}
	}
	return nil
}

// run does n pipelines spread over benchConns goroutines.
func (p *pipelines) run(b *testing.B, n int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	per := (n + benchConns - 1) / benchConns
	errc := make(chan error, benchConns)
	for range benchConns {
		wg.Go(func() {
			for range per {
				if err := p.one(ctx); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkProxyNonMatchingFaults measures what 100 faults that match no
// command cost the data path (the target: at most 5%): go-redis pipelines of 16
// GETs from 16 clients through two proxies in front of the same cluster, one
// with no fault and one with 100 faults. One op is one pipeline.
//
//	go test ./test -run '^$' -bench ProxyNonMatchingFaults -benchtime 5s
//
// The interleaved case alternates short rounds on the two proxies (0,100 then
// 100,0) and reports the median of the rounds' ratios as overhead-%: bursts
// of other load on the machine move it little.
func BenchmarkProxyNonMatchingFaults(b *testing.B) {
	s := startStack(b, 9)
	st100 := s.addProxy(b, 9)
	p100, e100 := st100.Proxy, st100.Engine
	for _, sp := range nonMatching(100) {
		if _, err := e100.Add(sp, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	if n := len(e100.List()); n != 100 {
		b.Fatalf("%d faults", n)
	}
	own, _ := s.owner(b, benchKey)
	var addr100 string
	for _, n := range p100.Nodes() {
		if n.Addr == own.Addr {
			addr100 = n.Announce
		}
	}
	clients := map[int]*pipelines{0: newPipelines(b, own.Announce), 100: newPipelines(b, addr100)}
	if err := clients[0].c.Set(context.Background(), benchKey, "value", 0).Err(); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{0, 100} {
		b.Run(fmt.Sprintf("faults=%d", n), func(b *testing.B) {
			clients[n].run(b, benchConns) // connect
			b.ResetTimer()
			clients[n].run(b, b.N)
			b.ReportMetric(float64(b.N*benchPipeline)/b.Elapsed().Seconds(), "GETs/s")
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		const round = 200 // pipelines per round and proxy
		var ratios []float64
		var t0, t100 time.Duration
		timed := func(n int) time.Duration {
			began := time.Now()
			clients[n].run(b, round)
			return time.Since(began)
		}
		clients[0].run(b, benchConns)
		clients[100].run(b, benchConns)
		b.ResetTimer()
		for done := 0; done < b.N; done += 2 * round {
			var a, z time.Duration
			if len(ratios)%2 == 0 {
				a, z = timed(0), timed(100)
			} else {
				z, a = timed(100), timed(0)
			}
			t0 += a
			t100 += z
			ratios = append(ratios, float64(z)/float64(a))
		}
		sort.Float64s(ratios)
		pairs := float64(len(ratios) * round)
		b.ReportMetric(float64(t0.Nanoseconds())/pairs, "ns/pipeline-0-faults")
		b.ReportMetric(float64(t100.Nanoseconds())/pairs, "ns/pipeline-100-faults")
		b.ReportMetric(100*(ratios[len(ratios)/2]-1), "overhead-%")
	})
}
