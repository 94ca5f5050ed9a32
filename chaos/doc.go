// Package chaos is the chaos engine: it keeps the faults, plays scenarios
// and plans, and runs a virtual cluster, the Redis Cluster that clients see
// through the proxy, which fails as Redis Cluster fails (a dead master is
// flagged after node-timeout and replaced by a replica; a majority of
// masters lost, or an uncovered slot, puts the cluster in
// cluster_state:fail). Simulated faults change only the virtual cluster and
// the replies; real-mode faults act on a cluster this process provisioned.
//
//	pol := new(chaos.Policy)                       // the proxy's Policy
//	srv, _ := proxy.New(proxy.Config{Seeds: seeds, Policy: pol})
//	eng := chaos.New(chaos.Config{Data: srv, Policy: pol, Settings: st})
//	srv.Start(ctx)
//	go eng.Run(ctx)                                // the timers: TTLs, failure detection, promotions
//	eng.Add(fault.Spec{Action: "down", Target: "master"}, "api")
//	eng.StartScenario("master-down", chaos.RunOptions{})
//
// chaos/stack does this assembly, with the checker and the control API.
//
//	           Add, Remove, StartScenario, StartPlan
//	                          │
//	                          ▼
//	Clock ──tick──▶ Engine: faults, runs, virtual cluster ──SetDown, Interrupt──▶ proxy (Data)
//	                          │ publish (on every change)
//	                          ▼
//	proxy ──Command──▶ Policy: immutable snapshot ──▶ forward, reply, delay, hold, close
//
// Each fault action ("down", "latency", …) is a small type in its own file,
// action_<name>.go, registered once (action.go); package fault holds the
// fault format and its checks.
package chaos
