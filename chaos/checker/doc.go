// Package checker watches what clients do through the proxy and reports the
// unsafe behaviours of the catalogue (docs/checker-rules.md) as
// findings, with evidence and a remedy for the client's library.
//
//	ck := checker.New(checker.Config{
//		Faults:     engine,              // which faults are active (FaultSource)
//		Nodes:      srv,                 // roles and ports (*proxy.Server or the virtual cluster)
//		Registerer: reg,
//	})
//	ck.Start()
//	defer ck.Close()
//	srv, _ := proxy.New(proxy.Config{Seeds: seeds, Observer: ck})
//	...
//	api.New(api.Config{Checker: ck, …})  // serves GET|DELETE /v1/findings, GET /v1/clients, GET /v1/rules
//	for _, f := range ck.Findings() { fmt.Println(f.Severity, f.Rule, f.Client, f.Remedy) }
//
// # Data path
//
//	proxy connection goroutines                   checker goroutine (Run)
//	  │ Observe(ev), never blocks
//	  ├─ plain command while quiet ─▶ tally[conn] (one atomic add) ──┐
//	  └─ anything else ─▶ [bounded queue] (full: drop, count) ───────┴─▶ every 10 ms (or half full):
//	                                                                     fold tallies, handle(ev) →
//	                                                                     connections → clients → rules → findings
//	                                                  tick (Config.Tick) ─▶ time-based rules (timeouts, follow-ups)
//
// Observe never blocks: when the checker falls behind, events are dropped
// and counted (redis_chaos_checker_events_dropped_total, Stats). Plain
// commands (GET/SET answered without error or delay) are only counted while
// no rule waits for a follow-up (fastpath.go). Everything the rules remember
// is bounded by Limits: clients, connections, redirected slots, recent
// commands and evidence per finding.
//
// # What the checker sees
//
// The proxy's events carry, for each command, its name and subcommand, the
// first key and its slot, a hash of the exact bytes (equal hashes mean the
// client resent the identical command), the first byte and the first line of
// error replies, the latency, the commands outstanding on the connection, and
// the fault that decided the outcome. Values and other arguments are never
// seen; keys of credential-bearing commands (AUTH, HELLO, MIGRATE, CONFIG SET,
// ACL SETUSER) are never kept, and Config.RedactKeys drops all keys from
// evidence.
//
// # Clients
//
// Connections are grouped into clients by (client IP, lib-name, lib-ver,
// connection name); see client.go for why, and for how connections that fail
// before identifying themselves are attributed.
//
// # Faults
//
// Several rules need to know which faults are active (restart-on-single-fault,
// full-coverage-required, moved-ignored when the target is down). The chaos
// engine provides them through FaultSource. Without one, faults are inferred
// from fault-decided events, held commands and connections the proxy reset.
//
// docs/checker-rules.md lists every rule with its signature, severity,
// threshold, what a correct client does instead, and remedies per library.
package checker
