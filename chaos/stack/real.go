package stack

import (
	"context"
	"fmt"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/provision"
)

// RealCluster is a cluster this process provisioned as the chaos engine's
// real-mode faults see it: kill/restart, pause/resume, CLUSTER FAILOVER, a
// real MISCONF and a real slot migration, each on one node named by address.
// Every call is refused on any other node (the provision module checks each
// node's id against its own records before acting).
func RealCluster(c *provision.Cluster) chaos.RealCluster { return provisioned{c} }

type provisioned struct{ c *provision.Cluster }

// do resolves addr to the node's index and calls fn with it.
func (p provisioned) do(ctx context.Context, addr string, fn func(context.Context, int) error) error {
	i, err := p.c.Index(addr)
	if err != nil {
		return err
	}
	return fn(ctx, i)
}

func (p provisioned) Kill(ctx context.Context, addr string) error {
	return p.do(ctx, addr, p.c.Kill)
}

func (p provisioned) Restart(ctx context.Context, addr string) error {
	return p.do(ctx, addr, p.c.Restart)
}

func (p provisioned) Pause(ctx context.Context, addr string) error {
	return p.do(ctx, addr, p.c.Pause)
}

func (p provisioned) Resume(ctx context.Context, addr string) error {
	return p.do(ctx, addr, p.c.Resume)
}

func (p provisioned) InduceMisconf(ctx context.Context, addr string) error {
	return p.do(ctx, addr, p.c.InduceMisconf)
}

func (p provisioned) ClearMisconf(ctx context.Context, addr string) error {
	return p.do(ctx, addr, p.c.ClearMisconf)
}

// Failover fails over to addr, a replica, or to a live replica of addr, a
// master. As in Redis, the old master stays a replica afterwards.
func (p provisioned) Failover(ctx context.Context, addr string) error {
	return p.do(ctx, addr, func(ctx context.Context, i int) error {
		rep, err := p.replicaOf(ctx, i)
		if err != nil {
			return err
		}
		return p.c.Failover(ctx, rep, false)
	})
}

// replicaOf returns a replica of master i, or i itself if it is a replica.
func (p provisioned) replicaOf(ctx context.Context, i int) (int, error) {
	st, err := p.c.Status(ctx)
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

func (p provisioned) FirstSlot(ctx context.Context, addr string) (int, error) {
	i, err := p.c.Index(addr)
	if err != nil {
		return 0, err
	}
	st, err := p.c.Status(ctx)
	if err != nil {
		return 0, err
	}
	if sl := st.Nodes[i].Slots; len(sl) > 0 {
		return sl[0].Start, nil
	}
	return 0, fmt.Errorf("node %s owns no slot to migrate", st.Nodes[i].Addr)
}

func (p provisioned) StartMigration(ctx context.Context, slot int, from, to string) error {
	i, err := p.c.Index(from)
	if err != nil {
		return err
	}
	j, err := p.c.Index(to)
	if err != nil {
		return err
	}
	return p.c.StartMigration(ctx, slot, i, j)
}

func (p provisioned) FinishMigration(ctx context.Context, slot int) error {
	return p.c.FinishMigration(ctx, slot)
}

// Partition prepares a partition between the nodes at the addresses in side
// and every other node (provision.Cluster.PreparePartition).
func (p provisioned) Partition(ctx context.Context, side []string) (chaos.RealPartition, error) {
	var idx []int
	for _, a := range side {
		i, err := p.c.Index(a)
		if err != nil {
			return nil, err
		}
		idx = append(idx, i)
	}
	pp, err := p.c.PreparePartition(ctx, idx)
	if err != nil {
		return nil, err
	}
	return partition{p.c, pp}, nil
}

type partition struct {
	c *provision.Cluster
	p *provision.Partition
}

func (p partition) Cut(ctx context.Context) (time.Time, error) {
	if err := p.p.Cut(ctx); err != nil {
		return time.Time{}, err
	}
	return p.p.Start(), nil
}

// Heal heals the partition and returns the addresses of the masters that lost
// their slots.
func (p partition) Heal(ctx context.Context) ([]string, error) {
	h, err := p.p.Heal(ctx)
	nodes := p.c.Nodes()
	var demoted []string
	for _, i := range h.Demoted {
		demoted = append(demoted, nodes[i].Addr)
	}
	return demoted, err
}
