package proxy

import (
	"bytes"
	"errors"
	"net"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// replySide is the reply loop's state: it reads the primary upstream's
// replies, pairs them with the queue's entries in order, rewrites what
// carries node addresses, answers the entries that need no node, and
// writes it all to the client. Its fields belong to the reply loop; what it
// shares with the client loop is in the embedded clientConn.
type replySide struct {
	*clientConn
	up   *upstream // the primary upstream: its buffer is read here only
	w    *replyWriter
	fast bool // no Observer: plain replies are only counted
	bulk bool // the Observer takes plain commands in bulk

	cur       current
	streaming bool  // part of the reply being read was already sent on
	unpaired  bool  // the primary upstream's replies are no longer paired with entries
	discard   int   // replies of interrupted blocking commands still to drop
	killSelf  bool  // CLIENT KILL ID of the client itself (SKIPME no): close once the reply is sent
	answered  int64 // replies written (to w)
	// The time of the last read from the node: replies that arrive
	// together share it.
	replyNow time.Time

	// Per-connection metric counts, added to the shared counters once per
	// read (flushStats).
	stats    map[statKey]*localStat
	dirty    []*localStat
	lastKey  statKey // stat's one-entry cache
	lastStat *localStat
	lat      localLatency // latencies since the last flushStats
	nodeLat  *nodeLatency
	counted  bulkRun
	bulkRec  Bulk // reused: handing a fresh one to an interface would allocate
}

// current is the queue entry the primary upstream's replies answer now.
// The reply loop holds it outside the queue, so a run of merged plain
// commands costs one pop, not one per reply.
type current struct {
	entry
	left int        // replies still to come; 0: no entry is current
	stat *localStat // the entry's ok count (fast path)
}

// bulkRun is a run of the current entry's replies counted and not yet
// reported to the BulkObserver: its commands first … first+n-1, whose
// replies start with the byte reply.
type bulkRun struct {
	first int
	n     int
	reply byte
}

func newReplySide(c *clientConn) *replySide {
	return &replySide{
		clientConn: c,
		up:         c.up,
		w:          &replyWriter{conn: c.c},
		fast:       c.s.cfg.Observer == nil,
		bulk:       c.s.bulk != nil,
		nodeLat:    c.s.metrics.latency.node(c.nd.addr),
	}
}

// run is the reply loop; it closes done when it ends.
func (r *replySide) run(done chan<- struct{}) {
	defer close(done)
	defer r.flushStats()
	defer r.reportCurrent()
	r.relay()
}

// relay sends replies to the client in queue order until the connection
// ends. Replies that need no rewriting are copied to the client in one
// piece, from the upstream's buffer.
func (r *replySide) relay() {
	up := r.up
	for {
		if r.cur.left == 0 && !r.next() {
			return
		}
		pass := up.start // replies from pass to up.start go to the client unchanged
		emit := func() {
			if up.start > pass {
				r.w.pass(up.buf[pass:up.start])
			}
			pass = up.start
		}
		for up.start < up.end {
			if r.cur.repl != nil {
				// The reply to SYNC or PSYNC: newlines (the node's
				// keep-alives while it prepares the RDB) pass on; an error
				// is a reply as any other; anything else starts a
				// replication stream.
				for up.start < up.end && up.buf[up.start] == '\n' {
					up.start++
				}
				if up.start == up.end {
					break
				}
				if up.buf[up.start] != '-' {
					emit()
					r.replicate()
					return
				}
				r.cur.repl <- false
				r.cur.repl = nil
			}
			n, err := up.sc.Scan(up.buf[up.start:up.end])
			if err != nil {
				r.s.metrics.upstreamErrors.WithLabelValues(up.addr, "protocol").Inc()
				// The replies before it were good: the client gets them, then
				// the close.
				emit()
				r.flushBulk()
				r.w.Flush()
				r.close("upstream protocol error: " + err.Error())
				return
			}
			if n == 0 {
				emit()
				r.streamPartial()
				pass = up.start
				break
			}
			reply := up.buf[up.start : up.start+n]
			if r.discard > 0 && !r.streaming {
				// The late reply of an interrupted blocking command.
				emit()
				up.start += n
				pass = up.start
				r.discard--
				continue
			}
			if r.cur.left > 0 && !r.streaming && reply[0] != '-' && reply[0] != '!' && r.cur.rw == topology.KindNone && r.cur.xl == nil {
				up.start += n
				switch {
				case r.fast:
					r.countOK()
				case r.bulk && r.cur.det != nil && r.cur.fault == "" && r.cur.cmd != nil && !r.cur.cmd.Blocking:
					r.countBulk(reply[0])
				default:
					r.complete(reply)
				}
			} else {
				emit()
				up.start += n
				pass = up.start
				if !r.deliver(reply) {
					return
				}
			}
			if r.cur.left == 0 {
				emit()
				if !r.next() {
					return
				}
			}
		}
		emit()
		// Events before the client can react to the replies; the details
		// are not used after flushBulk.
		r.flushBulk()
		if r.w.Buffered() > 0 {
			if err := r.w.Flush(); err != nil {
				r.close("client write: " + err.Error())
				return
			}
		}
		if r.killSelf {
			r.close("killed by CLIENT KILL ID")
			return
		}
		r.q.delivered.Store(r.answered)
		r.flushStats()
		if r.cur.left > 0 && r.cur.cmd != nil && r.cur.cmd.Blocking && r.interrupt.Load() != nil {
			// Interrupted while commands before it were answered.
			r.applyInterrupt()
			continue
		}
		_, err := up.readMore()
		if r.s.metrics.timed || r.s.cfg.Observer != nil {
			r.replyNow = time.Now()
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				up.c.SetReadDeadline(time.Time{})
				r.applyInterrupt()
				continue
			}
			select {
			case <-r.done:
			default:
				r.s.metrics.upstreamErrors.WithLabelValues(up.addr, "read").Inc()
				r.close("upstream closed: " + err.Error())
			}
			return
		}
	}
}

// replicate sends the node's replication stream (the current entry's reply
// to SYNC or PSYNC, then everything the node sends) to the client as it
// comes, unparsed: the RDB payload that starts it is a bulk string without
// its final CRLF. It returns when the connection ends.
func (r *replySide) replicate() {
	up := r.up
	reply := up.buf[up.start:up.end]
	if i := bytes.IndexByte(reply, '\n'); i >= 0 {
		reply = reply[:i+1]
	}
	r.cur.repl <- true
	r.complete(reply)
	r.q.delivered.Store(r.answered)
	r.w.pass(up.buf[up.start:up.end])
	up.start = up.end
	if err := r.w.Flush(); err != nil {
		r.close("client write: " + err.Error())
		return
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := up.c.Read(buf)
		if n > 0 {
			if _, err := r.c.Write(buf[:n]); err != nil {
				r.close("client write: " + err.Error())
				return
			}
		}
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout() && !r.draining.Load():
			up.c.SetReadDeadline(time.Time{}) // a wake-up meant for replies
		default:
			select {
			case <-r.done:
			default:
				r.close("replication stream ended: " + err.Error())
			}
			return
		}
	}
}

// next answers every queue entry at the head that does not wait for the
// primary upstream, then makes the next entry that does current. It
// reports false when the connection is finished.
func (r *replySide) next() bool {
	for {
		e, ok := r.q.pop()
		if !ok {
			return true
		}
		if e.primary() && !r.unpaired {
			r.cur = current{entry: e, left: max(int(e.n), 1)}
			return true
		}
		r.answered += e.replies()
		switch e.kind {
		case entInjected, entLocal:
			r.w.Write(e.data)
			r.finish(&e, 0, e.data)
		case entUpstream:
			if e.up == nil { // unpaired: replies flow through unmatched
				continue
			}
			reply, err := e.up.readReply()
			if err != nil {
				r.close("upstream " + e.up.addr + ": " + err.Error())
				return false
			}
			out := r.rewrite(&e, reply, e.up.host)
			r.w.Write(out)
			r.finish(&e, 0, out)
		case entNone:
			r.finish(&e, 0, nil)
		case entClose:
			r.w.Flush()
			r.close("closed after last reply")
			return false
		}
	}
}

// streamPartial sends on the scanned part of a large reply that needs no
// rewriting, so that big values pass through without being held whole.
func (r *replySide) streamPartial() {
	up := r.up
	scanned := up.sc.Scanned()
	if scanned < 32<<10 {
		return
	}
	if !r.streaming {
		if up.buf[up.start] == '-' || up.buf[up.start] == '!' {
			return
		}
		if r.cur.left > 0 && (r.cur.rw != topology.KindNone || r.cur.xl != nil) {
			return
		}
		r.streaming = true
	}
	r.w.Write(up.buf[up.start : up.start+scanned])
	up.start += scanned
	up.sc.Shift(scanned)
}

// deliver sends one complete reply from the primary upstream that needs a
// look: an error (MOVED/ASK), a reply that carries addresses, the tail of a
// streamed reply, or a reply no command waits for (pub/sub, pushes).
func (r *replySide) deliver(reply []byte) bool {
	if r.streaming {
		r.streaming = false
		r.w.Write(reply)
		if r.cur.left > 0 {
			r.complete([]byte{'$'})
		}
		return true
	}
	if r.cur.left == 0 {
		_, err := r.w.Write(r.rewrite(&entry{}, reply, r.up.host))
		return err == nil || r.closeOnWriteErr(err)
	}
	out := r.rewrite(&r.cur.entry, reply, r.up.host)
	if _, err := r.w.Write(out); err != nil {
		return r.closeOnWriteErr(err)
	}
	r.complete(out)
	return true
}

func (r *replySide) closeOnWriteErr(err error) bool {
	r.flushBulk()
	r.close("client write: " + err.Error())
	return false
}

// complete records one reply of the current entry.
func (r *replySide) complete(reply []byte) {
	r.flushBulk()
	r.finish(&r.cur.entry, r.curIndex(), reply)
	r.doneOne()
}

// curIndex is the index in the current entry of the command the next reply
// answers.
func (r *replySide) curIndex() int { return max(int(r.cur.n), 1) - r.cur.left }

// doneOne counts one reply of the current entry as answered.
func (r *replySide) doneOne() {
	r.answered++
	r.cur.left--
	if r.cur.left == 0 {
		r.flushBulk()
		if r.cur.cmd != nil && r.cur.cmd.Blocking && r.blocked.Load() != 0 {
			r.blocked.Store(0)
			r.interrupt.Store(nil)
		}
		if r.cur.unpair {
			r.unpaired = true
			r.q.unpair()
		}
		r.cur = current{}
	}
}

// applyInterrupt answers a blocked command with the reply Interrupt set, as
// Redis does for a client blocked on a slot that failed or moved; the node's
// own late reply is dropped, and the node is asked to unblock the command.
//
// A blocking command behind others is answered once it is the current
// entry: until then the reply stays pending.
func (r *replySide) applyInterrupt() {
	if r.interrupt.Load() == nil {
		return
	}
	if r.cur.left == 0 && !r.next() {
		return
	}
	if r.cur.left == 0 || r.cur.cmd == nil || !r.cur.cmd.Blocking {
		return
	}
	reply := r.interrupt.Swap(nil)
	if reply == nil {
		return
	}
	r.w.Write(*reply)
	r.w.Flush()
	inj := r.cur.entry
	inj.kind = entInjected
	r.finish(&inj, r.curIndex(), *reply)
	r.discard++
	r.doneOne()
	r.s.unblock(r.up)
}

// rewrite replaces real node addresses in a reply with announced ones.
func (r *replySide) rewrite(e *entry, reply []byte, upHost string) []byte {
	out := r.rewriteAddrs(e, reply, upHost)
	if e.xl != nil && !isError(out) {
		out = r.translate(e.xl, out)
	}
	return out
}

// rewriteAddrs replaces real node addresses in a reply with announced ones.
func (r *replySide) rewriteAddrs(e *entry, reply []byte, upHost string) []byte {
	if reply[0] != '-' && (e.rw == topology.KindNone || string(reply) == "+QUEUED\r\n") {
		// Nothing to rewrite, or a command queued in MULTI: its result
		// comes with EXEC's.
		return reply
	}
	s := r.s
	resolve := func(host string, port int) (topology.Endpoint, bool) {
		return s.resolve(host, port, upHost)
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
		s.log.Warn("reply rewrite failed", "node", r.nd.addr, "err", err)
		s.metrics.upstreamErrors.WithLabelValues(r.nd.addr, "rewrite").Inc()
		return []byte("-ERR redis-chaos: cannot rewrite node address in reply\r\n")
	}
	return out
}
