package provision

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// failoverRetry is how long Failover waits before it asks again: a little more
// than Redis's manual failover timeout (CLUSTER_MF_TIMEOUT, 5s).
const failoverRetry = 6 * time.Second

// errReverted reports a promotion that a newer configuration undid.
var errReverted = errors.New("provision: promotion reverted")

// actionTimeout bounds a fault action that waits for the cluster to react.
func (c *Cluster) actionTimeout() time.Duration { return 15*time.Second + 3*c.cfg.NodeTimeout }

// running returns node i and its live process, checking that the process is still
// the redis-server this cluster started in the node's directory.
func (c *Cluster) running(i int) (*node, *proc, error) {
	n, err := c.node(i)
	if err != nil {
		return nil, nil, err
	}
	p := c.procOf(n)
	if p == nil || p.exited() {
		return n, nil, fmt.Errorf("%w: node %d (%s)", ErrNodeDown, i, n.Addr)
	}
	return n, p, nil
}

// checkID verifies that the process answering on n's address is n (CLUSTER MYID),
// so an action never touches a node this cluster did not provision.
func (c *Cluster) checkID(ctx context.Context, n *node) error {
	id, err := c.client(n).Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return fmt.Errorf("provision: node %d (%s): CLUSTER MYID: %w", n.Index, n.Addr, err)
	}
	if id != n.ID {
		return fmt.Errorf("%w: %s answers with node id %s, want %s", ErrNotProvisioned, n.Addr, id, n.ID)
	}
	return nil
}

// Kill sends SIGKILL to node i's process group and waits until it is gone.
func (c *Cluster) Kill(ctx context.Context, i int) error {
	n, p, err := c.running(i)
	if err != nil {
		return err
	}
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	if err := p.wait(ctx); err != nil {
		return fmt.Errorf("provision: kill node %d: %w", i, err)
	}
	c.clearProc(n, p)
	c.log.Info("node killed", "node", i, "addr", n.Addr, "pid", p.pid)
	return c.saveState()
}

// StopNode stops node i gracefully (SHUTDOWN NOSAVE), killing it if it has not
// exited after a grace period.
func (c *Cluster) StopNode(ctx context.Context, i int) error {
	n, _, err := c.running(i)
	if err != nil {
		return err
	}
	if err := c.stopProc(ctx, n); err != nil {
		return err
	}
	c.log.Info("node stopped", "node", i, "addr", n.Addr)
	return c.saveState()
}

// Pause stops node i with SIGSTOP: it keeps its connections and accepts new ones
// (the kernel does), but answers nothing until Resume.
func (c *Cluster) Pause(ctx context.Context, i int) error {
	n, p, err := c.running(i)
	if err != nil {
		return err
	}
	if err := p.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	if err := poll(ctx, 5*time.Millisecond, func() (bool, error) { return procStopped(p.pid), nil }); err != nil {
		return fmt.Errorf("provision: pause node %d: %w", i, err)
	}
	c.log.Info("node paused", "node", i, "addr", n.Addr, "pid", p.pid)
	return nil
}

// Resume continues node i after Pause (SIGCONT).
func (c *Cluster) Resume(ctx context.Context, i int) error {
	n, p, err := c.running(i)
	if err != nil {
		return err
	}
	if err := p.signal(syscall.SIGCONT); err != nil {
		return err
	}
	if err := poll(ctx, 5*time.Millisecond, func() (bool, error) { return !procStopped(p.pid), nil }); err != nil {
		return fmt.Errorf("provision: resume node %d: %w", i, err)
	}
	c.log.Info("node resumed", "node", i, "addr", n.Addr, "pid", p.pid)
	return nil
}

// Paused reports whether node i is stopped by Pause.
func (c *Cluster) Paused(i int) bool {
	_, p, err := c.running(i)
	return err == nil && procStopped(p.pid)
}

// Running reports whether node i's process is alive (paused or not).
func (c *Cluster) Running(i int) bool {
	_, _, err := c.running(i)
	return err == nil
}

// Restart starts node i again from its directory, with the same node ID and
// nodes.conf, and waits until it has rejoined: it answers with its node ID and sees
// cluster_state:ok. A master that was failed over comes back as a replica. A replica
// may still be syncing when Restart returns (and cannot sync at all while its master
// is in MISCONF: Redis answers its PING with -MISCONF); WaitHealthy waits for that.
// A running node is stopped first.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	n, err := c.node(i)
	if err != nil {
		return err
	}
	if p := c.procOf(n); p != nil && !p.exited() {
		if err := c.stopProc(ctx, n); err != nil {
			return err
		}
	}
	if err := portFree(c.cfg.Host, c.cfg.BasePort+i); err != nil {
		return fmt.Errorf("%w: node %d: %s: %v", ErrPortInUse, i, n.Addr, err)
	}
	p, err := c.spawn(n)
	if err != nil {
		return err
	}
	c.mu.Lock()
	n.proc, n.PID = p, p.pid
	c.mu.Unlock()
	if err := c.saveState(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.actionTimeout())
	defer cancel()
	if err := c.waitUp(ctx, n); err != nil {
		return err
	}
	if err := c.rejoin(ctx, n); err != nil {
		return err
	}
	if err := c.waitRejoined(ctx, n); err != nil {
		return err
	}
	c.log.Info("node restarted", "node", i, "addr", n.Addr, "pid", p.pid)
	return nil
}

// waitRejoined waits until n answers with its node id and reports cluster_state:ok.
func (c *Cluster) waitRejoined(ctx context.Context, n *node) error {
	var last NodeStatus
	err := poll(ctx, 25*time.Millisecond, func() (bool, error) {
		last = c.nodeStatus(ctx, n)
		return last.Reachable && last.Error == "" && last.ClusterState == "ok", nil
	})
	if err != nil {
		return fmt.Errorf("provision: node %d did not rejoin (state %q, role %s, link %q): %w",
			n.Index, last.ClusterState, last.Role, last.Link, err)
	}
	return nil
}

// promoted reports whether n is master with cluster_state:ok and every reachable
// node agrees (a promotion can be undone by a newer config, so it must stick).
func (c *Cluster) promoted(ctx context.Context, n *node, st *NodeStatus) bool {
	all, err := c.Status(ctx)
	if err != nil {
		return false
	}
	*st = all.Nodes[n.Index]
	if st.Role != RoleMaster || st.ClusterState != "ok" {
		return false
	}
	for _, o := range all.Nodes {
		if o.Reachable && o.View != st.View {
			return false
		}
	}
	return true
}

// Failover promotes replica i with CLUSTER FAILOVER (FORCE when force is set: without
// the agreement of its master, e.g. when the master is down) and waits until node i
// reports itself master with cluster_state:ok.
func (c *Cluster) Failover(ctx context.Context, i int, force bool) error {
	n, _, err := c.running(i)
	if err != nil {
		return err
	}
	if err := c.checkID(ctx, n); err != nil {
		return err
	}
	st := c.nodeStatus(ctx, n)
	if st.Role != RoleReplica {
		return fmt.Errorf("%w: failover needs a replica, node %d (%s) is a %s", ErrRole, i, n.Addr, st.Role)
	}
	ctx, cancel := context.WithTimeout(ctx, c.actionTimeout())
	defer cancel()
	// Ask again when a manual failover gives up (Redis aborts one after 5s, e.g.
	// when the masters refused their votes for an epoch they already voted in).
	args := []any{"CLUSTER", "FAILOVER"}
	if force {
		args = append(args, "FORCE")
	}
	for {
		if err := c.client(n).Do(ctx, args...).Err(); err != nil {
			return fmt.Errorf("provision: node %d: CLUSTER FAILOVER: %w", i, err)
		}
		attempt, cancelAttempt := context.WithTimeout(ctx, failoverRetry)
		sawMaster := false
		err = poll(attempt, 25*time.Millisecond, func() (bool, error) {
			if c.promoted(attempt, n, &st) {
				return true, nil
			}
			if st.Role == RoleMaster {
				sawMaster = true
			} else if sawMaster && st.Role == RoleReplica {
				return false, errReverted // a newer config won: ask again now
			}
			return false, nil
		})
		cancelAttempt()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("provision: node %d was not promoted (role %s): %w", i, st.Role, ctx.Err())
		}
		c.log.Warn("failover not done yet, asking again", "node", i)
	}
	c.log.Info("failover done", "node", i, "addr", n.Addr, "force", force)
	return nil
}
