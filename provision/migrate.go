package provision

import (
	"context"
	"fmt"
	"net"
	"time"
)

// Migration is a slot migration started by StartMigration.
type Migration struct {
	Slot     int  `json:"slot"`
	From     int  `json:"from"` // node index of the source master
	To       int  `json:"to"`   // node index of the target master
	Finished bool `json:"finished"`
}

// Migrations returns the migrations this cluster started and has not reverted.
func (c *Cluster) Migrations() []Migration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Migration, 0, len(c.migrations))
	for _, m := range c.migrations {
		out = append(out, m)
	}
	return out
}

// migrateBatch is the number of keys per MIGRATE.
const migrateBatch = 100

// StartMigration starts moving slot from master from to master to, as
// redis-cli --cluster reshard does:
//
//	to:   CLUSTER SETSLOT <slot> IMPORTING <from-id>
//	from: CLUSTER SETSLOT <slot> MIGRATING <to-id>
//
// From then on the source answers -ASK <slot> <to-addr> for keys of the slot it does
// not hold, until FinishMigration.
func (c *Cluster) StartMigration(ctx context.Context, slot, from, to int) error {
	if slot < 0 || slot >= SlotCount {
		return fmt.Errorf("%w: slot %d out of range", ErrMigration, slot)
	}
	if from == to {
		return fmt.Errorf("%w: source and target are both node %d", ErrMigration, from)
	}
	c.mu.Lock()
	m, busy := c.migrations[slot]
	c.mu.Unlock()
	if busy && !m.Finished {
		return fmt.Errorf("%w: slot %d is already migrating from node %d to node %d", ErrMigration, slot, m.From, m.To)
	}
	src, dst, err := c.migrationPair(ctx, from, to)
	if err != nil {
		return err
	}
	if st := c.nodeStatus(ctx, src); !ownsSlot(st.Slots, slot) {
		return fmt.Errorf("%w: node %d (%s) does not serve slot %d", ErrMigration, from, src.Addr, slot)
	}
	if err := c.client(dst).Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", src.ID).Err(); err != nil {
		return fmt.Errorf("provision: node %d: CLUSTER SETSLOT %d IMPORTING: %w", to, slot, err)
	}
	if err := c.client(src).Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst.ID).Err(); err != nil {
		_ = c.client(dst).Do(ctx, "CLUSTER", "SETSLOT", slot, "STABLE").Err()
		return fmt.Errorf("provision: node %d: CLUSTER SETSLOT %d MIGRATING: %w", from, slot, err)
	}
	c.mu.Lock()
	if busy {
		// The slot was moved before: keep the original owner for RevertAll.
		from = m.From
	}
	c.migrations[slot] = Migration{Slot: slot, From: from, To: to}
	c.mu.Unlock()
	c.log.Info("slot migration started", "slot", slot, "from", src.Addr, "to", dst.Addr)
	return c.saveState()
}

// migrationPair returns the running, verified masters from and to.
func (c *Cluster) migrationPair(ctx context.Context, from, to int) (src, dst *node, err error) {
	for _, i := range []int{from, to} {
		n, _, err := c.running(i)
		if err != nil {
			return nil, nil, err
		}
		if err := c.checkID(ctx, n); err != nil {
			return nil, nil, err
		}
		if st := c.nodeStatus(ctx, n); st.Role != RoleMaster {
			return nil, nil, fmt.Errorf("%w: slot migration needs masters, node %d (%s) is a %s", ErrRole, i, n.Addr, st.Role)
		}
		if i == from {
			src = n
		} else {
			dst = n
		}
	}
	return src, dst, nil
}

// FinishMigration completes the migration of slot started by StartMigration: it
// MIGRATEs the keys left on the source, then assigns the slot to the target with
// CLUSTER SETSLOT <slot> NODE <to-id> on the target, the source and every other
// master. From then on the other nodes answer -MOVED <slot> <to-addr>.
func (c *Cluster) FinishMigration(ctx context.Context, slot int) error {
	c.mu.Lock()
	m, ok := c.migrations[slot]
	c.mu.Unlock()
	if !ok || m.Finished {
		return fmt.Errorf("%w: slot %d is not migrating", ErrMigration, slot)
	}
	ctx, cancel := context.WithTimeout(ctx, c.actionTimeout())
	defer cancel()
	var src *node
	for _, n := range c.nodesSnapshot() {
		if st := c.nodeStatus(ctx, n); st.Migrating[slot] != "" {
			src = n
		}
	}
	dst, _, err := c.running(m.To)
	if err != nil {
		return err
	}
	if src == nil {
		return fmt.Errorf("%w: no node reports slot %d as migrating", ErrMigration, slot)
	}
	if err := c.moveKeys(ctx, src, dst, slot); err != nil {
		return err
	}
	if err := c.assignSlot(ctx, slot, dst, src); err != nil {
		return err
	}
	c.mu.Lock()
	m.Finished = true
	c.migrations[slot] = m
	c.mu.Unlock()
	c.log.Info("slot migration finished", "slot", slot, "from", src.Addr, "to", dst.Addr)
	return c.saveState()
}

// moveKeys MIGRATEs every key of slot from src to dst.
func (c *Cluster) moveKeys(ctx context.Context, src, dst *node, slot int) error {
	host, port, _ := net.SplitHostPort(dst.Addr)
	cl := c.client(src)
	for {
		keys, err := cl.ClusterGetKeysInSlot(ctx, slot, migrateBatch).Result()
		if err != nil {
			return fmt.Errorf("provision: node %d: CLUSTER GETKEYSINSLOT %d: %w", src.Index, slot, err)
		}
		if len(keys) == 0 {
			return nil
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "REPLACE"}
		switch {
		case c.cfg.Username != "" && c.cfg.Password != "":
			args = append(args, "AUTH2", c.cfg.Username, c.cfg.Password)
		case c.cfg.Password != "":
			args = append(args, "AUTH", c.cfg.Password)
		}
		args = append(args, "KEYS")
		for _, k := range keys {
			args = append(args, k)
		}
		if err := cl.Do(ctx, args...).Err(); err != nil {
			return fmt.Errorf("provision: node %d: MIGRATE %d keys of slot %d to %s: %w", src.Index, len(keys), slot, dst.Addr, err)
		}
	}
}

// assignSlot runs CLUSTER SETSLOT <slot> NODE <dst-id> on dst, then src, then every
// other master, as redis-cli does.
func (c *Cluster) assignSlot(ctx context.Context, slot int, dst, src *node) error {
	order := []*node{dst, src}
	for _, n := range c.nodesSnapshot() {
		if n == dst || n == src {
			continue
		}
		if st := c.nodeStatus(ctx, n); st.Reachable && st.Role == RoleMaster {
			order = append(order, n)
		}
	}
	for _, n := range order {
		if err := c.client(n).Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dst.ID).Err(); err != nil {
			return fmt.Errorf("provision: node %d: CLUSTER SETSLOT %d NODE: %w", n.Index, slot, err)
		}
	}
	// Wait until every master agrees, so the next action sees one owner.
	return poll(ctx, 10*time.Millisecond, func() (bool, error) {
		for _, n := range order {
			if st := c.nodeStatus(ctx, n); st.Reachable && n != dst && ownsSlot(st.Slots, slot) {
				return false, nil
			}
		}
		return true, nil
	})
}

// nodesSnapshot returns the node pointers.
func (c *Cluster) nodesSnapshot() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*node(nil), c.nodes...)
}
