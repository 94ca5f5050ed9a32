package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// misconfSaved is what InduceMisconf changed on a node, so ClearMisconf (possibly
// from another process, through the state file) can put it back.
type misconfSaved struct {
	Save       string `json:"save"`
	Delay      string `json:"rdb_key_save_delay"`
	StopWrites string `json:"stop_writes_on_bgsave_error"`
	Key        string `json:"key,omitempty"` // a key created so the save has work to do
}

// misconfKeyPrefix names the key InduceMisconf writes into an empty master.
const misconfKeyPrefix = "redis-chaos:misconf"

// slowSaveDelay is rdb-key-save-delay (microseconds per key) while a failing save
// is induced: long enough that the save child is always killed before it finishes.
const slowSaveDelay = "30000000"

// InduceMisconf makes master i refuse writes with Redis's real MISCONF error by
// making a background save really fail:
//
//	CONFIG SET save "3600 1" rdb-key-save-delay 30000000 stop-writes-on-bgsave-error yes
//	BGSAVE                      (the fork child now sleeps on the first key)
//	kill -KILL <fork child>     (found in /proc/<pid>/task/<pid>/children)
//	CONFIG SET rdb-key-save-delay <as before>
//
// Redis counts a save ended by any signal but SIGUSR1 as failed, so it sets
// rdb_last_bgsave_status:err; with a save point configured and
// stop-writes-on-bgsave-error, writes (and PING) get -MISCONF while reads work.
// An empty master first gets one key (redis-chaos:misconf{N}), removed by ClearMisconf.
// This works as root too, where an unwritable directory would not make a save fail.
func (c *Cluster) InduceMisconf(ctx context.Context, i int) error {
	n, p, err := c.running(i)
	if err != nil {
		return err
	}
	if err := c.checkID(ctx, n); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.actionTimeout())
	defer cancel()
	st := c.nodeStatus(ctx, n)
	if st.Role != RoleMaster || len(st.Slots) == 0 {
		return fmt.Errorf("%w: MISCONF needs a master serving slots, node %d (%s) is a %s", ErrRole, i, n.Addr, st.Role)
	}
	cl := c.client(n)
	if status, _ := c.persistence(ctx, n); status["rdb_last_bgsave_status"] == "err" {
		return nil // already failing
	}
	cfg, err := cl.ConfigGet(ctx, "*save*").Result()
	if err != nil {
		return fmt.Errorf("provision: node %d: CONFIG GET: %w", i, err)
	}
	saved := misconfSaved{Save: cfg["save"], Delay: cfg["rdb-key-save-delay"], StopWrites: cfg["stop-writes-on-bgsave-error"]}
	if saved.Delay == "" {
		saved.Delay = "0"
	}
	if saved.StopWrites == "" {
		saved.StopWrites = "yes"
	}
	c.mu.Lock()
	if old, ok := c.misconf[i]; ok {
		saved = old // a previous attempt already changed the config
	}
	c.mu.Unlock()
	size, err := cl.DBSize(ctx).Result()
	if err != nil {
		return fmt.Errorf("provision: node %d: DBSIZE: %w", i, err)
	}
	if size == 0 && saved.Key == "" {
		saved.Key = KeyInSlot(misconfKeyPrefix, st.Slots[0].Start)
		if err := cl.Set(ctx, saved.Key, "1", 0).Err(); err != nil {
			return fmt.Errorf("provision: node %d: SET %s: %w", i, saved.Key, err)
		}
	}
	c.mu.Lock()
	c.misconf[i] = saved
	c.mu.Unlock()
	if err := c.saveState(); err != nil {
		return err
	}
	if err := c.waitNoSave(ctx, n); err != nil {
		return err
	}
	if err := cl.Do(ctx, "CONFIG", "SET", "save", "3600 1", "rdb-key-save-delay", slowSaveDelay,
		"stop-writes-on-bgsave-error", "yes").Err(); err != nil {
		return fmt.Errorf("provision: node %d: CONFIG SET: %w", i, err)
	}
	if err := cl.BgSave(ctx).Err(); err != nil {
		return fmt.Errorf("provision: node %d: BGSAVE: %w", i, err)
	}
	var killed []int
	err = poll(ctx, 2*time.Millisecond, func() (bool, error) {
		for _, child := range childPIDs(p.pid) {
			if err := syscall.Kill(child, syscall.SIGKILL); err == nil {
				killed = append(killed, child)
			}
		}
		return len(killed) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("provision: node %d: no BGSAVE child of pid %d found: %w", i, p.pid, err)
	}
	var status map[string]string
	err = poll(ctx, 5*time.Millisecond, func() (bool, error) {
		status, err = c.persistence(ctx, n)
		return err == nil && status["rdb_bgsave_in_progress"] == "0", nil
	})
	if err != nil {
		return fmt.Errorf("provision: node %d: waiting for the failed BGSAVE: %w", i, err)
	}
	if status["rdb_last_bgsave_status"] != "err" {
		return fmt.Errorf("provision: node %d: BGSAVE did not fail (rdb_last_bgsave_status:%s)", i, status["rdb_last_bgsave_status"])
	}
	// The failure sticks until a save succeeds (Redis retries only after the save
	// point's 3600s), so the slow-save delay can go now: it would otherwise slow
	// down the full sync of a replica that reconnects meanwhile. Replicas sync
	// diskless here, and a diskless sync does not reset rdb_last_bgsave_status.
	if err := cl.Do(ctx, "CONFIG", "SET", "rdb-key-save-delay", saved.Delay).Err(); err != nil {
		return fmt.Errorf("provision: node %d: CONFIG SET rdb-key-save-delay: %w", i, err)
	}
	c.log.Info("MISCONF induced", "node", i, "addr", n.Addr, "killed_child", killed)
	return nil
}

// ClearMisconf undoes InduceMisconf on node i: rdb-key-save-delay 0, a BGSAVE that
// succeeds (rdb_last_bgsave_status:ok, so writes work again), then the save settings
// as they were, and the key it created removed.
func (c *Cluster) ClearMisconf(ctx context.Context, i int) error {
	n, _, err := c.running(i)
	if err != nil {
		return err
	}
	if err := c.checkID(ctx, n); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.actionTimeout())
	defer cancel()
	c.mu.Lock()
	saved, induced := c.misconf[i]
	c.mu.Unlock()
	status, err := c.persistence(ctx, n)
	if err != nil {
		return fmt.Errorf("provision: node %d: INFO persistence: %w", i, err)
	}
	if !induced && status["rdb_last_bgsave_status"] != "err" {
		return nil
	}
	cl := c.client(n)
	if err := cl.Do(ctx, "CONFIG", "SET", "rdb-key-save-delay", "0").Err(); err != nil {
		return fmt.Errorf("provision: node %d: CONFIG SET: %w", i, err)
	}
	if status["rdb_last_bgsave_status"] == "err" {
		if err := c.waitNoSave(ctx, n); err != nil {
			return err
		}
		if err := cl.BgSave(ctx).Err(); err != nil {
			return fmt.Errorf("provision: node %d: BGSAVE: %w", i, err)
		}
		err = poll(ctx, 5*time.Millisecond, func() (bool, error) {
			status, err = c.persistence(ctx, n)
			return err == nil && status["rdb_bgsave_in_progress"] == "0", nil
		})
		if err != nil {
			return fmt.Errorf("provision: node %d: waiting for BGSAVE: %w", i, err)
		}
		if status["rdb_last_bgsave_status"] != "ok" {
			return fmt.Errorf("provision: node %d: BGSAVE failed again (see %s)", i, n.logPath())
		}
	}
	if induced {
		if err := cl.Do(ctx, "CONFIG", "SET", "save", saved.Save, "rdb-key-save-delay", saved.Delay,
			"stop-writes-on-bgsave-error", saved.StopWrites).Err(); err != nil {
			return fmt.Errorf("provision: node %d: CONFIG SET: %w", i, err)
		}
		if saved.Key != "" {
			// The node may have been failed over meanwhile; the key is harmless then.
			if err := cl.Del(ctx, saved.Key).Err(); err != nil {
				c.log.Debug("remove MISCONF key", "node", i, "key", saved.Key, "err", err)
			}
		}
		c.mu.Lock()
		delete(c.misconf, i)
		c.mu.Unlock()
		if err := c.saveState(); err != nil {
			return err
		}
	}
	c.log.Info("MISCONF cleared", "node", i, "addr", n.Addr)
	return nil
}

// persistence returns INFO persistence of n.
func (c *Cluster) persistence(ctx context.Context, n *node) (map[string]string, error) {
	s, err := c.client(n).Info(ctx, "persistence").Result()
	if err != nil {
		return nil, err
	}
	return parseInfo(s), nil
}

// waitNoSave waits until n runs no background save (e.g. one for a replica's sync).
func (c *Cluster) waitNoSave(ctx context.Context, n *node) error {
	err := poll(ctx, 10*time.Millisecond, func() (bool, error) {
		st, err := c.persistence(ctx, n)
		if err != nil {
			return false, err
		}
		return st["rdb_bgsave_in_progress"] == "0" && !strings.HasPrefix(st["aof_rewrite_in_progress"], "1"), nil
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("provision: node %d: INFO persistence: %w", n.Index, err)
	}
	if err != nil {
		return fmt.Errorf("provision: node %d: a background save is still running: %w", n.Index, err)
	}
	return nil
}
