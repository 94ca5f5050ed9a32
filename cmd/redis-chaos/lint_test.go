package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLintCommand(t *testing.T) {
	const fixtures = "../../test/lint/fixtures/"
	bad := fixtures + "goredis-readonly-no-fallback/bad"   // a low finding
	high := fixtures + "goredis-redirects-disabled/bad"    // a high finding
	good := fixtures + "goredis-readonly-no-fallback/good" // none
	var ee *exitError
	if out, err := cli(t, "lint", high); !errors.As(err, &ee) || ee.code != exitFindings {
		t.Fatalf("lint of a high finding: %v (want exit 3)\n%s", err, out)
	}
	if out, err := cli(t, "lint", bad); err != nil {
		t.Fatalf("a low finding under --fail-on high: %v\n%s", err, out)
	}
	if out, err := cli(t, "lint", "--fail-on", "low", bad); !errors.As(err, &ee) || ee.code != exitFindings {
		t.Fatalf("--fail-on low: %v\n%s", err, out)
	}
	if out, err := cli(t, "lint", "--fail-on", "low", good); err != nil {
		t.Fatalf("lint of a good sample: %v\n%s", err, out)
	}
	out, err := cli(t, "lint", "--format", "sarif", "--fail-on", "none", high)
	if err != nil {
		t.Fatal(err)
	}
	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs) != 1 || len(sarif.Runs[0].Results) == 0 {
		t.Fatalf("SARIF output: %v\n%s", err, out)
	}
	if _, err := cli(t, "lint", "--format", "xml", bad); !errors.As(err, &ee) || ee.code != exitUsage {
		t.Fatalf("bad --format: %v (want exit 1)", err)
	}

	// a tree whose build declares a client but whose sources are all ignored
	dir := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":      "module x\n\nrequire github.com/redis/go-redis/v9 v9.5.1\n",
		".gitignore":  "*\n!*.mod\n",
		"cmd/main.go": "package main\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err = cli(t, "lint", "--fail-on", "none", dir)
	if !errors.As(err, &ee) || ee.code != exitNothingScanned || !strings.Contains(err.Error(), "0 files scanned") || !strings.Contains(out, "0 file(s) scanned") {
		t.Fatalf("empty scan: %v (want exit %d)\n%s", err, exitNothingScanned, out)
	}
}
