// Package topology models a Redis Cluster as its nodes describe it (CLUSTER
// NODES), and rewrites every reply in which a node tells a client an address, so
// that clients only ever learn the proxy's announced addresses.
package topology

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// Role of a node.
const (
	RoleMaster  = "master"
	RoleReplica = "replica"
)

// NumSlots is the number of hash slots of Redis Cluster.
const NumSlots = 16384

// ErrBadNodes is wrapped by errors about an unparsable CLUSTER NODES reply.
var ErrBadNodes = errors.New("topology: bad CLUSTER NODES reply")

// Node is one cluster node as CLUSTER NODES describes it.
type Node struct {
	ID       string   `json:"id"`
	Addr     string   `json:"addr"` // host:port the proxy dials
	Host     string   `json:"host"` // ip as the cluster announces it (may be empty)
	Port     int      `json:"port"`
	CPort    int      `json:"cport"`
	Hostname string   `json:"hostname,omitempty"`
	Role     string   `json:"role"`
	MasterID string   `json:"master_id,omitempty"`
	Flags    []string `json:"flags"`
	Slots    []Range  `json:"slots,omitempty"`
	Link     string   `json:"link"` // connected / disconnected
	Failed   bool     `json:"failed"`
	PFail    bool     `json:"pfail"`
}

// Range is an inclusive slot range.
type Range struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// Topology is the cluster as one node sees it.
type Topology struct {
	Nodes []Node `json:"nodes"`
}

// ByID returns the node with the given id.
func (t *Topology) ByID(id string) (Node, bool) {
	for _, n := range t.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return Node{}, false
}

// ByAddr returns the node with the given host:port.
func (t *Topology) ByAddr(addr string) (Node, bool) {
	for _, n := range t.Nodes {
		if n.Addr == addr {
			return n, true
		}
	}
	return Node{}, false
}

// Masters returns the masters that own slots, ordered by their first slot.
func (t *Topology) Masters() []Node {
	var ms []Node
	for _, n := range t.Nodes {
		if n.Role == RoleMaster && len(n.Slots) > 0 {
			ms = append(ms, n)
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Slots[0].From < ms[j].Slots[0].From })
	return ms
}

// ReplicasOf returns the replicas of the master with the given id.
func (t *Topology) ReplicasOf(id string) []Node {
	var rs []Node
	for _, n := range t.Nodes {
		if n.Role == RoleReplica && n.MasterID == id {
			rs = append(rs, n)
		}
	}
	return rs
}

// Covered reports how many of the 16384 slots a master owns.
func (t *Topology) Covered() int {
	c := 0
	for _, n := range t.Nodes {
		if n.Role != RoleMaster {
			continue
		}
		for _, r := range n.Slots {
			c += r.To - r.From + 1
		}
	}
	return c
}

// ParseNodes parses a CLUSTER NODES reply. defaultHost replaces an empty ip
// (a node that has not met any other reports ":port").
func ParseNodes(text, defaultHost string) (*Topology, error) {
	t := &Topology{}
	for lineNo, line := range strings.Split(strings.TrimSpace(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("%w: line %d has %d fields", ErrBadNodes, lineNo+1, len(f))
		}
		n := Node{ID: f[0], Link: f[7]}
		if err := parseNodeAddr(f[1], &n); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBadNodes, lineNo+1, err)
		}
		if n.Host == "" {
			n.Addr = net.JoinHostPort(defaultHost, strconv.Itoa(n.Port))
		} else {
			n.Addr = net.JoinHostPort(n.Host, strconv.Itoa(n.Port))
		}
		n.Flags = strings.Split(f[2], ",")
		n.Role = RoleReplica
		for _, fl := range n.Flags {
			switch fl {
			case "master":
				n.Role = RoleMaster
			case "fail":
				n.Failed = true
			case "fail?":
				n.PFail = true
			}
		}
		if f[3] != "-" {
			n.MasterID = f[3]
		}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // migrating/importing marker
				continue
			}
			r, err := parseRange(s)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %v", ErrBadNodes, lineNo+1, err)
			}
			n.Slots = append(n.Slots, r)
		}
		t.Nodes = append(t.Nodes, n)
	}
	if len(t.Nodes) == 0 {
		return nil, fmt.Errorf("%w: no nodes", ErrBadNodes)
	}
	return t, nil
}

// parseNodeAddr parses "ip:port@cport[,hostname]".
func parseNodeAddr(s string, n *Node) error {
	if i := strings.IndexByte(s, ','); i >= 0 {
		n.Hostname = s[i+1:]
		s = s[:i]
	}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		cp, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return fmt.Errorf("bad cluster bus port in %q", s)
		}
		n.CPort = cp
		s = s[:i]
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return fmt.Errorf("no port in %q", s)
	}
	p, err := strconv.Atoi(s[i+1:])
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("bad port in %q", s)
	}
	n.Host, n.Port = strings.Trim(s[:i], "[]"), p
	return nil
}

func parseRange(s string) (Range, error) {
	from, to, found := strings.Cut(s, "-")
	a, err := strconv.Atoi(from)
	if err != nil || a < 0 || a >= NumSlots {
		return Range{}, fmt.Errorf("bad slot %q", s)
	}
	b := a
	if found {
		if b, err = strconv.Atoi(to); err != nil || b < a || b >= NumSlots {
			return Range{}, fmt.Errorf("bad slot range %q", s)
		}
	}
	return Range{a, b}, nil
}
