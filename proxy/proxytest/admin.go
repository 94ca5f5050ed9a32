package proxytest

import (
	"sort"
	"strconv"
	"strings"

	"github.com/tidwall/redcon"

	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// The connection, cluster and pub/sub commands.

func (n *Node) hello(c *Conn, args []string) []byte {
	resp3 := c.RESP3()
	if len(args) > 1 {
		switch args[1] {
		case "2":
			resp3 = false
		case "3":
			resp3 = true
		default:
			return []byte("-NOPROTO unsupported protocol version\r\n")
		}
	}
	c.wmu.Lock()
	c.resp3 = resp3
	c.wmu.Unlock()
	role, proto := "master", 2
	if n.master != nil {
		role = "replica"
	}
	if resp3 {
		proto = 3
	}
	var out []byte
	if resp3 {
		out = append(out, "%7\r\n"...)
	} else {
		out = appendArray(out, 14)
	}
	out = appendBulk(appendBulk(out, "server"), "redis")
	out = appendBulk(appendBulk(out, "version"), "7.0.15")
	out = appendInt(appendBulk(out, "proto"), proto)
	out = appendInt(appendBulk(out, "id"), int(c.ID))
	out = appendBulk(appendBulk(out, "mode"), "cluster")
	out = appendBulk(appendBulk(out, "role"), role)
	return appendArray(appendBulk(out, "modules"), 0)
}

func (n *Node) client(c *Conn, args []string) []byte {
	sub := strings.ToUpper(args[1])
	switch {
	case sub == "ID":
		return appendInt(nil, int(c.ID))
	case sub == "SETNAME" && len(args) == 3:
		c.wmu.Lock()
		c.name = args[2]
		c.wmu.Unlock()
		return []byte("+OK\r\n")
	case sub == "GETNAME":
		c.wmu.Lock()
		name := c.name
		c.wmu.Unlock()
		if name == "" {
			return null(c.RESP3())
		}
		return appendBulk(nil, name)
	case sub == "SETINFO" && len(args) == 4:
		return []byte("+OK\r\n")
	case sub == "INFO":
		return text(c.RESP3(), c.clientLine())
	case sub == "LIST":
		n.mu.Lock()
		var b strings.Builder
		for cc := range n.conns {
			b.WriteString(cc.clientLine())
		}
		n.mu.Unlock()
		return text(c.RESP3(), b.String())
	case sub == "UNBLOCK" && (len(args) == 3 || len(args) == 4):
		id, err := strconv.ParseInt(args[2], 10, 64)
		if err != nil {
			return []byte("-ERR value is not an integer or out of range\r\n")
		}
		reply := ""
		if len(args) == 4 && strings.EqualFold(args[3], "ERROR") {
			reply = "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		for cc := range n.conns {
			if cc.ID == id && cc.blocked.Load() {
				select {
				case cc.unblock <- reply:
					return appendInt(nil, 1)
				default:
				}
			}
		}
		return appendInt(nil, 0)
	}
	return []byte("-ERR unknown subcommand or wrong number of arguments for '" + args[1] + "'. Try CLIENT HELP.\r\n")
}

func (n *Node) clusterCmd(c *Conn, args []string) []byte {
	switch strings.ToUpper(args[1]) {
	case "SLOTS":
		return n.cluster.slotsReply(c.RESP3())
	case "NODES":
		return text(c.RESP3(), n.cluster.nodesText(n))
	case "MYID":
		return appendBulk(nil, n.ID)
	case "KEYSLOT":
		if len(args) == 3 {
			return appendInt(nil, topology.Slot([]byte(args[2])))
		}
	case "INFO":
		return text(c.RESP3(), "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:"+
			strconv.Itoa(len(n.cluster.Nodes()))+"\r\n")
	}
	return []byte("-ERR unknown subcommand or wrong number of arguments for '" + args[1] + "'. Try CLUSTER HELP.\r\n")
}

// role is the ROLE reply.
func (n *Node) role() []byte {
	if n.master != nil {
		out := appendArray(nil, 5)
		out = appendBulk(appendBulk(out, "slave"), "127.0.0.1")
		out = appendInt(out, n.master.Port)
		return appendInt(appendBulk(out, "connected"), 0)
	}
	replicas := n.cluster.replicas(n)
	out := appendInt(appendBulk(appendArray(nil, 3), "master"), 0)
	out = appendArray(out, len(replicas))
	for _, r := range replicas {
		out = appendBulk(appendBulk(appendBulk(appendArray(out, 3), "127.0.0.1"), strconv.Itoa(r.Port)), "0")
	}
	return out
}

// info is the INFO text: the server and replication sections.
func (n *Node) info() string {
	var b strings.Builder
	b.WriteString("# Server\r\nredis_version:7.0.15\r\nredis_mode:cluster\r\ntcp_port:" + strconv.Itoa(n.Port) + "\r\n\r\n# Replication\r\n")
	if n.master != nil {
		b.WriteString("role:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:" + strconv.Itoa(n.master.Port) + "\r\nmaster_link_status:up\r\n")
		return b.String()
	}
	replicas := n.cluster.replicas(n)
	b.WriteString("role:master\r\nconnected_slaves:" + strconv.Itoa(len(replicas)) + "\r\n")
	for i, r := range replicas {
		b.WriteString("slave" + strconv.Itoa(i) + ":ip=127.0.0.1,port=" + strconv.Itoa(r.Port) + ",state=online,offset=0,lag=0\r\n")
	}
	return b.String()
}

// subscribe runs SUBSCRIBE (on) or UNSUBSCRIBE for c and returns the
// confirmations: arrays in RESP2, pushes in RESP3.
func (c *Cluster) subscribe(cn *Conn, on bool, channels []string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subs == nil {
		c.subs = map[string]map[*Conn]bool{}
	}
	kind := "subscribe"
	if !on {
		kind = "unsubscribe"
		if len(channels) == 0 {
			for ch, conns := range c.subs {
				if conns[cn] {
					channels = append(channels, ch)
				}
			}
			sort.Strings(channels)
		}
	}
	resp3 := cn.RESP3()
	var out []byte
	confirm := func(ch string, count int) {
		if resp3 {
			out = append(out, ">3\r\n"...)
		} else {
			out = appendArray(out, 3)
		}
		out = appendBulk(out, kind)
		if ch == "" && !on {
			out = append(out, null(resp3)...)
		} else {
			out = appendBulk(out, ch)
		}
		out = appendInt(out, count)
	}
	if len(channels) == 0 {
		confirm("", 0)
		return out
	}
	for _, ch := range channels {
		if c.subs[ch] == nil {
			c.subs[ch] = map[*Conn]bool{}
		}
		if on {
			c.subs[ch][cn] = true
		} else {
			delete(c.subs[ch], cn)
		}
		cn.wmu.Lock()
		cn.subs = 0
		for _, conns := range c.subs {
			if conns[cn] {
				cn.subs++
			}
		}
		count := cn.subs
		cn.wmu.Unlock()
		confirm(ch, count)
	}
	return out
}

// publish sends a message to every subscriber of channel, on any node, and
// returns how many got it.
func (c *Cluster) publish(channel, msg string) int {
	c.mu.Lock()
	var to []*Conn
	for cn := range c.subs[channel] {
		to = append(to, cn)
	}
	c.mu.Unlock()
	for _, cn := range to {
		var out []byte
		if cn.RESP3() {
			out = append(out, ">3\r\n"...)
		} else {
			out = appendArray(out, 3)
		}
		out = redcon.AppendBulkString(appendBulk(appendBulk(out, "message"), channel), msg)
		cn.write(out)
		cn.Flush()
	}
	return len(to)
}

// unsubscribeAll forgets a closed connection's subscriptions.
func (n *Node) unsubscribeAll(cn *Conn) {
	c := n.cluster
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conns := range c.subs {
		delete(conns, cn)
	}
}

// subscribed reports whether c is subscribed to a channel.
func (c *Conn) subscribed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.subs > 0
}
