package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrPartition reports a partition that cannot be made or healed as asked.
var ErrPartition = errors.New("provision: partition")

// cutUser and cutPassword are what a replica cut off from its master logs in
// with: no such user exists, so every attempt to sync fails with WRONGPASS
// until the partition heals.
const (
	cutUser     = "redis-chaos-partitioned"
	cutPassword = "redis-chaos-partitioned"
)

// minWritePause is the shortest write pause on the masters whose replicas are
// cut off: a write acknowledged before the pause reached those replicas, one
// acknowledged after it did not, and Partition.Start lies in the middle, far
// enough from both that a reply's delay on its way to the client cannot move
// it to the wrong side.
const minWritePause = 100 * time.Millisecond

// maxWritePause is how long the write pause lasts at most (CLIENT PAUSE's
// timeout): the cut must be made well within it.
const maxWritePause = 5 * time.Second

// watchInterval is how often a partition checks the replicas' masters.
const watchInterval = 100 * time.Millisecond

// Partition is a network partition of the cluster in place: the nodes on one
// side no longer hear the nodes on the other, on the cluster bus and on the
// replication links. Make one with Cluster.Partition and end it with Heal.
type Partition struct {
	c      *Cluster
	relays *relaySet
	side   []int // side of each node, by index
	start  time.Time
	// masters at the cut, and those on a side without a majority of them:
	// only those can lose their slots, and with them their writes.
	masters, exposed []int

	mu  sync.Mutex
	rec *partitionRecord // mirrored to the state file

	stopWatch context.CancelFunc
	watched   chan struct{}
	healed    bool
}

// partitionRecord is a partition as the state file keeps it, so that another
// process (after this one died) can undo it: see RevertAll.
type partitionRecord struct {
	PID      int   `json:"pid"`          // the process whose relays carry the bus
	Relays   []int `json:"relay_ports"`  // the bus port each node announces now
	BusPorts []int `json:"bus_ports"`    // cluster-announce-bus-port of each node before (0: the default)
	Cut      []int `json:"cut_replicas"` // replicas whose masteruser/masterauth were replaced
}

// Healed is what a partition left behind once healed.
type Healed struct {
	Start, End time.Time
	// Demoted lists the nodes that were masters at the cut and are replicas
	// now: a replica on the other side took their slots, and every write they
	// acknowledged after Start is gone.
	Demoted []int
}

// Partition cuts the cluster into sides: each argument lists the node indexes
// of one side, and the nodes not listed form one more side together
// (Partition(ctx, []int{0}) isolates node 0). Nodes on different sides stop
// hearing each other, as on a cut network:
//
//   - Cluster bus: every node announces the port of a relay in this process
//     (cluster-announce-bus-port; peers reconnect to it within a moment), and
//     the relays forward nothing between nodes on different sides, without
//     closing anything: the silence is detected by node-timeout as Redis
//     detects a real cut.
//   - Replication: a replica whose master is on the other side has its link
//     closed, and cannot open it again (its masteruser/masterauth are set to a
//     user that does not exist) until Heal. A replica that gets a new master on
//     its own side (after a failover there) syncs from it.
//
// Masters whose replicas are cut off pause writes (CLIENT PAUSE WRITE) for
// about 100 ms while the cut is made, after their replicas have everything
// they acknowledged: a write acknowledged before Start is on both sides, one
// acknowledged after it only on its own. Partition returns once the cut is in
// place; the state file records it, so RevertAll (from any process) can undo
// it if this process dies first. Clients are not cut off: that is the proxy's
// business.
//
// Partition is PreparePartition followed by Cut.
func (c *Cluster) Partition(ctx context.Context, sides ...[]int) (*Partition, error) {
	p, err := c.PreparePartition(ctx, sides...)
	if err != nil {
		return nil, err
	}
	if err := p.Cut(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// PreparePartition does what Partition does before the cut: it checks the
// sides and the nodes, and moves the cluster bus through the relays (which
// takes a moment). Nothing is cut yet: the cluster works as before until Cut.
// A prepared partition that is not cut is undone by Heal.
func (c *Cluster) PreparePartition(ctx context.Context, sides ...[]int) (*Partition, error) {
	nodes := c.nodesSnapshot()
	side, err := sideOf(len(nodes), sides)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	switch {
	case c.stopped:
		c.mu.Unlock()
		return nil, ErrStopped
	case c.partition != nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: a partition is already in place", ErrPartition)
	case c.foreign != nil:
		pid := c.foreign.PID
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: the state file records a partition made by process %d (RevertAll undoes it once that process is gone)", ErrPartition, pid)
	}
	c.partition = &Partition{} // reserved while this one is made
	c.mu.Unlock()
	made := false
	defer func() {
		if !made {
			c.mu.Lock()
			if c.partition != nil && c.partition.relays == nil {
				c.partition = nil
			}
			c.mu.Unlock()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, c.actionTimeout())
	defer cancel()
	for _, n := range nodes {
		if _, _, err := c.running(n.Index); err != nil {
			return nil, err
		}
		if err := c.checkID(ctx, n); err != nil {
			return nil, err
		}
	}
	busPorts := make([]int, len(nodes))
	for i, n := range nodes {
		v, err := c.client(n).ConfigGet(ctx, "cluster-announce-bus-port").Result()
		if err != nil {
			return nil, fmt.Errorf("provision: node %d: CONFIG GET cluster-announce-bus-port: %w", i, err)
		}
		busPorts[i], _ = strconv.Atoi(v["cluster-announce-bus-port"])
	}
	ids, targets := make([]string, len(nodes)), make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
		targets[i] = net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.boundBusPort(i)))
	}
	relays, err := startRelays(c.cfg.Host, ids, targets, c.log)
	if err != nil {
		return nil, fmt.Errorf("%w: cluster bus relays: %v", ErrPartition, err)
	}
	p := &Partition{c: c, relays: relays, side: side,
		rec: &partitionRecord{PID: os.Getpid(), Relays: relays.ports(), BusPorts: busPorts}}
	c.mu.Lock()
	c.partition, c.busMoved = p, true
	c.mu.Unlock()
	made = true
	// Recorded before any node changes: from here on, RevertAll can undo it.
	if err := c.saveState(); err != nil {
		p.abandon(ctx)
		return nil, err
	}
	if err := p.route(ctx, p.rec.Relays, true); err != nil {
		p.abandon(ctx)
		return nil, err
	}
	return p, nil
}

// Cut makes the cut of a prepared partition: replication first (under a
// short write pause on the masters concerned), then the cluster bus. On
// failure the partition is undone.
func (p *Partition) Cut(ctx context.Context) error {
	c := p.c
	ctx, cancel := context.WithTimeout(ctx, c.actionTimeout())
	defer cancel()
	p.mu.Lock()
	healed, cut := p.healed, !p.start.IsZero()
	p.mu.Unlock()
	switch {
	case healed:
		return fmt.Errorf("%w: the partition was healed", ErrPartition)
	case cut:
		return nil
	}
	st, err := c.Status(ctx)
	if err != nil {
		p.abandon(ctx)
		return err
	}
	var masters []int
	for _, ns := range st.Nodes {
		if ns.Role == RoleMaster && len(ns.Slots) > 0 {
			masters = append(masters, ns.Index)
		}
	}
	p.mu.Lock()
	p.masters, p.exposed = masters, exposedMasters(masters, p.side)
	p.mu.Unlock()
	if err := p.cut(ctx, st); err != nil {
		p.abandon(ctx)
		return err
	}
	watchCtx, stop := context.WithCancel(context.Background())
	p.mu.Lock()
	p.stopWatch, p.watched = stop, make(chan struct{})
	p.mu.Unlock()
	go p.watch(watchCtx)
	c.log.Info("partition in place", "sides", p.Sides(), "exposed_masters", p.exposed, "cut_replicas", p.record().Cut)
	return nil
}

// sideOf turns a list of sides into the side of each of n nodes (unlisted
// nodes: side 0), checking that the sides are distinct and not empty.
func sideOf(n int, sides [][]int) ([]int, error) {
	side := make([]int, n)
	seen := map[int]bool{}
	for s, list := range sides {
		if len(list) == 0 {
			return nil, fmt.Errorf("%w: side %d is empty", ErrPartition, s+1)
		}
		for _, i := range list {
			if i < 0 || i >= n {
				return nil, fmt.Errorf("%w: %d (the cluster has nodes 0-%d)", ErrNodeIndex, i, n-1)
			}
			if seen[i] {
				return nil, fmt.Errorf("%w: node %d is on two sides", ErrPartition, i)
			}
			seen[i] = true
			side[i] = s + 1
		}
	}
	used := map[int]bool{}
	for _, s := range side {
		used[s] = true
	}
	if len(used) < 2 {
		return nil, fmt.Errorf("%w: every node is on one side; name the nodes of at least one side and leave others out", ErrPartition)
	}
	return side, nil
}

// exposedMasters returns the masters on a side that holds no majority of them.
func exposedMasters(masters, side []int) []int {
	count := map[int]int{}
	for _, m := range masters {
		count[side[m]]++
	}
	var out []int
	for _, m := range masters {
		if count[side[m]] < len(masters)/2+1 {
			out = append(out, m)
		}
	}
	return out
}

// boundBusPort is the cluster bus port node i listens on (cluster-port in its
// redis.conf, else its port + 10000).
func (c *Cluster) boundBusPort(i int) int {
	n, err := c.node(i)
	if err == nil {
		if v, ok := confValue(n.confPath(), "cluster-port"); ok {
			if p, err := strconv.Atoi(v); err == nil && p > 0 {
				return p
			}
		}
	}
	return c.cfg.BasePort + i + busPortOffset
}

// ownBusPort is the cluster bus port node i's peers reach it on without a
// partition: the one its redis.conf announces, else the one it listens on.
func (c *Cluster) ownBusPort(i int) int {
	n, err := c.node(i)
	if err == nil {
		if v, ok := confValue(n.confPath(), "cluster-announce-bus-port"); ok {
			if p, err := strconv.Atoi(v); err == nil && p > 0 {
				return p
			}
		}
	}
	return c.boundBusPort(i)
}

// Sides returns the node indexes of each side, the unlisted nodes' side first.
func (p *Partition) Sides() [][]int {
	var out [][]int
	byside := map[int][]int{}
	var order []int
	for i, s := range p.side {
		if _, ok := byside[s]; !ok {
			order = append(order, s)
		}
		byside[s] = append(byside[s], i)
	}
	slices.Sort(order)
	for _, s := range order {
		out = append(out, byside[s])
	}
	return out
}

// Start is the moment of the cut (zero before Cut): a write acknowledged after
// it by a master that loses its slots before Heal is lost.
func (p *Partition) Start() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.start
}

func (p *Partition) setStart(t time.Time) {
	p.mu.Lock()
	p.start = t
	p.mu.Unlock()
}

// Exposed returns the masters (at the cut) on a side without a majority of
// the masters: the only nodes whose acknowledged writes the partition can lose.
func (p *Partition) Exposed() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.exposed...)
}

// route makes every node announce announce[i] as its cluster bus port (0:
// the default, its port + 10000) and meet every other node there, and waits
// until each node's link to every other node goes through the relays
// (relayed) or none does.
func (p *Partition) route(ctx context.Context, announce []int, relayed bool) error {
	c := p.c
	nodes := c.nodesSnapshot()
	var errs []error
	for i, n := range nodes {
		if !c.Running(i) {
			continue // a node that is down gets its port back when it restarts
		}
		if err := c.client(n).ConfigSet(ctx, "cluster-announce-bus-port", strconv.Itoa(announce[i])).Err(); err != nil {
			errs = append(errs, fmt.Errorf("provision: node %d: CONFIG SET cluster-announce-bus-port: %w", i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	meetAt := func(i int) int {
		if announce[i] > 0 {
			return announce[i]
		}
		return c.boundBusPort(i)
	}
	if err := c.meetAll(ctx, nodes, meetAt, nil); err != nil {
		return err
	}
	var last string
	err := poll(ctx, 20*time.Millisecond, func() (bool, error) {
		if !relayed {
			n := p.relays.open()
			last = fmt.Sprintf("%d connections still relayed", n)
			return n == 0, nil
		}
		links := p.relays.links()
		for a := range nodes {
			for b := range nodes {
				if a != b && links[[2]int{a, b}] == 0 {
					last = fmt.Sprintf("node %d has no relayed link to node %d yet", a, b)
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%w: the cluster bus did not move: %v (%s)", ErrPartition, err, last)
	}
	return nil
}

// meetAll has every running node meet every other one at its cluster bus port
// cport(i): peers learn a changed bus port at once, without waiting for the
// node's next ping (and even when no link between them works any more).
// When pair is not nil, only the pairs it approves meet.
func (c *Cluster) meetAll(ctx context.Context, nodes []*node, cport func(int) int, pair func(a, b int) bool) error {
	return c.each(ctx, nodes, func(ctx context.Context, a *node) error {
		if !c.Running(a.Index) {
			return nil
		}
		for _, b := range nodes {
			if a == b || !c.Running(b.Index) || (pair != nil && !pair(a.Index, b.Index)) {
				continue
			}
			host, port, _ := net.SplitHostPort(b.Addr)
			if err := c.client(a).Do(ctx, "CLUSTER", "MEET", host, port, cport(b.Index)).Err(); err != nil {
				return fmt.Errorf("provision: node %d: CLUSTER MEET %s: %w", a.Index, b.Addr, err)
			}
		}
		return nil
	})
}

// cut makes the cut: replication first (under a short write pause on the
// masters concerned), then the cluster bus.
func (p *Partition) cut(ctx context.Context, st Status) error {
	c := p.c
	nodes := c.nodesSnapshot()
	byID := map[string]int{}
	for _, n := range nodes {
		byID[n.ID] = n.Index
	}
	var cut []int
	paused := map[int]bool{}
	for _, ns := range st.Nodes {
		if ns.Role != RoleReplica {
			continue
		}
		if m, ok := byID[ns.MasterID]; ok && p.side[m] != p.side[ns.Index] {
			cut = append(cut, ns.Index)
			paused[m] = true
		}
	}
	var pausedList []*node
	for m := range paused {
		pausedList = append(pausedList, nodes[m])
	}
	// The pause ends by itself should this process die before UNPAUSE.
	pauseMS := strconv.Itoa(int(maxWritePause.Milliseconds()))
	if err := c.each(ctx, pausedList, func(ctx context.Context, n *node) error {
		return c.client(n).Do(ctx, "CLIENT", "PAUSE", pauseMS, "WRITE").Err()
	}); err != nil {
		return fmt.Errorf("provision: CLIENT PAUSE: %w", err)
	}
	paused0 := time.Now()
	defer func() {
		for _, n := range pausedList {
			_ = c.client(n).Do(context.WithoutCancel(ctx), "CLIENT", "UNPAUSE").Err()
		}
	}()
	// What the masters acknowledged before the pause reaches their replicas.
	for _, r := range cut {
		c.waitCaughtUp(ctx, nodes[r], nodes[byID[st.Nodes[r].MasterID]])
	}
	for _, r := range cut {
		if err := p.cutReplica(ctx, r); err != nil {
			return err
		}
	}
	p.relays.setSides(p.side)
	if len(pausedList) == 0 {
		p.setStart(time.Now())
		return nil
	}
	if took := time.Since(paused0); took > maxWritePause-time.Second {
		// The pause may have ended before the replicas were cut off: which
		// writes reached them is not known.
		return fmt.Errorf("%w: the cut took %s, the write pause lasts %s", ErrPartition, took.Round(time.Millisecond), maxWritePause)
	}
	if d := minWritePause - time.Since(paused0); d > 0 {
		time.Sleep(d)
	}
	unpaused := time.Now()
	p.setStart(paused0.Add(unpaused.Sub(paused0) / 2))
	return nil
}

// waitCaughtUp waits (briefly) until replica r has processed everything its
// master m has sent, so that it holds every write m acknowledged.
func (c *Cluster) waitCaughtUp(ctx context.Context, r, m *node) {
	ctx, cancel := context.WithTimeout(ctx, maxWritePause/2)
	defer cancel()
	_ = poll(ctx, 2*time.Millisecond, func() (bool, error) {
		mi, err := c.client(m).Info(ctx, "replication").Result()
		if err != nil {
			return false, nil
		}
		ri, err := c.client(r).Info(ctx, "replication").Result()
		if err != nil {
			return false, nil
		}
		rk := parseInfo(ri)
		if rk["master_link_status"] != "up" {
			return true, nil // nothing more will arrive
		}
		mo, _ := strconv.ParseInt(parseInfo(mi)["master_repl_offset"], 10, 64)
		ro, _ := strconv.ParseInt(rk["slave_repl_offset"], 10, 64)
		return ro >= mo, nil
	})
}

// cutReplica closes replica r's link to its master and keeps it from syncing.
func (p *Partition) cutReplica(ctx context.Context, r int) error {
	c := p.c
	n, err := c.node(r)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.rec.Cut = append(p.rec.Cut, r)
	p.mu.Unlock()
	if err := c.saveState(); err != nil {
		return err
	}
	if err := c.setMasterAuth(ctx, n, cutUser, cutPassword); err != nil {
		return err
	}
	if err := c.client(n).Do(ctx, "CLIENT", "KILL", "TYPE", "master").Err(); err != nil {
		return fmt.Errorf("provision: node %d: CLIENT KILL TYPE master: %w", r, err)
	}
	return nil
}

// restoreReplica gives replica r its own masteruser and masterauth back (as
// its redis.conf sets them) so that it syncs again.
func (c *Cluster) restoreReplica(ctx context.Context, r int) error {
	n, err := c.node(r)
	if err != nil {
		return err
	}
	user, _ := confValue(n.confPath(), "masteruser")
	pass, _ := confValue(n.confPath(), "masterauth")
	return c.setMasterAuth(ctx, n, user, pass)
}

// setMasterAuth sets the user and password node n's replication link logs in
// with (an empty user: the default one).
func (c *Cluster) setMasterAuth(ctx context.Context, n *node, user, pass string) error {
	cl := c.client(n)
	if err := cl.ConfigSet(ctx, "masteruser", user).Err(); err != nil {
		return fmt.Errorf("provision: node %d: CONFIG SET masteruser: %w", n.Index, err)
	}
	if err := cl.ConfigSet(ctx, "masterauth", pass).Err(); err != nil {
		return fmt.Errorf("provision: node %d: CONFIG SET masterauth: %w", n.Index, err)
	}
	return nil
}

// watch keeps the replication cut in line with the replicas' masters: a
// replica cut off from its master that gets a new master on its own side
// (a failover there) may sync from it.
func (p *Partition) watch(ctx context.Context) {
	defer close(p.watched)
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := p.c.Status(sctx)
		if err == nil {
			p.align(sctx, st)
		}
		cancel()
	}
}

// align restores the replicas whose master is now on their side, and cuts
// those whose master is not.
func (p *Partition) align(ctx context.Context, st Status) {
	byID := map[string]int{}
	for _, ns := range st.Nodes {
		byID[ns.ID] = ns.Index
	}
	for _, ns := range st.Nodes {
		if !ns.Reachable || ns.Role != RoleReplica {
			continue
		}
		m, ok := byID[ns.MasterID]
		if !ok {
			continue
		}
		across := p.side[m] != p.side[ns.Index]
		p.mu.Lock()
		isCut := slices.Contains(p.rec.Cut, ns.Index)
		p.mu.Unlock()
		switch {
		case across && !isCut:
			if err := p.cutReplica(ctx, ns.Index); err != nil {
				p.c.log.Warn("partition: cut replica", "node", ns.Index, "err", err)
			}
		case !across && isCut:
			if err := p.c.restoreReplica(ctx, ns.Index); err != nil {
				p.c.log.Warn("partition: restore replica", "node", ns.Index, "err", err)
				continue
			}
			p.mu.Lock()
			p.rec.Cut = slices.DeleteFunc(p.rec.Cut, func(i int) bool { return i == ns.Index })
			p.mu.Unlock()
			if err := p.c.saveState(); err != nil {
				p.c.log.Warn("partition: save state", "err", err)
			}
		}
	}
}

// Heal ends the partition: the relays forward everything again (closing the
// connections they silenced, so the nodes reconnect at once), cut replicas
// get their credentials back, every node announces its own bus port again and
// the relays close. It then waits until the cluster is healthy and reports
// which masters lost their slots. Heal is idempotent.
func (p *Partition) Heal(ctx context.Context) (Healed, error) {
	c := p.c
	p.mu.Lock()
	if p.healed {
		start := p.start
		p.mu.Unlock()
		return Healed{Start: start}, nil
	}
	p.healed = true
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*c.actionTimeout())
	defer cancel()
	h := Healed{Start: p.Start(), End: time.Now()}
	p.stopWatching()
	p.relays.heal()
	var errs []error
	p.mu.Lock()
	cut := append([]int(nil), p.rec.Cut...)
	p.mu.Unlock()
	for _, r := range cut {
		errs = append(errs, c.restoreReplica(ctx, r))
	}
	rerr := p.route(ctx, p.rec.BusPorts, false)
	p.relays.close()
	c.mu.Lock()
	c.partition = nil
	if rerr != nil {
		// Some node may still announce a relay's port: RevertAll tries again.
		c.foreign = p.record()
	}
	c.mu.Unlock()
	errs = append(errs, rerr)
	errs = append(errs, c.saveState())
	if err := errors.Join(errs...); err != nil {
		return h, err
	}
	if err := c.WaitHealthy(ctx); err != nil {
		return h, err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return h, err
	}
	for _, m := range p.masters {
		if st.Nodes[m].Role == RoleReplica {
			h.Demoted = append(h.Demoted, m)
		}
	}
	c.log.Info("partition healed", "lasted", h.End.Sub(h.Start).Round(time.Millisecond), "demoted", h.Demoted)
	return h, nil
}

// abandon undoes a partition that could not be completed.
func (p *Partition) abandon(ctx context.Context) {
	if _, err := p.Heal(context.WithoutCancel(ctx)); err != nil {
		p.c.log.Warn("partition: undo after a failed cut", "err", err)
	}
}

// release stops the partition's watcher and relays without healing (the
// nodes are gone).
func (p *Partition) release() {
	p.mu.Lock()
	already := p.healed
	p.healed = true
	p.mu.Unlock()
	if already {
		return
	}
	p.stopWatching()
	p.relays.close()
}

// stopWatching stops the watcher of the replicas' masters, if it runs.
func (p *Partition) stopWatching() {
	p.mu.Lock()
	stop, watched := p.stopWatch, p.watched
	p.mu.Unlock()
	if stop != nil {
		stop()
		<-watched
	}
}

// record returns a copy of the partition's record for the state file.
func (p *Partition) record() *partitionRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := *p.rec
	r.Cut = append([]int(nil), r.Cut...)
	return &r
}

// healLeftover undoes a partition recorded by a process that is gone (its
// relays with it): every node announces its own bus port again and meets the
// others there (no link between them works until then), and cut replicas get
// their credentials back. A partition whose process still runs is refused.
func (c *Cluster) healLeftover(ctx context.Context) error {
	c.mu.Lock()
	rec := c.foreign
	c.mu.Unlock()
	if rec == nil {
		return nil
	}
	if rec.PID != os.Getpid() && processAlive(rec.PID) {
		return fmt.Errorf("%w: process %d holds a partition of this cluster; it heals it when its fault ends or it stops", ErrPartition, rec.PID)
	}
	nodes := c.nodesSnapshot()
	if len(rec.BusPorts) != len(nodes) {
		return fmt.Errorf("%w: the state file's partition lists %d nodes, the cluster has %d", ErrPartition, len(rec.BusPorts), len(nodes))
	}
	var errs []error
	for _, n := range nodes {
		if !c.Running(n.Index) {
			continue
		}
		if err := c.client(n).ConfigSet(ctx, "cluster-announce-bus-port", strconv.Itoa(rec.BusPorts[n.Index])).Err(); err != nil {
			errs = append(errs, fmt.Errorf("provision: node %d: CONFIG SET cluster-announce-bus-port: %w", n.Index, err))
		}
	}
	for _, r := range rec.Cut {
		if c.Running(r) {
			errs = append(errs, c.restoreReplica(ctx, r))
		}
	}
	errs = append(errs, c.meetAll(ctx, nodes, c.ownBusPort, nil))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.mu.Lock()
	c.foreign = nil
	c.mu.Unlock()
	c.log.Info("partition left by a process that is gone: undone", "pid", rec.PID)
	return c.saveState()
}

// processAlive reports whether a process with this PID exists.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	s, err := procState(pid)
	return err == nil && s != 'Z' && s != 'X'
}

// partitionArgs are the redis-server arguments that start node n behind a
// partition in place (a restart forgets what CONFIG SET changed): its
// relay's port announced, and, if its replication is cut, the credentials
// that keep it from syncing across, from its first moment.
func (c *Cluster) partitionArgs(n *node) []string {
	c.mu.Lock()
	p := c.partition
	c.mu.Unlock()
	if p == nil || p.relays == nil {
		return nil
	}
	r := p.record()
	args := []string{"--cluster-announce-bus-port", strconv.Itoa(r.Relays[n.Index])}
	if slices.Contains(r.Cut, n.Index) {
		args = append(args, "--masteruser", cutUser, "--masterauth", cutPassword)
	}
	return args
}

// rejoin tells a restarted node where the others are, and them where it is:
// a node restarted after the cluster bus moved (during a partition, or after
// one whose process died) knows only what its nodes.conf says. During a
// partition it meets only its own side, at the relays' ports.
func (c *Cluster) rejoin(ctx context.Context, n *node) error {
	c.mu.Lock()
	p, moved := c.partition, c.busMoved
	c.mu.Unlock()
	if !moved {
		return nil
	}
	nodes := c.nodesSnapshot()
	only := func(a, b int) bool { return a == n.Index || b == n.Index }
	if p == nil || p.relays == nil {
		return c.meetAll(ctx, nodes, c.ownBusPort, only)
	}
	r := p.record()
	return c.meetAll(ctx, nodes, func(i int) int { return r.Relays[i] },
		func(a, b int) bool { return only(a, b) && p.side[a] == p.side[b] })
}

// confValue returns the last value a redis.conf gives to a directive, read as
// Redis reads it (quoted with "…" or '…', or bare).
func confValue(path, name string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	val, found := "", false
	for _, line := range strings.Split(string(b), "\n") {
		args := splitConfArgs(strings.TrimSpace(line))
		if len(args) >= 2 && strings.EqualFold(args[0], name) {
			val, found = args[1], true
		}
	}
	return val, found
}

// splitConfArgs splits a redis.conf line into arguments: bare words, "…"
// with backslash escapes, or '…' (Redis's sdssplitargs, without \xHH).
func splitConfArgs(line string) []string {
	if line == "" || line[0] == '#' {
		return nil
	}
	var out []string
	for i := 0; i < len(line); {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			break
		}
		var b strings.Builder
		switch q := line[i]; q {
		case '"', '\'':
			i++
			for i < len(line) && line[i] != q {
				if line[i] == '\\' && i+1 < len(line) {
					i++
					switch e := line[i]; {
					case q == '"' && e == 'n':
						b.WriteByte('\n')
					case q == '"' && e == 't':
						b.WriteByte('\t')
					case q == '"' && e == 'r':
						b.WriteByte('\r')
					default:
						b.WriteByte(e)
					}
				} else {
					b.WriteByte(line[i])
				}
				i++
			}
			i++ // the closing quote
		default:
			for i < len(line) && line[i] != ' ' && line[i] != '\t' {
				b.WriteByte(line[i])
				i++
			}
		}
		out = append(out, b.String())
	}
	return out
}
