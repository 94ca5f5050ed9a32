package proxy

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// hangWatch looks at a client's socket without reading it.
type hangWatch struct {
	rc  syscall.RawConn
	buf []byte
}

// newHangWatch returns a watch of c's socket, or nil when it cannot be
// looked at (a TLS connection's bytes are not commands).
func newHangWatch(c net.Conn) *hangWatch {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &hangWatch{rc: rc, buf: make([]byte, 64<<10)}
}

// peek returns the bytes the client sent that are not read yet (the first
// 64 KiB), and whether the client closed its end (or reset the connection),
// whether or not bytes are still pending.
func (w *hangWatch) peek() (pending []byte, closed bool) {
	n := 0
	err := w.rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
		if _, err := unix.Poll(fds, 0); err == nil && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0 {
			closed = true
		}
		if m, _, err := unix.Recvfrom(int(fd), w.buf, unix.MSG_PEEK|unix.MSG_DONTWAIT); err == nil && m > 0 {
			n = m
		}
	})
	if err != nil {
		return nil, true
	}
	return w.buf[:n], closed
}
