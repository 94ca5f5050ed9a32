package chaos

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// maxRunHistory bounds the phases and faults a looping plan keeps in its run.
const maxRunHistory = 200

// StartPlan plays a user's plan in the background and returns its run at
// once. Each step starts at its offset from the plan's start: a scenario step
// runs the scenario (StartScenario with the step's hold), a fault step adds
// the fault (its own delay and TTL apply from there). The run is done when
// every step has ended; with Loop, the plan starts again after its longest
// step, until the run is stopped (StopRun, StopRuns, or the engine's end).
//
// o.Mode, when set, is the mode of every step; o.Hold and o.Recover are not
// used (each step carries its own).
//
//	plan:  |-- step 0 (at 0s) -------|
//	       |      |-- step 1 (at 5s) ------------|
//	       0s     5s                       cycle end → done, or again with Loop
func (e *Engine) StartPlan(p *Plan, o RunOptions) (*Run, error) {
	if p == nil || len(p.Steps) == 0 {
		return nil, &fault.FieldError{Field: "steps", Reason: "a plan needs at least one step"}
	}
	switch o.Mode {
	case "", "simulate", "real":
	default:
		return nil, &fault.FieldError{Field: "mode", Reason: "want simulate or real"}
	}
	if o.Mode == "real" && e.cfg.Real == nil {
		return nil, ErrRealRefused
	}
	var errs fault.Errors
	for i := range p.Steps {
		st := p.Steps[i] // checked on a copy: Validate normalises the spec it checks
		if st.Fault != nil {
			sp := cloneSpec(st.Fault)
			st.Fault = &sp
		}
		errs = append(errs, checkStep(&st, fmt.Sprintf("steps[%d]", i), e.cfg.Limits)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	name := p.Name
	if name == "" {
		name = "plan"
	}
	mode := o.Mode
	if mode == "" {
		mode = "simulate"
	}
	now := e.now()
	e.mu.Lock()
	if err := e.ensureVirtualLocked(); err != nil {
		e.mu.Unlock()
		return nil, err
	}
	e.nextRun++
	r := &Run{ID: "r" + strconv.Itoa(e.nextRun), Scenario: "plan:" + name, Mode: mode, Seed: e.seed,
		State: "running", Started: now, Nodes: []string{}, Faults: []*Fault{}}
	e.addRunLocked(r)
	e.mu.Unlock()
	steps := append([]Step(nil), p.Steps...)
	e.log.Info("plan started", "run", r.ID, "plan", name, "steps", len(steps), "loop", p.Loop, "seed", e.seed)
	e.wg.Add(1)
	go e.playPlan(r, steps, p.Loop, o.Mode)
	return r.Snapshot(), nil
}

// stepLength is how long a step lasts from its offset.
func (e *Engine) stepLength(st Step) time.Duration {
	if st.Fault != nil {
		ttl := st.Fault.TTL.D()
		if ttl <= 0 {
			ttl = e.cfg.Limits.DefaultTTL
			if ttl <= 0 {
				ttl = 5 * time.Minute
			}
		}
		return st.Fault.Delay.D() + ttl
	}
	hold := st.Hold.D()
	if hold <= 0 {
		hold = Scenarios[st.Scenario].Hold
	}
	return hold + e.recoverTime()
}

func (e *Engine) recoverTime() time.Duration { return 2*e.cfg.Settings.NodeTimeout + 2*time.Second }

// playPlan plays the steps at their offsets, cycle after cycle with loop.
func (e *Engine) playPlan(r *Run, steps []Step, loop bool, mode string) {
	defer e.wg.Done()
	var cycle time.Duration
	for _, st := range steps {
		cycle = max(cycle, st.At.D()+e.stepLength(st))
	}
	var subs []*Run // scenario runs of the current cycle
	stopSubs := func() {
		for _, s := range subs {
			if sr := e.runByID(s.ID); sr != nil {
				e.stopRun(sr, e.now(), nil)
			}
		}
		subs = nil
	}
	for n := 1; ; n++ {
		start := e.now()
		for i, st := range steps {
			if !e.sleep(start.Add(st.At.D()).Sub(e.now()), r) {
				stopSubs()
				return
			}
			label := fmt.Sprintf("step %d", i)
			if loop {
				label = fmt.Sprintf("cycle %d step %d", n, i)
			}
			if st.Scenario != "" {
				label += ": scenario " + st.Scenario
				sr, err := e.StartScenario(st.Scenario, RunOptions{Mode: mode, Hold: st.Hold.D()})
				if err != nil {
					e.log.Warn("plan step failed", "run", r.ID, "step", i, "scenario", st.Scenario, "err", err)
					e.stopRun(r, e.now(), fmt.Errorf("step %d (scenario %s): %w", i, st.Scenario, err))
					stopSubs()
					return
				}
				subs = append(subs, sr)
				r.addStep(label+" ("+sr.ID+")", e.now(), sr.Nodes, sr.Faults)
				continue
			}
			sp := cloneSpec(st.Fault)
			if mode != "" {
				sp.Mode = mode
			}
			label += ": fault " + sp.Action
			f, err := e.Add(sp, "plan:"+r.ID)
			if err != nil {
				e.log.Warn("plan step failed", "run", r.ID, "step", i, "action", sp.Action, "err", err)
				e.stopRun(r, e.now(), fmt.Errorf("step %d (fault %s): %w", i, sp.Action, err))
				stopSubs()
				return
			}
			r.addStep(label+" ("+f.ID+")", e.now(), f.Nodes, []*Fault{f})
		}
		// Wait for the cycle's end, then end what is left of it.
		if !e.sleep(start.Add(cycle).Sub(e.now()), r) {
			stopSubs()
			return
		}
		for _, f := range r.Snapshot().Faults {
			if f.Source == "plan:"+r.ID {
				if err := e.Remove(f.ID); err != nil && !errors.Is(err, ErrFaultNotFound) {
					e.log.Warn("plan: remove fault", "run", r.ID, "fault", f.ID, "err", err)
				}
			}
		}
		for _, s := range subs {
			if sr := e.runByID(s.ID); sr != nil {
				select {
				case <-sr.Done():
				case <-r.stop:
					stopSubs()
					return
				}
			}
		}
		subs = nil
		if !loop {
			break
		}
	}
	r.mu.Lock()
	if r.State != "running" {
		r.mu.Unlock()
		return
	}
	if n := len(r.Phases); n > 0 && r.Phases[n-1].End.IsZero() {
		r.Phases[n-1].End = e.now()
	}
	r.State, r.Ended = "done", e.now()
	r.mu.Unlock()
	close(r.done)
	e.log.Info("plan done", "run", r.ID, "plan", r.Scenario)
}

// addStep records a step of a plan: a phase, the nodes and faults it used.
func (r *Run) addStep(name string, now time.Time, nodes []string, faults []*Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.Phases); n > 0 && r.Phases[n-1].End.IsZero() {
		r.Phases[n-1].End = now
	}
	r.Phases = append(r.Phases, Phase{Name: name, Start: now})
	r.Nodes = append(r.Nodes, nodes...)
	r.Faults = append(r.Faults, faults...)
	if n := len(r.Phases); n > maxRunHistory {
		r.Phases = append([]Phase(nil), r.Phases[n-maxRunHistory:]...)
	}
	if n := len(r.Nodes); n > maxRunHistory {
		r.Nodes = append([]string(nil), r.Nodes[n-maxRunHistory:]...)
	}
	if n := len(r.Faults); n > maxRunHistory {
		r.Faults = append([]*Fault(nil), r.Faults[n-maxRunHistory:]...)
	}
}

// cloneSpec copies a spec, its slices included (Validate normalises them in place).
func cloneSpec(s *fault.Spec) fault.Spec {
	c := *s
	c.Match.Commands = append([]string(nil), s.Match.Commands...)
	c.Match.Categories = append([]string(nil), s.Match.Categories...)
	return c
}

func (e *Engine) runByID(id string) *Run {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs[id]
}

// StopRun stops a running scenario or plan now: its faults are removed (a
// plan also stops the scenarios it started). Stopping a run that has ended
// does nothing.
func (e *Engine) StopRun(id string) error {
	r := e.runByID(id)
	if r == nil {
		return ErrRunNotFound
	}
	e.stopRun(r, e.now(), nil)
	return nil
}
