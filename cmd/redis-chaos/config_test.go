package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

const exampleConfig = "../../configs/redis-chaos.example.yaml"

func TestReadConfigFaults(t *testing.T) {
	limits := fault.Limits{MaxTTL: time.Hour}
	tests := []struct {
		name, file, content string
		faults              int
		problems            []string // each must appear in the error
	}{
		{"empty", "c.yaml", "", 0, nil},
		{"no faults", "c.yaml", "base-port: 7001\n", 0, nil},
		{"null faults", "c.yaml", "faults:\n", 0, nil},
		{"empty list", "c.yaml", "faults: []\n", 0, nil},
		{"two faults", "c.yaml", "faults:\n  - {action: down, target: replica}\n  - name: x\n    action: latency\n    latency: 2s\n", 2, nil},
		{"JSON file", "c.json", `{"api": "127.0.0.1:1", "faults": [{"action": "error", "error": "OOM", "match": {"commands": ["SET"]}}]}`, 1, nil},
		{"unknown top-level key", "c.yaml", "base_port: 1\nbogus: 2\n", 0,
			[]string{`base_port: unknown key: did you mean "base-port"? (line 1)`, "bogus: unknown key (line 2)"}},
		{"client flags are not settings", "c.yaml", "ttl: 1m\naction: down\n", 0, []string{"ttl: unknown key", "action: unknown key"}},
		{"not a mapping", "c.yaml", "- a\n- b\n", 0, []string{"file: want a mapping"}},
		{"bad YAML", "c.yaml", "faults: [\n", 0, []string{`yaml: line 1 "faults: [": did not find expected node content`}},
		{"faults not a list", "c.yaml", "faults: {action: down}\n", 0, []string{"faults: want a list of faults (line 1)"}},
		{"fault not a mapping", "c.yaml", "faults:\n  - down\n", 0, []string{"faults[0]: want a mapping"}},
		{"every problem of every fault", "c.yaml", `faults:
  - action: explode
    ttl: 2h
    ask-for: 1s
    commands: [GET]
  - action: error
    error: OOM
    match: {keys: "[", command: [GET], probability: 3}
  - action: latency
    latency: [1]
`, 0, []string{
			"faults[0].ask-for: unknown field: did you mean \"ask_for\"? (line 4)",
			"faults[0].commands: unknown field: commands belongs under match: (line 5)",
			"faults[0].action: unknown action \"explode\"",
			"faults[0].ttl: 2h0m0s is above the maximum TTL 1h0m0s",
			"faults[1].match.command: unknown field (line 8)",
			"faults[1].match.keys: bad glob",
			"faults[1].match.probability: must be between 0 and 1",
			`faults[2].latency: want a duration such as "1.5s", got a list (line 10)`,
		}},
		// Every problem of one entry, each on its own line (a value that
		// cannot be read used to hide the others, on the entry's first line).
		{"every problem of one entry", "c.yaml", "faults:\n  - name: y\n    action: eror\n    ttl: 5q\n    latency: 100\n    match:\n      keys: \"[\"\n", 0, []string{
			`faults[0].action: unknown action "eror": want one of down, hang, latency, reset, error, failover, migrate, partition (line 3)`,
			`faults[0].ttl: bad duration "5q" (want e.g. "1.5s", "200ms") (line 4)`,
			`faults[0].latency: bad duration "100": a number needs a unit ("100ms" or "100s"?) (line 5)`,
			`faults[0].match.keys: bad glob "[" (line 7)`,
		}},
		// Found by FuzzConfigFile: keys that are empty or not names made
		// problems without a field.
		{"keys that are not names", "c.yaml", "? [a, b]\n: 1\n\"\": 2\nfaults:\n  - {action: down, target: all, ? {x: 1} : 2}\n", 0,
			[]string{"(a key that is not a name): unknown key (line 1)", `"": unknown key (line 3)`, "faults[0].(a key that is not a name): unknown field (line 5)"}},
		{"duplicate names", "c.yaml", "faults:\n  - {name: a, action: down, target: all}\n  - {name: a, action: hang, target: all}\n", 0,
			[]string{`faults[1].name: name "a" is already used by faults[0]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			list, err := readConfigFaults(path, configKeys(), limits)
			if tt.problems == nil {
				if err != nil || len(list) != tt.faults {
					t.Fatalf("%d faults, %v; want %d", len(list), err, tt.faults)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a *ConfigError", err)
			}
			if len(ce.Problems) != len(tt.problems) {
				t.Errorf("%d problems, want %d:\n%v", len(ce.Problems), len(tt.problems), err)
			}
			for _, p := range tt.problems {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error lacks %q:\n%v", p, err)
				}
			}
			if !strings.HasPrefix(err.Error(), "config file "+path) {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
	if _, err := readConfigFaults(filepath.Join(t.TempDir(), "none.yaml"), nil, limits); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestConfigIdentity(t *testing.T) {
	a := configFault{Spec: fault.Spec{Action: "down", Target: "all"}}
	b := configFault{Spec: fault.Spec{Action: "down", Target: "replica"}}
	ka, sa := a.identity()
	kb, sb := b.identity()
	if ka == kb || sa == sb {
		t.Error("different unnamed entries share an identity")
	}
	a.Name, b.Name = "x", "x"
	ka, sa = a.identity()
	kb, sb = b.identity()
	if ka != kb || sa == sb {
		t.Error("a named entry that changed must keep its key and change its sum")
	}
}

// TestExampleConfig checks that the example file is valid and documents
// every key a config file may hold.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	list, err := readConfigFaults(exampleConfig, configKeys(), fault.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) < 5 {
		t.Errorf("%d example faults", len(list))
	}
	actions := map[string]bool{}
	for _, f := range list {
		actions[f.Action] = true
	}
	for _, a := range fault.Actions {
		if !actions[a] && !strings.Contains(string(b), "action: "+a) {
			t.Errorf("action %s is not shown", a)
		}
	}
	for key := range configKeys() {
		if key == "config" {
			continue // a file cannot name itself
		}
		if !regexp.MustCompile(`(?m)^#?\s*` + regexp.QuoteMeta(key) + `:`).Match(b) {
			t.Errorf("key %q is not documented in %s", key, exampleConfig)
		}
	}
	for key := range specKeys {
		if !strings.Contains(string(b), key) {
			t.Errorf("fault field %q is not documented", key)
		}
	}
	for key := range matchKeys {
		if !strings.Contains(string(b), key) {
			t.Errorf("match field %q is not documented", key)
		}
	}
	// viper reads it as the commands do.
	cmd := newProxyCmd()
	cmd.Flags().String("config", exampleConfig, "")
	cmd.Flags().String("log-level", "info", "")
	v, err := settings(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if v.GetInt("base-port") != 7001 || v.GetDuration("max-ttl") != time.Hour || v.GetString("api") != "127.0.0.1:8470" {
		t.Errorf("viper: base-port %d max-ttl %v api %q", v.GetInt("base-port"), v.GetDuration("max-ttl"), v.GetString("api"))
	}
}
