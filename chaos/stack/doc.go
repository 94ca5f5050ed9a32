// Package stack puts redis-chaos together: the proxy (the data path) in
// front of a Redis Cluster, the chaos engine deciding what the proxy does to
// each command, the checker watching what the clients do, and the control
// API over all three. The command (redis-chaos proxy, up and run), the soak
// and the end-to-end tests all start it here.
//
//	s, err := stack.Start(ctx, stack.Config{
//		Proxy:   proxy.Config{Seeds: []string{"10.0.0.1:6379"}},
//		Checker: &checker.Config{},
//	})
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//	s.Engine.Add(fault.Spec{Action: "down", Target: "master"}, "example")
//
//	clients ──▶ proxy ──────────────────────────────▶ cluster
//	             │  └─ Observer ─▶ checker ◀─ faults, nodes ─┐
//	             └──── Policy ──▶ chaos.Policy ◀─ publishes ─ engine ─▶ SetDown, Interrupt (proxy)
//	                                                          ▲
//	                 control API (faults, runs, findings) ────┘
//
// Real-mode faults act on a cluster this process provisioned: RealCluster
// adapts a provision.Cluster for the engine.
package stack
