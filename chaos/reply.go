package chaos

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/resp"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// topologyReply answers the commands that describe the cluster from the
// virtual cluster, in the connection's protocol, as the node nv would. It
// returns nil for every other command.
func (s *snapshot) topologyReply(nv *nodeView, c *proxy.ConnInfo, cmd *proxy.Command) []byte {
	if len(cmd.Args) == 0 {
		return nil
	}
	switch cmd.Name {
	case "CLUSTER":
		if len(cmd.Args) < 2 {
			return nil
		}
		switch strings.ToUpper(string(cmd.Args[1])) {
		case "SLOTS":
			return s.clusterSlots(c.RESP3).Append(nil)
		case "SHARDS":
			return s.clusterShards(c.RESP3).Append(nil)
		case "NODES":
			return text(c.RESP3, s.clusterNodes(nv, nil)).Append(nil)
		case "INFO":
			return text(c.RESP3, s.clusterInfo(nv)).Append(nil)
		case "REPLICAS", "SLAVES":
			if len(cmd.Args) < 3 {
				return nil
			}
			return s.clusterReplicas(nv, string(cmd.Args[2]), c.RESP3)
		}
	case "ROLE":
		return s.role(nv).Append(nil)
	}
	return nil
}

func text(resp3 bool, s string) resp.Value {
	if resp3 {
		return resp.Value{Type: '=', Format: "txt", Str: []byte(s)}
	}
	return resp.Bulk(s)
}

func hostPort(a string) (string, int64) {
	h, p, _ := net.SplitHostPort(a)
	n, _ := strconv.Atoi(p)
	return h, int64(n)
}

func arr(v ...resp.Value) resp.Value { return resp.Value{Type: '*', Elems: v} }

func kv(resp3 bool, pairs ...resp.Value) resp.Value {
	if resp3 {
		return resp.Value{Type: '%', Elems: pairs}
	}
	return resp.Value{Type: '*', Elems: pairs}
}

// masterRanges lists each virtual master with its slot ranges, by first slot.
func (s *snapshot) masterRanges() []struct {
	n      *vnode
	ranges []topology.Range
} {
	byNode := map[int][]topology.Range{}
	for sl := 0; sl < topology.NumSlots; sl++ {
		o := int(s.owner[sl])
		if o < 0 {
			continue
		}
		rs := byNode[o]
		if len(rs) > 0 && rs[len(rs)-1].To == sl-1 {
			rs[len(rs)-1].To = sl
		} else {
			rs = append(rs, topology.Range{From: sl, To: sl})
		}
		byNode[o] = rs
	}
	var out []struct {
		n      *vnode
		ranges []topology.Range
	}
	for idx, rs := range byNode {
		out = append(out, struct {
			n      *vnode
			ranges []topology.Range
		}{&s.vc.nodes[idx], rs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ranges[0].From < out[j].ranges[0].From })
	return out
}

func (s *snapshot) replicas(m int) []*vnode {
	var rs []*vnode
	for i := range s.vc.nodes {
		n := &s.vc.nodes[i]
		if n.role == topology.RoleReplica && n.master == m {
			rs = append(rs, n)
		}
	}
	return rs
}

// clusterSlots: [[from, to, [host, port, id, {}], replica…], …]. A failed
// master is still listed; failed replicas are left out (cluster.c).
func (s *snapshot) clusterSlots(resp3 bool) resp.Value {
	out := arr()
	node := func(n *vnode) resp.Value {
		h, p := hostPort(n.announce)
		return arr(resp.Bulk(h), resp.Integer(p), resp.Bulk(n.id), kv(resp3))
	}
	for _, mr := range s.masterRanges() {
		for _, r := range mr.ranges {
			e := arr(resp.Integer(int64(r.From)), resp.Integer(int64(r.To)), node(mr.n))
			for _, rep := range s.replicas(mr.n.idx) {
				if rep.fail {
					continue
				}
				e.Elems = append(e.Elems, node(rep))
			}
			out.Elems = append(out.Elems, e)
		}
	}
	return out
}

// clusterShards: [{slots: [...], nodes: [{id, port, ip, endpoint, role, replication-offset, health}]}].
func (s *snapshot) clusterShards(resp3 bool) resp.Value {
	out := arr()
	node := func(n *vnode) resp.Value {
		h, p := hostPort(n.announce)
		health := "online"
		if n.down {
			health = "fail"
		}
		role := "master"
		if n.role == topology.RoleReplica {
			role = "replica"
		}
		return kv(resp3,
			resp.Bulk("id"), resp.Bulk(n.id),
			resp.Bulk("port"), resp.Integer(p),
			resp.Bulk("ip"), resp.Bulk(h),
			resp.Bulk("endpoint"), resp.Bulk(h),
			resp.Bulk("role"), resp.Bulk(role),
			resp.Bulk("replication-offset"), resp.Integer(0),
			resp.Bulk("health"), resp.Bulk(health))
	}
	for _, mr := range s.masterRanges() {
		slots := arr()
		for _, r := range mr.ranges {
			slots.Elems = append(slots.Elems, resp.Integer(int64(r.From)), resp.Integer(int64(r.To)))
		}
		nodes := arr(node(mr.n))
		for _, rep := range s.replicas(mr.n.idx) {
			nodes.Elems = append(nodes.Elems, node(rep))
		}
		out.Elems = append(out.Elems, kv(resp3, resp.Bulk("slots"), slots, resp.Bulk("nodes"), nodes))
	}
	return out
}

// nodeLine is one CLUSTER NODES line of n as self sees it.
func (s *snapshot) nodeLine(n, self *vnode) string {
	flags := ""
	if self != nil && self.idx == n.idx {
		flags = "myself,"
	}
	if n.role == topology.RoleMaster {
		flags += "master"
	} else {
		flags += "slave"
	}
	link := "connected"
	if n.down && (self == nil || self.idx != n.idx) {
		link = "disconnected"
		if n.fail {
			flags += ",fail"
		} else {
			flags += ",fail?"
		}
	}
	master := "-"
	if n.master >= 0 {
		master = s.vc.nodes[n.master].id
	}
	h, p := hostPort(n.announce)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s:%d@0 %s %s 0 0 %d %s", n.id, h, p, flags, master, n.epoch, link)
	for sl := 0; sl < topology.NumSlots; {
		if int(s.owner[sl]) != n.idx {
			sl++
			continue
		}
		start := sl
		for sl < topology.NumSlots && int(s.owner[sl]) == n.idx {
			sl++
		}
		if start == sl-1 {
			fmt.Fprintf(&b, " %d", start)
		} else {
			fmt.Fprintf(&b, " %d-%d", start, sl-1)
		}
	}
	return b.String()
}

func (s *snapshot) clusterNodes(self *nodeView, only func(*vnode) bool) string {
	var b strings.Builder
	for i := range s.vc.nodes {
		n := &s.vc.nodes[i]
		if only != nil && !only(n) {
			continue
		}
		b.WriteString(s.nodeLine(n, &self.vnode))
		b.WriteByte('\n')
	}
	return b.String()
}

func (s *snapshot) clusterReplicas(self *nodeView, id string, resp3 bool) []byte {
	m := -1
	for i := range s.vc.nodes {
		if s.vc.nodes[i].id == id {
			m = i
		}
	}
	if m < 0 {
		return []byte("-ERR Unknown node " + id + "\r\n")
	}
	if s.vc.nodes[m].role != topology.RoleMaster {
		return []byte("-ERR The specified node is not a master\r\n")
	}
	out := arr()
	for _, r := range s.replicas(m) {
		out.Elems = append(out.Elems, text(resp3, s.nodeLine(r, &self.vnode)))
	}
	return out.Append(nil)
}

func (s *snapshot) clusterInfo(self *nodeView) string {
	state := "ok"
	if s.fail || self.rejoining {
		state = "fail"
	}
	assigned, ok, pfail, failed := 0, 0, 0, 0
	for sl := 0; sl < topology.NumSlots; sl++ {
		o := s.owner[sl]
		if o < 0 {
			continue
		}
		assigned++
		n := &s.vc.nodes[o]
		switch {
		case n.down && n.fail:
			failed++
		case n.down:
			pfail++
		default:
			ok++
		}
	}
	size := len(s.masterRanges())
	lines := []string{
		"cluster_state:" + state,
		"cluster_slots_assigned:" + strconv.Itoa(assigned),
		"cluster_slots_ok:" + strconv.Itoa(ok),
		"cluster_slots_pfail:" + strconv.Itoa(pfail),
		"cluster_slots_fail:" + strconv.Itoa(failed),
		"cluster_known_nodes:" + strconv.Itoa(len(s.vc.nodes)),
		"cluster_size:" + strconv.Itoa(size),
		"cluster_current_epoch:" + strconv.Itoa(s.epoch),
		"cluster_my_epoch:" + strconv.Itoa(self.epoch),
		"cluster_stats_messages_sent:0",
		"cluster_stats_messages_received:0",
		"total_cluster_links_buffer_limit_exceeded:0",
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

func (s *snapshot) role(nv *nodeView) resp.Value {
	if nv.role == topology.RoleMaster {
		reps := arr()
		for _, r := range s.replicas(nv.idx) {
			if r.down {
				continue
			}
			h, p := hostPort(r.announce)
			reps.Elems = append(reps.Elems, arr(resp.Bulk(h), resp.Bulk(strconv.FormatInt(p, 10)), resp.Bulk("0")))
		}
		return arr(resp.Bulk("master"), resp.Integer(0), reps)
	}
	state := "connected"
	h, p := "", int64(0)
	if nv.master >= 0 {
		m := &s.vc.nodes[nv.master]
		h, p = hostPort(m.announce)
		if m.down {
			state = "connect"
		}
	}
	return arr(resp.Bulk("slave"), resp.Bulk(h), resp.Integer(p), resp.Bulk(state), resp.Integer(0))
}
