package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

	// Topology tells the proxy what the cluster looks like. If nil, the
	// proxy asks the Seeds (CLUSTER NODES), and its command table comes
	// from the nodes (COMMAND); if set, Seeds may be empty and the built-in
	// command table is used.
	Topology TopologySource
	// Listen opens the listener of one node's proxy port. If nil,
	// net.Listen is used. TLS, if set, is layered on what it returns.
	Listen func(network, addr string) (net.Listener, error)
	// Dial connects to a real node: client commands, the proxy's own
	// queries, and the probes of a node that refused. It is given a context
	// that ends after DialTimeout. If nil, a net.Dialer is used.
	// UpstreamTLS, if set, is layered on what it returns.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

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
	// until their first stateful command (see the package documentation).
	// If false, every client connection has its own upstream connection (1:1).
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
	if c.Listen == nil {
		c.Listen = net.Listen
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

// Server is the proxy: one listener per real node; each client connection
// gets its own upstream connection to its node, or shares a few with other
// clients (Config.ShareUpstreams).
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

// New checks the configuration and returns a Server; Start discovers the
// cluster and opens the listeners.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if len(cfg.Seeds) == 0 && cfg.Topology == nil {
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
	go s.waitAll(done)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// waitAll waits for the server's goroutines, then closes done.
func (s *Server) waitAll(done chan<- struct{}) {
	s.wg.Wait()
	close(done)
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
