package chaos

import (
	"time"

	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// When the faults are cleared, the virtual cluster goes back to the real
// topology. Masters that a failover replaced meanwhile take their slots back
// the way an operator returns them on a real cluster, with a manual failover
// (CLUSTER FAILOVER) once the old master is back: its successor pauses
// writes while the old master catches up and takes over, then answers MOVED
// to it. Clients see a short write pause, then MOVED; no connection error.
//
//	Clear ─▶ faults end (a dead master comes back, as a replica)
//	      ─▶ failbackGrace after it is back: writes to its successor held
//	      ─▶ failbackPause later: the real topology; held writes get MOVED

// failbackGrace is how long an old master that was down is back before it
// takes its slots again, as a real one restarts and rejoins before anyone
// fails over to it: long enough for clients whose dials it refused to find
// it accepting again (go-redis, once its pool's dials were refused, probes
// the node once a second and fails at once meanwhile).
const failbackGrace = 2 * time.Second

// failbackPause is how long writes to the successors wait: a manual
// failover's write pause on a local cluster.
const failbackPause = 200 * time.Millisecond

// failback is the return of the replaced masters after Clear.
type failback struct {
	at, until time.Time       // the write pause
	paused    map[string]bool // successors (real addresses): their writes wait
	release   chan struct{}   // closed when the real topology is back
}

// planFailbackLocked returns the failback that Clear needs, or nil when the
// virtual cluster differs from the real one by nothing a failback returns.
func (e *Engine) planFailbackLocked(now time.Time) *failback {
	v := e.vc
	if v == nil || !v.changed() {
		return nil
	}
	fb := &failback{at: now, paused: map[string]bool{}, release: make(chan struct{})}
	for _, n := range v.nodes {
		if n.realRole != topology.RoleMaster || n.role != topology.RoleReplica || n.master < 0 {
			continue
		}
		fb.paused[v.nodes[n.master].addr] = true
		if t := n.upAt.Add(failbackGrace); t.After(fb.at) {
			fb.at = t
		}
	}
	if len(fb.paused) == 0 {
		return nil
	}
	fb.until = fb.at.Add(failbackPause)
	return fb
}

// stepFailbackLocked drives the failback: it reports whether the snapshot
// must change (the pause starts, or the real topology is back).
func (e *Engine) stepFailbackLocked(now time.Time) bool {
	fb := e.failback
	if fb == nil {
		return false
	}
	if now.Before(fb.until) {
		s := e.pol.snap.Load()
		return !now.Before(fb.at) && !s.failingBack
	}
	e.endFailbackLocked()
	e.vc = nil
	if err := e.ensureVirtualLocked(); err != nil {
		e.pol.snap.Store(&snapshot{quiet: true})
		return false
	}
	e.log.Info("failback done: the real topology is back")
	return true
}

// endFailbackLocked releases the writes a failback held and forgets it.
func (e *Engine) endFailbackLocked() {
	if e.failback != nil {
		close(e.failback.release)
		e.failback = nil
	}
}

// withFailbackLocked holds, in s, the writes to the successors while the
// failback's write pause lasts.
func (e *Engine) withFailbackLocked(s *snapshot, now time.Time) {
	fb := e.failback
	if fb == nil || now.Before(fb.at) {
		return
	}
	for _, nv := range s.list {
		if fb.paused[nv.addr] {
			nv.pause = fb.release
		}
	}
	s.failingBack, s.quiet = true, false
}
