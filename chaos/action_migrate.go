package chaos

import (
	"context"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// migrateAction moves slots of the target master to the master "to": the
// slots in match.slots, or the first 100 the target serves. The target
// answers ASK for ask_for (default: half the TTL), then MOVED, until the
// fault ends and the slots go back. In real mode the first of those slots is
// migrated for real (MIGRATING/IMPORTING), and finished when the fault ends.
type migrateAction struct{}

func (migrateAction) Name() string { return "migrate" }

func (migrateAction) Check(s *fault.Spec) fault.Errors {
	if s.To == "" {
		return fault.Errors{{Field: "to", Reason: "required for action migrate: the master that receives the slots"}}
	}
	return nil
}

func (migrateAction) Summary(s *fault.Spec) string { return "migrate to " + s.To }

func (m migrateAction) checkAdd(e *Engine, s *fault.Spec) error {
	to, err := e.resolveLocked(s.To, m)
	to = e.mastersLocked(to) // "shard:1" names the shard's master
	if err != nil || len(to) != 1 {
		return &fault.FieldError{Field: "to", Reason: "must name exactly one master"}
	}
	return nil
}

func (m migrateAction) start(e *Engine, f *Fault, now time.Time) {
	to, _ := e.resolveLocked(f.Spec.To, m)
	to = e.mastersLocked(to)
	if len(to) == 0 { // a delayed migration whose receiver is no longer a master
		f.Error = "migrate: " + f.Spec.To + " names no master"
		return
	}
	slots, _ := fault.ParseSlots(f.Spec.Match.Slots)
	e.vc.startMigration(f, f.Nodes[0], to[0], slots, now)
}

func (migrateAction) step(e *Engine, f *Fault, now time.Time) bool { return e.vc.migrationStep(f, now) }

func (migrateAction) end(e *Engine, f *Fault, _ time.Time) { e.vc.endMigration(f) }

func (migrateAction) real(ctx context.Context, c RealCluster, addr string, s *fault.Spec) (func(context.Context) error, error) {
	var slot int
	if s.Match.Slots != "" {
		rs, err := fault.ParseSlots(s.Match.Slots)
		if err != nil {
			return nil, err
		}
		slot = rs[0].From
	} else {
		var err error
		if slot, err = c.FirstSlot(ctx, addr); err != nil {
			return nil, err
		}
	}
	if err := c.StartMigration(ctx, slot, addr, s.To); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return c.FinishMigration(ctx, slot) }, nil
}
