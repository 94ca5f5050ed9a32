package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// Errors of the engine. The API maps them to HTTP status codes in one place.
var (
	ErrFaultNotFound    = errors.New("chaos: fault not found")
	ErrNoTarget         = errors.New("chaos: target matches no node")
	ErrRealRefused      = errors.New("chaos: real mode is only available when this process provisioned the cluster (redis-chaos up, or run without --upstream), not in proxy (sidecar) mode")
	ErrNotStarted       = errors.New("chaos: engine has no topology yet")
	ErrScenarioNotFound = errors.New("chaos: scenario not found")
	ErrRunNotFound      = errors.New("chaos: run not found")
)

// Data is what the engine needs of the proxy's data path.
type Data interface {
	Topology() *topology.Topology
	Nodes() []proxy.NodeInfo
	SetDown(realAddr string, down bool) error
	ResetConns(realAddr string)
	// Interrupt answers blocked commands (BLPOP…) whose slot failed or moved.
	Interrupt(decide func(info *proxy.ConnInfo, cmd *proxy.CommandInfo, slot int) []byte) int
}

// Clock is the engine's time. Every timer of the engine runs on it: the tick
// that starts and ends faults and moves the virtual cluster on, the phases
// of scenarios and the steps of plans.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed (at
	// once if d is not above zero).
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Settings are the real cluster's settings the virtual cluster follows.
type Settings struct {
	NodeTimeout        time.Duration // cluster-node-timeout
	FullCoverage       bool          // cluster-require-full-coverage
	AllowReadsWhenDown bool          // cluster-allow-reads-when-down
}

// Config configures an Engine. Zero values get defaults.
type Config struct {
	// Data is the data path the engine acts on: the proxy whose Policy is
	// Policy.
	Data Data
	// Policy is where the engine publishes what the data path must do; if
	// nil, New makes one (Engine.Policy). The proxy takes it before the
	// engine exists, since the engine acts on the proxy.
	Policy *Policy
	// Real is the cluster real-mode faults act on (one this process
	// provisioned); nil refuses real mode.
	Real     RealCluster
	Settings Settings // if NodeTimeout is zero, 2s with full coverage
	Limits   fault.Limits
	Seed     uint64 // if zero, one is drawn and reported by Seed()
	// Clock is the engine's time; if nil, the wall clock.
	Clock Clock
	// Tick is how often timers (TTL, failure detection, promotion) are checked; if zero, 20ms.
	Tick time.Duration
	// Healed, if set, is called with a partition fault once it has healed and
	// the writes acknowledged during it are accounted for (Fault.Writes), from
	// a goroutine of its own.
	Healed     func(*Fault)
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Fault is a fault as the engine holds it.
type Fault struct {
	ID       string     `json:"id"`
	Spec     fault.Spec `json:"spec"`
	Nodes    []string   `json:"nodes"` // real addresses the target resolved to
	Created  time.Time  `json:"created"`
	Starts   time.Time  `json:"starts"`
	Expires  time.Time  `json:"expires"`
	State    string     `json:"state"` // pending, active, expired, removed
	Injected int64      `json:"injected"`
	Source   string     `json:"source,omitempty"` // api, config, scenario:<run id>
	Error    string     `json:"error,omitempty"`  // real mode: what failed
	// Writes is what a partition did to the writes acknowledged during it,
	// once it has healed.
	Writes *WriteLoss `json:"writes,omitempty"`

	engine  *Engine
	action  action
	matcher *matcher
	// What the action does to commands, if it touches them (see action.go).
	hold          holdAction
	cmd           commandAction
	applier       applier
	seq           sequenced
	rank          int
	afterRedirect bool
	count         atomic.Int64 // matching commands seen (for count, after, probability)
	released      chan struct{}
	revert        func(context.Context) error
	partition     *partitionState // a partition, while it lasts
}

// Engine keeps the faults and the virtual cluster, runs their timers,
// scenarios and plans, and publishes into its Policy what the data path does
// to each command.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	clock Clock
	now   func() time.Time
	seed  uint64

	mu         sync.Mutex
	faults     map[string]*Fault
	ended      map[string]*Fault // views of ended faults, for runs' reports (bounded: endedOrder)
	endedOrder []string
	order      []string // ids in creation order
	nextID     int
	vc         *virtual
	rnd        *rand.Rand      // picks (under mu)
	runs       map[string]*Run // bounded: addRunLocked
	runOrder   []string        // run ids in creation order
	nextRun    int
	wake       chan struct{}

	pol      *Policy
	failback *failback          // after Clear: the replaced masters' return
	vcFrom   *topology.Topology // the real topology vc was built from

	metrics  *engineMetrics
	wg       sync.WaitGroup
	settling sync.WaitGroup // real-mode reverts and Healed calls in flight
}

// New returns an engine; Run drives its timers.
func New(cfg Config) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if cfg.Tick == 0 {
		cfg.Tick = 20 * time.Millisecond
	}
	if cfg.Settings.NodeTimeout == 0 {
		cfg.Settings.NodeTimeout = 2 * time.Second
		cfg.Settings.FullCoverage = true
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	if cfg.Policy == nil {
		cfg.Policy = new(Policy)
	}
	e := &Engine{
		cfg:     cfg,
		pol:     cfg.Policy,
		log:     cfg.Logger,
		clock:   cfg.Clock,
		now:     cfg.Clock.Now,
		seed:    seed,
		faults:  map[string]*Fault{},
		ended:   map[string]*Fault{},
		rnd:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		runs:    map[string]*Run{},
		wake:    make(chan struct{}, 1),
		metrics: newEngineMetrics(cfg.Registerer),
	}
	e.pol.snap.Store(&snapshot{quiet: true})
	return e
}

// Policy returns the policy the engine publishes into: the proxy's Policy.
func (e *Engine) Policy() *Policy { return e.pol }

// Seed returns the seed of the engine's random picks.
func (e *Engine) Seed() uint64 { return e.seed }

// Settings returns the cluster settings the virtual cluster follows.
func (e *Engine) Settings() Settings { return e.cfg.Settings }

// Run drives the engine's timers until ctx ends, then reverts every fault.
func (e *Engine) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			e.StopRuns() // else wg.Wait below waits for every scenario's hold
			e.clear("shutdown", false)
			e.wg.Wait()
			return nil
		case <-e.clock.After(e.cfg.Tick):
		case <-e.wake:
		}
		e.step()
	}
}

func (e *Engine) kick() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Add validates a fault and schedules it. Its target is resolved against live
// roles when it starts (or now, if it has no delay).
func (e *Engine) Add(spec fault.Spec, source string) (*Fault, error) {
	if err := spec.Validate(e.cfg.Limits); err != nil {
		return nil, err
	}
	if spec.Mode == "real" && e.cfg.Real == nil {
		return nil, ErrRealRefused
	}
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.ensureVirtualLocked(); err != nil {
		return nil, err
	}
	a := actions[spec.Action] // Validate knows only registered actions
	nodes, err := e.resolveLocked(spec.Target, a)
	if err != nil {
		return nil, err
	}
	if ac, ok := a.(addChecker); ok {
		if err := ac.checkAdd(e, &spec); err != nil {
			return nil, err
		}
	}
	m, err := newMatcher(&spec.Match)
	if err != nil {
		return nil, err
	}
	e.nextID++
	f := &Fault{
		ID:      "f" + strconv.Itoa(e.nextID),
		Spec:    spec,
		Nodes:   nodes,
		Created: now,
		Starts:  now.Add(spec.Delay.D()),
		State:   "pending",
		Source:  source,
		engine:  e,
		action:  a,
		matcher: m,
		rank:    lastRank,
	}
	f.hold, _ = a.(holdAction)
	f.cmd, _ = a.(commandAction)
	f.applier, _ = a.(applier)
	f.seq, _ = a.(sequenced)
	if co, ok := a.(checkOrderer); ok {
		f.rank, f.afterRedirect = co.checkOrder(&f.Spec)
	}
	f.Expires = f.Starts.Add(spec.TTL.D())
	e.faults[f.ID] = f
	e.order = append(e.order, f.ID)
	e.endFailbackLocked() // a new fault acts on the cluster as clients see it now
	e.log.Info("fault added", "id", f.ID, "action", spec.Action, "target", spec.Target, "nodes", nodes,
		"ttl", spec.TTL.D(), "delay", spec.Delay.D(), "source", source)
	if spec.Delay == 0 {
		e.startLocked(f, now)
		e.publishLocked(now)
	} else {
		e.kick()
	}
	return f.view(), nil
}

// view returns a copy safe to hand out.
func (f *Fault) view() *Fault {
	return &Fault{ID: f.ID, Spec: f.Spec, Nodes: append([]string(nil), f.Nodes...), Created: f.Created,
		Starts: f.Starts, Expires: f.Expires, State: f.State, Injected: f.count.Load(), Source: f.Source, Error: f.Error,
		Writes: f.Writes}
}

// maxEnded is how many ended faults the engine remembers for runs.
const maxEnded = 4096

// currentLocked returns the fault's view as it is now (active, or as it ended);
// v itself if the engine no longer knows it. e.mu is held.
func (e *Engine) currentLocked(v *Fault) *Fault {
	if f, ok := e.faults[v.ID]; ok {
		return f.view()
	}
	if f, ok := e.ended[v.ID]; ok {
		return f
	}
	return v
}

// List returns the faults that are pending or active, in creation order.
func (e *Engine) List() []*Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []*Fault{}
	for _, id := range e.order {
		if f, ok := e.faults[id]; ok {
			out = append(out, f.view())
		}
	}
	return out
}

// Get returns one fault.
func (e *Engine) Get(id string) (*Fault, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.faults[id]
	if !ok {
		return nil, ErrFaultNotFound
	}
	return f.view(), nil
}

// Settle waits until the real-mode faults that ended are reverted (a
// partition healed and its lost writes accounted for, Config.Healed called),
// or ctx ends.
func (e *Engine) Settle(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		e.settling.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ended returns a fault that has ended, as it ended (with what a partition
// did to the writes, once known), while the engine remembers it.
func (e *Engine) Ended(id string) (*Fault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.ended[id]
	if !ok {
		return nil, false
	}
	return f.view(), true
}

// Remove ends a fault now.
func (e *Engine) Remove(id string) error {
	now := e.now()
	e.mu.Lock()
	f, ok := e.faults[id]
	if !ok {
		e.mu.Unlock()
		return ErrFaultNotFound
	}
	e.endLocked(f, "removed", now)
	e.publishLocked(now)
	e.mu.Unlock()
	return nil
}

// Clear ends every fault and returns the virtual cluster to the real
// topology: masters a failover replaced take their slots back as with a
// manual failover, once they are back (see failback.go).
func (e *Engine) Clear(reason string) int { return e.clear(reason, true) }

// clear is Clear; without failback, the real topology is back at once (on
// shutdown).
func (e *Engine) clear(reason string, withFailback bool) int {
	now := e.now()
	e.mu.Lock()
	n := 0
	for _, id := range append([]string(nil), e.order...) {
		if f, ok := e.faults[id]; ok {
			e.endLocked(f, "removed", now)
			n++
		}
	}
	e.endFailbackLocked()
	if withFailback {
		e.failback = e.planFailbackLocked(now)
	}
	if e.failback != nil {
		e.publishLocked(now)
		e.kick()
	} else {
		e.vc = nil // back to the real topology
		if err := e.ensureVirtualLocked(); err == nil {
			e.publishLocked(now)
		} else {
			e.pol.snap.Store(&snapshot{quiet: true})
		}
	}
	e.mu.Unlock()
	if n > 0 {
		e.log.Info("faults cleared", "count", n, "reason", reason)
	}
	return n
}

// step runs the timers: delayed starts, expiries, failure detection, promotion.
func (e *Engine) step() {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	changed := false
	for _, id := range append([]string(nil), e.order...) {
		f := e.faults[id]
		if f == nil {
			continue
		}
		switch {
		case f.State == "pending" && !now.Before(f.Starts):
			e.startLocked(f, now)
			changed = true
		case f.State == "active" && !now.Before(f.Expires):
			e.endLocked(f, "expired", now)
			changed = true
		case f.State == "active" && f.Spec.Mode != "real" && e.vc != nil:
			if st, ok := f.action.(stepper); ok && st.step(e, f, now) {
				changed = true
			}
		}
	}
	if e.stepFailbackLocked(now) {
		changed = true
	}
	if e.vc != nil && e.vc.advance(now, e.rnd) {
		changed = true
	}
	// cluster_state also turns with time alone (majority lost after node-timeout).
	if e.vc != nil && e.vc.clusterFail(now) != e.pol.snap.Load().fail {
		changed = true
	}
	if changed {
		e.publishLocked(now)
	}
	e.metrics.setActive(e.activeLocked())
}

// activeLocked counts the active faults by action.
func (e *Engine) activeLocked() map[string]int {
	n := map[string]int{}
	for _, f := range e.faults {
		if f.State == "active" {
			n[string(f.Spec.Action)]++
		}
	}
	return n
}

// ensureVirtualLocked builds the virtual cluster from the real topology, and
// builds it again when the real topology changed (after a real failover, say)
// while the virtual cluster is no different from the real one: targets are
// resolved from live roles.
func (e *Engine) ensureVirtualLocked() error {
	if e.cfg.Data == nil {
		if e.vc != nil {
			return nil
		}
		return ErrNotStarted
	}
	t := e.cfg.Data.Topology()
	switch {
	case t == nil && e.vc == nil:
		return ErrNotStarted
	case t == nil, e.vc != nil && (t == e.vcFrom || e.vc.changed() || e.failback != nil):
		return nil
	}
	e.vc, e.vcFrom = newVirtual(t, e.cfg.Data.Nodes(), e.cfg.Settings), t
	return nil
}

// startLocked makes a fault active.
func (e *Engine) startLocked(f *Fault, now time.Time) {
	f.State = "active"
	f.Starts = now
	f.Expires = now.Add(f.Spec.TTL.D())
	f.released = make(chan struct{})
	e.metrics.injected.WithLabelValues(f.Spec.Action).Inc()
	if f.Spec.Mode == "real" {
		e.startRealLocked(f)
		return
	}
	if ca, ok := f.action.(clusterAction); ok {
		ca.start(e, f, now)
	}
}

func (e *Engine) startRealLocked(f *Fault) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var reverts []func(context.Context) error
	if rf, ok := f.action.(realFaultAction); ok {
		rev, err := rf.realFault(ctx, e, f, f.Starts)
		if err != nil {
			f.Error = err.Error()
			e.log.Warn("real fault failed", "id", f.ID, "err", err)
		}
		f.revert = rev
		return
	}
	ra, _ := f.action.(realAction)
	for _, a := range f.Nodes {
		var rev func(context.Context) error
		err := fmt.Errorf("real mode has no %s action (simulate it)", f.Spec.Action)
		if ra != nil {
			rev, err = ra.real(ctx, e.cfg.Real, a, &f.Spec)
		}
		if err != nil {
			f.Error = err.Error()
			e.log.Warn("real fault failed", "id", f.ID, "node", a, "err", err)
			continue
		}
		if rev != nil {
			reverts = append(reverts, rev)
		}
	}
	// The nodes of one fault come back together (as they went down together).
	f.revert = func(ctx context.Context) error {
		errs := make([]error, len(reverts))
		var wg sync.WaitGroup
		for i, rev := range reverts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = rev(ctx)
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
}

// endLocked ends a fault (expired or removed) and reverts what it did.
func (e *Engine) endLocked(f *Fault, state string, now time.Time) {
	wasActive := f.State == "active"
	f.State = state
	delete(e.faults, f.ID)
	e.ended[f.ID] = f.view()
	e.endedOrder = append(e.endedOrder, f.ID)
	if len(e.endedOrder) > maxEnded {
		delete(e.ended, e.endedOrder[0])
		e.endedOrder = e.endedOrder[1:]
	}
	for i, id := range e.order {
		if id == f.ID {
			e.order = append(e.order[:i], e.order[i+1:]...)
			break
		}
	}
	e.log.Info("fault ended", "id", f.ID, "state", state, "injected", f.count.Load())
	if !wasActive {
		return
	}
	if f.released != nil {
		close(f.released)
	}
	if f.Spec.Mode == "real" {
		if f.revert != nil {
			rev := f.revert
			e.wg.Add(1)
			e.settling.Add(1)
			go func() {
				defer e.wg.Done()
				defer e.settling.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := rev(ctx); err != nil {
					e.log.Warn("real fault revert failed", "id", f.ID, "err", err)
				}
			}()
		}
		return
	}
	if ca, ok := f.action.(clusterAction); ok && e.vc != nil {
		ca.end(e, f, now)
	}
}

// otherFaultHoldsLocked reports whether another active fault keeps a node
// failed (a nodeFailer: down, hang).
func (e *Engine) otherFaultHoldsLocked(f *Fault, addr string) bool {
	for _, g := range e.faults {
		if g == f || g.State != "active" || g.Spec.Mode == "real" {
			continue
		}
		if _, ok := g.action.(nodeFailer); !ok {
			continue
		}
		for _, a := range g.Nodes {
			if a == addr {
				return true
			}
		}
	}
	return false
}

// publishLocked builds the data path's snapshot.
func (e *Engine) publishLocked(now time.Time) {
	var active []*Fault
	for _, id := range e.order {
		if f := e.faults[id]; f != nil && f.State == "active" && f.Spec.Mode != "real" {
			active = append(active, f)
		}
	}
	snap := buildSnapshot(e.vc, active, e.cfg.Settings, e.seed, now)
	snap.metrics = e.metrics
	e.withPartitionLocked(snap, active, now)
	e.withFailbackLocked(snap, now)
	e.pol.snap.Store(snap)
	if snap.virtual {
		// Redis unblocks clients blocked on a slot that fails or moves.
		e.cfg.Data.Interrupt(snap.blockedReply)
	}
}

// Topology returns the virtual cluster as clients see it.
func (e *Engine) Topology() *VirtualView {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.ensureVirtualLocked(); err != nil {
		return nil
	}
	return e.vc.view(e.now())
}

// Nodes returns the data path's nodes with the roles of the virtual cluster:
// the roles clients are told, which differ from the real ones after a
// simulated failover.
func (e *Engine) Nodes() []proxy.NodeInfo {
	nodes := e.cfg.Data.Nodes()
	if v := e.Topology(); v != nil && v.Differ {
		byAddr := map[string]VirtualNode{}
		for _, vn := range v.Nodes {
			byAddr[vn.Addr] = vn
		}
		for i := range nodes {
			if vn, ok := byAddr[nodes[i].Addr]; ok {
				nodes[i].Role, nodes[i].MasterID = vn.Role, vn.Master
			}
		}
	}
	return nodes
}

// pickLocked draws n distinct items from list with the engine's seeded source.
func (e *Engine) pickLocked(list []string, n int) []string {
	l := append([]string(nil), list...)
	sort.Strings(l)
	e.rnd.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
	if n > len(l) {
		n = len(l)
	}
	return l[:n]
}

func (e *Engine) String() string { return fmt.Sprintf("chaos.Engine(seed=%d)", e.seed) }

// partitionOutcomeLocked records what partition f did to the writes
// acknowledged during it, stops watching them, and tells Config.Healed.
func (e *Engine) partitionOutcomeLocked(f *Fault, w *WriteLoss) {
	f.Writes = w
	if v, ok := e.ended[f.ID]; ok {
		v.Writes = w
	}
	e.pol.tracking.CompareAndSwap(f.partition, nil)
	verb := "lost"
	if w.AtRisk {
		verb = "at risk"
	}
	e.log.Info("partition healed", "id", f.ID, "acknowledged", w.Acknowledged, "demoted", w.Demoted, verb, w.Count())
	if e.cfg.Healed != nil {
		v := f.view()
		v.State = "ended"
		if ev, ok := e.ended[f.ID]; ok {
			v = ev
		}
		e.wg.Add(1)
		e.settling.Add(1)
		go func() {
			defer e.wg.Done()
			defer e.settling.Done()
			e.cfg.Healed(v)
		}()
	}
}
