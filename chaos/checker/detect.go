package checker

import (
	"math"
	"strconv"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
)

// evidence builds an evidence event with the checker's redaction settings.
func (k *Checker) evidence(ev *proxy.Event, note string) EvidenceEvent {
	return evidenceFrom(ev, k.cfg.RedactKeys, note)
}

func (k *Checker) onConnect(c *clientState, cn *connState, ev *proxy.Event) {
	cn.rc.replicaAtOpen = k.nodes.isReplica(cn.node)
	if k.held > 0 {
		setLatest(&k.owner(cn).rs.activity, cn.node, ev.Time)
	}
}

func (k *Checker) onCommand(c *clientState, cn *connState, ev *proxy.Event) {
	done := ev.Time.Add(ev.Latency)
	f := flagsOf(ev)
	c.commands++
	cn.cmds++
	failed := ev.Reply == '-' || ev.Reply == 0
	if ev.Reply != 0 {
		cn.replies++
	}
	switch {
	case ev.Reply == '-' && isRedirect(ev.Err):
		c.redirects++
	case failed:
		c.errors++
	}
	if ev.Slot >= 0 {
		cn.dataCmds++
		if !failed {
			c.dataCommands++
			if c.rs.dataOK == nil {
				c.rs.dataOK = newCounter(k.th.CoverageWindow)
			}
			c.rs.dataOK.add(done, 1)
			if done.After(c.rs.lastDataOK) {
				c.rs.lastDataOK = done
			}
		}
	}
	if ev.Time.After(c.lastSeen) {
		c.lastSeen = ev.Time
	}
	if k.held > 0 {
		setLatest(&k.owner(cn).rs.activity, cn.node, ev.Time)
	}

	k.ruleRedirects(c, cn, ev, done, f)
	k.ruleTopology(c, ev, done, failed)
	k.ruleWaitRetry(c, ev, done)
	wasHeld := cn.rc.heldHashes[ev.Hash] > 0 // reported when it was sent: judged then
	if wasHeld {
		if cn.rc.heldHashes[ev.Hash]--; cn.rc.heldHashes[ev.Hash] == 0 {
			delete(cn.rc.heldHashes, ev.Hash)
		}
	}
	k.ruleUnsafeRetry(c, cn, ev, done, f, wasHeld)
	k.ruleProbe(c, cn, ev, f)
	k.ruleCommand(c, cn, ev, f)
	k.rulePipeline(c, cn, ev)
	k.ruleHandshake(c, cn, ev, done, f)
	k.ruleSlow(c, cn, ev, done, f)
	k.ruleRestartBurst(c, cn, ev)
	if ev.Slot >= 0 && cn.dataCmds == 1 {
		k.ruleRebuild(c, cn, ev)
	}
	k.ruleCoverageActivity(c, ev)

	if cn.rc.held != nil {
		cn.rc.held = nil // the held command (or one after it) was answered
		k.held--
	}
	cn.rc.prevAsking = ev.Command == "ASKING"
	cn.rc.lastCmd = ev.Time
}

func (k *Checker) onHeld(c *clientState, cn *connState, ev *proxy.Event) {
	f := flagsOf(ev)
	if cn.rc.heldHashes == nil {
		cn.rc.heldHashes = map[uint64]int{}
	}
	if len(cn.rc.heldHashes) < k.lim.MaxPending {
		cn.rc.heldHashes[ev.Hash]++
	}
	if ev.Time.After(cn.rc.lastHeld) {
		cn.rc.lastHeld = ev.Time
	}
	setLatest(&k.owner(cn).rs.activity, cn.node, ev.Time)
	if f&fBlocking == 0 && cn.rc.held == nil {
		cn.rc.held = &heldCmd{at: ev.Time, ev: k.evidence(ev, "held: the node does not answer")}
		k.held++
		k.fp.quiet.Store(false)
	}
	if f&fNonIdem != 0 {
		k.unknownOutcome(c, cn, ev, ev.Time, "held: outcome unknown to the client")
	}
	if cn.cmds < k.th.HandshakeCommands && f&fHandshake != 0 {
		cn.rc.hs = &handshake{sent: ev.Time, ev: k.evidence(ev, "handshake command held")}
	}
	cn.rc.lastCmd = ev.Time
}

func (k *Checker) onClose(c *clientState, cn *connState, ev *proxy.Event) {
	o := k.owner(cn)
	switch {
	case clientSide(ev.Reason):
		k.ruleRestartClose(c, cn, ev)
		k.ruleAbandoned(c, cn, ev)
		if c.rs.coverage != nil {
			c.rs.closesSince++
		}
		if h := cn.rc.held; h != nil && ev.Time.Sub(h.at) >= k.th.CommandTimeout && !cn.rc.timeoutReported {
			// It gave up, but only after waiting the whole threshold
			// (rueidis's default ConnWriteTimeout is 10 s).
			cn.rc.timeoutReported = true
			e := h.ev
			e.Note = "outstanding for " + ev.Time.Sub(h.at).Round(time.Millisecond).String() + " before the client closed the connection"
			k.occur(RuleNoCommandTimeout, o, ev.Time, e, k.evidence(ev, ""))
		} else if h != nil {
			// The client gave up on a held command and closed the
			// connection: it has a timeout, whatever it does next.
			setLatest(&o.rs.timedOut, cn.node, ev.Time)
			if cn.replies == 0 {
				// It never got a reply on this connection: a failed
				// attempt to reach the node, as a refused one would be.
				k.ruleReconnect(o, cn, ev, false)
			}
		}
	case cn.replies == 0 && !hasPrefix(ev.Reason, "upstream unreachable"):
		// A connection the proxy accepted but could not connect upstream
		// (a killed node in real mode, a crashed one in sidecar mode) is not
		// judged: the real node would refuse the connection, and clients
		// back off refused dials (go-redis's pool stops dialing after
		// PoolSize dial errors) but not a connection dropped after it was
		// accepted, so the proxy itself would provoke the storm.
		k.ruleReconnect(o, cn, ev, true)
	}
	if proxySideFault(ev.Reason) {
		if o.rs.lost == nil {
			o.rs.lost = map[string]time.Time{}
		}
		o.rs.lost[cn.node] = ev.Time
	}
}

// tickClient evaluates a client's time-based rules.
func (k *Checker) tickClient(c *clientState, now time.Time) {
	rs := &c.rs
	for _, r := range rs.watch {
		if r.ask || r.followed || r.reported || r.to == "" || now.Sub(r.at) < k.th.MovedFollow {
			continue
		}
		if k.nodeDown(r.to, r.at) {
			continue // the target could not be reached: not the client's fault
		}
		r.reported = true
		if r.retried {
			continue // sent again to another node: not given up
		}
		if rs.followedAny || rs.lastTopo.After(r.at) {
			// A cluster client (it followed a redirect, or re-read the
			// topology since) that left this one: it ran out of attempts
			// on the command (go-redis counts every retry against
			// MaxRedirects: a command that failed during a failover can
			// get its MOVED on the last attempt). It follows redirects:
			// not this rule's client.
			continue
		}
		k.movedIgnored(c, r.at, r.ev)
	}
	k.tickCoverage(c, now)
}

// --- redirects: moved-ignored, stale-slot-map, ask-without-asking, ask-updates-map, write-to-replica

func (k *Checker) ruleRedirects(c *clientState, cn *connState, ev *proxy.Event, done time.Time, f cmdFlag) {
	rs := &c.rs
	asking := cn.rc.prevAsking || ev.Conn.Asking
	// Is this command the follow-up of a redirect? (Or, for its own
	// MOVED, the same command sent again elsewhere: a client whose map
	// changed meanwhile did not give up on it.)
	for _, r := range rs.watch {
		if !r.followed && !r.retried && ev.Hash == r.hash && cn.node != r.to && cn.node != r.from &&
			!ev.Time.Before(r.at.Add(-5*time.Millisecond)) {
			r.retried = true
		}
		if r.followed || cn.node != r.to || (ev.Hash != r.hash && (ev.Slot < 0 || ev.Slot != r.slot)) ||
			ev.Time.Before(r.at.Add(-5*time.Millisecond)) {
			continue
		}
		r.followed = true
		rs.followedAny = true
		if r.ask && !asking {
			k.occur(RuleAskWithoutAsking, c, ev.Time, r.ev, k.evidence(ev, "sent to the ASK target without ASKING"))
		}
	}
	// ASK taken as MOVED: later commands for the slot go to the target directly.
	if len(rs.asks) > 0 && ev.Slot >= 0 {
		if a := rs.asks[ev.Slot]; a != nil && a.followed && !a.reported && cn.node == a.to && ev.Hash != a.hash &&
			!asking && ev.Time.After(a.at) && ev.Time.Sub(a.at) <= k.th.AskWindow {
			a.reported = true
			k.occur(RuleAskUpdatesMap, c, ev.Time, a.ev, k.evidence(ev, "a later command for the slot sent straight to the ASK target"))
		}
	}
	if f&fWrite != 0 && ev.Reply == '-' && (cn.rc.replicaAtOpen || k.nodes.isReplica(cn.node) && ev.Conn.Readonly) {
		if code := errCode(ev.Err); (code == "MOVED" || code == "READONLY") && !k.demotedWhileLost(cn, ev) {
			k.occur(RuleWriteToReplica, c, ev.Time, k.evidence(ev, "write sent to a replica"))
		}
	} else if f&fWrite != 0 && ev.Reply == '-' && ev.Conn.Readonly && !k.nodes.fromSource && errCode(ev.Err) == "MOVED" {
		// No role information: a write on a READONLY connection answered MOVED
		// is a write to a replica.
		k.occur(RuleWriteToReplica, c, ev.Time, k.evidence(ev, "write on a READONLY connection answered MOVED"))
	}
	if ev.Reply != '-' {
		return
	}
	ask, slot, addr, ok := parseRedirect(ev.Err)
	if !ok {
		return
	}
	to := k.nodes.resolve(addr)
	e := k.evidence(ev, "")
	if ask {
		e.Note = "ASK redirect"
		if rs.asks == nil {
			rs.asks = map[int]*redirect{}
		}
		evictOldest(rs.asks, k.lim.MaxSlots, func(r *redirect) time.Time { return r.at })
		r := &redirect{ask: true, slot: slot, from: cn.node, to: to, hash: ev.Hash, at: done, ev: e}
		rs.asks[slot] = r
		k.watch(c, r)
		return
	}
	e.Note = "MOVED redirect"
	if a := rs.asks[slot]; a != nil && a.to == to {
		delete(rs.asks, slot) // the migration finished
	}
	if rs.moved == nil {
		rs.moved = map[int]*redirect{}
	}
	r := rs.moved[slot]
	if r != nil && r.from == cn.node && r.to == to && ev.Time.Before(r.at) {
		// Sent before the previous MOVED for the slot reached the client:
		// one burst of a pipelined queue (or of concurrent callers), not
		// the same MOVED again. Each is followed on its own.
		return
	}
	if r == nil || r.from != cn.node || r.to != to {
		evictOldest(rs.moved, k.lim.MaxSlots, func(r *redirect) time.Time { return r.at })
		r = &redirect{slot: slot, from: cn.node, to: to, hash: ev.Hash, at: done, ev: e, count: 1, first: done,
			evs: []EvidenceEvent{e}}
		rs.moved[slot] = r
		k.watch(c, r)
		return
	}
	// The same MOVED again.
	if cn.dataCmds == 1 && cn.opened.After(r.at) {
		// The first command of a connection opened since: a new process
		// without a slot map yet (a command-line tool run once per command,
		// a new instance), not a map that was not updated.
		r.followed, r.retried, r.reported, r.hash, r.at, r.ev = false, false, false, ev.Hash, done, e
		k.watch(c, r)
		return
	}
	if !r.followed && to != "" && !r.reported && !rs.followedAny && !k.nodeDown(to, done) {
		e.Note = "the same MOVED again, never followed"
		r.reported = true
		k.movedIgnored(c, done, r.ev, e)
	}
	// stale-slot-map: the same MOVED again, whether the client followed the
	// last one or not (a client without a slot map has a stale one too).
	switch {
	case rs.lastTopo.After(r.first) || done.Sub(r.first) > k.th.StaleWindow:
		// The client re-read the topology since (the cluster, or a fault,
		// still says the old owner), or this is a new episode.
		r.count, r.first, r.evs = 1, done, append(r.evs[:0], e)
	default:
		r.count++
		if len(r.evs) < 4 {
			r.evs = append(r.evs, e)
		}
		if r.count >= k.th.StaleMoved {
			note := "MOVED again for a slot already redirected, without a topology refresh"
			if e.Note != "" {
				note = e.Note + "; " + note
			}
			x := e
			x.Note = note
			evs := append(append([]EvidenceEvent(nil), r.evs[:len(r.evs)-1]...), x)
			k.occur(RuleStaleSlotMap, c, done, evs...)
			r.count, r.first, r.evs = 0, done, r.evs[:0]
		}
	}
	r.followed, r.retried, r.reported, r.hash, r.at, r.ev = false, false, false, ev.Hash, done, e
	k.watch(c, r)
}

// demotedWhileLost reports a write on a connection without READONLY to a
// node a fault made down or silent within the last minute, or from a client
// that lost a node to a fault within the last minute: after a
// failover the old master comes back as a replica and a cluster client's
// slot map still names it for its old slots until the MOVED it gets there
// makes it reload; and ioredis sends a command that failed on a lost
// connection to a random node, replicas included, which MOVEs it on. That
// is a stale map or a retry for a moment (stale-slot-map if it lasts), not
// writes routed to replicas.
func (k *Checker) demotedWhileLost(cn *connState, ev *proxy.Event) bool {
	if ev.Conn.Readonly {
		return false
	}
	if k.recentlyDown(cn.node, ev.Time, time.Minute) {
		return true // the node was down or hung: its role changed meanwhile
	}
	for _, t := range k.owner(cn).rs.lost {
		if ev.Time.Sub(t) <= time.Minute {
			return true
		}
	}
	return false
}

// movedIgnored reports MOVED replies left unfollowed. A client that has read
// the cluster's topology is a cluster client (a plain one never does): it
// follows redirects, and what looks like ignoring them (its first MOVED
// replies while a shard is down, before any is followed) is only possible.
func (k *Checker) movedIgnored(c *clientState, at time.Time, evs ...EvidenceEvent) {
	if !c.rs.lastTopo.IsZero() {
		k.occurPossible(RuleMovedIgnored, c, at, evs...)
		return
	}
	k.occur(RuleMovedIgnored, c, at, evs...)
}

func (k *Checker) watch(c *clientState, r *redirect) {
	rs := &c.rs
	if r.watched {
		return
	}
	if len(rs.watch) >= k.lim.MaxSlots {
		old := rs.watch[0]
		old.watched = false
		copy(rs.watch, rs.watch[1:])
		rs.watch = rs.watch[:len(rs.watch)-1]
		if !old.ask && !old.followed && !old.retried && !old.reported && old.to != "" && !rs.followedAny &&
			!rs.lastTopo.After(old.at) && !k.nodeDown(old.to, old.at) {
			// Forgotten before MovedFollow: as many newer redirects came
			// meanwhile, none followed (a plain client under load).
			old.reported = true
			e := old.ev
			e.Note = "not followed while " + itoa(k.lim.MaxSlots) + " newer redirects came"
			k.movedIgnored(c, old.at, e)
		}
	}
	r.watched = true
	rs.watch = append(rs.watch, r)
	k.fp.quiet.Store(false)
}

// --- topology-refresh-storm

// startupDiscovery: topology reads this soon after a client's first
// connection are its start-up discovery (ioredis reads from two nodes).
const startupDiscovery = time.Second

func (k *Checker) ruleTopology(c *clientState, ev *proxy.Event, done time.Time, failed bool) {
	rs := &c.rs
	if !topologyRead(ev) {
		if failed {
			if rs.errs == nil {
				rs.errs = newCounter(k.th.RefreshWindow)
			}
			rs.errs.add(ev.Time, 1)
			rs.lastErr = k.evidence(ev, "error")
		}
		return
	}
	if !failed && done.After(rs.lastTopo) {
		rs.lastTopo = done
	}
	if rs.coverage != nil {
		rs.topoSince++
	}
	if ev.Time.Sub(c.firstSeen) < startupDiscovery {
		return // the client discovering the cluster at start-up, not a refresh
	}
	if rs.refreshes == nil {
		rs.refreshes = newCounter(k.th.RefreshWindow)
	}
	rs.refreshes.add(ev.Time, 1)
	n := rs.refreshes.count(ev.Time)
	errs := 0
	if rs.errs != nil {
		errs = rs.errs.count(ev.Time)
	}
	limit := int(k.th.RefreshWindow / k.th.RefreshInterval)
	var note string
	switch {
	case n > limit:
		note = "topology reads above one per " + k.th.RefreshInterval.String()
	case errs >= k.th.RefreshMinErrors && float64(n) >= k.th.RefreshErrorRatio*float64(errs):
		note = "about one topology read per error"
	default:
		return
	}
	if !rs.refreshFlagged.IsZero() && ev.Time.Sub(rs.refreshFlagged) < k.th.RefreshWindow {
		return
	}
	rs.refreshFlagged = ev.Time
	e := k.evidence(ev, note)
	if errs > 0 && rs.lastErr.Type != "" {
		k.occur(RuleTopologyRefreshStorm, c, ev.Time, rs.lastErr, e)
		return
	}
	k.occur(RuleTopologyRefreshStorm, c, ev.Time, e)
}

// --- reconnect-storm

// ruleReconnect counts a failed connection attempt. gaps: judge the gaps
// between attempts too; attempts that each waited for the client's own
// timeout are judged by their rate only (concurrent callers each retrying
// after their timeout give short, even gaps without any storm).
func (k *Checker) ruleReconnect(o *clientState, cn *connState, ev *proxy.Event, gaps bool) {
	rs := &o.rs
	if rs.attempts == nil {
		rs.attempts = map[string]*ring[EvidenceEvent]{}
		rs.reconnectFlagged = map[string]time.Time{}
	}
	a := rs.attempts[cn.node]
	if a == nil {
		if len(rs.attempts) >= 256 {
			return
		}
		a = newRing[EvidenceEvent](64)
		rs.attempts[cn.node] = a
	}
	e := k.evidence(ev, "connection closed before any reply")
	if !gaps {
		e.Note = "closed by the client with its first command held: a timed-out attempt"
	}
	a.push(e)
	now := ev.Time
	inWindow := 0
	for i := 0; i < a.len(); i++ {
		if now.Sub(a.last(i).Time) <= k.th.ReconnectWindow {
			inWindow++
		}
	}
	note := ""
	if float64(inWindow) > k.th.ReconnectRate*k.th.ReconnectWindow.Seconds() {
		note = "failed connection attempts above the rate limit"
	} else if n := k.th.ReconnectFailures; gaps && a.len() > n {
		// n failures in a row: n gaps, none growing, all short.
		first := a.last(n - 1).Time.Sub(a.last(n).Time)
		last := a.last(0).Time.Sub(a.last(1).Time)
		flat := last <= first+first/10
		short := true
		for i := 0; i < n; i++ {
			if a.last(i).Time.Sub(a.last(i+1).Time) >= k.th.ReconnectMinGap {
				short = false
			}
		}
		if flat && short {
			note = "reconnect gaps do not grow"
		}
	}
	if note == "" {
		return
	}
	if t, ok := rs.reconnectFlagged[cn.node]; ok && now.Sub(t) < k.th.ReconnectWindow {
		return
	}
	rs.reconnectFlagged[cn.node] = now
	evs := []EvidenceEvent{a.last(min(a.len()-1, 3)), a.last(min(a.len()-1, 2)), a.last(min(a.len()-1, 1))}
	e.Note = note
	k.occur(RuleReconnectStorm, o, now, append(evs, e)...)
}

// --- no-backoff-retry

func (k *Checker) ruleWaitRetry(c *clientState, ev *proxy.Event, done time.Time) {
	rs := &c.rs
	if len(rs.waitErrs) > 0 {
		if w, ok := rs.waitErrs[ev.Hash]; ok && !ev.Time.Before(w.done.Add(-time.Millisecond)) {
			delete(rs.waitErrs, ev.Hash)
			if rs.resends == nil {
				rs.resends, rs.immediate = newCounter(time.Second), newCounter(time.Second)
			}
			rs.resends.add(ev.Time, 1)
			if ev.Time.Sub(w.done) < k.th.ImmediateResend {
				rs.immediate.add(ev.Time, 1)
				imm, all := rs.immediate.count(ev.Time), rs.resends.count(ev.Time)
				if float64(imm) > k.th.ResendRate && float64(imm) >= k.th.ResendShare*float64(all) &&
					(rs.resendFlagged.IsZero() || ev.Time.Sub(rs.resendFlagged) >= time.Second) {
					rs.resendFlagged = ev.Time
					k.occur(RuleNoBackoffRetry, c, ev.Time, w.ev,
						k.evidence(ev, "resent "+ev.Time.Sub(w.done).Round(time.Microsecond).String()+" after the error"))
				}
			}
		}
	}
	if ev.Reply == '-' && waitError(errCode(ev.Err)) {
		if rs.waitErrs == nil {
			rs.waitErrs = map[uint64]waitErr{}
		}
		evictOldest(rs.waitErrs, k.lim.MaxPending, func(w waitErr) time.Time { return w.done })
		rs.waitErrs[ev.Hash] = waitErr{done: done, ev: k.evidence(ev, "")}
		k.fp.quiet.Store(false)
	}
}

// --- unsafe-retry

// unknownOutcome records a non-idempotent command whose outcome the client
// cannot know, and flags it if it is itself a resend of one.
func (k *Checker) unknownOutcome(c *clientState, cn *connState, ev *proxy.Event, at time.Time, note string) {
	rs := &c.rs
	k.checkResend(c, cn, ev)
	if rs.pending == nil {
		rs.pending = map[uint64]*pendingCmd{}
	}
	evictOldest(rs.pending, k.lim.MaxPending, func(p *pendingCmd) time.Time { return p.at })
	rs.pending[ev.Hash] = &pendingCmd{conn: cn.id, sent: ev.Time, at: at, ev: k.evidence(ev, note)}
}

// Resends the unsafe-retry rule tells from other sends of an identical
// command: a copy on the same connection at least sameConnResend after the
// first (a pipeline's identical commands go out together), and a copy sent
// at least stuckResend after a first that was still outstanding (identical
// commands of concurrent callers, a counter's INCRs, are answered long
// before).
const (
	sameConnResend = 100 * time.Millisecond
	stuckResend    = 500 * time.Millisecond
)

// unknownSince is when a command's outcome stopped being unknown to the
// client: while its connection is held by a hang, it still is.
func (k *Checker) unknownSince(p *pendingCmd, now time.Time) time.Time {
	if x := k.conns[p.conn]; x != nil && x.rc.held != nil {
		return now
	}
	return p.at
}

// checkResend flags ev if it repeats a command whose outcome was unknown,
// whichever connection it comes back on.
func (k *Checker) checkResend(c *clientState, cn *connState, ev *proxy.Event) bool {
	rs := &c.rs
	if p := rs.pending[ev.Hash]; p != nil && !ev.Time.Before(p.sent) &&
		ev.Time.Sub(k.unknownSince(p, ev.Time)) <= k.th.RetryWindow &&
		(p.conn != cn.id || ev.Time.Sub(p.sent) >= sameConnResend) {
		delete(rs.pending, ev.Hash)
		if p.conn == cn.id {
			// Clients that multiplex one connection per node (ioredis,
			// node-redis) also send identical commands of concurrent
			// callers (a counter's INCRs) behind a held one.
			k.occurPossible(RuleUnsafeRetry, c, ev.Time, p.ev,
				k.evidence(ev, "the identical command sent again on the same connection (or another caller's)"))
			return true
		}
		k.occur(RuleUnsafeRetry, c, ev.Time, p.ev, k.evidence(ev, "the identical command sent again"))
		return true
	}
	if a, ok := rs.abandoned[ev.Hash]; ok && a.conn != cn.id && ev.Time.After(a.sent) && ev.Time.Before(a.done) {
		delete(rs.abandoned, ev.Hash)
		k.occur(RuleUnsafeRetry, c, ev.Time, a.ev, k.evidence(ev, "the identical command sent again while the first was in flight"))
		return true
	}
	return false
}

// checkOvertaken flags ev when an identical command was sent on another
// connection while ev was stuck (held behind a hang, or delayed): events
// come in reply order, so the copy can be seen first. Both ran, or may have.
func (k *Checker) checkOvertaken(c *clientState, cn *connState, ev *proxy.Event, done time.Time) bool {
	rs := &c.rs
	r, ok := rs.recent[ev.Hash]
	if !ok || r.conn == cn.id || r.sent.Sub(ev.Time) < stuckResend || (ev.Reply != 0 && !r.sent.Before(done)) {
		return false
	}
	delete(rs.recent, ev.Hash)
	first := k.evidence(ev, "still outstanding when the client sent it again")
	k.occur(RuleUnsafeRetry, c, r.sent, first, r.ev)
	return true
}

func (k *Checker) ruleUnsafeRetry(c *clientState, cn *connState, ev *proxy.Event, done time.Time, f cmdFlag, wasHeld bool) {
	if f&fNonIdem == 0 {
		return
	}
	rs := &c.rs
	if wasHeld && ev.Reply != 0 {
		// A command reported held when it was sent, answered now the hang
		// is over: it was judged then (the proxy reads it only now).
		if p := rs.pending[ev.Hash]; p != nil && p.conn == cn.id {
			delete(rs.pending, ev.Hash)
		}
		return
	}
	if ev.Reply == 0 {
		at := done
		if ev.Latency == 0 {
			at = ev.Time
		}
		if !k.checkOvertaken(c, cn, ev, done) {
			k.unknownOutcome(c, cn, ev, at, "no reply: "+trimNoReply(ev.Reason))
		}
		return
	}
	if p := rs.pending[ev.Hash]; p != nil && p.conn == cn.id && ev.Time.Equal(p.sent) {
		delete(rs.pending, ev.Hash) // answered after all (a hang ended)
	}
	sc := sentCmd{conn: cn.id, hash: ev.Hash, sent: ev.Time, done: done, ev: k.evidence(ev, "")}
	if !k.checkResend(c, cn, ev) && !k.checkOvertaken(c, cn, ev, done) {
		// A resend while the first is still in flight is found when the
		// first's reply is seen (checkOvertaken), or its connection closes
		// (ruleAbandoned). Events arrive in reply order, so keep the latest
		// send, not the latest event.
		if rs.recent == nil {
			rs.recent = map[uint64]sentCmd{}
		}
		if old, ok := rs.recent[ev.Hash]; !ok || !old.sent.After(ev.Time) {
			evictOldest(rs.recent, k.lim.MaxPending, func(s sentCmd) time.Time { return s.done })
			rs.recent[ev.Hash] = sc
		}
	}
	cn.rc.lastNonIdem = &sc
}

// ruleAbandoned handles a client that closed a connection right after a
// non-idempotent command whose reply came late: it gave up waiting. If it had
// already sent the identical command elsewhere, that was an unsafe retry.
func (k *Checker) ruleAbandoned(c *clientState, cn *connState, ev *proxy.Event) {
	l := cn.rc.lastNonIdem
	if l == nil || !cn.rc.lastCmd.Equal(l.sent) {
		return
	}
	rs := &c.rs
	first := l.ev
	first.Note = "its reply came after the client had sent the command again; the client then closed the connection"
	if r, ok := rs.recent[l.hash]; ok && r.conn != cn.id && r.sent.After(l.sent) && r.sent.Before(l.done) {
		delete(rs.recent, l.hash)
		k.occur(RuleUnsafeRetry, c, r.sent, first, r.ev)
		return
	}
	if rs.abandoned == nil {
		rs.abandoned = map[uint64]sentCmd{}
	}
	evictOldest(rs.abandoned, k.lim.MaxPending, func(s sentCmd) time.Time { return s.done })
	a := *l
	a.ev = first
	rs.abandoned[l.hash] = a
	if ev.Time.Sub(l.done) <= gaveUpClose && ev.Time.Sub(l.sent) >= stuckClose {
		// The client closed the connection as the late reply came (or
		// before the proxy could deliver it): its read timeout. The
		// outcome is unknown to it, as if no reply had come.
		if rs.pending == nil {
			rs.pending = map[uint64]*pendingCmd{}
		}
		evictOldest(rs.pending, k.lim.MaxPending, func(p *pendingCmd) time.Time { return p.at })
		e := l.ev
		e.Note = "the client closed the connection " + ev.Time.Sub(l.sent).Round(time.Millisecond).String() +
			" after sending it, as its reply came: it timed out, the outcome unknown to it"
		rs.pending[l.hash] = &pendingCmd{conn: cn.id, sent: l.sent, at: ev.Time, ev: e}
	}
}

// A client that closes its connection within gaveUpClose of a late reply to
// its last command, at least stuckClose after sending it, gave up on it.
const (
	gaveUpClose = 50 * time.Millisecond
	stuckClose  = 100 * time.Millisecond
)

func trimNoReply(reason string) string {
	if hasPrefix(reason, "no reply: ") {
		return reason[len("no reply: "):]
	}
	return reason
}

// --- health-check-fanout

// keepaliveIdle: a PING on a connection that was idle this long is the
// library's keepalive (rueidis pings every connection that received nothing
// for a second; redis-py's health_check_interval pings a connection idle
// longer than the interval before using it), not an application's probe of
// the node.
const keepaliveIdle = 900 * time.Millisecond

func (k *Checker) ruleProbe(c *clientState, cn *connState, ev *proxy.Event, f cmdFlag) {
	if f&fProbe == 0 {
		return
	}
	if ev.Command == "PING" && !cn.rc.lastCmd.IsZero() && ev.Time.Sub(cn.rc.lastCmd) >= keepaliveIdle {
		return
	}
	rs := &c.rs
	if rs.probes == nil {
		rs.probes = map[string]*counter{}
	}
	p := rs.probes[cn.node]
	if p == nil {
		if len(rs.probes) >= 256 {
			return
		}
		p = newCounter(k.th.ProbeWindow)
		rs.probes[cn.node] = p
	}
	p.add(ev.Time, 1)
	need := int(math.Floor(k.th.ProbeRate * k.th.ProbeWindow.Seconds()))
	if p.count(ev.Time) < need {
		return
	}
	probed := 0
	for _, q := range rs.probes {
		if q.count(ev.Time) >= need {
			probed++
		}
	}
	want := max(k.th.FanoutMinNodes, int(math.Ceil(k.th.FanoutShare*float64(len(k.nodes.known)))))
	if probed < want {
		return
	}
	if !rs.fanoutFlagged.IsZero() && ev.Time.Sub(rs.fanoutFlagged) < k.th.ProbeWindow {
		return
	}
	rs.fanoutFlagged = ev.Time
	k.occur(RuleHealthCheckFanout, c, ev.Time, k.evidence(ev, itoa(probed)+" nodes probed at ≥ "+
		ftoa(k.th.ProbeRate)+"/s"))
}

// --- crossslot, select-nonzero, dangerous-command

func (k *Checker) ruleCommand(c *clientState, cn *connState, ev *proxy.Event, f cmdFlag) {
	if f&fDangerous != 0 {
		k.occurConn(RuleDangerousCommand, cn, ev.Time, k.evidence(ev, "administrative command from a client"))
	}
	if ev.Reply != '-' || ev.Fault != "" {
		return
	}
	switch {
	case ev.Command == "SELECT":
		k.occurConn(RuleSelectNonzero, cn, ev.Time, k.evidence(ev, "SELECT refused: only database 0 exists in a cluster"))
	case errCode(ev.Err) == "CROSSSLOT":
		rs := &c.rs
		if rs.crossslot == nil {
			rs.crossslot = newCounter(k.th.CrossSlotWindow)
		}
		rs.crossslot.add(ev.Time, 1)
		if rs.crossslot.count(ev.Time) >= k.th.CrossSlotCount {
			k.occur(RuleCrossSlot, c, ev.Time, k.evidence(ev, "multi-key command across slots"))
		}
	}
}

// --- unbounded-pipeline

func (k *Checker) rulePipeline(c *clientState, cn *connState, ev *proxy.Event) {
	if cn.rc.pipelineReported || ev.Queued < k.th.ReplayBurst {
		return
	}
	if ev.Queued > k.th.PipelineMax {
		cn.rc.pipelineReported = true
		k.occur(RuleUnboundedPipeline, c, ev.Time, k.evidence(ev, "more than "+itoa(k.th.PipelineMax)+" commands outstanding"))
		return
	}
	o := k.owner(cn)
	lost, ok := o.rs.lost[cn.node]
	if !ok || ev.Time.Sub(cn.opened) > k.th.ReplayWindow || cn.opened.Sub(lost) > 30*time.Second || cn.opened.Before(lost) {
		return
	}
	cn.rc.pipelineReported = true
	k.occur(RuleUnboundedPipeline, c, ev.Time, k.evidence(ev, itoa(ev.Queued)+" commands queued right after a reconnect"))
}

// --- reply-desync-risk

func (k *Checker) ruleHandshake(c *clientState, cn *connState, ev *proxy.Event, done time.Time, f cmdFlag) {
	if f&fHandshake != 0 {
		if cn.cmds <= k.th.HandshakeCommands {
			hs := &handshake{sent: ev.Time, done: done, ev: k.evidence(ev, "")}
			hs.authFailed = ev.Command == "AUTH" && ev.Reply == '-' && ev.Fault != ""
			if ev.Reply == 0 {
				hs.done = time.Time{}
			}
			if old := cn.rc.hs; old == nil || !old.done.After(done) || old.done.IsZero() {
				cn.rc.hs = hs
			}
		}
		return
	}
	hs := cn.rc.hs
	if hs == nil || cn.rc.desyncReported {
		return
	}
	switch {
	// Queued > 0: the command reached the proxy while a reply was still
	// outstanding, so the client did not wait for the handshake's reply.
	case ev.Queued > 0 && (hs.done.IsZero() || ev.Time.Before(hs.done)) && ev.Time.Sub(hs.sent) >= k.th.DesyncGap:
		cn.rc.desyncReported = true
		first := hs.ev
		first.Note = "handshake reply outstanding for " + ev.Time.Sub(hs.sent).Round(time.Millisecond).String()
		k.occurConn(RuleReplyDesyncRisk, cn, ev.Time, first, k.evidence(ev, "sent on the connection before the handshake reply arrived"))
	case hs.authFailed:
		cn.rc.desyncReported = true
		first := hs.ev
		first.Note = "AUTH failed"
		k.occurConn(RuleReplyDesyncRisk, cn, ev.Time, first, k.evidence(ev, "the client kept using the connection"))
	default:
		if !ev.Time.Before(hs.done) {
			cn.rc.hs = nil // the handshake completed before the client went on
		}
	}
}

// --- no-command-timeout

func (k *Checker) ruleSlow(c *clientState, cn *connState, ev *proxy.Event, done time.Time, f cmdFlag) {
	// Queued == 0 and sent after the slow reply: the client waited for it
	// (a client that timed out and pipelined on would have Queued > 0).
	if s := cn.rc.slow; s != nil && !cn.rc.timeoutReported && ev.Queued == 0 && !ev.Time.Before(s.done) {
		cn.rc.timeoutReported = true
		k.occur(RuleNoCommandTimeout, c, ev.Time, s.ev, k.evidence(ev, "the client kept using the connection"))
	}
	// A client that kept writing to the connection a second or more after
	// the slow command did not wait for it: it timed out the call and
	// went on (ioredis's commandTimeout keeps the connection).
	if ev.Reply != 0 && f&fBlocking == 0 && ev.Latency >= k.th.CommandTimeout && !cn.rc.timeoutReported &&
		cn.rc.lastHeld.Sub(ev.Time) < movedOn {
		cn.rc.slow = &sentCmd{conn: cn.id, hash: ev.Hash, sent: ev.Time, done: done,
			ev: k.evidence(ev, "the client waited "+ev.Latency.Round(time.Millisecond).String()+" for this reply")}
		k.fp.quiet.Store(false)
	}
}

// movedOn: a client that sends to a node this long after a command that is
// still outstanding there did not wait for it.
const movedOn = time.Second

// checkHeld flags a connection waiting on a held command for too long.
func (k *Checker) checkHeld(cn *connState, now time.Time) {
	h := cn.rc.held
	if h == nil || cn.rc.timeoutReported || now.Sub(h.at) < k.th.CommandTimeout {
		return
	}
	o := k.owner(cn)
	if last, ok := o.rs.activity[cn.node]; ok && last.Sub(h.at) >= movedOn {
		// The client moved on: it reconnected or sent something new to
		// the node, well after (commands of concurrent callers that got
		// stuck behind this one come within moments).
		return
	}
	if t, ok := o.rs.timedOut[cn.node]; ok && now.Sub(t) < time.Minute {
		return // the client closed another held connection to this node: it has a timeout
	}
	cn.rc.timeoutReported = true
	e := h.ev
	e.Note = "outstanding for " + now.Sub(h.at).Round(time.Millisecond).String() + " with nothing new from the client to this node"
	k.occur(RuleNoCommandTimeout, o, now, e)
}

// --- restart-on-single-fault

func (k *Checker) ruleRestartClose(c *clientState, cn *connState, ev *proxy.Event) {
	if cn.dataCmds == 0 {
		return // a connection used only to set up (redis-py's startup pools): not app work
	}
	rs := &c.rs
	if rs.closes == nil {
		rs.closes = newRing[EvidenceEvent](128)
	}
	e := k.evidence(ev, "")
	rs.closes.push(e)
	if rs.restart != nil {
		return
	}
	closed, nodes := 0, map[string]bool{}
	for i := 0; i < rs.closes.len(); i++ {
		x := rs.closes.last(i)
		if ev.Time.Sub(x.Time) > k.th.RestartWindow {
			break
		}
		closed++
		nodes[x.Node] = true
	}
	// Connections still open that did application work, opened before the
	// mass close began: the new instance's (rueidis's restarted client
	// connects before the old one is closed) are not the old one's.
	first := rs.closes.last(max(closed-1, 0)).Time
	open := 0
	for id, x := range c.conns {
		if id != cn.id && x.dataCmds > 0 && x.opened.Before(first.Add(-k.th.RestartWindow/4)) {
			open++
		}
	}
	total := closed + open
	if closed < k.th.RestartMinConns || float64(closed) < k.th.RestartShare*float64(total) || len(nodes) < 2 {
		return
	}
	faulted := k.faultedNodes(ev.Time)
	if len(faulted) == 0 || len(faulted) > k.th.RestartMaxFaultNodes {
		return
	}
	var evs []EvidenceEvent
	for i := min(closed, 3) - 1; i >= 0; i-- {
		x := rs.closes.last(i)
		x.Note = itoa(closed) + " of " + itoa(total) + " connections closed by the client within " + k.th.RestartWindow.String() +
			" while faults touch " + itoa(len(faulted)) + " node"
		evs = append(evs, x)
	}
	rs.restart = &restartCand{at: ev.Time, first: rs.closes.last(closed - 1).Time, evs: evs}
	if hs := rs.handshake; hs != nil && !hs.opened.Before(rs.restart.first.Add(-k.th.RestartWindow/4)) {
		// The new instance's handshake was seen before the last old socket ended.
		rs.restart = nil
		k.occur(RuleRestartOnSingleFault, c, ev.Time, append(evs, hs.ev)...)
	}
}

// ruleRestartBurst looks for the new instance after a mass close: a new
// instance discovers the cluster, so it reads the topology on a connection
// of its own, among that connection's first commands (ioredis on its
// refresher connection), opened with the mass close or after it. A library
// that drops and reopens its connections itself (node-redis) keeps the slot
// map it has: no such read. A connection that has not named its client yet
// is charged to its owner.
func (k *Checker) ruleRestartBurst(c *clientState, cn *connState, ev *proxy.Event) {
	if !topologyRead(ev) || cn.cmds > k.th.HandshakeCommands {
		return
	}
	c = k.owner(cn)
	if cn.opened.After(c.rs.freshTopo) {
		c.rs.freshTopo = cn.opened
	}
	r := c.rs.restart
	// A fresh connection: opened with the mass close or after it (the new
	// instance can connect before the proxy has seen every old socket end).
	if r == nil || cn.opened.Before(r.first.Add(-k.th.RestartWindow/4)) || ev.Time.Sub(r.at) > k.th.RestartHandshake {
		if hs := c.rs.handshake; hs == nil || !cn.opened.Before(hs.opened) {
			c.rs.handshake = &handshakeSeen{opened: cn.opened, ev: k.evidence(ev, "fresh connection after the mass close")}
		}
		return
	}
	c.rs.restart = nil
	k.occur(RuleRestartOnSingleFault, c, ev.Time, append(r.evs, k.evidence(ev, "fresh connection after the mass close"))...)
}

// ruleRebuild finds a client that builds a new instance of itself while the
// old one's connections stay open (redis-py's RedisCluster leaves them to
// the garbage collector): within a quarter of RestartWindow, new
// connections that do application work open to most of the nodes it already
// had working
// connections to, with a topology read on a new connection (the new
// instance discovering the cluster), while faults touch a single node. A pool that grows opens to
// one node at a time, and a failover adds the promoted node only.
func (k *Checker) ruleRebuild(c *clientState, cn *connState, ev *proxy.Event) {
	rs := &c.rs
	if rs.fresh == nil {
		rs.fresh = newRing[freshConn](64)
	}
	rs.fresh.push(freshConn{id: cn.id, opened: cn.opened, node: cn.node, ev: k.evidence(ev, "")})
	// The new instance connects within moments: its connections open within
	// a quarter of RestartWindow of each other.
	burst := k.th.RestartWindow / 4
	from := cn.opened.Add(-burst)
	if !rs.rebuilt.IsZero() && from.Before(rs.rebuilt) {
		return // this rebuild is found already
	}
	newNodes := map[string]bool{}
	earliest := cn.opened
	var evs []EvidenceEvent
	for i := 0; i < rs.fresh.len(); i++ {
		f := rs.fresh.last(i)
		if f.opened.Before(from) {
			continue // fresh connections come in first-command order, not opening order
		}
		if f.opened.Before(earliest) {
			earliest = f.opened
		}
		if !newNodes[f.node] {
			newNodes[f.node] = true
			if len(evs) < 4 {
				evs = append(evs, f.ev)
			}
		}
	}
	if len(newNodes) < k.th.RestartMinConns || rs.freshTopo.Before(earliest.Add(-k.th.RestartWindow)) {
		return
	}
	oldNodes, both := map[string]bool{}, 0
	for _, x := range c.conns {
		if x.dataCmds > 0 && x.opened.Before(earliest) && !oldNodes[x.node] {
			oldNodes[x.node] = true
			if newNodes[x.node] {
				both++
			}
		}
	}
	if both < k.th.RestartMinConns || float64(both) < k.th.RestartShare*float64(len(oldNodes)) {
		return
	}
	faulted := k.faultedNodes(ev.Time)
	if len(faulted) == 0 || len(faulted) > k.th.RestartMaxFaultNodes {
		return
	}
	rs.rebuilt = cn.opened
	note := "new connections to " + itoa(both) + " of the " + itoa(len(oldNodes)) + " nodes the client already worked with, within " +
		burst.String() + ", with a topology read, while faults touch " + itoa(len(faulted)) + " node"
	for i := range evs {
		evs[i].Note = note
	}
	k.occur(RuleRestartOnSingleFault, c, ev.Time, evs...)
}

// --- full-coverage-required

// uncoveredState tracks whether some slots have no serving node while
// others are served.
type uncoveredState struct {
	active       bool
	since        time.Time
	lastNotServe time.Time // last "CLUSTERDOWN Hash slot not served"
	lastDown     time.Time // last other CLUSTERDOWN: the whole cluster is down (full coverage required)
	why          string
}

func (u *uncoveredState) update(k *Checker, now time.Time) {
	why := ""
	if k.cfg.FullCoverage == nil || !k.cfg.FullCoverage() {
		why = k.partialOutage(now)
	}
	if why == "" && !u.lastNotServe.IsZero() && now.Sub(u.lastNotServe) < 2*time.Second {
		why = "CLUSTERDOWN Hash slot not served"
	}
	if why == "" {
		u.active = false
		return
	}
	if u.active {
		return
	}
	u.active, u.since, u.why = true, now, why
	for _, c := range k.clients {
		if c.rs.dataOK == nil || k.disabled[RuleFullCoverage] {
			continue
		}
		c.rs.coverage = &coverageCand{at: now, before: c.rs.dataOK.count(now),
			ev: EvidenceEvent{Time: now, Type: "fault", Slot: -1, Note: "slots uncovered: " + why}}
		c.rs.topoSince, c.rs.closesSince = 0, 0
	}
}

// partialOutage reports a shard whose every node is down or hung while
// another shard still has a live node, from the fault source and roles.
func (k *Checker) partialOutage(now time.Time) string {
	if k.cfg.Faults == nil || k.cfg.Nodes == nil {
		return ""
	}
	down := map[string]bool{}
	for _, w := range k.activeFaults(now) {
		switch w.Action {
		case "down", "hang", "kill", "stop", "pause":
			for _, n := range w.Nodes {
				down[n] = true
			}
		}
	}
	if len(down) == 0 {
		return ""
	}
	nodes := k.cfg.Nodes.Nodes()
	shardUp := map[string]bool{} // master id → some node of the shard is up
	addrOf := map[string]string{}
	for _, n := range nodes {
		if n.Role == "master" {
			addrOf[n.ID] = n.Addr
			if _, ok := shardUp[n.ID]; !ok {
				shardUp[n.ID] = false
			}
		}
	}
	for _, n := range nodes {
		id := n.ID
		if n.Role != "master" {
			id = n.MasterID
		}
		if _, ok := shardUp[id]; ok && !down[n.Addr] {
			shardUp[id] = true
		}
	}
	var lost string
	alive := false
	for id, up := range shardUp {
		if up {
			alive = true
		} else {
			lost = addrOf[id]
		}
	}
	if lost == "" || !alive {
		return ""
	}
	return "every node of the shard of " + lost + " is down"
}

func (k *Checker) ruleCoverageActivity(c *clientState, ev *proxy.Event) {
	if ev.Reply != '-' || !hasPrefix(ev.Err, "CLUSTERDOWN") {
		return
	}
	u := &k.uncovered
	switch {
	case hasPrefix(ev.Err, "CLUSTERDOWN Hash slot not served"):
		if ev.Time.After(u.lastNotServe) {
			u.lastNotServe = ev.Time
		}
	case ev.Time.After(u.lastDown):
		u.lastDown = ev.Time
	}
}

// fullCoverage reports whether the cluster requires full coverage: from
// Config.FullCoverage, else from a CLUSTERDOWN other than "Hash slot not
// served" since t (the live shards refuse too).
func (k *Checker) fullCoverage(t time.Time) bool {
	if k.cfg.FullCoverage != nil {
		return k.cfg.FullCoverage()
	}
	return !k.uncovered.lastDown.Before(t)
}

func (k *Checker) tickCoverage(c *clientState, now time.Time) {
	// While some slots are uncovered, the client must keep serving the
	// others: after half a window to notice the outage (commands in flight,
	// keys of live shards served before it meets the dead one), a silence
	// of a whole window (no data command answered) is the finding.
	cand := c.rs.coverage
	if cand == nil {
		return
	}
	if !k.uncovered.active {
		c.rs.coverage = nil // the outage is over
		return
	}
	since := cand.at.Add(k.th.CoverageWindow / 2)
	if c.rs.lastDataOK.After(since) {
		since = c.rs.lastDataOK
	}
	if now.Sub(since) < k.th.CoverageWindow {
		return
	}
	c.rs.coverage = nil
	if cand.before < k.th.CoverageMinCommands || k.fullCoverage(cand.at) {
		return
	}
	note := "no data command for " + now.Sub(since).Round(100*time.Millisecond).String() + " while slots were uncovered (" +
		itoa(cand.before) + " in the " + k.th.CoverageWindow.String() + " before)"
	switch {
	case c.rs.topoSince > 0:
		note += "; " + itoa(c.rs.topoSince) + " topology reads instead"
	case c.rs.closesSince > 0:
		note += "; " + itoa(c.rs.closesSince) + " connections closed by the client"
	default:
		note += ": the client stopped serving the slots that were still served"
	}
	e := EvidenceEvent{Time: now, Type: "client", Slot: -1, Note: note}
	k.occur(RuleFullCoverage, c, cand.at, cand.ev, e)
}

func setLatest(m *map[string]time.Time, key string, t time.Time) {
	if *m == nil {
		*m = map[string]time.Time{}
	}
	if old, ok := (*m)[key]; !ok || t.After(old) {
		if !ok && len(*m) >= 256 {
			return
		}
		(*m)[key] = t
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
