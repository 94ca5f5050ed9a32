package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// Scenario is a named outage: faults injected together, held, then recovered.
type Scenario struct {
	Name    string        `json:"name"`
	Summary string        `json:"summary"`
	Expect  string        `json:"expect"` // what a safe client should see
	Hold    time.Duration `json:"hold"`   // default hold
	Real    bool          `json:"real"`   // can run in real mode
	// faults builds the fault specs; pick draws from the engine's seeded source.
	faults func(p *picker) []fault.Spec
}

// picker chooses nodes and shards for a scenario with the engine's seed.
type picker struct {
	e      *Engine
	shards int
}

func (p *picker) shard() int {
	if p.shards <= 1 {
		return 0
	}
	return p.e.rnd.IntN(p.shards)
}

// minoritySide picks the cut-off side of partition-majority: a minority of
// the masters (at least one), and one replica of each other master, as one
// zone of a cluster spread over three holds.
func (p *picker) minoritySide() string {
	shards := p.e.vc.shards()
	k := max(1, (len(shards)-1)/2)
	order := p.e.rnd.Perm(len(shards))
	var side []string
	for i, s := range order {
		sh := shards[s]
		switch {
		case i < k:
			side = append(side, sh[0].addr)
		case len(sh) > 1:
			side = append(side, sh[1+p.e.rnd.IntN(len(sh)-1)].addr)
		}
	}
	sort.Strings(side)
	return strings.Join(side, ",")
}

func down(target string) fault.Spec { return fault.Spec{Action: "down", Target: target} }

func errOn(target, name string) fault.Spec {
	return fault.Spec{Action: "error", Error: name, Target: target}
}

// Scenarios are the built-in scenarios, by name.
var Scenarios = map[string]*Scenario{}

func register(s *Scenario) { Scenarios[s.Name] = s }

func init() {
	register(&Scenario{Name: "replica-down", Summary: "one replica is down (routine maintenance)",
		Expect: "Nothing should break: masters serve every slot. A client reading from replicas moves its reads to the master or another replica; a health check must not mark the app down.",
		Hold:   10 * time.Second, Real: true,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{down("replica")} }})
	register(&Scenario{Name: "master-down", Summary: "one master is down; a replica takes over after node-timeout",
		Expect: "Commands for that shard's slots fail (connection refused) until the failover: after node-timeout the cluster marks the master failed, every node answers CLUSTERDOWN for about a second (full coverage), then a replica is promoted and MOVED leads clients to it. A safe client retries with backoff, reloads its slot map and recovers within node-timeout plus a few seconds; other shards keep working until the short CLUSTERDOWN window.",
		Hold:   10 * time.Second, Real: true,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{down("master")} }})
	register(&Scenario{Name: "shard-replicas-down", Summary: "every replica of one shard is down",
		Expect: "Writes and master reads keep working everywhere; replica reads of that shard fail and should fall back to the master.",
		Hold:   10 * time.Second, Real: true,
		faults: func(p *picker) []fault.Spec {
			return []fault.Spec{down("replicas-of:shard:" + strconv.Itoa(p.shard()))}
		}})
	register(&Scenario{Name: "majority-masters-down", Summary: "more than half of the masters are down",
		Expect: "No failover can happen: after node-timeout every node is in cluster_state:fail and keyed commands get CLUSTERDOWN on every shard. A safe client fails fast with clear errors, backs off, and recovers when the masters return.",
		Hold:   10 * time.Second, Real: true,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{down("masters:majority")} }})
	register(&Scenario{Name: "all-masters-down", Summary: "every master is down",
		Expect: "Every request fails; the cluster is down. A safe client does not storm reconnects and recovers when masters return.",
		Hold:   10 * time.Second, Real: true,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{down("masters:all")} }})
	register(&Scenario{Name: "shard-down", Summary: "every node of one shard is down",
		Expect: "That shard's reads and writes fail; with cluster-require-full-coverage yes the whole cluster answers CLUSTERDOWN after node-timeout.",
		Hold:   10 * time.Second, Real: true,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{down("shard:" + strconv.Itoa(p.shard()))} }})
	register(&Scenario{Name: "all-down", Summary: "every node is down",
		Expect: "Redis is unreachable: connections are refused. A safe client backs off and recovers; the app should degrade, not crash-loop.",
		Hold:   10 * time.Second, Real: true,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{down("all")} }})
	register(&Scenario{Name: "misconf", Summary: "writes on a master get MISCONF (a failed background save)",
		Expect: "Writes to that master fail with MISCONF; reads keep working. A client must not retry writes in a tight loop.",
		Hold:   10 * time.Second, Real: true,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{errOn("master", "MISCONF")} }})
	register(&Scenario{Name: "clusterdown", Summary: "every node answers CLUSTERDOWN to keyed commands",
		Expect: "Keyed commands fail with CLUSTERDOWN; a safe client retries with backoff, not in a tight loop, and recovers.",
		Hold:   5 * time.Second,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{errOn("all", "CLUSTERDOWN")} }})
	register(&Scenario{Name: "migrate", Summary: "a slot range moves to another master: ASK, then MOVED",
		Expect: "During the migration the source answers ASK: a client sends ASKING to the target and does not update its slot map; after it, MOVED: the client updates its map. No errors reach the application.",
		Hold:   10 * time.Second, Real: true,
		faults: func(p *picker) []fault.Spec {
			return []fault.Spec{{Action: "migrate", Target: "shard:0", To: "shard:1"}}
		}})
	register(&Scenario{Name: "loading", Summary: "a master answers LOADING (restarting with a large dataset)",
		Expect: "Commands on that master fail with LOADING; a safe client retries with backoff.",
		Hold:   5 * time.Second,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{errOn("master", "LOADING")} }})
	register(&Scenario{Name: "readonly", Summary: "a stale master was demoted: writes get READONLY",
		Expect: "Writes on that node fail with READONLY; a safe client reloads its slot map and retries on the new master.",
		Hold:   5 * time.Second,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{errOn("master", "READONLY")} }})
	register(&Scenario{Name: "oom", Summary: "a master is out of memory: writes get OOM",
		Expect: "Writes on that master fail with OOM; reads work. The client must surface the error, not retry it in a loop.",
		Hold:   5 * time.Second,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{errOn("master", "OOM")} }})
	register(&Scenario{Name: "latency", Summary: "every reply is delayed 50-100 ms",
		Expect: "Requests slow down; a client with sensible timeouts keeps working, without retry storms.",
		Hold:   10 * time.Second,
		faults: func(p *picker) []fault.Spec {
			return []fault.Spec{{Action: "latency", Target: "all", Latency: fault.Duration(50 * time.Millisecond), Jitter: fault.Duration(50 * time.Millisecond)}}
		}})
	register(&Scenario{Name: "hang", Summary: "a master stops answering, as when SIGSTOPped or cut off: tests timeouts",
		Expect: "Commands to that master get no reply: a safe client times out (read timeout), does not wait forever, and does not resend non-idempotent commands blindly.",
		// Longer than the checker's command timeout (10s), so that a client
		// without one shows it.
		Hold: 15 * time.Second, Real: true,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{{Action: "hang", Target: "master"}} }})
	register(&Scenario{Name: "partition-master", Summary: "a network partition cuts one master off from the rest of the cluster; half of the clients are on its side",
		Expect: "Clients on the master's side keep writing to its slots until node-timeout, then get CLUSTERDOWN; their commands to every other node get no reply. " +
			"Clients on the other side get no reply from that master; after node-timeout (and about a second) a replica on their side takes over, with the short CLUSTERDOWN window of a failover, and MOVED leads them to it. " +
			"When the partition heals the old master is a replica of the new one, and the writes it acknowledged during the partition are gone (the run reports them). " +
			"A safe client times out instead of waiting, retries with backoff, follows MOVED, and does not take an acknowledged write for a durable one across a failover (WAIT for replicas, or make writes it can replay).",
		Hold: 10 * time.Second, Real: true,
		faults: func(p *picker) []fault.Spec {
			return []fault.Spec{{Action: "partition", Target: "master", Share: 0.5}}
		}})
	register(&Scenario{Name: "partition-majority", Summary: "a network partition splits the cluster: a minority of the masters, with one replica of each other master, is cut off from the rest (as when one of three zones is); half of the clients are on each side",
		Expect: "The minority side cannot elect anything: its masters accept writes until node-timeout, then every node there answers CLUSTERDOWN (its replicas of the other masters too). " +
			"The majority side promotes replicas of the cut-off masters after node-timeout and keeps serving every slot, after the short CLUSTERDOWN window of a failover. " +
			"When the partition heals the cut-off masters are replicas of their successors and the writes they acknowledged during it are gone (the run reports them). " +
			"A safe client on either side times out, retries with backoff, follows MOVED, and does not take an acknowledged write for a durable one across a failover.",
		Hold: 10 * time.Second, Real: true,
		faults: func(p *picker) []fault.Spec {
			return []fault.Spec{{Action: "partition", Target: p.minoritySide(), Share: 0.5}}
		}})
	register(&Scenario{Name: "tryagain", Summary: "a master answers TRYAGAIN (multi-key commands during resharding)",
		Expect: "Keyed commands on that master get TRYAGAIN; a safe client retries after a short delay.",
		Hold:   5 * time.Second,
		faults: func(p *picker) []fault.Spec { return []fault.Spec{errOn("master", "TRYAGAIN")} }})
}

// ScenarioNames lists the built-in scenarios' names, sorted.
func ScenarioNames() []string {
	var names []string
	for _, sc := range ScenarioList() {
		names = append(names, sc.Name)
	}
	return names
}

// ScenarioList returns the built-in scenarios sorted by name.
func ScenarioList() []*Scenario {
	out := make([]*Scenario, 0, len(Scenarios))
	for _, s := range Scenarios {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RunOptions start a scenario or plan.
type RunOptions struct {
	Mode    string        `json:"mode"` // simulate (default) or real
	Hold    time.Duration `json:"hold"` // 0: the scenario's default
	Recover time.Duration `json:"recover"`
	// Clients places clients on the cut-off side of a partition scenario:
	// those its client fields (clients, client_name, lib_name) match; nil
	// keeps the scenario's placement (half of the clients, by identity).
	Clients *fault.Match `json:"clients,omitempty"`
}

// Phase is one phase of a run.
type Phase struct {
	Name  string    `json:"name"` // inject, hold, recover
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitempty"`
}

// Run is one scenario or plan being played.
type Run struct {
	ID       string    `json:"id"`
	Scenario string    `json:"scenario"`
	Mode     string    `json:"mode"`
	Seed     uint64    `json:"seed"`
	Expect   string    `json:"expect,omitempty"`
	Nodes    []string  `json:"nodes"`  // real addresses picked
	Faults   []*Fault  `json:"faults"` // as injected
	Phases   []Phase   `json:"phases"`
	State    string    `json:"state"` // running, done, failed, stopped
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended,omitempty"`

	mu   sync.Mutex
	stop chan struct{} // closed when the run is stopped
	done chan struct{} // closed when the run ends
}

// Snapshot returns a copy safe to serialise.
func (r *Run) Snapshot() *Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &Run{ID: r.ID, Scenario: r.Scenario, Mode: r.Mode, Seed: r.Seed, Expect: r.Expect,
		Nodes: append([]string(nil), r.Nodes...), Faults: append([]*Fault(nil), r.Faults...),
		Phases: append([]Phase(nil), r.Phases...), State: r.State, Error: r.Error, Started: r.Started, Ended: r.Ended}
	return c
}

// Done is closed when the run ends.
func (r *Run) Done() <-chan struct{} { return r.done }

func (r *Run) phase(name string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.Phases); n > 0 && r.Phases[n-1].End.IsZero() {
		r.Phases[n-1].End = now
	}
	if name != "" {
		r.Phases = append(r.Phases, Phase{Name: name, Start: now})
	}
}

// StartScenario injects a built-in scenario now and plays its phases in the
// background: inject → hold → recover.
func (e *Engine) StartScenario(name string, o RunOptions) (*Run, error) {
	sc, ok := Scenarios[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrScenarioNotFound, name)
	}
	if o.Mode == "" {
		o.Mode = "simulate"
	}
	if o.Mode != "simulate" && o.Mode != "real" {
		return nil, &fault.FieldError{Field: "mode", Reason: "want simulate or real"}
	}
	if o.Mode == "real" && (e.cfg.Real == nil || !sc.Real) {
		if e.cfg.Real == nil {
			return nil, ErrRealRefused
		}
		return nil, &fault.FieldError{Field: "mode", Reason: "scenario " + name + " has no real mode"}
	}
	if o.Hold <= 0 {
		o.Hold = sc.Hold
	}
	if o.Hold > e.maxTTL() {
		return nil, &fault.FieldError{Field: "hold", Reason: "above the maximum TTL"}
	}
	if o.Recover <= 0 {
		o.Recover = 2*e.cfg.Settings.NodeTimeout + 2*time.Second
	}
	now := e.now()
	e.mu.Lock()
	if err := e.ensureVirtualLocked(); err != nil {
		e.mu.Unlock()
		return nil, err
	}
	specs := sc.faults(&picker{e: e, shards: len(e.vc.shards())})
	e.nextRun++
	r := &Run{ID: "r" + strconv.Itoa(e.nextRun), Scenario: name, Mode: o.Mode, Seed: e.seed, Expect: sc.Expect,
		State: "running", Started: now}
	e.addRunLocked(r)
	e.mu.Unlock()

	r.phase("inject", now)
	for _, sp := range specs {
		sp.Mode = o.Mode
		if o.Clients != nil && sp.Action == "partition" {
			sp.Share = 0
			sp.Match.Clients, sp.Match.ClientName, sp.Match.LibName = o.Clients.Clients, o.Clients.ClientName, o.Clients.LibName
		}
		// The run removes its faults itself; the TTL is a safety net.
		sp.TTL = fault.Duration(o.Hold + time.Minute)
		if sp.TTL.D() > e.maxTTL() {
			sp.TTL = fault.Duration(e.maxTTL())
		}
		f, err := e.Add(sp, "scenario:"+r.ID)
		if err != nil {
			e.stopRun(r, now, err)
			return r.Snapshot(), err
		}
		r.mu.Lock()
		r.Faults = append(r.Faults, f)
		r.Nodes = append(r.Nodes, f.Nodes...)
		r.mu.Unlock()
	}
	r.phase("hold", e.now())
	e.log.Info("scenario started", "run", r.ID, "scenario", name, "mode", o.Mode, "nodes", r.Nodes, "hold", o.Hold, "seed", e.seed)
	e.wg.Add(1)
	go e.play(r, o)
	return r.Snapshot(), nil
}

func (e *Engine) maxTTL() time.Duration {
	if e.cfg.Limits.MaxTTL > 0 {
		return e.cfg.Limits.MaxTTL
	}
	return time.Hour
}

// play holds a run's faults, then removes them and waits for recovery.
func (e *Engine) play(r *Run, o RunOptions) {
	defer e.wg.Done()
	if !e.sleep(o.Hold, r) {
		return
	}
	r.phase("recover", e.now())
	for _, f := range r.Snapshot().Faults {
		if err := e.Remove(f.ID); err != nil && !errors.Is(err, ErrFaultNotFound) {
			e.log.Warn("scenario recover", "run", r.ID, "err", err)
		}
	}
	if !e.sleep(o.Recover, r) {
		return
	}
	r.phase("", e.now())
	r.mu.Lock()
	if r.State != "running" { // stopped meanwhile: stopRun closed done
		r.mu.Unlock()
		return
	}
	r.State, r.Ended = "done", e.now()
	r.mu.Unlock()
	close(r.done)
	e.log.Info("scenario done", "run", r.ID, "scenario", r.Scenario)
}

// sleep waits d on the engine's clock, or until the run is stopped; it
// reports whether to go on.
func (e *Engine) sleep(d time.Duration, r *Run) bool {
	select {
	case <-e.clock.After(d):
		return true
	case <-r.stop:
		return false
	}
}

// maxEndedRuns is how many ended runs the engine remembers (every running
// run is kept): a looping plan starts runs until it is stopped.
const maxEndedRuns = 1024

// addRunLocked makes r known and forgets the oldest ended runs beyond
// maxEndedRuns. e.mu is held.
func (e *Engine) addRunLocked(r *Run) {
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	e.runs[r.ID] = r
	e.runOrder = append(e.runOrder, r.ID)
	ended := 0
	for _, id := range e.runOrder {
		if e.runs[id].ended() {
			ended++
		}
	}
	if ended <= maxEndedRuns {
		return
	}
	kept := e.runOrder[:0]
	for _, id := range e.runOrder {
		if ended > maxEndedRuns && e.runs[id].ended() {
			delete(e.runs, id)
			ended--
			continue
		}
		kept = append(kept, id)
	}
	clear(e.runOrder[len(kept):])
	e.runOrder = kept
}

// ended reports whether the run is over.
func (r *Run) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

func (e *Engine) stopRun(r *Run, now time.Time, err error) {
	r.mu.Lock()
	if r.State != "running" {
		r.mu.Unlock()
		return
	}
	r.State, r.Ended = "stopped", now
	if err != nil {
		r.State, r.Error = "failed", err.Error()
	}
	r.mu.Unlock()
	close(r.stop)
	for _, f := range r.Snapshot().Faults {
		e.Remove(f.ID)
	}
	close(r.done)
}

// StopRuns stops every running run.
func (e *Engine) StopRuns() {
	e.mu.Lock()
	var rs []*Run
	for _, r := range e.runs {
		rs = append(rs, r)
	}
	e.mu.Unlock()
	for _, r := range rs {
		e.stopRun(r, e.now(), nil)
	}
}

// GetRun returns a run.
func (e *Engine) GetRun(id string) (*Run, error) {
	e.mu.Lock()
	r, ok := e.runs[id]
	e.mu.Unlock()
	if !ok {
		return nil, ErrRunNotFound
	}
	return e.withCurrentFaults(r.Snapshot()), nil
}

// withCurrentFaults replaces the run's faults, as injected, with their state
// now (active, expired, removed).
func (e *Engine) withCurrentFaults(r *Run) *Run {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, f := range r.Faults {
		r.Faults[i] = e.currentLocked(f)
	}
	return r
}

// Runs lists every run.
func (e *Engine) Runs() []*Run {
	e.mu.Lock()
	var rs []*Run
	for _, r := range e.runs {
		rs = append(rs, r)
	}
	e.mu.Unlock()
	out := make([]*Run, 0, len(rs))
	for _, r := range rs {
		out = append(out, e.withCurrentFaults(r.Snapshot()))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// Plan is a user's list of steps at offsets (YAML).
type Plan struct {
	Name  string `yaml:"name" json:"name"`
	Loop  bool   `yaml:"loop" json:"loop"` // start again after the last step, until stopped
	Steps []Step `yaml:"steps" json:"steps"`
}

// Step is a scenario or a fault at an offset from the plan's start.
type Step struct {
	At       fault.Duration `yaml:"at" json:"at"`
	Scenario string         `yaml:"scenario,omitempty" json:"scenario,omitempty"`
	Hold     fault.Duration `yaml:"hold,omitempty" json:"hold,omitempty"`
	Fault    *fault.Spec    `yaml:"fault,omitempty" json:"fault,omitempty"`
}

// ParsePlan reads a plan and checks every step, listing every problem.
func ParsePlan(b []byte, l fault.Limits) (*Plan, error) {
	var p Plan
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		// Read the steps one by one, so that one bad value does not hide
		// the problems of the others.
		if errs := stepProblems(b, l); len(errs) > 0 {
			return nil, errs
		}
		return nil, fmt.Errorf("plan: %w", err)
	}
	var errs fault.Errors
	if len(p.Steps) == 0 {
		errs = append(errs, &fault.FieldError{Field: "steps", Reason: "a plan needs at least one step"})
	}
	for i := range p.Steps {
		errs = append(errs, checkStep(&p.Steps[i], fmt.Sprintf("steps[%d]", i), l)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	sort.SliceStable(p.Steps, func(i, j int) bool { return p.Steps[i].At < p.Steps[j].At })
	return &p, nil
}

// stepProblems decodes each step of a plan that did not decode as a whole
// and returns the problems of every step.
func stepProblems(b []byte, l fault.Limits) fault.Errors {
	var raw struct {
		Steps []yaml.Node `yaml:"steps"`
	}
	if yaml.Unmarshal(b, &raw) != nil {
		return nil
	}
	var errs fault.Errors
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) == nil && len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		top := doc.Content[0].Content
		for i := 0; i+1 < len(top); i += 2 {
			switch k := top[i]; k.Value {
			case "name", "loop", "steps":
			default:
				name := k.Value
				if name == "" || k.Kind != yaml.ScalarNode {
					name = fmt.Sprintf("key at line %d", k.Line)
				}
				errs = append(errs, &fault.FieldError{Field: name, Reason: fmt.Sprintf("unknown field (line %d)", k.Line)})
			}
		}
	}
	for i := range raw.Steps {
		n := &raw.Steps[i]
		field := fmt.Sprintf("steps[%d]", i)
		one, err := yaml.Marshal(n)
		if err != nil {
			continue
		}
		var st Step
		dec := yaml.NewDecoder(bytes.NewReader(one))
		dec.KnownFields(true)
		err = dec.Decode(&st)
		if err != nil && strings.Contains(err.Error(), "unknown anchor") {
			// It uses an anchor of another step: read it in place (without
			// the unknown-field check the whole document already made).
			st = Step{}
			err = n.Decode(&st)
		}
		if err != nil {
			reason, unknown := fault.YAMLReason(err)
			line := n.Line
			if unknown != "" {
				if path, kl := findKey(n, unknown); kl > 0 {
					field, line = field+"."+path, kl
				}
			} else if key, kl := badKey(n); kl > 0 {
				field, line = field+"."+key, kl
			}
			errs = append(errs, &fault.FieldError{Field: field, Reason: fmt.Sprintf("%s (line %d)", reason, line)})
			continue
		}
		errs = append(errs, checkStep(&st, field, l)...)
	}
	return errs
}

// badKey finds the field of a step whose value does not decode (inside its
// fault, the fault's field), and its line.
func badKey(n *yaml.Node) (string, int) {
	bad := fault.DecodeByField(n, new(Step), nil)
	if len(bad) == 0 {
		return "", 0
	}
	if b := bad[0]; b.Key == "fault" {
		if sub := fault.DecodeByField(b.Value, new(fault.Spec), nil); len(sub) > 0 {
			return "fault." + sub[0].Key, sub[0].Value.Line
		}
	}
	return bad[0].Key, bad[0].Value.Line
}

// findKey finds a mapping key named name in n (depth first) and returns its
// path from n ("fault.latncy") and its line in the file.
func findKey(n *yaml.Node, name string) (string, int) {
	if n.Kind != yaml.MappingNode {
		return "", 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == name {
			return name, k.Line
		}
		if p, line := findKey(v, name); line > 0 {
			return k.Value + "." + p, line
		}
	}
	return "", 0
}

// checkStep checks one decoded step.
func checkStep(st *Step, field string, l fault.Limits) fault.Errors {
	var errs fault.Errors
	if st.At < 0 {
		errs = append(errs, &fault.FieldError{Field: field + ".at", Reason: "must not be negative"})
	}
	switch {
	case st.Scenario != "" && st.Fault != nil:
		errs = append(errs, &fault.FieldError{Field: field, Reason: "a step is a scenario or a fault, not both"})
	case st.Scenario != "":
		if _, ok := Scenarios[st.Scenario]; !ok {
			errs = append(errs, &fault.FieldError{Field: field + ".scenario", Reason: fmt.Sprintf("unknown scenario %q (known: %s)", st.Scenario, strings.Join(ScenarioNames(), ", "))})
		}
	case st.Fault != nil:
		if err := st.Fault.Validate(l); err != nil {
			var fe fault.Errors
			if errors.As(err, &fe) {
				for _, e := range fe {
					errs = append(errs, &fault.FieldError{Field: field + ".fault." + e.Field, Reason: e.Reason})
				}
			} else {
				errs = append(errs, &fault.FieldError{Field: field + ".fault", Reason: err.Error()})
			}
		}
	default:
		errs = append(errs, &fault.FieldError{Field: field, Reason: "needs a scenario or a fault"})
	}
	return errs
}
