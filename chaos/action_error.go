package chaos

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// errorAction answers the commands it matches with an error reply instead of
// forwarding them: one of Redis's errors by name (fault.ErrorTexts), with
// Redis's exact text, or a custom "PREFIX message". A named error touches only
// the commands Redis could answer with it (OOM only writes, MOVED only keyed
// commands, …), in Redis's order of checks. In real mode only MISCONF exists:
// the node's background saves fail for real.
type errorAction struct{}

func (errorAction) Name() string          { return "error" }
func (errorAction) defaultTarget() string { return "all" }

func (errorAction) Check(s *fault.Spec) fault.Errors {
	if s.Error == "" {
		return fault.Errors{{Field: "error", Reason: fmt.Sprintf("required for action error: one of %s, or a custom \"PREFIX message\"", strings.Join(fault.ErrorNames(), ", "))}}
	}
	if _, err := s.ErrorText(); err != nil {
		return fault.Errors{{Field: "error", Reason: err.Error()}}
	}
	return nil
}

func (errorAction) Summary(s *fault.Spec) string { return "error " + s.ErrorName() }

// redisCheckOrder is Redis's order of checks in processCommand: cluster
// redirection first, then OOM, MISCONF, NOREPLICAS, READONLY, MASTERDOWN,
// LOADING, BUSY. Custom errors come after them.
var redisCheckOrder = map[string]int{
	"MOVED": 0, "ASK": 0, "CLUSTERDOWN": 0, "CLUSTERDOWN_READONLY": 0, "CLUSTERDOWN_UNBOUND": 0,
	"CROSSSLOT": 0, "TRYAGAIN": 0,
	"OOM": 1, "MISCONF": 2, "NOREPLICAS": 3, "READONLY": 4, "MASTERDOWN": 5, "LOADING": 6, "BUSY": 7,
}

// checkOrder: the errors Redis checks after the cluster redirection are OOM,
// MISCONF, NOREPLICAS, READONLY, MASTERDOWN, LOADING and BUSY.
func (errorAction) checkOrder(s *fault.Spec) (int, bool) {
	r, ok := redisCheckOrder[s.ErrorName()]
	if !ok {
		return lastRank - 1, false
	}
	return r, r > 0
}

// applies reports whether Redis could answer cmd with this error at all.
func (errorAction) applies(s *fault.Spec, cmd *proxy.Command) bool {
	ci := cmd.Info
	keyed := cmd.Slot >= 0
	write := ci != nil && ci.Write
	switch s.ErrorName() {
	case "CROSSSLOT":
		return keyed
	case "MOVED", "ASK", "CLUSTERDOWN", "CLUSTERDOWN_UNBOUND", "TRYAGAIN":
		return keyed && !crossSlot(cmd) // Redis answers CROSSSLOT first
	case "CLUSTERDOWN_READONLY":
		return keyed && write && !crossSlot(cmd)
	case "MISCONF":
		return write || cmd.Name == "PING"
	case "OOM", "NOREPLICAS", "READONLY":
		return write
	case "MASTERDOWN":
		return ci == nil || !ci.OkStale
	case "LOADING":
		return ci == nil || !ci.OkLoading
	case "BUSY":
		return ci == nil || !ci.AllowBusy
	}
	return true
}

func (errorAction) act(f *Fault, s *snapshot, nv *nodeView, cmd *proxy.Command, a *proxy.Action) bool {
	*a = proxy.Action{Kind: proxy.Reply, Reply: s.errorReply(f, nv, cmd), Fault: f.ID}
	return true
}

func (s *snapshot) errorReply(f *Fault, nv *nodeView, cmd *proxy.Command) []byte {
	name := f.Spec.ErrorName()
	if name == "MOVED" || name == "ASK" {
		target := s.redirectTarget(f, nv)
		return []byte("-" + name + " " + strconv.Itoa(cmd.Slot) + " " + target + "\r\n")
	}
	text, _ := f.Spec.ErrorText()
	return []byte("-" + text + "\r\n")
}

// redirectTarget is where an injected MOVED/ASK points: the fault's "to" node,
// or the next master after this node.
func (s *snapshot) redirectTarget(f *Fault, nv *nodeView) string {
	if f.Spec.To != "" {
		for _, n := range s.list {
			if n.addr == f.Spec.To || n.id == f.Spec.To || n.announce == f.Spec.To {
				return n.announce
			}
		}
	}
	var masters []*nodeView
	for _, n := range s.list {
		if n.role == topology.RoleMaster {
			masters = append(masters, n)
		}
	}
	for i, m := range masters {
		if m.idx == nv.idx {
			return masters[(i+1)%len(masters)].announce
		}
	}
	if len(masters) > 0 {
		return masters[0].announce
	}
	return nv.announce
}

func (errorAction) real(ctx context.Context, c RealCluster, addr string, s *fault.Spec) (func(context.Context) error, error) {
	if s.ErrorName() != "MISCONF" {
		return nil, fmt.Errorf("real mode has no %s error: only MISCONF (simulate the others)", s.ErrorName())
	}
	if err := c.InduceMisconf(ctx, addr); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return c.ClearMisconf(ctx, addr) }, nil
}
