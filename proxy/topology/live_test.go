package topology

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
)

// TestRewriteLive runs every address-carrying command against a real Redis 7
// cluster (3 masters, 3 replicas) over RESP2 and RESP3 connections, and
// checks the rewritten replies: no real data or bus port is left, node ids,
// slots, flags, roles and offsets are unchanged, every address is announced,
// and the reply still parses with the same shape. It also rewrites real
// MOVED and ASK errors, CLUSTER NODES with a migration marker, and replies
// inside MULTI/EXEC.
func TestRewriteLive(t *testing.T) {
	c := startCluster(t)
	realPorts := slices.Concat(c.ports, c.buses)
	master0, master1 := c.conns[c.ports[0]], c.conns[c.ports[1]]

	// A key of master 0's slots (0-5460) and one of master 1's.
	key0, key1 := keyIn(0, 5460), keyIn(5461, 10922)
	slot0 := Slot([]byte(key0))

	// Migrating slot0 from master 0 to master 1: GET of a missing key in it
	// answers ASK, and CLUSTER NODES shows [slot->-id].
	master1.mustDo(t, "CLUSTER", "SETSLOT", strconv.Itoa(slot0), "IMPORTING", c.ids[0])
	master0.mustDo(t, "CLUSTER", "SETSLOT", strconv.Itoa(slot0), "MIGRATING", c.ids[1])
	t.Cleanup(func() {
		master0.do("CLUSTER", "SETSLOT", strconv.Itoa(slot0), "STABLE")
		master1.do("CLUSTER", "SETSLOT", strconv.Itoa(slot0), "STABLE")
	})

	for _, announce := range []string{"127.0.0.1", "proxy.example"} {
		r, announced := portMap(c.ports, announce, 7001, false)
		for proto, conns := range map[int]map[int]*rawConn{2: c.conns, 3: c.conns3} {
			check := func(what string, kind RewriteKind, in []byte) {
				t.Helper()
				if noPorts(in, realPorts) == 0 {
					t.Fatalf("RESP%d %s: the reply has no real port to rewrite:\n%s", proto, what, in)
				}
				out, err := Rewrite(kind, in, r)
				if err != nil {
					t.Errorf("RESP%d %s → %s: %v\n%q", proto, what, announce, err, in)
					return
				}
				if p := noPorts(out, realPorts); p != 0 {
					t.Errorf("RESP%d %s → %s: real port %d left:\n%s", proto, what, announce, p, out)
				}
				if d := checkRewritten(kind, in, out, announce, announced); d != "" {
					t.Errorf("RESP%d %s → %s: %s", proto, what, announce, d)
				}
				if sa, sb := shape(t, in), shape(t, out); sa != sb {
					t.Errorf("RESP%d %s → %s: shape changed:\n%s\n%s", proto, what, announce, sa, sb)
				}
			}
			for _, cmd := range captureCommands(c) {
				check(fmt.Sprint(cmd.args), RewriteKindOf(args2(cmd.args)), conns[cmd.port].mustDo(t, cmd.args...))
			}
			check("INFO", KindInfo, conns[c.ports[3]].mustDo(t, "INFO"))
			check("INFO everything", KindInfo, conns[c.ports[0]].mustDo(t, "INFO", "everything"))

			// The migration marker survives.
			nodes := conns[c.ports[0]].mustDo(t, "CLUSTER", "NODES")
			marker := fmt.Sprintf("[%d->-%s]", slot0, c.ids[1])
			if !bytes.Contains(nodes, []byte(marker)) {
				t.Fatalf("no migration marker %s in %s", marker, nodes)
			}
			out, err := Rewrite(KindClusterNodes, nodes, r)
			if err != nil || !bytes.Contains(out, []byte(marker)) {
				t.Errorf("RESP%d: migration marker lost: %v\n%s", proto, err, out)
			}

			// MOVED and ASK.
			for _, tc := range []struct {
				key, want string
			}{{key1, "MOVED"}, {key0, "ASK"}} {
				in, err := conns[c.ports[0]].do("GET", tc.key)
				if err != nil || !bytes.HasPrefix(in, []byte("-"+tc.want+" ")) {
					t.Fatalf("GET %s on master 0: %q, %v", tc.key, in, err)
				}
				out, ok, err := RewriteRedirect(in, r)
				want := fmt.Sprintf("-%s %d %s:%d\r\n", tc.want, Slot([]byte(tc.key)), announce, 7002)
				if err != nil || !ok || string(out) != want {
					t.Errorf("RESP%d: RewriteRedirect(%q) = %q, %v, %v; want %q", proto, in, out, ok, err, want)
				}
			}

			// Replies inside MULTI/EXEC, with and without the queued kinds.
			conn := conns[c.ports[3]]
			conn.mustDo(t, "MULTI")
			queued := [][]string{{"CLUSTER", "SLOTS"}, {"ROLE"}, {"CLUSTER", "NODES"}, {"PING"}, {"INFO", "replication"}}
			var kinds []RewriteKind
			for _, q := range queued {
				conn.mustDo(t, q...)
				kinds = append(kinds, RewriteKindOf(args2(q)))
			}
			exec := conn.mustDo(t, "EXEC")
			out, err = RewriteExec(kinds, exec, r)
			if err != nil {
				t.Fatalf("RESP%d EXEC: %v", proto, err)
			}
			if p := noPorts(out, realPorts); p != 0 {
				t.Errorf("RESP%d EXEC → %s: real port %d left:\n%s", proto, announce, p, out)
			}
			if sa, sb := shape(t, exec), shape(t, out); sa != sb {
				t.Errorf("RESP%d EXEC: shape changed:\n%s\n%s", proto, sa, sb)
			}
		}
	}
}

// keyIn returns a key whose slot is in [from, to].
func keyIn(from, to int) string {
	for i := 0; ; i++ {
		k := "key:" + strconv.Itoa(i)
		if s := Slot([]byte(k)); s >= from && s <= to {
			return k
		}
	}
}

func args2(a []string) [][]byte {
	var b [][]byte
	for _, s := range a {
		b = append(b, []byte(s))
	}
	return b
}

// shape describes a reply's structure: types and element counts, without
// the contents of strings and numbers.
func shape(t testing.TB, reply []byte) string {
	t.Helper()
	v, n, err := resp.Parse(reply)
	if err != nil || n != len(reply) {
		t.Fatalf("reply does not parse: %v (%d of %d bytes)\n%q", err, n, len(reply), reply)
	}
	var b []byte
	var walk func(v resp.Value)
	walk = func(v resp.Value) {
		b = append(b, v.Type)
		if v.Null {
			b = append(b, '0')
		}
		if v.Elems != nil || v.IsAggregate() {
			b = strconv.AppendInt(b, int64(len(v.Elems)), 10)
			b = append(b, '(')
			for _, e := range v.Elems {
				walk(e)
			}
			b = append(b, ')')
		}
	}
	walk(v)
	return string(b)
}
