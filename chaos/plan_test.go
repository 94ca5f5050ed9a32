package chaos_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// The plan tests run inside TestEngine (engine_test.go), on its cluster.

func faultStep(at time.Duration, s fault.Spec) chaos.Step {
	return chaos.Step{At: fault.Duration(at), Fault: &s}
}

// planFaults returns the faults a plan run added that are still in the engine.
func planFaults(e *chaos.Engine, runID string) []*chaos.Fault {
	var out []*chaos.Fault
	for _, f := range e.List() {
		if f.Source == "plan:"+runID {
			out = append(out, f)
		}
	}
	return out
}

func testPlanSteps(t *testing.T, on engineFactory) {
	e, _ := on(t, 1)
	p := &chaos.Plan{Name: "steps", Steps: []chaos.Step{
		faultStep(0, fault.Spec{Action: "error", Error: "OOM", Target: "master", Match: fault.Match{Commands: []string{"SET"}}, TTL: fault.Duration(300 * time.Millisecond)}),
		faultStep(250*time.Millisecond, fault.Spec{Action: "latency", Target: "all", Latency: fault.Duration(time.Millisecond), TTL: fault.Duration(200 * time.Millisecond)}),
	}}
	began := time.Now()
	r, err := e.StartPlan(p, chaos.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Scenario != "plan:steps" || r.Mode != "simulate" || r.State != "running" || r.Seed != 1 {
		t.Fatalf("run %+v", r)
	}
	// Step 0 at once, step 1 at 250 ms.
	testenv.Eventually(t, time.Second, func() error {
		if fs := planFaults(e, r.ID); len(fs) != 1 || fs[0].Spec.Action != "error" {
			return fmt.Errorf("faults %v", fs)
		}
		return nil
	})
	testenv.Eventually(t, 2*time.Second, func() error {
		for _, f := range planFaults(e, r.ID) {
			if f.Spec.Action == "latency" {
				return nil
			}
		}
		return errors.New("no latency fault yet")
	})
	if el := time.Since(began); el < 250*time.Millisecond {
		t.Errorf("step 1 started after %v, before its offset", el)
	}
	final := waitDone(t, e, r.ID, 5*time.Second)
	if final.State != "done" {
		t.Fatalf("state %s (%s)", final.State, final.Error)
	}
	names := phaseNames(final)
	if len(names) != 2 || !strings.HasPrefix(names[0], "step 0: fault error") || !strings.HasPrefix(names[1], "step 1: fault latency") {
		t.Errorf("phases %v", names)
	}
	if off := final.Phases[1].Start.Sub(final.Phases[0].Start); off < 240*time.Millisecond || off > time.Second {
		t.Errorf("step 1 started %v after step 0, want ~250ms", off)
	}
	for _, ph := range final.Phases {
		if ph.End.IsZero() {
			t.Errorf("phase %q never ended", ph.Name)
		}
	}
	// The cycle lasts as long as its longest step: 250 ms + 200 ms.
	if d := final.Ended.Sub(final.Started); d < 440*time.Millisecond || d > 3*time.Second {
		t.Errorf("plan lasted %v, want ~450ms", d)
	}
	if len(final.Faults) != 2 || len(final.Nodes) != 10 {
		t.Errorf("run lists %d faults and %d nodes, want 2 and 1+9", len(final.Faults), len(final.Nodes))
	}
	if fs := planFaults(e, r.ID); len(fs) != 0 {
		t.Errorf("faults left after the plan: %v", fs)
	}
}

func testPlanScenarioStop(t *testing.T, on engineFactory) {
	e, _ := on(t, 2)
	p := &chaos.Plan{Name: "scenario", Steps: []chaos.Step{
		{At: 0, Scenario: "misconf", Hold: fault.Duration(time.Minute)},
		faultStep(100*time.Millisecond, fault.Spec{Action: "error", Error: "BUSY", Target: "replica", TTL: fault.Duration(time.Minute)}),
	}}
	r, err := e.StartPlan(p, chaos.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sub *chaos.Run
	testenv.Eventually(t, 2*time.Second, func() error {
		got, _ := e.GetRun(r.ID)
		if len(got.Phases) < 2 {
			return fmt.Errorf("phases %v", phaseNames(got))
		}
		for _, x := range e.Runs() {
			if x.Scenario == "misconf" {
				sub = x
			}
		}
		if sub == nil {
			return errors.New("no misconf run")
		}
		return nil
	})
	got, _ := e.GetRun(r.ID)
	if !strings.Contains(got.Phases[0].Name, "scenario misconf ("+sub.ID+")") {
		t.Errorf("phase 0 %q does not name the scenario run %s", got.Phases[0].Name, sub.ID)
	}
	if len(got.Nodes) != 2 || got.Nodes[0] != sub.Nodes[0] {
		t.Errorf("plan nodes %v, scenario nodes %v", got.Nodes, sub.Nodes)
	}
	if n := len(e.List()); n != 2 {
		t.Fatalf("%d faults active, want 2 (misconf and BUSY)", n)
	}
	if err := e.StopRun(r.ID); err != nil {
		t.Fatal(err)
	}
	final := waitDone(t, e, r.ID, 2*time.Second)
	if final.State != "stopped" {
		t.Errorf("plan state %s", final.State)
	}
	if s := waitDone(t, e, sub.ID, 2*time.Second); s.State != "stopped" {
		t.Errorf("scenario state %s after its plan stopped", s.State)
	}
	if fs := e.List(); len(fs) != 0 {
		t.Errorf("faults left after stopping the plan: %d", len(fs))
	}
	if err := e.StopRun(r.ID); err != nil {
		t.Errorf("stopping twice: %v", err)
	}
	if err := e.StopRun("r999"); !errors.Is(err, chaos.ErrRunNotFound) {
		t.Errorf("StopRun(unknown) = %v", err)
	}
}

func testPlanLoop(t *testing.T, on engineFactory) {
	e, _ := on(t, 3)
	p := &chaos.Plan{Name: "loop", Loop: true, Steps: []chaos.Step{
		faultStep(0, fault.Spec{Action: "error", Error: "TRYAGAIN", Target: "master", TTL: fault.Duration(100 * time.Millisecond)}),
		faultStep(50*time.Millisecond, fault.Spec{Action: "reset", Target: "replica", After: 5, TTL: fault.Duration(100 * time.Millisecond)}),
	}}
	r, err := e.StartPlan(p, chaos.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		got, _ := e.GetRun(r.ID)
		for _, n := range phaseNames(got) {
			if strings.HasPrefix(n, "cycle 3 step 1") {
				return nil
			}
		}
		return fmt.Errorf("phases %v", phaseNames(got))
	})
	if err := e.StopRun(r.ID); err != nil {
		t.Fatal(err)
	}
	final := waitDone(t, e, r.ID, 2*time.Second)
	if final.State != "stopped" {
		t.Errorf("state %s", final.State)
	}
	if fs := e.List(); len(fs) != 0 {
		t.Errorf("faults left after stopping a loop: %d", len(fs))
	}
	// Each cycle's picks come from the seeded source: the cycles differ or
	// not, but every fault named a node.
	for _, f := range final.Faults {
		if len(f.Nodes) != 1 {
			t.Errorf("fault %s picked %v", f.ID, f.Nodes)
		}
	}
}

func testPlanYAML(t *testing.T, on engineFactory) {
	e, _ := on(t, 4)
	p, err := chaos.ParsePlan([]byte(`
name: from-yaml
steps:
  - at: 100ms
    fault:
      action: latency
      target: shard:1
      latency: 2ms
      ttl: 150ms
  - at: 0
    fault:
      action: error
      error: READONLY
      target: replicas-of:shard:0
      match: {categories: [write]}
      ttl: 200ms
`), fault.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.StartPlan(p, chaos.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	final := waitDone(t, e, r.ID, 5*time.Second)
	names := phaseNames(final)
	if final.State != "done" || len(names) != 2 || !strings.Contains(names[0], "error") || !strings.Contains(names[1], "latency") {
		t.Errorf("state %s, phases %v (steps play in offset order)", final.State, names)
	}
	if len(final.Faults) != 2 || len(final.Faults[0].Nodes) != 2 || len(final.Faults[1].Nodes) != 3 {
		t.Errorf("faults %v", final.Faults)
	}
	// A finished run shows its faults as they are now, not as injected.
	for _, f := range final.Faults {
		if f.State != "expired" && f.State != "removed" {
			t.Errorf("fault %s of a finished run is %q", f.ID, f.State)
		}
	}
}

func testBadPlans(t *testing.T, on engineFactory) {
	e, _ := on(t, 5)
	tests := []struct {
		name   string
		plan   *chaos.Plan
		o      chaos.RunOptions
		fields []string
	}{
		{"nil", nil, chaos.RunOptions{}, []string{"steps"}},
		{"no steps", &chaos.Plan{}, chaos.RunOptions{}, []string{"steps"}},
		{"every problem", &chaos.Plan{Steps: []chaos.Step{
			{Scenario: "nope"},
			{},
			{Scenario: "oom", Fault: &fault.Spec{Action: "down"}},
			{At: -1, Scenario: "oom"},
			faultStep(0, fault.Spec{Action: "boom", TTL: fault.Duration(2 * time.Hour)}),
		}}, chaos.RunOptions{}, []string{"steps[0].scenario", "steps[1]", "steps[2]", "steps[3].at", "steps[4].fault.action", "steps[4].fault.ttl"}},
		{"bad mode", &chaos.Plan{Steps: []chaos.Step{{Scenario: "oom"}}}, chaos.RunOptions{Mode: "pretend"}, []string{"mode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.StartPlan(tt.plan, tt.o)
			var got []string
			var fes fault.Errors
			var fe *fault.FieldError
			switch {
			case errors.As(err, &fes):
				for _, x := range fes {
					got = append(got, x.Field)
				}
			case errors.As(err, &fe):
				got = []string{fe.Field}
			default:
				t.Fatalf("StartPlan = %v, want field errors %v", err, tt.fields)
			}
			if strings.Join(got, " ") != strings.Join(tt.fields, " ") {
				t.Errorf("fields %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
	if _, err := e.StartPlan(&chaos.Plan{Steps: []chaos.Step{{Scenario: "master-down"}}}, chaos.RunOptions{Mode: "real"}); !errors.Is(err, chaos.ErrRealRefused) {
		t.Errorf("real mode without a provisioned cluster: %v", err)
	}
	if rs := e.Runs(); len(rs) != 0 {
		t.Errorf("refused plans made %d runs", len(rs))
	}
	// A step that fails when it is played (no such shard) fails the run.
	r, err := e.StartPlan(&chaos.Plan{Steps: []chaos.Step{faultStep(0, fault.Spec{Action: "down", Target: "shard:7"})}}, chaos.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	final := waitDone(t, e, r.ID, 2*time.Second)
	if final.State != "failed" || !strings.Contains(final.Error, "no shard 7") {
		t.Errorf("state %s, error %q", final.State, final.Error)
	}
}

// TestParsePlanListsEveryProblem: a plan with a bad value in one step still
// gets every other step's problem listed, each with its step and line.
func TestParsePlanListsEveryProblem(t *testing.T) {
	_, err := chaos.ParsePlan([]byte(`name: bad steps
steps:
  - at: soon
    scenario: master-down
  - at: 10s
    scenario: master-dwn
  - at: 20s
    fault: {action: explode, target: all}
  - at: 30s
    scenario: oom
    bogus: 1
`), fault.Limits{})
	var fe fault.Errors
	if !errors.As(err, &fe) {
		t.Fatalf("err %v, want every problem listed", err)
	}
	got := map[string]string{}
	for _, e := range fe {
		got[e.Field] = e.Reason
	}
	for field, want := range map[string]string{
		"steps[0].at":           `bad duration "soon" (want e.g. "1.5s", "200ms") (line 3)`,
		"steps[1].scenario":     `unknown scenario "master-dwn"`,
		"steps[2].fault.action": "explode",
		"steps[3].bogus":        "unknown field (line 11)",
	} {
		if !strings.Contains(got[field], want) {
			t.Errorf("%s: %q, want it to mention %q (all: %v)", field, got[field], want, fe)
		}
	}
	if len(fe) != 4 {
		t.Errorf("%d problems, want 4: %v", len(fe), fe)
	}
}

// TestParsePlanProblemsWithAnchorsAndTopLevel: reading the steps one by one
// keeps anchors working and does not hide a problem outside the steps.
func TestParsePlanProblemsWithAnchorsAndTopLevel(t *testing.T) {
	_, err := chaos.ParsePlan([]byte(`nmae: typo
steps:
  - at: 0s
    fault: &f {action: latency, target: all, latency: 1ms}
  - at: 1s
    fault: *f
  - at: soon
    scenario: oom
`), fault.Limits{})
	var fe fault.Errors
	if !errors.As(err, &fe) {
		t.Fatalf("err %v, want every problem listed", err)
	}
	var fields []string
	for _, e := range fe {
		fields = append(fields, e.Field)
		if strings.Contains(e.Reason, "anchor") {
			t.Errorf("spurious problem %s: %s", e.Field, e.Reason)
		}
	}
	if len(fe) != 2 || fe[0].Field != "nmae" || fe[1].Field != "steps[2].at" {
		t.Errorf("problems %v, want the top-level typo and steps[2]", fe)
	}
}
