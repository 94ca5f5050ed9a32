package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// NodeStatus is the live state of one node, as the node itself reports it.
type NodeStatus struct {
	Node // as provisioned

	Running   bool   // the process exists
	Paused    bool   // the process is stopped by SIGSTOP
	Reachable bool   // it answered
	Error     string // why it did not answer

	Role         Role        // live role
	MasterID     string      // the master of a replica
	Slots        []SlotRange // slots it serves (a master)
	Link         string      // a replica's master_link_status: "up" or "down"
	ClusterState string      // cluster_state from CLUSTER INFO: "ok" or "fail"
	SlotsOK      int         // cluster_slots_ok
	KnownNodes   int         // cluster_known_nodes
	Failing      []string    // addresses of nodes it flags fail or fail?
	Migrating    map[int]string
	Importing    map[int]string
	// View summarises the node's picture of the cluster (each node's role, master
	// and slots); nodes that agree have equal views.
	View string
}

// Status is the live state of every node, by index.
type Status struct {
	Nodes []NodeStatus
}

// Problem returns nil when the cluster is healthy, or the first problem found:
// every node reachable, cluster_state:ok, all slots served, every node known to
// every node, no node flagged failing, no slot migrating, every replica linked.
func (s Status) Problem() error {
	for _, n := range s.Nodes {
		switch {
		case !n.Running:
			return fmt.Errorf("node %d (%s) is not running", n.Index, n.Addr)
		case n.Paused:
			return fmt.Errorf("node %d (%s) is paused", n.Index, n.Addr)
		case !n.Reachable:
			return fmt.Errorf("node %d (%s) is unreachable: %s", n.Index, n.Addr, n.Error)
		case n.Error != "":
			return fmt.Errorf("node %d (%s): %s", n.Index, n.Addr, n.Error)
		case n.ClusterState != "ok":
			return fmt.Errorf("node %d (%s) reports cluster_state:%s", n.Index, n.Addr, n.ClusterState)
		case n.SlotsOK != SlotCount:
			return fmt.Errorf("node %d (%s) reports %d slots ok", n.Index, n.Addr, n.SlotsOK)
		case n.KnownNodes != len(s.Nodes):
			return fmt.Errorf("node %d (%s) knows %d nodes, want %d", n.Index, n.Addr, n.KnownNodes, len(s.Nodes))
		case len(n.Failing) > 0:
			return fmt.Errorf("node %d (%s) flags %s as failing", n.Index, n.Addr, strings.Join(n.Failing, ","))
		case len(n.Migrating)+len(n.Importing) > 0:
			return fmt.Errorf("node %d (%s) has slots in migration", n.Index, n.Addr)
		case n.Role == RoleReplica && n.Link != "up":
			return fmt.Errorf("node %d (%s) is a replica with master_link_status:%s", n.Index, n.Addr, n.Link)
		case n.View != s.Nodes[0].View:
			return fmt.Errorf("nodes %d and %d do not agree on the roles and slots yet", s.Nodes[0].Index, n.Index)
		}
	}
	return nil
}

// Status queries every node. Unreachable nodes are reported, not returned as errors.
func (c *Cluster) Status(ctx context.Context) (Status, error) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return Status{}, ErrStopped
	}
	nodes := append([]*node(nil), c.nodes...)
	c.mu.Unlock()
	st := Status{Nodes: make([]NodeStatus, len(nodes))}
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.Nodes[i] = c.nodeStatus(ctx, n)
		}()
	}
	wg.Wait()
	return st, ctx.Err()
}

// statusTimeout bounds the queries of one node in Status, so a paused node
// costs a short wait.
const statusTimeout = 750 * time.Millisecond

func (c *Cluster) nodeStatus(ctx context.Context, n *node) NodeStatus {
	c.mu.Lock()
	ns := NodeStatus{Node: n.Node}
	p := n.proc
	c.mu.Unlock()
	ns.Running = p != nil && !p.exited()
	if !ns.Running {
		ns.Error = "not running"
		return ns
	}
	ns.Paused = procStopped(p.pid)
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	cl := c.client(n)
	info, err := cl.Do(ctx, "CLUSTER", "INFO").Text()
	if err != nil {
		ns.Error = err.Error()
		return ns
	}
	nodesText, err := cl.Do(ctx, "CLUSTER", "NODES").Text()
	if err != nil {
		ns.Error = err.Error()
		return ns
	}
	ns.Reachable = true
	ns.View = clusterView(nodesText)
	kv := parseInfo(info)
	ns.ClusterState = kv["cluster_state"]
	ns.SlotsOK, _ = strconv.Atoi(kv["cluster_slots_ok"])
	ns.KnownNodes, _ = strconv.Atoi(kv["cluster_known_nodes"])
	for _, cn := range parseClusterNodes(nodesText) {
		if cn.myself() {
			if cn.ID != n.ID && n.ID != "" {
				ns.Error = fmt.Sprintf("node id %s, want %s", cn.ID, n.ID)
			}
			ns.Role = RoleMaster
			if cn.hasFlag("slave") {
				ns.Role = RoleReplica
				ns.MasterID = cn.Master
			}
			ns.Slots, ns.Migrating, ns.Importing = cn.Slots, cn.Migrating, cn.Importing
		} else if cn.hasFlag("fail") || cn.hasFlag("fail?") {
			ns.Failing = append(ns.Failing, cn.Addr)
		}
	}
	if ns.Role == RoleReplica {
		repl, err := cl.Do(ctx, "INFO", "replication").Text()
		if err != nil {
			ns.Error = err.Error()
			ns.Reachable = false
			return ns
		}
		ns.Link = parseInfo(repl)["master_link_status"]
	}
	return ns
}

// WaitHealthy polls the cluster until Status reports no Problem, or ctx ends. Give
// ctx a deadline: an unhealthy cluster may never heal.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	var last error
	err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
		st, err := c.Status(ctx)
		if errors.Is(err, ErrStopped) {
			return false, err
		}
		if err != nil {
			return false, nil // ctx ended; reported below
		}
		last = st.Problem()
		return last == nil, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("provision: cluster not healthy: %w (last problem: %v)", err, last)
	}
	if err != nil {
		return fmt.Errorf("provision: cluster not healthy: %w", err)
	}
	return nil
}

// parseInfo parses INFO / CLUSTER INFO "key:value" lines.
func parseInfo(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	ID        string
	Addr      string // host:port
	Flags     []string
	Master    string // "" for masters
	Link      string // connected / disconnected
	Slots     []SlotRange
	Migrating map[int]string // slot -> target id
	Importing map[int]string // slot -> source id
}

func (n clusterNode) hasFlag(f string) bool {
	for _, x := range n.Flags {
		if x == f {
			return true
		}
	}
	return false
}

func (n clusterNode) myself() bool { return n.hasFlag("myself") }

// parseClusterNodes parses the reply of CLUSTER NODES.
func parseClusterNodes(s string) []clusterNode {
	var out []clusterNode
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if len(f) < 8 {
			continue
		}
		addr := f[1]
		if i := strings.IndexAny(addr, "@,"); i >= 0 {
			addr = addr[:i]
		}
		n := clusterNode{ID: f[0], Addr: addr, Flags: strings.Split(f[2], ","), Link: f[7]}
		if f[3] != "-" {
			n.Master = f[3]
		}
		for _, sl := range f[8:] {
			if strings.HasPrefix(sl, "[") {
				body := strings.Trim(sl, "[]")
				if a, b, ok := strings.Cut(body, "->-"); ok {
					if slot, err := strconv.Atoi(a); err == nil {
						if n.Migrating == nil {
							n.Migrating = map[int]string{}
						}
						n.Migrating[slot] = b
					}
				} else if a, b, ok := strings.Cut(body, "-<-"); ok {
					if slot, err := strconv.Atoi(a); err == nil {
						if n.Importing == nil {
							n.Importing = map[int]string{}
						}
						n.Importing[slot] = b
					}
				}
				continue
			}
			a, b, ok := strings.Cut(sl, "-")
			start, err := strconv.Atoi(a)
			if err != nil {
				continue
			}
			end := start
			if ok {
				if end, err = strconv.Atoi(b); err != nil {
					continue
				}
			}
			n.Slots = append(n.Slots, SlotRange{start, end})
		}
		out = append(out, n)
	}
	return out
}

// clusterView renders the roles, masters and slots of CLUSTER NODES canonically.
func clusterView(nodesText string) string {
	var lines []string
	for _, cn := range parseClusterNodes(nodesText) {
		role := "master"
		if cn.hasFlag("slave") {
			role = "slave"
		}
		lines = append(lines, cn.ID+" "+role+" "+cn.Master+" "+FormatSlots(cn.Slots))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// ownsSlot reports whether ranges contain slot.
func ownsSlot(rs []SlotRange, slot int) bool {
	for _, r := range rs {
		if slot >= r.Start && slot <= r.End {
			return true
		}
	}
	return false
}
