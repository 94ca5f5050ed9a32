package topology

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
)

// This file starts real redis-server processes for the tests: one node in
// cluster mode (startNode) or a cluster of 3 masters and 3 replicas
// (startCluster). Tests that need them skip when redis-server is not in PATH.

// freePort returns a TCP port that was free a moment ago on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNode starts a cluster-enabled redis-server on a free port (and a free
// cluster bus port) and returns both once it answers PING. It is killed when
// the test ends.
func startNode(t testing.TB) (port, bus int) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not in PATH")
	}
	for attempt := 0; ; attempt++ {
		port, bus = freePort(t), freePort(t)
		dir := t.TempDir()
		cmd := exec.Command(bin,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
			"--cluster-config-file", dir+"/nodes.conf", "--cluster-node-timeout", "2000",
			"--dir", dir, "--save", "", "--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1", "--appendonly", "no", "--logfile", dir+"/redis.log")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		if waitPing(port, exited, 10*time.Second) {
			return port, bus
		}
		if attempt == 2 {
			t.Fatalf("redis-server on port %d did not start", port)
		}
	}
}

// waitPing polls PING until the server answers, it exits, or the time is up.
func waitPing(port int, exited <-chan struct{}, d time.Duration) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if c, err := dialRaw(port, 2); err == nil {
			_, err := c.do("PING")
			c.Close()
			if err == nil {
				return true
			}
		}
		select {
		case <-exited:
			return false
		case <-tick.C:
		}
	}
	return false
}

// rawConn sends commands and returns replies as raw bytes, framed by the
// Scanner.
type rawConn struct {
	net.Conn
	r  *bufio.Reader
	sc resp.Scanner
}

func dialRaw(port, proto int) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return nil, err
	}
	rc := &rawConn{Conn: c, r: bufio.NewReader(c)}
	if proto == 3 {
		if _, err := rc.do("HELLO", "3"); err != nil {
			c.Close()
			return nil, err
		}
	}
	return rc, nil
}

func (c *rawConn) do(args ...string) ([]byte, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var b []byte
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	if _, err := c.Write(b); err != nil {
		return nil, err
	}
	var buf []byte
	for {
		chunk := make([]byte, 4096)
		n, err := c.r.Read(chunk)
		if err != nil {
			return nil, err
		}
		buf = append(buf, chunk[:n]...)
		l, err := c.sc.Scan(buf)
		if err != nil {
			return nil, err
		}
		if l > 0 {
			if l != len(buf) {
				return nil, fmt.Errorf("%d bytes after the reply", len(buf)-l)
			}
			return buf, nil
		}
	}
}

// mustDo runs a command and fails the test on an error or an error reply.
func (c *rawConn) mustDo(t testing.TB, args ...string) []byte {
	t.Helper()
	b, err := c.do(args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	if b[0] == '-' || b[0] == '!' {
		t.Fatalf("%v: %q", args, b)
	}
	return b
}

// text returns the text of a bulk or verbatim string reply.
func text(t testing.TB, reply []byte) string {
	t.Helper()
	v, _, err := resp.Parse(reply)
	if err != nil || (v.Type != '$' && v.Type != '=') {
		t.Fatalf("not a string reply: %q (%v)", reply, err)
	}
	return string(v.Str)
}

type testCluster struct {
	ports    []int // 0-2 masters, 3-5 replicas (3+i replicates i)
	buses    []int // cluster bus ports
	ids      []string
	conns    map[int]*rawConn // RESP2 connections by port
	conns3   map[int]*rawConn // RESP3 connections by port
	nodesTxt string           // CLUSTER NODES from node 0 once the cluster is ok
}

// startCluster starts 3 masters and 3 replicas on free ports, joins them into
// a cluster and returns when every node reports cluster_state:ok, knows every
// other node, and every replica is in sync with its master.
func startCluster(t testing.TB) *testCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a Redis cluster")
	}
	c := &testCluster{conns: map[int]*rawConn{}, conns3: map[int]*rawConn{}}
	for range 6 {
		port, bus := startNode(t)
		c.ports = append(c.ports, port)
		c.buses = append(c.buses, bus)
		for proto, m := range map[int]map[int]*rawConn{2: c.conns, 3: c.conns3} {
			rc, err := dialRaw(port, proto)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rc.Close() })
			m[port] = rc
		}
		c.ids = append(c.ids, text(t, c.conns[port].mustDo(t, "CLUSTER", "MYID")))
	}
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, r := range ranges {
		c.conns[c.ports[i]].mustDo(t, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(r[0]), strconv.Itoa(r[1]))
	}
	c0 := c.conns[c.ports[0]]
	for i, p := range c.ports[1:] {
		c0.mustDo(t, "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(p), strconv.Itoa(c.buses[i+1]))
	}
	// Every node must know every master before it can replicate one.
	c.waitFor(t, "all nodes known", func(port int, rc *rawConn) bool {
		txt := text(t, rc.mustDo(t, "CLUSTER", "NODES"))
		return strings.Count(txt, "\n") == 6 && !strings.Contains(txt, "handshake")
	})
	for i := range 3 {
		c.conns[c.ports[3+i]].mustDo(t, "CLUSTER", "REPLICATE", c.ids[i])
	}
	c.waitFor(t, "cluster ok, replicas in sync", func(port int, rc *rawConn) bool {
		info := text(t, rc.mustDo(t, "CLUSTER", "INFO"))
		if !strings.Contains(info, "cluster_state:ok") {
			return false
		}
		nodes := text(t, rc.mustDo(t, "CLUSTER", "NODES"))
		if strings.Count(nodes, "slave") != 3 || strings.Contains(nodes, "fail") {
			return false
		}
		// Replicas appear in CLUSTER SLOTS once their master knows them.
		slots := rc.mustDo(t, "CLUSTER", "SLOTS")
		v, _, _ := resp.Parse(slots)
		for _, r := range v.Elems {
			if len(r.Elems) != 4 {
				return false
			}
		}
		repl := text(t, rc.mustDo(t, "INFO", "replication"))
		if strings.Contains(repl, "role:slave") {
			return strings.Contains(repl, "master_link_status:up")
		}
		return strings.Contains(repl, "connected_slaves:1") && strings.Contains(repl, "state=online")
	})
	c.nodesTxt = text(t, c0.mustDo(t, "CLUSTER", "NODES"))
	return c
}

// waitFor polls cond on every node until it holds on all of them.
func (c *testCluster) waitFor(t testing.TB, what string, cond func(port int, rc *rawConn) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, p := range c.ports {
			if !cond(p, c.conns[p]) {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster: timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for readiness
	}
}

// portMap is a Resolver that maps the real port ports[i] to announce:base+i,
// whatever host the cluster sends with it (the tests' nodes are all on
// 127.0.0.1; "?" and "" are accepted as that host). It also returns the
// announced ports.
func portMap(ports []int, announce string, base int, tls bool) (Resolver, map[int]bool) {
	m := map[int]int{}
	announced := map[int]bool{}
	for i, p := range ports {
		m[p] = base + i
		announced[base+i] = true
	}
	return func(host string, port int) (Endpoint, bool) {
		switch host {
		case "127.0.0.1", "?", "", "localhost":
		default:
			return Endpoint{}, false
		}
		ap, ok := m[port]
		if !ok {
			return Endpoint{}, false
		}
		return Endpoint{Host: announce, Port: ap, TLS: tls}, true
	}, announced
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// containsPort reports whether the decimal port appears in b as a whole
// word (not inside a longer number or a node id).
func containsPort(b []byte, port int) bool {
	p := []byte(strconv.Itoa(port))
	for i := 0; ; {
		j := bytes.Index(b[i:], p)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isAlnum(b[j-1])
		after := j+len(p) == len(b) || !isAlnum(b[j+len(p)])
		if before && after {
			return true
		}
		i = j + 1
	}
}
