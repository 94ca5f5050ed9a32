package proxy_test

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// BenchmarkForwarding measures the proxy's data path with 50 connections
// sending pipelines of GETs, against a 1-shard cluster, next to the same
// load sent straight to the node. Compare ns/op of the two sub-benchmarks in
// one run; the CPU profile of the proxy sub-benchmark shows where the time goes.
// proxy-shared is the proxy with shared upstream connections.
func BenchmarkForwarding(b *testing.B) {
	c := testenv.StartCluster(b, testenv.ClusterOptions{Shards: 1, Replicas: -1})
	p := testenv.StartProxy(b, c.Addrs(), func(pc *proxy.Config) {
		pc.Registerer = prometheus.NewRegistry()
		pc.ShareUpstreams = false
	})
	shared := testenv.StartProxy(b, c.Addrs(), func(pc *proxy.Config) {
		pc.Registerer = prometheus.NewRegistry()
		pc.ShareUpstreams = true
	})
	fwd := startForwarder(b, c.Addrs()[0])
	for _, depth := range []int{1, 16} {
		for _, target := range []struct{ name, addr string }{
			{"direct", c.Addrs()[0]}, {"forwarder", fwd}, {"proxy", testenv.Seeds(p)[0]},
			{"proxy-shared", testenv.Seeds(shared)[0]},
		} {
			b.Run(fmt.Sprintf("P%d/%s", depth, target.name), func(b *testing.B) {
				testenv.GETPipelines(b, target.addr, 50, depth)
			})
		}
	}
}

// startForwarder is the floor of any 1:1 proxy: io.Copy both ways (splice(2)).
func startForwarder(b *testing.B, upstream string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				u, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer u.Close()
				done := make(chan struct{})
				go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite(); close(done) }()
				io.Copy(c, u)
				c.(*net.TCPConn).CloseWrite()
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}
