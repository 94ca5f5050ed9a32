package checker

import (
	"strings"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
)

// Grouping connections into clients
//
// A client is the set of connections that share (client IP, CLIENT SETINFO
// LIB-NAME, LIB-VER, CLIENT SETNAME). The source port is left out on purpose:
// every pooled connection has its own, and an application that restarts comes
// back on new ports but is still the same application. The IP alone would
// merge unrelated applications on one host (or behind one NAT), so the
// library and the connection name split them; two instances of one service
// on one host that set the same name are one client, which is what a report
// about their shared code should say.
//
// A connection is created before it identifies itself: it starts in the
// anonymous client of its IP ("", "", "") and moves to its real client with
// its first command that carries the identity. Connections that fail before
// identifying (a refused handshake, a reset) are charged to the IP's only
// identified client when there is exactly one (the sidecar case), else to the
// anonymous client.
//
// Some libraries name their own internal connections: ioredis's cluster
// client names its slot refresher "ioredis-cluster(refresher)" (or
// "ioredis-cluster(refresher):<connectionName>"), and its subscribers alike.
// Those belong to the application's client, under the name the application
// gave (or none): otherwise the topology reads of one client would look like
// another's, and its data connections like a client that never refreshes.
// The component is kept on the connection.

type clientKey struct{ ip, lib, ver, name string }

// keyName returns the client name a connection name stands for, and the
// library's component ("refresher") when the library named the connection.
func keyName(name string) (user, component string) {
	const ioredis = "ioredis-cluster("
	if !strings.HasPrefix(name, ioredis) {
		return name, ""
	}
	rest := name[len(ioredis):]
	i := strings.IndexByte(rest, ')')
	if i < 0 {
		return name, ""
	}
	return strings.TrimPrefix(rest[i+1:], ":"), rest[:i]
}

// clientState is what the checker knows of one client.
type clientState struct {
	key       clientKey
	id        ClientID
	firstSeen time.Time
	lastSeen  time.Time
	conns     map[uint64]*connState // open connections
	nodesSeen map[string]struct{}
	connects  uint64
	commands  uint64
	errors    uint64 // error replies other than redirects, and commands left without a reply
	redirects uint64
	findings  int

	dataCommands uint64 // keyed commands answered without error

	rs ruleState // per-rule memory, cleared by Reset
}

// connState is what the checker knows of one open connection.
type connState struct {
	id     uint64
	node   string // real address
	port   string // proxy listen address
	client *clientState
	ip     string
	lib    string
	ver    string
	name   string // as the connection set it
	comp   string // the library's component that named it ("refresher"), if any
	opened time.Time

	owner    *clientState // cached owner(), valid while ownerGen == Checker.clientsGen
	ownerGen uint64

	cmds     int // commands seen (events)
	replies  int // commands answered (any reply)
	dataCmds int // keyed commands seen

	rc connRuleState // per-rule memory, cleared by Reset
}

func (cn *connState) resetRules() { cn.rc = connRuleState{} }

// connFor returns the connection of an event, creating it (and its client)
// when needed, and moves it to another client when its identity changed.
// It returns nil when the connection cannot be tracked.
func (k *Checker) connFor(ev *proxy.Event) *connState {
	cn := k.conns[ev.Conn.ID]
	if cn == nil {
		if len(k.conns) >= k.lim.MaxConns {
			return nil
		}
		opened := ev.Conn.Since
		if opened.IsZero() {
			opened = ev.Time
		}
		k.nodes.learn(ev.Conn.Listen, ev.Conn.Node)
		cn = &connState{id: ev.Conn.ID, node: ev.Conn.Node, port: ev.Conn.Listen,
			ip: clientIP(ev.Conn.Client), opened: opened}
		cn.lib, cn.ver, cn.name = ev.Conn.LibName, ev.Conn.LibVer, ev.Conn.Name
		c := k.clientFor(cn.key(), ev.Time)
		if c == nil {
			return nil
		}
		k.conns[cn.id] = cn
		cn.client = c
		c.conns[cn.id] = cn
		c.connects++
		c.nodesSeen[cn.node] = struct{}{}
		return cn
	}
	if ev.Conn.LibName != cn.lib || ev.Conn.LibVer != cn.ver || ev.Conn.Name != cn.name {
		k.move(cn, ev)
	}
	return cn
}

// key is the client a connection belongs to (and sets cn.comp).
func (cn *connState) key() clientKey {
	var name string
	name, cn.comp = keyName(cn.name)
	return clientKey{cn.ip, cn.lib, cn.ver, name}
}

// move re-files a connection under the client its new identity names.
func (k *Checker) move(cn *connState, ev *proxy.Event) {
	cn.lib, cn.ver, cn.name = ev.Conn.LibName, ev.Conn.LibVer, ev.Conn.Name
	to := k.clientFor(cn.key(), ev.Time)
	if to == nil || to == cn.client {
		return
	}
	from := cn.client
	delete(from.conns, cn.id)
	to.conns[cn.id] = cn
	to.connects++
	to.nodesSeen[cn.node] = struct{}{}
	cn.client = to
	if cn.identified() && len(cn.rc.deferred) > 0 {
		k.settle(cn, to)
	}
	// A client seen only half-identified (lib-name before lib-ver) is a
	// transition, not a client: forget it once it is empty.
	if len(from.conns) == 0 && from.findings == 0 && from.dataCommands == 0 && from.key != (clientKey{ip: cn.ip}) &&
		prefixOf(from.key, to.key) {
		delete(k.clients, from.key)
		k.clientsGen++
	}
}

// prefixOf reports whether every identity field set in a is equal in b.
func prefixOf(a, b clientKey) bool {
	eq := func(x, y string) bool { return x == "" || x == y }
	return a.ip == b.ip && eq(a.lib, b.lib) && eq(a.ver, b.ver) && eq(a.name, b.name)
}

// clientFor finds or creates a client, evicting an idle one at the limit.
func (k *Checker) clientFor(key clientKey, t time.Time) *clientState {
	c := k.clients[key]
	if c == nil {
		if len(k.clients) >= k.lim.MaxClients && !k.evictClient() {
			return nil
		}
		c = &clientState{key: key, id: ClientID{Addr: key.ip, LibName: key.lib, LibVer: key.ver, Name: key.name},
			firstSeen: t, conns: map[uint64]*connState{}, nodesSeen: map[string]struct{}{}}
		k.clients[key] = c
		k.clientsGen++
	}
	if t.After(c.lastSeen) {
		c.lastSeen = t
	}
	return c
}

// evictClient forgets the least recently active client without open
// connections, preferring ones without findings.
func (k *Checker) evictClient() bool {
	var victim *clientState
	for _, c := range k.clients {
		if len(c.conns) > 0 {
			continue
		}
		if victim == nil || (c.findings == 0 && victim.findings > 0) ||
			((c.findings == 0) == (victim.findings == 0) && c.lastSeen.Before(victim.lastSeen)) {
			victim = c
		}
	}
	if victim == nil {
		return false
	}
	delete(k.clients, victim.key)
	k.clientsGen++
	return true
}

// owner is the client a connection's failures are charged to. The answer
// for an anonymous connection is cached until the set of clients changes.
func (k *Checker) owner(cn *connState) *clientState {
	c := cn.client
	if c.key != (clientKey{ip: cn.ip}) {
		return c
	}
	if cn.ownerGen == k.clientsGen && cn.owner != nil {
		return cn.owner
	}
	cn.owner, cn.ownerGen = k.findOwner(cn, c), k.clientsGen
	return cn.owner
}

func (k *Checker) findOwner(cn *connState, c *clientState) *clientState {
	var only *clientState
	for _, o := range k.clients {
		if o.key.ip != cn.ip || o == c || o.key.lib == "" && o.key.name == "" {
			continue
		}
		if o.dataCommands == 0 && len(o.conns) == 0 {
			continue
		}
		if only != nil {
			return c
		}
		only = o
	}
	if only != nil {
		return only
	}
	return c
}

func (k *Checker) dropConn(cn *connState) {
	if cn.rc.held != nil {
		k.held--
	}
	delete(k.conns, cn.id)
	delete(cn.client.conns, cn.id)
}

// expire forgets idle clients and stale per-rule memory.
func (k *Checker) expire(now time.Time) {
	for key, c := range k.clients {
		if len(c.conns) == 0 && c.findings == 0 && now.Sub(c.lastSeen) > k.lim.ClientIdle {
			delete(k.clients, key)
			k.clientsGen++
			continue
		}
		c.rs.expire(k, now)
	}
	for n, at := range k.faultSeen {
		if now.Sub(at) > time.Minute {
			delete(k.faultSeen, n)
		}
	}
	for n, at := range k.downSeen {
		if now.Sub(at) > time.Minute {
			delete(k.downSeen, n)
		}
	}
}

// nodeView is what the checker knows of the nodes: roles and proxy ports.
type nodeView struct {
	role       map[string]string // real address → master/replica
	byPort     map[string]string // proxy port → real address
	known      map[string]bool   // every node seen or listed
	fromSource bool
}

func newNodeView() nodeView {
	return nodeView{role: map[string]string{}, byPort: map[string]string{}, known: map[string]bool{}}
}

func (v *nodeView) learn(listen, node string) {
	if node == "" {
		return
	}
	if !v.known[node] {
		v.known[node] = true
	}
	if p := portOf(listen); p != "" {
		if v.byPort[p] != node {
			v.byPort[p] = node
		}
	}
}

func (v *nodeView) refresh(nodes []proxy.NodeInfo) {
	v.fromSource = true
	for _, n := range nodes {
		v.known[n.Addr] = true
		if n.Role != "" {
			v.role[n.Addr] = n.Role
		}
		if p := portOf(n.Announce); p != "" {
			v.byPort[p] = n.Addr
		}
		if p := portOf(n.Listen); p != "" {
			v.byPort[p] = n.Addr
		}
	}
}

// resolve maps an address told to a client (host:port) to a real node.
func (v *nodeView) resolve(addr string) string {
	return v.byPort[portOf(addr)]
}

func (v *nodeView) isReplica(node string) bool {
	r := v.role[node]
	return r == "replica" || r == "slave"
}
