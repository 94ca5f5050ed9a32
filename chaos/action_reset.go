package chaos

import (
	"strconv"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
)

// resetAction resets the client's connection (RST, no reply) on the commands
// it matches, or, with after N, on every Nth of them.
type resetAction struct{}

func (resetAction) Name() string          { return "reset" }
func (resetAction) defaultTarget() string { return "all" }

func (resetAction) Check(s *fault.Spec) fault.Errors {
	if s.After < 0 {
		return fault.Errors{{Field: "after", Reason: "must be 0 or more"}}
	}
	return nil
}

func (resetAction) Summary(s *fault.Spec) string {
	if s.After > 0 {
		return "reset after " + strconv.Itoa(s.After)
	}
	return "reset"
}

func (resetAction) fires(s *fault.Spec, k int64) bool {
	return s.After <= 0 || k%int64(s.After) == 0
}

func (resetAction) act(f *Fault, _ *snapshot, _ *nodeView, _ *proxy.Command, a *proxy.Action) bool {
	*a = proxy.Action{Kind: proxy.Close, Fault: f.ID}
	return true
}
