package provision

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// A relay carries the cluster bus connections to one node while a partition is
// in place. The node announces the relay's port as its cluster bus port
// (cluster-announce-bus-port), so its peers connect to the relay, which
// forwards to the node's own bus port. The relay learns which node connects
// from the sender id in the first message header; when that node and the
// relay's node are on different sides of the cut, it forwards nothing, in
// either direction, and closes nothing: each side sees silence, as on a cut
// network, and Redis's own failure detection (node-timeout) takes its course.
//
//	node a ──► relay of b (b's announced bus port) ──► b's bus port
//	           first header: sender = a; a and b on different sides: discard
//
// When the cut ends, the relay closes the connections it silenced (both ends
// reconnect at once) and forwards new ones.

// Cluster bus message header: "RCmb" at 0, the 40-byte sender node id at 40
// (after totlen, ver, port, type, count and three 64-bit epochs/offsets).
const (
	busSig          = "RCmb"
	busSenderOffset = 40
	busHeaderLen    = busSenderOffset + 40
)

// relaySet is the relays of every node of a cluster and the cut they enforce.
type relaySet struct {
	log    *slog.Logger
	ids    map[string]int // node id → node index
	sides  atomic.Pointer[[]int]
	relays []*busRelay
	wg     sync.WaitGroup
}

// busRelay is the relay of one node.
type busRelay struct {
	set    *relaySet
	index  int    // the node it forwards to
	target string // that node's own cluster bus address
	ln     net.Listener

	mu     sync.Mutex
	conns  map[*relayConn]struct{}
	closed bool
}

// relayConn is one relayed connection: from a peer node to the relay's node.
type relayConn struct {
	from int      // index of the connecting node, -1 until known (or when unknown)
	peer net.Conn // accepted from the peer
	node net.Conn // dialled to the relay's node; nil while cut from the start
	cut  atomic.Bool
}

// startRelays listens on host (port chosen by the system) for each node; ids
// and targets are the nodes' ids and own cluster bus addresses, by index.
func startRelays(host string, ids, targets []string, log *slog.Logger) (*relaySet, error) {
	s := &relaySet{log: log, ids: map[string]int{}}
	for i, id := range ids {
		s.ids[id] = i
	}
	for i, t := range targets {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			s.close()
			return nil, err
		}
		r := &busRelay{set: s, index: i, target: t, ln: ln, conns: map[*relayConn]struct{}{}}
		s.relays = append(s.relays, r)
		s.wg.Add(1)
		go r.serve()
	}
	return s, nil
}

// ports returns each relay's port, by node index.
func (s *relaySet) ports() []int {
	out := make([]int, len(s.relays))
	for i, r := range s.relays {
		out[i] = r.ln.Addr().(*net.TCPAddr).Port
	}
	return out
}

// cutBetween reports whether nodes a and b are on different sides of the cut.
// An unknown node (-1) is never cut off.
func (s *relaySet) cutBetween(a, b int) bool {
	sides := s.sides.Load()
	if sides == nil || a < 0 || b < 0 || a >= len(*sides) || b >= len(*sides) {
		return false
	}
	return (*sides)[a] != (*sides)[b]
}

// setSides starts the cut: side[i] is node i's side. Data already read from a
// connection that crosses the cut is the last it forwards.
func (s *relaySet) setSides(side []int) {
	cp := append([]int(nil), side...)
	s.sides.Store(&cp)
}

// heal ends the cut and closes the connections it silenced.
func (s *relaySet) heal() {
	s.sides.Store(nil)
	for _, r := range s.relays {
		r.mu.Lock()
		for c := range r.conns {
			if c.cut.Load() {
				c.close()
			}
		}
		r.mu.Unlock()
	}
}

// links returns, for each ordered pair of nodes (from, to), how many open
// connections the relays forward between them (silenced ones excluded).
func (s *relaySet) links() map[[2]int]int {
	out := map[[2]int]int{}
	for _, r := range s.relays {
		r.mu.Lock()
		for c := range r.conns {
			if c.from >= 0 && !c.cut.Load() {
				out[[2]int{c.from, r.index}]++
			}
		}
		r.mu.Unlock()
	}
	return out
}

// open returns the number of connections the relays hold.
func (s *relaySet) open() int {
	n := 0
	for _, r := range s.relays {
		r.mu.Lock()
		n += len(r.conns)
		r.mu.Unlock()
	}
	return n
}

// close stops every relay and closes its connections.
func (s *relaySet) close() {
	for _, r := range s.relays {
		r.mu.Lock()
		r.closed = true
		for c := range r.conns {
			c.close()
		}
		r.mu.Unlock()
		r.ln.Close()
	}
	s.wg.Wait()
}

func (c *relayConn) close() {
	c.peer.Close()
	if c.node != nil {
		c.node.Close()
	}
}

func (r *busRelay) serve() {
	defer r.set.wg.Done()
	for {
		peer, err := r.ln.Accept()
		if err != nil {
			return
		}
		c := &relayConn{from: -1, peer: peer}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			peer.Close()
			return
		}
		r.conns[c] = struct{}{}
		r.set.wg.Add(1)
		r.mu.Unlock()
		go r.relay(c)
	}
}

// relay identifies the connecting node, then forwards both ways (or silences
// the connection while it crosses the cut) until either end closes.
func (r *busRelay) relay(c *relayConn) {
	defer r.set.wg.Done()
	defer func() {
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		c.close()
	}()
	hdr := make([]byte, busHeaderLen)
	_ = c.peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c.peer, hdr); err != nil {
		return
	}
	_ = c.peer.SetReadDeadline(time.Time{})
	from := -1
	if string(hdr[:len(busSig)]) == busSig {
		if i, ok := r.set.ids[string(hdr[busSenderOffset:busHeaderLen])]; ok {
			from = i
		}
	}
	r.mu.Lock()
	c.from = from
	r.mu.Unlock()
	if r.set.cutBetween(from, r.index) {
		// Cut from the start: the node never hears of this connection.
		c.cut.Store(true)
		_, _ = io.Copy(io.Discard, c.peer)
		return
	}
	node, err := net.DialTimeout("tcp", r.target, time.Second)
	if err != nil {
		r.set.log.Debug("cluster bus relay: dial", "node", r.index, "err", err)
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		node.Close()
		return
	}
	c.node = node
	r.mu.Unlock()
	if _, err := node.Write(hdr); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.pump(c, c.node, c.peer)
	}()
	r.pump(c, c.peer, c.node)
	c.close()
	<-done
}

// pump copies src to dst until src ends, dropping everything from the moment
// the connection crosses the cut.
func (r *busRelay) pump(c *relayConn, src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !c.cut.Load() && r.set.cutBetween(c.from, r.index) {
				c.cut.Store(true)
			}
			if !c.cut.Load() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			if c.cut.Load() {
				// A silenced connection stays open on the other end: the
				// node there sees silence, not a close.
				return
			}
			dst.Close()
			return
		}
	}
}
