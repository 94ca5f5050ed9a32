package proxy

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"time"
)

// Shared upstream connections (Config.ShareUpstreams).
//
// A client connection starts on a sharedConn: its commands are appended to one
// of a few upstream connections to the node that many client connections
// share, and the shared connection's reader hands each client its replies in
// the order the commands were written (a FIFO of waiters: who wrote how many
// commands). Fewer connections carry the same commands in fewer, larger reads
// and writes: that is the whole gain.
//
// A shared connection stays in Redis's initial connection state (RESP2, no
// user, no flags), so a command may go on it only if it neither reads nor
// changes connection state: sharable() lists what may. At its first other
// command (MULTI, WATCH, AUTH, HELLO, SELECT, READONLY, ASKING, CLIENT …,
// blocking and pub/sub commands, unknown commands) the client is pinned: it
// dials its own upstream connection, waits until the node has answered every
// command it sent on the shared one (so its commands run in the order it sent
// them), and from then on behaves exactly as in 1:1 mode. The replies of the
// shared connection come first in the client's stream, then those of its own.
//
// To the reply loop a sharedConn is the connection's upstream net.Conn: Read
// returns the client's replies as the shared reader delivers them, then (once
// pinned) what its own connection reads. A client's undelivered replies are
// held like Redis holds a normal client's output buffer (no limit); what a
// client may have outstanding is bounded by what it sent.

// sharable reports whether a command (raw: as the client sent it) may go on
// a shared upstream connection. Inline commands and large ones pin their
// client: a protocol error the node might find in them would close the
// shared connection (our reader checks what Redis checks, but the node may
// be configured tighter), and they gain nothing from sharing.
func sharable(ci *CommandInfo, args [][]byte, raw []byte) bool {
	if ci == nil || ci.Blocking || ci.PubSub || len(raw) > sharedMaxCommand || len(raw) == 0 || raw[0] != '*' {
		return false
	}
	switch ci.Name {
	case "PING", "ECHO", "INFO", "COMMAND", "TIME", "DBSIZE", "ROLE", "LASTSAVE":
		return true
	case "CLUSTER":
		// What the cluster says of itself (go-redis's cluster client asks
		// CLUSTER SLOTS on its pooled connections).
		return len(args) >= 2 && len(args[1]) <= 15 && clusterQueries[string(bytes.ToUpper(args[1]))]
	case "WATCH", "MIGRATE", "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
		// Scripts: a long one must leave other clients' commands to get
		// BUSY, as they do on their own connections.
		return false
	}
	return ci.FirstKey > 0 && !ci.Keyless
}

// clusterQueries are the CLUSTER subcommands that only read the cluster's
// state.
var clusterQueries = map[string]bool{"SLOTS": true, "SHARDS": true, "NODES": true, "INFO": true, "MYID": true,
	"MYSHARDID": true, "KEYSLOT": true, "COUNTKEYSINSLOT": true, "GETKEYSINSLOT": true, "REPLICAS": true,
	"SLAVES": true, "LINKS": true}

const (
	sharedPerNode    = 2        // shared connections per node: two, so that one is read while the other is written
	sharedMaxCommand = 1 << 20  // a larger command pins its client (it gains nothing from sharing)
	sharedOutMax     = 4 << 20  // senders wait while this much is still to be written to the node
	sharedBatch      = 64 << 10 // written at once even while replies to the last write are awaited
)

// sharedPool holds the shared upstream connections of every node, by group.
type sharedPool struct {
	s       *Server
	mu      sync.Mutex
	groups  map[groupKey][]*sharedUp
	dialing map[groupKey]*sharedDial // a dial in progress per node and group
	next    int
}

// groupKey names the shared connections of one node that are in one state.
type groupKey struct {
	addr string
	shareKey
}

// sharedDial is a shared connection being dialed; clients that arrive
// meanwhile wait for it rather than dial more.
type sharedDial struct {
	done chan struct{}
	err  error
}

func newSharedPool(s *Server) *sharedPool {
	return &sharedPool{s: s, groups: map[groupKey][]*sharedUp{}, dialing: map[groupKey]*sharedDial{}}
}

// attach returns a new client's view of a shared connection to addr in the
// initial connection state.
func (p *sharedPool) attach(addr string, dial func(string) (net.Conn, error)) (*sharedConn, error) {
	su, err := p.get(groupKey{addr: addr, shareKey: initialState}, dial)
	if err != nil {
		return nil, err
	}
	vc := &sharedConn{su: su, pool: p, dial: dial, ready: make(chan struct{}, 1)}
	vc.cond.L = &vc.mu
	su.add(vc)
	return vc, nil
}

// get returns a shared connection of group k, counted as attached (add or
// release it). Up to sharedPerNode are dialed per group, one at a time, each
// started (see start); clients take them in turn. If the dial a client waits
// for fails, the client fails with it, as all would have at once in 1:1.
func (p *sharedPool) get(k groupKey, dial func(string) (net.Conn, error)) (*sharedUp, error) {
	p.mu.Lock()
	for {
		list := p.groups[k]
		if d := p.dialing[k]; d != nil {
			if len(list) == 0 {
				p.mu.Unlock()
				<-d.done
				if d.err != nil {
					return nil, d.err
				}
				p.mu.Lock()
				continue
			}
		} else if len(list) < sharedPerNode {
			d := &sharedDial{done: make(chan struct{})}
			p.dialing[k] = d
			p.mu.Unlock()
			nc, err := dial(k.addr)
			var st *groupState
			if err == nil {
				if st, err = start(nc, k.shareKey, p.s.cfg.DialTimeout); err != nil {
					nc.Close()
				}
			}
			p.mu.Lock()
			delete(p.dialing, k)
			d.err = err
			close(d.done)
			if err != nil {
				p.mu.Unlock()
				return nil, err
			}
			su := &sharedUp{pool: p, key: k, nc: nc, state: st, replyBuf: replyBuf{buf: make([]byte, upstreamBufSize)}, conns: map[*sharedConn]struct{}{}}
			su.room.L = &su.mu
			su.kick = make(chan struct{}, 1)
			p.groups[k] = append(p.groups[k], su)
			su.attached++
			p.mu.Unlock()
			p.s.metrics.upstreams.WithLabelValues(k.addr, "shared").Inc()
			p.s.wg.Add(2)
			go su.readLoop()
			go su.writeLoop()
			return su, nil
		}
		p.next++
		su := list[p.next%len(list)]
		su.attached++
		p.mu.Unlock()
		return su, nil
	}
}

// removeLocked takes su out of the pool (it failed or has no client left).
func (p *sharedPool) removeLocked(su *sharedUp) {
	list := p.groups[su.key]
	for i, x := range list {
		if x == su {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(p.groups, su.key)
	} else {
		p.groups[su.key] = list
	}
}

// sharedUp is one upstream connection shared by client connections.
type sharedUp struct {
	pool     *sharedPool
	key      groupKey
	nc       net.Conn
	state    *groupState // what its start-up learned; never changed
	attached int         // client connections using it (under pool.mu)
	removed  bool        // taken out of the pool (under pool.mu)

	mu       sync.Mutex
	room     sync.Cond     // signalled when out shrinks or the connection fails
	out      []byte        // commands still to write
	writing  bool          // the writer has been kicked and not yet found out empty
	kick     chan struct{} // wakes the writer
	waiters  []waiter
	whead    int
	conns    map[*sharedConn]struct{} // attached client connections, to fail them all
	outN     int                      // commands in out
	closing  bool                     // the last client left: write what is held, then close
	inflight int                      // commands written whose replies have not been read
	err      error

	// reader only
	replyBuf
	touched []*sharedConn
}

// waiter is a client connection waiting for n replies, in the order written.
type waiter struct {
	vc *sharedConn
	n  int
}

// add attaches vc, counted by get, to su; a failed su fails vc at once.
func (su *sharedUp) add(vc *sharedConn) {
	su.mu.Lock()
	if su.err != nil {
		vc.mu.Lock()
		vc.err = su.err
		vc.mu.Unlock()
	} else {
		su.conns[vc] = struct{}{}
	}
	su.mu.Unlock()
}

// detach ends vc's use of su; the last client closes it.
func (su *sharedUp) detach(vc *sharedConn) {
	su.mu.Lock()
	delete(su.conns, vc)
	su.mu.Unlock()
	su.release()
}

// release undoes get's count: the last client closes su.
func (su *sharedUp) release() {
	p := su.pool
	p.mu.Lock()
	su.attached--
	last := su.attached == 0 && !su.removed
	if last {
		su.removed = true
		p.removeLocked(su)
	}
	p.mu.Unlock()
	if !last {
		return
	}
	// Commands still held, or being written, are written before the
	// connection closes: in 1:1 they would have been on the node's socket
	// already, and the node runs what it has read. The writer closes the
	// connection once out is empty (a node that does not read gets the dial
	// timeout to take them).
	su.mu.Lock()
	su.closing = true
	if (len(su.out) > 0 || su.writing) && su.err == nil {
		su.nc.SetWriteDeadline(time.Now().Add(su.pool.s.cfg.DialTimeout))
		su.kickLocked()
		su.mu.Unlock()
		return
	}
	su.mu.Unlock()
	su.fail(net.ErrClosed)
}

// send appends vc's n commands (b) for the node's writer.
func (su *sharedUp) send(vc *sharedConn, b []byte, n int) error {
	su.mu.Lock()
	for len(su.out) >= sharedOutMax && su.err == nil {
		su.room.Wait()
	}
	if su.err != nil {
		err := su.err
		su.mu.Unlock()
		return err
	}
	vc.mu.Lock()
	vc.outstanding += n
	vc.mu.Unlock()
	su.waiters = append(su.waiters, waiter{vc: vc, n: n})
	su.out = append(su.out, b...)
	su.outN += n
	su.kickLocked()
	su.mu.Unlock()
	return nil
}

// writeLoop writes what senders appended. While replies to an earlier write
// are still coming, new commands wait (up to sharedBatch bytes) and go in
// the next write, once the node has answered: the node runs commands one at
// a time anyway, and one write then carries the commands of many clients.
func (su *sharedUp) writeLoop() {
	defer su.pool.s.wg.Done()
	var buf []byte
	for range su.kick {
		su.mu.Lock()
		for su.err == nil && su.writable() {
			buf, su.out = su.out, buf[:0]
			su.inflight += su.outN
			su.outN = 0
			su.mu.Unlock()
			_, err := su.nc.Write(buf)
			if cap(buf) > 1<<20 {
				buf = nil
			}
			if err != nil {
				su.fail(err)
				return
			}
			su.mu.Lock()
			su.room.Broadcast()
		}
		su.writing = false
		failed := su.err != nil
		closing := su.closing && len(su.out) == 0
		su.mu.Unlock()
		if closing {
			su.fail(net.ErrClosed)
		}
		if failed || closing {
			return
		}
	}
}

// writable reports whether the writer should write now (under mu).
func (su *sharedUp) writable() bool {
	return len(su.out) > 0 && (su.inflight == 0 || len(su.out) >= sharedBatch || su.closing)
}

// kickLocked wakes the writer if it has something to write (under mu).
func (su *sharedUp) kickLocked() {
	if !su.writing && su.err == nil && su.writable() {
		su.writing = true
		su.kick <- struct{}{} // never blocks: one kick at a time (writing), and fail closes kick under mu
	}
}

// fail closes the connection and ends every client connection on it with
// err (after the replies they already have), as a node's close would in 1:1.
func (su *sharedUp) fail(err error) {
	p := su.pool
	p.mu.Lock()
	if !su.removed {
		su.removed = true
		p.removeLocked(su)
	}
	p.mu.Unlock()
	su.mu.Lock()
	first := su.err == nil
	if first {
		su.err = err
		close(su.kick)
	}
	conns := su.conns
	su.conns = map[*sharedConn]struct{}{}
	su.room.Broadcast()
	su.mu.Unlock()
	if first {
		su.nc.Close()
		p.s.metrics.upstreams.WithLabelValues(su.key.addr, "shared").Dec()
	}
	for vc := range conns {
		vc.mu.Lock()
		if vc.err == nil && vc.own == nil {
			vc.err = err
		}
		vc.cond.Broadcast()
		vc.mu.Unlock()
		vc.signal()
	}
}

// readLoop reads the node's replies and hands them to their waiters.
func (su *sharedUp) readLoop() {
	defer su.pool.s.wg.Done()
	for {
		n, err := su.readFrom(su.nc)
		if n > 0 {
			if perr := su.dispatch(); perr != nil {
				su.pool.s.metrics.upstreamErrors.WithLabelValues(su.key.addr, "protocol").Inc()
				su.fail(perr)
				return
			}
		}
		if err != nil {
			su.mu.Lock()
			ended := su.err != nil
			su.mu.Unlock()
			if !ended {
				su.pool.s.metrics.upstreamErrors.WithLabelValues(su.key.addr, "read").Inc()
			}
			su.fail(err)
			return
		}
	}
}

var errUnasked = errors.New("reply with no command waiting for it")

// dispatch hands the complete replies in the buffer, and the scanned part of
// a large one, to their waiters, then wakes the waiters it gave something.
func (su *sharedUp) dispatch() error {
	su.mu.Lock()
	var err error
	// The replies of one waiter are given in one piece: from run to start.
	run, done := su.start, 0
	for su.start < su.end {
		n, serr := su.sc.Scan(su.buf[su.start:su.end])
		if serr != nil {
			err = serr
			break
		}
		if n > 0 && su.buf[su.start] == '>' {
			// A RESP3 push answers no command, and nothing a shared
			// connection runs asks for one (tracking and pub/sub pin their
			// clients): it is dropped.
			if su.start > run {
				su.give(su.waiters[su.whead].vc, su.buf[run:su.start], done)
				done = 0
			}
			su.start += n
			run = su.start
			continue
		}
		if su.whead == len(su.waiters) {
			// Nothing was asked: the node speaks first, as it does to a new
			// connection at maxclients (an error, then a close). In 1:1
			// every client connection would have got it: each gets it.
			if n > 0 && su.buf[su.start] == '-' {
				for vc := range su.conns {
					su.give(vc, su.buf[su.start:su.start+n], 0)
				}
			}
			err = errUnasked
			break
		}
		w := &su.waiters[su.whead]
		if n == 0 {
			if k := su.sc.Scanned(); k >= 32<<10 {
				su.start += k
				su.sc.Shift(k)
			}
			break
		}
		su.start += n
		done++
		su.inflight--
		if w.n--; w.n == 0 {
			su.give(w.vc, su.buf[run:su.start], done)
			run, done = su.start, 0
			*w = waiter{}
			su.whead++
			if su.whead == len(su.waiters) {
				su.waiters, su.whead = su.waiters[:0], 0
			} else if su.whead > 1024 && su.whead*2 > len(su.waiters) {
				n := copy(su.waiters, su.waiters[su.whead:])
				clear(su.waiters[n:])
				su.waiters, su.whead = su.waiters[:n], 0
			}
		}
	}
	if su.start > run && su.whead < len(su.waiters) {
		su.give(su.waiters[su.whead].vc, su.buf[run:su.start], done)
	}
	su.kickLocked()
	su.mu.Unlock()
	for i, vc := range su.touched {
		vc.signal()
		su.touched[i] = nil
	}
	su.touched = su.touched[:0]
	return err
}

// give appends reply bytes to vc's inbox: done complete replies, and maybe
// the first part of the next.
func (su *sharedUp) give(vc *sharedConn, b []byte, done int) {
	vc.mu.Lock()
	if !vc.closed {
		vc.inbox = append(vc.inbox, b...)
	}
	vc.outstanding -= done
	if vc.outstanding == 0 {
		vc.cond.Broadcast()
	}
	first := !vc.touched
	vc.touched = true
	vc.mu.Unlock()
	if first {
		su.touched = append(su.touched, vc)
	}
}
