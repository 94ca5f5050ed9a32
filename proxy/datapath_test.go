package proxy_test

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/proxytest"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// dataPathCase is one exchange through the proxy with an in-memory cluster
// of 3 masters: a pipeline sent on one connection and the replies it must
// get, exactly, then whatever follows. Placeholders ({n0}, {k1}, {s1}…) are
// those of harness.expand; in want, "\n" stands for CRLF and each reply's
// final CRLF is implied.
type dataPathCase struct {
	name     string
	mode     string // "" in both upstream modes; "own": 1:1 only; "shared": sharing only
	replicas int    // per master
	node     int    // the node whose proxy port the client connects to
	config   func(h *harness, c *proxy.Config)
	policy   func(h *harness, cmd *proxy.Command) proxy.Action // sets Config.Policy
	setup    func(h *harness)
	send     []string
	want     []string
	then     func(h *harness, cl *client)
}

// TestDataPath runs the data-path cases in both upstream modes, against
// in-memory nodes (see proxytest): ordering under pipelining, replies
// injected between forwarded ones, rewriting, pinning, nodes that fail
// mid-reply, streaming, RESP3, pub/sub and blocking commands.
func TestDataPath(t *testing.T) {
	modeFixed(t)
	for _, mode := range []string{"own", "shared"} {
		t.Run(mode, func(t *testing.T) {
			for _, tc := range dataPathCases {
				if tc.mode != "" && tc.mode != mode {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					h := newHarness(t, mode == "shared", 3, tc.replicas, func(h *harness, c *proxy.Config) {
						if tc.policy != nil {
							c.Policy = policyFunc(func(_ *proxy.ConnInfo, cmd *proxy.Command) proxy.Action { return tc.policy(h, cmd) })
						}
						if tc.config != nil {
							tc.config(h, c)
						}
					})
					if tc.setup != nil {
						tc.setup(h)
					}
					cl := h.dial(tc.node)
					if len(tc.send) > 0 {
						cl.send(tc.send...)
					}
					h.expect(cl, tc.want...)
					if tc.then != nil {
						tc.then(h, cl)
					}
				})
			}
		})
	}
}

// on returns a Policy function that answers act for the commands whose
// arguments, joined with spaces, are line, and forwards the others.
func on(line string, act proxy.Action) func(*harness, *proxy.Command) proxy.Action {
	return func(_ *harness, cmd *proxy.Command) proxy.Action {
		if string(joinArgs(cmd.Args)) == line {
			return act
		}
		return proxy.Action{}
	}
}

func joinArgs(args [][]byte) []byte {
	var b []byte
	for i, a := range args {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, a...)
	}
	return b
}

// pipeline returns n commands made by f(i), and their n replies by g(i).
func pipeline(n int, f, g func(i int) string) (cmds, replies []string) {
	for i := range n {
		cmds, replies = append(cmds, f(i)), append(replies, g(i))
	}
	return cmds, replies
}

var longSend, longWant = func() ([]string, []string) {
	// Runs of the same command (merged into one queue entry each) between
	// others: 300 SETs, 300 GETs, then GET and INCR in turn.
	s1, w1 := pipeline(300, func(i int) string { return "SET {t0}" + strconv.Itoa(i%7) + " " + strconv.Itoa(i) },
		func(int) string { return "+OK" })
	s2, w2 := pipeline(300, func(i int) string { return "GET {t0}" + strconv.Itoa(i%7) },
		func(i int) string {
			j := i % 7
			v := strconv.Itoa(j + 7*((299-j)/7)) // the last SET of that key
			return "$" + strconv.Itoa(len(v)) + "\n" + v
		})
	s3, w3 := pipeline(200, func(i int) string {
		if i%2 == 0 {
			return "INCR {t0}c"
		}
		return "GET {t0}c"
	}, func(i int) string {
		v := strconv.Itoa(i/2 + 1)
		if i%2 == 0 {
			return ":" + v
		}
		return "$" + strconv.Itoa(len(v)) + "\n" + v
	})
	return slices.Concat(s1, s2, s3), slices.Concat(w1, w2, w3)
}()

var dataPathCases = []dataPathCase{
	// Ordering under pipelining.
	{name: "pipeline keeps order",
		send: []string{"SET {k0} 1", "GET {k0}", "INCR {k0}", "GET {k0}", "DEL {k0}", "GET {k0}", "EXISTS {k0}"},
		want: []string{"+OK", "$1\n1", ":2", "$1\n2", ":1", "$-1", ":0"}},
	{name: "errors between replies",
		send: []string{"SET {k0} x", "INCR {k0}", "NOSUCH a b", "GET {k0}", "GET"},
		want: []string{"+OK", "-ERR value is not an integer or out of range",
			"-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' ", "$1\nx",
			"-ERR wrong number of arguments for 'get' command"}},
	{name: "800 pipelined commands in runs", send: longSend, want: longWant},
	{name: "inline commands",
		send: []string{"raw:PING\nSET {k0} inline\nGET {k0}\n"},
		want: []string{"+PONG", "+OK", "$6\ninline"}},
	{name: "empty command skipped", send: []string{"raw:*0\n", "PING"}, want: []string{"+PONG"}},
	{name: "client protocol error: an error after the replies, then a close",
		send: []string{"PING", "raw:*1\n$x\n"},
		want: []string{"+PONG", "-ERR Protocol error: invalid bulk length"},
		then: func(h *harness, cl *client) { cl.closed() }},
	{name: "1 MiB value written and read back",
		send: []string{"SET {k0} " + strings.Repeat("v", 1<<20), "GET {k0}", "PING"},
		want: []string{"+OK", "$1048576\n" + strings.Repeat("v", 1<<20), "+PONG"}},

	// Replies injected by a Policy between forwarded ones.
	{name: "injected reply between forwarded ones",
		policy: on("GET inj", proxy.Action{Kind: proxy.Reply, Reply: []byte("-CLUSTERDOWN The cluster is down\r\n"), Fault: "f1"}),
		send:   []string{"SET {k0} v", "GET inj", "GET {k0}", "GET inj"},
		want:   []string{"+OK", "-CLUSTERDOWN The cluster is down", "$1\nv", "-CLUSTERDOWN The cluster is down"}},
	{name: "injected replies only",
		policy: func(*harness, *proxy.Command) proxy.Action {
			return proxy.Action{Kind: proxy.Reply, Reply: []byte("+injected\r\n")}
		},
		send: []string{"PING", "GET x", "SET y z"},
		want: []string{"+injected", "+injected", "+injected"}},
	{name: "injected reply waits for a slow reply before it",
		policy: on("ECHO x", proxy.Action{Kind: proxy.Reply, Reply: []byte("+injected\r\n")}),
		send:   []string{"DEBUG SLEEP 0.05", "ECHO x", "PING"},
		want:   []string{"+OK", "+injected", "+PONG"}},
	{name: "delayed command keeps its place",
		policy: on("GET slow", proxy.Action{Delay: 30 * time.Millisecond}),
		send:   []string{"SET {k0} 1", "GET slow", "GET {k0}", "PING"},
		want:   []string{"+OK", "-MOVED {sslow} {nslow}", "$1\n1", "+PONG"}},
	{name: "Close action resets the connection",
		policy: on("GET boom", proxy.Action{Kind: proxy.Close}),
		send:   []string{"PING"},
		want:   []string{"+PONG"},
		then: func(h *harness, cl *client) {
			cl.send("GET boom")
			cl.closed()
		}},
	{name: "routed command answered in its turn",
		policy: func(h *harness, cmd *proxy.Command) proxy.Action {
			if len(cmd.Args) > 1 && string(cmd.Args[1]) == h.key(1) {
				return proxy.Action{Route: h.c.Node(1).Addr}
			}
			return proxy.Action{}
		},
		send: []string{"SET {k1} r", "PING", "GET {k1}", "GET {k0}"},
		want: []string{"+OK", "+PONG", "$1\nr", "$-1"}},
	{name: "Hang holds every later command until released",
		policy: func(h *harness, cmd *proxy.Command) proxy.Action {
			if string(joinArgs(cmd.Args)) == "GET hang" {
				return proxy.Action{Kind: proxy.Hang, Release: h.release}
			}
			return proxy.Action{}
		},
		send: []string{"PING", "GET hang", "ECHO after"},
		want: []string{"+PONG"},
		then: func(h *harness, cl *client) {
			cl.silent(50 * time.Millisecond)
			close(h.release)
			h.expect(cl, "$-1", "$5\nafter")
		}},

	// Replies that carry node addresses are rewritten.
	{name: "MOVED rewritten", send: []string{"GET {k1}", "SET {k2} v"},
		want: []string{"-MOVED {s1} {n1}", "-MOVED {s2} {n2}"}},
	{name: "MOVED after a slot moved",
		setup: func(h *harness) { h.c.MoveSlot(topology.Slot([]byte(h.key(0))), h.c.Node(2)) },
		send:  []string{"GET {k0}"}, want: []string{"-MOVED {s0} {n2}"}},
	{name: "ASK rewritten, and ASKING honoured by the target",
		setup: func(h *harness) { h.c.Migrate(topology.Slot([]byte(h.key(0))), h.c.Node(1)) },
		send:  []string{"GET {k0}"}, want: []string{"-ASK {s0} {n1}"},
		then: func(h *harness, _ *client) {
			cl := h.dial(1)
			cl.send("ASKING", "GET {k0}", "GET {k0}")
			h.expect(cl, "+OK", "$-1", "-MOVED {s0} {n0}")
		}},
	{name: "CLUSTER SLOTS rewritten", replicas: 1,
		send: []string{"CLUSTER SLOTS"},
		want: []string{"*3\n" +
			"*4\n:0\n:5460\n*4\n$9\n127.0.0.1\n:{p0}\n$40\n{id0}\n*0\n*4\n$9\n127.0.0.1\n:{p3}\n$40\n{id3}\n*0\n" +
			"*4\n:5461\n:10921\n*4\n$9\n127.0.0.1\n:{p1}\n$40\n{id1}\n*0\n*4\n$9\n127.0.0.1\n:{p4}\n$40\n{id4}\n*0\n" +
			"*4\n:10922\n:16383\n*4\n$9\n127.0.0.1\n:{p2}\n$40\n{id2}\n*0\n*4\n$9\n127.0.0.1\n:{p5}\n$40\n{id5}\n*0"}},
	{name: "CLUSTER NODES rewritten", replicas: 1, node: 1,
		send: []string{"CLUSTER NODES"},
		then: func(h *harness, cl *client) {
			h.expectText(cl, false, nodesText)
		}},
	{name: "ROLE of a master rewritten", replicas: 1,
		send: []string{"ROLE"},
		want: []string{"*3\n$6\nmaster\n:0\n*1\n*3\n$9\n127.0.0.1\n$5\n{p3}\n$1\n0"}},
	{name: "ROLE of a replica rewritten", replicas: 1, node: 4,
		send: []string{"ROLE"},
		want: []string{"*5\n$5\nslave\n$9\n127.0.0.1\n:{p1}\n$9\nconnected\n:0"}},
	{name: "INFO rewritten", replicas: 1,
		send: []string{"INFO"},
		then: func(h *harness, cl *client) {
			h.expectText(cl, false, "# Server\r\nredis_version:7.0.15\r\nredis_mode:cluster\r\ntcp_port:{p0}\r\n\r\n"+
				"# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port={p3},state=online,offset=0,lag=0\r\n")
		}},
	{name: "CLIENT INFO: the node's own address rewritten",
		send: []string{"CLIENT INFO"},
		then: func(h *harness, cl *client) {
			r := cl.reply()
			if !strings.Contains(r, " laddr="+h.addr(0)+" ") || strings.Contains(r, h.c.Node(0).Addr) {
				t := h.t
				t.Fatalf("CLIENT INFO = %q, want laddr=%s and no real address", r, h.addr(0))
			}
		}},
	{name: "topology reply inside EXEC rewritten",
		send: []string{"MULTI", "CLUSTER SLOTS", "GET {k0}", "EXEC"},
		want: []string{"+OK", "+QUEUED", "+QUEUED", "*2\n*3\n" +
			"*3\n:0\n:5460\n*4\n$9\n127.0.0.1\n:{p0}\n$40\n{id0}\n*0\n" +
			"*3\n:5461\n:10921\n*4\n$9\n127.0.0.1\n:{p1}\n$40\n{id1}\n*0\n" +
			"*3\n:10922\n:16383\n*4\n$9\n127.0.0.1\n:{p2}\n$40\n{id2}\n*0\n$-1"}},
	{name: "MOVED inside EXEC rewritten",
		send: []string{"MULTI", "SET {k0} v"},
		want: []string{"+OK", "+QUEUED"},
		then: func(h *harness, cl *client) {
			h.c.MoveSlot(topology.Slot([]byte(h.key(0))), h.c.Node(1))
			cl.send("EXEC")
			h.expect(cl, "*1\n-MOVED {s0} {n1}")
		}},
	{name: "MOVED while queueing aborts EXEC",
		send: []string{"MULTI", "SET {k1} v", "EXEC"},
		want: []string{"+OK", "-MOVED {s1} {n1}", "-EXECABORT Transaction discarded because of previous errors."}},

	{name: "commands queued in MULTI whose replies carry addresses: +QUEUED as it is, nothing logged, EXEC's results rewritten",
		replicas: 1, config: logWarnings,
		send: []string{"MULTI", "ROLE", "INFO", "CLIENT INFO", "CLUSTER NODES", "CLUSTER SLOTS", "EXEC"},
		want: []string{"+OK", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED"},
		then: func(h *harness, cl *client) {
			r := cl.reply()
			h.noRealAddr(r)
			for _, want := range []string{"*5\r\n", "$5\r\n" + h.expand("{p3}"), "tcp_port:" + h.expand("{p0}"), " laddr=" + h.addr(0) + " ", h.addr(1) + "@0"} {
				if !strings.Contains(r, want) {
					h.t.Fatalf("EXEC = %q: no %q", r, want)
				}
			}
			if w := h.warns.String(); w != "" {
				h.t.Fatalf("the proxy logged: %s", w)
			}
		}},
	{name: "a nested MULTI is refused and the transaction goes on",
		replicas: 1, config: logWarnings,
		send: []string{"MULTI", "ROLE", "MULTI", "GET {k0}", "ROLE", "EXEC"},
		want: []string{"+OK", "+QUEUED", "-ERR MULTI calls can not be nested", "+QUEUED", "+QUEUED",
			"*3\n*3\n$6\nmaster\n:0\n*1\n*3\n$9\n127.0.0.1\n$5\n{p3}\n$1\n0\n$-1\n*3\n$6\nmaster\n:0\n*1\n*3\n$9\n127.0.0.1\n$5\n{p3}\n$1\n0"},
		then: func(h *harness, cl *client) {
			if w := h.warns.String(); w != "" {
				h.t.Fatalf("the proxy logged: %s", w)
			}
		}},
	{name: "MULTI answered by a Policy: the node runs the commands after it, and their replies are rewritten",
		replicas: 1,
		policy:   on("MULTI", proxy.Action{Kind: proxy.Reply, Reply: []byte("-CLUSTERDOWN The cluster is down\r\n")}),
		send:     []string{"MULTI", "ROLE"},
		want:     []string{"-CLUSTERDOWN The cluster is down", "*3\n$6\nmaster\n:0\n*1\n*3\n$9\n127.0.0.1\n$5\n{p3}\n$1\n0"}},

	// RESP3.
	{name: "RESP3: HELLO, nulls",
		send: []string{"HELLO 3", "GET {k0}", "MGET {k0} {k0}", "HELLO 2", "GET {k0}"},
		want: []string{hello3, "_", "*2\n_\n_", hello2, "$-1"}},
	{name: "RESP3: CLUSTER NODES as verbatim text, rewritten", replicas: 1, node: 1,
		send: []string{"HELLO 3", "CLUSTER NODES"},
		want: []string{hello3},
		then: func(h *harness, cl *client) { h.expectText(cl, true, nodesText) }},
	{name: "RESP3: subscribe confirmations and messages are pushes",
		send: []string{"HELLO 3", "SUBSCRIBE ch", "PING"},
		want: []string{hello3, ">3\n$9\nsubscribe\n$2\nch\n:1", "+PONG"},
		then: func(h *harness, cl *client) {
			pub := h.dial(1)
			pub.send("PUBLISH ch hi")
			h.expect(pub, ":1")
			h.expect(cl, ">3\n$7\nmessage\n$2\nch\n$2\nhi")
			cl.send("GET {k0}")
			h.expect(cl, "_")
		}},
	{name: "RESP2: subscribed replies flow unpaired",
		send: []string{"SUBSCRIBE a b"},
		want: []string{"*3\n$9\nsubscribe\n$1\na\n:1", "*3\n$9\nsubscribe\n$1\nb\n:2"},
		then: func(h *harness, cl *client) {
			pub := h.dial(2)
			pub.send("PUBLISH b hello", "PUBLISH c x")
			h.expect(pub, ":1", ":0")
			h.expect(cl, "*3\n$7\nmessage\n$1\nb\n$5\nhello")
			cl.send("PING", "GET x", "UNSUBSCRIBE")
			h.expect(cl, "*2\n$4\npong\n$0\n",
				"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
				"*3\n$11\nunsubscribe\n$1\na\n:1", "*3\n$11\nunsubscribe\n$1\nb\n:0")
		}},

	// Blocking commands.
	{name: "BLPOP answered when another client pushes",
		send: []string{"PING", "BLPOP {k0} 0"},
		want: []string{"+PONG"},
		then: func(h *harness, cl *client) {
			cl.silent(30 * time.Millisecond)
			other := h.dial(0)
			other.send("RPUSH {k0} x")
			h.expect(other, ":1")
			k := h.key(0)
			h.expect(cl, "*2\n$"+strconv.Itoa(len(k))+"\n"+k+"\n$1\nx")
		}},
	{name: "Interrupt answers a blocked BLPOP; the node's late reply is dropped",
		send: []string{"PING", "BLPOP {k0} 0"},
		want: []string{"+PONG"},
		then: func(h *harness, cl *client) {
			deadline := time.Now().Add(5 * time.Second)
			for h.p.Interrupt(func(*proxy.ConnInfo, *proxy.CommandInfo, int) []byte {
				return []byte("-CLUSTERDOWN The cluster is down\r\n")
			}) == 0 {
				if time.Now().After(deadline) {
					h.t.Fatal("no blocked connection to interrupt")
				}
				time.Sleep(5 * time.Millisecond)
			}
			h.expect(cl, "-CLUSTERDOWN The cluster is down")
			cl.send("PING")
			h.expect(cl, "+PONG")
			if !unblocked(h.c.Node(0)) {
				h.t.Error("the node got no CLIENT UNBLOCK")
			}
		}},

	// Replication streams (SYNC, PSYNC): passed on unparsed.
	{name: "SYNC: keep-alives, an RDB payload without CRLF and the replicated commands pass on",
		setup: func(h *harness) {
			n := h.c.Node(0)
			n.Handle("SYNC", func(c *proxytest.Conn, _ []string) bool {
				c.Write("\n")
				c.Flush() // a keep-alive while the node prepares the RDB
				c.Write("$5\r\nREDIS")
				return true
			})
			// The node replicates a command when its replica acknowledges.
			n.Handle("REPLCONF", func(c *proxytest.Conn, args []string) bool {
				c.Write("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + strconv.Itoa(len(args[2])) + "\r\n" + args[2] + "\r\n")
				return true
			})
		},
		send: []string{"PING", "SYNC", "REPLCONF ACK 0"},
		want: []string{"+PONG"},
		then: func(h *harness, cl *client) {
			cl.expectRaw("\n$5\r\nREDIS*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n0\r\n")
			cl.send("REPLCONF ACK 5")
			cl.expectRaw("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n")
		}},
	{name: "PSYNC refused: the connection goes on as before",
		setup: func(h *harness) {
			h.c.Node(0).Handle("PSYNC", func(c *proxytest.Conn, _ []string) bool {
				c.Write("-NOPERM this user has no permissions to run the 'psync' command\r\n")
				return true
			})
		},
		send: []string{"PSYNC ? -1", "GET {k1}", "PING"},
		want: []string{"-NOPERM this user has no permissions to run the 'psync' command", "-MOVED {s1} {n1}", "+PONG"}},

	// Nodes that fail.
	{name: "node closes mid-reply: the replies before, then a close",
		setup: func(h *harness) { h.c.Node(0).Handle("GET", closeMidReply) },
		send:  []string{"SET {k0} 1", "INCR {k0}", "GET {k0}"},
		want:  []string{"+OK", ":2"},
		then:  func(h *harness, cl *client) { cl.closed() }},
	{name: "node closes mid-way through a streamed reply",
		setup: func(h *harness) { h.c.Node(0).Handle("GET", closeMidLargeReply) },
		send:  []string{"GET {k0}"},
		then: func(h *harness, cl *client) {
			got := readUntilClosed(h.t, cl)
			if !strings.HasPrefix(got, "$100000\r\n") || len(got) < 32<<10 || len(got) >= 100000 {
				h.t.Fatalf("got %d bytes (%.20q…), want the first 32 KiB or more of the reply, then a close", len(got), got)
			}
		}},
	{name: "large reply streamed before the node finishes it",
		setup: func(h *harness) { h.c.Node(0).Handle("GET", largeReplyInTwoParts(h.release)) },
		send:  []string{"GET {k0}", "PING"},
		then: func(h *harness, cl *client) {
			cl.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for len(cl.buf) < 32<<10 {
				p := make([]byte, 64<<10)
				n, err := cl.c.Read(p)
				if err != nil {
					h.t.Fatalf("the first part of the reply did not arrive before the rest: %v (%d bytes)", err, len(cl.buf))
				}
				cl.buf = append(cl.buf, p[:n]...)
			}
			close(h.release)
			h.expect(cl, "$200000\n"+strings.Repeat("a", 100000)+strings.Repeat("b", 100000), "+PONG")
		}},
	{name: "node garbage: the connection closes",
		setup: func(h *harness) {
			h.c.Node(0).Handle("GET", func(c *proxytest.Conn, _ []string) bool { c.Write("?garbage\r\n"); return true })
		},
		send: []string{"GET {k0}"},
		then: func(h *harness, cl *client) { cl.closed() }},
	{name: "node garbage after good replies: they arrive, then the close",
		setup: func(h *harness) {
			h.c.Node(0).Handle("GET", func(c *proxytest.Conn, _ []string) bool { c.Write("?garbage\r\n"); return true })
		},
		send: []string{"SET {k0} 1", "INCR {k0}", "GET {k0}"},
		want: []string{"+OK", ":2"},
		then: func(h *harness, cl *client) { cl.closed() }},
	{name: "node crash closes its clients",
		send: []string{"PING"}, want: []string{"+PONG"},
		then: func(h *harness, cl *client) {
			h.c.Node(0).Close()
			cl.closed()
		}},

	// Upstream connections: own, shared, pinned.
	{name: "own upstream connection per client", mode: "own",
		send: []string{"GET {k0}"}, want: []string{"$-1"},
		then: func(h *harness, cl *client) {
			other := h.dial(0)
			other.send("GET {k0}")
			h.expect(other, "$-1")
			if ids := connIDs(h.c.Node(0), "GET"); len(ids) != 2 || ids[0] == ids[1] {
				h.t.Fatalf("node connections of the two GETs: %v, want two different ones", ids)
			}
		}},
	{name: "clients share upstreams until a stateful command", mode: "shared",
		send: []string{"GET {k0}"}, want: []string{"$-1"},
		then: func(h *harness, cl *client) {
			for range 4 {
				other := h.dial(0)
				other.send("GET {k0}")
				h.expect(other, "$-1")
			}
			cl.send("ASKING", "GET {k0}")
			h.expect(cl, "+OK", "$-1")
			ids := connIDs(h.c.Node(0), "GET")
			shared := slices.Compact(slices.Sorted(slices.Values(ids[:5])))
			if len(ids) != 6 || len(shared) != proxy.SharedPerNode || slices.Contains(shared, ids[5]) {
				h.t.Fatalf("node connections of the GETs: %v, want the first five on %d shared ones, the last on its own",
					ids, proxy.SharedPerNode)
			}
		}},
	{name: "pinned mid-pipeline: order and connection state kept", mode: "shared",
		send: []string{"SET {k0} 1", "GET {k0}", "MULTI", "INCR {k0}", "EXEC", "GET {k0}"},
		want: []string{"+OK", "$1\n1", "+OK", "+QUEUED", "*1\n:2", "$1\n2"},
		then: func(h *harness, cl *client) {
			cmds := h.c.Node(0).Commands()
			var names []string
			var conns []int64
			for _, c := range cmds {
				if proxyState[strings.ToUpper(c.Args[0])] {
					continue // a shared connection's start-up, the pinned one's replay
				}
				names = append(names, c.Args[0])
				conns = append(conns, c.Conn)
			}
			want := []string{"SET", "GET", "MULTI", "INCR", "EXEC", "GET"}
			if !slices.Equal(names, want) || conns[0] != conns[1] || conns[2] == conns[1] ||
				conns[2] != conns[3] || conns[2] != conns[4] || conns[2] != conns[5] {
				h.t.Fatalf("node got %v on connections %v, want %v: two shared, then all on the own", names, conns, want)
			}
		}},
	{name: "pin that cannot dial: the replies before, then a close", mode: "shared",
		config: func(h *harness, c *proxy.Config) {
			var dials atomic.Int32
			c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if addr == h.c.Node(0).Addr && dials.Add(1) > 1 {
					return nil, &net.OpError{Op: "dial", Net: network, Err: errRefused}
				}
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
		},
		send: []string{"SET {k0} 1", "ASKING", "GET {k0}"},
		want: []string{"+OK"},
		then: func(h *harness, cl *client) { cl.closed() }},
	{name: "shared upstream lost: every client on it closed", mode: "shared",
		send: []string{"PING"}, want: []string{"+PONG"},
		then: func(h *harness, cl *client) {
			other := h.dial(0)
			other.send("PING")
			h.expect(other, "+PONG")
			h.c.Node(0).Close()
			cl.closed()
			other.closed()
		}},

	{name: "Listen and Dial hooks open every listener and upstream connection",
		config: func(h *harness, c *proxy.Config) {
			h.hooks = map[string]int{}
			c.Listen = func(network, addr string) (net.Listener, error) {
				h.mu.Lock()
				h.hooks["listen "+network]++
				h.mu.Unlock()
				return net.Listen(network, addr)
			}
			c.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				h.mu.Lock()
				h.hooks["dial "+addr]++
				h.mu.Unlock()
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
		},
		send: []string{"PING"}, want: []string{"+PONG"},
		then: func(h *harness, cl *client) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.hooks["listen tcp"] != 3 || h.hooks["dial "+h.c.Node(0).Addr] != 1 || len(h.hooks) != 2 {
				h.t.Fatalf("hooks called: %v, want 3 listens and 1 dial of node 0", h.hooks)
			}
		}},

	// What the Observer sees.
	{name: "observer: every command once, in order, with its outcome",
		config: func(h *harness, c *proxy.Config) { c.Observer = &h.events },
		policy: on("GET inj", proxy.Action{Kind: proxy.Reply, Reply: []byte("-TRYAGAIN x\r\n"), Fault: "f1"}),
		send:   []string{"SET {k0} 1", "GET {k1}", "GET inj", "GET {k0}", "GET {k0}"},
		want:   []string{"+OK", "-MOVED {s1} {n1}", "-TRYAGAIN x", "$1\n1", "$1\n1"},
		then: func(h *harness, cl *client) {
			var got []string
			deadline := time.Now().Add(5 * time.Second)
			for len(got) < 5 && time.Now().Before(deadline) {
				got = got[:0]
				for _, ev := range h.events.commands() {
					got = append(got, ev.Command+" "+ev.Key+" "+string(ev.Reply)+" "+ev.Err+" "+ev.Fault)
				}
				time.Sleep(5 * time.Millisecond)
			}
			want := []string{"SET {k0} +  ", "GET {k1} - MOVED {s1} {n1} ", "GET inj - TRYAGAIN x f1", "GET {k0} $  ", "GET {k0} $  "}
			for i := range want {
				want[i] = h.expand(want[i])
			}
			if !slices.Equal(got, want) {
				h.t.Fatalf("events:\n%q\nwant\n%q", got, want)
			}
		}},
}

const (
	hello3 = "%7\n$6\nserver\n$5\nredis\n$7\nversion\n$6\n7.0.15\n$5\nproto\n:3\n$2\nid\n:{hid}\n" +
		"$4\nmode\n$7\ncluster\n$4\nrole\n$6\nmaster\n$7\nmodules\n*0"
	hello2 = "*14\n$6\nserver\n$5\nredis\n$7\nversion\n$6\n7.0.15\n$5\nproto\n:2\n$2\nid\n:{hid}\n" +
		"$4\nmode\n$7\ncluster\n$4\nrole\n$6\nmaster\n$7\nmodules\n*0"
	// CLUSTER NODES of node 1 (3 masters, 1 replica each), rewritten.
	nodesText = "{id0} {n0}@0 master - 0 0 1 connected 0-5460\n" +
		"{id1} {n1}@0 myself,master - 0 0 1 connected 5461-10921\n" +
		"{id2} {n2}@0 master - 0 0 1 connected 10922-16383\n" +
		"{id3} {n3}@0 slave {id0} 0 0 1 connected\n" +
		"{id4} {n4}@0 slave {id1} 0 0 1 connected\n" +
		"{id5} {n5}@0 slave {id2} 0 0 1 connected\n"
)

var errRefused = &net.AddrError{Err: "connection refused (test)"}

// closeMidReply answers GET with part of a reply, then closes.
func closeMidReply(c *proxytest.Conn, _ []string) bool {
	c.Write("$10\r\nhal")
	c.Flush()
	c.Close()
	return true
}

// closeMidLargeReply answers GET with the first 40,000 bytes of a
// 100,000-byte value, then closes.
func closeMidLargeReply(c *proxytest.Conn, _ []string) bool {
	c.Write("$100000\r\n" + strings.Repeat("x", 40000))
	c.Flush()
	c.Close()
	return true
}

// largeReplyInTwoParts answers GET with a 200,000-byte value, the second
// half once release is closed.
func largeReplyInTwoParts(release chan struct{}) proxytest.Handler {
	return func(c *proxytest.Conn, _ []string) bool {
		c.Write("$200000\r\n" + strings.Repeat("a", 100000))
		c.Flush()
		select {
		case <-release:
		case <-c.Done():
			return true
		}
		c.Write(strings.Repeat("b", 100000) + "\r\n")
		return true
	}
}
