package proxy_test

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// hangAll holds every command until release is closed.
type hangAll struct{ release chan struct{} }

func (h *hangAll) Command(*proxy.ConnInfo, *proxy.Command) proxy.Action {
	return proxy.Action{Kind: proxy.Hang, Release: h.release, Fault: "h"}
}

// events keeps the held and close events.
type events struct {
	mu  sync.Mutex
	evs []proxy.Event
	ch  chan struct{}
}

func (e *events) Observe(ev proxy.Event) {
	if ev.Type != proxy.EventHeld && ev.Type != proxy.EventClose {
		return
	}
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
	select {
	case e.ch <- struct{}{}:
	default:
	}
}

func (e *events) list() []proxy.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]proxy.Event(nil), e.evs...)
}

// TestHoldWatchesTheClient: while a hang holds a connection's command, the
// Observer learns of every command the client writes behind it (those of
// the same write at once, later ones when they arrive, each held at its own
// time) and of the client closing the connection, before the hang ends.
func TestHoldWatchesTheClient(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	if runtime.GOOS != "linux" {
		t.Skip("held connections are watched on Linux")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{Shards: 1, Replicas: -1})
	h := &hangAll{release: make(chan struct{})}
	defer close(h.release)
	rec := &events{ch: make(chan struct{}, 1)}
	p := testenv.StartProxy(t, c.Addrs(), func(pc *proxy.Config) {
		pc.Registerer = prometheus.NewRegistry()
		pc.Observer = rec
		pc.Policy = h
	})
	nc, err := net.Dial("tcp", testenv.Seeds(p)[0])
	if err != nil {
		t.Fatal(err)
	}
	cmd := func(args ...string) string {
		s := fmt.Sprintf("*%d\r\n", len(args))
		for _, a := range args {
			s += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
		}
		return s
	}
	wait := func(n int) []proxy.Event {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			if evs := rec.list(); len(evs) >= n {
				return evs
			}
			select {
			case <-rec.ch:
			case <-deadline:
				t.Fatalf("%d events, want %d: %+v", len(rec.list()), n, rec.list())
			}
		}
	}
	// One write of two commands: the first is held, the second is reported
	// held at once (the proxy read it with the first).
	nc.Write([]byte(cmd("INCR", "a") + cmd("INCR", "b")))
	evs := wait(2)
	sent := time.Now()
	time.Sleep(300 * time.Millisecond)
	// A later command, written in two parts (the watch must not report half
	// a command), is reported when it has arrived whole.
	c3 := cmd("INCR", "c")
	nc.Write([]byte(c3[:7]))
	time.Sleep(200 * time.Millisecond)
	if got := len(rec.list()); got != 2 {
		t.Fatalf("half a command reported: %+v", rec.list())
	}
	nc.Write([]byte(c3[7:]))
	evs = wait(3)
	// The client gives up: the proxy sees it close, with its commands still held.
	nc.Close()
	evs = wait(4)
	want := []struct {
		typ proxy.EventType
		key string
	}{{proxy.EventHeld, "a"}, {proxy.EventHeld, "b"}, {proxy.EventHeld, "c"}, {proxy.EventClose, ""}}
	for i, w := range want {
		if evs[i].Type != w.typ || evs[i].Key != w.key {
			t.Fatalf("event %d: %v %q, want %v %q (all: %+v)", i, evs[i].Type, evs[i].Key, w.typ, w.key, evs)
		}
	}
	if evs[2].Time.Sub(sent) < 400*time.Millisecond || evs[2].Hash == evs[0].Hash || evs[2].Slot < 0 {
		t.Errorf("the later command: time +%v, hash %x (first %x), slot %d", evs[2].Time.Sub(sent), evs[2].Hash, evs[0].Hash, evs[2].Slot)
	}
	if evs[3].Reason != "client closed" {
		t.Errorf("close reason %q", evs[3].Reason)
	}
}

// delayAll delays every command.
type delayAll struct{ d time.Duration }

func (p delayAll) Command(*proxy.ConnInfo, *proxy.Command) proxy.Action {
	return proxy.Action{Delay: p.d, Fault: "lat"}
}

// TestLatencyDelaysAPipelineOnce: a latency fault delays the commands of one
// write together, as a slow network does: a pipeline of 20 answers in about
// one delay, not twenty.
func TestLatencyDelaysAPipelineOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{Shards: 1, Replicas: -1})
	p := testenv.StartProxy(t, c.Addrs(), func(pc *proxy.Config) {
		pc.Registerer = prometheus.NewRegistry()
		pc.Policy = delayAll{100 * time.Millisecond}
	})
	nc, err := net.Dial("tcp", testenv.Seeds(p)[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var buf []byte
	for i := range 20 {
		buf = fmt.Appendf(buf, "*2\r\n$4\r\nECHO\r\n$2\r\n%02d\r\n", i)
	}
	start := time.Now()
	if _, err := nc.Write(buf); err != nil {
		t.Fatal(err)
	}
	want := 20 * len("$2\r\n00\r\n")
	got := 0
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for b := make([]byte, 4096); got < want; {
		n, err := nc.Read(b)
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		got += n
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 600*time.Millisecond {
		t.Fatalf("a pipeline of 20 under 100 ms of latency answered in %v, want about 100 ms", d)
	}
}
