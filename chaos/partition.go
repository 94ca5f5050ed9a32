package chaos

import (
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// A partition cuts the cluster in two: the target's nodes on one side, every
// other node on the other, and each client on one side. Clients reach only
// the nodes on their own side: a command to a node on the other side gets no
// reply (it is held, as by a hang fault), except what clients send to set a
// connection up (HELLO, AUTH, CLIENT, SELECT, READONLY, READWRITE, COMMAND),
// which is answered: a client's name (CLIENT SETNAME) may come after its
// first command (redis-cli sends COMMAND DOCS first), and until then its
// side is not known.
//
// In simulate mode each side sees its own virtual cluster: the nodes on the
// other side fail for it (hung), so a side with a majority of the masters
// fails them and promotes replicas on its own side after node-timeout, and a
// side without one turns to cluster_state:fail after node-timeout. When the
// partition heals, the side whose configuration is newer (the one that
// promoted) wins: the other side's masters that were replaced come back as
// replicas of their successors. In real mode the provisioned cluster is cut
// for real (the provision module's Partition) and the proxy cuts the clients'
// paths the same way.
//
// The engine watches the writes that masters on a side without a majority
// acknowledge during the partition (its Policy is the proxy's Observer too:
// see Policy.Observer). When such a master loses its slots to a replica on the other
// side, those writes are lost on a real cluster: in real mode the engine
// reports them as lost once the partition has healed, in simulate mode as at
// risk (nothing was lost: the real cluster was never cut).

// RealPartition is a partition of a real cluster, prepared (the cluster bus
// goes through the relays) but not cut yet.
type RealPartition interface {
	// Cut cuts the cluster and returns the moment of the cut: a write a
	// master acknowledged after it is lost if the master loses its slots.
	Cut(ctx context.Context) (start time.Time, err error)
	// Heal ends the partition, waits until the cluster is healthy and returns
	// the masters (real addresses) that lost their slots meanwhile.
	Heal(ctx context.Context) (demoted []string, err error)
}

// WriteLoss is what a partition did to the writes clients sent through the
// proxy while it lasted.
type WriteLoss struct {
	// Acknowledged counts the writes acknowledged by the masters on a side
	// without a majority of the masters (the only ones that can lose writes).
	Acknowledged int `json:"acknowledged"`
	// Demoted lists the masters (real addresses) that lost their slots to a
	// replica on the other side during the partition.
	Demoted []string `json:"demoted,omitempty"`
	// Lost lists the acknowledged writes that the demoted masters had not
	// passed on to the other side: gone from the cluster (real mode), or that
	// a real cluster would have lost (simulate mode: AtRisk).
	Lost []LostWrite `json:"lost,omitempty"`
	// More counts lost writes beyond those listed.
	More   int  `json:"more,omitempty"`
	AtRisk bool `json:"at_risk,omitempty"`
}

// Count is the number of lost (or, simulated, at-risk) writes.
func (w *WriteLoss) Count() int { return len(w.Lost) + w.More }

// LostWrite is one acknowledged write that a partition lost.
type LostWrite struct {
	Time    time.Time `json:"time"` // when its acknowledgement reached the proxy
	Command string    `json:"command"`
	Key     string    `json:"key"`
	Node    string    `json:"node"` // real address of the master that acknowledged it
	Client  Client    `json:"client"`
}

// Client identifies the client connection that sent a command.
type Client struct {
	Conn    uint64 `json:"conn"` // proxy connection id
	Addr    string `json:"addr"` // client address
	Name    string `json:"name,omitempty"`
	LibName string `json:"lib_name,omitempty"`
	LibVer  string `json:"lib_ver,omitempty"`
}

// maxTrackedWrites bounds the acknowledged writes a partition keeps; beyond
// it they are only counted.
const maxTrackedWrites = 100_000

// partitionState is a partition fault while it lasts (and until its writes
// are accounted for).
type partitionState struct {
	f       *Fault
	target  map[string]bool // real addresses of the nodes on the target's side
	clients *matcher        // places the clients it matches on the target's side; nil: by share
	share   float64
	seed    uint64
	exposed map[string]bool // masters on a side without a majority of the masters
	// simulate: the cluster as the target's side sees it, and its epoch at
	// the cut (a promotion raises it).
	view      *virtual
	baseEpoch int

	mu      sync.Mutex
	start   time.Time
	pending map[uint64][]sentWrite // by connection: tracked commands sent, reply not seen yet
	multi   map[uint64]*txn        // by connection: a transaction on an exposed master
	acked   []LostWrite
	dropped int // acknowledged writes beyond maxTrackedWrites
}

// sentWrite is a tracked command waiting for its reply.
type sentWrite struct {
	w      LostWrite
	queued bool // inside MULTI: acknowledged by EXEC
	exec   bool // EXEC or DISCARD itself
}

// txn is a transaction (MULTI … EXEC) on an exposed master.
type txn struct {
	watched bool // WATCH was used: EXEC may abort without an error reply
	queued  []LostWrite
}

// newPartition prepares the state of partition fault f: its nodes are the
// target's side.
func newPartition(e *Engine, f *Fault, now time.Time) (*partitionState, error) {
	p := &partitionState{f: f, target: map[string]bool{}, share: f.Spec.Share, seed: e.seed,
		exposed: map[string]bool{}, start: now, pending: map[uint64][]sentWrite{}, multi: map[uint64]*txn{}}
	for _, a := range f.Nodes {
		p.target[a] = true
	}
	if m := f.Spec.Match; m.Clients != "" || m.ClientName != "" || m.LibName != "" {
		mt, err := newMatcher(&m)
		if err != nil {
			return nil, err
		}
		p.clients = mt
	}
	// Masters on a side that holds no majority of them can lose their slots.
	masters := e.vc.masters()
	inTarget := 0
	for _, m := range masters {
		if p.target[m.addr] {
			inTarget++
		}
	}
	quorum := len(masters)/2 + 1
	for _, m := range masters {
		if (p.target[m.addr] && inTarget < quorum) || (!p.target[m.addr] && len(masters)-inTarget < quorum) {
			p.exposed[m.addr] = true
		}
	}
	return p, nil
}

// onTarget reports whether a client is on the target's side.
func (p *partitionState) onTarget(c *proxy.ConnInfo) bool {
	if p.clients != nil {
		return p.clients.matchClient(c)
	}
	switch {
	case p.share <= 0:
		return false
	case p.share >= 1:
		return true
	}
	h := fnv.New64a()
	if ip := clientIP(c.Client); ip != nil {
		h.Write(ip)
	}
	h.Write([]byte{0})
	h.Write([]byte(c.Name))
	h.Write([]byte{0})
	h.Write([]byte(c.LibName))
	return unit(p.seed, "partition-side", h.Sum64(), 2) < p.share
}

// handshake reports the commands a client sends to set up a connection: a
// partition answers them on both sides (see above).
func handshake(cmd *proxy.Command) bool {
	switch cmd.Name {
	case "HELLO", "AUTH", "CLIENT", "SELECT", "READONLY", "READWRITE", "COMMAND":
		return true
	}
	return false
}

// startTracking sets the moment from which acknowledged writes count.
func (p *partitionState) startTracking(t time.Time) {
	p.mu.Lock()
	p.start = t
	p.mu.Unlock()
}

// sent notes a command sent by a client on its side of the partition
// (onTarget) to node c.Node: writes (and transactions) on an exposed master
// are tracked until their reply.
func (p *partitionState) sent(c *proxy.ConnInfo, cmd *proxy.Command, onTarget bool) {
	if !p.exposed[c.Node] || p.target[c.Node] != onTarget {
		return
	}
	ci := cmd.Info
	switch cmd.Name {
	case "MULTI", "WATCH", "EXEC", "DISCARD":
	default:
		if ci == nil || !ci.Write {
			return
		}
	}
	w := LostWrite{Command: cmd.Name, Key: string(firstKeyOf(cmd)), Node: c.Node,
		Client: Client{Conn: c.ID, Addr: addrString(c.Client), Name: c.Name, LibName: c.LibName, LibVer: c.LibVer}}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		return // accounted for (loss): a command sent as the partition heals
	}
	t := p.multi[c.ID]
	switch cmd.Name {
	case "WATCH":
		if t == nil {
			t = &txn{}
			p.multi[c.ID] = t
		}
		t.watched = true
		return
	case "MULTI":
		if t == nil {
			p.multi[c.ID] = &txn{}
		}
		return
	case "EXEC", "DISCARD":
		if t == nil {
			return
		}
		p.pending[c.ID] = append(p.pending[c.ID], sentWrite{w: w, exec: true})
		return
	}
	p.pending[c.ID] = append(p.pending[c.ID], sentWrite{w: w, queued: t != nil})
}

// observed matches an event with the tracked command it answers.
func (p *partitionState) observed(ev *proxy.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := ev.Conn.ID
	if ev.Type == proxy.EventClose {
		delete(p.pending, id)
		delete(p.multi, id)
		return
	}
	q := p.pending[id]
	if ev.Type != proxy.EventCommand || len(q) == 0 {
		return
	}
	// Events come in the order of the commands; commands not tracked come
	// between. Should one tracked command's event be missing, the next one
	// still finds its own.
	i := slices.IndexFunc(q, func(s sentWrite) bool { return s.w.Command == ev.Command && s.w.Key == ev.Key })
	if i < 0 {
		return
	}
	s := q[i]
	if i == len(q)-1 {
		delete(p.pending, id)
	} else {
		p.pending[id] = q[i+1:]
	}
	ok := ev.Reply != '-' && ev.Reply != 0
	at := ev.Time.Add(ev.Latency)
	t := p.multi[id]
	switch {
	case s.exec:
		delete(p.multi, id)
		if ev.Command == "EXEC" && ok && t != nil && !t.watched {
			for _, w := range t.queued {
				w.Time = at
				p.ack(w)
			}
		}
	case s.queued:
		if ok && t != nil {
			t.queued = append(t.queued, s.w)
		}
	case ok:
		s.w.Time = at
		p.ack(s.w)
	}
}

// ack records an acknowledged write (p.mu held).
func (p *partitionState) ack(w LostWrite) {
	if w.Time.Before(p.start) {
		return
	}
	if len(p.acked) >= maxTrackedWrites {
		p.dropped++
		return
	}
	p.acked = append(p.acked, w)
}

// loss accounts for the acknowledged writes once the partition healed and the
// masters in demoted lost their slots.
func (p *partitionState) loss(demoted []string, atRisk bool) *WriteLoss {
	p.mu.Lock()
	defer p.mu.Unlock()
	wl := &WriteLoss{Acknowledged: p.dropped, Demoted: demoted, AtRisk: atRisk}
	for _, w := range p.acked {
		if w.Time.Before(p.start) {
			continue // before the cut (tracking starts a moment earlier in real mode)
		}
		wl.Acknowledged++
		if slices.Contains(demoted, w.Node) {
			wl.Lost = append(wl.Lost, w)
		}
	}
	if len(demoted) > 0 {
		wl.More = p.dropped // counted only: their nodes are not known
	}
	p.pending, p.multi = nil, nil
	return wl
}

// addrString is a client address as a string ("" when unknown).
func addrString(a interface{ String() string }) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// sideOf returns the snapshot a client sees and whether it is on the
// target's side.
func (s *snapshot) sideOf(c *proxy.ConnInfo) (*snapshot, bool) {
	if s.side == nil {
		return s, false
	}
	if s.side.p.onTarget(c) {
		return s.side.target, true
	}
	return s, false
}

// sideView is a partition as the data path sees it: what clients on the
// target's side see (the snapshot holding it is what the others see).
type sideView struct {
	p      *partitionState
	target *snapshot
}

// cutOff makes the nodes for which across reports true unreachable in s: their
// commands are held by the partition fault f.
func (s *snapshot) cutOff(f *Fault, across func(addr string) bool) {
	for _, nv := range s.list {
		if across(nv.addr) {
			nv.cut = f
		}
	}
	s.quiet = false
}

// partitionLocked returns the active partition fault, if any.
func (e *Engine) partitionLocked() *Fault {
	for _, id := range e.order {
		if f := e.faults[id]; f != nil && f.State == "active" && f.partition != nil {
			return f
		}
	}
	return nil
}

// withPartitionLocked adds the active partition (if any) to the snapshot
// built for the rest of the cluster: its target's nodes are cut off there, and
// clients on the target's side get a snapshot of their own.
func (e *Engine) withPartitionLocked(s *snapshot, active []*Fault, now time.Time) {
	f := e.partitionLocked()
	if f == nil || e.vc == nil {
		return
	}
	p := f.partition
	view := e.vc
	if p.view != nil {
		view = p.view
	}
	t := buildSnapshot(view, active, e.cfg.Settings, e.seed, now)
	t.metrics = s.metrics
	s.cutOff(f, func(a string) bool { return p.target[a] })
	t.cutOff(f, func(a string) bool { return !p.target[a] })
	s.side = &sideView{p: p, target: t}
}

// demotedIn returns the exposed masters that are replicas in v (or failed and
// replaced, about to come back as replicas).
func (p *partitionState) demotedIn(v *virtual) []string {
	var out []string
	for _, n := range v.nodes {
		if p.exposed[n.addr] && (n.role == topology.RoleReplica || n.replacedBy >= 0) {
			out = append(out, n.addr)
		}
	}
	slices.Sort(out)
	return out
}

// targetList is the target's nodes, sorted, for messages.
func (p *partitionState) targetList() string {
	var out []string
	for a := range p.target {
		out = append(out, a)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// Observer returns the proxy's Observer: the policy watches the replies the
// engine needs (those of the writes a partition tracks), then hands every
// event to next (the checker, say; nil for none). Plain commands in bulk go
// to next as they are, unless the engine needs them one by one.
func (p *Policy) Observer(next proxy.Observer) proxy.Observer {
	o := &observer{p: p, next: next}
	o.bulk, _ = next.(proxy.BulkObserver)
	return o
}

type observer struct {
	p    *Policy
	next proxy.Observer
	bulk proxy.BulkObserver
}

func (o *observer) Observe(ev proxy.Event) {
	if p := o.p.tracking.Load(); p != nil {
		p.observed(&ev)
	}
	if o.next != nil {
		o.next.Observe(ev)
	}
}

func (o *observer) ObserveBulk(b *proxy.Bulk) bool {
	if p := o.p.tracking.Load(); p != nil && p.waiting(b.Conn.ID) {
		return false
	}
	if o.next == nil {
		return true // nobody else wants them
	}
	return o.bulk != nil && o.bulk.ObserveBulk(b)
}

// waiting reports whether tracked commands of a connection wait for replies.
func (p *partitionState) waiting(conn uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending[conn]) > 0
}
