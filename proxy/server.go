package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// Errors returned by the proxy.
var (
	ErrNoSeeds     = errors.New("proxy: no seed addresses")
	ErrUnreachable = errors.New("proxy: no seed node answered CLUSTER NODES")
	ErrClosed      = errors.New("proxy: server closed")
)

// Config configures a Server. Zero values get defaults.
type Config struct {
	Seeds []string // real cluster nodes to discover the cluster from

	ListenHost   string // interface for the per-node listeners; if empty, 127.0.0.1
	AnnounceHost string // host told to clients; if empty, ListenHost (127.0.0.1 for a wildcard ListenHost)
	// BasePort is the first proxy port: the nodes, sorted by address, get
	// BasePort, BasePort+1, … If zero, 7001; if negative, the OS picks each port.
	BasePort int
	// Ports pins nodes to proxy ports, by real address or node id.
	Ports map[string]int

	RefreshInterval time.Duration // topology refresh; if zero, 1s
	DialTimeout     time.Duration // upstream dials; if zero, 2s
	Username        string        // credentials of the proxy's own topology queries
	Password        string

	// MaxQueryBuffer bounds the bytes of commands read from one client and not
	// yet complete (Redis's client-query-buffer-limit). If zero, 1 GiB.
	MaxQueryBuffer int
	// MaxBulk bounds one bulk string in a client's command (proto-max-bulk-len); if zero, 512 MiB.
	MaxBulk int

	TLS         *tls.Config // if set, client listeners speak TLS
	UpstreamTLS *tls.Config // if set, connections to the nodes use TLS

	// ShareUpstreams lets client connections share upstream connections
	// until their first stateful command (SPEC §9; shared.go). If false,
	// every client connection has its own upstream connection (1:1).
	ShareUpstreams bool

	Policy     Policy   // what to do with each command; nil forwards everything
	Observer   Observer // where events go; nil records none
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil registers no metrics
}

func (c *Config) setDefaults() {
	if c.ListenHost == "" {
		c.ListenHost = "127.0.0.1"
	}
	if c.AnnounceHost == "" {
		c.AnnounceHost = c.ListenHost
		if ip := net.ParseIP(c.ListenHost); ip != nil && ip.IsUnspecified() {
			c.AnnounceHost = "127.0.0.1"
		}
	}
	if c.BasePort == 0 {
		c.BasePort = 7001
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = time.Second
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.MaxQueryBuffer == 0 {
		c.MaxQueryBuffer = 1 << 30
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// NodeInfo is one real node and the proxy port that stands for it.
type NodeInfo struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`      // real address
	Listen   string `json:"listen"`    // proxy listener address
	Announce string `json:"announce"`  // address told to clients
	Role     string `json:"role"`      // as the real cluster says
	MasterID string `json:"master_id"` // for replicas
	Down     bool   `json:"down"`      // listener closed by SetDown
}

// Server is the proxy: one listener per real node, one upstream connection per
// client connection.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	bulk    BulkObserver // cfg.Observer, if it takes plain commands in bulk

	mu      sync.Mutex
	nodes   map[string]*node // by real address
	closed  bool
	conns   map[*clientConn]struct{}
	refresh chan struct{}

	routes   atomic.Pointer[routes]            // data path view of addresses
	topo     atomic.Pointer[topology.Topology] // last real topology
	commands atomic.Pointer[commandTable]
	nextID   atomic.Uint64
	shared   *sharedPool // nil unless cfg.ShareUpstreams

	wg     sync.WaitGroup
	cancel context.CancelFunc
	ctx    context.Context // ends with the server (refresh, probes)
}

// node is one real node's listener.
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

// New checks the configuration and returns a Server; Start discovers the
// cluster and opens the listeners.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if len(cfg.Seeds) == 0 {
		return nil, ErrNoSeeds
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		nodes:   map[string]*node{},
		conns:   map[*clientConn]struct{}{},
		refresh: make(chan struct{}, 1),
	}
	s.bulk, _ = cfg.Observer.(BulkObserver)
	s.metrics = newMetrics(cfg.Registerer)
	if cfg.ShareUpstreams {
		s.shared = newSharedPool(s)
	}
	ct := builtinCommands
	s.commands.Store(&ct)
	s.routes.Store(&routes{byAddr: map[string]topology.Endpoint{}, byHostname: map[string]topology.Endpoint{}, hostOf: map[string]string{}})
	return s, nil
}

// Start discovers the cluster, opens one listener per node and starts the
// topology refresh loop. It returns once every listener accepts connections.
func (s *Server) Start(ctx context.Context) error {
	t, err := s.discover(ctx)
	if err != nil {
		return err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.apply(t); err != nil {
		s.Close()
		return err
	}
	s.loadCommands(ctx, t)
	s.wg.Add(1)
	go s.refreshLoop(s.ctx)
	return nil
}

// discover asks the seeds, then the known nodes, for CLUSTER NODES.
func (s *Server) discover(ctx context.Context) (*topology.Topology, error) {
	addrs := append([]string(nil), s.cfg.Seeds...)
	if t := s.topo.Load(); t != nil {
		for _, n := range t.Nodes {
			if !n.Failed {
				addrs = append(addrs, n.Addr)
			}
		}
	}
	var lastErr error
	for _, a := range addrs {
		t, err := s.clusterNodes(ctx, a)
		if err == nil {
			return t, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("%w: %v", ErrUnreachable, lastErr)
}

func (s *Server) controlClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, Username: s.cfg.Username, Password: s.cfg.Password,
		DialTimeout: s.cfg.DialTimeout, ReadTimeout: s.cfg.DialTimeout, WriteTimeout: s.cfg.DialTimeout,
		MaxRetries: -1, PoolSize: 1, TLSConfig: s.cfg.UpstreamTLS, DisableIdentity: true,
		Protocol: 2,
	})
}

func (s *Server) clusterNodes(ctx context.Context, addr string) (*topology.Topology, error) {
	c := s.controlClient(addr)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES on %s: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	t, err := topology.ParseNodes(text, host)
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES on %s: %w", addr, err)
	}
	return t, nil
}

func (s *Server) loadCommands(ctx context.Context, t *topology.Topology) {
	for _, n := range t.Nodes {
		c := s.controlClient(n.Addr)
		cctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
		infos, err := c.Command(cctx).Result()
		cancel()
		c.Close()
		if err == nil {
			ct := newCommandTable(infos)
			s.commands.Store(&ct)
			return
		}
	}
	s.log.Warn("COMMAND failed on every node; using the built-in command table")
}

// apply opens listeners for new nodes and publishes the topology.
func (s *Server) apply(t *topology.Topology) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	// Deterministic: nodes sorted by address get the lowest free ports in order.
	addrs := make([]string, 0, len(t.Nodes))
	for _, n := range t.Nodes {
		addrs = append(addrs, n.Addr)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		n, _ := t.ByAddr(a)
		if nd, ok := s.nodes[a]; ok {
			nd.id = n.ID
			continue
		}
		if _, err := s.openLocked(a, n.ID, n.Hostname); err != nil {
			return err
		}
	}
	s.topo.Store(t)
	s.publishLocked(t)
	return nil
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
	ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.ListenHost, strconv.Itoa(port)))
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

func (s *Server) triggerRefresh() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

func (s *Server) refreshLoop(ctx context.Context) {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.RefreshInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.refresh:
		}
		t, err := s.discover(ctx)
		if err != nil {
			s.metrics.refreshes.WithLabelValues("error").Inc()
			s.log.Warn("topology refresh failed", "err", err)
			continue
		}
		if err := s.apply(t); err != nil {
			if errors.Is(err, ErrClosed) {
				return
			}
			s.metrics.refreshes.WithLabelValues("error").Inc()
			s.log.Warn("topology refresh failed", "err", err)
			continue
		}
		s.metrics.refreshes.WithLabelValues("ok").Inc()
	}
}

// Refresh re-reads the topology now.
func (s *Server) Refresh(ctx context.Context) error {
	t, err := s.discover(ctx)
	if err != nil {
		return err
	}
	return s.apply(t)
}

// SharesUpstreams reports whether client connections share upstream
// connections (Config.ShareUpstreams).
func (s *Server) SharesUpstreams() bool { return s.shared != nil }

// Topology returns the last real topology read from the cluster.
func (s *Server) Topology() *topology.Topology { return s.topo.Load() }

// Nodes lists the real nodes and their proxy ports, sorted by proxy port.
func (s *Server) Nodes() []NodeInfo {
	t := s.topo.Load()
	s.mu.Lock()
	out := make([]NodeInfo, 0, len(s.nodes))
	for a, nd := range s.nodes {
		ni := NodeInfo{ID: nd.id, Addr: a, Listen: nd.listen,
			Announce: net.JoinHostPort(nd.announce.Host, strconv.Itoa(nd.announce.Port)), Down: nd.down}
		if t != nil {
			if n, ok := t.ByAddr(a); ok {
				ni.Role, ni.MasterID, ni.ID = n.Role, n.MasterID, n.ID
			}
		}
		out = append(out, ni)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Announce < out[j].Announce })
	return out
}

// Announced returns the address told to clients for a real node.
func (s *Server) Announced(realAddr string) (string, bool) {
	ep, ok := s.routes.Load().byAddr[realAddr]
	if !ok {
		return "", false
	}
	return net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port)), true
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
		d := net.Dialer{Timeout: s.cfg.DialTimeout}
		c, err := d.DialContext(s.ctx, "tcp", nd.addr)
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

func (s *Server) forget(c *clientConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// stop closes the listeners, ends the refresh loop and returns the open
// connections.
func (s *Server) stop() []*clientConn {
	s.mu.Lock()
	s.closed = true
	for _, nd := range s.nodes {
		if nd.ln != nil {
			nd.ln.Close()
		}
	}
	conns := make([]*clientConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	return conns
}

// Shutdown stops accepting, stops reading new commands, waits until every
// reply in flight has been delivered (or ctx ends), then closes everything.
func (s *Server) Shutdown(ctx context.Context) error {
	for _, c := range s.stop() {
		c.drain()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes every listener and connection at once and waits for the
// server's goroutines.
func (s *Server) Close() error {
	for _, c := range s.stop() {
		c.close("proxy closed")
	}
	s.wg.Wait()
	return nil
}
