package clients

import (
	"fmt"
	"strings"
)

// A Cell is one library, configured one way, under one scenario.
type Cell struct {
	Library  string `json:"library"`
	Config   string `json:"config"`
	Scenario string `json:"scenario"` // a built-in scenario, or "baseline" (no fault)
	// Coverage is the cluster's cluster-require-full-coverage for this cell:
	// "yes" (Redis's default) or "no".
	Coverage string `json:"coverage"`
}

// ID names the cell: "go-redis/good/master-down" (plus "/coverage-no").
func (c Cell) ID() string {
	id := c.Library + "/" + c.Config + "/" + c.Scenario
	if c.Coverage == "no" {
		id += "/coverage-no"
	}
	return id
}

// Libraries of the matrix, in the order of the page.
var Libraries = []string{"go-redis", "rueidis", "redis-py", "ioredis", "node-redis"}

// The scenarios a good configuration is played against: every rule family
// has a scenario in which a good client must stay quiet.
var goodScenarios = []string{"baseline", "replica-down", "master-down", "majority-masters-down",
	"shard-down", "migrate", "hang", "latency", "tryagain"}

// Cells is the whole matrix. Every library is played well configured
// against every scenario of goodScenarios, and in its bad configurations
// against the scenarios that show them (and some that must not).
func Cells() []Cell {
	var out []Cell
	add := func(lib, cfg string, scenarios ...string) {
		for _, s := range scenarios {
			cov := "yes"
			if strings.HasSuffix(s, "/coverage-no") {
				s, cov = strings.TrimSuffix(s, "/coverage-no"), "no"
			}
			out = append(out, Cell{Library: lib, Config: cfg, Scenario: s, Coverage: cov})
		}
	}
	good := func(lib string) {
		for _, s := range goodScenarios {
			if s == "shard-down" {
				s += "/coverage-no"
			}
			add(lib, "good", s)
		}
	}

	good("go-redis")
	add("go-redis", "good", "shard-down", "clusterdown")
	add("go-redis", "no-timeout", "hang", "latency")
	add("go-redis", "no-backoff", "tryagain", "hang")
	add("go-redis", "retry-loop", "tryagain", "clusterdown")
	add("go-redis", "incr-retry", "hang")
	add("go-redis", "safe-incr", "hang", "master-down")
	add("go-redis", "health-restart", "baseline", "replica-down", "master-down", "majority-masters-down")
	add("go-redis", "health-fanout", "baseline", "replica-down")
	add("go-redis", "breaker", "shard-down/coverage-no", "shard-down")
	add("go-redis", "plain", "baseline", "replica-down")
	add("go-redis", "plain-replica", "baseline")
	add("go-redis", "db1", "baseline")
	add("go-redis", "replica-reads", "baseline", "replica-down")
	add("go-redis", "static-slots", "baseline")
	add("go-redis", "manual-redirect", "baseline", "migrate")
	add("go-redis", "fast-reload", "baseline")
	add("go-redis", "big-pipeline", "baseline")
	add("go-redis", "legacy", "baseline")

	good("rueidis")
	add("rueidis", "no-timeout", "hang")
	add("rueidis", "retry-loop", "tryagain")
	add("rueidis", "incr-retry", "hang")
	add("rueidis", "health-restart", "replica-down", "master-down")
	add("rueidis", "breaker", "shard-down/coverage-no")
	add("rueidis", "plain", "baseline")

	good("redis-py")
	add("redis-py", "no-timeout", "hang")
	add("redis-py", "retry-loop", "tryagain")
	add("redis-py", "incr-retry", "hang")
	add("redis-py", "health-restart", "replica-down", "master-down")
	add("redis-py", "breaker", "shard-down/coverage-no")
	add("redis-py", "plain", "baseline")
	add("redis-py", "manual-redirect", "migrate")

	good("ioredis")
	add("ioredis", "no-timeout", "hang")
	add("ioredis", "no-resend", "hang")
	add("ioredis", "no-backoff", "tryagain")
	add("ioredis", "health-restart", "replica-down", "master-down")
	add("ioredis", "reconnect-fast", "hang")
	add("ioredis", "plain", "baseline")

	good("node-redis")
	add("node-redis", "no-timeout", "hang")
	add("node-redis", "retry-loop", "tryagain")
	add("node-redis", "health-restart", "replica-down", "master-down")
	add("node-redis", "reconnect-fast", "hang")
	add("node-redis", "plain", "baseline")
	return out
}

// Select keeps the cells whose ID matches one of the patterns: a pattern is
// a "/"-separated prefix of library, config and scenario where "*" matches
// anything ("ioredis", "*/good", "go-redis/*/hang").
func Select(cells []Cell, patterns []string) ([]Cell, error) {
	if len(patterns) == 0 {
		return cells, nil
	}
	var out []Cell
	used := make([]bool, len(patterns))
	for _, c := range cells {
		parts := strings.Split(c.ID(), "/")
		for i, p := range patterns {
			if matchParts(parts, strings.Split(p, "/")) {
				out = append(out, c)
				used[i] = true
				break
			}
		}
	}
	for i, u := range used {
		if !u {
			return nil, fmt.Errorf("no cell matches %q", patterns[i])
		}
	}
	return out, nil
}

func matchParts(id, pat []string) bool {
	if len(pat) > len(id) {
		return false
	}
	for i, p := range pat {
		if p != "*" && p != id[i] {
			return false
		}
	}
	return true
}
