// Package testenv starts real Redis clusters and proxies for tests: free ports,
// readiness waits and cleanup by PID through t.Cleanup.
package testenv

import (
	"bufio"
	"context"
	"os"

	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/provision"
	"github.com/redis-chaos/redis-chaos/proxy"
)

// FreeBasePort returns a base port such that base..base+n-1 and their cluster
// bus ports (+10000) are all free right now. All of them lie below Linux's
// ephemeral port range (32768 and up by default), from which the tests' own
// outgoing connections take their local ports: a port found free there can be
// taken by a connection before the node or listener binds it.
func FreeBasePort(tb testing.TB, n int) int {
	tb.Helper()
	for try := 0; try < 200; try++ {
		base := 10000 + rand.IntN(32768-10000-10000-n)
		ok := true
		for i := 0; i < n && ok; i++ {
			for _, p := range []int{base + i, base + i + 10000} {
				ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
				if err != nil {
					ok = false
					break
				}
				ln.Close()
			}
		}
		if ok {
			return base
		}
	}
	tb.Fatalf("no free range of %d ports", n)
	return 0
}

// ClusterOptions tunes StartCluster; zero values give a 3×2 cluster.
type ClusterOptions struct {
	Shards, Replicas int
	NodeTimeout      time.Duration
	ExtraConfig      []string
	Username         string
	Password         string
}

// StartCluster provisions a real cluster on free ports and stops it when the
// test ends.
func StartCluster(tb testing.TB, o ClusterOptions) *provision.Cluster {
	tb.Helper()
	shards, replicas := o.Shards, o.Replicas
	if shards == 0 {
		shards = 3
	}
	if replicas == 0 {
		replicas = 2
	}
	n := shards * (1 + max(replicas, 0))
	var lastErr error
	for try := 0; try < 3; try++ {
		cfg := provision.Config{
			BasePort:    FreeBasePort(tb, n),
			Shards:      shards,
			Replicas:    replicas,
			NodeTimeout: o.NodeTimeout,
			Dir:         tb.TempDir(),
			ExtraConfig: o.ExtraConfig,
			Username:    o.Username,
			Password:    o.Password,
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		c, err := provision.Start(ctx, cfg)
		cancel()
		if err != nil {
			lastErr = err
			continue // a port taken between the probe and the start
		}
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.Stop(ctx); err != nil {
				tb.Errorf("stop cluster: %v", err)
			}
		})
		return c
	}
	tb.Fatalf("start cluster: %v", lastErr)
	return nil
}

// ProxyConfig is the tests' proxy in front of the cluster: OS-chosen ports,
// a quick topology refresh, and upstream connections shared when
// REDIS_CHAOS_TEST_SHARE=1.
func ProxyConfig(seeds []string) proxy.Config {
	return proxy.Config{Seeds: seeds, BasePort: -1, RefreshInterval: 200 * time.Millisecond,
		ShareUpstreams: os.Getenv("REDIS_CHAOS_TEST_SHARE") == "1"}
}

// StartProxy starts a proxy in front of the cluster on OS-chosen ports and
// closes it when the test ends.
func StartProxy(tb testing.TB, seeds []string, tweak func(*proxy.Config)) *proxy.Server {
	tb.Helper()
	cfg := ProxyConfig(seeds)
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := proxy.New(cfg)
	if err != nil {
		tb.Fatalf("proxy: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		tb.Fatalf("proxy start: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Seeds returns the announced proxy addresses of every node.
func Seeds(s *proxy.Server) []string {
	var out []string
	for _, n := range s.Nodes() {
		out = append(out, n.Announce)
	}
	return out
}

// Eventually polls cond every 20ms until it holds or the timeout passes.
func Eventually(tb testing.TB, timeout time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// GETPipelines drives b.N GETs against addr from conns connections, each
// sending pipelines of depth commands and reading every reply (a benchmark
// load for the forwarding path).
func GETPipelines(b *testing.B, addr string, conns, depth int) {
	var req strings.Builder
	for i := 0; i < depth; i++ {
		req.WriteString("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n")
	}
	batch := []byte(req.String())
	var wg sync.WaitGroup
	per := b.N/(conns*depth) + 1
	b.ResetTimer()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			for j := 0; j < per; j++ {
				if _, err := c.Write(batch); err != nil {
					b.Error(err)
					return
				}
				for k := 0; k < depth; k++ {
					if _, err := r.ReadSlice('\n'); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
