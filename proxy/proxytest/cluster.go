// Package proxytest is an in-memory Redis Cluster for testing the proxy's
// data path without redis-server: nodes on loopback ports that read commands
// with redcon's reader, answer in RESP2 or RESP3 (HELLO) with redcon's
// encoders, keep strings and lists in memory, own hash slots and redirect
// (MOVED, ASK) for the others, and can be scripted per command to answer
// otherwise: an error, in parts, late, or with a closed connection.
//
//	c := proxytest.NewCluster(t, 3, 0) // 3 masters, slots split evenly; closed when t ends
//	srv, _ := proxy.New(proxy.Config{Topology: c, BasePort: -1})
//	c.Node(0).Handle("GET", func(cn *proxytest.Conn, args []string) bool {
//		cn.Write("-LOADING Redis is loading the dataset in memory\r\n")
//		return true // answered: the node's own GET is not run
//	})
//
// It is not Redis: it implements the commands the proxy's tests use, with
// Redis's replies to them. Behaviour that depends on how real Redis and its
// cluster bus behave (failovers, replication, timeouts) is tested against
// redis-server.
package proxytest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// Cluster is a set of in-memory nodes that form one cluster: masters that
// split the 16384 slots evenly, each with its replicas (which share its
// data). It is a proxy.TopologySource.
type Cluster struct {
	mu        sync.Mutex
	nodes     []*Node
	owner     [topology.NumSlots]*Node  // the master serving each slot
	migrating map[int]*Node             // slot → node it migrates to (its owner answers ASK)
	subs      map[string]map[*Conn]bool // channel → subscribers, on any node
}

// NewCluster starts masters × (1+replicas) nodes on loopback ports; they
// stop when the test ends.
func NewCluster(tb testing.TB, masters, replicas int) *Cluster {
	tb.Helper()
	c := &Cluster{migrating: map[int]*Node{}}
	tb.Cleanup(c.Close)
	var ms []*Node
	for i := range masters {
		n, err := c.start(nil)
		if err != nil {
			tb.Fatalf("proxytest: %v", err)
		}
		ms = append(ms, n)
		for s := i * topology.NumSlots / masters; s < (i+1)*topology.NumSlots/masters; s++ {
			c.owner[s] = n
		}
	}
	for _, m := range ms {
		for range replicas {
			if _, err := c.start(m); err != nil {
				tb.Fatalf("proxytest: %v", err)
			}
		}
	}
	return c
}

// Close stops every node.
func (c *Cluster) Close() {
	c.mu.Lock()
	nodes := c.nodes
	c.mu.Unlock()
	for _, n := range nodes {
		n.Close()
	}
}

// Node returns node i: the masters first, in slot order, then the replicas
// of each master in turn.
func (c *Cluster) Node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Nodes returns every node, in the order of Node.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// Owner returns the master that serves key's slot.
func (c *Cluster) Owner(key string) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owner[topology.Slot([]byte(key))]
}

// MoveSlot gives slot to master to at once (as after a completed
// migration): its old owner answers MOVED from now on.
func (c *Cluster) MoveSlot(slot int, to *Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.owner[slot] = to
	delete(c.migrating, slot)
}

// Migrate starts moving slot to master to: its owner answers ASK for the
// keys it does not hold, and to serves them to clients that sent ASKING.
func (c *Cluster) Migrate(slot int, to *Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.migrating[slot] = to
}

// Topology returns the cluster as CLUSTER NODES describes it.
func (c *Cluster) Topology(context.Context) (*topology.Topology, error) {
	return topology.ParseNodes(c.nodesText(nil), "127.0.0.1")
}

// route is where a command on key's slot runs, as node n sees it: "" if n
// serves it, else the error n answers.
func (c *Cluster) route(n *Node, slot int, exists func() bool, asking, readonly, write bool) string {
	c.mu.Lock()
	owner, target := c.owner[slot], c.migrating[slot]
	c.mu.Unlock()
	switch {
	case owner == n:
		if target != nil && !exists() {
			return "-ASK " + strconv.Itoa(slot) + " " + target.Addr + "\r\n"
		}
		return ""
	case target == n && asking:
		return ""
	case n.master == owner && readonly && !write:
		return ""
	}
	return "-MOVED " + strconv.Itoa(slot) + " " + owner.Addr + "\r\n"
}

// ranges returns the slot ranges master m serves.
func (c *Cluster) rangesLocked(m *Node) []topology.Range {
	var rs []topology.Range
	for s := 0; s < topology.NumSlots; s++ {
		if c.owner[s] != m {
			continue
		}
		if k := len(rs) - 1; k >= 0 && rs[k].To == s-1 {
			rs[k].To = s
		} else {
			rs = append(rs, topology.Range{From: s, To: s})
		}
	}
	return rs
}

// nodesText is the CLUSTER NODES reply of node self (nil: of no node).
func (c *Cluster) nodesText(self *Node) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, n := range c.nodes {
		flags, master := "master", "-"
		if n.master != nil {
			flags, master = "slave", n.master.ID
		}
		if n == self {
			flags = "myself," + flags
		}
		fmt.Fprintf(&b, "%s %s@%d %s %s 0 0 1 connected", n.ID, n.Addr, n.Port+10000, flags, master)
		if n.master == nil {
			for _, r := range c.rangesLocked(n) {
				if r.From == r.To {
					fmt.Fprintf(&b, " %d", r.From)
				} else {
					fmt.Fprintf(&b, " %d-%d", r.From, r.To)
				}
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// slotsReply is the CLUSTER SLOTS reply.
func (c *Cluster) slotsReply(resp3 bool) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	type entry struct {
		r topology.Range
		m *Node
	}
	var es []entry
	for _, m := range c.nodes {
		if m.master == nil {
			for _, r := range c.rangesLocked(m) {
				es = append(es, entry{r, m})
			}
		}
	}
	out := appendArray(nil, len(es))
	for _, e := range es {
		replicas := c.replicasLocked(e.m)
		out = appendArray(out, 3+len(replicas))
		out = appendInt(out, e.r.From)
		out = appendInt(out, e.r.To)
		for _, n := range append([]*Node{e.m}, replicas...) {
			out = appendArray(out, 4)
			out = appendBulk(out, "127.0.0.1")
			out = appendInt(out, n.Port)
			out = appendBulk(out, n.ID)
			if resp3 {
				out = append(out, "%0\r\n"...)
			} else {
				out = appendArray(out, 0)
			}
		}
	}
	return out
}

func (c *Cluster) replicasLocked(m *Node) []*Node {
	var rs []*Node
	for _, n := range c.nodes {
		if n.master == m {
			rs = append(rs, n)
		}
	}
	return rs
}

// replicas returns the replicas of master m.
func (c *Cluster) replicas(m *Node) []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replicasLocked(m)
}

// start starts a node: a master if master is nil, else one of its replicas.
func (c *Cluster) start(master *Node) (*Node, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := newNode(c, ln, fmt.Sprintf("%040x", len(c.nodes)+1), master)
	c.nodes = append(c.nodes, n)
	n.wg.Add(1)
	go n.acceptLoop()
	return n, nil
}
