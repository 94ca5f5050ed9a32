package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/viper"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// FuzzConfigFile feeds arbitrary bytes as a config file to both of its
// readers: viper (every key but faults:) and the strict faults: reader. Neither
// panics; the faults reader either lists problems that each name a field and a
// reason, or returns faults that are valid, with unique names.
//
//	go test -run '^$' -fuzz '^FuzzConfigFile$' -fuzztime 30s ./cmd/redis-chaos
func FuzzConfigFile(f *testing.F) {
	if b, err := os.ReadFile(exampleConfig); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"base-port: 7001\napi: 127.0.0.1:8470\nfaults:\n  - name: slow-replicas\n    action: latency\n    target: replica\n    latency: 20ms\n    ttl: 1h\n",
		"faults:\n  - action: error\n    error: MISCONF\n    target: master\n    match: {commands: [SET], keys: 'user:*', slots: 0-5460, clients: 10.0.0.0/8, probability: 0.5, count: 10}\n    delay: 2s\n",
		"faults:\n  - {name: a, action: down, target: 'shard:1'}\n  - {name: a, action: hang, target: replica}\n",
		"faults:\n  - action: explode\n    bogus: 1\n    match: {command: [GET]}\n  - 42\n",
		"faults: {action: down}\n",
		"faults:\n",
		"base_port: 1\nnodes: x\n",
		"checker:\n  retry-storm: {}\n",
		"- a\n- b\n",
		"a: &a [*a, *a]\n",
		"{",
		"",
	} {
		f.Add([]byte(s))
	}
	limits := fault.Limits{MaxTTL: time.Hour}
	known := configKeys()
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, in []byte) {
		file := filepath.Join(dir, "redis-chaos.yaml")
		if err := os.WriteFile(file, in, 0o600); err != nil {
			t.Fatal(err)
		}
		v := viper.New()
		v.SetConfigFile(file)
		if v.ReadInConfig() == nil {
			for _, k := range []string{"base-port", "api", "api-token", "node-timeout", "seed", "faults", "checker"} {
				v.Get(k)
				v.GetString(k)
				v.GetInt(k)
				v.GetDuration(k)
			}
		}

		list, err := readConfigFaults(file, known, limits)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %v, want a *ConfigError with problems", err)
			}
			for _, p := range ce.Problems {
				if p.Field == "" || p.Reason == "" {
					t.Fatalf("a problem without a field or a reason: %+v", p)
				}
			}
			if list != nil {
				t.Fatalf("faults and an error: %v", err)
			}
			return
		}
		names := map[string]bool{}
		for i, cf := range list {
			if err := cf.Spec.Validate(limits); err != nil {
				t.Fatalf("faults[%d] accepted but does not validate again: %v", i, err)
			}
			if cf.Name != "" {
				if names[cf.Name] {
					t.Fatalf("name %q accepted twice", cf.Name)
				}
				names[cf.Name] = true
			}
			k1, s1 := cf.identity()
			if k2, s2 := cf.identity(); k1 != k2 || s1 != s2 || k1 == "" {
				t.Fatalf("faults[%d]: identity %q/%q then %q/%q", i, k1, s1, k2, s2)
			}
		}
	})
}
