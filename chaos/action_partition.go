package chaos

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// partitionAction cuts the cluster in two, as a network partition does: the
// target's nodes on one side, every other node on the other. The clients that
// match.clients, match.client_name or match.lib_name name are on the target's
// side; without those, a share of the clients (by identity: address, name
// and library; seeded) is, and the others are with the rest of the cluster.
// See partition.go for what each side sees, in both modes.
type partitionAction struct{}

func (partitionAction) Name() string { return "partition" }

func (partitionAction) Check(s *fault.Spec) fault.Errors {
	var errs fault.Errors
	bad := func(field, reason string) { errs = append(errs, &fault.FieldError{Field: field, Reason: reason}) }
	m := s.Match
	const onlyClients = "a partition cuts nodes apart for every command; match only places clients on the target's side (match.clients, match.client_name, match.lib_name)"
	if len(m.Commands) > 0 {
		bad("match.commands", onlyClients)
	}
	if len(m.Categories) > 0 {
		bad("match.categories", onlyClients)
	}
	if m.Keys != "" {
		bad("match.keys", onlyClients)
	}
	if m.Slots != "" {
		bad("match.slots", onlyClients)
	}
	if m.Probability != 0 {
		bad("match.probability", onlyClients+"; share places a fraction of the clients")
	}
	if m.Count != 0 {
		bad("match.count", onlyClients)
	}
	if s.Share < 0 || s.Share > 1 {
		bad("share", "must be between 0 and 1 (the fraction of clients on the target's side)")
	} else if s.Share > 0 && (m.Clients != "" || m.ClientName != "" || m.LibName != "") {
		bad("share", "give either share or match.clients/client_name/lib_name to place clients on the target's side, not both")
	}
	return errs
}

func (partitionAction) Summary(s *fault.Spec) string {
	switch m := s.Match; {
	case m.Clients != "" || m.ClientName != "" || m.LibName != "":
		return "partition (matching clients with the target)"
	case s.Share > 0:
		return "partition (" + strconv.FormatFloat(s.Share*100, 'f', -1, 64) + "% of clients with the target)"
	}
	return "partition"
}

func (partitionAction) failsNodes() {}

// checkAdd refuses a second partition, and a target that leaves no node on
// the other side.
func (a partitionAction) checkAdd(e *Engine, s *fault.Spec) error {
	for _, f := range e.faults {
		if _, ok := f.action.(partitionAction); ok {
			return &fault.FieldError{Field: "action", Reason: "fault " + f.ID + " partitions the cluster already: one partition at a time"}
		}
	}
	nodes, err := e.resolveLocked(s.Target, a)
	if err != nil {
		return err
	}
	if len(nodes) >= len(e.vc.nodes) {
		return &fault.FieldError{Field: "target", Reason: "names every node: a partition needs nodes on both sides (the target is one side, every other node the other)"}
	}
	return nil
}

// start cuts the virtual cluster: the target's nodes fail (unresponsive) for
// the rest, and the target's side gets a copy of the cluster in which every
// other node fails.
func (partitionAction) start(e *Engine, f *Fault, now time.Time) {
	p, err := newPartition(e, f, now)
	if err != nil {
		f.Error = err.Error()
		return
	}
	p.view = e.vc.clone()
	p.baseEpoch = p.view.epoch
	for _, n := range p.view.nodes {
		if !p.target[n.addr] {
			p.view.fail(n.addr, true, now, e.rnd)
		}
	}
	e.failNodesLocked(f, true, now)
	f.partition = p
	e.pol.tracking.Store(p)
}

// step drives failure detection and promotions on the target's side.
func (partitionAction) step(e *Engine, f *Fault, now time.Time) bool {
	p := f.partition
	if p == nil || p.view == nil {
		return false
	}
	changed := p.view.advance(now, e.rnd)
	if s := e.pol.snap.Load().side; s != nil && p.view.clusterFail(now) != s.target.fail {
		changed = true
	}
	return changed
}

// end heals the virtual cluster: the side that promoted replicas (whose
// configuration is newer) wins, and the other side's nodes rejoin it, masters
// that were replaced as replicas of their successors. The writes the demoted
// masters acknowledged are at risk.
func (partitionAction) end(e *Engine, f *Fault, now time.Time) {
	p := f.partition
	if p == nil || p.view == nil {
		return
	}
	// The masters that stay masters but were FAIL for the others keep the flag
	// until Redis would clear it.
	failed := map[string]time.Time{}
	winner := e.vc
	if p.view.epoch > p.baseEpoch {
		winner = p.view
	}
	for _, n := range winner.nodes {
		if n.fail && n.role == topology.RoleMaster && n.replacedBy < 0 && winner.ownsSlots(n.idx) {
			failed[n.addr] = n.failAt
		}
	}
	if winner == p.view {
		// The target's side promoted: its view of the cluster is the one that
		// stays, and the rest of the cluster rejoins it.
		e.vc = p.view
		for _, n := range e.vc.nodes {
			if !p.target[n.addr] && !e.otherFaultHoldsLocked(f, n.addr) {
				e.vc.recover(n.addr, now)
			}
		}
	} else {
		e.recoverNodesLocked(f, now)
	}
	v := e.vc
	for _, n := range v.nodes {
		if at, ok := failed[n.addr]; ok && !n.down && at.Add(2*v.settings.NodeTimeout).After(now) {
			n.fail, n.failUntil = true, at.Add(2*v.settings.NodeTimeout)
		}
		// A master of a side without a majority that is still a master waits
		// out the rejoin delay before it takes writes again.
		if p.exposed[n.addr] && n.role == topology.RoleMaster && now.Sub(f.Starts) >= v.settings.NodeTimeout {
			n.rejoin, n.rejoining = now.Add(v.rejoinDelay()), true
		}
	}
	e.partitionOutcomeLocked(f, p.loss(p.demotedIn(v), true))
}

// realFault cuts the provisioned cluster: the cluster bus goes through the
// relays first, then the clients' paths are cut (and writes tracked), then
// the cluster itself. The revert heals it and accounts for the lost writes.
func (partitionAction) realFault(ctx context.Context, e *Engine, f *Fault, now time.Time) (func(context.Context) error, error) {
	p, err := newPartition(e, f, now)
	if err != nil {
		return nil, err
	}
	rp, err := e.cfg.Real.Partition(ctx, f.Nodes)
	if err != nil {
		return nil, err
	}
	f.partition = p
	e.pol.tracking.Store(p)
	e.publishLocked(now) // the clients' paths: cut from here on
	start, err := rp.Cut(ctx)
	if err != nil {
		f.partition = nil
		e.pol.tracking.CompareAndSwap(p, nil)
		e.publishLocked(now)
		return nil, err
	}
	p.startTracking(start)
	e.log.Info("partition cut", "id", f.ID, "target", p.targetList(), "start", start.Format(time.RFC3339Nano))
	return func(ctx context.Context) error {
		demoted, err := rp.Heal(ctx)
		e.mu.Lock()
		e.partitionOutcomeLocked(f, p.loss(demoted, false))
		e.mu.Unlock()
		if err != nil {
			return fmt.Errorf("partition heal: %w", err)
		}
		return nil
	}, nil
}
