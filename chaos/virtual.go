package chaos

import (
	"math/rand/v2"
	"sort"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// The virtual cluster is the cluster as clients see it through the proxy.
// Faults change it, never the real cluster. It follows Redis Cluster's rules
// (cluster.c): a dead node is "fail?" at once and "fail" after node-timeout
// when a majority of masters can agree; a failed master with a live replica is
// replaced after an election delay; with full coverage required, slots whose
// master failed make every node answer CLUSTERDOWN until the promotion; a
// majority of masters lost puts every node in cluster_state:fail.

type vnode struct {
	idx        int
	addr       string // real address
	id         string
	announce   string // proxy address told to clients
	realRole   string
	realMaster int // index of the real master, -1 for masters
	role       string
	master     int // index of the virtual master, -1 for masters
	replacedBy int // a failed master whose replica took over: its index, else -1
	down       bool
	hang       bool
	since      time.Time
	failAt     time.Time // when the failure reports of a majority will have arrived
	fail       bool      // FAIL flag (agreed by a majority); "fail?" while down and not fail
	epoch      int
	// rejoin: a master back from a crash reports cluster_state:fail (and
	// answers CLUSTERDOWN) until this time: Redis's CLUSTER_WRITABLE_DELAY.
	rejoin    time.Time
	rejoining bool
	upAt      time.Time // when it came back after being down (zero if never down)
	// failUntil: a master with slots that failed and was not replaced keeps
	// its FAIL flag, reachable again, until this time (Redis clears it
	// 2 × node-timeout after it set it: CLUSTER_FAIL_UNDO_TIME_MULT).
	failUntil time.Time
}

// writableDelay is CLUSTER_WRITABLE_DELAY of cluster.c: a master that starts
// waits this long before it turns its cluster state to ok.
const writableDelay = 2 * time.Second

type promotion struct {
	master, replica int
	at              time.Time
}

type migration struct {
	fault    string
	from, to int
	slots    []fault.Range
	askUntil time.Time
	moved    bool
}

type virtual struct {
	settings Settings
	nodes    []*vnode
	byAddr   map[string]int
	owner    [topology.NumSlots]int16 // virtual owner, -1 for none
	ownerGen int                      // bumped whenever owner changes
	// masters() and whether some slot has no owner, as of ownerGen cacheGen-1
	// (the engine asks on every tick: a walk of 16,384 slots each time cost
	// about 1% of a core with no fault at all).
	cacheGen   int
	owners     []*vnode
	uncovered  bool
	realOwner  [topology.NumSlots]int16
	pending    []promotion
	migrations []*migration
	epoch      int
	size       int // masters that own slots in the real topology
}

func newVirtual(t *topology.Topology, ports []proxy.NodeInfo, st Settings) *virtual {
	announce := map[string]string{}
	for _, p := range ports {
		announce[p.Addr] = p.Announce
	}
	v := &virtual{settings: st, byAddr: map[string]int{}}
	nodes := append([]topology.Node(nil), t.Nodes...)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Addr < nodes[j].Addr })
	for i, n := range nodes {
		vn := &vnode{idx: i, addr: n.Addr, id: n.ID, announce: announce[n.Addr], realRole: n.Role,
			role: n.Role, realMaster: -1, master: -1, replacedBy: -1, epoch: i + 1}
		if vn.announce == "" {
			vn.announce = n.Addr
		}
		v.nodes = append(v.nodes, vn)
		v.byAddr[n.Addr] = i
	}
	byID := map[string]int{}
	for _, n := range v.nodes {
		byID[n.id] = n.idx
	}
	for i := range v.owner {
		v.owner[i], v.realOwner[i] = -1, -1
	}
	for i, n := range nodes {
		if n.Role == topology.RoleReplica {
			if m, ok := byID[n.MasterID]; ok {
				v.nodes[i].realMaster, v.nodes[i].master = m, m
			}
		}
		if n.Role == topology.RoleMaster && len(n.Slots) > 0 {
			v.size++
		}
		for _, r := range n.Slots {
			for s := r.From; s <= r.To; s++ {
				v.owner[s], v.realOwner[s] = int16(i), int16(i)
			}
		}
	}
	v.epoch = len(v.nodes)
	return v
}

// changed reports whether the virtual cluster differs from the real one.
func (v *virtual) changed() bool {
	if len(v.migrations) > 0 || len(v.pending) > 0 {
		return true
	}
	for _, n := range v.nodes {
		if n.down || n.fail || n.rejoining || n.role != n.realRole || n.master != n.realMaster || n.replacedBy >= 0 {
			return true
		}
	}
	return v.owner != v.realOwner
}

func (v *virtual) node(addr string) *vnode {
	if i, ok := v.byAddr[addr]; ok {
		return v.nodes[i]
	}
	return nil
}

// fail marks a node dead (down) or unresponsive (hang). The others flag it
// "fail?" at once and FAIL after node-timeout plus the gossip that carries a
// majority's failure reports (a few hundred milliseconds).
func (v *virtual) fail(addr string, hang bool, now time.Time, rnd *rand.Rand) {
	n := v.node(addr)
	if n == nil {
		return
	}
	if !n.down {
		n.since = now
		n.failAt = now.Add(v.settings.NodeTimeout + 100*time.Millisecond + time.Duration(rnd.Int64N(int64(300*time.Millisecond))))
	}
	n.down = true
	n.hang = n.hang || hang
}

// recover brings a node back. A master that was replaced comes back as a
// replica of the master that replaced it, as in Redis. A master back from a
// crash (not a hang) answers CLUSTERDOWN for the writable delay.
func (v *virtual) recover(addr string, now time.Time) {
	n := v.node(addr)
	if n == nil {
		return
	}
	crashed := n.down && !n.hang
	if crashed {
		n.upAt = now
	}
	n.down, n.hang, n.fail = false, false, false
	if crashed && n.role == topology.RoleMaster && n.replacedBy < 0 {
		n.rejoin, n.rejoining = now.Add(writableDelay), true
	}
	if n.replacedBy >= 0 {
		// It learns of the failover and becomes a replica of its successor.
		n.role, n.master, n.replacedBy = topology.RoleReplica, n.replacedBy, -1
	}
	kept := v.pending[:0]
	for _, p := range v.pending {
		if p.master != n.idx {
			kept = append(kept, p)
		}
	}
	v.pending = kept
}

// masters returns the virtual masters that own slots, in index order. The
// slice is shared: callers must not modify it.
func (v *virtual) masters() []*vnode {
	v.refreshOwners()
	return v.owners
}

// refreshOwners recomputes masters() and uncovered after owner changed.
func (v *virtual) refreshOwners() {
	if v.cacheGen == v.ownerGen+1 {
		return
	}
	owns := make([]bool, len(v.nodes))
	v.uncovered = false
	for _, o := range v.owner {
		if o >= 0 {
			owns[o] = true
		} else {
			v.uncovered = true
		}
	}
	v.owners = v.owners[:0:0]
	for i, ok := range owns {
		if ok {
			v.owners = append(v.owners, v.nodes[i])
		}
	}
	v.cacheGen = v.ownerGen + 1
}

func (v *virtual) replicasOf(m int) []*vnode {
	var rs []*vnode
	for _, n := range v.nodes {
		if n.role == topology.RoleReplica && n.master == m {
			rs = append(rs, n)
		}
	}
	return rs
}

// quorum is the number of masters that must agree (and be reachable).
func (v *virtual) quorum() int { return v.size/2 + 1 }

// reachable counts masters not known failing (down for node-timeout or more).
func (v *virtual) reachable(now time.Time) int {
	r := 0
	for _, m := range v.masters() {
		if !(m.down && now.Sub(m.since) >= v.settings.NodeTimeout) {
			r++
		}
	}
	return r
}

// advance applies failure detection and promotions due at now. It reports
// whether anything changed.
func (v *virtual) advance(now time.Time, rnd *rand.Rand) bool {
	changed := false
	alive := 0
	for _, m := range v.masters() {
		if !m.down {
			alive++
		}
	}
	for _, n := range v.nodes {
		if !n.down || n.fail || now.Before(n.failAt) {
			continue
		}
		// FAIL needs failure reports from a majority of masters.
		if alive < v.quorum() {
			continue
		}
		n.fail = true
		changed = true
		if n.role == topology.RoleMaster && v.ownsSlots(n.idx) {
			if r := v.bestReplica(n.idx); r != nil {
				// Redis: 500 ms + random 0-500 ms + rank × 1 s, then the vote.
				delay := 500*time.Millisecond + time.Duration(rnd.Int64N(int64(500*time.Millisecond)))
				v.pending = append(v.pending, promotion{master: n.idx, replica: r.idx, at: now.Add(delay)})
			}
		}
	}
	for _, n := range v.nodes {
		if n.rejoining && !now.Before(n.rejoin) {
			n.rejoining = false
			changed = true
		}
		if n.fail && !n.down && !now.Before(n.failUntil) {
			n.fail = false
			changed = true
		}
	}
	kept := v.pending[:0]
	for _, p := range v.pending {
		if now.Before(p.at) {
			kept = append(kept, p)
			continue
		}
		if r := v.nodes[p.replica]; r.down {
			if nr := v.bestReplica(p.master); nr != nil {
				p.replica = nr.idx
				kept = append(kept, p)
			}
			continue
		}
		v.promote(p.replica, p.master)
		changed = true
	}
	v.pending = kept
	return changed
}

func (v *virtual) ownsSlots(i int) bool {
	for _, o := range v.owner {
		if int(o) == i {
			return true
		}
	}
	return false
}

// bestReplica is the live replica with the lowest index (all have the same
// replication offset here: the data never diverges in simulate mode).
func (v *virtual) bestReplica(m int) *vnode {
	for _, r := range v.replicasOf(m) {
		if !r.down {
			return r
		}
	}
	return nil
}

// promote makes replica r the master of m's slots and m (and m's other
// replicas) its replicas.
func (v *virtual) promote(r, m int) {
	for s := range v.owner {
		if int(v.owner[s]) == m {
			v.owner[s] = int16(r)
		}
	}
	v.ownerGen++
	for _, n := range v.nodes {
		if n.role == topology.RoleReplica && n.master == m && n.idx != r {
			n.master = r
		}
	}
	rn, mn := v.nodes[r], v.nodes[m]
	rn.role, rn.master = topology.RoleMaster, -1
	if mn.down {
		// Until it returns, the others still list it as a failed master with no slots.
		mn.replacedBy = r
	} else {
		mn.role, mn.master = topology.RoleReplica, r
	}
	v.epoch++
	rn.epoch = v.epoch
}

// manualFailover promotes a replica at once (CLUSTER FAILOVER): addr is the
// replica, or a master whose first live replica takes over.
func (v *virtual) manualFailover(addr string, now time.Time) {
	n := v.node(addr)
	if n == nil {
		return
	}
	if n.role == topology.RoleReplica && n.master >= 0 {
		v.promote(n.idx, n.master)
		return
	}
	if r := v.bestReplica(n.idx); r != nil {
		v.promote(r.idx, n.idx)
	}
}

// clusterFail reports whether every node is in cluster_state:fail.
func (v *virtual) clusterFail(now time.Time) bool {
	if v.reachable(now) < v.quorum() {
		return true
	}
	if !v.settings.FullCoverage {
		return false
	}
	if v.masters(); v.uncovered {
		return true
	}
	for _, m := range v.owners { // a slot whose owner is FAIL
		if m.fail {
			return true
		}
	}
	return false
}

func (v *virtual) startMigration(f *Fault, from, to string, slots []fault.Range, now time.Time) {
	fi, ti := v.byAddr[from], v.byAddr[to]
	if len(slots) == 0 {
		// Default: the first 100 slots the source owns.
		var first = -1
		for s, o := range v.owner {
			if int(o) == fi {
				first = s
				break
			}
		}
		if first < 0 {
			return
		}
		slots = []fault.Range{{From: first, To: min(first+99, topology.NumSlots-1)}}
	}
	askFor := f.Spec.AskFor.D()
	if askFor == 0 {
		askFor = f.Spec.TTL.D() / 2
	}
	v.migrations = append(v.migrations, &migration{fault: f.ID, from: fi, to: ti, slots: slots, askUntil: now.Add(askFor)})
}

// migrationStep finishes the ASK phase of a migration when its time is up.
func (v *virtual) migrationStep(f *Fault, now time.Time) bool {
	for _, m := range v.migrations {
		if m.fault == f.ID && !m.moved && !now.Before(m.askUntil) {
			m.moved = true
			for _, r := range m.slots {
				for s := r.From; s <= r.To; s++ {
					if int(v.owner[s]) == m.from {
						v.owner[s] = int16(m.to)
					}
				}
			}
			v.ownerGen++
			return true
		}
	}
	return false
}

// endMigration gives the slots back to their real owner.
func (v *virtual) endMigration(f *Fault) {
	kept := v.migrations[:0]
	for _, m := range v.migrations {
		if m.fault != f.ID {
			kept = append(kept, m)
			continue
		}
		for _, r := range m.slots {
			for s := r.From; s <= r.To; s++ {
				v.owner[s] = v.realOwner[s]
			}
		}
		v.ownerGen++
	}
	v.migrations = kept
}

// VirtualView is the virtual cluster as the API shows it.
type VirtualView struct {
	State  string        `json:"cluster_state"`
	Epoch  int           `json:"current_epoch"`
	Nodes  []VirtualNode `json:"nodes"`
	Differ bool          `json:"differs_from_real"`
}

// VirtualNode is one node of the virtual cluster.
type VirtualNode struct {
	ID       string           `json:"id"`
	Addr     string           `json:"addr"`
	Announce string           `json:"announce"`
	Role     string           `json:"role"`
	Master   string           `json:"master_id,omitempty"`
	Flags    string           `json:"flags"`
	Slots    []topology.Range `json:"slots,omitempty"`
}

func (v *virtual) view(now time.Time) *VirtualView {
	out := &VirtualView{State: "ok", Epoch: v.epoch, Differ: v.changed()}
	if v.clusterFail(now) {
		out.State = "fail"
	}
	for _, n := range v.nodes {
		vn := VirtualNode{ID: n.id, Addr: n.addr, Announce: n.announce, Role: n.role, Flags: v.flags(n, nil)}
		if n.master >= 0 {
			vn.Master = v.nodes[n.master].id
		}
		vn.Slots = v.slotRanges(n.idx)
		out.Nodes = append(out.Nodes, vn)
	}
	return out
}

// flags returns the CLUSTER NODES flags of n as seen by self (nil: nobody).
func (v *virtual) flags(n *vnode, self *vnode) string {
	f := ""
	if self == n {
		f = "myself,"
	}
	if n.role == topology.RoleMaster {
		f += "master"
	} else {
		f += "slave"
	}
	if (n.down || n.fail) && self != n {
		if n.fail {
			f += ",fail"
		} else {
			f += ",fail?"
		}
	}
	return f
}

func (v *virtual) slotRanges(i int) []topology.Range {
	var out []topology.Range
	for s := 0; s < topology.NumSlots; s++ {
		if int(v.owner[s]) != i {
			continue
		}
		if len(out) > 0 && out[len(out)-1].To == s-1 {
			out[len(out)-1].To = s
		} else {
			out = append(out, topology.Range{From: s, To: s})
		}
	}
	return out
}

// clone returns a deep copy of v: one side of a partition sees the cluster
// change apart from the other.
func (v *virtual) clone() *virtual {
	c := *v
	c.nodes = make([]*vnode, len(v.nodes))
	for i, n := range v.nodes {
		cp := *n
		c.nodes[i] = &cp
	}
	c.byAddr = make(map[string]int, len(v.byAddr))
	for a, i := range v.byAddr {
		c.byAddr[a] = i
	}
	c.owners, c.cacheGen = nil, 0
	c.pending = append([]promotion(nil), v.pending...)
	c.migrations = make([]*migration, len(v.migrations))
	for i, m := range v.migrations {
		cp := *m
		c.migrations[i] = &cp
	}
	return &c
}

// rejoinDelay is how long a master that was on the minority side of a
// partition stays in cluster_state:fail after it heals (cluster.c: node-timeout,
// at least 500 ms and at most 5 s), for the configuration of the majority to
// reach it first.
func (v *virtual) rejoinDelay() time.Duration {
	return min(max(v.settings.NodeTimeout, 500*time.Millisecond), 5*time.Second)
}
