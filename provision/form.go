package provision

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// readyPoll is the polling interval while nodes start and the cluster forms.
const readyPoll = 10 * time.Millisecond

// form turns the started processes into the cluster of the documented layout:
//
//  1. wait until every node answers, read its node ID;
//  2. give node i config epoch i+1 (so no epoch collision has to be resolved);
//  3. ADDSLOTSRANGE the even split on the masters;
//  4. CLUSTER MEET every pair of nodes;
//  5. CLUSTER REPLICATE each replica as soon as it knows its master;
//  6. wait until the cluster is healthy (see Status.Problem).
func (c *Cluster) form(ctx context.Context) error {
	nodes := c.nodes
	begin := time.Now()
	if err := c.each(ctx, nodes, c.waitUp); err != nil {
		return err
	}
	c.log.Debug("nodes answer", "took", time.Since(begin))
	for _, n := range nodes {
		if _, err := c.client(n).Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", n.Index+1).Result(); err != nil {
			return fmt.Errorf("provision: node %d: CLUSTER SET-CONFIG-EPOCH: %w", n.Index, err)
		}
	}
	slots := ShardSlots(c.cfg.Shards)
	for s := range c.cfg.Shards {
		n := nodes[s]
		if err := c.client(n).Do(ctx, "CLUSTER", "ADDSLOTSRANGE", slots[s].Start, slots[s].End).Err(); err != nil {
			return fmt.Errorf("provision: node %d: CLUSTER ADDSLOTSRANGE %s: %w", n.Index, slots[s], err)
		}
	}
	// Each node meets every node before it: handshakes run in parallel instead of
	// waiting for gossip, so replicas know their masters sooner.
	for _, n := range nodes[1:] {
		for _, m := range nodes[:n.Index] {
			port := strconv.Itoa(c.cfg.BasePort + m.Index)
			if err := c.client(n).Do(ctx, "CLUSTER", "MEET", c.cfg.Host, port).Err(); err != nil {
				return fmt.Errorf("provision: node %d: CLUSTER MEET %s:%s: %w", n.Index, c.cfg.Host, port, err)
			}
		}
	}
	if err := c.each(ctx, nodes[c.cfg.Shards:], c.replicate); err != nil {
		return err
	}
	c.log.Debug("slots assigned, nodes met, replicas set", "took", time.Since(begin))
	if err := c.WaitHealthy(ctx); err != nil {
		return c.withLogs(err)
	}
	c.log.Debug("cluster healthy", "took", time.Since(begin))
	return nil
}

// each runs fn on every node concurrently and returns the first error.
func (c *Cluster) each(ctx context.Context, nodes []*node, fn func(context.Context, *node) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = fn(ctx, n); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

// waitUp waits until n answers PING, then records its node ID.
func (c *Cluster) waitUp(ctx context.Context, n *node) error {
	cl := c.client(n)
	p := c.procOf(n)
	err := poll(ctx, readyPoll, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("provision: node %d (%s) exited during start-up; its log ends:\n%s",
				n.Index, n.Addr, logTail(n.logPath(), 8))
		}
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		err := cl.Ping(pctx).Err()
		if err != nil && isAuthError(err) {
			return false, fmt.Errorf("provision: node %d (%s): %w (set Config.Username/Password)", n.Index, n.Addr, err)
		}
		return err == nil, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("provision: node %d (%s) did not answer: %w; its log ends:\n%s", n.Index, n.Addr, err, logTail(n.logPath(), 8))
		}
		return err
	}
	id, err := cl.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return fmt.Errorf("provision: node %d: CLUSTER MYID: %w", n.Index, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case n.ID == "":
		n.ID = id
	case n.ID != id: // a restart must keep the node's identity (nodes.conf)
		return fmt.Errorf("provision: node %d came back with node id %s, want %s", n.Index, id, n.ID)
	}
	return nil
}

func isAuthError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "NOAUTH") || strings.HasPrefix(s, "WRONGPASS") || strings.HasPrefix(s, "NOPERM")
}

// replicate makes replica n replicate its provisioned master once it knows it.
func (c *Cluster) replicate(ctx context.Context, n *node) error {
	_, _, mi := layoutNode(n.Index, c.cfg.Shards, c.cfg.Replicas)
	masterID := c.nodes[mi].ID
	cl := c.client(n)
	var last error
	err := poll(ctx, readyPoll, func() (bool, error) {
		last = cl.Do(ctx, "CLUSTER", "REPLICATE", masterID).Err()
		if last != nil && strings.Contains(last.Error(), "Unknown node") {
			return false, nil // not met yet
		}
		return last == nil, last
	})
	if err != nil {
		return fmt.Errorf("provision: node %d: CLUSTER REPLICATE %s: %w", n.Index, masterID, errors.Join(err, last))
	}
	return nil
}

// withLogs appends the tails of unhappy nodes' logs to err.
func (c *Cluster) withLogs(err error) error {
	var b strings.Builder
	for _, n := range c.nodes {
		if t := logTail(n.logPath(), 3); t != "" {
			fmt.Fprintf(&b, "\nnode %d log:\n%s", n.Index, t)
		}
	}
	return fmt.Errorf("%w%s", err, b.String())
}
