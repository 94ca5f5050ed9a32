package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/resp"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// stateEnv is a one-master cluster behind a sharing proxy: the proxy, its
// port for the master, and the master's own address.
func stateEnv(t *testing.T, policy proxy.Policy) (*proxy.Server, string, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{Shards: 1, Replicas: -1})
	p := testenv.StartProxy(t, c.Addrs(), func(cfg *proxy.Config) {
		cfg.ShareUpstreams = true
		cfg.Policy = policy
	})
	return p, testenv.Seeds(p)[0], c.Addrs()[0]
}

// exchange sends each command on one new connection to addr and returns
// each whole reply, as sent.
func exchange(t *testing.T, addr string, cmds [][]string) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	var out []string
	for _, cmd := range cmds {
		if _, err := c.Write(encodeCmd(cmd...)); err != nil {
			t.Fatal(err)
		}
		out = append(out, readReply(t, r))
	}
	return out
}

func encodeCmd(args ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return []byte(b.String())
}

// readReply reads one whole RESP value.
func readReply(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var buf []byte
	for {
		l, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("reading a reply: %v (so far %q)", err, buf)
		}
		buf = append(buf, l...)
		if _, _, err := resp.Parse(buf); err == nil {
			return string(buf)
		}
	}
}

var idInt = regexp.MustCompile(`:\d+\r\n`)

// sameIDs replaces the connection's id (the integer reply of the last
// command, CLIENT ID) wherever it is an integer reply.
func sameIDs(replies []string) []string {
	last := replies[len(replies)-1]
	out := make([]string, len(replies))
	for i, r := range replies {
		out[i] = strings.ReplaceAll(r, last, ":<id>\r\n")
	}
	return out
}

// The commands a sharing proxy answers in the node's place (or forwards on
// the shared connection) give exactly the node's replies, in RESP2 and
// RESP3, the client's id aside (the proxy's own), and never pin; those it
// cannot answer pin the client, whose own connection then answers exactly
// as the node does to a direct client.
func TestSharedStateRepliesAreTheNodes(t *testing.T) {
	p, seed, direct := stateEnv(t, nil)
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: direct})
	defer admin.Close()
	if err := admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">secret", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	type tc struct {
		name  string
		cmds  [][]string
		local bool // answered without pinning
	}
	c := func(args ...string) []string { return args }
	cases := []tc{
		{"HELLO", [][]string{c("HELLO")}, true},
		{"HELLO 2", [][]string{c("HELLO", "2")}, true},
		{"HELLO 3", [][]string{c("HELLO", "3"), c("GET", "k"), c("HELLO", "2"), c("GET", "k")}, true},
		{"HELLO SETNAME", [][]string{c("hello", "3", "setname", "n1"), c("CLIENT", "GETNAME")}, true},
		{"HELLO AUTH", [][]string{c("HELLO", "3", "AUTH", "app", "secret", "SETNAME", "n2"), c("CLIENT", "GETNAME"), c("SET", "k", "v"), c("GET", "k")}, true},
		{"AUTH", [][]string{c("AUTH", "app", "secret"), c("GET", "k"), c("HELLO")}, true},
		{"CLIENT SETNAME", [][]string{c("CLIENT", "GETNAME"), c("client", "setname", "n3"), c("CLIENT", "GETNAME"), c("CLIENT", "SETNAME", ""), c("CLIENT", "GETNAME")}, true},
		{"CLIENT ID", [][]string{c("CLIENT", "ID"), c("client", "id")}, true},
		{"SELECT 0", [][]string{c("SELECT", "0"), c("GET", "k")}, true},
		{"READONLY", [][]string{c("READONLY"), c("GET", "k"), c("READWRITE"), c("readonly"), c("HELLO")}, true},
		{"CLIENT SETINFO", [][]string{c("CLIENT", "SETINFO", "LIB-NAME", "go-redis(x)"), c("client", "setinfo", "lib-ver", "9.0")}, true},
		{"CLIENT unknown subcommand", [][]string{c("CLIENT", "MAINT_NOTIFICATIONS", "on"), c("client", "nosuch")}, true},
		{"PING ECHO", [][]string{c("PING"), c("PING", "hi"), c("ECHO", "e")}, true},
		{"CLUSTER MYID, DBSIZE", [][]string{c("CLUSTER", "MYID"), c("DBSIZE")}, true},
		// Not answered by the proxy: the node's own reply, on the client's
		// own connection, in the state the proxy kept.
		{"HELLO 4", [][]string{c("CLIENT", "SETNAME", "n4"), c("HELLO", "4"), c("CLIENT", "GETNAME")}, false},
		{"HELLO x", [][]string{c("HELLO", "x")}, false},
		{"HELLO bad name", [][]string{c("HELLO", "3", "SETNAME", "a b"), c("CLIENT", "GETNAME"), c("HELLO")}, false},
		{"HELLO bad option", [][]string{c("HELLO", "3", "FOO")}, false},
		{"HELLO wrong password", [][]string{c("HELLO", "3", "AUTH", "app", "wrong"), c("HELLO")}, false},
		{"AUTH wrong password", [][]string{c("HELLO", "3"), c("CLIENT", "SETNAME", "n5"), c("AUTH", "app", "wrong"), c("HELLO"), c("CLIENT", "GETNAME")}, false},
		{"AUTH no password set", [][]string{c("AUTH", "x")}, false},
		{"CLIENT SETNAME bad", [][]string{c("CLIENT", "SETNAME", "a b"), c("CLIENT", "GETNAME")}, false},
		{"SELECT 1", [][]string{c("SELECT", "1")}, false},
		{"READONLY arity", [][]string{c("READONLY", "x")}, false},
	}
	for _, proto := range []string{"2", "3"} {
		for _, tc := range cases {
			t.Run("RESP"+proto+"/"+tc.name, func(t *testing.T) {
				cmds := tc.cmds
				if proto == "3" {
					cmds = append([][]string{c("HELLO", "3")}, cmds...)
				}
				cmds = append(cmds, c("CLIENT", "ID"))
				want := sameIDs(exchange(t, direct, cmds))
				pinned0, _ := proxy.Pinned(p)
				got := sameIDs(exchange(t, seed, cmds))
				for i := range want {
					if got[i] != want[i] {
						t.Errorf("%v: proxy %q, node %q", cmds[i], got[i], want[i])
					}
				}
				// The id is the proxy's own, not a node connection's.
				if id, _ := strconv.ParseUint(strings.Trim(exchange(t, seed, [][]string{c("CLIENT", "ID")})[0], ":\r\n"), 10, 64); id < 1e12 {
					t.Errorf("CLIENT ID through the proxy = %d, want the proxy's own (≥ 10^12)", id)
				}
				if !tc.local {
					return
				}
				if pinned, _ := proxy.Pinned(p); pinned != pinned0 {
					t.Errorf("%d clients pinned, want %d: the commands must be answered without pinning", pinned, pinned0)
				}
			})
		}
	}
}

// A go-redis v9 cluster client with its default options (HELLO 3 and CLIENT
// SETINFO on every new connection) shares: 200 open connections through the
// proxy add only the shared connections to the node's connected_clients.
func TestGoRedisClusterClientShares(t *testing.T) {
	p, seed, direct := stateEnv(t, slowGets{})
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: direct, PoolSize: 1})
	defer admin.Close()
	connected := func() int {
		t.Helper()
		info, err := admin.Info(ctx, "clients").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(l, "connected_clients:"); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		t.Fatal("no connected_clients in INFO clients")
		return 0
	}
	before := connected()
	const conns = 200
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{seed}, PoolSize: conns})
	defer cc.Close()
	if err := cc.Set(ctx, "gr", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// 200 GETs at once, each held a while by the proxy: the pool opens a
	// connection for each (HELLO 3, CLIENT SETINFO, then the GET).
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := cc.Get(ctx, "gr").Result(); err != nil || v != "v" {
				errs <- fmt.Errorf("GET = %q, %v", v, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	open := cc.PoolStats().TotalConns
	if open < conns {
		t.Fatalf("go-redis opened %d connections, want %d", open, conns)
	}
	pinned, sharing := proxy.Pinned(p)
	after := connected()
	// The proxy's shared connections: two per state (RESP2, where a new
	// client starts, and RESP3, where HELLO 3 moves it). go-redis's cluster
	// client pins none (CLUSTER SLOTS, HELLO, CLIENT SETINFO all share).
	if pinned != 0 || sharing < conns || after-before > 2*proxy.SharedPerNode {
		t.Fatalf("%d go-redis connections (%d clients sharing, %d pinned): the node's connected_clients went from %d to %d, want at most %d more",
			open, sharing, pinned, before, after, 2*proxy.SharedPerNode)
	}
	t.Logf("%d go-redis connections through the proxy: connected_clients %d → %d", open, before, after)
}

// slowGets holds every GET 300 ms.
type slowGets struct{}

func (slowGets) Command(_ *proxy.ConnInfo, cmd *proxy.Command) proxy.Action {
	if cmd.Name == "GET" {
		return proxy.Action{Delay: 300 * time.Millisecond}
	}
	return proxy.Action{}
}

// CLIENT LIST, CLIENT INFO and CLIENT KILL ID take and show the proxy's
// ids, for clients that share and clients that were pinned.
func TestSharedClientIDs(t *testing.T) {
	_, seed, _ := stateEnv(t, nil)
	dial := func() *rawConn { return dialRaw(t, seed) }
	id := func(rc *rawConn) string {
		rc.send("CLIENT", "ID")
		return strings.TrimPrefix(rc.line(t), ":")
	}
	bulk := func(rc *rawConn) string {
		t.Helper()
		l := rc.line(t)
		n, err := strconv.Atoi(strings.TrimPrefix(l, "$"))
		if err != nil {
			t.Fatalf("want a bulk string, got %q", l)
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(rc.r, b); err != nil {
			t.Fatal(err)
		}
		return string(b[:n])
	}
	a, b, c := dial(), dial(), dial()
	a.send("CLIENT", "SETNAME", "alpha")
	b.send("CLIENT", "SETNAME", "beta")
	c.send("CLIENT", "SETNAME", "gamma")
	c.send("MULTI") // pins c
	c.send("DISCARD")
	for _, rc := range []*rawConn{a, b, c, c, c} {
		if l := rc.line(t); l != "+OK" {
			t.Fatalf("reply %q", l)
		}
	}
	ida, idb, idc := id(a), id(b), id(c)
	a.send("CLIENT", "LIST")
	list := bulk(a)
	for name, want := range map[string]string{"alpha": ida, "beta": idb, "gamma": idc} {
		if !strings.Contains(list, "id="+want+" ") || !regexp.MustCompile(`id=`+want+` .* name=`+name+` `).MatchString(list) {
			t.Errorf("CLIENT LIST has no line id=%s … name=%s:\n%s", want, name, list)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		if strings.Contains(l, "cmd=client|list") && !strings.Contains(l, "id="+ida+" ") && !strings.Contains(l, "id="+idb+" ") {
			t.Errorf("CLIENT LIST shows the shared connection itself: %s", l)
		}
	}
	// CLIENT INFO: the client's own line, with its id (b pins for it).
	for rc, want := range map[*rawConn]string{b: idb, c: idc} {
		rc.send("CLIENT", "INFO")
		if info := bulk(rc); !strings.HasPrefix(info, "id="+want+" ") {
			t.Errorf("CLIENT INFO = %q, want id=%s", info, want)
		}
	}
	// CLIENT KILL ID: a sharing client, a pinned one, an unknown id, the
	// caller itself (skipped unless SKIPME no).
	for _, k := range []struct {
		args   []string
		reply  string
		closed *rawConn
	}{
		{[]string{"CLIENT", "KILL", "ID", idb}, ":1", b},
		{[]string{"CLIENT", "KILL", "ID", idc}, ":1", c},
		{[]string{"CLIENT", "KILL", "ID", "1999999999999"}, ":0", nil},
		{[]string{"CLIENT", "KILL", "ID", ida}, ":0", nil},
		{[]string{"CLIENT", "KILL", "ID", ida, "SKIPME", "no"}, ":1", a},
	} {
		a.send(k.args...)
		if l := a.line(t); l != k.reply {
			t.Fatalf("%v = %q, want %q", k.args, l, k.reply)
		}
		if k.closed != nil {
			k.closed.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := k.closed.r.ReadByte(); err != io.EOF {
				t.Fatalf("after %v: %v, want the client closed", k.args, err)
			}
		}
	}
}
