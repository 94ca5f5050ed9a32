package checker

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
)

// benchEvents is a steady stream of GET/SET events from 50 identified
// connections over 9 nodes, the shape of redis-benchmark or a pipelining
// application.
func benchEvents() []proxy.Event {
	var evs []proxy.Event
	now := time.Now()
	since := now.Add(-time.Minute)
	for c := 0; c < 50; c++ {
		info := proxy.ConnInfo{ID: uint64(c + 1), Node: "10.0.0.1:" + itoa(30001+c%9), Listen: "127.0.0.1:" + itoa(7001+c%9),
			Client: &net.TCPAddr{IP: net.IPv4(10, 1, 1, 1), Port: 40000 + c}, LibName: "go-redis(,go1.26)", LibVer: "9.23.0", Since: since}
		for i := 0; i < 20; i++ {
			name, reply := "GET", byte('$')
			if i%2 == 1 {
				name, reply = "SET", '+'
			}
			evs = append(evs, proxy.Event{Type: proxy.EventCommand, Time: now, Conn: info, Command: name,
				Key: "key:" + itoa(i), Slot: i * 800, Hash: uint64(i), Args: 2, Reply: reply,
				Latency: 100 * time.Microsecond, Queued: i % 16})
		}
	}
	return evs
}

// BenchmarkObserve measures what Observe costs the data path, from 50
// goroutines at once (the proxy's connections):
//
//   - plain: GET/SET answered without error on established connections while
//     no rule needs them one by one — the fast path, counted in a tally;
//   - queued: the same events handed over whole through the queue (as after
//     an error), drained between rounds so that nothing is dropped.
func BenchmarkObserve(b *testing.B) {
	for _, mode := range []string{"plain", "queued"} {
		b.Run(mode, func(b *testing.B) {
			evs := benchEvents()
			k := New(Config{Limits: Limits{QueueSize: 1 << 16}})
			k.Flush(context.Background()) // quiet
			if mode == "queued" {
				k.fp.quiet.Store(false)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += 1 << 15 {
				n := min(1<<15, b.N-done)
				per := n/50 + 1
				var wg sync.WaitGroup
				for g := 0; g < 50; g++ {
					wg.Add(1)
					go func(g int) {
						defer wg.Done()
						for i := 0; i < per; i++ {
							k.Observe(evs[(g*20+i%20)%len(evs)])
						}
					}(g)
				}
				wg.Wait()
				b.StopTimer()
				k.Flush(context.Background())
				if mode == "queued" {
					k.fp.quiet.Store(false)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(k.Dropped())/float64(b.N), "dropped/op")
		})
	}
}

// BenchmarkHandle measures the checker goroutine's work per event: its
// capacity in events/s is 1e9 / ns/op.
func BenchmarkHandle(b *testing.B) {
	evs := benchEvents()
	k := New(Config{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k.handle(&evs[i%len(evs)])
	}
}
