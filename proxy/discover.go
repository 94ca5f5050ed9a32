package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// A TopologySource tells the proxy what the cluster looks like: its nodes,
// their roles and slots (Config.Topology). The proxy asks at Start, every
// RefreshInterval, and when a reply names a node it does not know; Topology
// must be safe for concurrent use, and the proxy does not modify what it
// returns.
type TopologySource interface {
	Topology(ctx context.Context) (*topology.Topology, error)
}

// discover reads the topology: from Config.Topology if set, else from the
// seeds, then the known nodes (CLUSTER NODES).
func (s *Server) discover(ctx context.Context) (*topology.Topology, error) {
	if s.cfg.Topology != nil {
		t, err := s.cfg.Topology.Topology(ctx)
		if err != nil {
			return nil, fmt.Errorf("proxy: topology: %w", err)
		}
		return t, nil
	}
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

// controlClient is a client for the proxy's own queries to a node.
func (s *Server) controlClient(addr string) *redis.Client {
	opt := &redis.Options{
		Addr: addr, Username: s.cfg.Username, Password: s.cfg.Password,
		DialTimeout: s.cfg.DialTimeout, ReadTimeout: s.cfg.DialTimeout, WriteTimeout: s.cfg.DialTimeout,
		MaxRetries: -1, PoolSize: 1, TLSConfig: s.cfg.UpstreamTLS, DisableIdentity: true,
		Protocol: 2,
	}
	if s.cfg.Dial != nil {
		// go-redis layers TLS only on its own dialer.
		opt.Dialer = func(ctx context.Context, _, addr string) (net.Conn, error) { return s.dialContext(ctx, addr) }
	}
	return redis.NewClient(opt)
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

// loadCommands reads the command table from the first node that answers
// COMMAND (none when Config.Topology is set: the built-in table stays).
func (s *Server) loadCommands(ctx context.Context, t *topology.Topology) {
	if s.cfg.Topology != nil {
		return
	}
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
