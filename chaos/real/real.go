// Package real performs the chaos engine's real-mode faults on a cluster this
// tool provisioned: kill/restart, pause/resume, CLUSTER FAILOVER, a real
// MISCONF and a real slot migration, each with its revert.
package real

import (
	"context"
	"fmt"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/provision"
)

// Actions performs real-mode faults on a cluster this process provisioned.
// Every action is refused on any other node (the provision module checks each
// node's id against its own records before acting). It satisfies chaos.Real.
type Actions struct{ c *provision.Cluster }

// New returns the real-mode actions of a provisioned cluster.
func New(c *provision.Cluster) Actions { return Actions{c} }

// Do performs one action on one node and returns its revert.
func (r Actions) Do(ctx context.Context, action, addr string, spec fault.Spec) (func(context.Context) error, error) {
	i, err := r.c.Index(addr)
	if err != nil {
		return nil, err
	}
	switch action {
	case fault.ActionDown:
		if err := r.c.Kill(ctx, i); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return r.c.Restart(ctx, i) }, nil
	case fault.ActionHang:
		if err := r.c.Pause(ctx, i); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return r.c.Resume(ctx, i) }, nil
	case fault.ActionFailover:
		rep, err := r.replicaOf(ctx, i)
		if err != nil {
			return nil, err
		}
		// As in Redis, the old master stays a replica when the fault ends.
		return nil, r.c.Failover(ctx, rep, false)
	case fault.ActionError:
		if spec.ErrorName() != "MISCONF" {
			return nil, fmt.Errorf("real mode has no %s error: only MISCONF (simulate the others)", spec.ErrorName())
		}
		if err := r.c.InduceMisconf(ctx, i); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return r.c.ClearMisconf(ctx, i) }, nil
	case fault.ActionMigrate:
		to, err := r.c.Index(spec.To)
		if err != nil {
			return nil, err
		}
		slot, err := r.firstSlot(ctx, i, spec)
		if err != nil {
			return nil, err
		}
		if err := r.c.StartMigration(ctx, slot, i, to); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return r.c.FinishMigration(ctx, slot) }, nil
	}
	return nil, fmt.Errorf("real mode has no %s action (simulate it)", action)
}

// replicaOf returns a replica of master i, or i itself if it is a replica.
func (r Actions) replicaOf(ctx context.Context, i int) (int, error) {
	st, err := r.c.Status(ctx)
	if err != nil {
		return 0, err
	}
	me := st.Nodes[i]
	if me.Role == provision.RoleReplica {
		return i, nil
	}
	for _, n := range st.Nodes {
		if n.Role == provision.RoleReplica && n.MasterID == me.ID && n.Reachable {
			return n.Index, nil
		}
	}
	return 0, fmt.Errorf("node %s has no live replica to fail over to", me.Addr)
}

func (r Actions) firstSlot(ctx context.Context, i int, spec fault.Spec) (int, error) {
	if spec.Match.Slots != "" {
		rs, err := fault.ParseSlots(spec.Match.Slots)
		if err != nil {
			return 0, err
		}
		return rs[0].From, nil
	}
	st, err := r.c.Status(ctx)
	if err != nil {
		return 0, err
	}
	if sl := st.Nodes[i].Slots; len(sl) > 0 {
		return sl[0].Start, nil
	}
	return 0, fmt.Errorf("node %s owns no slot to migrate", st.Nodes[i].Addr)
}
