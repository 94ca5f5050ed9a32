package chaos

import (
	"context"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
)

// An action is one kind of fault ("down", "latency", …): a small type in its
// own file, action_<name>.go, listed once in builtinActions. As a fault.Kind
// it has a name and checks the fields it reads; what it does comes from the
// interfaces below that it implements:
//
//	clusterAction  changes the virtual cluster while active     down, hang, failover, migrate
//	holdAction     holds every command sent to its nodes        hang
//	commandAction  decides the fate of the commands it matches  error, latency, reset
//	realAction     acts on a cluster this process provisioned   down, hang, failover, error, migrate
//	realFaultAction  the same, once for the whole fault         partition
//
// and the refinements: targetDefaulter (a fault may leave out its target),
// addChecker (more checks against the live cluster when a fault is added),
// stepper (an active fault that changes with time), applier, sequenced and
// checkOrderer (which commands a command action can touch, and in what order).
type action interface {
	fault.Kind
}

// builtinActions are the actions, in the order users see them listed.
var builtinActions = []action{downAction{}, hangAction{}, latencyAction{}, resetAction{},
	errorAction{}, failoverAction{}, migrateAction{}, partitionAction{}}

// actions are the actions by name.
var actions = map[string]action{}

func init() {
	for _, a := range builtinActions {
		actions[a.Name()] = a
		fault.Register(a)
	}
}

// targetDefaulter is an action whose fault may leave out its target: it then
// acts on defaultTarget (a target or selector). Other actions require one.
type targetDefaulter interface {
	defaultTarget() string
}

// addChecker checks what a fault names against the virtual cluster when the
// fault is added (e.mu is held); the error is returned to the user.
type addChecker interface {
	checkAdd(e *Engine, s *fault.Spec) error
}

// clusterAction changes the virtual cluster while its fault is active: start
// when the fault starts, end when it expires or is removed. e.mu is held and
// e.vc is set.
type clusterAction interface {
	start(e *Engine, f *Fault, now time.Time)
	end(e *Engine, f *Fault, now time.Time)
}

// stepper is a clusterAction whose effect changes with time while active; the
// engine calls step on every tick (e.mu held) and step reports a change.
type stepper interface {
	step(e *Engine, f *Fault, now time.Time) bool
}

// nodeFailer is a clusterAction that fails its nodes in the virtual cluster:
// a node recovers when the last active fault that failed it ends.
type nodeFailer interface {
	failsNodes()
}

// holdAction holds every command sent to its nodes while the fault is
// active, matched or not, before any other check: the node does not answer.
type holdAction interface {
	hold(f *Fault) proxy.Action
}

// commandAction decides the fate of each command its fault matches and fires
// on, at the fault's nodes. Command faults are tried in Redis's order of
// checks (checkOrderer); act sets what the data path does and reports
// whether it is final (a reply, a close), or whether later faults still
// apply (delays add up).
type commandAction interface {
	act(f *Fault, s *snapshot, nv *nodeView, cmd *proxy.Command, a *proxy.Action) (final bool)
}

// applier is a commandAction that only some commands can meet, whatever the
// fault's match: Redis answers OOM only to writes, for instance.
type applier interface {
	applies(s *fault.Spec, cmd *proxy.Command) bool
}

// sequenced is a commandAction that fires on some of the commands it matches
// only, by their number k (1, 2, …) among them.
type sequenced interface {
	fires(s *fault.Spec, k int64) bool
}

// checkOrderer places a commandAction among a node's command faults: rank
// orders them (lower first; others rank lastRank), and afterRedirect reports
// a check Redis makes after the cluster redirection, so that a command the
// node would redirect (or refuse with CROSSSLOT) is not touched.
type checkOrderer interface {
	checkOrder(s *fault.Spec) (rank int, afterRedirect bool)
}

// lastRank is the rank of command faults Redis does not order.
const lastRank = 10

// realAction acts on one node of a cluster this process provisioned (mode
// real). It returns how to undo it when the fault ends, or nil if nothing is
// undone.
type realAction interface {
	real(ctx context.Context, c RealCluster, addr string, s *fault.Spec) (revert func(context.Context) error, err error)
}

// realFaultAction acts on a cluster this process provisioned (mode real) once
// for the whole fault rather than node by node. e.mu is held; now is the
// fault's start.
type realFaultAction interface {
	realFault(ctx context.Context, e *Engine, f *Fault, now time.Time) (revert func(context.Context) error, err error)
}

// RealCluster is a cluster this process provisioned: what real-mode faults
// do to its nodes, each named by its real address. Every call refuses a node
// that is not the cluster's.
type RealCluster interface {
	Kill(ctx context.Context, addr string) error    // the node's process dies (SIGKILL)
	Restart(ctx context.Context, addr string) error // and starts again, with its data
	Pause(ctx context.Context, addr string) error   // the process stops (SIGSTOP)
	Resume(ctx context.Context, addr string) error  // and goes on (SIGCONT)
	// Failover runs CLUSTER FAILOVER on addr, a replica, or on a live
	// replica of addr, a master.
	Failover(ctx context.Context, addr string) error
	// InduceMisconf makes the node fail its background saves: writes get
	// MISCONF until ClearMisconf.
	InduceMisconf(ctx context.Context, addr string) error
	ClearMisconf(ctx context.Context, addr string) error
	// FirstSlot returns the first slot a master serves.
	FirstSlot(ctx context.Context, addr string) (int, error)
	// StartMigration puts slot in migration from one master to another
	// (MIGRATING and IMPORTING); FinishMigration moves its keys and gives it
	// to the importing master.
	StartMigration(ctx context.Context, slot int, from, to string) error
	FinishMigration(ctx context.Context, slot int) error
	// Partition prepares a network partition between the nodes of side and
	// every other node, to be cut with RealPartition.Cut.
	Partition(ctx context.Context, side []string) (RealPartition, error)
}

// failNodesLocked fails the fault's nodes in the virtual cluster: hung
// (unresponsive) or down.
func (e *Engine) failNodesLocked(f *Fault, hang bool, now time.Time) {
	for _, a := range f.Nodes {
		e.vc.fail(a, hang, now, e.rnd)
	}
}

// recoverNodesLocked brings back the fault's nodes that no other active fault
// keeps failed, and reopens their listeners.
func (e *Engine) recoverNodesLocked(f *Fault, now time.Time) {
	for _, a := range f.Nodes {
		if e.otherFaultHoldsLocked(f, a) {
			continue
		}
		e.vc.recover(a, now)
		if err := e.cfg.Data.SetDown(a, false); err != nil {
			e.log.Warn("cannot reopen node listener", "node", a, "err", err)
		}
	}
}
