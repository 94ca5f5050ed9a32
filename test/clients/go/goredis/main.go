// Command goredis is the go-redis v9 conformance app: the shared workload
// (package load) on a ClusterClient configured well or in one of the ways
// teams get it wrong (--config). See docs/clients.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/test/clients/go/internal/load"
	"github.com/redis-chaos/redis-chaos/test/clients/go/internal/wire"
)

func main() {
	os.Exit(load.Main("go-redis", "github.com/redis/go-redis/v9", configs))
}

// good are the options of a well-configured ClusterClient: timeouts set,
// the library's retries and backoff as they come.
func good(addrs []string, name string, rec *wire.Recorder) *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs:        addrs,
		ClientName:   name,
		DialTimeout:  time.Second,
		ReadTimeout:  500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond,
		Dialer:       rec.Dialer((&net.Dialer{}).DialContext),
	}
}

func cluster(tune func(*redis.ClusterOptions)) func([]string, string, *wire.Recorder) (load.Client, error) {
	return func(addrs []string, name string, rec *wire.Recorder) (load.Client, error) {
		o := good(addrs, name, rec)
		if tune != nil {
			tune(o)
		}
		return &clusterClient{c: redis.NewClusterClient(o), nodes: nodeClients{name: name, rec: rec}}, nil
	}
}

var configs = map[string]load.Config{
	"good": {
		Desc:   "ClusterClient, 500 ms read/write timeouts, 2 s deadline per command, default retries",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New:    cluster(nil),
	},
	"no-timeout": {
		Desc: "ClusterClient with ReadTimeout/WriteTimeout -1 and no deadline",
		New: cluster(func(o *redis.ClusterOptions) {
			o.ReadTimeout, o.WriteTimeout = -1, -1
		}),
	},
	"no-backoff": {
		Desc:   "ClusterClient with MinRetryBackoff/MaxRetryBackoff -1 and MaxRetries 10 (library retries at once)",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New: cluster(func(o *redis.ClusterOptions) {
			o.MinRetryBackoff, o.MaxRetryBackoff, o.MaxRetries, o.MaxRedirects = -1, -1, 10, 10
			o.ReadTimeout, o.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
		}),
	},
	"retry-loop": {
		Desc:   "good ClusterClient, and the app resends every failed command at once (up to 20 times)",
		Policy: load.Policy{OpTimeout: 2 * time.Second, Retry: true},
		New:    cluster(nil),
	},
	"incr-retry": {
		Desc:   "good ClusterClient with 300 ms timeouts, and the app resends an INCR that timed out",
		Policy: load.Policy{OpTimeout: 2 * time.Second, IncrRetry: true},
		New: cluster(func(o *redis.ClusterOptions) {
			o.ReadTimeout, o.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
		}),
	},
	"safe-incr": {
		Desc:   "good ClusterClient, INCR through a second ClusterClient with MaxRetries -1 and MaxRedirects -1",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New: func(addrs []string, name string, rec *wire.Recorder) (load.Client, error) {
			o := good(addrs, name, rec)
			w := good(addrs, name, rec)
			w.MaxRetries, w.MaxRedirects = -1, -1
			return &clusterClient{c: redis.NewClusterClient(o), incr: redis.NewClusterClient(w), nodes: nodeClients{name: name, rec: rec}}, nil
		},
	},
	"health-restart": {
		Desc:   "good ClusterClient; a health check PINGs every node every 250 ms and rebuilds the client when one fails",
		Policy: load.Policy{OpTimeout: 2 * time.Second, Health: "restart"},
		New:    cluster(nil),
	},
	"health-fanout": {
		Desc:   "good ClusterClient; a health check PINGs every node every 250 ms and reports (no rebuild)",
		Policy: load.Policy{OpTimeout: 2 * time.Second, Health: "fanout"},
		New:    cluster(nil),
	},
	"breaker": {
		Desc:   "good ClusterClient; after 3 failed operations in a row the app stops until every node answers PING",
		Policy: load.Policy{OpTimeout: 2 * time.Second, Breaker: true},
		New:    cluster(nil),
	},
	"plain": {
		Desc:   "redis.NewClient (not a cluster client) on the first seed address",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New: func(addrs []string, name string, rec *wire.Recorder) (load.Client, error) {
			return &plainClient{c: redis.NewClient(&redis.Options{Addr: addrs[0], ClientName: name,
				DialTimeout: time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
				Dialer: rec.Dialer((&net.Dialer{}).DialContext)}), nodes: nodeClients{name: name, rec: rec}}, nil
		},
	},
	"plain-replica": {
		Desc:   "redis.NewClient on a replica's address (writes sent to a replica)",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New: func(addrs []string, name string, rec *wire.Recorder) (load.Client, error) {
			addr, err := aReplica(addrs[0])
			if err != nil {
				return nil, err
			}
			return &plainClient{c: redis.NewClient(&redis.Options{Addr: addr, ClientName: name,
				DialTimeout: time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
				Dialer: rec.Dialer((&net.Dialer{}).DialContext)}), nodes: nodeClients{name: name, rec: rec}}, nil
		},
	},
	"db1": {
		Desc:   "redis.NewClient with DB: 1 (a non-cluster configuration reused)",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New: func(addrs []string, name string, rec *wire.Recorder) (load.Client, error) {
			return &plainClient{c: redis.NewClient(&redis.Options{Addr: addrs[0], ClientName: name, DB: 1,
				DialTimeout: time.Second, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
				Dialer: rec.Dialer((&net.Dialer{}).DialContext)}), nodes: nodeClients{name: name, rec: rec}}, nil
		},
	},
	"replica-reads": {
		Desc:   "good ClusterClient with ReadOnly: true (reads from replicas)",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New:    cluster(func(o *redis.ClusterOptions) { o.ReadOnly = true }),
	},
	"static-slots": {
		Desc:   "ClusterClient with a static ClusterSlots that maps every slot to the first seed",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New: cluster(func(o *redis.ClusterOptions) {
			seed := o.Addrs[0]
			o.ClusterSlots = func(context.Context) ([]redis.ClusterSlot, error) {
				return []redis.ClusterSlot{{Start: 0, End: 16383, Nodes: []redis.ClusterNode{{Addr: seed}}}}, nil
			}
		}),
	},
	"fast-reload": {
		Desc:   "ClusterClient with ClusterStateReloadInterval 50 ms",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New:    cluster(func(o *redis.ClusterOptions) { o.ClusterStateReloadInterval = 50 * time.Millisecond }),
	},
	"big-pipeline": {
		Desc:   "good ClusterClient; every 2 s the app sends one pipeline of 3000 SETs for one slot",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New: func(addrs []string, name string, rec *wire.Recorder) (load.Client, error) {
			c := &clusterClient{c: redis.NewClusterClient(good(addrs, name, rec)), nodes: nodeClients{name: name, rec: rec}}
			go c.every(2*time.Second, func(ctx context.Context) {
				pipe := c.c.Pipeline()
				for i := range 3000 {
					pipe.Set(ctx, fmt.Sprintf("pipe:{p}:%d", i), "x", time.Minute)
				}
				pipe.Exec(ctx)
			})
			return c, nil
		},
	},
	"manual-redirect": {
		Desc:   "plain Clients behind a hand-written slot map: follows MOVED, and treats ASK like MOVED (no ASKING)",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New: func(addrs []string, name string, rec *wire.Recorder) (load.Client, error) {
			return newManual(addrs, name, rec)
		},
	},
	"legacy": {
		Desc:   "good ClusterClient; every 2 s the app runs KEYS and an MGET over keys in different slots",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New: func(addrs []string, name string, rec *wire.Recorder) (load.Client, error) {
			c := &clusterClient{c: redis.NewClusterClient(good(addrs, name, rec)), nodes: nodeClients{name: name, rec: rec}}
			go c.every(2*time.Second, func(ctx context.Context) {
				c.c.Keys(ctx, "nothing:*")
				c.c.MGet(ctx, "a", "b", "c")
			})
			return c, nil
		},
	},
}

// aReplica asks the seed for CLUSTER NODES and returns a replica's address
// (as announced by the cluster). The lookup uses its own client name, so
// that it is not mistaken for the app's traffic.
func aReplica(seed string) (string, error) {
	c := redis.NewClient(&redis.Options{Addr: seed, ClientName: "matrix-setup", DialTimeout: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 2 && strings.Contains(f[2], "slave") && !strings.Contains(f[2], "fail") {
			return strings.Split(f[1], "@")[0], nil
		}
	}
	return "", errors.New("no replica in CLUSTER NODES")
}

type clusterClient struct {
	c     *redis.ClusterClient
	incr  *redis.ClusterClient // non-idempotent commands, when set
	nodes nodeClients
	stop  chan struct{}
	once  sync.Once
}

func (c *clusterClient) Set(ctx context.Context, k, v string) error {
	return c.c.Set(ctx, k, v, time.Minute).Err()
}

func (c *clusterClient) Get(ctx context.Context, k string) (string, bool, error) {
	v, err := c.c.Get(ctx, k).Result()
	if err == redis.Nil {
		return "", false, nil
	}
	return v, err == nil, err
}

func (c *clusterClient) Incr(ctx context.Context, k string) (int64, error) {
	if c.incr != nil {
		return c.incr.Incr(ctx, k).Result()
	}
	return c.c.Incr(ctx, k).Result()
}

func (c *clusterClient) Probe(ctx context.Context, addrs []string, timeout time.Duration) map[string]error {
	return c.nodes.probe(ctx, addrs, timeout)
}

// every runs f every d until Close.
func (c *clusterClient) every(d time.Duration, f func(context.Context)) {
	c.once.Do(func() { c.stop = make(chan struct{}) })
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			f(ctx)
			cancel()
		}
	}
}

func (c *clusterClient) Close() error {
	c.once.Do(func() { c.stop = make(chan struct{}) })
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	if c.incr != nil {
		c.incr.Close()
	}
	c.nodes.close()
	return c.c.Close()
}

type plainClient struct {
	c     *redis.Client
	nodes nodeClients
}

func (c *plainClient) Set(ctx context.Context, k, v string) error {
	return c.c.Set(ctx, k, v, time.Minute).Err()
}

func (c *plainClient) Get(ctx context.Context, k string) (string, bool, error) {
	v, err := c.c.Get(ctx, k).Result()
	if err == redis.Nil {
		return "", false, nil
	}
	return v, err == nil, err
}

func (c *plainClient) Incr(ctx context.Context, k string) (int64, error) {
	return c.c.Incr(ctx, k).Result()
}

func (c *plainClient) Probe(ctx context.Context, addrs []string, timeout time.Duration) map[string]error {
	return c.nodes.probe(ctx, addrs, timeout)
}

func (c *plainClient) Close() error {
	c.nodes.close()
	return c.c.Close()
}

// nodeClients are the health check's single-node clients, one per address.
type nodeClients struct {
	mu   sync.Mutex
	name string
	rec  *wire.Recorder
	m    map[string]*redis.Client
}

func (n *nodeClients) probe(ctx context.Context, addrs []string, timeout time.Duration) map[string]error {
	res := map[string]error{}
	for _, a := range addrs {
		n.mu.Lock()
		if n.m == nil {
			n.m = map[string]*redis.Client{}
		}
		c := n.m[a]
		if c == nil {
			c = redis.NewClient(&redis.Options{Addr: a, ClientName: n.name, DialTimeout: timeout,
				ReadTimeout: timeout, WriteTimeout: timeout, Dialer: n.rec.Dialer((&net.Dialer{}).DialContext)})
			n.m[a] = c
		}
		n.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, timeout)
		res[a] = c.Ping(pctx).Err()
		cancel()
	}
	return res
}

func (n *nodeClients) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.m {
		c.Close()
	}
	n.m = nil
}

// manualClient is a cluster wrapper written by hand over plain clients, as
// teams wrote them before their library handled clusters: it reads CLUSTER
// SLOTS once, moves a slot to the node a MOVED names, and does the same on
// ASK (without ASKING).
type manualClient struct {
	name  string
	rec   *wire.Recorder
	mu    sync.Mutex
	slots [16384]string
	conns map[string]*redis.Client
	nodes nodeClients
}

func newManual(addrs []string, name string, rec *wire.Recorder) (*manualClient, error) {
	m := &manualClient{name: name, rec: rec, conns: map[string]*redis.Client{}, nodes: nodeClients{name: name, rec: rec}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	slots, err := m.node(addrs[0]).ClusterSlots(ctx).Result()
	if err != nil {
		return nil, err
	}
	for _, s := range slots {
		for i := s.Start; i <= s.End && len(s.Nodes) > 0; i++ {
			m.slots[i] = s.Nodes[0].Addr
		}
	}
	return m, nil
}

func (m *manualClient) node(addr string) *redis.Client {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.conns[addr]
	if c == nil {
		c = redis.NewClient(&redis.Options{Addr: addr, ClientName: m.name, DialTimeout: time.Second,
			ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
			Dialer: m.rec.Dialer((&net.Dialer{}).DialContext)})
		m.conns[addr] = c
	}
	return c
}

// run sends a command for key to the slot's node, following up to 5
// redirects.
func (m *manualClient) run(key string, f func(*redis.Client) error) error {
	slot := keySlot(key)
	var err error
	for range 5 {
		m.mu.Lock()
		addr := m.slots[slot]
		m.mu.Unlock()
		err = f(m.node(addr))
		if err == nil || err == redis.Nil {
			return err
		}
		fields := strings.Fields(err.Error())
		if len(fields) != 3 || (fields[0] != "MOVED" && fields[0] != "ASK") {
			return err
		}
		m.mu.Lock()
		m.slots[slot] = fields[2]
		m.mu.Unlock()
	}
	return err
}

func (m *manualClient) Set(ctx context.Context, k, v string) error {
	return m.run(k, func(c *redis.Client) error { return c.Set(ctx, k, v, time.Minute).Err() })
}

func (m *manualClient) Get(ctx context.Context, k string) (string, bool, error) {
	var v string
	err := m.run(k, func(c *redis.Client) error {
		var err error
		v, err = c.Get(ctx, k).Result()
		return err
	})
	if err == redis.Nil {
		return "", false, nil
	}
	return v, err == nil, err
}

func (m *manualClient) Incr(ctx context.Context, k string) (int64, error) {
	var n int64
	err := m.run(k, func(c *redis.Client) error {
		var err error
		n, err = c.Incr(ctx, k).Result()
		return err
	})
	return n, err
}

func (m *manualClient) Probe(ctx context.Context, addrs []string, timeout time.Duration) map[string]error {
	return m.nodes.probe(ctx, addrs, timeout)
}

func (m *manualClient) Close() error {
	m.nodes.close()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.conns {
		c.Close()
	}
	return nil
}

// keySlot is the key's hash slot (CRC16/XMODEM of the key or its hash tag).
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}
