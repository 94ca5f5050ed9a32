// Package proxy stands in front of a Redis Cluster as the cluster itself: one
// listener per real node, replies rewritten so that clients only ever learn
// proxy addresses, and every command offered to a Policy that may delay it,
// answer it in the node's place, hold it, close the connection or run it on
// another node. An Observer sees every command and its outcome.
//
//	srv, err := proxy.New(proxy.Config{
//		Seeds:    []string{"10.0.0.5:6379"}, // any node of the real cluster
//		BasePort: 7001,                      // the nodes, sorted by address, get 7001, 7002, …
//		Policy:   faults,                    // what to do with each command; nil forwards all
//		Observer: checker,                   // where events go; nil records none
//	})
//	if err != nil {
//		return err
//	}
//	if err := srv.Start(ctx); err != nil { // discovers the cluster, opens the listeners
//		return err
//	}
//	defer srv.Close()
//	for _, n := range srv.Nodes() {
//		fmt.Println(n.Addr, "is served at", n.Announce) // what clients connect to
//	}
//	srv.SetDown("10.0.0.5:6379", true) // its port refuses, its clients are reset
//	...
//	srv.Shutdown(ctx) // stop reading, deliver the replies in flight, close
//
// # Data path
//
// Each client connection has two goroutines: the client loop reads commands
// and forwards them, the reply loop sends the replies back. They share one
// queue, with an entry per command (or run of plain commands) saying what its
// reply will be:
//
//	client ──▶ client loop ──(commands, in order)──▶ upstream node
//	              │ push entry per command
//	              ▼
//	          queue [e1 e2 e3 …]   (what each reply will be: from the node,
//	              │                 injected by a fault, or none)
//	              ▼
//	client ◀── reply loop ◀──(replies, scanned one by one)── upstream node
//
// The client loop never waits for a reply before reading the next command
// (full pipelining). The reply loop emits replies strictly in queue order, so
// replies are never reordered, lost or duplicated, whether they come from the
// node, from another node (Action.Route) or from a fault (Action.Reply). A
// reply that carries node addresses (MOVED/ASK, CLUSTER SLOTS/SHARDS/NODES,
// ROLE, INFO, EXEC results…) is rewritten; any other passes unchanged,
// straight from the upstream's read buffer.
//
// SYNC and PSYNC that the node accepts turn the connection into a
// replication stream: the RDB payload (a bulk string without its final
// CRLF) and the commands the node replicates go to the client unparsed, and
// the client's commands (REPLCONF ACK) to the node as they came, with no
// queue entry, Policy or Observer.
//
// The types say who owns what: clientSide is the client loop's state (the
// command reader, the batch of entries and bytes for the node, MULTI and
// ASKING tracking, other nodes' connections), replySide the reply loop's
// (the upstream's reply buffer, the entry being answered, streaming, metric
// counts), queue is all they share besides the client connection itself
// (clientConn), and details is what the client loop records for the
// Observer, in arenas the reply loop's delivered count frees.
//
// # Shared upstream connections
//
// With Config.ShareUpstreams, client connections share a few upstream
// connections per node until their first command that reads or changes
// connection state (MULTI, AUTH, HELLO, SELECT, blocking and pub/sub
// commands…), when they move to their own (see sharable and sharedConn).
// To the reply loop a shared upstream is just its upstream net.Conn:
//
//	client loops ──send(b, n)──▶ sharedUp ──(one write, many clients)──▶ node
//	                               │ waiters [c1×3 c2×1 …]
//	                               ▼
//	reply loops ◀──Read── sharedConn inbox ◀── readLoop ◀──(replies)── node
//
// # Faults
//
// The proxy knows nothing of faults: a Policy decides each command's Action
// (Forward, Reply, Hang, Close, with an optional Delay or Route), SetDown
// closes a node's port, ResetConns resets its clients, and Interrupt answers
// blocked commands (BLPOP…) in the node's place. A Delay counts from when
// the command was read, so a pipeline is delayed once, as by a slow network.
// While a Hang holds a connection, its socket is watched without being read
// (hold.go): the Observer learns of each command the client writes behind
// the held one, and of a client that gives up and closes.
//
// # Testing
//
// Config.Topology, Config.Dial and Config.Listen replace what the proxy
// would otherwise learn from the cluster and open on the network, so the
// data path can be tested against in-memory nodes (package proxytest)
// without redis-server:
//
//	c := proxytest.NewCluster(t, 3, 1) // 3 masters with a replica each
//	srv, _ := proxy.New(proxy.Config{Topology: c, BasePort: -1})
package proxy
