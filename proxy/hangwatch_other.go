//go:build !linux

package proxy

import "net"

// hangWatch looks at a client's socket without reading it: only on Linux
// (elsewhere a held connection's client is not watched).
type hangWatch struct{}

func newHangWatch(net.Conn) *hangWatch { return nil }

func (*hangWatch) peek() ([]byte, bool) { return nil, false }
