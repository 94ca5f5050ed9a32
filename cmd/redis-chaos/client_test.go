package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

const testToken = "t0ken"

// TestCLI runs the clients of the control API (fault, scenario, topology,
// findings) and the config file's faults against `redis-chaos proxy` in front
// of a real cluster: one cluster for the whole file.
func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{NodeTimeout: time.Second})
	dir := t.TempDir()
	conf := filepath.Join(dir, "redis-chaos.yaml")
	pinned := testenv.FreeBasePort(t, 1)
	writeFile(t, conf, `
log-level: warn
max-ttl: 20m
ports: {"`+c.Seed()+`": `+strconv.Itoa(pinned)+`}
faults:
  - name: slow-writes
    action: latency
    target: master
    latency: 1ms
    match: {categories: [write]}
  - action: error
    error: OOM
    target: all
    match: {keys: "cfg:*"}
    ttl: 10m
`)
	_, addr := startProxyCLI(t, c.Seed(), "--config", conf, "--api-token", testToken, "--seed", "99")
	apiArgs := []string{"--api", addr, "--api-token", testToken}
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := cli(t, append(args, apiArgs...)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return out
	}
	fail := func(t *testing.T, want string, args ...string) {
		t.Helper()
		out, err := cli(t, append(args, apiArgs...)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want one containing %q\n%s", args, err, want, out)
		}
	}
	client := api.NewClient(addr, testToken)

	t.Run("pinned port", func(t *testing.T) {
		top, err := client.Topology(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range top.Nodes {
			if n.Addr == c.Seed() {
				if n.Announce != "127.0.0.1:"+strconv.Itoa(pinned) {
					t.Errorf("%s announced as %s, pinned to port %d", n.Addr, n.Announce, pinned)
				}
				return
			}
		}
		t.Errorf("no node %s in %v", c.Seed(), top.Nodes)
	})

	t.Run("config faults at start", func(t *testing.T) {
		var fs []*chaos.Fault
		if err := json.Unmarshal([]byte(run(t, "fault", "ls", "--json")), &fs); err != nil {
			t.Fatal(err)
		}
		if len(fs) != 2 || fs[0].Source != "config" || fs[0].Spec.Action != "latency" || len(fs[0].Nodes) != 1 ||
			fs[1].Spec.Error != "OOM" || len(fs[1].Nodes) != 9 || fs[1].Expires.Sub(fs[1].Starts) != 10*time.Minute {
			t.Fatalf("config faults: %s", run(t, "fault", "ls"))
		}
	})

	t.Run("fault add, ls, rm", func(t *testing.T) {
		out := run(t, "fault", "add", "error", "--error", "MISCONF", "--target", "master", "--commands", "SET, HSET",
			"--keys", "user:*", "--probability", "0.5", "--count", "3", "--ttl", "30s", "--delay", "1m")
		id := regexp.MustCompile(`added fault (f\d+)`).FindStringSubmatch(out)
		if id == nil || !strings.Contains(out, "error MISCONF") || !strings.Contains(out, "SET,HSET keys=user:* p=0.5 count=3") ||
			!strings.Contains(out, "pending") {
			t.Fatalf("fault add output:\n%s", out)
		}
		f, err := client.Fault(t.Context(), id[1])
		if err != nil {
			t.Fatal(err)
		}
		m := f.Spec.Match
		if f.Spec.TTL.D() != 30*time.Second || f.Spec.Delay.D() != time.Minute || m.Probability != 0.5 || m.Count != 3 ||
			strings.Join(m.Commands, ",") != "SET,HSET" || m.Keys != "user:*" || f.Source != "api" {
			t.Errorf("added %+v", f.Spec)
		}
		// Every field flag reaches the API.
		out = run(t, "fault", "add", "--action", "latency", "--target", "shard:1", "--latency", "20ms", "--jitter", "5ms",
			"--categories", "read", "--slots", "0-100", "--clients", "127.0.0.0/8", "--client-name", "app*", "--lib-name", "go-redis",
			"--mode", "simulate", "-o", "json")
		var lf chaos.Fault
		if err := json.Unmarshal([]byte(out), &lf); err != nil {
			t.Fatalf("fault add -o json: %v\n%s", err, out)
		}
		lm := lf.Spec.Match
		if lf.Spec.Latency.D() != 20*time.Millisecond || lf.Spec.Jitter.D() != 5*time.Millisecond || lm.Categories[0] != "read" ||
			lm.Slots != "0-100" || lm.Clients != "127.0.0.0/8" || lm.ClientName != "app*" || lm.LibName != "go-redis" || len(lf.Nodes) != 3 {
			t.Errorf("latency fault %+v", lf.Spec)
		}
		out = run(t, "fault", "add", "reset", "--target", "replica", "--after", "10")
		if !strings.Contains(out, "reset after 10") {
			t.Errorf("reset: %s", out)
		}
		// --json takes a fault as the API does; flags override its fields.
		out = run(t, "fault", "add", "--json", `{"action":"migrate","target":"shard:0","to":"shard:1","match":{"slots":"0-9"},"ttl":"1m"}`,
			"--ask-for", "10s", "-o", "json")
		var mf chaos.Fault
		if err := json.Unmarshal([]byte(out), &mf); err != nil || mf.Spec.AskFor.D() != 10*time.Second || mf.Spec.To != "shard:1" {
			t.Errorf("migrate: %v %+v", err, mf.Spec)
		}
		out, err = cliIn(t, `{"action":"error","error":"NOREPLICAS","target":"master"}`, append([]string{"fault", "add", "--json", "-"}, apiArgs...)...)
		if err != nil || !strings.Contains(out, "error NOREPLICAS") {
			t.Errorf("fault add --json - (stdin): %v\n%s", err, out)
		}
		ls := run(t, "fault", "ls")
		for _, want := range []string{"ID", "EXPIRES IN", id[1], lf.ID, mf.ID, "migrate to shard:1", "config", "latency 20ms±5ms"} {
			if !strings.Contains(ls, want) {
				t.Errorf("fault ls lacks %q:\n%s", want, ls)
			}
		}
		out = run(t, "fault", "rm", id[1], lf.ID)
		if !strings.Contains(out, "removed fault "+id[1]) || !strings.Contains(out, "removed fault "+lf.ID) {
			t.Errorf("rm: %s", out)
		}
		fail(t, "not found", "fault", "rm", id[1])
		if _, err := client.Fault(t.Context(), lf.ID); !api.IsNotFound(err) {
			t.Errorf("removed fault still there: %v", err)
		}
	})

	t.Run("fault add rejects bad input", func(t *testing.T) {
		fail(t, "action is required", "fault", "add", "--target", "master")
		fail(t, "ttl", "fault", "add", "down", "--target", "replica", "--ttl", "2h")
		fail(t, "--ttl", "fault", "add", "down", "--target", "replica", "--ttl", "soon")
		fail(t, "unknown action", "fault", "add", "explode")
		fail(t, "shard:N", "fault", "add", "down", "--target", "shard:x")
		fail(t, "unknown error", "fault", "add", "error", "--error", "NOPE")
		fail(t, `unknown field "actoin"`, "fault", "add", "--json", `{"actoin":"down"}`)
		fail(t, "actoin", "fault", "add", "--json", `{"action":"down","target":"all","actoin":"x"}`)
		fail(t, "action given twice", "fault", "add", "down", "--action", "hang")
		fail(t, "only available when this process provisioned the cluster (redis-chaos up, or run without --upstream), not in proxy (sidecar) mode",
			"fault", "add", "down", "--target", "replica", "--mode", "real")
		fail(t, "use -o json", "fault", "add", "down", "--target", "replica", "--json", "--api", "x")
	})

	t.Run("fault clear", func(t *testing.T) {
		n := len(mustFaults(t, client))
		out := run(t, "fault", "clear")
		if !strings.Contains(out, fmt.Sprintf("removed %d fault(s)", n)) {
			t.Errorf("clear with %d faults: %s", n, out)
		}
		if out := run(t, "fault", "ls"); !strings.Contains(out, "no faults") {
			t.Errorf("ls after clear: %s", out)
		}
		if out := run(t, "fault", "ls", "--json"); strings.TrimSpace(out) != "[]" {
			t.Errorf("ls --json after clear: %q", out)
		}
	})

	t.Run("scenario ls", func(t *testing.T) {
		out := run(t, "scenario", "ls")
		for _, want := range []string{"NAME", "replica-down", "master-down", "all-down", "tryagain", "10s"} {
			if !strings.Contains(out, want) {
				t.Errorf("scenario ls lacks %q", want)
			}
		}
		var scs []api.ScenarioInfo
		if err := json.Unmarshal([]byte(run(t, "scenario", "ls", "--json")), &scs); err != nil || len(scs) < 16 {
			t.Errorf("scenario ls --json: %d, %v", len(scs), err)
		}
		if out := run(t, "scenario", "ls", "-v"); !strings.Contains(out, "a safe client:") {
			t.Errorf("scenario ls -v: %s", out)
		}
	})

	t.Run("scenario run --wait", func(t *testing.T) {
		out := run(t, "scenario", "run", "oom", "--hold", "300ms", "--recover", "200ms", "--wait", "--poll", "50ms")
		for _, re := range []string{`run r\d+: scenario oom \(simulate mode, seed 99\)`, `nodes picked: 127\.0\.0\.1:\d+ \(real `,
			`fault f\d+: error OOM on`, `a safe client:`, `\d\d:\d\d:\d\d\.\d{3}  inject`, `  hold\n`, `  recover\n`, `run r\d+ done after`} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("scenario run output lacks /%s/:\n%s", re, out)
			}
		}
		if fs := mustFaults(t, client); len(fs) != 0 {
			t.Errorf("faults after the run: %d", len(fs))
		}
		var r chaos.Run
		out = run(t, "scenario", "run", "tryagain", "--hold", "200ms", "--recover", "100ms", "--wait", "--json")
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.State != "done" || len(r.Phases) != 3 {
			t.Errorf("scenario run --wait --json: %v %s %v", err, r.State, phaseList(r.Phases))
		}
		out = run(t, "scenario", "run", "loading", "--hold", "1m")
		if !strings.Contains(out, "scenario loading") || !strings.Contains(out, "  hold") {
			t.Errorf("scenario run without --wait: %s", out)
		}
		run(t, "fault", "clear")
		fail(t, `unknown scenario "nope"`, "scenario", "run", "nope")
		fail(t, "mode", "scenario", "run", "oom", "--mode", "pretend")
		fail(t, "--hold", "scenario", "run", "oom", "--hold", "later")
	})

	t.Run("topology", func(t *testing.T) {
		out := run(t, "topology")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 11 || !strings.HasPrefix(lines[0], "cluster_state: ok") || !strings.HasPrefix(lines[1], "PROXY") {
			t.Fatalf("topology:\n%s", out)
		}
		if !strings.Contains(out, "0-5460") || strings.Count(out, "replica") < 12 {
			t.Errorf("topology lacks slots or roles:\n%s", out)
		}
		var top api.Topology
		if err := json.Unmarshal([]byte(run(t, "topology", "--json")), &top); err != nil || len(top.Nodes) != 9 || top.Virtual == nil {
			t.Errorf("topology --json: %v %+v", err, top)
		}
		// A down node shows in the virtual view and the listener column.
		f, err := client.AddFault(t.Context(), fault.Spec{Action: "down", Target: top.Nodes[8].Announce})
		if err != nil {
			t.Fatal(err)
		}
		out = run(t, "topology")
		if !strings.Contains(out, "closed (down)") || !strings.Contains(out, "fail") || !strings.Contains(out, "differs") {
			t.Errorf("topology with a down node:\n%s", out)
		}
		client.RemoveFault(t.Context(), f.ID)
	})

	t.Run("findings", func(t *testing.T) {
		if out := run(t, "findings"); !strings.Contains(out, "no findings") {
			t.Errorf("findings on a quiet proxy: %q", out)
		}
		// It says what the findings are about: the clients and commands watched.
		top, err := client.Topology(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("tcp", top.Nodes[0].Announce)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$8\r\nwatchme1\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n")
		if _, err := io.ReadAtLeast(conn, make([]byte, 64), len("+OK\r\n+PONG\r\n+PONG\r\n")); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 5*time.Second, func() error {
			cs, err := client.Clients(t.Context())
			if err != nil {
				return err
			}
			for _, c := range cs {
				if c.Name == "watchme1" && c.Commands >= 2 {
					return nil
				}
			}
			return fmt.Errorf("GET /v1/clients: %+v", cs)
		})
		out := run(t, "findings")
		if !regexp.MustCompile(`watched: \d+ clients?, \d+ connections?, \d+ commands`).MatchString(out) {
			t.Errorf("findings does not say what it watched:\n%s", out)
		}
		if out := run(t, "findings", "--clear"); !strings.Contains(out, "findings cleared") {
			t.Errorf("findings --clear: %q", out)
		}
	})

	t.Run("token", func(t *testing.T) {
		out, err := cli(t, "fault", "ls", "--api", addr)
		if api.StatusOf(err) != 401 || !strings.Contains(err.Error(), "REDIS_CHAOS_API_TOKEN") {
			t.Errorf("no token: %v\n%s", err, out)
		}
		t.Setenv("REDIS_CHAOS_API_TOKEN", testToken)
		if out, err := cli(t, "fault", "ls", "--api", addr); err != nil {
			t.Errorf("token from the environment: %v\n%s", err, out)
		}
		t.Setenv("REDIS_CHAOS_API", addr)
		if out, err := cli(t, "topology"); err != nil {
			t.Errorf("address and token from the environment: %v\n%s", err, out)
		}
	})

	t.Run("no proxy", func(t *testing.T) {
		out, err := cli(t, "fault", "ls", "--api", "127.0.0.1:1")
		if err == nil || !strings.Contains(err.Error(), "cannot reach the control API") {
			t.Errorf("no proxy: %v\n%s", err, out)
		}
	})

	t.Run("config reload", func(t *testing.T) {
		run(t, "fault", "clear")
		// A new file: both entries are new faults.
		writeFile(t, conf, `
faults:
  - name: a
    action: error
    error: BUSY
    target: replica
  - action: error
    error: LOADING
    target: shard:0
`)
		var first []*chaos.Fault
		testenv.Eventually(t, 5*time.Second, func() error {
			first = mustFaults(t, client)
			if len(first) != 2 {
				return fmt.Errorf("%d faults", len(first))
			}
			return nil
		})
		byErr := func(fs []*chaos.Fault) map[string]*chaos.Fault {
			m := map[string]*chaos.Fault{}
			for _, f := range fs {
				m[f.Spec.Error] = f
			}
			return m
		}
		// Entry "a" changes, the unnamed one stays, a third is added.
		writeFile(t, conf, `
faults:
  - name: a
    action: error
    error: BUSY
    target: replica
    match: {commands: [EVAL]}
  - action: error
    error: LOADING
    target: shard:0
  - action: error
    error: MASTERDOWN
    target: replica
`)
		testenv.Eventually(t, 5*time.Second, func() error {
			fs := byErr(mustFaults(t, client))
			if len(fs) != 3 || fs["BUSY"] == nil || len(fs["BUSY"].Spec.Match.Commands) != 1 {
				return fmt.Errorf("faults %v", fs)
			}
			if fs["LOADING"].ID != byErr(first)["LOADING"].ID {
				return errors.New("the unchanged entry was replaced")
			}
			if fs["BUSY"].ID == byErr(first)["BUSY"].ID {
				return errors.New("the changed entry kept its fault")
			}
			return nil
		})
		before := mustFaults(t, client)
		metrics := func() string {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		if m := metrics(); !strings.Contains(m, "redis_chaos_config_last_reload_successful 1") {
			t.Errorf("/metrics before a bad reload:\n%s", grepLines(m, "redis_chaos_config"))
		}
		// A bad file changes nothing, and says so: fault ls marks the file's
		// faults stale, and the metrics tell Prometheus.
		writeFile(t, conf, "faults:\n  - action: explode\n")
		testenv.Eventually(t, 5*time.Second, func() error {
			out := run(t, "fault", "ls")
			if !strings.Contains(out, "stale: the config file "+conf+" failed to reload") ||
				!strings.Contains(out, `unknown action "explode"`) || strings.Count(out, "config (stale)") != len(before) {
				return fmt.Errorf("fault ls after a bad reload:\n%s", out)
			}
			return nil
		})
		if after := mustFaults(t, client); len(after) != len(before) {
			t.Errorf("a bad file changed the faults: %d → %d", len(before), len(after))
		}
		if m := metrics(); !strings.Contains(m, "redis_chaos_config_last_reload_successful 0") ||
			!strings.Contains(m, `redis_chaos_config_reloads_total{result="error"} 1`) {
			t.Errorf("/metrics after a bad reload:\n%s", grepLines(m, "redis_chaos_config"))
		}
		// Faults that leave the file are removed, and the file is current again.
		writeFile(t, conf, "faults: []\n")
		testenv.Eventually(t, 5*time.Second, func() error {
			if n := len(mustFaults(t, client)); n != 0 {
				return fmt.Errorf("%d faults", n)
			}
			return nil
		})
		if out := run(t, "fault", "ls"); strings.Contains(out, "stale") {
			t.Errorf("fault ls after a good reload:\n%s", out)
		}
		if m := metrics(); !strings.Contains(m, "redis_chaos_config_last_reload_successful 1") {
			t.Errorf("/metrics after a good reload:\n%s", grepLines(m, "redis_chaos_config"))
		}
	})

	t.Run("the example config starts", func(t *testing.T) {
		b, err := os.ReadFile(exampleConfig)
		if err != nil {
			t.Fatal(err)
		}
		ex := filepath.Join(t.TempDir(), "example.yaml")
		writeFile(t, ex, string(b))
		bg, exAddr := startProxyCLI(t, c.Seed(), "--config", ex)
		fs, err := api.NewClient(exAddr, "").Faults(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 5 {
			t.Errorf("%d faults from the example, want 5", len(fs))
		}
		for _, f := range fs {
			if f.Source != "config" || f.Error != "" || len(f.Nodes) == 0 {
				t.Errorf("example fault %s: source %s, nodes %v, error %q", f.ID, f.Source, f.Nodes, f.Error)
			}
		}
		bg.stop()
		if err := bg.Wait(); err != nil {
			t.Errorf("proxy with the example config: %v", err)
		}
		bg.err <- nil // for the cleanup
	})

	t.Run("bad config stops start-up", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		writeFile(t, bad, `
base_port: 7001
faults:
  - action: explode
    ttl: 2h
    matc: {}
  - action: error
    error: OOM
    match: {keys: "[", command: [GET]}
  - action: down
    target: 127.0.0.1:1
`)
		out, err := cli(t, "proxy", "--upstream", c.Seed(), "--base-port", itoa(testenv.FreeBasePort(t, 9)), "--api", "127.0.0.1:0", "--log-level", "error", "--config", bad)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("start-up with a bad config: %v\n%s", err, out)
		}
		for _, want := range []string{`base_port: unknown key: did you mean "base-port"? (line 2)`, "faults[0].matc: unknown field",
			"faults[0].action: unknown action", "faults[0].ttl: 2h0m0s is above the maximum", "faults[1].match.command: unknown field",
			"faults[1].match.keys: bad glob"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
		// A file whose faults parse but name no node stops start-up too.
		writeFile(t, bad, "faults:\n  - action: down\n    target: 127.0.0.1:1\n")
		_, err = cli(t, "proxy", "--upstream", c.Seed(), "--base-port", itoa(testenv.FreeBasePort(t, 9)), "--api", "127.0.0.1:0", "--log-level", "error", "--config", bad)
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "faults[0].target") {
			t.Errorf("start-up with an unresolvable target: %v", err)
		}
	})
}

// TestProxyUnreachableUpstream: a wrong --upstream gets one line naming it,
// without go-redis's own log line (pool.go: failed to dial …) before it.
func TestProxyUnreachableUpstream(t *testing.T) {
	bin := goBuild(t, t.TempDir(), ".", "redis-chaos")
	out, err := exec.Command(bin, "proxy", "--upstream", "127.0.0.1:1", "--api", "127.0.0.1:0",
		"--base-port", itoa(testenv.FreeBasePort(t, 9))).CombinedOutput()
	if err == nil {
		t.Fatalf("proxy started in front of nothing:\n%s", out)
	}
	if want := "redis-chaos: cannot reach the upstream 127.0.0.1:1: connect: connection refused\n"; string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

// TestProxyRefusesOffLoopbackWithoutToken: proxy, up and run refuse an API
// off loopback without a token, and say how to give one.
func TestProxyRefusesOffLoopbackWithoutToken(t *testing.T) {
	for _, args := range [][]string{
		{"proxy", "--upstream", "127.0.0.1:1", "--api", "0.0.0.0:0"},
		{"up", "--api", "0.0.0.0:0"},
		{"run", "--api", "0.0.0.0:0", "--scenarios", "replica-down", "--", "true"},
	} {
		out, err := cli(t, args...)
		if !errors.Is(err, api.ErrTokenRequired) {
			t.Errorf("%s --api 0.0.0.0:0 without a token: %v\n%s", args[0], err, out)
			continue
		}
		for _, want := range []string{"--api-token", "REDIS_CHAOS_API_TOKEN", "api-token: in the config file", "Authorization: Bearer"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v: does not say %q", args[0], err, want)
			}
		}
	}
}

// grepLines is the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func mustFaults(t *testing.T, c *api.Client) []*chaos.Fault {
	t.Helper()
	fs, err := c.Faults(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// writeFile replaces a file's content at once (write and rename), as an
// editor or a ConfigMap update does.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { return fmt.Sprint(n) }

func phaseList(ps []chaos.Phase) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}
