package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// node is one real node's listener. addr, port, listen and announce never
// change; the other fields are under Server.mu.
type node struct {
	addr     string
	id       string
	port     int
	listen   string
	announce topology.Endpoint
	ln       net.Listener // nil while down or refusing
	down     bool         // SetDown
	// The node refuses connections (killed, host up): its port refuses them
	// too, as the node would, until a probe connects again.
	refusing bool
}

// routes is the immutable address map the data path reads.
type routes struct {
	byAddr     map[string]topology.Endpoint // real host:port → announced
	byHostname map[string]topology.Endpoint // hostname:port → announced
	hostOf     map[string]string            // real addr → host for "?"/"" endpoints
}

// openLocked opens the listener for a real node.
func (s *Server) openLocked(addr, id, hostname string) (*node, error) {
	port := s.portForLocked(addr, id)
	ln, err := s.listen(port)
	if err != nil {
		return nil, fmt.Errorf("proxy: listen for node %s: %w", addr, err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	nd := &node{addr: addr, id: id, port: port, ln: ln,
		listen:   ln.Addr().String(),
		announce: topology.Endpoint{Host: s.cfg.AnnounceHost, Port: port}}
	s.nodes[addr] = nd
	s.log.Info("node listener", "node", addr, "id", id, "listen", nd.listen, "announce", net.JoinHostPort(s.cfg.AnnounceHost, strconv.Itoa(port)))
	s.wg.Add(1)
	go s.acceptLoop(nd, ln)
	if t := s.topo.Load(); t != nil {
		s.publishLocked(t)
	}
	return nd, nil
}

func (s *Server) portForLocked(addr, id string) int {
	if p, ok := s.cfg.Ports[addr]; ok {
		return p
	}
	if p, ok := s.cfg.Ports[id]; ok && id != "" {
		return p
	}
	if s.cfg.BasePort < 0 {
		return 0
	}
	used := map[int]bool{}
	for _, nd := range s.nodes {
		used[nd.port] = true
	}
	for _, p := range s.cfg.Ports {
		used[p] = true
	}
	p := s.cfg.BasePort
	for used[p] {
		p++
	}
	return p
}

func (s *Server) listen(port int) (net.Listener, error) {
	ln, err := s.cfg.Listen("tcp", net.JoinHostPort(s.cfg.ListenHost, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	return ln, nil
}

func (s *Server) publishLocked(t *topology.Topology) {
	r := &routes{
		byAddr:     make(map[string]topology.Endpoint, len(s.nodes)),
		byHostname: map[string]topology.Endpoint{},
		hostOf:     make(map[string]string, len(s.nodes)),
	}
	for a, nd := range s.nodes {
		r.byAddr[a] = nd.announce
		host, _, _ := net.SplitHostPort(a)
		r.hostOf[a] = host
	}
	for _, n := range t.Nodes {
		nd, ok := s.nodes[n.Addr]
		if !ok {
			continue
		}
		if n.Host != "" {
			r.byAddr[net.JoinHostPort(n.Host, strconv.Itoa(n.Port))] = nd.announce
		}
		if n.Hostname != "" {
			r.byHostname[net.JoinHostPort(n.Hostname, strconv.Itoa(n.Port))] = nd.announce
		}
	}
	s.routes.Store(r)
}

// resolve maps an address a node told a client to the announced address.
// upstreamHost stands in for an unknown ("?" or empty) endpoint.
func (s *Server) resolve(host string, port int, upstreamHost string) (topology.Endpoint, bool) {
	if host == "" || host == "?" {
		host = upstreamHost
	}
	key := net.JoinHostPort(host, strconv.Itoa(port))
	r := s.routes.Load()
	if ep, ok := r.byAddr[key]; ok {
		return ep, true
	}
	if ep, ok := r.byHostname[key]; ok {
		return ep, true
	}
	// A node we have not seen yet (a new node, a failover in progress): give
	// it a listener now rather than let the client learn its real address.
	if ip := net.ParseIP(host); ip == nil {
		addrs, err := net.LookupHost(host)
		if err != nil || len(addrs) == 0 {
			return topology.Endpoint{}, false
		}
		key = net.JoinHostPort(addrs[0], strconv.Itoa(port))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if nd, ok := s.nodes[key]; ok {
		return nd.announce, true
	}
	if s.closed {
		return topology.Endpoint{}, false
	}
	nd, err := s.openLocked(key, "", "")
	if err != nil {
		s.log.Warn("cannot open listener for a new node", "node", key, "err", err)
		return topology.Endpoint{}, false
	}
	s.triggerRefresh()
	return nd.announce, true
}

// SetDown closes (down=true) or reopens a node's listener. Closing it also
// resets every open client connection of that node, as a dead node does.
func (s *Server) SetDown(realAddr string, down bool) error {
	s.mu.Lock()
	nd, ok := s.nodes[realAddr]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("proxy: unknown node %s", realAddr)
	}
	if nd.down == down {
		s.mu.Unlock()
		return nil
	}
	nd.down = down
	if down {
		ln := nd.ln
		nd.ln = nil
		s.mu.Unlock()
		if ln != nil {
			ln.Close()
		}
		s.ResetConns(realAddr)
		return nil
	}
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if nd.refusing {
		return nil // the probe reopens it once the node accepts again
	}
	ln, err := s.listen(nd.port)
	if err != nil {
		nd.down = true
		return fmt.Errorf("proxy: reopen listener for %s: %w", realAddr, err)
	}
	nd.ln = ln
	s.wg.Add(1)
	go s.acceptLoop(nd, ln)
	return nil
}

// upstreamRefused closes the listener of a node that refused a connection,
// so that clients are refused as by the node itself (not accepted and then
// dropped, which no client backs off from), and probes the node until it
// accepts again.
func (s *Server) upstreamRefused(nd *node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nd.refusing || s.closed {
		return
	}
	nd.refusing = true
	if nd.ln != nil {
		nd.ln.Close()
		nd.ln = nil
	}
	s.log.Warn("node refuses connections: its proxy port refuses them too until it accepts again", "node", nd.addr)
	s.wg.Add(1)
	go s.probe(nd)
}

// probe dials a refusing node until it accepts, then reopens its listener
// (unless SetDown holds it down).
func (s *Server) probe(nd *node) {
	defer s.wg.Done()
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	warned := false
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		c, err := s.dialTCP(s.ctx, nd.addr)
		if err != nil {
			continue
		}
		c.Close()
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		if !nd.down && nd.ln == nil {
			ln, err := s.listen(nd.port)
			if err != nil {
				s.mu.Unlock()
				if !warned { // it is tried again every probeInterval
					s.log.Warn("node accepts again, but its proxy port cannot be reopened yet", "node", nd.addr, "err", err)
					warned = true
				}
				continue
			}
			nd.ln = ln
			s.wg.Add(1)
			go s.acceptLoop(nd, ln)
		}
		nd.refusing = false
		s.mu.Unlock()
		s.log.Info("node accepts connections again", "node", nd.addr)
		return
	}
}

// probeInterval is how often a refusing node is dialed.
const probeInterval = 100 * time.Millisecond

// ResetConns resets (RST) every client connection of a node.
func (s *Server) ResetConns(realAddr string) {
	s.mu.Lock()
	var victims []*clientConn
	for c := range s.conns {
		if c.info.Load().Node == realAddr {
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	for _, c := range victims {
		c.reset("node down")
	}
}

func (s *Server) acceptLoop(nd *node, ln net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		c := s.newClientConn(nd, nc)
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}
