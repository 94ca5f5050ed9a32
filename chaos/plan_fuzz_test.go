package chaos_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// FuzzParsePlan feeds arbitrary YAML to the plan parser: it never panics; it
// either names every problem (field errors, or the YAML error) or returns a
// plan whose steps are sorted, each a known scenario or a valid fault, and
// that reads back the same after being written out.
//
//	go test -run '^$' -fuzz '^FuzzParsePlan$' -fuzztime 30s ./chaos
func FuzzParsePlan(f *testing.F) {
	for _, s := range []string{
		"name: from-yaml\nsteps:\n  - at: 100ms\n    fault:\n      action: latency\n      target: shard:1\n      latency: 2ms\n      ttl: 150ms\n  - at: 0\n    fault:\n      action: error\n      error: READONLY\n      target: master\n",
		"name: loop\nloop: true\nsteps:\n  - at: 0s\n    scenario: master-down\n    hold: 3s\n  - at: 5s\n    scenario: oom\n",
		"steps:\n  - at: 1s\n    fault: {action: error, error: MISCONF, match: {commands: [SET], categories: [write], keys: 'user:*', slots: 0-5460, clients: 10.0.0.0/8, probability: 0.5, count: 10}, delay: 2s, ttl: 30s}\n",
		"steps:\n  - at: 0\n    fault: {action: migrate, target: 'shard:0', to: 'shard:1', match: {slots: '0-100'}}\n  - at: 2s\n    fault: {action: failover, target: 'replicas-of:shard:2'}\n",
		"steps:\n  - at: -1s\n    scenario: oom\n    fault: {action: down}\n",
		"steps: []\n",
		"steps:\n  - {}\n",
		"name: [1, 2]\n",
		"steps:\n  - at: 1s\n    scenario: nope\n    bogus: 1\n",
		"a: &a [*a]\n",
		"",
	} {
		f.Add([]byte(s))
	}
	limits := fault.Limits{MaxTTL: 10 * time.Minute}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := chaos.ParsePlan(in, limits)
		if err != nil {
			if p != nil {
				t.Fatalf("a plan and an error: %v", err)
			}
			var fes fault.Errors
			if errors.As(err, &fes) {
				for _, fe := range fes {
					if fe.Field == "" || fe.Reason == "" {
						t.Fatalf("a problem without a field or a reason: %+v", fe)
					}
				}
			} else if !strings.HasPrefix(err.Error(), "plan: ") {
				t.Fatalf("error does not say it is the plan's: %v", err)
			}
			return
		}
		if len(p.Steps) == 0 {
			t.Fatal("a plan without steps")
		}
		for i, st := range p.Steps {
			if i > 0 && st.At < p.Steps[i-1].At {
				t.Fatalf("steps not sorted: %v before %v", p.Steps[i-1].At.D(), st.At.D())
			}
			if st.At < 0 {
				t.Fatalf("step %d at %v", i, st.At.D())
			}
			switch {
			case st.Scenario != "" && st.Fault != nil, st.Scenario == "" && st.Fault == nil:
				t.Fatalf("step %d: scenario %q and fault %v", i, st.Scenario, st.Fault)
			case st.Scenario != "":
				if _, ok := chaos.Scenarios[st.Scenario]; !ok {
					t.Fatalf("step %d: unknown scenario %q accepted", i, st.Scenario)
				}
			default:
				if err := st.Fault.Validate(limits); err != nil {
					t.Fatalf("step %d: a fault that does not validate twice: %v", i, err)
				}
			}
		}
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatalf("write the plan back: %v", err)
		}
		back, err := chaos.ParsePlan(out, limits)
		if err != nil {
			t.Fatalf("the plan written back does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip changed the plan:\n%+v\n%+v\n%s", p, back, out)
		}
	})
}
