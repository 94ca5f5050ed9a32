package proxy

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// clientConn is one client connection: what its two loops (clientSide and
// replySide, each with its own state) and the Server share. Every field is
// either set before the loops start and never changed, safe for concurrent
// use, or documented with who writes it.
type clientConn struct {
	s  *Server
	nd *node
	c  net.Conn // the client: the client loop reads, the reply loop writes, closeWith closes

	// Set by serve before the loops start.
	up     *upstream    // the primary upstream
	shared *sharedConn  // up.c when the server shares upstreams (then also once pinned)
	ownID  atomic.Int64 // with shared upstreams, once pinned: its own connection's client id on the node
	// Its own upstream connection's local address, the addr= the node shows
	// for it (set once connected, or once pinned).
	upAddr atomic.Pointer[string]

	info     atomic.Pointer[ConnInfo] // current snapshot; replaced (never modified) by the client loop
	q        queue                    // entries from the client loop to the reply loop
	ups      upstreamSet              // every upstream connection, closed with the connection
	draining atomic.Bool              // Shutdown: stop reading, deliver what is in flight

	closeOnce sync.Once
	done      chan struct{} // closed when the connection ends

	// A blocking command waiting for its reply (slot+1; 0: none): stored by
	// the client loop once it is queued, cleared by the reply loop when it is
	// answered; the reply Interrupt asks to answer it with instead.
	blocked    atomic.Int64
	blockedCmd atomic.Pointer[CommandInfo]
	interrupt  atomic.Pointer[[]byte]
}

func (s *Server) newClientConn(nd *node, nc net.Conn) *clientConn {
	info := &ConnInfo{
		ID:     s.nextID.Add(1),
		Node:   nd.addr,
		NodeID: nd.id,
		Listen: nd.listen,
		Client: nc.RemoteAddr(),
		Since:  time.Now(),
	}
	c := &clientConn{s: s, nd: nd, c: nc, done: make(chan struct{})}
	c.info.Store(info)
	return c
}

// serve runs one client connection until it ends: it connects the primary
// upstream, then runs the reply loop and the client loop.
func (c *clientConn) serve() {
	defer c.s.wg.Done()
	s := c.s
	s.metrics.conns.WithLabelValues(c.nd.addr).Inc()
	defer s.metrics.conns.WithLabelValues(c.nd.addr).Dec()
	info := c.info.Load()
	s.observe(Event{Type: EventConnect, Time: info.Since, Conn: *info, Slot: -1})

	up, err := c.dialPrimary()
	var said *nodeSaid
	if errors.As(err, &said) {
		// The node answered a new connection with an error and closed it
		// (maxclients): so does the proxy.
		c.c.Write(said.reply)
		c.close("node closed the connection: " + said.Error())
		s.forget(c)
		return
	}
	if err != nil {
		// The node is unreachable: the client sees its connection dropped.
		s.metrics.upstreamErrors.WithLabelValues(c.nd.addr, "dial").Inc()
		s.log.Debug("upstream dial failed", "node", c.nd.addr, "err", err)
		if errors.Is(err, syscall.ECONNREFUSED) {
			s.upstreamRefused(c.nd)
		}
		c.closeWith("upstream unreachable: "+err.Error(), true)
		s.forget(c)
		return
	}
	// The connection may have been closed (reset by a down fault, the proxy
	// closing) while the node was being dialed: then add closes up.
	if !c.ups.add(up.c) {
		s.forget(c)
		return
	}
	c.up = up
	if c.shared == nil {
		a := up.c.LocalAddr().String()
		c.upAddr.Store(&a)
		s.metrics.upstreams.WithLabelValues(c.nd.addr, "own").Inc()
	}
	defer func() {
		if c.shared == nil || c.shared.pinned() != nil {
			s.metrics.upstreams.WithLabelValues(c.nd.addr, "own").Dec()
		}
	}()
	replies := make(chan struct{})
	go newReplySide(c).run(replies)
	newClientSide(c).run()
	<-replies
	s.forget(c)
}

// dialPrimary connects the client's upstream: its own connection, or a
// shared one when the server shares them (then c.shared is set).
func (c *clientConn) dialPrimary() (*upstream, error) {
	if c.s.shared == nil {
		nc, err := c.s.dialNode(c.nd.addr)
		if err != nil {
			return nil, err
		}
		return newUpstream(c.nd.addr, nc), nil
	}
	vc, err := c.s.shared.attach(c.nd.addr, c.s.dialNode)
	if err != nil {
		return nil, err
	}
	c.shared = vc
	return newUpstream(c.nd.addr, vc), nil
}

// dialNode opens a connection to a node (with TLS if configured).
func (s *Server) dialNode(addr string) (net.Conn, error) {
	return s.dialContext(context.Background(), addr)
}

// dialContext is dialNode within ctx.
func (s *Server) dialContext(ctx context.Context, addr string) (net.Conn, error) {
	nc, err := s.dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	if s.cfg.UpstreamTLS != nil {
		host, _, _ := net.SplitHostPort(addr)
		cfg := s.cfg.UpstreamTLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		nc = tlsClient(nc, cfg)
	}
	return nc, nil
}

// dialTCP connects to a node within DialTimeout, with Config.Dial if set.
func (s *Server) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	if s.cfg.Dial == nil {
		d := net.Dialer{Timeout: s.cfg.DialTimeout}
		return d.DialContext(ctx, "tcp", addr)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	return s.cfg.Dial(ctx, "tcp", addr)
}

// push appends entries to the queue (the client loop's only way to reach
// the reply loop) and wakes the reply loop if it must answer one of them
// without a reply from the node. A blocking command for the primary
// upstream is marked blocked once its entry is queued, so that Interrupt
// finds it in the queue.
func (c *clientConn) push(es []entry) {
	var blocking *entry
	for i := range es {
		if e := &es[i]; e.primary() && e.cmd != nil && e.cmd.Blocking {
			blocking = e
		}
	}
	var cmd *CommandInfo
	var slot int
	if blocking != nil {
		cmd, slot = blocking.cmd, blocking.slot
	}
	if c.q.push(es) {
		c.up.c.SetReadDeadline(time.Now())
	}
	if cmd != nil {
		c.interrupt.Store(nil) // one meant for a blocking command before, too late
		c.blockedCmd.Store(cmd)
		c.blocked.Store(int64(slot) + 1)
	}
}

// drain makes the client loop stop reading; the reply loop closes the
// connection once every reply in flight is delivered.
func (c *clientConn) drain() {
	c.draining.Store(true)
	c.c.SetReadDeadline(time.Now())
}

// close ends the connection (FIN to the client).
func (c *clientConn) close(reason string) { c.closeWith(reason, false) }

// reset ends the connection with an RST, as a crashed node does.
func (c *clientConn) reset(reason string) { c.closeWith(reason, true) }

// closeWith ends the connection: any goroutine may call it, the first call
// wins. Both loops see their connections fail and end.
func (c *clientConn) closeWith(reason string, rst bool) {
	c.closeOnce.Do(func() {
		close(c.done)
		if rst {
			if tc, ok := c.c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
		}
		c.c.Close()
		c.ups.close()
		// Commands still waiting for a reply never get one: their outcome is
		// unknown to the client (it may retry them).
		if c.s.cfg.Observer != nil {
			for _, e := range c.q.abandon() {
				for j := range max(int(e.n), 1) {
					ev := c.event(&e, j, EventCommand, nil)
					ev.Reason = "no reply: " + reason
					c.s.observe(ev)
				}
			}
		}
		c.s.observe(Event{Type: EventClose, Time: time.Now(), Conn: *c.info.Load(), Slot: -1, Reason: reason})
	})
}

// Interrupt offers every connection blocked in a blocking command (BLPOP…)
// to decide: decide returns the reply to answer it with now (e.g.
// "-CLUSTERDOWN …", "-MOVED …"), or nil to leave it blocked. It returns how
// many were interrupted.
func (s *Server) Interrupt(decide func(info *ConnInfo, cmd *CommandInfo, slot int) []byte) int {
	s.mu.Lock()
	var blocked []*clientConn
	for c := range s.conns {
		if c.blocked.Load() != 0 {
			blocked = append(blocked, c)
		}
	}
	s.mu.Unlock()
	n := 0
	for _, c := range blocked {
		b := c.blocked.Load()
		ci := c.blockedCmd.Load()
		if b == 0 || ci == nil {
			continue
		}
		r := decide(c.info.Load(), ci, int(b-1))
		if r == nil {
			continue
		}
		c.interrupt.Store(&r)
		if c.blocked.Load() == 0 {
			// Answered meanwhile: the reply is for no command.
			c.interrupt.CompareAndSwap(&r, nil)
			continue
		}
		if c.up != nil {
			c.up.c.SetReadDeadline(time.Now())
		}
		n++
	}
	return n
}

// unblock asks the node to unblock the command waiting on one upstream
// connection (CLIENT UNBLOCK of the connection's client id, found by its
// address in CLIENT LIST). Without it the next commands of that client would
// wait for the blocking command's own timeout.
func (s *Server) unblock(up *upstream) {
	s.wg.Add(1)
	go s.unblockClient(up.addr, up.c.LocalAddr().String())
}

// unblockClient unblocks the client at local on the node at addr.
func (s *Server) unblockClient(addr, local string) {
	defer s.wg.Done()
	cl := s.controlClient(addr)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DialTimeout)
	defer cancel()
	list, err := cl.ClientList(ctx).Result()
	if err != nil {
		s.log.Warn("CLIENT LIST for unblock", "node", addr, "err", err)
		return
	}
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " addr="+local+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := cl.Do(ctx, "CLIENT", "UNBLOCK", id).Err(); err != nil {
					s.log.Warn("CLIENT UNBLOCK", "node", addr, "err", err)
				}
				return
			}
		}
	}
}
