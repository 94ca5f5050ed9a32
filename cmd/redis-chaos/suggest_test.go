package main

import (
	"strings"
	"testing"
)

// TestSuggestions: misspelt scenarios, flags and subcommands get the nearest
// known name, before anything is contacted or started.
func TestSuggestions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"scenario", "run", "master_down", "--api", "127.0.0.1:1"},
			[]string{`unknown scenario "master_down": did you mean "master-down"?`, "known: all-down"}},
		{[]string{"scenario", "run", "zzzzzzzz", "--api", "127.0.0.1:1"},
			[]string{`unknown scenario "zzzzzzzz" (known: `}},
		{[]string{"up", "--base-prot", "7001"},
			[]string{"unknown flag: --base-prot: did you mean --base-port?", "redis-chaos up --help lists its flags"}},
		{[]string{"cluster", "down", "--cluster-bse-port", "21001"},
			[]string{"did you mean --cluster-base-port?"}},
		{[]string{"fault", "add", "--tagret", "master"},
			[]string{"did you mean --target?"}},
		{[]string{"up", "--log-levle", "warn"},
			[]string{"did you mean --log-level?"}}, // an inherited flag
		{[]string{"up", "--zzzzzzzz"},
			[]string{"unknown flag: --zzzzzzzz (redis-chaos up --help"}},
		{[]string{"cluster", "stat"},
			[]string{`unknown command "stat" for "redis-chaos cluster"`, "Did you mean this?\n\tstatus"}},
		{[]string{"fault", "lst"},
			[]string{"Did you mean this?\n\tls"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := runCLI(t, tc.args...)
			if err == nil {
				t.Fatalf("no error\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	// A group command without a subcommand still shows its help.
	if out, err := runCLI(t, "cluster"); err != nil || !strings.Contains(out, "Available Commands") {
		t.Errorf("cluster: %v\n%s", err, out)
	}
}
