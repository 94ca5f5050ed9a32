package main

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestLintCommand(t *testing.T) {
	bad := "../../test/lint/go-redis/bad"
	out, err := cli(t, "lint", bad)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 3 {
		t.Fatalf("lint of a bad sample: %v (want exit 3)\n%s", err, out)
	}
	if out, err := cli(t, "lint", "--fail-on", "none", "../../test/lint/go-redis/good"); err != nil {
		t.Fatalf("lint of a good sample: %v\n%s", err, out)
	}
	out, err = cli(t, "lint", "--format", "sarif", "--fail-on", "none", bad)
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
	if _, err := cli(t, "lint", "--format", "xml", bad); !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("bad --format: %v (want exit 1)", err)
	}
}
