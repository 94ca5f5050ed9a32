package test

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/provision"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// stormAttempts is the number of connection attempts of the connection storm:
// 50,000, or REDIS_CHAOS_HOSTILE_CONNS.
func stormAttempts(t testing.TB) int {
	t.Helper()
	s := os.Getenv("REDIS_CHAOS_HOSTILE_CONNS")
	if s == "" {
		return 50000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("REDIS_CHAOS_HOSTILE_CONNS=%q: want a positive number", s)
	}
	return n
}

// stormWave is how many sockets the storm holds open at once: far below the
// fd hard limit (20,000 here; each attempt costs the test process 3 fds: the
// client socket, the proxy's accepted socket and its upstream connection).
const stormWave = 500

// connectionStorm makes stormAttempts connection attempts through the proxy
// in waves of stormWave concurrent sockets: some close at once (FIN), some
// reset (RST via SetLinger(0)), some send a command and leave without reading
// the reply, some send half a command and close or reset. Meanwhile a go-redis
// cluster client writes and verifies values on every master. Afterwards the
// proxy's goroutines, its heap and its upstream connections on the real nodes
// are back to where they were.
func connectionStorm(t *testing.T, c *provision.Cluster, p *proxy.Server) {
	attempts := stormAttempts(t)
	ctx := context.Background()

	// Upstream connections on every real node, counted from a direct client.
	direct := map[string]*redis.Client{}
	for _, a := range c.Addrs() {
		rc := redis.NewClient(&redis.Options{Addr: a, PoolSize: 1, MaxRetries: -1, DisableIdentity: true})
		t.Cleanup(func() { rc.Close() })
		direct[a] = rc
	}
	clients := func() (map[string]int, error) {
		out := map[string]int{}
		for a, rc := range direct {
			s, err := rc.ClientList(ctx).Result()
			if err != nil {
				return nil, fmt.Errorf("CLIENT LIST on %s: %w", a, err)
			}
			out[a] = strings.Count(s, "\n")
		}
		return out, nil
	}

	// The well-behaved client, through the proxy only.
	good := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.Seeds(p), MaxRetries: -1,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	t.Cleanup(func() { good.Close() })
	keys := make([]string, 32) // spread over the masters
	for i := range keys {
		keys[i] = "storm:" + strconv.Itoa(i)
		if err := good.Set(ctx, keys[i], "0", 0).Err(); err != nil {
			t.Fatalf("good client before the storm: %v", err)
		}
	}

	baseG := baselineGoroutines(t)
	_, baseHeap := goroutinesAndHeap()
	baseClients, err := clients()
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var goodOK, slowest atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k, v := keys[i%len(keys)], strconv.Itoa(i)
			opStart := time.Now()
			if err := good.Set(ctx, k, v, 0).Err(); err != nil {
				t.Errorf("good client: SET %s: %v", k, err)
				return
			}
			if got, err := good.Get(ctx, k).Result(); err != nil || got != v {
				t.Errorf("good client: GET %s = %q, %v; want %q", k, got, err, v)
				return
			}
			goodOK.Add(1)
			if d := time.Since(opStart); d > time.Duration(slowest.Load()) {
				slowest.Store(int64(d))
			}
		}
	})

	addrs := testenv.Seeds(p)
	partial := []byte("*3\r\n$3\r\nSET\r\n$5\r\nstorm") // cut inside a bulk
	var failed, done atomic.Int64
	var peakG int
	var peakHeap uint64
	start := time.Now()
	for w := 0; w < attempts; w += stormWave {
		n := min(stormWave, attempts-w)
		var dialed, closed sync.WaitGroup
		dialed.Add(n)
		release := make(chan struct{})
		for i := w; i < w+n; i++ {
			closed.Go(func() {
				nc, err := net.DialTimeout("tcp", addrs[i%len(addrs)], 10*time.Second)
				dialed.Done()
				if err != nil {
					failed.Add(1)
					return
				}
				<-release // the whole wave is open at once
				switch i % 5 {
				case 1: // reset instead of FIN
					nc.(*net.TCPConn).SetLinger(0)
				case 2: // a command, then gone without reading the reply
					nc.Write([]byte("*1\r\n$4\r\nPING\r\n"))
				case 3: // half a command, then FIN
					nc.Write(partial)
				case 4: // half a command, then RST
					nc.Write(partial)
					nc.(*net.TCPConn).SetLinger(0)
				}
				nc.Close()
				done.Add(1)
			})
		}
		dialed.Wait()
		if w/stormWave%20 == 0 { // sample the peak now and then (ReadMemStats stops the world)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakG, peakHeap = max(peakG, runtime.NumGoroutine()), max(peakHeap, ms.HeapInuse)
		}
		close(release)
		closed.Wait()
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()

	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d connection attempts failed", n, attempts)
	}
	if goodOK.Load() == 0 {
		t.Error("the good client got no SET/GET through during the storm")
	}
	waitGoroutines(t, baseG)
	// Heap: 50,000 attempts that each left even 170 bytes behind (a map entry,
	// a connection struct, a buffer) would add over 8 MiB, while a wave at its
	// peak holds about 16 MiB (500 connections' buffers, measured) that is
	// freed once its connections are gone. Two GCs also empty sync.Pool's
	// victim cache. Measured: +1.5 MiB after 50,000 attempts.
	const heapSlack = 8 << 20
	var afterHeap uint64
	testenv.Eventually(t, 10*time.Second, func() error {
		runtime.GC()
		_, afterHeap = goroutinesAndHeap()
		if afterHeap > baseHeap+heapSlack {
			return fmt.Errorf("heap in use %d MiB after the storm, %d MiB before", afterHeap>>20, baseHeap>>20)
		}
		return nil
	})
	var afterClients map[string]int
	testenv.Eventually(t, 10*time.Second, func() error {
		afterClients, err = clients()
		if err != nil {
			return err
		}
		for a, n := range afterClients {
			if n > baseClients[a] {
				return fmt.Errorf("%s has %d clients, %d before the storm: upstream connections leaked", a, n, baseClients[a])
			}
		}
		return nil
	})
	afterG, _ := goroutinesAndHeap()
	t.Logf("%d attempts (%d done, %d failed) in %v (%.0f/s); good client: %d SET+GET, slowest %v; goroutines %d before, peak ≥ %d, %d after; heap in use %.1f MiB before, peak ≥ %.1f MiB, %.1f MiB after; node clients %v before, %v after",
		attempts, done.Load(), failed.Load(), elapsed.Round(time.Millisecond), float64(attempts)/elapsed.Seconds(), goodOK.Load(), time.Duration(slowest.Load()).Round(time.Millisecond),
		baseG, peakG, afterG, float64(baseHeap)/(1<<20), float64(peakHeap)/(1<<20), float64(afterHeap)/(1<<20), baseClients, afterClients)
	checkOthers(t, p)
}
