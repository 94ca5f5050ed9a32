package checker

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/checker-rules.md from the catalogue")

const rulesDoc = "../../docs/checker-rules.md"

// TestRulesDoc keeps docs/checker-rules.md in step with the catalogue:
//
//	go test ./chaos/checker/ -run TestRulesDoc -update
func TestRulesDoc(t *testing.T) {
	want := markdown()
	if *update {
		if err := os.WriteFile(rulesDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(rulesDoc)
	if err != nil || string(got) != want {
		t.Fatalf("%s is out of date (err %v): run go test ./chaos/checker/ -run TestRulesDoc -update", rulesDoc, err)
	}
}

func markdown() string {
	var b strings.Builder
	b.WriteString(`# Checker rules

<!-- Generated from chaos/checker/rules.go by: go test ./chaos/checker/ -run TestRulesDoc -update -->

The checker (package ` + "`chaos/checker`" + `) watches every client connection through the
proxy and reports **findings**: a rule broken by a client, with evidence (sample events
with timestamps; never values, never the arguments of AUTH, HELLO, MIGRATE, CONFIG SET or
ACL SETUSER), an explanation, what a correct client does instead, and a remedy for the
client's library (go-redis, redis-py, Jedis, Lettuce, node-redis, ioredis) when it named
itself with CLIENT SETINFO; otherwise every library's remedy. When the wire cannot rule out
another explanation for what a rule saw (an identical INCR on the same connection may be
another caller's), the finding is marked ` + "`possible`" + ` and ranks one severity below the
rule's; a later occurrence the wire confirms restores the rule's severity.

API: ` + "`GET /v1/findings`" + ` (` + "`?severity=high,medium`" + `, ` + "`?min_severity=medium`" + `, ` + "`?rule=`" + `, ` + "`?client=`" + `),
` + "`DELETE /v1/findings`" + `, ` + "`GET /v1/clients`" + `, ` + "`GET /v1/rules`" + `. Metrics:
` + "`redis_chaos_findings_total{rule,severity}`" + ` (occurrences),
` + "`redis_chaos_checker_events_total`" + `, ` + "`redis_chaos_checker_events_dropped_total`" + `,
` + "`redis_chaos_checker_clients`" + `.

## Severities

| severity | meaning |
|---|---|
| high | data loss or duplication, replies paired with the wrong requests, an application outage caused by the client, or a client that cannot work with a cluster at all |
| medium | load or latency amplification, slow recovery, wrong routing, risky commands |
| low | a configuration mistake that fails loudly |
| info | worth knowing (no rule uses it by default; ` + "`Config.Severities`" + ` can move a rule there) |

A sensibly configured go-redis ClusterClient (timeouts set, default retries) driven through
the seven outage scenarios, MOVED injections and latency gets no high-severity finding
(` + "`TestCluster/no-false-positives`" + `; ` + "`TestScenariosNoFalsePositives`" + ` plays the chaos
engine's seven outage scenarios under load and asserts it per scenario).

## Clients

Connections are grouped into clients by **(client IP, lib-name, lib-ver, connection
name)**. The source port is left out (each pooled connection has its own, and a restarted
application comes back on new ports); the library and the name keep unrelated applications
on one host apart. A connection starts anonymous and joins its client with the first
command that carries CLIENT SETINFO/SETNAME; findings on a connection still in its
handshake wait for its name (go-redis sends SELECT before SETINFO), and connections that
fail before naming themselves are charged to the IP's only identified client when there is
one (the sidecar case).

## Rules

| id | severity | title |
|---|---|---|
`)
	for _, r := range catalogue {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", r.ID, r.ID, r.Severity, r.Title)
	}
	for _, r := range catalogue {
		fmt.Fprintf(&b, "\n### %s\n\n", r.ID)
		fmt.Fprintf(&b, "**%s** — severity **%s**.\n\n", r.Title, r.Severity)
		fmt.Fprintf(&b, "- **Wire signature:** %s.\n", r.Signature)
		fmt.Fprintf(&b, "- **Threshold:** %s.\n", r.Threshold)
		if keys := thresholdKeys(r.ID); keys != "" {
			fmt.Fprintf(&b, "- **Settings** (config `checker: thresholds:`, flag `--checker-threshold NAME=VALUE`): %s.\n", keys)
		}
		fmt.Fprintf(&b, "- **Why it matters:** %s\n", r.Explanation)
		fmt.Fprintf(&b, "- **A correct client:** %s\n", r.Correct)
		fmt.Fprintf(&b, "- **Test:** %s\n\n", ruleTests[r.ID])
		fmt.Fprintf(&b, "| library | remedy |\n|---|---|\n")
		for _, lib := range Libraries {
			fmt.Fprintf(&b, "| %s | %s |\n", lib, strings.ReplaceAll(r.Remedies[lib], "|", "\\|"))
			for _, v := range versionRemedies {
				if v.rule == r.ID && v.lib == lib {
					fmt.Fprintf(&b, "| %s %s | %s |\n", lib, versionRange(v.from, v.to), strings.ReplaceAll(v.text, "|", "\\|"))
				}
			}
		}
		fmt.Fprintf(&b, "| other | %s |\n", r.Remedy)
	}
	b.WriteString(`
## Limits of what the proxy sees

- Events carry the command name and subcommand, the first key and its slot, a hash of the
  exact bytes, the first line of error replies, latency and queue depth — no values and no
  other arguments. So ` + "`dangerous-command`" + ` cannot see a huge ` + "`SCAN COUNT`" + `, and
  ` + "`unbounded-pipeline`" + ` measures outstanding commands, not bytes (the 16 MiB form).
- A node that is ` + "`down`" + ` with its listener closed (` + "`proxy.Server.SetDown`" + `) refuses connections in
  the kernel: the proxy never sees the attempts, so ` + "`reconnect-storm`" + ` shows only where a
  fault accepts connections and then closes them (a reset fault, a fault's Close). A real
  node that refuses connections (killed in real mode, crashed in sidecar mode) makes its proxy
  port refuse them too, so the same holds there; the one connection the proxy accepted before
  it learned that the node refuses is not judged (clients back off refused dials but not an
  accepted connection that is dropped: go-redis's pool stops dialing after PoolSize dial
  errors).
- While a command is held by a ` + "`hang`" + ` fault the proxy does not read the client's socket,
  so a client that times out and closes is not seen closing until the hang ends;
  ` + "`no-command-timeout`" + ` therefore also requires that the client sent nothing new to that
  node (no command, no new connection) for the whole timeout.
- Faults that inject MOVED without changing the topology the cluster reports (a raw
  ` + "`error`" + ` fault, unlike ` + "`migrate`" + `) keep sending a correct client back to the old owner:
  go-redis then re-reads CLUSTER SLOTS about every 200 ms for as long as the MOVEDs last,
  which ` + "`topology-refresh-storm`" + ` reports (medium). ` + "`stale-slot-map`" + ` is not reported when
  the client re-read the topology between the MOVEDs.
- Under load, the checker counts plain commands (GET/SET answered without error, short
  queue) in per-connection tallies instead of evaluating them one by one, as long as no rule
  is waiting for a follow-up; an error, a held or a slow reply switches this off at once.
  Events the checker cannot keep up with are dropped and counted, never waited for.
`)
	return b.String()
}

// ruleTests says how each rule is shown in the tests (rules_test.go has a
// synthetic event stream for every rule as well).
var ruleTests = map[string]string{
	RuleMovedIgnored:         "real client: a plain go-redis `Client` pointed at a node that does not own the key (a ClusterClient on the same MOVED is not flagged).",
	RuleStaleSlotMap:         "real client: go-redis ClusterClient with a static `ClusterSlots` that maps every slot to the wrong master (the default ClusterClient is not flagged).",
	RuleAskWithoutAsking:     "scripted RESP client through an ASK/MOVED migration fault (go-redis, which sends ASKING, is not flagged).",
	RuleAskUpdatesMap:        "scripted RESP client that follows ASK with ASKING once, then sends the slot's next key to the target.",
	RuleTopologyRefreshStorm: "real client: go-redis ClusterClient with `ClusterStateReloadInterval: 50ms`.",
	RuleReconnectStorm:       "real client: go-redis `Client` with `MinRetryBackoff/MaxRetryBackoff: -1` and 10 retries against a node whose connections are reset.",
	RuleNoBackoffRetry:       "real client: go-redis ClusterClient with retry backoff off (`-1`) under TRYAGAIN (the default backoff is not flagged).",
	RuleNoCommandTimeout:     "real client: go-redis ClusterClient with `ReadTimeout: -1` against a hung node.",
	RuleUnsafeRetry:          "real client: go-redis ClusterClient (default retries, 200 ms read timeout) sending INCR to a hung node: it resends the INCR.",
	RuleHealthCheckFanout:    "real client: go-redis `ForEachShard(PING)` five times a second.",
	RuleRestartOnSingleFault: "real client: an application on go-redis that closes and recreates its ClusterClient when a health check over every node fails with one replica down.",
	RuleFullCoverage:         "scripted RESP client that stops serving and polls CLUSTER SLOTS when one shard (master and replicas) is down; go-redis, which keeps serving the other shards, is not flagged.",
	RuleUnboundedPipeline:    "real client: a go-redis pipeline of 5000 commands (pipelines of 16 are not flagged).",
	RuleWriteToReplica:       "real client: `redis-cli` (no -c) SET on a replica's port (go-redis ReadOnly replica reads are not flagged).",
	RuleCrossSlot:            "real client: `redis-cli -c MGET a b c`.",
	RuleSelectNonzero:        "real client: go-redis `Client` with `DB: 1`.",
	RuleDangerousCommand:     "real clients: `redis-cli KEYS *` and go-redis `FlushAll` (blocked by the test's policy).",
	RuleReplyDesyncRisk:      "scripted RESP client that times out on a delayed PING and sends GET on the same connection (and reads the PONG as its reply); go-redis, which drops a connection whose handshake timed out, is not flagged.",
}

// thresholdKeys lists a rule's threshold settings with their defaults.
// versionRange names the versions [from, to): "9.24.0+", "< 5.0.0".
func versionRange(from, to string) string {
	switch {
	case from == "":
		return "< " + to
	case to == "":
		return from + "+"
	}
	return from + " to < " + to
}

func thresholdKeys(rule string) string {
	var keys []string
	for _, x := range ThresholdInfos() {
		if x.Rule == rule {
			keys = append(keys, "`"+x.Name+"` ("+x.Default+")")
		}
	}
	return strings.Join(keys, ", ")
}
