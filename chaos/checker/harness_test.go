package checker_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/provision"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-redis pools close their reapers lazily.
		goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		// go-redis's lazy reload sleeps its 200 ms cooldown after the client is closed.
		goleak.IgnoreTopFunction("time.Sleep"),
	)
}

// faultTable is the tests' stand-in for the chaos engine: a proxy.Policy that
// applies the active faults, and the checker's FaultSource.
type faultTable struct {
	mu     sync.Mutex
	faults []*testFault
	next   int
}

type testFault struct {
	id     string
	action string   // down, hang, latency, reset, error, …
	nodes  []string // real addresses; empty: every node
	match  func(c *proxy.ConnInfo, cmd *proxy.Command) bool
	act    func(c *proxy.ConnInfo, cmd *proxy.Command) proxy.Action
	start  time.Time
	end    time.Time
}

// add starts a fault now and returns its id.
func (ft *faultTable) add(f *testFault) string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.next++
	f.id = fmt.Sprintf("f%d", ft.next)
	f.start = time.Now()
	ft.faults = append(ft.faults, f)
	return f.id
}

// stop ends a fault now.
func (ft *faultTable) stop(id string) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for _, f := range ft.faults {
		if f.id == id && f.end.IsZero() {
			f.end = time.Now()
		}
	}
}

func (ft *faultTable) Command(c *proxy.ConnInfo, cmd *proxy.Command) proxy.Action {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for _, f := range ft.faults {
		if !f.end.IsZero() || f.act == nil {
			continue
		}
		if len(f.nodes) > 0 && !has(f.nodes, c.Node) {
			continue
		}
		if f.match != nil && !f.match(c, cmd) {
			continue
		}
		a := f.act(c, cmd)
		a.Fault = f.id
		return a
	}
	return proxy.Action{}
}

func (ft *faultTable) Active(now time.Time) []checker.FaultWindow {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var out []checker.FaultWindow
	for _, f := range ft.faults {
		w := checker.FaultWindow{ID: f.id, Action: f.action, Nodes: f.nodes, Start: f.start, End: f.end}
		if w.ActiveAt(now) {
			out = append(out, w)
		}
	}
	return out
}

func has(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// nodeSource hands the proxy to the checker once it exists.
type nodeSource struct{ p atomic.Pointer[proxy.Server] }

func (n *nodeSource) Nodes() []proxy.NodeInfo {
	if p := n.p.Load(); p != nil {
		return p.Nodes()
	}
	return nil
}

// harness is one proxy with a checker in front of the shared cluster.
type harness struct {
	t  *testing.T
	cl *provision.Cluster
	p  *proxy.Server
	ck *checker.Checker
	ft *faultTable
}

func newHarness(t *testing.T, cl *provision.Cluster, tweak func(*checker.Config)) *harness {
	t.Helper()
	h := &harness{t: t, cl: cl, ft: &faultTable{}}
	ns := &nodeSource{}
	cfg := checker.Config{Faults: h.ft, Nodes: ns, Tick: 50 * time.Millisecond}
	if tweak != nil {
		tweak(&cfg)
	}
	h.ck = checker.New(cfg)
	h.ck.Start()
	t.Cleanup(func() { h.ck.Close() })
	h.p = testenv.StartProxy(t, cl.Addrs(), func(c *proxy.Config) {
		c.Observer = h.ck
		c.Policy = h.ft
	})
	ns.p.Store(h.p)
	return h
}

// flush waits until the checker has seen everything observed so far.
func (h *harness) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.ck.Flush(ctx); err != nil {
		h.t.Fatal(err)
	}
}

// waitFinding waits for a finding of the rule and returns it.
func (h *harness) waitFinding(rule string, timeout time.Duration) checker.Finding {
	h.t.Helper()
	var got checker.Finding
	testenv.Eventually(h.t, timeout, func() error {
		h.flush()
		for _, f := range h.ck.Findings() {
			if f.Rule == rule {
				got = f
				return nil
			}
		}
		return fmt.Errorf("no %s finding; findings: %s", rule, summary(h.ck.Findings()))
	})
	if len(got.Evidence) == 0 {
		h.t.Fatalf("%s: finding without evidence", rule)
	}
	h.t.Logf("%s (%s) by %s, count %d:", got.Rule, got.Severity, got.Client, got.Count)
	for _, e := range got.Evidence {
		h.t.Logf("  %s", e)
	}
	return got
}

// none asserts that no finding of the rules exists.
func (h *harness) none(rules ...string) {
	h.t.Helper()
	h.flush()
	for _, f := range h.ck.Findings() {
		if has(rules, f.Rule) {
			h.t.Errorf("unexpected %s finding by %s: %v", f.Rule, f.Client, f.Evidence)
		}
	}
}

func summary(fs []checker.Finding) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s(%s)×%d", f.Rule, f.Client, f.Count))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// node returns the proxy's view of nodes.
func (h *harness) nodes(role string) []proxy.NodeInfo {
	var out []proxy.NodeInfo
	for _, n := range h.p.Nodes() {
		if role == "" || n.Role == role {
			out = append(out, n)
		}
	}
	return out
}

// owner returns the master that serves key, and another master.
func (h *harness) owner(key string) (own, other proxy.NodeInfo) {
	h.t.Helper()
	slot := topology.Slot([]byte(key))
	var ownAddr string
	for _, m := range h.p.Topology().Masters() {
		for _, r := range m.Slots {
			if slot >= r.From && slot <= r.To {
				ownAddr = m.Addr
			}
		}
	}
	for _, n := range h.nodes("master") {
		if n.Addr == ownAddr {
			own = n
		} else if other.Addr == "" {
			other = n
		}
	}
	if own.Addr == "" {
		h.t.Fatalf("no owner for %s", key)
	}
	return own, other
}

// shard returns a master and its replicas.
func (h *harness) shard(master proxy.NodeInfo) []proxy.NodeInfo {
	out := []proxy.NodeInfo{master}
	for _, n := range h.nodes("replica") {
		if n.MasterID == master.ID {
			out = append(out, n)
		}
	}
	return out
}

// raw is a scripted RESP client on one proxy port.
type raw struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, c: c, r: bufio.NewReader(c)}
}

func resp(args ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return []byte(b.String())
}

func (r *raw) send(args ...string) {
	r.t.Helper()
	if _, err := r.c.Write(resp(args...)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// reply reads one reply and returns its first line; a bulk's payload is
// consumed. timeout 0 means 5 s.
func (r *raw) reply(timeout time.Duration) (string, error) {
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	r.c.SetReadDeadline(time.Now().Add(timeout))
	return readReply(r.r)
}

func readReply(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if len(line) == 0 {
		return line, nil
	}
	switch line[0] {
	case '$':
		var n int
		fmt.Sscanf(line[1:], "%d", &n)
		if n >= 0 {
			buf := make([]byte, n+2)
			if _, err := ioReadFull(br, buf); err != nil {
				return "", err
			}
		}
	case '*':
		var n int
		fmt.Sscanf(line[1:], "%d", &n)
		for i := 0; i < n; i++ {
			if _, err := readReply(br); err != nil {
				return "", err
			}
		}
	}
	return line, nil
}

func ioReadFull(br *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := br.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// do sends a command and reads its reply.
func (r *raw) do(args ...string) string {
	r.t.Helper()
	r.send(args...)
	l, err := r.reply(0)
	if err != nil {
		r.t.Fatalf("%v: %v", args, err)
	}
	return l
}

func reply(s string) func(*proxy.ConnInfo, *proxy.Command) proxy.Action {
	return func(*proxy.ConnInfo, *proxy.Command) proxy.Action {
		return proxy.Action{Kind: proxy.Reply, Reply: []byte(s + "\r\n")}
	}
}

func commandIs(names ...string) func(*proxy.ConnInfo, *proxy.Command) bool {
	return func(_ *proxy.ConnInfo, cmd *proxy.Command) bool { return has(names, cmd.Name) }
}
