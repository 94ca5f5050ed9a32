package chaos

import (
	"context"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// failoverAction promotes a replica at once, as CLUSTER FAILOVER does: the
// target is the replica, or a master whose first live replica takes over.
// As in Redis, the promoted replica stays a master when the fault ends.
type failoverAction struct{}

func (failoverAction) Name() string                   { return "failover" }
func (failoverAction) Check(*fault.Spec) fault.Errors { return nil }

func (failoverAction) start(e *Engine, f *Fault, now time.Time) {
	for _, a := range f.Nodes {
		e.vc.manualFailover(a, now)
	}
}

func (failoverAction) end(*Engine, *Fault, time.Time) {}

func (failoverAction) real(ctx context.Context, c RealCluster, addr string, _ *fault.Spec) (func(context.Context) error, error) {
	return nil, c.Failover(ctx, addr)
}
