package test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// TestHostileClients: clients that misbehave get Redis's error or a close,
// memory stays bounded, and every other client keeps working.
func TestHostileClients(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{Replicas: -1})
	p := testenv.StartProxy(t, c.Addrs(), func(pc *proxy.Config) { pc.MaxQueryBuffer = 1 << 20 })

	t.Run("slowloris", func(t *testing.T) {
		// 20 clients send a SET one byte every 25 ms (over 1 s a command)
		// while another client on the same port keeps answering fast.
		addr := ownerOf(t, p, "{slow}")
		stop := make(chan struct{})
		var fast atomic.Int64
		var wg sync.WaitGroup
		fastConn := dialHostile(t, addr)
		wg.Go(func() {
			h := fastConn
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				if got := h.do(t, "ECHO", strconv.Itoa(i)); got != bulkReply(strconv.Itoa(i)) {
					t.Errorf("fast client: ECHO %d: %q", i, got)
					return
				}
				if d := time.Since(start); d > 500*time.Millisecond {
					t.Errorf("fast client: ECHO took %v while slow clients trickle", d)
				}
				fast.Add(1)
			}
		})
		var slow sync.WaitGroup
		for i := range 20 {
			h := dialHostile(t, addr)
			slow.Go(func() {
				k := fmt.Sprintf("{slow}:%d", i)
				for _, b := range encodeCommand("SET", k, "v"+k) {
					if _, err := h.c.Write([]byte{b}); err != nil {
						t.Errorf("slow client %d: %v", i, err)
						return
					}
					time.Sleep(25 * time.Millisecond)
				}
				if got := h.reply(t); got != "+OK\r\n" {
					t.Errorf("slow client %d: SET: %q", i, got)
				}
				if got := h.do(t, "GET", k); got != bulkReply("v"+k) {
					t.Errorf("slow client %d: GET: %q", i, got)
				}
			})
		}
		slow.Wait()
		close(stop)
		wg.Wait()
		if fast.Load() < 20 {
			t.Errorf("fast client answered only %d commands while slow clients trickled", fast.Load())
		}
	})

	t.Run("oversized bulk header", func(t *testing.T) {
		h := dialHostile(t, testenv.Seeds(p)[0])
		h.c.Write([]byte("*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$600000000\r\n"))
		if got := h.reply(t); got != "+PONG\r\n" {
			t.Fatalf("PING before the bad header: %q", got)
		}
		if got := h.reply(t); got != "-ERR Protocol error: invalid bulk length\r\n" {
			t.Fatalf("got %q", got)
		}
		h.wantClosed(t)
		checkOthers(t, p)
	})

	t.Run("oversized multibulk count", func(t *testing.T) {
		h := dialHostile(t, testenv.Seeds(p)[0])
		h.c.Write([]byte("*1\r\n$4\r\nPING\r\n*3000000000\r\n"))
		if got := h.reply(t); got != "+PONG\r\n" {
			t.Fatalf("PING before the bad header: %q", got)
		}
		if got := h.reply(t); got != "-ERR Protocol error: invalid multibulk length\r\n" {
			t.Fatalf("got %q", got)
		}
		h.wantClosed(t)
		checkOthers(t, p)
	})

	t.Run("query buffer without end", func(t *testing.T) {
		// A bulk declared at 400 MB (under proto-max-bulk-len), its bytes
		// streamed: the client is closed once 1 MiB is buffered, and the
		// proxy's heap does not follow the stream.
		addr := ownerOf(t, p, "qb")
		_, heapBefore := goroutinesAndHeap()
		h := dialHostile(t, addr)
		other := dialHostile(t, addr)
		h.c.Write([]byte("*3\r\n$3\r\nSET\r\n$2\r\nqb\r\n$400000000\r\n"))
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		sent := 0
		var werr error
		h.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for sent < 64<<20 {
			var n int
			n, werr = h.c.Write(chunk)
			sent += n
			if werr != nil {
				break
			}
			if sent%(1<<20) == 0 {
				if got := other.do(t, "PING"); got != "+PONG\r\n" {
					t.Fatalf("other client: %q", got)
				}
			}
		}
		if werr == nil {
			t.Fatalf("wrote %d MiB of one bulk with a 1 MiB query buffer limit and was not closed", sent>>20)
		}
		var ne net.Error
		if errors.As(werr, &ne) && ne.Timeout() {
			t.Fatalf("writes blocked after %d bytes instead of a close: %v", sent, werr)
		}
		h.wantClosed(t)
		if _, heapAfter := goroutinesAndHeap(); heapAfter > heapBefore+32<<20 {
			t.Errorf("proxy heap grew from %d to %d bytes", heapBefore, heapAfter)
		}
		if got := other.do(t, "PING"); got != "+PONG\r\n" {
			t.Fatalf("other client after the close: %q", got)
		}
		checkOthers(t, p)
	})

	// 50,000 connection attempts (REDIS_CHAOS_HOSTILE_CONNS to change it).
	t.Run("connection storm", func(t *testing.T) { connectionStorm(t, c, p) })

	t.Run("abrupt close mid-reply", func(t *testing.T) {
		addr := ownerOf(t, p, "big")
		big := strings.Repeat("0123456789abcdef", 4<<20/16) // 4 MiB
		setup := dialHostile(t, addr)
		setup.do(t, "DEL", "big")
		for i := 0; i < len(big); i += 512 << 10 { // under the 1 MiB query buffer limit
			if got := setup.do(t, "APPEND", "big", big[i:i+512<<10]); got[0] != ':' {
				t.Fatalf("APPEND big: %q", got)
			}
		}
		base := baselineGoroutines(t)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var otherOK atomic.Int64
		otherConn := dialHostile(t, addr)
		wg.Go(func() {
			h := otherConn
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got := h.do(t, "GET", "big"); got != bulkReply(big) {
					t.Errorf("other client: GET big: %d bytes, not the value", len(got))
					return
				}
				otherOK.Add(1)
			}
		})
		for i := range 100 {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			nc.Write(bytes.Repeat(encodeCommand("GET", "big"), 1+i%4))
			if i%2 == 0 {
				nc.(*net.TCPConn).SetLinger(0)
			}
			if i%3 == 0 { // read a little of the reply first
				nc.Read(make([]byte, 1000))
			}
			nc.Close()
		}
		close(stop)
		wg.Wait()
		if otherOK.Load() == 0 {
			t.Error("the other client got no GET through")
		}
		waitGoroutines(t, base)
		checkOthers(t, p)
	})

	t.Run("resets while clients connect", func(t *testing.T) {
		// A node going down resets its clients; some of them are still
		// being set up (dialing the node). None may be left behind.
		//
		// A connection reset while the proxy dials its upstream must not leak
		// the upstream or its goroutines (a regression test: it did, and
		// Server.Close then never returned).
		addr := ownerOf(t, p, "reset")
		var real string
		for _, n := range p.Nodes() {
			if n.Announce == addr {
				real = n.Addr
			}
		}
		base := baselineGoroutines(t)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				p.ResetConns(real)
				time.Sleep(100 * time.Microsecond)
			}
		})
		var churn sync.WaitGroup
		for range 8 {
			churn.Go(func() {
				for range 300 {
					nc, err := net.Dial("tcp", addr)
					if err != nil {
						continue
					}
					nc.Write([]byte("*1\r\n$4\r\nPING\r\n"))
					nc.SetReadDeadline(time.Now().Add(time.Second))
					nc.Read(make([]byte, 16))
					nc.Close()
				}
			})
		}
		churn.Wait()
		close(stop)
		wg.Wait()
		waitGoroutines(t, base)
		checkOthers(t, p)
	})
}

// hostileConn is a raw client connection.
type hostileConn struct {
	c net.Conn
	r *bufio.Reader
}

// dialHostile connects to addr; call it from the test's goroutine.
func dialHostile(t testing.TB, addr string) *hostileConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &hostileConn{c: c, r: bufio.NewReader(c)}
}

func (h *hostileConn) do(t testing.TB, args ...string) string {
	t.Helper()
	h.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := h.c.Write(encodeCommand(args...)); err != nil {
		t.Errorf("%s: %v", args[0], err)
		return ""
	}
	return h.reply(t)
}

// reply reads one RESP2 reply and returns its exact bytes ("" on error).
func (h *hostileConn) reply(t testing.TB) string {
	t.Helper()
	h.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := readHostileReply(h.r)
	if err != nil {
		t.Errorf("read reply: %v", err)
	}
	return s
}

// wantClosed checks that the proxy closes the connection (EOF or reset)
// without another byte.
func (h *hostileConn) wantClosed(t testing.TB) {
	t.Helper()
	h.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := h.r.ReadByte()
	var ne net.Error
	switch {
	case err == nil:
		t.Errorf("connection still open: read %q", b)
	case errors.As(err, &ne) && ne.Timeout():
		t.Errorf("connection not closed: %v", err)
	}
}

func readHostileReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return line, err
	}
	if len(line) > 3 && line[0] == '$' {
		n, err := strconv.Atoi(line[1 : len(line)-2])
		if err != nil || n < 0 {
			return line, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return line, err
		}
		return line + string(b), nil
	}
	return line, nil
}

func encodeCommand(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

func bulkReply(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

// ownerOf returns the proxy address of the master that owns key's slot.
func ownerOf(t testing.TB, p *proxy.Server, key string) string {
	t.Helper()
	slot := topology.Slot([]byte(key))
	for _, m := range p.Topology().Masters() {
		for _, r := range m.Slots {
			if slot >= r.From && slot <= r.To {
				a, ok := p.Announced(m.Addr)
				if !ok {
					t.Fatalf("no proxy port for %s", m.Addr)
				}
				return a
			}
		}
	}
	t.Fatalf("no master owns slot %d", slot)
	return ""
}

// checkOthers checks that a fresh client on every master's port still works.
func checkOthers(t testing.TB, p *proxy.Server) {
	t.Helper()
	for _, m := range p.Topology().Masters() {
		a, _ := p.Announced(m.Addr)
		h := dialHostile(t, a)
		if got := h.do(t, "PING"); got != "+PONG\r\n" {
			t.Errorf("fresh client on %s: PING: %q", a, got)
		}
		h.c.Close()
	}
}

func goroutinesAndHeap() (int, uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapInuse
}

// baselineGoroutines waits for the goroutine count to stop falling (closed
// connections of earlier subtests finish asynchronously) and returns it.
func baselineGoroutines(t testing.TB) int {
	t.Helper()
	prev, _ := goroutinesAndHeap()
	for range 50 {
		time.Sleep(50 * time.Millisecond)
		n, _ := goroutinesAndHeap()
		if n >= prev {
			return n
		}
		prev = n
	}
	return prev
}

// waitGoroutines waits until the goroutines are back near base.
func waitGoroutines(t testing.TB, base int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		if n, _ := goroutinesAndHeap(); n > base+5 {
			return fmt.Errorf("%d goroutines, %d at the start", n, base)
		}
		return nil
	})
}
