package checker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
)

// The fast path
//
// Most events are plain: a GET or a SET answered without error and without
// delay, with a short queue. When the checker
// remembers nothing that needs to see such a command one by one (no
// redirect waiting to be followed, no retry of a CLUSTERDOWN to time, no
// held or slow command), Observe only counts it in a per-connection tally
// instead of queueing the whole event; the checker goroutine folds the
// tallies into its state every drain. A redirect or wait error
// (followedError), a command left without reply, a held or slow command
// turns the fast path off for a second from the producer's side, before the
// checker goroutine has even seen it, so a follow-up never slips through.
// The proxy hands runs of plain commands over in bulk (ObserveBulk), on the
// same conditions.
// Plain commands never count for the handshake rules (HELLO, AUTH, PING,
// CLIENT … are not plain), and a slow reply, the sign of a handshake the
// client may give up on, is loud.
//
//	Observe ─┬─ plain command, quiet ──▶ tallies[conn ID % n] (count, keyed, last time)
//	         └─ anything else ─────────▶ queue (the whole event)

const tallyShards = 16

// tally counts one connection's plain commands: the producer side adds to
// counts with one atomic add (commands in the low 32 bits, keyed commands in
// the high 32); the checker goroutine swaps them out every drain and dates
// them at the drain (at most a drain interval late).
type tally struct {
	info   proxy.ConnInfo // as of the first command tallied (read-only)
	counts atomic.Int64
	idle   int // drains without a command (checker goroutine only)
}

// tallyShard maps connection ids to tallies: readers load an immutable map
// without a lock; a connection's first tally copies the map under mu.
type tallyShard struct {
	mu sync.Mutex
	m  atomic.Pointer[map[uint64]*tally]
	_  [48]byte // keep shards on their own cache lines
}

type fastPath struct {
	shards [tallyShards]tallyShard
	// quiet is set by the checker goroutine when no rule needs plain events
	// one by one; loud is the time (ns) of the latest event that may create
	// such a need, set by producers.
	quiet atomic.Bool
	loud  atomic.Int64
}

// plainCommand reports commands the fast path may count: reads and
// idempotent writes with nothing special about them.
func plainCommand(name string) bool {
	switch name {
	case "GET", "SET":
		return true
	}
	f, ok := cmdFlags[name]
	return ok && f&^fWrite == 0
}

// followedError reports the error replies after which a rule watches the
// client's next commands one by one: a redirect to follow, a wait before
// retrying. Other errors (a CLIENT SETINFO unknown to an older Redis, a
// WRONGTYPE …) are judged on their own event and do not make the fast path
// loud: a client opening connections to Redis 7.0 would otherwise keep it
// off for good.
func followedError(err string) bool {
	code := errCode(err)
	return code == "MOVED" || code == "ASK" || waitError(code)
}

// fast counts ev in its connection's tally if it is plain and the checker is
// quiet. It reports whether it did.
func (k *Checker) fast(ev *proxy.Event) bool {
	fp := &k.fp
	t := ev.Time.UnixNano()
	// A slow reply may be a handshake the client gave up on (reply-desync-risk
	// must then see the next command) or a missing timeout: loud too.
	slow := ev.Latency >= k.th.DesyncGap || ev.Latency >= k.th.CommandTimeout/2
	if ev.Type != proxy.EventCommand || ev.Reply == '-' || ev.Reply == 0 || ev.Fault != "" || slow ||
		ev.Queued >= k.th.ReplayBurst {
		if ev.Type == proxy.EventHeld || slow || ev.Type == proxy.EventCommand && (ev.Reply == 0 || ev.Reply == '-' && followedError(ev.Err)) {
			fp.loud.Store(t + int64(ev.Latency)) // from when the reply was seen
		}
		return false
	}
	if !fp.quiet.Load() || t-fp.loud.Load() < int64(time.Second) || !plainCommand(ev.Command) {
		return false
	}
	keyed := 0
	if ev.Slot >= 0 {
		keyed = 1
	}
	return k.tally(&ev.Conn, 1, keyed)
}

// ObserveBulk counts a run of plain commands in their connection's tally on
// the same conditions as fast; it reports false when the checker must see
// them one by one.
func (k *Checker) ObserveBulk(b *proxy.Bulk) bool {
	fp := &k.fp
	t := b.Time.UnixNano()
	if b.Latency >= k.th.DesyncGap || b.Latency >= k.th.CommandTimeout/2 {
		fp.loud.Store(t + int64(b.Latency))
		return false
	}
	if b.Reply == '-' || b.Reply == '!' || b.Reply == 0 || b.Queued >= k.th.ReplayBurst ||
		!fp.quiet.Load() || t-fp.loud.Load() < int64(time.Second) || !plainCommand(b.Command) {
		return false
	}
	return k.tally(b.Conn, b.N, b.Keyed)
}

// tally adds n commands (keyed of them with a key) to the connection's tally.
func (k *Checker) tally(info *proxy.ConnInfo, n, keyed int) bool {
	s := &k.fp.shards[info.ID%tallyShards]
	var tl *tally
	if m := s.m.Load(); m != nil {
		tl = (*m)[info.ID]
	}
	if tl == nil {
		if tl = k.newTally(s, info); tl == nil {
			return false
		}
	}
	if tl.info.LibName != info.LibName || tl.info.LibVer != info.LibVer || tl.info.Name != info.Name {
		return false // the connection renamed itself: take the slow path
	}
	tl.counts.Add(int64(n) + int64(keyed)<<32)
	return true
}

// newTally adds a connection's tally (copy on write).
func (k *Checker) newTally(s *tallyShard, info *proxy.ConnInfo) *tally {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m.Load()
	if old != nil {
		if tl := (*old)[info.ID]; tl != nil {
			return tl
		}
		if len(*old) >= k.lim.MaxConns/tallyShards+1 {
			return nil
		}
	}
	m := make(map[uint64]*tally, 1+lenOf(old))
	if old != nil {
		for id, tl := range *old {
			m[id] = tl
		}
	}
	tl := &tally{info: *info}
	m[info.ID] = tl
	s.m.Store(&m)
	return tl
}

func lenOf(m *map[uint64]*tally) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// mergeTallies folds the tallies into the checker's state. k.mu is held.
func (k *Checker) mergeTallies() {
	now := k.now()
	for i := range k.fp.shards {
		s := &k.fp.shards[i]
		m := s.m.Load()
		if m == nil {
			continue
		}
		var idle []uint64
		for id, tl := range *m {
			c := tl.counts.Swap(0)
			if c == 0 {
				if tl.idle++; tl.idle > 2 {
					idle = append(idle, id)
				}
				continue
			}
			tl.idle = 0
			k.applyTally(tl, int(c&(1<<32-1)), int(c>>32), now)
		}
		if len(idle) > 0 {
			k.dropTallies(s, idle)
		}
	}
}

// dropTallies forgets idle connections' tallies (copy on write). A count
// added between the check and the drop is lost: it is one command at most
// per connection, on a connection idle for several drains.
func (k *Checker) dropTallies(s *tallyShard, ids []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.m.Load()
	m := make(map[uint64]*tally, len(old))
	for id, tl := range old {
		m[id] = tl
	}
	for _, id := range ids {
		delete(m, id)
	}
	s.m.Store(&m)
}

func (k *Checker) applyTally(tl *tally, n, keyed int, now time.Time) {
	if _, closed := k.closed[tl.info.ID]; closed {
		return // its close overtook its last commands
	}
	last, lastDone := now, now
	ev := proxy.Event{Type: proxy.EventCommand, Time: lastDone, Conn: tl.info, Slot: -1, Reply: '+'}
	k.processed += uint64(n)
	k.tallied += uint64(n)
	k.series.addCount(tl.info.Node, tl.info.Listen, lastDone, n)
	cn := k.connFor(&ev)
	if cn == nil {
		k.untracked += uint64(n)
		return
	}
	c := cn.client
	c.commands += uint64(n)
	c.dataCommands += uint64(keyed)
	cn.cmds += n
	cn.replies += n
	cn.dataCmds += keyed
	if keyed > 0 {
		if c.rs.dataOK == nil {
			c.rs.dataOK = newCounter(k.th.CoverageWindow)
		}
		c.rs.dataOK.add(lastDone, keyed)
		if lastDone.After(c.rs.lastDataOK) {
			c.rs.lastDataOK = lastDone
		}
	}
	if last.After(cn.rc.lastCmd) {
		cn.rc.lastCmd = last
	}
	if lastDone.After(c.lastSeen) {
		c.lastSeen = lastDone
	}
}

// updateQuiet tells producers whether plain events may be tallied. k.mu is held.
func (k *Checker) updateQuiet() {
	quiet := k.held == 0
	for _, c := range k.clients {
		if !quiet {
			break
		}
		if len(c.rs.watch) > 0 || len(c.rs.asks) > 0 || len(c.rs.waitErrs) > 0 {
			quiet = false
		}
	}
	if quiet {
		for _, cn := range k.conns {
			if cn.rc.slow != nil && !cn.rc.timeoutReported {
				quiet = false
				break
			}
		}
	}
	k.fp.quiet.Store(quiet)
}
