package proxy_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// recorder is an Observer that keeps every command event per connection;
// as a BulkObserver it takes every other bulk (so both paths are used).
type recorder struct {
	mu     sync.Mutex
	keys   map[uint64][]string // connection id → keys in event order
	bulks  int
	counts map[uint64]int // commands per connection, bulk or not
	flip   bool
	bad    []string
}

func (r *recorder) Observe(ev proxy.Event) {
	if ev.Type != proxy.EventCommand || ev.Command != "SET" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys[ev.Conn.ID] = append(r.keys[ev.Conn.ID], ev.Key)
	r.counts[ev.Conn.ID]++
}

func (r *recorder) ObserveBulk(b *proxy.Bulk) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flip = !r.flip
	if !r.flip || b.Command != "SET" {
		return false
	}
	r.bulks++
	if b.Keyed != b.N || b.Reply != '+' || b.N < 1 {
		r.bad = append(r.bad, fmt.Sprintf("bulk of %d SETs: keyed %d, reply %q", b.N, b.Keyed, b.Reply))
	}
	r.counts[b.Conn.ID] += b.N
	r.keys[b.Conn.ID] = append(r.keys[b.Conn.ID], fmt.Sprintf("bulk:%d", b.N))
	return true
}

// TestObserverSeesEveryCommandInOrder sends pipelines of many sizes on many
// connections and checks that the Observer gets every command exactly once,
// in order, with its own key, whether reported one by one or in bulk: the
// details kept per read (and their reused arenas) never mix commands up.
func TestObserverSeesEveryCommandInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{Shards: 1, Replicas: -1})
	rec := &recorder{keys: map[uint64][]string{}, counts: map[uint64]int{}}
	p := testenv.StartProxy(t, c.Addrs(), func(pc *proxy.Config) {
		pc.Registerer = prometheus.NewRegistry()
		pc.Observer = rec
	})
	const conns, rounds = 8, 200
	var wg sync.WaitGroup
	sent := make([][]string, conns)
	errs := make(chan error, conns)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Raw RESP: the writer never waits for replies, so commands of
			// many reads are in flight at once.
			nc, err := net.Dial("tcp", testenv.Seeds(p)[0])
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			var n int
			done := make(chan error, 1)
			for r := range rounds {
				size := 1 + (r*7+w*3)%50 // 1 … 50 commands a write
				var buf []byte
				for i := range size {
					k := fmt.Sprintf("w%d:r%d:i%d:%s", w, r, i, strings.Repeat("x", (i*13)%40))
					sent[w] = append(sent[w], k)
					buf = fmt.Appendf(buf, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\n1\r\n", len(k), k)
				}
				n += size
				if _, err := nc.Write(buf); err != nil {
					errs <- err
					return
				}
			}
			go func() {
				rd := bufio.NewReader(nc)
				for range n {
					line, err := rd.ReadString('\n')
					if err != nil || line != "+OK\r\n" {
						done <- fmt.Errorf("reply %q, %v", line, err)
						return
					}
				}
				done <- nil
			}()
			if err := <-done; err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, s := range sent {
		total += len(s)
	}
	testenv.Eventually(t, 5e9, func() error {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		n := 0
		for _, v := range rec.counts {
			n += v
		}
		if n != total {
			return fmt.Errorf("observed %d commands, sent %d", n, total)
		}
		return nil
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.bulks == 0 {
		t.Error("no command was reported in bulk")
	}
	for _, b := range rec.bad[:min(5, len(rec.bad))] {
		t.Error(b)
	}
	// Each connection's events, bulks expanded to the keys they stand for,
	// are exactly one worker's keys in order.
	matched := map[int]bool{}
	for id, evs := range rec.keys {
		var w = -1
		for cand := range conns {
			if !matched[cand] && len(evs) > 0 && consistent(evs, sent[cand]) {
				w = cand
				break
			}
		}
		if w < 0 {
			t.Errorf("connection %d: events match no client's commands (first %q)", id, evs[:min(3, len(evs))])
			continue
		}
		matched[w] = true
	}
	if len(matched) != conns {
		t.Errorf("%d of %d clients matched", len(matched), conns)
	}
}

// consistent reports whether events (keys, or "bulk:N" for N commands
// reported at once) cover keys exactly and in order.
func consistent(events, keys []string) bool {
	i := 0
	for _, ev := range events {
		var n int
		if _, err := fmt.Sscanf(ev, "bulk:%d", &n); err == nil {
			i += n
			continue
		}
		if i >= len(keys) || keys[i] != ev {
			return false
		}
		i++
	}
	return i == len(keys)
}
