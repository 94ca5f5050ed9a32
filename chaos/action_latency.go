package chaos

import (
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
)

// latencyAction delays the commands it matches by latency, plus a uniform
// draw of 0 to jitter from the engine's seed. Delays of several latency
// faults add up.
type latencyAction struct{}

func (latencyAction) Name() string          { return "latency" }
func (latencyAction) defaultTarget() string { return "all" }

func (latencyAction) Check(s *fault.Spec) fault.Errors {
	if s.Latency <= 0 && s.Jitter <= 0 {
		return fault.Errors{{Field: "latency", Reason: "a latency fault needs latency and/or jitter above zero"}}
	}
	return nil
}

func (latencyAction) Summary(s *fault.Spec) string {
	d := "latency " + s.Latency.D().String()
	if s.Jitter > 0 {
		d += "±" + s.Jitter.D().String()
	}
	return d
}

func (latencyAction) act(f *Fault, s *snapshot, _ *nodeView, _ *proxy.Command, a *proxy.Action) bool {
	a.Delay += f.Spec.Latency.D()
	if j := f.Spec.Jitter.D(); j > 0 {
		a.Delay += time.Duration(unit(s.seed, f.ID, uint64(f.count.Load()), 1) * float64(j))
	}
	a.Fault = f.ID
	return false
}
