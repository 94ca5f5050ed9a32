package chaos

import (
	"context"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// downAction takes nodes down: their proxy listeners close (connections are
// refused and open ones reset) and the virtual cluster sees them fail, as
// when the process dies. In real mode the process is killed, and restarted
// when the fault ends.
type downAction struct{}

func (downAction) Name() string                   { return "down" }
func (downAction) Check(*fault.Spec) fault.Errors { return nil }
func (downAction) failsNodes()                    {}

func (downAction) start(e *Engine, f *Fault, now time.Time) {
	e.failNodesLocked(f, false, now)
	for _, a := range f.Nodes {
		if err := e.cfg.Data.SetDown(a, true); err != nil {
			e.log.Warn("cannot close node listener", "node", a, "err", err)
		}
	}
}

func (downAction) end(e *Engine, f *Fault, now time.Time) { e.recoverNodesLocked(f, now) }

func (downAction) real(ctx context.Context, c RealCluster, addr string, _ *fault.Spec) (func(context.Context) error, error) {
	if err := c.Kill(ctx, addr); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return c.Restart(ctx, addr) }, nil
}
