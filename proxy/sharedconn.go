package proxy

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// sharedConn is one client connection's upstream while it shares (and after
// it is pinned, its own connection behind the same net.Conn).
type sharedConn struct {
	pool  *sharedPool
	dial  func(string) (net.Conn, error)
	ready chan struct{} // something to read, or a state change

	mu          sync.Mutex
	su          *sharedUp // the shared connection: the client loop changes it (regroup), under mu
	cond        sync.Cond // outstanding reached 0, or the connection failed or closed
	inbox       []byte    // delivered replies not yet read
	ihead       int
	outstanding int // replies the shared connection still owes
	touched     bool
	err         error // the shared connection failed
	closed      bool
	deadline    time.Time
	timer       *time.Timer
	own         net.Conn // set when pinned
}

func (vc *sharedConn) signal() {
	vc.mu.Lock()
	vc.touched = false
	vc.mu.Unlock()
	select {
	case vc.ready <- struct{}{}:
	default:
	}
}

// group returns the shared connection vc is on.
func (vc *sharedConn) group() *sharedUp {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.su
}

// send writes n commands: on the shared connection, or on its own once pinned.
// Only the client loop calls it (and changes vc.su), so it reads vc.su
// without the lock.
func (vc *sharedConn) send(b []byte, n int) error {
	if own := vc.pinned(); own != nil {
		_, err := own.Write(b)
		return err
	}
	return vc.su.send(vc, b, n)
}

func (vc *sharedConn) pinned() net.Conn {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	return vc.own
}

// settle waits until the node has answered every command vc sent on its
// shared connection. It fails if the shared connection failed or vc closed.
func (vc *sharedConn) settle() error {
	vc.mu.Lock()
	defer vc.mu.Unlock()
	for vc.outstanding > 0 && vc.err == nil && !vc.closed {
		vc.cond.Wait()
	}
	if vc.closed {
		return net.ErrClosed
	}
	return vc.err
}

// regroup moves vc to a shared connection in the state k (dialed and
// started if the node has none), once the node has answered everything vc
// sent on its current one. accept sees what the new connection's start-up
// learned and may refuse the move: then vc stays where it is (moved false).
// A *groupRefused error says the node refused the state itself (a wrong
// password…); any other, that the node could not be reached or vc ended.
func (vc *sharedConn) regroup(k shareKey, accept func(*groupState) bool) (moved bool, err error) {
	old := vc.su
	if old.key.shareKey == k {
		return accept(old.state), nil
	}
	su, err := vc.pool.get(groupKey{addr: old.key.addr, shareKey: k}, vc.dial)
	if err != nil {
		return false, err
	}
	if !accept(su.state) {
		su.release()
		return false, nil
	}
	if err := vc.settle(); err != nil {
		su.release()
		return false, err
	}
	vc.mu.Lock()
	if vc.closed { // Close detached old
		vc.mu.Unlock()
		su.release()
		return false, net.ErrClosed
	}
	vc.su = su
	vc.mu.Unlock()
	su.add(vc)
	old.detach(vc)
	return true, nil
}

// pin moves the client to its own connection: dialed here, put in the
// client's state by replay (its n commands, whose replies are checked and
// returned), used once the node has answered everything the client sent on
// the shared one.
func (vc *sharedConn) pin(dial func() (net.Conn, error), replay []byte, n int) ([][]byte, error) {
	if vc.pinned() != nil {
		return nil, nil
	}
	own, err := dial()
	if err != nil {
		return nil, &pinDialError{err}
	}
	var replies [][]byte
	if n > 0 {
		if replies, err = roundTrip(own, replay, n, vc.pool.s.cfg.DialTimeout); err == nil {
			err = firstError(replies)
		}
		if err != nil {
			own.Close()
			return nil, &pinDialError{err}
		}
	}
	if err := vc.settle(); err != nil {
		own.Close()
		return nil, err
	}
	vc.mu.Lock()
	if vc.closed {
		vc.mu.Unlock()
		own.Close()
		return nil, net.ErrClosed
	}
	vc.own = own
	if !vc.deadline.IsZero() {
		own.SetReadDeadline(vc.deadline)
	}
	su := vc.su
	vc.mu.Unlock()
	su.detach(vc)
	vc.signal()
	return replies, nil
}

// pinDialError: the client's own connection could not be dialed.
type pinDialError struct{ err error }

func (e *pinDialError) Error() string { return e.err.Error() }
func (e *pinDialError) Unwrap() error { return e.err }

var _ net.Conn = (*sharedConn)(nil)

// Read returns delivered replies, then (pinned, once the shared connection
// owes nothing) what the own connection reads.
func (vc *sharedConn) Read(p []byte) (int, error) {
	for {
		vc.mu.Lock()
		if vc.ihead < len(vc.inbox) {
			n := copy(p, vc.inbox[vc.ihead:])
			vc.ihead += n
			if vc.ihead == len(vc.inbox) {
				vc.ihead = 0
				if cap(vc.inbox) > 64<<10 {
					vc.inbox = nil
				} else {
					vc.inbox = vc.inbox[:0]
				}
			}
			vc.mu.Unlock()
			return n, nil
		}
		switch {
		case vc.closed:
			vc.mu.Unlock()
			return 0, net.ErrClosed
		case vc.own != nil && vc.outstanding == 0:
			own := vc.own
			vc.mu.Unlock()
			return own.Read(p)
		case vc.err != nil:
			err := vc.err
			vc.mu.Unlock()
			return 0, err
		case !vc.deadline.IsZero() && !time.Now().Before(vc.deadline):
			vc.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		vc.mu.Unlock()
		<-vc.ready
	}
}

// Write is for a pinned connection only (send carries the command count).
func (vc *sharedConn) Write(p []byte) (int, error) {
	if own := vc.pinned(); own != nil {
		return own.Write(p)
	}
	return 0, errors.New("proxy: write to a shared upstream without a command count")
}

func (vc *sharedConn) Close() error {
	vc.mu.Lock()
	if vc.closed {
		vc.mu.Unlock()
		return nil
	}
	vc.closed = true
	vc.inbox, vc.ihead = nil, 0
	own := vc.own
	if vc.timer != nil {
		vc.timer.Stop()
	}
	vc.cond.Broadcast()
	su := vc.su
	vc.mu.Unlock()
	vc.signal()
	if own != nil {
		return own.Close()
	}
	su.detach(vc)
	return nil
}

func (vc *sharedConn) LocalAddr() net.Addr {
	if own := vc.pinned(); own != nil {
		return own.LocalAddr()
	}
	return vc.group().nc.LocalAddr()
}

func (vc *sharedConn) RemoteAddr() net.Addr {
	if own := vc.pinned(); own != nil {
		return own.RemoteAddr()
	}
	return vc.group().nc.RemoteAddr()
}

func (vc *sharedConn) SetDeadline(t time.Time) error {
	return errors.Join(vc.SetReadDeadline(t), vc.SetWriteDeadline(t))
}

func (vc *sharedConn) SetWriteDeadline(t time.Time) error {
	if own := vc.pinned(); own != nil {
		return own.SetWriteDeadline(t)
	}
	return nil
}

// SetReadDeadline wakes a Read waiting for replies when t passes (the reply
// loop's wake-up: a time in the past), on the own connection too.
func (vc *sharedConn) SetReadDeadline(t time.Time) error {
	vc.mu.Lock()
	vc.deadline = t
	if vc.timer != nil {
		vc.timer.Stop()
		vc.timer = nil
	}
	if d := time.Until(t); !t.IsZero() && d > 0 {
		vc.timer = time.AfterFunc(d, vc.signal)
	}
	own := vc.own
	vc.mu.Unlock()
	if !t.IsZero() {
		vc.signal()
	}
	if own != nil {
		return own.SetReadDeadline(t)
	}
	return nil
}
