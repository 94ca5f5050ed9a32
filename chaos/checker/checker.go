package checker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
)

// drainInterval is how often the checker goroutine empties the queue. At
// the default queue size it absorbs bursts of several million events/s.
const drainInterval = 10 * time.Millisecond

// Checker watches the proxy's events and reports findings. Observe is the
// proxy's Observer; one goroutine (Run, or Start/Close) evaluates the rules.
type Checker struct {
	cfg Config
	th  Thresholds
	lim Limits
	log *slog.Logger
	m   *metrics
	now func() time.Time

	ch      chan proxy.Event
	flushes chan chan struct{}
	wake    chan struct{} // the queue is half full: drain now
	dropped atomic.Uint64

	startMu sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	running bool

	mu         sync.Mutex // guards everything below
	clients    map[clientKey]*clientState
	clientsGen uint64               // bumped when a client is added or removed
	closed     map[uint64]time.Time // connections closed recently (late tallies are ignored)
	fp         fastPath

	faultsBucket int64 // activeFaults cache
	faultsCache  []FaultWindow
	conns        map[uint64]*connState
	findings     map[findingKey]*findingState
	series       *seriesStore
	nodes        nodeView
	faultSeen    map[string]time.Time // node → last sign of a fault (when Config.Faults is nil)
	downSeen     map[string]time.Time // node → last time a fault made it down or silent (from Config.Faults)
	uncovered    uncoveredState
	disabled     map[string]bool
	rules        map[string]*Rule
	processed    uint64
	tallied      uint64 // events counted by the fast path
	held         int    // connections with a held command (activity is tracked only then)
	untracked    uint64 // events of connections over Limits.MaxConns
	lastNodes    time.Time
}

// New returns a Checker; start it with Run or Start.
func New(cfg Config) *Checker {
	cfg.Thresholds.setDefaults()
	cfg.Limits.setDefaults()
	if cfg.Tick == 0 {
		cfg.Tick = 250 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	k := &Checker{
		cfg:       cfg,
		th:        cfg.Thresholds,
		lim:       cfg.Limits,
		log:       cfg.Logger,
		now:       cfg.Now,
		ch:        make(chan proxy.Event, cfg.Limits.QueueSize),
		flushes:   make(chan chan struct{}),
		wake:      make(chan struct{}, 1),
		clients:   map[clientKey]*clientState{},
		closed:    map[uint64]time.Time{},
		conns:     map[uint64]*connState{},
		findings:  map[findingKey]*findingState{},
		faultSeen: map[string]time.Time{},
		downSeen:  map[string]time.Time{},
		disabled:  map[string]bool{},
		rules:     map[string]*Rule{},
	}
	k.series = newSeriesStore(cfg.Limits.SeriesLength, cfg.Limits.MaxSeriesNodes)
	k.nodes = newNodeView()
	k.fp.quiet.Store(true) // nothing to follow yet (else the first tick would say so)
	for _, id := range cfg.Disabled {
		k.disabled[id] = true
	}
	for i := range catalogue {
		r := catalogue[i]
		if s, ok := cfg.Severities[r.ID]; ok && s.Rank() > 0 {
			r.Severity = s
		}
		k.rules[r.ID] = &r
	}
	k.m = newMetrics(cfg.Registerer, func() float64 {
		k.mu.Lock()
		defer k.mu.Unlock()
		return float64(len(k.clients))
	})
	return k
}

// Observe hands an event to the checker without blocking: when the queue is
// full the event is dropped and counted. It is safe for concurrent use and
// implements proxy.Observer.
func (k *Checker) Observe(ev proxy.Event) {
	if k.fast(&ev) {
		return
	}
	select {
	case k.ch <- ev:
		if len(k.ch) == cap(k.ch)/2 {
			select {
			case k.wake <- struct{}{}:
			default:
			}
		}
	default:
		k.dropped.Add(1)
		k.m.dropped.Inc()
	}
}

// Dropped returns how many events were dropped because the queue was full.
func (k *Checker) Dropped() uint64 { return k.dropped.Load() }

// Run evaluates events until ctx ends. Only one Run may be active.
func (k *Checker) Run(ctx context.Context) error {
	k.startMu.Lock()
	if k.running {
		k.startMu.Unlock()
		return errors.New("checker: already running")
	}
	k.running = true
	k.startMu.Unlock()
	defer func() {
		k.startMu.Lock()
		k.running = false
		k.startMu.Unlock()
	}()
	tick := time.NewTicker(k.cfg.Tick)
	defer tick.Stop()
	// The queue is drained on a short timer rather than by blocking on it:
	// a send to a buffered channel nobody waits on is cheap, while waking a
	// parked receiver for every command would cost the data path a
	// scheduler round trip per event.
	drain := time.NewTicker(drainInterval)
	defer drain.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-drain.C:
			k.drain()
		case <-k.wake:
			k.drain()
		case <-tick.C:
			k.mu.Lock()
			k.tick(k.now())
			k.mu.Unlock()
		case reply := <-k.flushes:
			k.mu.Lock()
			k.mergeTallies()
			k.drainLocked(-1)
			k.tick(k.now())
			k.mu.Unlock()
			close(reply)
		}
	}
}

// drain folds the tallies and evaluates the queued events, releasing k.mu
// every 1024 events so that API readers are not held up.
func (k *Checker) drain() {
	k.mu.Lock()
	k.mergeTallies()
	k.drainLocked(1024)
	k.mu.Unlock()
	for len(k.ch) > 0 {
		k.mu.Lock()
		k.drainLocked(1024)
		k.mu.Unlock()
	}
}

// drainLocked handles up to n queued events (all if n < 0) without waiting.
func (k *Checker) drainLocked(n int) {
	i := 0
	defer func() { k.m.events.Add(float64(i)) }()
	for ; n < 0 || i < n; i++ {
		select {
		case ev := <-k.ch:
			k.handle(&ev)
		default:
			return
		}
	}
}

// Start runs the checker in its own goroutine until Close.
func (k *Checker) Start() {
	k.startMu.Lock()
	defer k.startMu.Unlock()
	if k.done != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	k.done = make(chan struct{})
	go k.runUntilClosed(ctx)
}

func (k *Checker) runUntilClosed(ctx context.Context) {
	defer close(k.done)
	k.Run(ctx)
}

// Close stops the goroutine started by Start and waits for it. Events
// observed afterwards are dropped once the queue is full.
func (k *Checker) Close() error {
	k.startMu.Lock()
	cancel, done := k.cancel, k.done
	k.startMu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	return nil
}

// Flush waits until every event observed before the call is evaluated, and
// evaluates the time-based rules. It returns ctx's error if ctx ends first.
// When the checker is not running, the caller's goroutine does the work.
func (k *Checker) Flush(ctx context.Context) error {
	k.startMu.Lock()
	running := k.running
	k.startMu.Unlock()
	if !running {
		k.mu.Lock()
		k.mergeTallies()
		k.drainLocked(-1)
		k.tick(k.now())
		k.mu.Unlock()
		return nil
	}
	reply := make(chan struct{})
	select {
	case k.flushes <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Findings returns the findings, most severe first, then oldest first.
func (k *Checker) Findings() []Finding {
	k.mu.Lock()
	out := make([]Finding, 0, len(k.findings))
	for _, fs := range k.findings {
		out = append(out, fs.snapshot())
	}
	k.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if !a.FirstSeen.Equal(b.FirstSeen) {
			return a.FirstSeen.Before(b.FirstSeen)
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Client.String() < b.Client.String()
	})
	return out
}

// Reset forgets every finding and the rules' memory of past behaviour
// (connections and time series are kept).
func (k *Checker) Reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	clear(k.findings)
	k.clientsGen++
	for _, c := range k.clients {
		c.resetRules()
		c.findings = 0
	}
	for _, cn := range k.conns {
		cn.resetRules()
	}
	k.held = 0
}

// ClientInfo describes one client for the API.
type ClientInfo struct {
	ClientID
	Library   string    `json:"library,omitempty"` // lib-name as one of the Lib… names
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Conns     int       `json:"conns"`     // open now
	Connects  uint64    `json:"connects"`  // connections opened
	Commands  uint64    `json:"commands"`  // commands answered or failed
	Errors    uint64    `json:"errors"`    // error replies other than redirects, and commands left without a reply
	Redirects uint64    `json:"redirects"` // MOVED and ASK replies
	Nodes     []string  `json:"nodes"`     // real addresses of the nodes it used
	Findings  int       `json:"findings"`  // rules broken
}

// Clients lists the clients seen, the most recently active first. Clients
// that only passed through while identifying themselves (a connection before
// its CLIENT SETINFO) are left out once they have no connection.
func (k *Checker) Clients() []ClientInfo {
	k.mu.Lock()
	out := make([]ClientInfo, 0, len(k.clients))
	for _, c := range k.clients {
		if len(c.conns) == 0 && c.findings == 0 && c.dataCommands == 0 {
			continue
		}
		ci := ClientInfo{ClientID: c.id, Library: Library(c.id.LibName), FirstSeen: c.firstSeen,
			LastSeen: c.lastSeen, Conns: len(c.conns), Connects: c.connects, Commands: c.commands,
			Errors: c.errors, Redirects: c.redirects, Findings: c.findings}
		for n := range c.nodesSeen {
			ci.Nodes = append(ci.Nodes, n)
		}
		sort.Strings(ci.Nodes)
		out = append(out, ci)
	}
	k.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.After(out[j].LastSeen)
		}
		return out[i].ClientID.String() < out[j].ClientID.String()
	})
	return out
}

// Stats are the checker's own counters.
type Stats struct {
	Processed uint64 `json:"processed"` // events evaluated
	Tallied   uint64 `json:"tallied"`   // of which plain commands only counted (the fast path)
	Dropped   uint64 `json:"dropped"`   // events dropped because the queue was full
	Untracked uint64 `json:"untracked"` // events of connections over Limits.MaxConns
	Clients   int    `json:"clients"`
	Conns     int    `json:"conns"`
	Findings  int    `json:"findings"`
}

// Stats returns the checker's counters.
func (k *Checker) Stats() Stats {
	k.mu.Lock()
	defer k.mu.Unlock()
	return Stats{Processed: k.processed, Tallied: k.tallied, Dropped: k.dropped.Load(), Untracked: k.untracked,
		Clients: len(k.clients), Conns: len(k.conns), Findings: len(k.findings)}
}

// handle evaluates one event. k.mu is held.
func (k *Checker) handle(ev *proxy.Event) {
	k.processed++
	k.series.add(ev)
	if k.cfg.Nodes != nil && ev.Time.Sub(k.lastNodes) >= time.Second {
		k.nodes.refresh(k.cfg.Nodes.Nodes())
		k.lastNodes = ev.Time
	}
	k.noteFault(ev)
	cn := k.connFor(ev)
	if cn == nil {
		k.untracked++
		return
	}
	c := cn.client
	switch ev.Type {
	case proxy.EventConnect:
		k.onConnect(c, cn, ev)
	case proxy.EventCommand:
		k.onCommand(c, cn, ev)
		if len(cn.rc.deferred) > 0 && cn.cmds > k.th.HandshakeCommands {
			k.settle(cn, cn.client)
		}
	case proxy.EventHeld:
		k.onHeld(c, cn, ev)
	case proxy.EventClose:
		if len(k.closed) < k.lim.MaxConns {
			k.closed[cn.id] = ev.Time
		}
		k.onClose(c, cn, ev)
		if len(cn.rc.deferred) > 0 {
			k.settle(cn, k.owner(cn))
		}
		k.dropConn(cn)
	}
}

// tick evaluates the time-based rules. k.mu is held.
func (k *Checker) tick(now time.Time) {
	if k.cfg.Nodes != nil && now.Sub(k.lastNodes) >= time.Second {
		k.nodes.refresh(k.cfg.Nodes.Nodes())
		k.lastNodes = now
	}
	k.uncovered.update(k, now)
	if k.cfg.Faults != nil {
		for _, w := range k.activeFaults(now) {
			if downAction(w.Action) {
				for _, n := range w.Nodes {
					if len(k.downSeen) < k.lim.MaxSeriesNodes {
						k.downSeen[n] = now
					}
				}
			}
		}
	}
	for _, c := range k.clients {
		k.tickClient(c, now)
	}
	for _, cn := range k.conns {
		if cn.rc.held != nil {
			k.checkHeld(cn, now)
		}
		if len(cn.rc.deferred) > 0 && now.Sub(cn.rc.deferred[0].at) >= time.Second {
			k.settle(cn, k.owner(cn)) // it never named itself
		}
	}
	k.expire(now)
	for id, at := range k.closed {
		if now.Sub(at) > 10*time.Second {
			delete(k.closed, id)
		}
	}
	k.updateQuiet()
}

// noteFault remembers nodes that show signs of a fault, for when no
// FaultSource is configured.
func (k *Checker) noteFault(ev *proxy.Event) {
	if ev.Conn.Node == "" {
		return
	}
	if ev.Fault != "" || ev.Type == proxy.EventHeld || (ev.Type == proxy.EventClose && proxySideFault(ev.Reason)) {
		k.faultSeen[ev.Conn.Node] = ev.Time
	}
}

// activeFaults asks the FaultSource, at most once per 100 ms of event time
// (a MOVED storm must not become a storm of calls into the engine).
func (k *Checker) activeFaults(t time.Time) []FaultWindow {
	b := t.UnixNano() / int64(100*time.Millisecond)
	if b != k.faultsBucket || k.faultsCache == nil {
		k.faultsBucket = b
		k.faultsCache = append(k.faultsCache[:0], k.cfg.Faults.Active(t)...)
		if k.faultsCache == nil {
			k.faultsCache = []FaultWindow{}
		}
	}
	return k.faultsCache
}

// faultedNodes returns the nodes touched by faults at t: those of the
// FaultSource, or without one, the nodes that showed signs of a fault. (With
// a FaultSource, replies the virtual cluster rewrites and connections it
// routes are no sign of a fault of their node.)
func (k *Checker) faultedNodes(t time.Time) map[string]bool {
	out := map[string]bool{}
	if k.cfg.Faults != nil {
		for _, w := range k.activeFaults(t) {
			for _, n := range w.Nodes {
				out[n] = true
			}
		}
		return out
	}
	for n, at := range k.faultSeen {
		if d := t.Sub(at); d >= -time.Second && d <= 5*time.Second {
			out[n] = true
		}
	}
	return out
}

// downAction reports fault actions that make a node unreachable or silent.
func downAction(action string) bool {
	switch action {
	case "down", "hang", "kill", "stop", "pause":
		return true
	}
	return false
}

// nodeDown reports whether a fault makes the node unreachable or silent at t.
func (k *Checker) nodeDown(node string, t time.Time) bool {
	if k.cfg.Faults != nil {
		for _, w := range k.activeFaults(t) {
			if downAction(w.Action) {
				for _, n := range w.Nodes {
					if n == node {
						return true
					}
				}
			}
		}
	}
	return false
}

// recentlyDown reports whether a fault made the node unreachable or silent
// within d before t (or, without a FaultSource, it showed signs of one).
func (k *Checker) recentlyDown(node string, t time.Time, d time.Duration) bool {
	if k.nodeDown(node, t) {
		return true
	}
	at, ok := k.downSeen[node]
	if !ok {
		at, ok = k.faultSeen[node]
	}
	return ok && t.Sub(at) <= d
}

// proxySideFault reports close reasons that mean the node or a fault ended
// the connection (not the client).
func proxySideFault(reason string) bool {
	return hasPrefix(reason, "fault") || reason == "node down" || hasPrefix(reason, "upstream")
}

// clientSide reports close reasons that mean the client ended the connection.
func clientSide(reason string) bool {
	return hasPrefix(reason, "client") || reason == "closed after last reply"
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return p
}
