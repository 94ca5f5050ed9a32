package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// TestYAMLSyntaxLine: a YAML syntax error is reported at the line where it
// is, not where the enclosing block began.
func TestYAMLSyntaxLine(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"a list item's key indented one space too far", "faults:\n  - action: down\n   target: master\n",
			`line 3 "   target: master": did not find expected '-' indicator (is it indented`},
		{"a key indented under a scalar", "log-level: info\nbase-port: 7001\n  api: 127.0.0.1:8470\n",
			`line 3 "  api: 127.0.0.1:8470": mapping values are not allowed`},
		{"a key indented less than its list item's", "base-port: 7001\nfaults:\n- action: down\n  target: master\n ttl: 1m\n",
			`line 5 " ttl: 1m": did not find expected key`},
		{"the second top-level key indented", "log-level: info\n base-port: 7001\n",
			`line 2 " base-port: 7001"`},
		{"an unterminated quote", "log-level: info\napi: \"127.0.0.1:8470\n",
			`line 2 "api: \"127.0.0.1:8470": found unexpected end of stream`},
		{"a flow list over two lines, then the error", "faults:\n  - {action: down,\n     target: master}\n  - action: hang\n   ttl: 1m\n",
			`line 5 "   ttl: 1m"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n yaml.Node
			err := yaml.Unmarshal([]byte(tc.doc), &n)
			if err == nil {
				t.Fatal("the document parses")
			}
			got := syntaxProblem([]byte(tc.doc), err).Error()
			if !strings.Contains(got, tc.want) {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if strings.Contains(tc.name, "quote") && strings.Contains(got, "indented") {
				t.Errorf("%s: an indentation hint for an unterminated quote", got)
			}
		})
	}
}

// TestYAMLSyntaxCLI: up stops on a config file with a syntax error, naming
// the file and the line, before anything starts.
func TestYAMLSyntaxCLI(t *testing.T) {
	file := filepath.Join(t.TempDir(), "redis-chaos.yaml")
	if err := os.WriteFile(file, []byte("log-level: info\nfaults:\n  - action: down\n   target: master\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI(t, "up", "--config", file, "--api", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "config file "+file) || !strings.Contains(err.Error(), `line 4 "   target: master"`) {
		t.Errorf("up --config with a syntax error on line 4: %v", err)
	}
	// The faults: list's own reader (start-up check and hot reload) says the same.
	_, err = readConfigFaults(file, configKeys(), fault.Limits{MaxTTL: time.Hour})
	if err == nil || !strings.Contains(err.Error(), `line 4 "   target: master"`) {
		t.Errorf("readConfigFaults: %v", err)
	}
}
