package provision

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RevertAll undoes every fault action, back to the provisioned layout: it resumes
// paused nodes, heals a partition (or undoes one left by a process that died),
// restarts stopped or killed ones, clears MISCONF, fails provisioned
// masters back over (so each shard's master is the one Start made it), returns migrated
// slots to their first owner, and waits until the cluster is healthy. It keeps going
// after an error and returns all of them.
func (c *Cluster) RevertAll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 4*c.actionTimeout())
	defer cancel()
	var errs []error
	nodes := c.nodesSnapshot()
	// 1. Paused nodes.
	for _, n := range nodes {
		if c.Paused(n.Index) {
			errs = append(errs, c.Resume(ctx, n.Index))
		}
	}
	// 2. A partition: healed (this value's), or undone (one left by a process
	// that is gone).
	c.mu.Lock()
	p := c.partition
	c.mu.Unlock()
	if p != nil && p.relays != nil {
		_, err := p.Heal(ctx)
		errs = append(errs, err)
	}
	errs = append(errs, c.healLeftover(ctx))
	// 3. Stopped and killed nodes.
	var dead []*node
	for _, n := range nodes {
		if !c.Running(n.Index) {
			dead = append(dead, n)
		}
	}
	errs = append(errs, c.each(ctx, dead, func(ctx context.Context, n *node) error { return c.Restart(ctx, n.Index) }))
	if err := errors.Join(errs...); err != nil {
		return err // nothing more can be done without every node
	}
	// 4. MISCONF first: replicas cannot sync from a master in MISCONF.
	for _, n := range nodes {
		errs = append(errs, c.ClearMisconf(ctx, n.Index))
	}
	// 5. Wait until the nodes agree (slots may still be migrating).
	if err := c.waitSettled(ctx); err != nil {
		return errors.Join(append(errs, err)...)
	}
	// 6. Roles as provisioned.
	for _, n := range nodes {
		if n.Role != RoleMaster {
			continue
		}
		if st := c.nodeStatus(ctx, n); st.Role == RoleReplica {
			if err := c.Failover(ctx, n.Index, false); err != nil {
				c.log.Warn("failover back failed, forcing", "node", n.Index, "err", err)
				errs = append(errs, c.Failover(ctx, n.Index, true))
			}
		}
	}
	// 7. Slot migrations.
	for _, m := range c.Migrations() {
		errs = append(errs, c.revertMigration(ctx, m))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.WaitHealthy(ctx)
}

// waitSettled waits until every node is reachable and agrees that the cluster is
// ok, ignoring slots in migration.
func (c *Cluster) waitSettled(ctx context.Context) error {
	var last error
	err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
		st, err := c.Status(ctx)
		if err != nil {
			return false, nil
		}
		for i := range st.Nodes {
			st.Nodes[i].Migrating, st.Nodes[i].Importing = nil, nil
		}
		last = st.Problem()
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("provision: cluster did not settle: %w (last problem: %v)", err, last)
	}
	return nil
}

// revertMigration puts slot m.Slot back on the master of m.From's shard.
func (c *Cluster) revertMigration(ctx context.Context, m Migration) error {
	nodes := c.nodesSnapshot()
	if m.From < 0 || m.From >= len(nodes) {
		return fmt.Errorf("%w: bad migration record %+v", ErrMigration, m)
	}
	home, err := c.liveMaster(ctx, nodes[m.From].Shard)
	if err != nil {
		return err
	}
	// Clear IMPORTING/MIGRATING states; keys created on an importing node go home.
	for _, n := range nodes {
		st := c.nodeStatus(ctx, n)
		if st.Importing[m.Slot] == "" && st.Migrating[m.Slot] == "" {
			continue
		}
		if st.Importing[m.Slot] != "" && n != home {
			if err := c.moveKeys(ctx, n, home, m.Slot); err != nil {
				return err
			}
		}
		if err := c.client(n).Do(ctx, "CLUSTER", "SETSLOT", m.Slot, "STABLE").Err(); err != nil {
			return fmt.Errorf("provision: node %d: CLUSTER SETSLOT %d STABLE: %w", n.Index, m.Slot, err)
		}
	}
	owner, err := c.slotOwner(ctx, m.Slot)
	if err != nil {
		return err
	}
	if owner != home {
		if err := c.client(home).Do(ctx, "CLUSTER", "SETSLOT", m.Slot, "IMPORTING", owner.ID).Err(); err != nil {
			return fmt.Errorf("provision: node %d: CLUSTER SETSLOT %d IMPORTING: %w", home.Index, m.Slot, err)
		}
		if err := c.client(owner).Do(ctx, "CLUSTER", "SETSLOT", m.Slot, "MIGRATING", home.ID).Err(); err != nil {
			return fmt.Errorf("provision: node %d: CLUSTER SETSLOT %d MIGRATING: %w", owner.Index, m.Slot, err)
		}
		if err := c.moveKeys(ctx, owner, home, m.Slot); err != nil {
			return err
		}
		if err := c.assignSlot(ctx, m.Slot, home, owner); err != nil {
			return err
		}
	}
	c.mu.Lock()
	delete(c.migrations, m.Slot)
	c.mu.Unlock()
	c.log.Info("slot migration reverted", "slot", m.Slot, "owner", home.Addr)
	return c.saveState()
}

// liveMaster returns the node that is master of shard now.
func (c *Cluster) liveMaster(ctx context.Context, shard int) (*node, error) {
	for _, n := range c.nodesSnapshot() {
		if n.Shard != shard {
			continue
		}
		if st := c.nodeStatus(ctx, n); st.Reachable && st.Role == RoleMaster {
			return n, nil
		}
	}
	return nil, fmt.Errorf("provision: shard %d has no reachable master", shard)
}

// slotOwner returns the master that serves slot now.
func (c *Cluster) slotOwner(ctx context.Context, slot int) (*node, error) {
	for _, n := range c.nodesSnapshot() {
		if st := c.nodeStatus(ctx, n); st.Reachable && st.Role == RoleMaster && ownsSlot(st.Slots, slot) {
			return n, nil
		}
	}
	return nil, fmt.Errorf("provision: no master serves slot %d", slot)
}
