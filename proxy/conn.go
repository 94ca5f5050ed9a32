package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"hash/maphash"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// The data path of one client connection:
//
//	client ──▶ clientLoop ──(commands, in order)──▶ upstream node
//	              │ push entry per command
//	              ▼
//	          queue [e1 e2 e3 …]   (what each reply will be: from the node,
//	              │                 injected by a fault, or none)
//	              ▼
//	client ◀── replyLoop ◀──(replies, scanned one by one)── upstream node
//
// The client loop never waits for a reply before reading the next command
// (full pipelining). The reply loop emits replies strictly in queue order, so
// replies are never reordered, lost or duplicated, whether they come from the
// node, from another node (Action.Route) or from a fault (Action.Reply).
//
// Sharing upstream connections between clients (SPEC §9, "beyond the floor";
// Config.ShareUpstreams) fits this shape: the primary upstream's net.Conn is
// then a sharedConn (shared.go), whose reads return this connection's replies
// from a connection many clients write to, and the client loop pins the
// connection to its own upstream before its first stateful command.

type entryKind uint8

const (
	entUpstream entryKind = iota // the reply comes from an upstream connection
	entInjected                  // the reply is entry.data
	entNone                      // no reply (RESP3 subscribe family: pushes only)
	entClose                     // close the connection once everything before is sent
)

type entry struct {
	kind   entryKind
	n      int32     // entUpstream: replies this entry stands for (consecutive plain commands merge)
	up     *upstream // entUpstream: nil means the primary upstream
	rw     topology.Kind
	exec   []topology.Kind // EXEC: the kinds of the queued commands
	unpair bool            // replies stop being paired after this command (RESP2 pub/sub, MONITOR, CLIENT REPLY)
	cmd    *CommandInfo
	start  time.Time
	data   []byte
	info   *ConnInfo
	fault  string
	slot   int // blocking commands, and every command when observing
	// recorded for the Observer only
	sub    string
	det    []cmdDetail // one per command (n of them), from the read's details
	queued int
}

// cmdDetail is what the Observer learns of one command beyond its entry.
// The details of one read are consecutive in an arena (detailArena).
type cmdDetail struct {
	key  []byte // first key, nil if keyless (in the connection's arena: copy to keep)
	hash uint64 // of the command's exact bytes
	slot int32  // -1 if keyless; slotLater if not computed yet
	args int32
}

// upstream is one connection to a real node with its reply buffer.
type upstream struct {
	addr string
	host string
	c    net.Conn
	replyBuf
	streaming bool // part of the current reply was already sent on
}

// replyBuf holds what was read from a node and not yet handed on.
type replyBuf struct {
	buf   []byte
	start int
	end   int
	sc    resp.Scanner
}

func (u *upstream) readMore() (int, error) { return u.readFrom(u.c) }

// readFrom reads more from r after what the buffer holds (see upstreamBufSize).
func (b *replyBuf) readFrom(r io.Reader) (int, error) {
	if b.start == b.end {
		b.start, b.end = 0, 0
		if len(b.buf) > 64<<10 {
			b.buf = make([]byte, upstreamBufSize)
		}
	} else if b.start > 0 && b.end == len(b.buf) {
		n := copy(b.buf, b.buf[b.start:b.end])
		b.start, b.end = 0, n
	}
	if b.end == len(b.buf) {
		nb := make([]byte, 2*len(b.buf))
		copy(nb, b.buf[b.start:b.end])
		b.end -= b.start
		b.start = 0
		b.buf = nb
	}
	n, err := r.Read(b.buf[b.end:])
	b.end += n
	return n, err
}

// readReply reads one whole reply (used for secondary upstreams only).
func (u *upstream) readReply() ([]byte, error) {
	for {
		if u.start < u.end {
			n, err := u.sc.Scan(u.buf[u.start:u.end])
			if err != nil {
				return nil, err
			}
			if n > 0 {
				r := u.buf[u.start : u.start+n]
				u.start += n
				return r, nil
			}
		}
		if _, err := u.readMore(); err != nil {
			return nil, err
		}
	}
}

// Buffers start small so that idle connections cost little; they grow with
// what passes through and shrink back once a large reply is gone.
const upstreamBufSize = 4 << 10

var hashSeed = maphash.MakeSeed()

type clientConn struct {
	s    *Server
	nd   *node
	c    net.Conn
	info atomic.Pointer[ConnInfo] // current snapshot; replaced (never modified) by the client loop
	up   *upstream
	w    *replyWriter // reply loop only

	routes map[string]*upstream // secondary upstreams, created by the client loop

	shared  *sharedConn // up.c when the server shares upstreams (then also once pinned)
	sharing bool        // client loop: commands still go on the shared connection

	// client loop only, when observing: what details needs
	cis    []*CommandInfo
	arenas [2]*detailArena
	arena  int // the one in use
	// the last command looked up
	lastTable *commandTable
	lastName  [16]byte
	lastLen   uint8
	lastCI    *CommandInfo

	// MULTI … EXEC: the kinds of the queued commands, so that an address in
	// any result of EXEC is rewritten too (client loop only).
	inMulti bool
	queued  []topology.Kind

	mu      sync.Mutex
	q       []entry
	qhead   int
	primary int // entUpstream entries for the primary in the queue
	// commands pushed (client loop, under mu) and whose replies reached the
	// client's socket (reply loop, after each flush): the difference is what
	// a new command finds outstanding (Event.Queued).
	pushed    int64
	delivered atomic.Int64
	unpaired  bool // set by the reply loop
	draining  bool

	closeOnce sync.Once
	done      chan struct{}
	closed    bool // under mu: closeWith ran (set with the closing of up and routes)

	// reply loop only: the time of the last read from the node (replies that
	// arrive together share it) and per-connection metric counts, added to
	// the shared counters once per batch.
	replyNow time.Time
	stats    map[statKey]*localStat
	dirty    []*localStat
	cur      entry      // the entry being answered by the primary upstream
	answered int64      // replies written (to c.w)
	curN     int        // replies cur still waits for
	curStat  *localStat // cur's ok count
	lastKey  statKey    // stat's one-entry cache
	lastStat *localStat
	lat      localLatency // latencies since the last flushStats
	nodeLat  *nodeLatency
	discard  int // replies of interrupted blocking commands still to drop
	// replies of cur counted but not yet reported to the BulkObserver: cur's
	// commands bulkFirst … bulkFirst+bulkN-1, whose replies start with bulkReply
	bulkFirst int
	bulkN     int
	bulkReply byte
	bulkRec   Bulk // reused: handing a fresh one to an interface would allocate

	// A blocking command waiting for its reply (slot+1; 0: none), and the
	// reply that Interrupt asks to answer it with instead.
	blocked    atomic.Int64
	blockedCmd atomic.Pointer[CommandInfo]
	interrupt  atomic.Pointer[[]byte]
}

type statKey struct {
	cmd     *CommandInfo
	outcome uint8
}

type localStat struct {
	cc *cmdCounters
	n  float64
}

var outcomes = [...]string{"ok", "error", "injected"}

// stat returns the connection's count of one command and outcome.
func (c *clientConn) stat(ci *CommandInfo, outcome uint8) *localStat {
	key := statKey{ci, outcome}
	if c.lastStat != nil && c.lastKey == key {
		return c.lastStat
	}
	defer func() { c.lastKey, c.lastStat = key, c.stats[key] }()
	ls := c.stats[key]
	if ls == nil {
		name := "other"
		if ci != nil {
			name = ci.Name
		}
		if c.stats == nil {
			c.stats = map[statKey]*localStat{}
		}
		ls = &localStat{cc: c.s.metrics.counters(c.nd.addr, name, outcomes[outcome])}
		c.stats[key] = ls
	}
	return ls
}

// flushStats adds the connection's counts to the shared counters.
func (c *clientConn) flushStats() {
	c.lat.flush(c.nodeLat)
	for _, ls := range c.dirty {
		ls.cc.count.Add(ls.n)
		ls.n = 0
	}
	c.dirty = c.dirty[:0]
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
	c := &clientConn{s: s, nd: nd, c: nc, done: make(chan struct{}), nodeLat: s.metrics.latency.node(nd.addr)}
	c.info.Store(info)
	return c
}

// serve runs one client connection until it ends.
func (c *clientConn) serve() {
	defer c.s.wg.Done()
	s := c.s
	s.metrics.conns.WithLabelValues(c.nd.addr).Inc()
	defer s.metrics.conns.WithLabelValues(c.nd.addr).Dec()
	info := c.info.Load()
	s.observe(Event{Type: EventConnect, Time: info.Since, Conn: *info, Slot: -1})

	up, err := c.dialPrimary()
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
	// closing) while the node was being dialed: then nothing else will close
	// this upstream, so close it here.
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		up.c.Close()
		s.forget(c)
		return
	}
	c.up = up
	c.sharing = c.shared != nil
	c.mu.Unlock()
	if !c.sharing {
		s.metrics.upstreams.WithLabelValues(c.nd.addr, "own").Inc()
	}
	defer func() {
		if c.shared == nil || c.shared.pinned() != nil {
			s.metrics.upstreams.WithLabelValues(c.nd.addr, "own").Dec()
		}
	}()
	c.w = &replyWriter{conn: c.c}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.replyLoop()
	}()
	c.clientLoop()
	wg.Wait()
	s.forget(c)
}

func (c *clientConn) dial(addr string) (*upstream, error) {
	nc, err := c.s.dialNode(addr)
	if err != nil {
		return nil, err
	}
	return newUpstream(addr, nc), nil
}

func newUpstream(addr string, nc net.Conn) *upstream {
	host, _, _ := net.SplitHostPort(addr)
	return &upstream{addr: addr, host: host, c: nc, replyBuf: replyBuf{buf: make([]byte, upstreamBufSize)}}
}

// dialPrimary connects the client's upstream: its own connection, or a
// shared one when the server shares them (then c.shared is set).
func (c *clientConn) dialPrimary() (*upstream, error) {
	if c.s.shared == nil {
		return c.dial(c.nd.addr)
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
	d := net.Dialer{Timeout: s.cfg.DialTimeout}
	nc, err := d.Dial("tcp", addr)
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

// writeUp writes n commands to the primary upstream.
func (c *clientConn) writeUp(b []byte, n int) error {
	if c.shared != nil {
		return c.shared.send(b, n)
	}
	_, err := c.up.c.Write(b)
	return err
}

// pin moves a client that shares its upstream to its own connection, before
// its first command that may not be shared (shared.go). It reports false if
// the connection is ending: when the own connection cannot be dialed, the
// client gets the replies before and then a close, as when a node drops a
// connection; when the shared connection failed (or the client closed), the
// reply loop ends the connection after the replies it has.
func (c *clientConn) pin() bool {
	err := c.shared.pin(func() (net.Conn, error) { return c.s.dialNode(c.nd.addr) })
	if err == nil {
		c.sharing = false
		c.s.metrics.upstreams.WithLabelValues(c.nd.addr, "own").Inc()
		return true
	}
	var de *pinDialError
	if errors.As(err, &de) {
		c.s.metrics.upstreamErrors.WithLabelValues(c.nd.addr, "dial").Inc()
		c.s.log.Debug("upstream dial failed", "node", c.nd.addr, "err", err)
		c.push([]entry{{kind: entClose}})
	}
	return false
}

// clientLoop reads commands from the client and forwards them.
func (c *clientConn) clientLoop() {
	s := c.s
	pc := new(Command)
	rd := resp.NewCommandReader(c.c)
	rd.MaxQuery = s.cfg.MaxQueryBuffer
	rd.MaxBulk = s.cfg.MaxBulk
	var out outBuf
	batch := make([]entry, 0, 64)
	for {
		cmds, err := rd.Read()
		if err != nil {
			c.readFailed(err)
			return
		}
		table := s.commands.Load()
		policy := s.cfg.Policy
		tracking := policy != nil
		if qp, ok := policy.(QuietPolicy); ok && qp.Quiet() {
			policy = nil
		}
		observing := s.cfg.Observer != nil
		// One clock read per batch: every command of a pipeline read at once
		// shares its start time.
		var batchStart time.Time
		if observing || policy != nil || s.metrics.timed {
			batchStart = time.Now()
		}
		var dets []cmdDetail
		if observing {
			dets = c.details(table, cmds, policy != nil)
		}
		for i := range cmds {
			cmd := &cmds[i]
			if len(cmd.Args) == 0 {
				continue
			}
			var ci *CommandInfo
			if observing {
				ci = c.cis[i]
			} else {
				ci = c.lookup(table, cmd.Args[0])
			}
			e := entry{cmd: ci, rw: topology.CommandKind(cmd.Args), info: c.info.Load(), slot: -1}
			e.start = batchStart
			c.track(ci, cmd.Args, &e)
			if observing {
				e.det = dets[i : i+1]
				e.slot = int(dets[i].slot)
				e.sub = subcommand(ci, cmd.Args)
			} else if ci != nil && ci.Blocking {
				e.slot = slotOf(ci, cmd.Args)
			}
			if ci != nil && ci.Blocking {
				c.blockedCmd.Store(ci)
				c.blocked.Store(int64(e.slot) + 1)
			}
			route := ""
			if tracking && policy == nil {
				// A quiet Policy is not called, but must find Asking right
				// when it wakes.
				c.trackAsking(ci, c.info.Load())
			}
			if policy != nil {
				// One Command per connection, reused: handing a fresh one to an
				// interface would cost an allocation per command.
				*pc = Command{Args: cmd.Args, Raw: cmd.Raw, Info: ci, Slot: -1}
				if ci != nil {
					pc.Name = ci.Name
					if observing || ci.Blocking {
						pc.Slot = e.slot // computed once above
					} else {
						pc.Slot = slotOf(ci, cmd.Args)
					}
				}
				info := c.info.Load()
				act := policy.Command(info, pc)
				c.trackAsking(ci, info)
				if act.Kind != Forward || act.Delay > 0 || act.Route != "" {
					// Send what is queued before waiting or answering.
					if !c.send(&out, &batch) {
						return
					}
					e.fault = act.Fault
					if act.Delay > 0 && !c.sleep(act.Delay) {
						return
					}
					switch act.Kind {
					case Reply:
						e.kind, e.data = entInjected, act.Reply
						batch = append(batch, e)
						continue
					case Close:
						c.reset("fault: " + act.Fault)
						return
					case Hang:
						if observing {
							s.observe(c.event(&e, 0, EventHeld, nil))
						}
						select {
						case <-act.Release:
						case <-c.done:
							return
						}
					}
					route = act.Route
				}
			}
			if route != "" && route != c.nd.addr {
				u, err := c.route(route)
				if err != nil {
					s.metrics.upstreamErrors.WithLabelValues(route, "dial").Inc()
					c.reset("route to " + route + " failed")
					return
				}
				e.up = u
				if !c.send(&out, &batch) {
					return
				}
				batch = append(batch, e)
				c.push(batch)
				batch = batch[:0]
				if _, err := u.c.Write(cmd.Raw); err != nil {
					c.reset("write to " + route + " failed")
					return
				}
				continue
			}
			if c.sharing && !sharable(ci, cmd.Raw) {
				if !c.send(&out, &batch) || !c.pin() {
					return
				}
			}
			e.n = 1
			if k := len(batch) - 1; k >= 0 && mergeable(&batch[k], &e) {
				batch[k].n++
				if e.det != nil {
					batch[k].det = batch[k].det[:len(batch[k].det)+1]
				}
			} else {
				batch = append(batch, e)
			}
			if len(cmd.Raw) >= 64<<10 {
				// A large command goes out as it is, without a copy.
				c.push(batch)
				batch = batch[:0]
				if !c.send(&out, &batch) {
					return
				}
				if err := c.writeUp(cmd.Raw, 1); err != nil {
					c.close("upstream write: " + err.Error())
					return
				}
				continue
			}
			out.add(cmd.Raw)
			if out.size() >= 64<<10 {
				if !c.send(&out, &batch) {
					return
				}
			}
		}
		if !c.send(&out, &batch) {
			return
		}
	}
}

// mergeable reports whether e can be answered as part of prev: both plain
// commands of the same name for the primary upstream, nothing to rewrite,
// no fault; when observing, the next command of the same read (its details
// follow prev's in the read's array).
func mergeable(prev, e *entry) bool {
	if !(prev.kind == entUpstream && e.kind == entUpstream && prev.up == nil && e.up == nil &&
		prev.rw == topology.KindNone && e.rw == topology.KindNone && !prev.unpair && !e.unpair &&
		prev.exec == nil && e.exec == nil && prev.fault == "" && e.fault == "" &&
		prev.cmd == e.cmd && prev.start == e.start && prev.info == e.info && prev.n < 1<<30 &&
		(e.cmd == nil || !e.cmd.Blocking) && prev.sub == e.sub) {
		return false
	}
	if e.det == nil || prev.det == nil {
		return e.det == nil && prev.det == nil
	}
	n := len(prev.det)
	return n < cap(prev.det) && &prev.det[:n+1][n] == &e.det[0]
}

// send queues the batch's entries, then writes the commands upstream. The
// entries go first so that a reply never arrives before its entry.
func (c *clientConn) send(out *outBuf, batch *[]entry) bool {
	if len(*batch) > 0 {
		c.push(*batch)
		*batch = (*batch)[:0]
	}
	if out.size() == 0 {
		return true
	}
	err := c.writeUp(out.bytes(), out.n)
	out.reset()
	if err != nil {
		c.s.metrics.upstreamErrors.WithLabelValues(c.nd.addr, "write").Inc()
		c.close("upstream write: " + err.Error())
		return false
	}
	return true
}

// replyWriter is where the reply loop writes for the client: a buffered
// writer, and a run of the primary upstream's read buffer that passes
// unchanged (pass), which is sent from there, without a copy, when nothing
// else is buffered. The run is valid until the next read from the node: the
// reply loop flushes before it reads.
type replyWriter struct {
	bw      *bufio.Writer // made at the first Write (an error, a rewritten, injected or streamed reply): passed replies never need it
	conn    io.Writer     // what bw writes to
	pending []byte
}

func (w *replyWriter) buf() *bufio.Writer {
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(w.conn, 16<<10)
	}
	return w.bw
}

// pass adds bytes of the upstream's read buffer, sent in order after what
// was written before.
func (w *replyWriter) pass(p []byte) {
	if len(p) == 0 {
		return
	}
	if n := len(w.pending); n > 0 {
		if cap(w.pending) >= n+len(p) && &w.pending[:n+1][n] == &p[0] {
			w.pending = w.pending[:n+len(p)]
			return
		}
		w.buf().Write(w.pending)
	}
	w.pending = p
}

func (w *replyWriter) Write(p []byte) (int, error) {
	bw := w.buf()
	if len(w.pending) > 0 {
		bw.Write(w.pending)
		w.pending = nil
	}
	return bw.Write(p)
}

func (w *replyWriter) Buffered() int {
	if w.bw == nil {
		return len(w.pending)
	}
	return w.bw.Buffered() + len(w.pending)
}

func (w *replyWriter) Flush() error {
	if p := w.pending; len(p) > 0 {
		w.pending = nil
		if w.bw == nil || w.bw.Buffered() == 0 {
			if w.bw != nil {
				if err := w.bw.Flush(); err != nil {
					return err // an earlier write failed: bufio keeps its error
				}
			}
			n, err := w.conn.Write(p)
			if err == nil && n < len(p) {
				err = io.ErrShortWrite
			}
			return err
		}
		w.bw.Write(p)
	}
	if w.bw == nil {
		return nil
	}
	return w.bw.Flush()
}

// outBuf collects the commands of a batch for the node. Commands that follow
// each other in the reader's buffer (a pipeline forwarded as it came) are sent
// from there, without a copy; the others are copied. Everything is sent
// before the reader reads again (send at the end of each batch).
type outBuf struct {
	own  []byte // copied commands
	span []byte // a run of the reader's buffer, while own is empty
	n    int    // commands
}

func (o *outBuf) add(raw []byte) {
	if len(raw) == 0 {
		return
	}
	o.n++
	if len(o.own) == 0 {
		n := len(o.span)
		if n == 0 {
			o.span = raw
			return
		}
		if cap(o.span) >= n+len(raw) && &o.span[:n+1][n] == &raw[0] {
			o.span = o.span[:n+len(raw)]
			return
		}
		o.own = append(o.own, o.span...)
		o.span = nil
	}
	o.own = append(o.own, raw...)
}

func (o *outBuf) size() int { return len(o.own) + len(o.span) }

func (o *outBuf) bytes() []byte {
	if len(o.own) > 0 {
		return o.own
	}
	return o.span
}

func (o *outBuf) reset() {
	o.span, o.n = nil, 0
	if cap(o.own) > 1<<20 {
		o.own = nil
	} else {
		o.own = o.own[:0]
	}
}

// push appends entries to the queue and wakes the reply loop when it might be
// blocked reading the node while an entry it can emit on its own waits.
func (c *clientConn) push(es []entry) {
	c.mu.Lock()
	wake := false
	for i := range es {
		e := &es[i]
		if e.kind == entUpstream && e.up == nil {
			c.primary++
		} else if c.primary == 0 || c.unpaired {
			wake = true
		}
		if e.kind != entClose {
			e.queued = int(c.pushed - c.delivered.Load())
			c.pushed += int64(max(e.n, 1))
		}
		c.q = append(c.q, *e)
	}
	c.mu.Unlock()
	if wake {
		c.up.c.SetReadDeadline(time.Now())
	}
	// Drop references held by the batch's backing array.
	for i := range es {
		es[i] = entry{}
	}
}

// track follows the commands that change how replies must be handled.
func (c *clientConn) track(ci *CommandInfo, args [][]byte, e *entry) {
	if ci == nil {
		if c.inMulti {
			c.queued = append(c.queued, e.rw)
		}
		return
	}
	switch ci.Name {
	case "MULTI":
		c.inMulti, c.queued = true, c.queued[:0]
		return
	case "EXEC":
		if c.inMulti {
			e.exec = append([]topology.Kind(nil), c.queued...)
		}
		c.inMulti = false
		return
	case "DISCARD":
		c.inMulti = false
		return
	}
	if c.inMulti {
		c.queued = append(c.queued, e.rw)
	}
	switch ci.Name {
	case "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE":
		if c.info.Load().RESP3 {
			e.kind = entNone // RESP3: confirmations arrive as pushes
		} else {
			e.unpair = true
		}
	case "MONITOR":
		e.unpair = true
	case "HELLO":
		if len(args) > 1 {
			c.update(func(ni *ConnInfo) { ni.RESP3 = string(args[1]) == "3" })
		}
	case "READONLY", "READWRITE":
		c.update(func(ni *ConnInfo) { ni.Readonly = ci.Name == "READONLY" })
	case "CLIENT":
		if len(args) < 3 {
			return
		}
		switch {
		case bytes.EqualFold(args[1], []byte("SETNAME")):
			c.update(func(ni *ConnInfo) { ni.Name = string(args[2]) })
		case bytes.EqualFold(args[1], []byte("SETINFO")) && len(args) > 3:
			c.update(func(ni *ConnInfo) {
				switch {
				case bytes.EqualFold(args[2], []byte("LIB-NAME")):
					ni.LibName = string(args[3])
				case bytes.EqualFold(args[2], []byte("LIB-VER")):
					ni.LibVer = string(args[3])
				}
			})
		case bytes.EqualFold(args[1], []byte("REPLY")):
			e.unpair = true
		}
	}
}

// update replaces the connection's info snapshot with a modified copy.
func (c *clientConn) update(f func(*ConnInfo)) {
	ni := *c.info.Load()
	f(&ni)
	c.info.Store(&ni)
}

// slotLater marks a keyed command whose slot is computed only if needed
// (an event reported one by one): no Policy needed it.
const slotLater = -2

// details looks up the commands of one read (into c.cis) and returns what
// the Observer learns of each: hash, argument count, first key, and the slot
// if withSlot (else for blocking commands only).
func (c *clientConn) details(table *commandTable, cmds []resp.Command, withSlot bool) []cmdDetail {
	a := c.arenaFor(len(cmds))
	n := len(a.dets)
	a.dets = a.dets[:n+len(cmds)]
	dets := a.dets[n : n+len(cmds) : n+len(cmds)]
	c.cis = c.cis[:0]
	for i := range cmds {
		cmd := &cmds[i]
		var ci *CommandInfo
		if len(cmd.Args) > 0 {
			ci = c.lookup(table, cmd.Args[0])
		}
		c.cis = append(c.cis, ci)
		d := &dets[i]
		*d = cmdDetail{args: int32(len(cmd.Args)), hash: maphash.Bytes(hashSeed, cmd.Raw), slot: -1}
		if k := firstKey(ci, cmd.Args); k != nil {
			d.key = a.keep(k)
			if withSlot || ci.Blocking {
				d.slot = int32(topology.Slot(k))
			} else {
				d.slot = slotLater
			}
		}
	}
	return dets
}

// A detailArena holds the details and keys of consecutive reads, so that
// observing costs no allocation per read. A connection has two and switches
// when one is full; a full one is written again only once every command it
// describes has been answered and delivered (the reply loop's delivered
// count reaches its fence): until then nothing of it is overwritten, and
// what an Event needs of it (the key) is copied.
type detailArena struct {
	dets  []cmdDetail
	keys  []byte
	fence int64 // commands pushed when it filled
}

const (
	arenaDetails    = 32
	arenaKeys       = 512
	maxArenaDetails = 4096 // a larger one (a huge pipeline) is not kept
)

// arenaFor returns an arena with room for n more details.
func (c *clientConn) arenaFor(n int) *detailArena {
	a := c.arenas[c.arena]
	if a != nil && cap(a.dets)-len(a.dets) >= n {
		return a
	}
	if a != nil {
		a.fence = c.pushed // every command before this read is pushed
	}
	c.arena ^= 1
	b := c.arenas[c.arena]
	if b != nil && b.fence <= c.delivered.Load() && cap(b.dets) >= n && cap(b.dets) <= maxArenaDetails {
		b.dets, b.keys = b.dets[:0], b.keys[:0]
		return b
	}
	// Still in use (or too small): leave it to the garbage collector.
	b = &detailArena{dets: make([]cmdDetail, 0, max(n, arenaDetails)), keys: make([]byte, 0, arenaKeys)}
	c.arenas[c.arena] = b
	return b
}

// keep copies k into the arena (or, when it has no room, to the heap).
func (a *detailArena) keep(k []byte) []byte {
	if cap(a.keys)-len(a.keys) < len(k) {
		return bytes.Clone(k)
	}
	n := len(a.keys)
	a.keys = append(a.keys, k...)
	return a.keys[n:len(a.keys):len(a.keys)]
}

// trackAsking records whether the command is ASKING, which holds for
// exactly the next command, as in Redis.
func (c *clientConn) trackAsking(ci *CommandInfo, info *ConnInfo) {
	if asking := ci != nil && ci.Name == "ASKING"; asking != info.Asking {
		c.update(func(ni *ConnInfo) { ni.Asking = asking })
	}
}

// lookup finds a command by name, remembering the last one: a pipeline is
// mostly the same command again.
func (c *clientConn) lookup(table *commandTable, name []byte) *CommandInfo {
	if table == c.lastTable && len(name) == int(c.lastLen) && bytes.Equal(name, c.lastName[:c.lastLen]) {
		return c.lastCI
	}
	ci := table.lookup(name)
	if len(name) <= len(c.lastName) {
		c.lastTable, c.lastLen, c.lastCI = table, uint8(len(name)), ci
		copy(c.lastName[:], name)
	}
	return ci
}

// subcommand is the upper-case subcommand of a container command, for the
// Observer.
func subcommand(ci *CommandInfo, args [][]byte) string {
	if ci == nil || len(args) < 2 {
		return ""
	}
	switch ci.Name {
	case "CLIENT", "CLUSTER", "CONFIG", "COMMAND", "SCRIPT", "FUNCTION", "OBJECT", "MEMORY", "XINFO", "ACL":
		return string(bytes.ToUpper(args[1]))
	}
	return ""
}

func (c *clientConn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}

func (c *clientConn) route(addr string) (*upstream, error) {
	if u, ok := c.routes[addr]; ok {
		return u, nil
	}
	u, err := c.dial(addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		u.c.Close()
		return nil, net.ErrClosed
	}
	if c.routes == nil {
		c.routes = map[string]*upstream{}
	}
	c.routes[addr] = u
	return u, nil
}

// readFailed handles the end of the client's input.
func (c *clientConn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout() && c.isDraining():
		// Shutdown: stop reading, deliver what is in flight, then close.
		c.push([]entry{{kind: entClose}})
	case errors.Is(err, resp.ErrQueryBuffer):
		c.s.log.Warn("client closed: query buffer limit", "client", c.info.Load().Client, "limit", c.s.cfg.MaxQueryBuffer)
		c.close("query buffer limit exceeded")
	case errors.Is(err, resp.ErrProtocol):
		// As Redis: an error reply after everything before it, then close.
		c.push([]entry{{kind: entInjected, data: []byte("-ERR " + err.Error() + "\r\n")}, {kind: entClose}})
	default:
		// The client went away (or reset): Redis frees such a client at once.
		c.close("client closed")
	}
}

func (c *clientConn) isDraining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining
}

// drain makes the client loop stop reading; the reply loop closes the
// connection once every reply in flight is delivered.
func (c *clientConn) drain() {
	c.mu.Lock()
	c.draining = true
	c.mu.Unlock()
	c.c.SetReadDeadline(time.Now())
}

// replyLoop sends replies to the client in queue order. It holds the queue
// entry being answered (cur) outside the queue, so a pipeline of plain
// commands costs one lock per entry, not per reply, and replies that need no
// rewriting are copied to the client in one piece.
func (c *clientConn) replyLoop() {
	defer c.flushStats()
	defer c.reportCurrent()
	up := c.up
	fast := c.s.cfg.Observer == nil
	bulk := c.s.bulk != nil
	for {
		if c.curN == 0 && !c.next() {
			return
		}
		pass := up.start // replies from pass to up.start go to the client unchanged
		emit := func() {
			if up.start > pass {
				c.w.pass(up.buf[pass:up.start])
			}
			pass = up.start
		}
		for up.start < up.end {
			n, err := up.sc.Scan(up.buf[up.start:up.end])
			if err != nil {
				c.s.metrics.upstreamErrors.WithLabelValues(up.addr, "protocol").Inc()
				c.flushBulk() // the replies before it were good
				c.close("upstream protocol error: " + err.Error())
				return
			}
			if n == 0 {
				emit()
				c.streamPartial(up)
				pass = up.start
				break
			}
			reply := up.buf[up.start : up.start+n]
			if c.discard > 0 && !up.streaming {
				// The late reply of an interrupted blocking command.
				emit()
				up.start += n
				pass = up.start
				c.discard--
				continue
			}
			if c.curN > 0 && !up.streaming && reply[0] != '-' && reply[0] != '!' && c.cur.rw == topology.KindNone {
				up.start += n
				switch {
				case fast:
					c.countOK()
				case bulk && c.cur.det != nil && c.cur.fault == "" && c.cur.cmd != nil && !c.cur.cmd.Blocking:
					c.countBulk(reply[0])
				default:
					c.complete(reply)
				}
			} else {
				emit()
				up.start += n
				pass = up.start
				if !c.deliver(reply) {
					return
				}
			}
			if c.curN == 0 {
				emit()
				if !c.next() {
					return
				}
			}
		}
		emit()
		// Events before the client can react to the replies; the details
		// are not used after flushBulk.
		c.flushBulk()
		if c.w.Buffered() > 0 {
			if err := c.w.Flush(); err != nil {
				c.close("client write: " + err.Error())
				return
			}
		}
		c.delivered.Store(c.answered)
		c.flushStats()
		_, err := up.readMore()
		if c.s.metrics.timed || c.s.cfg.Observer != nil {
			c.replyNow = time.Now()
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				up.c.SetReadDeadline(time.Time{})
				c.applyInterrupt()
				continue
			}
			select {
			case <-c.done:
			default:
				c.s.metrics.upstreamErrors.WithLabelValues(up.addr, "read").Inc()
				c.close("upstream closed: " + err.Error())
			}
			return
		}
	}
}

// next emits every queue entry at the head that does not wait for the
// primary upstream, then takes the next entry that does as cur. It reports
// false when the connection is finished.
func (c *clientConn) next() bool {
	for {
		c.mu.Lock()
		if c.qhead == len(c.q) {
			c.mu.Unlock()
			return true
		}
		e := &c.q[c.qhead]
		if e.kind == entUpstream && e.up == nil && !c.unpaired {
			c.cur, c.curN = *e, max(int(e.n), 1)
			c.curStat = nil
			c.popLocked()
			c.mu.Unlock()
			return true
		}
		ent := *e
		c.popLocked()
		c.mu.Unlock()
		if ent.kind != entClose {
			c.answered += int64(max(ent.n, 1))
		}
		switch ent.kind {
		case entInjected:
			c.w.Write(ent.data)
			c.finish(&ent, 0, ent.data)
		case entUpstream:
			if ent.up == nil { // unpaired: replies flow through unmatched
				continue
			}
			r, err := ent.up.readReply()
			if err != nil {
				c.close("upstream " + ent.up.addr + ": " + err.Error())
				return false
			}
			out := c.rewrite(&ent, r, ent.up.host)
			c.w.Write(out)
			c.finish(&ent, 0, out)
		case entNone:
			c.finish(&ent, 0, nil)
		case entClose:
			c.w.Flush()
			c.close("closed after last reply")
			return false
		}
	}
}

// streamPartial sends on the scanned part of a large reply that needs no
// rewriting, so that big values pass through without being held whole.
func (c *clientConn) streamPartial(up *upstream) {
	scanned := up.sc.Scanned()
	if scanned < 32<<10 {
		return
	}
	if !up.streaming {
		if up.buf[up.start] == '-' || up.buf[up.start] == '!' {
			return
		}
		if c.curN > 0 && c.cur.rw != topology.KindNone {
			return
		}
		up.streaming = true
	}
	c.w.Write(up.buf[up.start : up.start+scanned])
	up.start += scanned
	up.sc.Shift(scanned)
}

func (c *clientConn) popLocked() {
	e := &c.q[c.qhead]
	if e.kind == entUpstream && e.up == nil {
		c.primary--
	}
	*e = entry{}
	c.qhead++
	if c.qhead == len(c.q) {
		c.q = c.q[:0]
		c.qhead = 0
	} else if c.qhead > 1024 && c.qhead*2 > len(c.q) {
		n := copy(c.q, c.q[c.qhead:])
		c.q = c.q[:n]
		c.qhead = 0
	}
}

// deliver sends one complete reply from the primary upstream that needs a
// look: an error (MOVED/ASK), a reply that carries addresses, the tail of a
// streamed reply, or a reply no command waits for (pub/sub, pushes).
func (c *clientConn) deliver(reply []byte) bool {
	if c.up.streaming {
		c.up.streaming = false
		c.w.Write(reply)
		if c.curN > 0 {
			c.complete([]byte{'$'})
		}
		return true
	}
	if c.curN == 0 {
		_, err := c.w.Write(c.rewrite(&entry{}, reply, c.up.host))
		return err == nil || c.closeOnWriteErr(err)
	}
	out := c.rewrite(&c.cur, reply, c.up.host)
	if _, err := c.w.Write(out); err != nil {
		return c.closeOnWriteErr(err)
	}
	c.complete(out)
	return true
}

func (c *clientConn) closeOnWriteErr(err error) bool {
	c.flushBulk()
	c.close("client write: " + err.Error())
	return false
}

// complete records one reply of cur.
func (c *clientConn) complete(reply []byte) {
	c.flushBulk()
	c.finish(&c.cur, c.curIndex(), reply)
	c.doneOne()
}

// curIndex is the index in cur of the command the next reply answers.
func (c *clientConn) curIndex() int { return max(int(c.cur.n), 1) - c.curN }

// countBulk counts one plain reply of cur for the BulkObserver.
func (c *clientConn) countBulk(first byte) {
	if c.bulkN > 0 && c.bulkReply != first {
		c.flushBulk()
	}
	if c.bulkN == 0 {
		c.bulkFirst, c.bulkReply = c.curIndex(), first
	}
	c.bulkN++
	c.countOK()
}

// flushBulk reports cur's counted replies: in bulk if the Observer takes
// them so, else one by one.
func (c *clientConn) flushBulk() {
	n := c.bulkN
	if n == 0 {
		return
	}
	c.bulkN = 0
	e := &c.cur
	first := c.bulkFirst
	if first+n > len(e.det) || e.info == nil {
		return // cannot happen: bulk entries carry one detail per command
	}
	lat := c.latency(e)
	b := &c.bulkRec
	*b = Bulk{Conn: e.info, Time: e.start, Latency: lat, N: n, Queued: e.queued + first + n - 1, Reply: c.bulkReply}
	if e.cmd != nil {
		b.Command = e.cmd.Name
	}
	for i := first; i < first+n; i++ {
		if e.det[i].slot != -1 { // keyed (slotLater: not computed)
			b.Keyed++
		}
	}
	if c.s.bulk.ObserveBulk(b) {
		return
	}
	for i := first; i < first+n; i++ {
		ev := c.event(e, i, EventCommand, nil)
		ev.Reply, ev.Latency = c.bulkReply, lat
		c.s.observe(ev)
	}
}

// countOK records one plain reply of cur on the fast path (no Observer).
func (c *clientConn) countOK() {
	ls := c.curStat
	if ls == nil {
		ls = c.stat(c.cur.cmd, 0)
		c.curStat = ls
	}
	var lat time.Duration
	if c.s.metrics.timed && !c.cur.start.IsZero() {
		lat = c.replyNow.Sub(c.cur.start)
	}
	c.count(ls, lat)
	c.doneOne()
}

// count adds one reply to a command's count and, if lat > 0 and latency is
// measured, to the latency histogram (both flushed by flushStats).
func (c *clientConn) count(ls *localStat, lat time.Duration) {
	if ls.n == 0 {
		c.dirty = append(c.dirty, ls)
	}
	ls.n++
	if lat > 0 && c.s.metrics.timed {
		c.lat.observe(lat, 1)
	}
}

func (c *clientConn) doneOne() {
	c.answered++
	c.curN--
	if c.curN == 0 {
		c.flushBulk()
		if c.blocked.Load() != 0 {
			c.blocked.Store(0)
			c.interrupt.Store(nil)
		}
		if c.cur.unpair {
			c.mu.Lock()
			c.unpaired = true
			c.mu.Unlock()
		}
		c.cur = entry{}
	}
}

// applyInterrupt answers a blocked command with the reply Interrupt set, as
// Redis does for a client blocked on a slot that failed or moved; the node's
// own late reply is dropped, and the node is asked to unblock the command.
func (c *clientConn) applyInterrupt() {
	r := c.interrupt.Swap(nil)
	if r == nil {
		return
	}
	if c.curN == 0 && !c.next() {
		return
	}
	if c.curN == 0 || c.cur.cmd == nil || !c.cur.cmd.Blocking {
		return
	}
	c.w.Write(*r)
	c.w.Flush()
	inj := c.cur
	inj.kind = entInjected
	c.finish(&inj, c.curIndex(), *r)
	c.discard++
	c.doneOne()
	c.s.unblock(c.up)
}

// reportCurrent reports cur's unanswered commands when the reply loop ends.
func (c *clientConn) reportCurrent() {
	if c.curN == 0 || c.s.cfg.Observer == nil {
		return
	}
	c.flushBulk()
	for i := c.curIndex(); i < max(int(c.cur.n), 1); i++ {
		ev := c.event(&c.cur, i, EventCommand, nil)
		ev.Reason = "no reply: connection closed"
		c.s.observe(ev)
	}
}

// rewrite replaces real node addresses in a reply with announced ones.
func (c *clientConn) rewrite(e *entry, reply []byte, upHost string) []byte {
	if reply[0] != '-' && e.rw == topology.KindNone {
		return reply
	}
	resolve := func(host string, port int) (topology.Endpoint, bool) {
		return c.s.resolve(host, port, upHost)
	}
	var out []byte
	var err error
	if reply[0] == '-' {
		var ok bool
		out, ok, err = topology.RewriteRedirect(reply, resolve)
		if err == nil && !ok {
			return reply
		}
	} else if e.rw == topology.KindExec {
		out, err = topology.RewriteExec(e.exec, reply, resolve)
	} else {
		out, err = topology.Rewrite(e.rw, reply, resolve)
	}
	if err != nil {
		// Never leak a real address: the client gets an error instead.
		c.s.log.Warn("reply rewrite failed", "node", c.nd.addr, "err", err)
		c.s.metrics.upstreamErrors.WithLabelValues(c.nd.addr, "rewrite").Inc()
		return []byte("-ERR redis-chaos: cannot rewrite node address in reply\r\n")
	}
	return out
}

// latency is the time from e's read to the reply just read.
func (c *clientConn) latency(e *entry) time.Duration {
	if e.start.IsZero() {
		return 0
	}
	now := c.replyNow
	if now.Before(e.start) {
		now = time.Now()
	}
	return now.Sub(e.start)
}

// finish records a completed command (e's command i) in metrics and events.
func (c *clientConn) finish(e *entry, i int, reply []byte) {
	s := c.s
	var outcome uint8 // ok
	var first byte
	if len(reply) > 0 {
		first = reply[0]
	}
	switch {
	case e.kind == entInjected:
		outcome = 2
	case first == '-' || first == '!':
		outcome = 1
	}
	lat := c.latency(e)
	c.count(c.stat(e.cmd, outcome), lat)
	if s.cfg.Observer == nil || e.info == nil {
		return
	}
	ev := c.event(e, i, EventCommand, reply)
	ev.Latency = lat
	s.observe(ev)
}

// event builds the Observer's record of e's command i.
func (c *clientConn) event(e *entry, i int, typ EventType, reply []byte) Event {
	info := e.info
	if info == nil {
		info = c.info.Load()
	}
	ev := Event{Type: typ, Time: e.start, Conn: *info, Sub: e.sub, Slot: -1,
		Queued: e.queued + i, Fault: e.fault}
	if i < len(e.det) {
		d := &e.det[i]
		ev.Key, ev.Slot, ev.Hash, ev.Args = string(d.key), int(d.slot), d.hash, int(d.args)
		if d.slot == slotLater {
			ev.Slot = topology.Slot(d.key)
		}
	}
	if e.cmd != nil {
		ev.Command = e.cmd.Name
	}
	if len(reply) > 0 {
		ev.Reply = reply[0]
	}
	if ev.Reply == '-' {
		line := reply[1:]
		if i := bytes.IndexByte(line, '\r'); i >= 0 {
			line = line[:i]
		}
		if len(line) > 200 {
			line = line[:200]
		}
		ev.Err = string(line)
	}
	return ev
}

// close ends the connection (FIN to the client).
func (c *clientConn) close(reason string) { c.closeWith(reason, false) }

// reset ends the connection with an RST, as a crashed node does.
func (c *clientConn) reset(reason string) { c.closeWith(reason, true) }

func (c *clientConn) closeWith(reason string, rst bool) {
	c.closeOnce.Do(func() {
		close(c.done)
		if rst {
			if tc, ok := c.c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
		}
		c.c.Close()
		c.mu.Lock()
		c.closed = true
		if c.up != nil {
			c.up.c.Close()
		}
		for _, u := range c.routes {
			u.c.Close()
		}
		// Commands still waiting for a reply never get one: their outcome is
		// unknown to the client (it may retry them).
		var unanswered []entry
		if c.s.cfg.Observer != nil {
			for i := c.qhead; i < len(c.q); i++ {
				if c.q[i].kind == entUpstream || c.q[i].kind == entInjected {
					unanswered = append(unanswered, c.q[i])
				}
			}
			c.q, c.qhead, c.primary = c.q[:0], 0, 0
		}
		c.mu.Unlock()
		for i := range unanswered {
			e := &unanswered[i]
			for j := range max(int(e.n), 1) {
				ev := c.event(e, j, EventCommand, nil)
				ev.Reason = "no reply: " + reason
				c.s.observe(ev)
			}
		}
		c.s.observe(Event{Type: EventClose, Time: time.Now(), Conn: *c.info.Load(), Slot: -1, Reason: reason})
	})
}

func (s *Server) observe(ev Event) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.Observe(ev)
	}
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
	local := up.c.LocalAddr().String()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		cl := s.controlClient(up.addr)
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DialTimeout)
		defer cancel()
		list, err := cl.ClientList(ctx).Result()
		if err != nil {
			s.log.Warn("CLIENT LIST for unblock", "node", up.addr, "err", err)
			return
		}
		for _, line := range strings.Split(list, "\n") {
			if !strings.Contains(line, " addr="+local+" ") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if id, ok := strings.CutPrefix(f, "id="); ok {
					if err := cl.Do(ctx, "CLIENT", "UNBLOCK", id).Err(); err != nil {
						s.log.Warn("CLIENT UNBLOCK", "node", up.addr, "err", err)
					}
					return
				}
			}
		}
	}()
}
