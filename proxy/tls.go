package proxy

import (
	"crypto/tls"
	"net"
)

func tlsClient(nc net.Conn, cfg *tls.Config) net.Conn { return tls.Client(nc, cfg) }
