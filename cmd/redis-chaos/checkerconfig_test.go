package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// thresholdsFrom reads the thresholds as `proxy` would with this config file
// content (none if empty) and these command-line arguments.
func thresholdsFrom(t *testing.T, file string, args ...string) (checker.Thresholds, error) {
	t.Helper()
	cmd := newProxyCmd()
	cmd.Flags().String("config", "", "")
	cmd.Flags().String("log-level", "info", "")
	if file != "" {
		path := filepath.Join(t.TempDir(), "c.yaml")
		writeFile(t, path, file)
		args = append(args, "--config", path)
	}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	v, err := settings(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return checkerThresholds(v)
}

func TestCheckerThresholds(t *testing.T) {
	t.Run("none set: zero (the checker's defaults)", func(t *testing.T) {
		th, err := thresholdsFrom(t, "")
		if err != nil || th != (checker.Thresholds{}) {
			t.Fatalf("%+v, %v", th, err)
		}
	})
	t.Run("file, then flags by name", func(t *testing.T) {
		th, err := thresholdsFrom(t, "checker:\n  thresholds:\n    command-timeout: 5s\n    stale-moved: 4\n    resend-share: 0.25\n",
			"--checker-threshold", "command-timeout=1s", "--checker-threshold", "reconnect-rate=7.5")
		if err != nil {
			t.Fatal(err)
		}
		want := checker.Thresholds{CommandTimeout: time.Second, StaleMoved: 4, ResendShare: 0.25, ReconnectRate: 7.5}
		if th != want {
			t.Errorf("got %+v\nwant %+v", th, want)
		}
	})
	t.Run("environment, replaced by the flag", func(t *testing.T) {
		t.Setenv("REDIS_CHAOS_CHECKER_THRESHOLD", "command-timeout=3s,pipeline-max=50")
		th, err := thresholdsFrom(t, "checker:\n  thresholds:\n    pipeline-max: 10\n    stale-moved: 4\n")
		if err != nil {
			t.Fatal(err)
		}
		if want := (checker.Thresholds{CommandTimeout: 3 * time.Second, PipelineMax: 50, StaleMoved: 4}); th != want {
			t.Errorf("env over file: got %+v, want %+v", th, want)
		}
		th, err = thresholdsFrom(t, "", "--checker-threshold", "desync-gap=1s")
		if err != nil {
			t.Fatal(err)
		}
		if want := (checker.Thresholds{DesyncGap: time.Second}); th != want {
			t.Errorf("flag over env: got %+v, want %+v", th, want)
		}
	})
	t.Run("the file's checker-threshold list", func(t *testing.T) {
		th, err := thresholdsFrom(t, "checker-threshold: [command-timeout=2s, crossslot-count=9]\n")
		if err != nil || th != (checker.Thresholds{CommandTimeout: 2 * time.Second, CrossSlotCount: 9}) {
			t.Errorf("%+v, %v", th, err)
		}
	})
	t.Run("every problem listed", func(t *testing.T) {
		_, err := thresholdsFrom(t, `checker:
  thresholds:
    command-timeout: 10
    reconnect_rate: 3
    reconect-rate: 3
    resend-share: 2
    stale-moved: [1]
  rules: {}
`, "--checker-threshold", "bogus=1", "--checker-threshold", "comand-timeout=1s", "--checker-threshold", "moved-follow=-1s", "--checker-threshold", "pipeline-max")
		var te *ThresholdError
		if !errors.As(err, &te) {
			t.Fatalf("error %v, want a *ThresholdError", err)
		}
		want := []string{
			"checker.rules: unknown key",
			`checker.thresholds.command-timeout: "10" is not a duration`,
			`checker.thresholds.reconnect_rate: unknown threshold: did you mean "reconnect-rate"?`,
			`checker.thresholds.reconect-rate: unknown threshold: did you mean "reconnect-rate"?`,
			"checker.thresholds.resend-share: 2: a share must be in (0, 1]",
			"checker.thresholds.stale-moved: want one value",
			"--checker-threshold bogus=1: unknown threshold (",
			`--checker-threshold comand-timeout=1s: unknown threshold: did you mean "command-timeout"?`,
			"--checker-threshold moved-follow=-1s: -1s: must be positive",
			"--checker-threshold pipeline-max: want NAME=VALUE",
		}
		if len(te.Problems) != len(want) {
			t.Errorf("%d problems, want %d:\n%v", len(te.Problems), len(want), err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error lacks %q:\n%v", w, err)
			}
		}
	})
	t.Run("checker not a mapping", func(t *testing.T) {
		if _, err := thresholdsFrom(t, "checker: 5\n"); err == nil || !strings.Contains(err.Error(), "checker: want a mapping") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("the example documents every threshold with its default", func(t *testing.T) {
		b, err := os.ReadFile(exampleConfig)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range checker.ThresholdInfos() {
			if !strings.Contains(string(b), "\n    "+x.Name+": "+x.Default+" ") {
				t.Errorf("%s: %s is not in %s", x.Name, x.Default, exampleConfig)
			}
		}
		th, err := thresholdsFrom(t, string(b))
		if err != nil {
			t.Fatal(err)
		}
		var def checker.Thresholds
		for name, val := range def.Values() {
			if err := def.Set(name, val); err != nil {
				t.Fatal(err)
			}
		}
		if th != def {
			t.Errorf("the example's thresholds are not the defaults:\n%+v\n%+v", th, def)
		}
	})
}

// TestCheckerThresholdFlag: a lowered threshold changes what the running
// proxy reports. Two proxies in front of one cluster, one with
// --checker-threshold command-timeout=1s; the same client without a read
// timeout waits about 3 s on a hung master through each. Only the lowered one
// reports no-command-timeout (the default 10 s is never reached), and its
// GET /v1/rules shows the threshold in effect.
func TestCheckerThresholdFlag(t *testing.T) {
	needRedis(t)
	cl := testenv.StartCluster(t, testenv.ClusterOptions{NodeTimeout: time.Second})
	ctx := t.Context()
	type proxyRun struct {
		name   string
		api    *api.Client
		addr   string
		client *redis.ClusterClient
	}
	var runs []*proxyRun
	for _, extra := range [][]string{nil, {"--checker-threshold", "command-timeout=1s"}} {
		b, addr := startProxyCLI(t, cl.Seed(), extra...)
		m := seedLine.FindStringSubmatch(b.out.String())
		if m == nil {
			t.Fatalf("no seed address:\n%s", b.out.String())
		}
		r := &proxyRun{name: fmt.Sprint("proxy ", extra), api: api.NewClient(addr, ""), addr: addr,
			client: redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(m[1], ","),
				ReadTimeout: -1, ClientName: "waits-forever"})}
		t.Cleanup(func() { r.client.Close() })
		if err := r.client.Set(ctx, "held", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	// GET /v1/rules shows the thresholds in effect.
	for i, want := range []string{"10s", "1s"} {
		resp, err := http.Get("http://" + runs[i].addr + "/v1/rules")
		if err != nil {
			t.Fatal(err)
		}
		var body checker.RulesBody
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := body.Thresholds["command-timeout"]; got != want {
			t.Errorf("%s: GET /v1/rules command-timeout %q, want %q", runs[i].name, got, want)
		}
	}
	// Hang GETs of the key on every master for 3 s, through both proxies at once.
	done := make(chan error, len(runs))
	for _, r := range runs {
		if _, err := r.api.AddFault(ctx, fault.Spec{Action: "hang", Target: "masters:all",
			Match: fault.Match{Commands: []string{"GET"}, Keys: "held"}, TTL: fault.Duration(3 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		go func() { done <- r.client.Get(ctx, "held").Err() }()
	}
	for range runs {
		if err := <-done; err != nil {
			t.Errorf("GET after the hang: %v", err)
		}
	}
	findings := func(r *proxyRun) []string {
		fs, err := r.api.Findings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var rules []string
		for _, f := range fs {
			rules = append(rules, f.Rule)
		}
		return rules
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		if got := findings(runs[1]); !contains(got, checker.RuleNoCommandTimeout) {
			return fmt.Errorf("%s: findings %v, want %s", runs[1].name, got, checker.RuleNoCommandTimeout)
		}
		return nil
	})
	if got := findings(runs[0]); contains(got, checker.RuleNoCommandTimeout) {
		t.Errorf("%s: findings %v: a 3 s wait is under the default 10 s", runs[0].name, got)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
