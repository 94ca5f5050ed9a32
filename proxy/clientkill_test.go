package proxy_test

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// TestClientKillTakesWhatTheProxyShows: in both upstream modes CLIENT LIST
// and CLIENT INFO show each client of the proxy with its own address as
// addr= and the proxy's port as laddr=, and CLIENT KILL with what they
// show (ADDR, the old form, LADDR, ID) closes exactly the client named,
// whether it shares an upstream connection or has its own.
func TestClientKillTakesWhatTheProxyShows(t *testing.T) {
	upstreamModes(t, func(t *testing.T, p *proxy.Server) {
		seed := testenv.Seeds(p)[0]
		client := func(name string, pin bool) *rawConn {
			rc := dialRaw(t, seed)
			rc.send("CLIENT", "SETNAME", name)
			if l := rc.line(t); l != "+OK" {
				t.Fatalf("CLIENT SETNAME: %q", l)
			}
			if pin { // a client that shares gets its own connection
				rc.send("MULTI")
				rc.send("DISCARD")
				for range 2 {
					if l := rc.line(t); l != "+OK" {
						t.Fatalf("MULTI/DISCARD: %q", l)
					}
				}
			}
			return rc
		}
		killer := client("killer", false)
		bystanders := []*rawConn{client("bystander-shares", false), client("bystander-own", true)}
		victims := map[string]*rawConn{}
		for _, name := range []string{"addr", "addr-own", "old", "laddr-id", "id-own"} {
			victims[name] = client(name, strings.HasSuffix(name, "-own"))
		}

		// What the proxy shows: the client's own address, the proxy's port.
		killer.send("CLIENT", "LIST")
		shown := map[string]map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(bulkReply(t, killer)), "\n") {
			f := map[string]string{}
			for _, kv := range strings.Fields(line) {
				k, v, _ := strings.Cut(kv, "=")
				f[k] = v
			}
			shown[f["name"]] = f
		}
		for name, rc := range victims {
			f := shown[name]
			if f == nil {
				t.Fatalf("CLIENT LIST shows no client named %s", name)
			}
			if f["addr"] != rc.c.LocalAddr().String() || f["laddr"] != seed {
				t.Errorf("CLIENT LIST shows %s with addr=%s laddr=%s, want addr=%s laddr=%s", name, f["addr"], f["laddr"], rc.c.LocalAddr(), seed)
			}
		}
		v := victims["id-own"]
		v.send("CLIENT", "INFO")
		if info := bulkReply(t, v); !strings.Contains(info, " addr="+v.c.LocalAddr().String()+" laddr="+seed+" ") {
			t.Errorf("CLIENT INFO = %q, want addr=%s laddr=%s", info, v.c.LocalAddr(), seed)
		}

		for _, k := range []struct {
			args   []string
			reply  string
			victim string
		}{
			{[]string{"CLIENT", "KILL", "ADDR", shown["addr"]["addr"]}, ":1", "addr"},
			{[]string{"CLIENT", "KILL", "ADDR", shown["addr-own"]["addr"], "SKIPME", "yes"}, ":1", "addr-own"},
			{[]string{"CLIENT", "KILL", shown["old"]["addr"]}, "+OK", "old"},
			{[]string{"CLIENT", "KILL", "LADDR", shown["laddr-id"]["laddr"], "ID", shown["laddr-id"]["id"]}, ":1", "laddr-id"},
			{[]string{"CLIENT", "KILL", "ID", shown["id-own"]["id"]}, ":1", "id-own"},
			{[]string{"CLIENT", "KILL", "ADDR", "127.0.0.1:1"}, ":0", ""},
			{[]string{"CLIENT", "KILL", "127.0.0.1:1"}, "-ERR No such client", ""},
			{[]string{"CLIENT", "KILL", "LADDR", "127.0.0.1:1", "ID", shown["bystander-shares"]["id"]}, ":0", ""},
		} {
			killer.send(k.args...)
			if l := killer.line(t); l != k.reply {
				t.Fatalf("%v = %q, want %q", k.args, l, k.reply)
			}
			if k.victim != "" {
				closed(t, victims[k.victim], k.args)
			}
			for _, b := range append(bystanders, killer) {
				b.send("PING")
				if l := b.line(t); l != "+PONG" {
					t.Fatalf("after %v a bystander got %q", k.args, l)
				}
			}
		}
		killer.send("CLIENT", "KILL", "LADDR", seed, "ID", shown["killer"]["id"], "SKIPME", "no")
		if l := killer.line(t); l != ":1" {
			t.Fatalf("CLIENT KILL LADDR … of itself, SKIPME no = %q, want :1", l)
		}
		closed(t, killer, []string{"CLIENT", "KILL", "LADDR", "…", "SKIPME", "no"})
	})
}

// bulkReply reads a bulk string reply.
func bulkReply(t *testing.T, rc *rawConn) string {
	t.Helper()
	l := rc.line(t)
	n, err := strconv.Atoi(strings.TrimPrefix(l, "$"))
	if err != nil || l[0] != '$' {
		t.Fatalf("want a bulk string, got %q", l)
	}
	b := make([]byte, n+2)
	if _, err := io.ReadFull(rc.r, b); err != nil {
		t.Fatal(err)
	}
	return string(b[:n])
}

// closed fails unless the proxy closes rc's connection.
func closed(t *testing.T, rc *rawConn, after []string) {
	t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := rc.r.ReadByte()
	var ne net.Error
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("after %v: %v, want the client's connection closed", after, err)
	}
}
