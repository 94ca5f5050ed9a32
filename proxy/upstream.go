package proxy

import (
	"io"
	"net"
	"sync"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
)

// upstream is one connection to a real node with its reply buffer. The
// client loop writes commands to c; the buffer (replyBuf) belongs to the
// reply loop, the only reader of c. addr, host and c never change.
type upstream struct {
	addr string
	host string
	c    net.Conn
	replyBuf
}

func newUpstream(addr string, nc net.Conn) *upstream {
	host, _, _ := net.SplitHostPort(addr)
	return &upstream{addr: addr, host: host, c: nc, replyBuf: replyBuf{buf: make([]byte, upstreamBufSize)}}
}

// Buffers start small so that idle connections cost little; they grow with
// what passes through and shrink back once a large reply is gone.
const upstreamBufSize = 4 << 10

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

// upstreamSet holds a client connection's upstream connections, so that
// whichever goroutine ends the connection closes them all, and one dialed
// while it ended is closed at once. Everything is under mu.
type upstreamSet struct {
	mu     sync.Mutex
	closed bool
	conns  []net.Conn
}

// add keeps nc, or closes it and reports false if the set is closed.
func (s *upstreamSet) add(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return false
	}
	s.conns = append(s.conns, nc)
	return true
}

// close closes every connection in the set, and any added later.
func (s *upstreamSet) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, nc := range s.conns {
		nc.Close()
	}
	s.conns = nil
}
