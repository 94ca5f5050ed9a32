package chaos

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// fakeClock is a Clock that moves only when a test moves it. The tests run
// in a testing/synctest bubble, so that after each move synctest.Wait
// returns once every goroutine of the engine waits on the clock again.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), c: ch})
	return ch
}

// fireNext moves the clock to its earliest timer, if it is not after limit,
// fires every timer due then, and waits for the engine to settle. It
// reports whether a timer fired. The engine must be settled (waiting on the
// clock) when it is called.
func (c *fakeClock) fireNext(limit time.Time) bool {
	c.mu.Lock()
	if len(c.timers) == 0 {
		c.mu.Unlock()
		return false
	}
	next := slices.MinFunc(c.timers, func(a, b fakeTimer) int { return a.at.Compare(b.at) }).at
	if next.After(limit) {
		c.mu.Unlock()
		return false
	}
	c.now = next
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(next) {
			kept = append(kept, t)
		} else {
			t.c <- next
		}
	}
	c.timers = kept
	c.mu.Unlock()
	synctest.Wait()
	return true
}

// advance lets the engine settle, then moves the clock by d, firing the
// timers due on the way in order.
func (c *fakeClock) advance(d time.Duration) {
	synctest.Wait()
	limit := c.Now().Add(d)
	for c.fireNext(limit) {
	}
	c.mu.Lock()
	c.now = limit
	c.mu.Unlock()
}

// clockEngine is an engine on static data and a fake clock, its timers
// running until the test ends. Call it inside synctest.Test.
func clockEngine(t *testing.T) (*Engine, *fakeClock) {
	clk := newFakeClock()
	e := New(Config{Seed: 1, Data: newStaticData(), Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	synctest.Wait()
	return e, clk
}

func phaseNames(r *Run) []string {
	var out []string
	for _, p := range r.Phases {
		out = append(out, p.Name)
	}
	return out
}

func mustRun(t *testing.T, e *Engine, id string) *Run {
	t.Helper()
	r, err := e.GetRun(id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPlanOnTheClock: a plan's steps start at their offsets and the plan ends
// with its longest step, on the engine's clock, to the instant.
func TestPlanOnTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, clk := clockEngine(t)
		t0 := clk.Now()
		r, err := e.StartPlan(&Plan{Name: "steps", Steps: []Step{
			{At: 0, Fault: &fault.Spec{Action: "error", Error: "OOM", Target: "all", TTL: fault.Duration(300 * time.Millisecond)}},
			{At: fault.Duration(250 * time.Millisecond), Fault: &fault.Spec{Action: "latency", Target: "all",
				Latency: fault.Duration(time.Millisecond), TTL: fault.Duration(200 * time.Millisecond)}},
		}}, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		clk.advance(0)
		if got := phaseNames(mustRun(t, e, r.ID)); len(got) != 1 || !strings.HasPrefix(got[0], "step 0: fault error") {
			t.Fatalf("at once: phases %v, want step 0", got)
		}
		clk.advance(249 * time.Millisecond)
		if got := phaseNames(mustRun(t, e, r.ID)); len(got) != 1 {
			t.Fatalf("at 249ms: phases %v, want step 0 only", got)
		}
		clk.advance(time.Millisecond)
		got := mustRun(t, e, r.ID)
		if len(got.Phases) != 2 || !strings.HasPrefix(got.Phases[1].Name, "step 1: fault latency") {
			t.Fatalf("at 250ms: phases %v, want step 1 too", phaseNames(got))
		}
		if at := got.Phases[1].Start.Sub(t0); at != 250*time.Millisecond {
			t.Errorf("step 1 started at %v, want 250ms", at)
		}
		if n := len(e.List()); n != 2 {
			t.Errorf("%d faults active at 250ms, want 2", n)
		}
		clk.advance(199 * time.Millisecond)
		if got := mustRun(t, e, r.ID); got.State != "running" {
			t.Fatalf("at 449ms: state %s, want running until the longest step ends at 450ms", got.State)
		}
		clk.advance(time.Millisecond)
		final := mustRun(t, e, r.ID)
		if final.State != "done" || final.Ended.Sub(t0) != 450*time.Millisecond {
			t.Errorf("state %s, ended at %v, want done at 450ms", final.State, final.Ended.Sub(t0))
		}
		if n := len(e.List()); n != 0 {
			t.Errorf("%d faults left after the plan", n)
		}
	})
}

// TestScenarioOnTheClock: inject and hold at once, recover after the hold,
// done after the recovery, on the engine's clock.
func TestScenarioOnTheClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, clk := clockEngine(t)
		t0 := clk.Now()
		r, err := e.StartScenario("clusterdown", RunOptions{Hold: 10 * time.Second, Recover: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(e.List()); n != 1 {
			t.Fatalf("%d faults after the start, want 1", n)
		}
		clk.advance(10*time.Second - time.Millisecond)
		if got := mustRun(t, e, r.ID); strings.Join(phaseNames(got), " ") != "inject hold" || len(e.List()) != 1 {
			t.Fatalf("before the hold's end: phases %v, %d faults", phaseNames(got), len(e.List()))
		}
		clk.advance(time.Millisecond)
		got := mustRun(t, e, r.ID)
		if strings.Join(phaseNames(got), " ") != "inject hold recover" || got.Phases[2].Start.Sub(t0) != 10*time.Second {
			t.Fatalf("at the hold's end: phases %v", got.Phases)
		}
		if n := len(e.List()); n != 0 {
			t.Errorf("%d faults during the recovery, want 0", n)
		}
		clk.advance(3 * time.Second)
		if got := mustRun(t, e, r.ID); got.State != "done" || got.Ended.Sub(t0) != 13*time.Second {
			t.Errorf("state %s, ended at %v, want done at 13s", got.State, got.Ended.Sub(t0))
		}
	})
}

// TestLoopingPlanKeepsRunsBounded: a looping plan starts a scenario run every
// cycle; the engine keeps every running run and the last maxEndedRuns ended.
func TestLoopingPlanKeepsRunsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := newFakeClock()
		e := New(Config{Seed: 1, Data: newStaticData(), Clock: clk})
		defer e.StopRuns()
		plan, err := e.StartPlan(&Plan{Name: "loop", Loop: true, Steps: []Step{
			{At: 0, Scenario: "clusterdown", Hold: fault.Duration(time.Second)},
		}}, RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		started := func() int {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.nextRun
		}
		synctest.Wait()
		for started() < maxEndedRuns+20 {
			if !clk.fireNext(clk.Now().Add(time.Hour)) {
				t.Fatalf("the loop stopped after %d runs", started())
			}
		}
		e.mu.Lock()
		kept, order := len(e.runs), len(e.runOrder)
		e.mu.Unlock()
		// The plan and its current scenario run, and the last ended ones.
		if kept > maxEndedRuns+2 || order != kept {
			t.Errorf("%d runs kept (%d in order) after %d started, want at most %d", kept, order, started(), maxEndedRuns+2)
		}
		if got := mustRun(t, e, plan.ID); got.State != "running" {
			t.Errorf("the looping plan: %s", got.State)
		}
		if _, err := e.GetRun("r2"); !errors.Is(err, ErrRunNotFound) {
			t.Errorf("the first scenario run is still kept: %v", err)
		}
		if got := mustRun(t, e, plan.ID); len(got.Phases) > maxRunHistory {
			t.Errorf("the plan keeps %d phases", len(got.Phases))
		}
	})
}
