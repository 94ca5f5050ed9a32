package checker

import (
	"time"
)

// ruleState is a client's memory for the rules. Every map is bounded (by
// Limits or by the number of nodes) and pruned by expire.
type ruleState struct {
	// redirects (moved-ignored, stale-slot-map, ask-*)
	moved map[int]*redirect // by slot
	asks  map[int]*redirect // by slot
	watch []*redirect       // redirects not yet followed
	// followedAny: the client has followed a redirect, so it is cluster-aware;
	// a MOVED it leaves unfollowed later is a give-up (redirect limit), not
	// moved-ignored.
	followedAny bool
	// topology-refresh-storm
	lastTopo       time.Time // reply time of the last topology read
	refreshes      *counter
	errs           *counter
	lastErr        EvidenceEvent
	refreshFlagged time.Time
	// reconnect-storm
	attempts         map[string]*ring[EvidenceEvent] // node → failed attempts
	reconnectFlagged map[string]time.Time
	// no-backoff-retry
	waitErrs      map[uint64]waitErr
	resends       *counter
	immediate     *counter
	resendFlagged time.Time
	// unsafe-retry
	pending   map[uint64]*pendingCmd // unknown outcomes, by command hash
	recent    map[uint64]sentCmd     // latest send of a non-idempotent command
	abandoned map[uint64]sentCmd     // commands whose connection the client closed while waiting
	// health-check-fanout
	probes        map[string]*counter
	probeEv       EvidenceEvent
	fanoutFlagged time.Time
	// restart-on-single-fault
	closes    *ring[EvidenceEvent]
	fresh     *ring[freshConn] // connections' first data commands
	rebuilt   time.Time        // the last rebuild found from fresh connections
	freshTopo time.Time        // when the latest connection that read the topology first thing opened
	restart   *restartCand
	handshake *handshakeSeen // the client's latest topology read or HELLO/SETINFO
	// full-coverage-required
	dataOK      *counter
	lastDataOK  time.Time // when the latest keyed command answered without error got its reply
	coverage    *coverageCand
	topoSince   int // topology reads since the coverage candidate
	closesSince int // client-side closes since the coverage candidate
	// crossslot
	crossslot *counter
	// unbounded-pipeline (replay): node → last time the proxy dropped a connection
	lost map[string]time.Time
	// no-command-timeout: node → last command or connection
	activity map[string]time.Time
	// no-command-timeout: node → when the client last closed a connection
	// whose command was held (it gave up: it has a timeout)
	timedOut map[string]time.Time
}

type redirect struct {
	ask      bool
	slot     int
	from, to string // real addresses; to is "" when the target is not a known node
	hash     uint64
	at       time.Time // when the redirect reply was delivered
	ev       EvidenceEvent
	followed bool
	retried  bool // the same command went to a third node: the client did not give up on it
	reported bool
	watched  bool
	// stale-slot-map
	count int
	first time.Time
	evs   []EvidenceEvent
}

type waitErr struct {
	done time.Time
	ev   EvidenceEvent
}

type pendingCmd struct {
	conn uint64
	sent time.Time // when the command was sent
	at   time.Time // when its outcome became unknown
	ev   EvidenceEvent
}

type sentCmd struct {
	conn uint64
	hash uint64
	sent time.Time
	done time.Time
	ev   EvidenceEvent
}

type restartCand struct {
	at    time.Time // last close of the mass close
	first time.Time // first close of the mass close
	evs   []EvidenceEvent
}

// freshConn is a connection's first data command.
type freshConn struct {
	id     uint64
	opened time.Time
	node   string
	ev     EvidenceEvent
}

type handshakeSeen struct {
	opened time.Time // when its connection opened
	ev     EvidenceEvent
}

type coverageCand struct {
	at     time.Time
	before int
	ev     EvidenceEvent
}

// connRuleState is a connection's memory for the rules.
type connRuleState struct {
	prevAsking       bool
	replicaAtOpen    bool
	held             *heldCmd
	heldHashes       map[uint64]int // commands reported held and not answered yet, by hash
	lastHeld         time.Time      // the latest command reported held
	slow             *sentCmd
	timeoutReported  bool
	hs               *handshake
	desyncReported   bool
	pipelineReported bool
	lastCmd          time.Time
	lastNonIdem      *sentCmd
	deferred         []deferredFinding
}

type heldCmd struct {
	at time.Time
	ev EvidenceEvent
}

type handshake struct {
	sent       time.Time
	done       time.Time // zero while the reply is outstanding
	authFailed bool
	ev         EvidenceEvent
}

func (c *clientState) resetRules() { c.rs = ruleState{} }

// expire prunes memory the rules no longer need.
func (rs *ruleState) expire(k *Checker, now time.Time) {
	th := &k.th
	keep := max(th.StaleWindow, th.AskWindow, th.MovedFollow) + time.Second
	for s, r := range rs.moved {
		if now.Sub(r.at) > keep {
			delete(rs.moved, s)
		}
	}
	for s, r := range rs.asks {
		if now.Sub(r.at) > keep {
			delete(rs.asks, s)
		}
	}
	w := rs.watch[:0]
	for _, r := range rs.watch {
		if now.Sub(r.at) <= keep && !r.followed {
			w = append(w, r)
		} else {
			r.watched = false
		}
	}
	clear(rs.watch[len(w):])
	rs.watch = w
	for h, e := range rs.waitErrs {
		if now.Sub(e.done) > 2*time.Second {
			delete(rs.waitErrs, h)
		}
	}
	for h, p := range rs.pending {
		if now.Sub(k.unknownSince(p, now)) > th.RetryWindow {
			delete(rs.pending, h)
		}
	}
	for h, s := range rs.recent {
		if now.Sub(s.done) > th.RetryWindow {
			delete(rs.recent, h)
		}
	}
	for h, s := range rs.abandoned {
		if now.Sub(s.done) > th.RetryWindow {
			delete(rs.abandoned, h)
		}
	}
	if rs.restart != nil && now.Sub(rs.restart.at) > th.RestartHandshake {
		rs.restart = nil
	}
	for n, t := range rs.lost {
		if now.Sub(t) > time.Minute {
			delete(rs.lost, n)
		}
	}
	for n, t := range rs.timedOut {
		if now.Sub(t) > time.Minute {
			delete(rs.timedOut, n)
		}
	}
}

// evictOldest removes the entry with the oldest time from a map at its limit.
func evictOldest[K comparable, V any](m map[K]V, limit int, at func(V) time.Time) {
	if len(m) < limit {
		return
	}
	var victim K
	var oldest time.Time
	first := true
	for k, v := range m {
		if t := at(v); first || t.Before(oldest) {
			victim, oldest, first = k, t, false
		}
	}
	delete(m, victim)
}
