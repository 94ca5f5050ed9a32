package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/chaos/report"
)

// TestRunPartitionReport runs the example app against a real partition that
// cuts a master off with the app on its side: the run's report says how many
// acknowledged writes were lost and lists them, the checker's findings count
// the same writes, and they fail the run.
func TestRunPartitionReport(t *testing.T) {
	needRedis(t)
	app := buildApp(t)
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(plan, []byte(`name: cut
steps:
  - at: 1s
    fault:
      action: partition
      target: master
      mode: real
      match:
        client_name: minority
      ttl: 6s
`), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "reports")
	args := append(runArgs(t, dir), "--mode", "real", "--plan", plan, "--warmup", "500ms",
		"--", app, "--duration", "16s", "--name", "minority", "--workers", "32")
	out, code := runIn(t, 2*time.Minute, args...)
	if code != exitFindings {
		t.Fatalf("exit %d, want %d (findings):\n%s", code, exitFindings, out)
	}
	f, err := os.Open(filepath.Join(dir, report.FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.ReadJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var w *report.Writes
	for _, sc := range r.Scenarios {
		if sc.Name == "plan:cut" {
			w = sc.Writes
		}
	}
	if w == nil || w.Lost == 0 || w.AtRisk || len(w.List) != min(w.Lost, report.MaxListedWrites) || len(w.Demoted) != 1 || w.Acknowledged < w.Lost {
		t.Fatalf("the plan's writes: %+v\n%s", w, out)
	}
	t.Logf("plan:cut: %s", w)
	for _, lw := range w.List {
		if lw.Command != "SET" || lw.Client.Name != "minority" || lw.Node != w.Demoted[0] || lw.Port == "" || lw.Time.IsZero() {
			t.Fatalf("lost write %+v", lw)
		}
	}
	found := 0
	for _, fd := range r.Findings {
		if fd.Rule == checker.RuleWriteLost {
			found += fd.Count
		}
	}
	if found != w.Lost {
		t.Errorf("findings count %d lost writes, the report %d", found, w.Lost)
	}
	if !strings.Contains(out, "acknowledged writes lost") {
		t.Errorf("the run's summary does not say how many writes were lost:\n%s", out)
	}
}
