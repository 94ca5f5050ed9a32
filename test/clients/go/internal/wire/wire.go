// Package wire is the conformance apps' own wire log: every connection the
// library opens goes through a Recorder, which writes one JSON line per
// event (connection opened, refused, closed by the app or by the peer; each
// command written; each reply read) with its time in microseconds since the
// Unix epoch. The matrix runner derives what the app really did from this
// log, from the app's counters and from the data, never from the checker.
//
// The line format is shared with the Python and Node.js apps:
//
//	{"t":…,"c":3,"k":"open","p":7001}          connected to port 7001
//	{"t":…,"c":4,"k":"dialerr","p":7002,"e":"refused"}
//	{"t":…,"c":3,"k":"cmd","a":["SET","k","v"]}
//	{"t":…,"c":3,"k":"rep","r":"-","e":"MOVED 3999 127.0.0.1:7002"}
//	{"t":…,"c":3,"k":"rep","r":":","v":"1"}
//	{"t":…,"c":3,"k":"close"}                  closed by the app
//	{"t":…,"c":3,"k":"eof"} / "reset"          closed by the peer
//	{"t":…,"k":"op","d":1234,"ok":false,"e":"timeout"}   an app event
package wire

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MaxArgs is how many arguments of a command are logged (the count is
// logged as "n" when there are more), and MaxArgLen how many bytes of each.
const (
	MaxArgs   = 16
	MaxArgLen = 64
)

// Recorder writes the wire log. It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	on     atomic.Bool
	nextID atomic.Int64
}

// Open creates the log at path and starts recording.
func Open(path string) (*Recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	r := &Recorder{f: f, w: bufio.NewWriterSize(f, 1<<16)}
	r.on.Store(true)
	return r, nil
}

// Stop ends recording: what happens afterwards (the app's shutdown) is not
// part of its behaviour under the fault.
func (r *Recorder) Stop() { r.on.Store(false) }

// Close stops recording and flushes the log.
func (r *Recorder) Close() error {
	r.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.w.Flush()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Event is one line of the log.
type Event struct {
	T    int64    `json:"t"`
	C    int64    `json:"c,omitempty"`
	K    string   `json:"k"`
	P    int      `json:"p,omitempty"`
	A    []string `json:"a,omitempty"`
	N    int      `json:"n,omitempty"`
	R    string   `json:"r,omitempty"`
	E    string   `json:"e,omitempty"`
	V    string   `json:"v,omitempty"`
	D    int64    `json:"d,omitempty"`
	OK   *bool    `json:"ok,omitempty"`
	Note string   `json:"note,omitempty"`
}

// Now is the log's clock: microseconds since the Unix epoch.
func Now() int64 { return time.Now().UnixMicro() }

// Log writes one event (T is set when zero).
func (r *Recorder) Log(e Event) {
	if r == nil || !r.on.Load() {
		return
	}
	if e.T == 0 {
		e.T = Now()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	r.mu.Lock()
	r.w.Write(b)
	r.w.WriteByte('\n')
	r.mu.Unlock()
}

// App logs an application event: an operation's outcome, a retry, a
// restart, a health probe.
func (r *Recorder) App(kind string, port int, ok *bool, errClass string, d time.Duration) {
	r.Log(Event{K: kind, P: port, OK: ok, E: errClass, D: d.Microseconds()})
}

// Dialer wraps a dial function (go-redis's Options.Dialer signature).
func (r *Recorder) Dialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		id := r.nextID.Add(1)
		port := portOf(addr)
		c, err := dial(ctx, network, addr)
		if err != nil {
			r.Log(Event{C: id, K: "dialerr", P: port, E: DialClass(err)})
			return nil, err
		}
		r.Log(Event{C: id, K: "open", P: port})
		return &conn{Conn: c, r: r, id: id}, nil
	}
}

// DialCtxFn wraps dialing for rueidis (ClientOption.DialCtxFn).
func (r *Recorder) DialCtxFn() func(ctx context.Context, dst string, d *net.Dialer, cfg *tls.Config) (net.Conn, error) {
	return func(ctx context.Context, dst string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
		return r.Dialer(d.DialContext)(ctx, "tcp", dst)
	}
}

// DialClass names a dial error: refused, timeout or other.
func DialClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// conn logs what crosses one connection.
type conn struct {
	net.Conn
	r      *Recorder
	id     int64
	wmu    sync.Mutex
	out    Parser
	rmu    sync.Mutex
	in     Parser
	closed atomic.Bool
}

func (c *conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	c.out.Feed(b, func(v Value) {
		e := Event{C: c.id, K: "cmd", A: v.Args}
		if len(v.Args) >= MaxArgs && v.N > len(v.Args) {
			e.N = v.N
		}
		c.r.Log(e)
	})
	c.wmu.Unlock()
	return c.Conn.Write(b)
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.rmu.Lock()
	if n > 0 {
		c.in.Feed(b[:n], func(v Value) {
			e := Event{C: c.id, K: "rep", R: string(v.Type)}
			switch v.Type {
			case '-', '!':
				e.E = v.Str
			case ':', '+':
				e.V = v.Str
			}
			c.r.Log(e)
		})
	}
	c.rmu.Unlock()
	if err != nil && !c.closed.Load() {
		var ne net.Error
		switch {
		case errors.Is(err, io.EOF):
			c.r.Log(Event{C: c.id, K: "eof"})
		case errors.Is(err, syscall.ECONNRESET):
			c.r.Log(Event{C: c.id, K: "reset"})
		case errors.As(err, &ne) && ne.Timeout():
			c.r.Log(Event{C: c.id, K: "rto"}) // the app's own read deadline
		}
	}
	return n, err
}

// SyscallConn keeps the library's own liveness checks on the raw socket
// (go-redis peeks at an idle connection before reusing it).
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

func (c *conn) Close() error {
	if !c.closed.Swap(true) {
		c.r.Log(Event{C: c.id, K: "close"})
	}
	return c.Conn.Close()
}
