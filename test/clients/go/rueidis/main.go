// Command rueidis is the rueidis conformance app: the shared workload
// (package load) on a rueidis cluster client configured well or in one of
// the ways teams get it wrong (--config). See docs/clients.md.
package main

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/redis-chaos/redis-chaos/test/clients/go/internal/load"
	"github.com/redis-chaos/redis-chaos/test/clients/go/internal/wire"
)

func main() {
	os.Exit(load.Main("rueidis", "github.com/redis/rueidis", configs))
}

func client(tune func(*rueidis.ClientOption)) func([]string, string, *wire.Recorder) (load.Client, error) {
	return func(addrs []string, name string, rec *wire.Recorder) (load.Client, error) {
		o := rueidis.ClientOption{
			InitAddress:      addrs,
			ClientName:       name,
			ConnWriteTimeout: time.Second,
			DisableCache:     true, // no client-side caching: plain commands only
			DialCtxFn:        rec.DialCtxFn(),
		}
		o.Dialer.Timeout = time.Second
		if tune != nil {
			tune(&o)
		}
		c, err := rueidis.NewClient(o)
		if err != nil {
			return nil, err
		}
		return &rclient{c: c, opt: o}, nil
	}
}

var configs = map[string]load.Config{
	"good": {
		Desc:   "cluster client, ConnWriteTimeout 1 s, 2 s deadline per command, default retries",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New:    client(nil),
	},
	"no-timeout": {
		Desc: "cluster client with the default ConnWriteTimeout (10 s) and no deadline per command",
		New:  client(func(o *rueidis.ClientOption) { o.ConnWriteTimeout = 0 }),
	},
	"retry-loop": {
		Desc:   "good client, and the app resends every failed command at once (up to 20 times)",
		Policy: load.Policy{OpTimeout: 2 * time.Second, Retry: true},
		New:    client(nil),
	},
	"incr-retry": {
		Desc:   "good client, 300 ms deadline per command, and the app resends an INCR that timed out",
		Policy: load.Policy{OpTimeout: 300 * time.Millisecond, IncrRetry: true},
		New:    client(nil),
	},
	"health-restart": {
		Desc:   "good client; a health check PINGs every node every 250 ms and rebuilds the client when one fails",
		Policy: load.Policy{OpTimeout: 2 * time.Second, Health: "restart"},
		New:    client(nil),
	},
	"breaker": {
		Desc:   "good client; after 3 failed operations in a row the app stops until every node answers PING",
		Policy: load.Policy{OpTimeout: 2 * time.Second, Breaker: true},
		New:    client(nil),
	},
	"plain": {
		Desc:   "ForceSingleClient on the first seed address (not a cluster client)",
		Policy: load.Policy{OpTimeout: 2 * time.Second},
		New: client(func(o *rueidis.ClientOption) {
			o.InitAddress = o.InitAddress[:1]
			o.ForceSingleClient = true
		}),
	},
}

type rclient struct {
	c   rueidis.Client
	opt rueidis.ClientOption // for the health check's single-node clients

	mu    sync.Mutex
	nodes map[string]rueidis.Client
}

func (c *rclient) Set(ctx context.Context, k, v string) error {
	return c.c.Do(ctx, c.c.B().Set().Key(k).Value(v).Ex(time.Minute).Build()).Error()
}

func (c *rclient) Get(ctx context.Context, k string) (string, bool, error) {
	v, err := c.c.Do(ctx, c.c.B().Get().Key(k).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", false, nil
	}
	return v, err == nil, err
}

func (c *rclient) Incr(ctx context.Context, k string) (int64, error) {
	return c.c.Do(ctx, c.c.B().Incr().Key(k).Build()).AsInt64()
}

func (c *rclient) Probe(ctx context.Context, addrs []string, timeout time.Duration) map[string]error {
	res := map[string]error{}
	for _, a := range addrs {
		c.mu.Lock()
		if c.nodes == nil {
			c.nodes = map[string]rueidis.Client{}
		}
		n := c.nodes[a]
		c.mu.Unlock()
		if n == nil {
			o := c.opt
			o.InitAddress, o.ForceSingleClient, o.ConnWriteTimeout = []string{a}, true, timeout
			o.Dialer.Timeout = timeout
			var err error
			if n, err = rueidis.NewClient(o); err != nil {
				res[a] = err
				continue
			}
			c.mu.Lock()
			c.nodes[a] = n
			c.mu.Unlock()
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		res[a] = n.Do(pctx, n.B().Ping().Build()).Error()
		cancel()
	}
	return res
}

func (c *rclient) Close() error {
	c.mu.Lock()
	for _, n := range c.nodes {
		n.Close()
	}
	c.nodes = nil
	c.mu.Unlock()
	c.c.Close()
	return nil
}
