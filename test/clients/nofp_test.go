package clients

import (
	"os/exec"
	"testing"
)

// noFalsePositiveCells are well-configured apps of every library of the
// matrix, each under a fault that drew false high findings from such apps
// before: a hung master (no-command-timeout, unsafe-retry, write-to-replica
// afterwards), a failover (node-redis's own reconnections looked like an app
// restart), latency (a read timeout met as the reply came). TestMatrixCI
// plays go-redis and rueidis under a hang, and chaos/checker's
// TestCluster/no-false-positives go-redis through every outage: their cells
// are not repeated here.
var noFalsePositiveCells = []string{
	"go-redis/good/latency",
	"rueidis/good/master-down",
	"redis-py/good/hang",
	"ioredis/good/hang",
	"node-redis/good/hang",
	"node-redis/good/master-down",
}

// TestNoFalsePositivesEveryLibrary plays a well-configured app of every
// library of the matrix and fails on any high-severity finding: a good client
// must never fail a build. About 2.5 minutes.
func TestNoFalsePositivesEveryLibrary(t *testing.T) {
	if testing.Short() {
		t.Skip("plays real clients against a real cluster for about 2.5 minutes")
	}
	for _, tool := range []string{"redis-server", "npm", "/usr/bin/python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (test/clients/run.sh installs what the matrix needs)", tool)
		}
	}
	cells, err := Select(Cells(), noFalsePositiveCells)
	if err != nil {
		t.Fatal(err)
	}
	res := play(t, cells, func(r CellResult) { t.Logf("%s: %v (%.0fs)", r.ID, r.Findings, r.Seconds) })
	libs := map[string]bool{}
	for _, c := range res.Cells {
		if c.Error != "" {
			t.Errorf("%s: not played: %s", c.ID, c.Error)
			continue
		}
		libs[c.Library] = true
		for _, f := range c.Findings {
			if f.Severity == "high" {
				t.Errorf("%s: high-severity %s (×%d) for a well-configured %s app; the app: %s", c.ID, f.Rule, f.Count,
					c.Library, c.Expected[f.Rule].Why)
			}
		}
	}
	if len(libs) != len(Libraries) {
		t.Errorf("libraries played: %v", libs)
	}
}
