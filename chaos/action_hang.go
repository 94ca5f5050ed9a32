package chaos

import (
	"context"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
)

// hangAction makes nodes stop answering, as when the process is stopped or
// cut off: every command sent to them is held, unanswered, until the fault
// ends, and the virtual cluster sees them fail. In real mode the process is
// paused (SIGSTOP), and resumed when the fault ends.
type hangAction struct{}

func (hangAction) Name() string                   { return "hang" }
func (hangAction) Check(*fault.Spec) fault.Errors { return nil }
func (hangAction) failsNodes()                    {}

func (hangAction) start(e *Engine, f *Fault, now time.Time) { e.failNodesLocked(f, true, now) }
func (hangAction) end(e *Engine, f *Fault, now time.Time)   { e.recoverNodesLocked(f, now) }

func (hangAction) hold(f *Fault) proxy.Action {
	return proxy.Action{Kind: proxy.Hang, Release: f.released, Fault: f.ID}
}

func (hangAction) real(ctx context.Context, c RealCluster, addr string, _ *fault.Spec) (func(context.Context) error, error) {
	if err := c.Pause(ctx, addr); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return c.Resume(ctx, addr) }, nil
}
