package chaos_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// BenchmarkStack measures what each layer costs on the data path: the bare
// proxy, with the chaos engine as its Policy (no fault), and with the engine
// and the checker as its Observer (what `redis-chaos proxy` runs). 50
// connections send pipelines of 16 GETs to a 1-shard cluster.
func BenchmarkStack(b *testing.B) {
	c := testenv.StartCluster(b, testenv.ClusterOptions{Shards: 1, Replicas: -1})
	st, err := chaos.ReadSettings(context.Background(), c.Seed(), "", "")
	if err != nil {
		b.Fatal(err)
	}
	bare := testenv.StartProxy(b, c.Addrs(), func(pc *proxy.Config) { pc.Registerer = prometheus.NewRegistry() })
	eng := chaos.New(chaos.Config{Settings: st})
	withEngine := testenv.StartProxy(b, c.Addrs(), func(pc *proxy.Config) {
		pc.Registerer = prometheus.NewRegistry()
		pc.Policy = eng
	})
	eng.SetData(withEngine)
	eng2 := chaos.New(chaos.Config{Settings: st})
	ck := checker.New(checker.Config{Registerer: prometheus.NewRegistry()})
	ck.Start()
	b.Cleanup(func() { ck.Close() })
	full := testenv.StartProxy(b, c.Addrs(), func(pc *proxy.Config) {
		pc.Registerer = prometheus.NewRegistry()
		pc.Policy = eng2
		pc.Observer = ck
	})
	eng2.SetData(full)
	for _, depth := range []int{1, 16} {
		for _, tc := range []struct {
			name string
			p    *proxy.Server
		}{{"bare", bare}, {"engine", withEngine}, {"engine+checker", full}} {
			b.Run(fmt.Sprintf("P%d/%s", depth, tc.name), func(b *testing.B) {
				testenv.GETPipelines(b, testenv.Seeds(tc.p)[0], 50, depth)
			})
		}
	}
}
