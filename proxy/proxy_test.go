package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/redis-chaos/redis-chaos/provision"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(sharingM{m},
		// go-redis pools close their reapers lazily.
		goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// sharingM runs the tests, then stops the cluster they shared (before
// goleak looks for goroutines left behind).
type sharingM struct{ m *testing.M }

func (s sharingM) Run() int {
	defer stopSharedCluster()
	return s.m.Run()
}

// env returns a proxy in front of a 3×2 cluster that the tests calling env
// share: each leaves it as it found it (keys of its own; no node stopped,
// failed over or reconfigured). The first of them starts it; it stops when
// the package's tests end. A test that changes its cluster uses ownEnv.
func env(t *testing.T) (*provision.Cluster, *proxy.Server) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := sharedCluster(t)
	p := testenv.StartProxy(t, c.Addrs(), nil)
	return c, p
}

// ownEnv is env with a cluster of the test's own.
func ownEnv(t *testing.T) (*provision.Cluster, *proxy.Server) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{})
	p := testenv.StartProxy(t, c.Addrs(), nil)
	return c, p
}

var shared struct {
	once sync.Once
	c    *provision.Cluster
	dir  string
	err  error
}

// sharedCluster starts the shared cluster at its first call.
func sharedCluster(t *testing.T) *provision.Cluster {
	t.Helper()
	shared.once.Do(func() {
		for try := 0; try < 3; try++ { // a port taken between the probe and the start
			if shared.dir, shared.err = os.MkdirTemp("", "proxy-test-cluster"); shared.err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			shared.c, shared.err = provision.Start(ctx, provision.Config{
				BasePort: testenv.FreeBasePort(t, 9), Shards: 3, Replicas: 2, Dir: shared.dir})
			cancel()
			if shared.err == nil {
				return
			}
			os.RemoveAll(shared.dir)
		}
	})
	if shared.c == nil {
		t.Fatalf("start the shared cluster: %v", shared.err)
	}
	return shared.c
}

func stopSharedCluster() {
	if shared.c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shared.c.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "stop the shared cluster:", err)
	}
	os.RemoveAll(shared.dir)
}

// dialRecorder records every address a go-redis client dials.
type dialRecorder struct {
	mu    sync.Mutex
	addrs map[string]int
}

func (d *dialRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	if d.addrs == nil {
		d.addrs = map[string]int{}
	}
	d.addrs[addr]++
	d.mu.Unlock()
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

// assertOnlyProxy fails if the client dialed anything but a proxy address.
func (d *dialRecorder) assertOnlyProxy(t *testing.T, p *proxy.Server) {
	t.Helper()
	allowed := map[string]bool{}
	for _, n := range p.Nodes() {
		allowed[n.Announce] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.addrs) == 0 {
		t.Fatal("the client dialed nothing")
	}
	for a := range d.addrs {
		if !allowed[a] {
			t.Errorf("client dialed %s, which is not a proxy address (proxy: %v)", a, allowed)
		}
	}
}

func clusterClient(p *proxy.Server, d *dialRecorder, proto int) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:        testenv.Seeds(p),
		Dialer:       d.dial,
		Protocol:     proto,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  3 * time.Second,
		WriteTimeout: 3 * time.Second,
	})
}

func TestClusterClientThroughProxy(t *testing.T) {
	_, p := env(t)
	for _, proto := range []int{2, 3} {
		t.Run(fmt.Sprintf("RESP%d", proto), func(t *testing.T) {
			ctx := context.Background()
			var d dialRecorder
			cc := clusterClient(p, &d, proto)
			defer cc.Close()

			// SET/GET on keys across every slot range.
			for i := 0; i < 2000; i++ {
				k := fmt.Sprintf("k:%d:%d", proto, i)
				if err := cc.Set(ctx, k, "v"+k, 0).Err(); err != nil {
					t.Fatalf("SET %s: %v", k, err)
				}
			}
			for i := 0; i < 2000; i++ {
				k := fmt.Sprintf("k:%d:%d", proto, i)
				got, err := cc.Get(ctx, k).Result()
				if err != nil || got != "v"+k {
					t.Fatalf("GET %s = %q, %v", k, got, err)
				}
			}

			// MULTI/EXEC on one slot.
			tx := cc.TxPipeline()
			tx.Set(ctx, "{tx}a", "1", 0)
			tx.Incr(ctx, "{tx}a")
			tx.Get(ctx, "{tx}a")
			cmds, err := tx.Exec(ctx)
			if err != nil {
				t.Fatalf("MULTI/EXEC: %v", err)
			}
			if got := cmds[2].(*redis.StringCmd).Val(); got != "2" {
				t.Fatalf("EXEC GET = %q, want 2", got)
			}

			// WATCH conflict semantics are Redis's.
			err = cc.Watch(ctx, func(tx *redis.Tx) error {
				v, err := tx.Get(ctx, "{tx}a").Int()
				if err != nil {
					return err
				}
				_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
					pipe.Set(ctx, "{tx}a", v+1, 0)
					return nil
				})
				return err
			}, "{tx}a")
			if err != nil {
				t.Fatalf("WATCH: %v", err)
			}

			// Blocking pop: timeout, then a value pushed by another client.
			if _, err := cc.BLPop(ctx, 200*time.Millisecond, "{bl}q"+strconv.Itoa(proto)).Result(); !errors.Is(err, redis.Nil) {
				t.Fatalf("BLPOP timeout: %v", err)
			}
			go func() {
				time.Sleep(100 * time.Millisecond)
				cc.RPush(context.Background(), "{bl}q"+strconv.Itoa(proto), "x")
			}()
			res, err := cc.BLPop(ctx, 2*time.Second, "{bl}q"+strconv.Itoa(proto)).Result()
			if err != nil || len(res) != 2 || res[1] != "x" {
				t.Fatalf("BLPOP = %v, %v", res, err)
			}

			// Pub/sub and sharded pub/sub.
			testPubSub(t, cc, proto)

			// CLIENT SETNAME and READONLY reads on replicas.
			ro := redis.NewClusterClient(&redis.ClusterOptions{Addrs: testenv.Seeds(p), Dialer: d.dial,
				Protocol: proto, ReadOnly: true, RouteRandomly: true})
			defer ro.Close()
			for i := 0; i < 50; i++ {
				k := fmt.Sprintf("k:%d:%d", proto, i)
				if got, err := ro.Get(ctx, k).Result(); err != nil || got != "v"+k {
					t.Fatalf("READONLY GET %s = %q, %v", k, got, err)
				}
			}
			d.assertOnlyProxy(t, p)
		})
	}
}

func testPubSub(t *testing.T, cc *redis.ClusterClient, proto int) {
	ctx := context.Background()
	ch := fmt.Sprintf("news%d", proto)
	sub := cc.Subscribe(ctx, ch)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	if err := cc.Publish(ctx, ch, "hello").Err(); err != nil {
		t.Fatalf("PUBLISH: %v", err)
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil || msg.Payload != "hello" {
		t.Fatalf("message = %v, %v", msg, err)
	}
	ssub := cc.SSubscribe(ctx, "s"+ch)
	defer ssub.Close()
	if _, err := ssub.Receive(ctx); err != nil {
		t.Fatalf("SSUBSCRIBE: %v", err)
	}
	if err := cc.SPublish(ctx, "s"+ch, "sharded").Err(); err != nil {
		t.Fatalf("SPUBLISH: %v", err)
	}
	msg, err = ssub.ReceiveMessage(ctx)
	if err != nil || msg.Payload != "sharded" {
		t.Fatalf("sharded message = %v, %v", msg, err)
	}
}

// rawConn is a plain RESP connection to one proxy port.
type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{c: c, r: bufio.NewReaderSize(c, 1<<16)}
}

func (rc *rawConn) send(args ...string) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	rc.c.Write([]byte(b.String()))
}

// line reads one reply line (first line of the reply).
func (rc *rawConn) line(t *testing.T) string {
	t.Helper()
	l, err := rc.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// proxyAddrFor finds the proxy address of the master that serves key's slot,
// per the proxy's view of the real cluster.
func proxyAddrFor(t *testing.T, p *proxy.Server, key string) string {
	t.Helper()
	slot := topology.Slot([]byte(key))
	for _, n := range p.Topology().Masters() {
		for _, r := range n.Slots {
			if slot >= r.From && slot <= r.To {
				a, _ := p.Announced(n.Addr)
				return a
			}
		}
	}
	t.Fatalf("no master for slot %d", slot)
	return ""
}

func TestRedirectsAndTopologyRepliesAreRewritten(t *testing.T) {
	c, p := env(t)
	real := map[string]bool{}
	for _, n := range c.Nodes() {
		_, port, _ := net.SplitHostPort(n.Addr)
		real[port] = true
	}
	owner := proxyAddrFor(t, p, "foo")
	var other string
	for _, n := range p.Nodes() {
		if n.Announce != owner && n.Role == "master" {
			other = n.Announce
		}
	}
	rc := dialRaw(t, other)
	rc.send("GET", "foo")
	moved := rc.line(t)
	if want := "-MOVED 12182 " + owner; moved != want {
		t.Fatalf("MOVED reply = %q, want %q", moved, want)
	}

	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		cl := redis.NewClient(&redis.Options{Addr: owner, Protocol: proto})
		for _, args := range [][]any{
			{"CLUSTER", "SLOTS"}, {"CLUSTER", "SHARDS"}, {"CLUSTER", "NODES"}, {"ROLE"}, {"INFO", "replication"},
		} {
			v, err := cl.Do(ctx, args...).Result()
			if err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			text := fmt.Sprint(v)
			for port := range real {
				if strings.Contains(text, port) {
					t.Errorf("RESP%d %v reveals real port %s: %s", proto, args, port, text)
				}
			}
		}
		cl.Close()
	}
}

func TestRedisCLIThroughProxy(t *testing.T) {
	_, p := env(t)
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed")
	}
	seed := testenv.Seeds(p)[0]
	host, port, _ := net.SplitHostPort(seed)
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("cli:%d", i)
		out, err := exec.Command("redis-cli", "-c", "-h", host, "-p", port, "SET", k, "v"+k).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "OK" {
			t.Fatalf("redis-cli -c SET %s: %s %v", k, out, err)
		}
		out, err = exec.Command("redis-cli", "-c", "-h", host, "-p", port, "GET", k).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "v"+k {
			t.Fatalf("redis-cli -c GET %s: %s %v", k, out, err)
		}
	}
}

func TestLargeValuesPipelinesQuitAndDisconnects(t *testing.T) {
	_, p := env(t)
	ctx := context.Background()
	cc := clusterClient(p, &dialRecorder{}, 2)
	defer cc.Close()

	big := strings.Repeat("x", 64<<20+7)
	if err := cc.Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatalf("SET 64 MiB: %v", err)
	}
	got, err := cc.Get(ctx, "big").Result()
	if err != nil || len(got) != len(big) || got != big {
		t.Fatalf("GET 64 MiB: len %d, %v", len(got), err)
	}
	cc.Del(ctx, "big")

	// 10,000 commands in one pipeline on one connection.
	addr := proxyAddrFor(t, p, "{pipe}")
	rc := dialRaw(t, addr)
	var b strings.Builder
	for i := 0; i < 10000; i++ {
		v := strconv.Itoa(i)
		fmt.Fprintf(&b, "*3\r\n$3\r\nSET\r\n$%d\r\n{pipe}%s\r\n$%d\r\n%s\r\n", len(v)+6, v, len(v), v)
		fmt.Fprintf(&b, "*2\r\n$3\r\nGET\r\n$%d\r\n{pipe}%s\r\n", len(v)+6, v)
	}
	go rc.c.Write([]byte(b.String()))
	for i := 0; i < 10000; i++ {
		if l := rc.line(t); l != "+OK" {
			t.Fatalf("reply %d to SET = %q", i, l)
		}
		v := strconv.Itoa(i)
		if l := rc.line(t); l != "$"+strconv.Itoa(len(v)) {
			t.Fatalf("reply %d to GET = %q", i, l)
		}
		if l := rc.line(t); l != v {
			t.Fatalf("value %d = %q", i, l)
		}
	}

	// QUIT: +OK, then the connection closes.
	rc.send("QUIT")
	if l := rc.line(t); l != "+OK" {
		t.Fatalf("QUIT = %q", l)
	}
	if _, err := rc.r.ReadByte(); err != io.EOF {
		t.Fatalf("after QUIT: %v, want EOF", err)
	}

	// A client that disconnects mid-pipeline does not disturb others.
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(b.String()[:len(b.String())/2]))
		c.Close()
	}
	if err := cc.Set(ctx, "{pipe}after", "ok", 0).Err(); err != nil {
		t.Fatalf("after disconnects: %v", err)
	}
}

func TestProtocolErrorClosesLikeRedis(t *testing.T) {
	_, p := env(t)
	for _, tc := range []struct{ in, want string }{
		{"*1\r\n$x\r\nPING\r\n", "-ERR Protocol error: invalid bulk length"},
		{"*x\r\n", "-ERR Protocol error: invalid multibulk length"},
		{"*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'"},
		{"SET \"a b\r\n", "-ERR Protocol error: unbalanced quotes in request"},
	} {
		rc := dialRaw(t, testenv.Seeds(p)[0])
		rc.send("PING")
		rc.c.Write([]byte(tc.in))
		if l := rc.line(t); l != "+PONG" {
			t.Fatalf("PING before %q: %q", tc.in, l)
		}
		if l := rc.line(t); l != tc.want {
			t.Errorf("%q: reply %q, want %q", tc.in, l, tc.want)
		}
		if _, err := rc.r.ReadByte(); err != io.EOF {
			t.Errorf("%q: connection not closed: %v", tc.in, err)
		}
	}
}

func TestTopologyInsideMultiExecIsRewritten(t *testing.T) {
	c, p := env(t)
	rc := dialRaw(t, testenv.Seeds(p)[0])
	rc.send("MULTI")
	rc.send("CLUSTER", "NODES")
	rc.send("ROLE")
	rc.send("EXEC")
	var all strings.Builder
	deadline := time.Now().Add(5 * time.Second)
	rc.c.SetReadDeadline(deadline)
	buf := make([]byte, 64<<10)
	for !strings.Contains(all.String(), "myself") || !strings.HasSuffix(all.String(), "\r\n") {
		n, err := rc.r.Read(buf)
		all.Write(buf[:n])
		if err != nil {
			break
		}
	}
	out := all.String()
	if !strings.Contains(out, "myself") {
		t.Fatalf("EXEC reply: %q", out)
	}
	for _, n := range c.Nodes() {
		_, port, _ := net.SplitHostPort(n.Addr)
		if strings.Contains(out, ":"+port) {
			t.Fatalf("EXEC reply reveals real port %s: %q", port, out)
		}
	}
}

// TestStressPipelinesRepliesMatch: many connections send random pipelines of
// ECHO (unique token), SET and GET (value encodes the key); every reply must be
// the one its request asks for, in order.
func TestStressPipelinesRepliesMatch(t *testing.T) {
	_, p := env(t)
	conns, rounds := 64, 40
	if testing.Short() {
		conns, rounds = 8, 10
	}
	seeds := testenv.Seeds(p)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for ci := 0; ci < conns; ci++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One hash tag per connection, sent to the master that owns it.
			tag := fmt.Sprintf("{c%d}", ci)
			addr := ""
			for _, m := range p.Topology().Masters() {
				for _, r := range m.Slots {
					if s := slotOf(tag); s >= r.From && s <= r.To {
						addr, _ = p.Announced(m.Addr)
					}
				}
			}
			if addr == "" {
				addr = seeds[0]
			}
			errs <- stressConn(addr, tag, ci, rounds, false)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func slotOf(key string) int { return topology.Slot([]byte(key)) }
