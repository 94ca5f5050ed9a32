package chaos_test

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/chaos/stack"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// BenchmarkStack measures what each layer costs on the data path: the bare
// proxy, with the chaos engine as its Policy (no fault), and with the engine
// and the checker as its Observer (what `redis-chaos proxy` runs). 50
// connections send pipelines of 16 GETs to a 1-shard cluster.
func BenchmarkStack(b *testing.B) {
	c := testenv.StartCluster(b, testenv.ClusterOptions{Shards: 1, Replicas: -1})
	bare := testenv.StartProxy(b, c.Addrs(), func(pc *proxy.Config) { pc.Registerer = prometheus.NewRegistry() })
	withEngine := startOn(b, stack.Config{Proxy: testenv.ProxyConfig(c.Addrs()), Registry: prometheus.NewRegistry()}).Proxy
	full := startOn(b, stack.Config{Proxy: testenv.ProxyConfig(c.Addrs()), Checker: &checker.Config{},
		Registry: prometheus.NewRegistry()}).Proxy
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
