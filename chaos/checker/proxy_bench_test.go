package checker_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// BenchmarkProxyPipeline16 measures the checker's cost on forwarding: 50
// go-redis connections sending pipelines of 16 GETs to one node through the
// proxy, without an Observer, with an Observer that discards events (the
// proxy's own cost of recording them), and with a running Checker.
// Compare the two sub-benchmarks' cmds/s and cpu-ns/cmd; the machine is
// shared, so run them alternately many times and take medians
// (chaos/checker/bench.sh does):
//
//	go test -run '^$' -bench ProxyPipeline16 -benchtime 2s -count 8 ./chaos/checker/
func BenchmarkProxyPipeline16(b *testing.B) {
	cl := testenv.StartCluster(b, testenv.ClusterOptions{Replicas: -1})
	for _, mode := range []string{"observer=off", "observer=noop", "observer=on"} {
		b.Run(mode, func(b *testing.B) {
			var ck *checker.Checker
			p := testenv.StartProxy(b, cl.Addrs(), func(c *proxy.Config) {
				if mode == "observer=noop" {
					c.Observer = noop{}
				}
				if mode == "observer=on" {
					ck = checker.New(checker.Config{})
					ck.Start()
					b.Cleanup(func() { ck.Close() })
					c.Observer = ck
				}
			})
			// Keys of the first master, and its proxy address.
			m := p.Topology().Masters()[0]
			addr, _ := p.Announced(m.Addr)
			var keys []string
			for i := 0; len(keys) < 16; i++ {
				k := fmt.Sprint("bench:", i)
				s := topology.Slot([]byte(k))
				for _, r := range m.Slots {
					if s >= r.From && s <= r.To {
						keys = append(keys, k)
					}
				}
			}
			c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 50, ReadTimeout: 5 * time.Second})
			defer c.Close()
			ctx := context.Background()
			for _, k := range keys {
				c.Set(ctx, k, "value-of-"+k, 0)
			}
			b.SetParallelism(25) // 50 goroutines on 2 CPUs
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					pipe := c.Pipeline()
					for _, k := range keys {
						pipe.Get(ctx, k)
					}
					if _, err := pipe.Exec(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
			el, cpu := time.Since(start), cpuTime()-cpu0
			b.StopTimer()
			b.ReportMetric(float64(b.N*16)/el.Seconds(), "cmds/s")
			// CPU of this process (client, proxy and checker) per command: less
			// sensitive than throughput to other load on a shared machine.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*16), "cpu-ns/cmd")
			if ck != nil {
				ck.Flush(ctx)
				st := ck.Stats()
				b.ReportMetric(float64(st.Dropped)/float64(b.N*16), "dropped/cmd")
				b.ReportMetric(float64(st.Processed-st.Tallied)/float64(st.Processed), "queued/event")
			}
		})
	}
}

// cpuTime is the user+system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// noop is an Observer that discards events and takes every bulk: what the
// proxy's own recording costs, without the checker.
type noop struct{}

func (noop) Observe(proxy.Event)          {}
func (noop) ObserveBulk(*proxy.Bulk) bool { return true }
