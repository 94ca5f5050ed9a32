package chaos

import (
	"net"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// Policy is the engine's part on the data path, a proxy.QuietPolicy: it
// decides the fate of each command from the snapshot the engine last
// published, read through one atomic pointer, without a lock. Until an
// engine publishes into it (Config.Policy), it forwards everything.
//
//	proxy ──Command──▶ Policy ──Load──▶ snapshot ◀──publish── Engine (faults, virtual cluster, timers)
type Policy struct {
	snap atomic.Pointer[snapshot]
	// tracking is the partition whose writes are being watched, from its
	// start until they are accounted for (see Observer).
	tracking atomic.Pointer[partitionState]
}

// snapshot is the immutable view the data path reads for every command.
type snapshot struct {
	quiet   bool // nothing to do: forward everything
	virtual bool // the virtual cluster differs from the real one
	nodes   map[string]*nodeView
	list    []*nodeView
	owner   [topology.NumSlots]int16
	real    [topology.NumSlots]int16
	ask     map[int]*migration // slot → migration in its ASK phase
	fail    bool               // cluster_state:fail
	st      Settings
	epoch   int
	seed    uint64
	vc      *virtualCopy
	metrics *engineMetrics
	side    *sideView // a partition: what clients on the target's side see
	// failingBack: a failback's write pause holds the writes to some nodes
	// (nodeView.pause).
	failingBack bool
}

// virtualCopy is what topology replies need of the virtual cluster.
type virtualCopy struct {
	nodes []vnode
}

type nodeView struct {
	vnode
	hang   *Fault          // the hang fault holding this node's commands, if any
	cut    *Fault          // the partition that puts this node on the other side, if any
	pause  <-chan struct{} // a failback's write pause: writes wait until it is closed
	faults []*Fault        // command faults on this node, in Redis's order of checks
	index  *faultIndex
}

func buildSnapshot(vc *virtual, active []*Fault, st Settings, seed uint64, now time.Time) *snapshot {
	s := &snapshot{st: st, seed: seed, nodes: map[string]*nodeView{}}
	if vc == nil {
		s.quiet = true
		return s
	}
	s.virtual = vc.changed()
	s.owner, s.real = vc.owner, vc.realOwner
	s.fail = vc.clusterFail(now)
	s.epoch = vc.epoch
	s.vc = &virtualCopy{}
	for _, n := range vc.nodes {
		nv := &nodeView{vnode: *n}
		s.nodes[n.addr] = nv
		s.list = append(s.list, nv)
		s.vc.nodes = append(s.vc.nodes, *n)
	}
	for _, m := range vc.migrations {
		if m.moved {
			continue
		}
		if s.ask == nil {
			s.ask = map[int]*migration{}
		}
		for _, r := range m.slots {
			for sl := r.From; sl <= r.To; sl++ {
				s.ask[sl] = m
			}
		}
	}
	cmdFaults := 0
	for _, f := range active {
		switch {
		case f.hold != nil:
			for _, a := range f.Nodes {
				if nv := s.nodes[a]; nv != nil && nv.hang == nil {
					nv.hang = f
				}
			}
		case f.cmd != nil:
			cmdFaults++
			for _, a := range f.Nodes {
				if nv := s.nodes[a]; nv != nil {
					nv.faults = append(nv.faults, f)
				}
			}
		}
	}
	for _, nv := range s.list {
		sortByCheckOrder(nv.faults)
		nv.index = newFaultIndex(nv.faults)
	}
	hang := false
	for _, nv := range s.list {
		if nv.hang != nil {
			hang = true
		}
	}
	s.quiet = !s.virtual && cmdFaults == 0 && !hang
	return s
}

// sortByCheckOrder orders a node's command faults as Redis orders its checks
// (checkOrderer), keeping the order of addition among equals.
func sortByCheckOrder(fs []*Fault) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].rank < fs[j-1].rank; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// Quiet reports that no fault and no virtual cluster state is active: every
// command is forwarded as it is (proxy.QuietPolicy).
func (p *Policy) Quiet() bool {
	s := p.snap.Load()
	return s == nil || s.quiet
}

// Command decides the fate of one command (proxy.Policy).
func (p *Policy) Command(c *proxy.ConnInfo, cmd *proxy.Command) proxy.Action {
	s := p.snap.Load()
	if s == nil || s.quiet {
		return proxy.Action{}
	}
	if sv := s.side; sv != nil {
		var onTarget bool
		s, onTarget = s.sideOf(c)
		sv.p.sent(c, cmd, onTarget)
	}
	nv := s.nodes[c.Node]
	if nv == nil {
		return proxy.Action{}
	}
	if f := nv.hang; f != nil {
		f.count.Add(1) // the commands it held: what its "injected" count says
		s.metrics.commands.WithLabelValues(f.Spec.Action).Inc()
		return f.hold.hold(f)
	}
	if f := nv.cut; f != nil && !handshake(cmd) {
		f.count.Add(1)
		s.metrics.commands.WithLabelValues(f.Spec.Action).Inc()
		return proxy.Action{Kind: proxy.Hang, Release: f.released, Fault: f.ID}
	}
	if nv.pause != nil && cmd.Info != nil && cmd.Info.Write {
		return proxy.Action{Kind: proxy.Hang, Release: nv.pause}
	}
	var act proxy.Action
	if s.virtual {
		if r := s.topologyReply(nv, c, cmd); r != nil {
			return proxy.Action{Kind: proxy.Reply, Reply: r}
		}
		if a, done := s.cluster(nv, c, cmd); done {
			return a
		} else {
			act.Route = a.Route
		}
	}
	cand := nv.index.candidates(c, cmd, len(nv.faults)) // faults that may match: see index.go
	redirect := -1                                      // whether Redis would redirect cmd first: unknown yet
	for i := cand.next(0); i >= 0; i = cand.next(i + 1) {
		f := nv.faults[i]
		if !f.matcher.match(c, cmd) || (f.applier != nil && !f.applier.applies(&f.Spec, cmd)) {
			continue
		}
		if f.afterRedirect {
			if redirect < 0 {
				redirect = 0
				if crossSlot(cmd) || s.redirected(nv, c, cmd) {
					redirect = 1
				}
			}
			if redirect == 1 {
				continue // the node answers CROSSSLOT or MOVED/ASK before it would fail this way
			}
		}
		if !f.fire(s.seed) {
			continue
		}
		s.metrics.commands.WithLabelValues(f.Spec.Action).Inc()
		if f.cmd.act(f, s, nv, cmd, &act) {
			return act
		}
	}
	return act
}

// fire decides whether the current matching command is injected: the
// probability draw and the count limit come from the fault's own sequence, so
// the same seed injects the same commands.
func (f *Fault) fire(seed uint64) bool {
	k := f.matcher.seen.Add(1)
	if p := f.Spec.Match.Probability; p > 0 && p < 1 && unit(seed, f.ID, uint64(k), 0) >= p {
		return false
	}
	if f.seq != nil && !f.seq.fires(&f.Spec, k) {
		return false
	}
	n := f.count.Add(1)
	if limit := f.Spec.Match.Count; limit > 0 && n > int64(limit) {
		f.count.Add(-1)
		return false
	}
	return true
}

// unit is a deterministic number in [0,1) from the seed, fault and sequence number.
func unit(seed uint64, id string, k uint64, salt uint64) float64 {
	h := seed ^ 0x9e3779b97f4a7c15*(k+1) ^ salt<<32
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * 0x100000001b3
	}
	// splitmix64 finaliser
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return float64(h>>11) / float64(1<<53)
}

// redirected reports whether the node would answer cmd with MOVED or ASK:
// a keyed command for a slot another node serves, unless it is a READONLY
// read on a replica of that node or an ASKING command on the importing node.
func (s *snapshot) redirected(nv *nodeView, c *proxy.ConnInfo, cmd *proxy.Command) bool {
	slot := cmd.Slot
	if slot < 0 || slot >= topology.NumSlots {
		return false
	}
	owner := s.owner[slot]
	if owner < 0 || int(owner) == nv.idx {
		return false
	}
	if m := s.ask[slot]; m != nil && nv.idx == m.to && c.Asking {
		return false
	}
	write := cmd.Info == nil || cmd.Info.Write
	if nv.role == topology.RoleReplica && nv.master == int(owner) && c.Readonly && !write {
		return false
	}
	return true
}

// cluster applies the virtual cluster's rules to a command: CLUSTERDOWN,
// MOVED and ASK, or the real node that must serve it. done reports that the
// returned action is final.
func (s *snapshot) cluster(nv *nodeView, c *proxy.ConnInfo, cmd *proxy.Command) (act proxy.Action, done bool) {
	// A promoted replica serves with the data of the real master of its slots.
	serve := func(slot int) proxy.Action {
		if slot >= 0 {
			if r := s.real[slot]; r >= 0 && s.list[r].addr != nv.addr {
				return proxy.Action{Route: s.list[r].addr}
			}
			return proxy.Action{}
		}
		if nv.role == topology.RoleMaster && nv.realRole == topology.RoleReplica && nv.realMaster >= 0 {
			return proxy.Action{Route: s.list[nv.realMaster].addr}
		}
		return proxy.Action{}
	}
	slot := cmd.Slot
	if slot < 0 {
		return serve(-1), false // keyless commands never get cluster errors
	}
	// Redis's order (getNodeByQuery): the first key's slot has no owner,
	// then keys in several slots, then the cluster state, then redirects.
	owner := s.owner[slot]
	if owner < 0 {
		return reply("-CLUSTERDOWN Hash slot not served\r\n"), true
	}
	if crossSlot(cmd) {
		return proxy.Action{}, false // the node answers -CROSSSLOT itself
	}
	write := cmd.Info == nil || cmd.Info.Write
	if s.fail || nv.rejoining {
		if !s.st.AllowReadsWhenDown {
			return reply("-CLUSTERDOWN The cluster is down\r\n"), true
		}
		if write {
			return reply("-CLUSTERDOWN The cluster is down and only accepts read commands\r\n"), true
		}
	}
	if m := s.ask[slot]; m != nil {
		switch {
		case nv.idx == m.from:
			return reply("-ASK " + strconv.Itoa(slot) + " " + s.list[m.to].announce + "\r\n"), true
		case nv.idx == m.to && c.Asking:
			return serve(slot), false
		}
	}
	o := s.list[owner]
	if int(owner) == nv.idx {
		return serve(slot), false
	}
	if nv.role == topology.RoleReplica && nv.master == int(owner) && c.Readonly && !write {
		return proxy.Action{}, false // READONLY read on a replica of the owner
	}
	if s.real[slot] == owner && nv.realRole == nv.role && nv.master == nv.realMaster {
		return proxy.Action{}, false // the real node redirects exactly the same way
	}
	return reply("-MOVED " + strconv.Itoa(slot) + " " + o.announce + "\r\n"), true
}

// blockedReply is what Redis sends a client blocked on slot at this node when
// the cluster changes (clusterRedirectBlockedClientIfNeeded): CLUSTERDOWN when
// the cluster is down, MOVED when the slot has another owner; nil otherwise.
func (s *snapshot) blockedReply(info *proxy.ConnInfo, cmd *proxy.CommandInfo, slot int) []byte {
	s, _ = s.sideOf(info)
	nv := s.nodes[info.Node]
	if nv == nil || slot < 0 || slot >= topology.NumSlots {
		return nil
	}
	if s.fail || nv.rejoining {
		return []byte("-CLUSTERDOWN The cluster is down\r\n")
	}
	owner := s.owner[slot]
	if owner < 0 {
		return []byte("-CLUSTERDOWN Hash slot not served\r\n")
	}
	if int(owner) != nv.idx {
		return []byte("-MOVED " + strconv.Itoa(slot) + " " + s.list[owner].announce + "\r\n")
	}
	return nil
}

// crossSlot reports whether cmd's keys hash to more than one slot: Redis
// answers -CROSSSLOT before it redirects the command or refuses it for the
// cluster state, OOM, MISCONF … (getNodeByQuery, then processCommand). Keys
// are found from the command's key range, and numkeys for EVAL and FCALL;
// other keys that only a key specification finds (ZUNIONSTORE's sources,
// XREAD's streams) are not looked at.
func crossSlot(cmd *proxy.Command) bool {
	ci := cmd.Info
	if ci == nil || cmd.Slot < 0 {
		return false
	}
	args := cmd.Args
	first, last, step := ci.FirstKey, ci.LastKey, ci.Step
	switch ci.Name {
	case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
		if len(args) < 3 {
			return false
		}
		n, err := strconv.Atoi(string(args[2]))
		if err != nil || n < 2 || 2+n >= len(args) {
			return false // numkeys past the end: Redis finds no keys (and the command fails)
		}
		first, last, step = 3, 2+n, 1
	}
	if first <= 0 || step <= 0 {
		return false
	}
	if last < 0 {
		last += len(args)
	}
	last = min(last, len(args)-1)
	for i := first + step; i <= last; i += step { // the first key's slot is cmd.Slot
		if topology.Slot(args[i]) != cmd.Slot {
			return true
		}
	}
	return false
}

func reply(s string) proxy.Action { return proxy.Action{Kind: proxy.Reply, Reply: []byte(s)} }

// matcher is a compiled Match.
type matcher struct {
	m        fault.Match
	commands map[string]bool
	cats     []string
	slots    []fault.Range
	clients  []*net.IPNet
	seen     atomic.Int64
}

func newMatcher(m *fault.Match) (*matcher, error) {
	mt := &matcher{m: *m, cats: m.Categories}
	if len(m.Commands) > 0 {
		mt.commands = map[string]bool{}
		for _, c := range m.Commands {
			mt.commands[strings.ToUpper(c)] = true
		}
	}
	if m.Slots != "" {
		r, err := fault.ParseSlots(m.Slots)
		if err != nil {
			return nil, &fault.FieldError{Field: "match.slots", Reason: err.Error()}
		}
		mt.slots = r
	}
	if m.Clients != "" {
		n, err := fault.ParseClients(m.Clients)
		if err != nil {
			return nil, &fault.FieldError{Field: "match.clients", Reason: err.Error()}
		}
		mt.clients = n
	}
	return mt, nil
}

func (mt *matcher) match(c *proxy.ConnInfo, cmd *proxy.Command) bool {
	if mt.commands != nil && !mt.commands[cmd.Name] {
		return false
	}
	for _, cat := range mt.cats {
		if !category(cat, cmd) {
			return false
		}
	}
	if mt.m.Keys != "" {
		if cmd.Slot < 0 {
			return false
		}
		key := firstKeyOf(cmd)
		if ok, _ := path.Match(mt.m.Keys, string(key)); !ok {
			return false
		}
	}
	if mt.slots != nil {
		if cmd.Slot < 0 {
			return false
		}
		in := false
		for _, r := range mt.slots {
			if cmd.Slot >= r.From && cmd.Slot <= r.To {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return mt.matchClient(c)
}

// matchClient reports whether the client fields of the match (clients,
// client_name, lib_name) all accept the client.
func (mt *matcher) matchClient(c *proxy.ConnInfo) bool {
	if mt.clients != nil {
		ip := clientIP(c.Client)
		in := false
		for _, n := range mt.clients {
			if ip != nil && n.Contains(ip) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	if mt.m.ClientName != "" && !globMatch(mt.m.ClientName, c.Name) {
		return false
	}
	if mt.m.LibName != "" && !globMatch(mt.m.LibName, c.LibName) {
		return false
	}
	return true
}

func globMatch(pattern, s string) bool {
	ok, _ := path.Match(pattern, s)
	return ok
}

func clientIP(a net.Addr) net.IP {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP
	}
	if a == nil {
		return nil
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return nil
	}
	return net.ParseIP(h)
}

func category(cat string, cmd *proxy.Command) bool {
	ci := cmd.Info
	switch cat {
	case "write":
		return ci != nil && ci.Write
	case "read":
		return ci != nil && ci.ReadOnly && cmd.Slot >= 0
	case "keyless":
		return cmd.Slot < 0
	case "keyed":
		return cmd.Slot >= 0
	case "blocking":
		return ci != nil && ci.Blocking
	case "admin":
		return ci != nil && ci.Admin
	case "pubsub":
		return ci != nil && ci.PubSub
	}
	return false
}

// firstKeyOf returns the key whose slot the proxy computed.
func firstKeyOf(cmd *proxy.Command) []byte {
	ci := cmd.Info
	if ci == nil {
		return nil
	}
	switch ci.Name {
	case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
		if len(cmd.Args) > 3 {
			return cmd.Args[3]
		}
		return nil
	}
	if ci.FirstKey > 0 && ci.FirstKey < len(cmd.Args) {
		return cmd.Args[ci.FirstKey]
	}
	return nil
}
