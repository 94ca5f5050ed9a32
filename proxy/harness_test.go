package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/proxytest"
	"github.com/redis-chaos/redis-chaos/proxy/resp"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// harness is a proxy in front of an in-memory cluster (proxytest): the data
// path without redis-server.
type harness struct {
	t       *testing.T
	c       *proxytest.Cluster
	p       *proxy.Server
	share   bool
	mu      sync.Mutex
	keys    map[int]string // key(i), fixed once chosen (slots may move)
	release chan struct{}  // for a test's Hang actions
	events  eventLog       // the proxy's Observer, when a test sets it
	hooks   map[string]int // calls of Config hooks a test counts (under mu)
	warns   lockedBuf      // what the proxy logs at WARN and above, when a test sets logWarnings
}

// lockedBuf is a bytes.Buffer for several goroutines.
type lockedBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logWarnings makes the proxy log its warnings to h.warns.
func logWarnings(h *harness, c *proxy.Config) {
	c.Logger = slog.New(slog.NewTextHandler(&h.warns, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// noRealAddr fails if a reply shows a node's real port.
func (h *harness) noRealAddr(r string) {
	h.t.Helper()
	for _, n := range h.c.Nodes() {
		if p := strconv.Itoa(n.Port); strings.Contains(r, ":"+p) || strings.Contains(r, "\r\n"+p+"\r\n") {
			h.t.Fatalf("reply shows the real port %s of %s: %q", p, n.Addr, r)
		}
	}
}

// policyFunc is a Policy made of a function.
type policyFunc func(*proxy.ConnInfo, *proxy.Command) proxy.Action

func (f policyFunc) Command(c *proxy.ConnInfo, cmd *proxy.Command) proxy.Action { return f(c, cmd) }

// newHarness starts a cluster of masters × (1+replicas) in-memory nodes and
// a proxy in front of it; tweak may change the proxy's Config (it may keep
// h, but not use h.p until the proxy runs).
func newHarness(t *testing.T, share bool, masters, replicas int, tweak func(h *harness, c *proxy.Config)) *harness {
	t.Helper()
	h := &harness{t: t, c: proxytest.NewCluster(t, masters, replicas), share: share, keys: map[int]string{}, release: make(chan struct{})}
	cfg := proxy.Config{Topology: h.c, BasePort: -1, ShareUpstreams: share, DialTimeout: 2 * time.Second}
	if tweak != nil {
		tweak(h, &cfg)
	}
	p, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	h.p = p
	return h
}

// addr is the proxy address of node i.
func (h *harness) addr(i int) string {
	a, ok := h.p.Announced(h.c.Node(i).Addr)
	if !ok {
		h.t.Fatalf("node %d has no proxy address", i)
	}
	return a
}

// key returns a key served by master i when first asked (the same one
// every time, even after its slot moves).
func (h *harness) key(i int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if k, ok := h.keys[i]; ok {
		return k
	}
	for k := 0; ; k++ {
		key := "k" + strconv.Itoa(k)
		if h.c.Owner(key) == h.c.Node(i) {
			h.keys[i] = key
			return key
		}
	}
}

// expand replaces the placeholders of a table: {nI} the proxy address of
// node I, {pI} its proxy port, {idI} its node id, and for a master {kI} a
// key it serves, {tI} the same as a hash tag ("{k3}") and {sI} the key's
// slot; {sK} and {nK} for any other key K are its slot and the proxy
// address of its master. {hid} is the first client's id (CLIENT ID): its
// upstream connection's, the node's first; with shared upstreams, the
// proxy's own for its first client.
func (h *harness) expand(s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	pairs := []string{"{hid}", "1"}
	if h.share {
		pairs[1] = "1000000000001"
	}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '{' || r == '}' }) {
		if k, ok := strings.CutPrefix(f, "s"); ok && len(k) > 1 && !isDigits(k) {
			pairs = append(pairs, "{"+f+"}", strconv.Itoa(topology.Slot([]byte(k))))
		}
		if k, ok := strings.CutPrefix(f, "n"); ok && len(k) > 1 && !isDigits(k) {
			a, _ := h.p.Announced(h.c.Owner(k).Addr)
			pairs = append(pairs, "{"+f+"}", a)
		}
	}
	for i, n := range h.c.Nodes() {
		a := h.addr(i)
		_, port, _ := net.SplitHostPort(a)
		I := strconv.Itoa(i)
		pairs = append(pairs, "{n"+I+"}", a, "{p"+I+"}", port, "{id"+I+"}", n.ID)
		if n.Master() == nil {
			k := h.key(i)
			pairs = append(pairs, "{k"+I+"}", k, "{t"+I+"}", "{"+k+"}", "{s"+I+"}", strconv.Itoa(topology.Slot([]byte(k))))
		}
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func isDigits(s string) bool {
	return strings.Trim(s, "0123456789") == ""
}

// client is a raw RESP connection to a proxy port.
type client struct {
	t   testing.TB
	h   *harness
	c   net.Conn
	buf []byte
}

func (h *harness) dial(node int) *client {
	h.t.Helper()
	c, err := net.DialTimeout("tcp", h.addr(node), 2*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return &client{t: h.t, h: h, c: c}
}

// encode turns a command line (fields split on spaces) into RESP.
func encode(line string) []byte {
	f := strings.Fields(line)
	b := []byte("*" + strconv.Itoa(len(f)) + "\r\n")
	for _, a := range f {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	return b
}

// send writes commands in one write (a pipeline), placeholders expanded. A
// command that starts with "raw:" is sent as it is, with "\n" read as CRLF.
func (cl *client) send(cmds ...string) {
	cl.t.Helper()
	var b []byte
	for _, c := range cmds {
		c = cl.h.expand(c)
		if raw, ok := strings.CutPrefix(c, "raw:"); ok {
			b = append(b, strings.ReplaceAll(raw, "\n", "\r\n")...)
		} else {
			b = append(b, encode(c)...)
		}
	}
	if _, err := cl.c.Write(b); err != nil {
		cl.t.Fatalf("send: %v", err)
	}
}

// reply reads one whole reply, as the proxy sent it.
func (cl *client) reply() string {
	cl.t.Helper()
	r, err := cl.read(5 * time.Second)
	if err != nil {
		cl.t.Fatalf("reading a reply: %v (have %q)", err, cl.buf)
	}
	return r
}

// read reads one whole reply within d.
func (cl *client) read(d time.Duration) (string, error) {
	cl.c.SetReadDeadline(time.Now().Add(d))
	for {
		if len(cl.buf) > 0 {
			n, err := resp.Len(cl.buf)
			if err != nil {
				return "", err
			}
			if n > 0 {
				r := string(cl.buf[:n])
				cl.buf = cl.buf[n:]
				return r, nil
			}
		}
		p := make([]byte, 64<<10)
		n, err := cl.c.Read(p)
		cl.buf = append(cl.buf, p[:n]...)
		if err != nil {
			return "", err
		}
	}
}

// expectRaw reads len(want) bytes, parsed or not, and compares them with
// want.
func (cl *client) expectRaw(want string) {
	cl.t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(cl.buf) < len(want) {
		p := make([]byte, 64<<10)
		n, err := cl.c.Read(p)
		cl.buf = append(cl.buf, p[:n]...)
		if err != nil {
			cl.t.Fatalf("read %q, want %q: %v", cl.buf, want, err)
		}
	}
	if got := string(cl.buf[:len(want)]); got != want {
		cl.t.Fatalf("read %q, want %q", got, want)
	}
	cl.buf = cl.buf[len(want):]
}

// silent asserts that no reply arrives for d.
func (cl *client) silent(d time.Duration) {
	cl.t.Helper()
	r, err := cl.read(d)
	if err == nil {
		cl.t.Fatalf("got %q, want nothing yet", r)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		cl.t.Fatalf("want nothing yet, got %v", err)
	}
}

// closed asserts that the proxy closes the connection, with nothing more
// sent before.
func (cl *client) closed() {
	cl.t.Helper()
	r, err := cl.read(5 * time.Second)
	if err == nil {
		cl.t.Fatalf("got %q, want the connection closed", r)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		cl.t.Fatalf("want the connection closed, got %v", err)
	}
	if len(cl.buf) > 0 {
		cl.t.Fatalf("the connection closed after a partial reply %.60q", cl.buf)
	}
}

// expect reads one reply per want ("\n" stands for CRLF, and each reply's
// final CRLF is implied), after placeholders are expanded.
func (h *harness) expect(cl *client, want ...string) {
	h.t.Helper()
	for i, w := range want {
		w = strings.ReplaceAll(h.expand(w), "\n", "\r\n") + "\r\n"
		if got := cl.reply(); got != w {
			h.t.Fatalf("reply %d = %q, want %q", i+1, got, w)
		}
	}
}

// expectText reads one reply of text (a bulk string, or in RESP3 a
// verbatim one) and compares its content with want, placeholders expanded
// (no CRLF is implied: text replies use their own line ends).
func (h *harness) expectText(cl *client, resp3 bool, want string) {
	h.t.Helper()
	w := h.expand(want)
	if resp3 {
		w = "=" + strconv.Itoa(len(w)+4) + "\r\ntxt:" + w + "\r\n"
	} else {
		w = "$" + strconv.Itoa(len(w)) + "\r\n" + w + "\r\n"
	}
	if got := cl.reply(); got != w {
		h.t.Fatalf("reply = %q, want %q", got, w)
	}
}

// eventLog collects the events of an Observer.
type eventLog struct {
	mu     sync.Mutex
	events []proxy.Event
}

func (l *eventLog) Observe(ev proxy.Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

// commands returns the command events seen so far.
func (l *eventLog) commands() []proxy.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []proxy.Event
	for _, ev := range l.events {
		if ev.Type == proxy.EventCommand {
			out = append(out, ev)
		}
	}
	return out
}

// readUntilClosed reads everything until the connection closes.
func readUntilClosed(t *testing.T, cl *client) string {
	t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := cl.buf
	p := make([]byte, 64<<10)
	for {
		n, err := cl.c.Read(p)
		got = append(got, p[:n]...)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the connection stayed open after %d bytes", len(got))
			}
			return string(got)
		}
	}
}

// connIDs returns the node connections the commands named name came on.
func connIDs(n *proxytest.Node, name string) []int64 {
	var ids []int64
	for _, c := range n.Commands() {
		if strings.EqualFold(c.Args[0], name) {
			ids = append(ids, c.Conn)
		}
	}
	return ids
}

// proxyState are the commands a sharing proxy sends on its own to put
// connections in a client's state and learn the node's replies.
var proxyState = map[string]bool{"HELLO": true, "CLIENT": true, "SELECT": true, "READWRITE": true, "READONLY": true, "AUTH": true, "COMMAND": true}

// unblocked reports whether the node got a CLIENT UNBLOCK, waiting for it
// a while (the proxy sends it on its own connection, after the reply).
func unblocked(n *proxytest.Node) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range n.Commands() {
			if len(c.Args) > 1 && strings.EqualFold(c.Args[0], "CLIENT") && strings.EqualFold(c.Args[1], "UNBLOCK") {
				return true
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}
