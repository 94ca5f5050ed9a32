package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/chaos/report"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// These are the end-to-end tests of redis-chaos run: a real cluster,
// the proxy, the example application of test/app, scenarios, reports and exit
// codes. Holds are short and the node timeout is 1s to keep them quick.

func needRedis(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("needs redis-server")
	}
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
}

// goBuild builds a package of this module into dir and returns the binary.
func goBuild(t *testing.T, dir, pkg, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// buildApp builds the example application of test/app.
func buildApp(t *testing.T) string {
	t.Helper()
	return goBuild(t, t.TempDir(), "../../test/app", "app")
}

// runIn runs the root command in-process and returns its output and exit code
// (as main would exit).
func runIn(t *testing.T, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	cmd := newRootCmd()
	out := &syncBuffer{}
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetIn(strings.NewReader(""))
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return out.String(), 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return out.String() + "\nerror: " + err.Error(), ee.code
	}
	return out.String() + "\nerror: " + err.Error(), 1
}

// runArgs are the flags every test run uses: free ports, quick failure
// detection, quiet logs.
func runArgs(t *testing.T, reportDir string) []string {
	return []string{"run", "--base-port", strconv.Itoa(testenv.FreeBasePort(t, 9)),
		"--cluster-base-port", strconv.Itoa(clusterTestBase(t, 9)), "--api", "127.0.0.1:0",
		"--node-timeout", "1s", "--log-level", "warn", "--report-dir", reportDir, "--progress", "500ms"}
}

func TestRunWellBehavedApp(t *testing.T) {
	needRedis(t)
	app := buildApp(t)
	dir := filepath.Join(t.TempDir(), "reports")
	args := append(runArgs(t, dir), "--scenarios", "replica-down,master-down", "--hold", "2s",
		"--", app, "--duration", "16s")
	out, code := runIn(t, 2*time.Minute, args...)
	if code != exitOK {
		t.Fatalf("exit %d, want 0:\n%s", code, out)
	}
	for _, want := range []string{"REDIS_CLUSTER_ADDRS=127.0.0.1:", "replica-down hold", "master-down", "app: OK", "PASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// report.json: the run, both scenarios with their faults, the traffic.
	f, err := os.Open(filepath.Join(dir, report.FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	r, err := report.ReadJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r.Run.ExitCode == nil || *r.Run.ExitCode != 0 || len(r.Run.Seeds) != 9 || r.Run.Command[0] != app {
		t.Errorf("run: exit %v seeds %v command %v", r.Run.ExitCode, r.Run.Seeds, r.Run.Command)
	}
	var names []string
	for _, sc := range r.Scenarios {
		names = append(names, sc.Name)
		if len(sc.Faults) == 0 || sc.Faults[0].End.IsZero() || len(sc.Phases) < 3 {
			t.Errorf("scenario %s: faults %+v phases %+v", sc.Name, sc.Faults, sc.Phases)
		}
	}
	if strings.Join(names, ",") != "replica-down,master-down" {
		t.Errorf("scenarios %v", names)
	}
	cmds := 0
	for _, s := range r.Series {
		for _, p := range s.Points {
			cmds += p.Commands
		}
	}
	if cmds < 100 {
		t.Errorf("the report saw %d commands", cmds)
	}

	// junit.xml parses, with a test case per scenario.
	b, err := os.ReadFile(filepath.Join(dir, report.FileJUnit))
	if err != nil {
		t.Fatal(err)
	}
	var suites report.JUnitSuites
	if err := xml.Unmarshal(b, &suites); err != nil {
		t.Fatalf("junit.xml: %v\n%s", err, b)
	}
	if !bytes.Contains(b, []byte("replica-down")) || !bytes.Contains(b, []byte("master-down")) {
		t.Errorf("junit.xml lacks the scenarios:\n%s", b)
	}

	// report.html: self-contained, with the timeline chart.
	h, err := os.ReadFile(filepath.Join(dir, report.FileHTML))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(h, []byte("<svg")) || !bytes.Contains(h, []byte("master-down")) {
		t.Errorf("report.html has no chart or lacks the scenarios (%d bytes)", len(h))
	}

	// redis-chaos report renders the saved run again.
	for _, format := range []string{"junit", "html", "json"} {
		out, err := cli(t, "report", "--from", dir, "--format", format)
		if err != nil {
			t.Fatalf("report --format %s: %v\n%s", format, err, out)
		}
		switch format {
		case "junit":
			if err := xml.Unmarshal([]byte(out), &suites); err != nil {
				t.Errorf("report --format junit: %v", err)
			}
		case "html":
			if !strings.Contains(out, "<svg") {
				t.Errorf("report --format html: no chart")
			}
		case "json":
			if _, err := report.ReadJSON(strings.NewReader(out)); err != nil {
				t.Errorf("report --format json: %v", err)
			}
		}
	}
	if out, err := cli(t, "report", "--from", dir, "--format", "pdf"); err == nil {
		t.Errorf("report --format pdf: no error:\n%s", out)
	}
}

func TestRunUnsafeAppFindings(t *testing.T) {
	needRedis(t)
	app := buildApp(t)
	dir := filepath.Join(t.TempDir(), "reports")
	// No timeouts against a hung master: the app waits on it for the whole
	// hold, longer than the checker's command timeout, lowered from 10s to 1s
	// so the hold can be short.
	args := append(runArgs(t, dir), "--scenarios", "hang", "--hold", "3s",
		"--checker-threshold", "command-timeout=1s",
		"--", app, "--duration", "8s", "--no-timeouts")
	out, code := runIn(t, 2*time.Minute, args...)
	if code != exitFindings {
		t.Fatalf("exit %d, want %d (findings):\n%s", code, exitFindings, out)
	}
	if !strings.Contains(out, "no-command-timeout") {
		t.Errorf("output does not name the rule:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, report.FileJUnit))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<failure")) || !bytes.Contains(b, []byte("no-command-timeout")) {
		t.Errorf("junit.xml has no failure for the finding:\n%s", b)
	}
}

func TestRunCommandFails(t *testing.T) {
	needRedis(t)
	app := buildApp(t)
	cl := testenv.StartCluster(t, testenv.ClusterOptions{NodeTimeout: time.Second})
	for _, tt := range []struct {
		name    string
		command []string
		want    string
	}{
		{"false", []string{"false"}, "exit status 1"},
		{"app with a bad flag", []string{app, "--no-such-flag"}, "exit status 2"},
		{"app without a cluster", []string{"env", "REDIS_CLUSTER_ADDRS=", app}, "exit status 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "reports")
			args := append(runArgs(t, dir), "--upstream", cl.Seed(), "--scenarios", "replica-down", "--")
			out, code := runIn(t, time.Minute, append(args, tt.command...)...)
			if code != exitCommand {
				t.Fatalf("exit %d, want %d:\n%s", code, exitCommand, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks the command's status %q:\n%s", tt.want, out)
			}
			if _, err := os.Stat(filepath.Join(dir, report.FileJSON)); err != nil {
				t.Errorf("no report after a failed command: %v", err)
			}
			if !strings.Contains(out, "ended before every scenario was played") {
				t.Errorf("no warning that replica-down was not played:\n%s", out)
			}
			// The HTML headline and the JUnit file say what the exit code says.
			h, err := os.ReadFile(filepath.Join(dir, report.FileHTML))
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`<div class="verdict fail" id="verdict"><b>FAIL</b>: the command failed \(` + tt.want + `\)`).Match(h) {
				t.Errorf("report.html's headline does not say the command failed")
			}
			suites := readJUnit(t, dir)
			if c := suiteCase(suites, "command", "exit status"); c == nil || c.Failure == nil || !strings.Contains(c.Failure.Message, tt.want) {
				t.Errorf("junit.xml: the command's failure is not a failing test case: %+v", c)
			}
			if c := suiteCase(suites, "replica-down", "completed"); c == nil || c.Failure == nil || !strings.Contains(c.Failure.Message, "not played") {
				t.Errorf("junit.xml: replica-down is not marked as not played: %+v", c)
			}
		})
	}
}

// readJUnit parses the junit.xml of a report directory.
func readJUnit(t *testing.T, dir string) report.JUnitSuites {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, report.FileJUnit))
	if err != nil {
		t.Fatal(err)
	}
	var suites report.JUnitSuites
	if err := xml.Unmarshal(b, &suites); err != nil {
		t.Fatalf("junit.xml: %v\n%s", err, b)
	}
	return suites
}

// suiteCase finds a test case of a suite.
func suiteCase(doc report.JUnitSuites, suite, name string) *report.JUnitCase {
	for _, s := range doc.Suites {
		if s.Name != suite {
			continue
		}
		for i := range s.Cases {
			if s.Cases[i].Name == name {
				return &s.Cases[i]
			}
		}
	}
	return nil
}

// TestRunCommandEndsEarly: a command that ends before its scenario's end
// succeeds, but the scenario is cut short; --fail-incomplete (the default)
// makes that a failure (exit 4) in JUnit, the HTML headline and the exit
// code, and --fail-incomplete=false a skipped test case and exit 0.
func TestRunCommandEndsEarly(t *testing.T) {
	needRedis(t)
	cl := testenv.StartCluster(t, testenv.ClusterOptions{NodeTimeout: time.Second})
	for _, tt := range []struct {
		name, flag string
		code       int
	}{
		{"default", "", exitIncomplete},
		{"skipped", "--fail-incomplete=false", exitOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "reports")
			args := append(runArgs(t, dir), "--upstream", cl.Seed(), "--scenarios", "replica-down,master-down",
				"--hold", "3s", "--warmup", "200ms")
			if tt.flag != "" {
				args = append(args, tt.flag)
			}
			out, code := runIn(t, time.Minute, append(args, "--", "sleep", "2")...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tt.code, out)
			}
			if !regexp.MustCompile(`planned: 200ms warmup \+ replica-down 3s hold\+4s recover \+ master-down 3s hold\+4s recover = 14s`).MatchString(out) {
				t.Errorf("run does not print the planned duration:\n%s", out)
			}
			suites := readJUnit(t, dir)
			cut := suiteCase(suites, "replica-down", "completed")
			never := suiteCase(suites, "master-down", "completed")
			if cut == nil || never == nil {
				t.Fatalf("junit.xml does not mark the scenarios: %+v", suites)
			}
			h, err := os.ReadFile(filepath.Join(dir, report.FileHTML))
			if err != nil {
				t.Fatal(err)
			}
			if tt.code == exitOK {
				if cut.Skipped == nil || never.Skipped == nil || suites.Failures != 0 {
					t.Errorf("--fail-incomplete=false: not skipped: %+v %+v", cut, never)
				}
				if !bytes.Contains(h, []byte(`<b>PASS</b>`)) || !bytes.Contains(h, []byte("not failing the run: scenario replica-down cut short")) {
					t.Errorf("report.html's headline is not a PASS with a note")
				}
				return
			}
			if cut.Failure == nil || !strings.Contains(cut.Failure.Message, "cut short: the command ended") ||
				!strings.Contains(cut.Failure.Message, "into hold (of 3s)") || never.Failure == nil {
				t.Errorf("cut short / not played scenarios do not fail: %+v / %+v", cut, never)
			}
			if !bytes.Contains(h, []byte(`<b>FAIL</b>: scenario replica-down cut short`)) {
				t.Errorf("report.html's headline does not say the scenario was cut short")
			}
		})
	}
}

func TestRunUsageErrors(t *testing.T) {
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(plan, []byte("steps:\n  - at: 0s\n    scenario: nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", []string{"--scenarios", "replica-down"}, "give the command to test after --: redis-chaos run [flags] -- CMD [ARGS…]"},
		{"no scenarios", []string{"--", "true"}, "--scenarios or --plan is required"},
		{"both", []string{"--scenarios", "replica-down", "--plan", plan, "--", "true"}, "one or the other"},
		{"unknown scenario", []string{"--scenarios", "replica-down,bogus", "--", "true"}, `unknown scenario "bogus"`},
		{"unknown scenario listed", []string{"--scenarios", "bogus", "--", "true"}, `unknown scenario "bogus" (known: all-down, all-masters-down, clusterdown, hang,`},
		{"misspelt scenario", []string{"--scenarios", "replica-dwn", "--", "true"}, `unknown scenario "replica-dwn": did you mean "replica-down"? (known: all-down,`},
		{"bad plan", []string{"--plan", plan, "--", "true"}, "steps[0].scenario"},
		{"bad fail-on", []string{"--scenarios", "hang", "--fail-on", "severe", "--", "true"}, "--fail-on"},
		{"bad mode", []string{"--scenarios", "hang", "--mode", "fake", "--", "true"}, "--mode"},
		{"real on upstream", []string{"--scenarios", "master-down", "--mode", "real", "--upstream", "127.0.0.1:1", "--", "true"}, "refused with --upstream"},
		{"missing command", []string{"--scenarios", "hang", "--", "/nonexistent/app"}, "/nonexistent/app"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runIn(t, 10*time.Second, append([]string{"run"}, tt.args...)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d:\n%s", code, exitUsage, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}

// TestRunInterrupt sends SIGINT to a redis-chaos run process in the middle of
// a scenario: the app, the cluster and the proxy must all be gone, and the
// faults reverted.
func TestRunInterrupt(t *testing.T) {
	needRedis(t)
	bin := t.TempDir()
	rc := goBuild(t, bin, ".", "redis-chaos")
	app := goBuild(t, bin, "../../test/app", "app")
	pidFile := filepath.Join(t.TempDir(), "app.pid")
	clusterBase := clusterTestBase(t, 9) // bus ports below the ephemeral range
	args := []string{"run", "--base-port", strconv.Itoa(testenv.FreeBasePort(t, 9)),
		"--cluster-base-port", strconv.Itoa(clusterBase), "--api", "127.0.0.1:0", "--node-timeout", "1s",
		"--log-level", "info", "--report-dir", filepath.Join(t.TempDir(), "reports"), "--progress", "200ms",
		"--warmup", "500ms", "--scenarios", "master-down", "--hold", "60s",
		"--", "sh", "-c", `echo $$ > "$0"; exec "$1" --duration 2m`, pidFile, app}
	cmd := exec.Command(rc, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var log syncBuffer
	holding := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			log.Write([]byte(sc.Text() + "\n"))
			if !signalled && strings.Contains(sc.Text(), "master-down hold") {
				signalled = true
				close(holding)
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })

	select {
	case <-holding:
	case err := <-done:
		t.Fatalf("run ended before the scenario held: %v\n%s", err, log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("the scenario did not start:\n%s", log.String())
	}
	nodes := redisPIDs(t, clusterBase, 9)
	if len(nodes) != 9 {
		t.Fatalf("found %d redis-server processes on ports %d+, want 9", len(nodes), clusterBase)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	appPID, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !alive(appPID) {
		t.Fatalf("app pid %q: %v", b, err)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-done:
	case <-time.After(40 * time.Second):
		t.Fatalf("run did not exit after SIGINT:\n%s", log.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Errorf("exit %v, want %d", err, exitInterrupted)
	}
	out := log.String()
	for _, want := range []string{"interrupted", "state=removed", "cluster stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if alive(appPID) {
		t.Errorf("the app (pid %d) is still running", appPID)
	}
	for _, pid := range nodes {
		if alive(pid) {
			t.Errorf("redis-server pid %d is still running", pid)
		}
	}
}

// redisPIDs finds the redis-server processes listening on base..base+n-1.
func redisPIDs(t *testing.T, base, n int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("needs /proc")
	}
	ports := map[string]bool{}
	for i := range n {
		ports[":"+strconv.Itoa(base+i)] = true
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte("redis-server")) {
			continue
		}
		for _, f := range strings.Fields(strings.ReplaceAll(string(b), "\x00", " ")) {
			if i := strings.LastIndex(f, ":"); i >= 0 && ports[f[i:]] {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// alive reports whether pid is a running process (a zombie is not).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndex(s, ")"); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// TestSidecarConfigMap checks the config file in the ConfigMap of
// configs/k8s-sidecar.yaml as the proxy reads it: known keys, valid faults.
func TestSidecarConfigMap(t *testing.T) {
	b, err := os.ReadFile("../../configs/k8s-sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var text string
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var d struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatal(err)
		}
		if d.Kind == "ConfigMap" {
			text = d.Data["config.yaml"]
		}
	}
	if text == "" {
		t.Fatal("no ConfigMap with config.yaml")
	}
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := readConfigFaults(file, configKeys(), fault.Limits{DefaultTTL: 5 * time.Minute, MaxTTL: time.Hour})
	if err != nil {
		t.Fatalf("the ConfigMap's config.yaml: %v", err)
	}
	if len(list) == 0 {
		t.Error("the ConfigMap has no faults")
	}
}

var seedLine = regexp.MustCompile(`seed address for applications: (\S+)`)

// TestProxyChecker: the checker is wired into the proxy (it sees clients) and
// its routes are on the control API.
func TestProxyChecker(t *testing.T) {
	needRedis(t)
	cl := testenv.StartCluster(t, testenv.ClusterOptions{NodeTimeout: time.Second})
	b, addr := startProxyCLI(t, cl.Seed())
	m := seedLine.FindStringSubmatch(b.out.String())
	if m == nil {
		t.Fatalf("no seed address:\n%s", b.out.String())
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(m[1], ","), ClientName: "checker-wired"})
	defer c.Close()
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
		}
		return string(body)
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		if body := get("/v1/clients"); !strings.Contains(body, "checker-wired") {
			return fmt.Errorf("GET /v1/clients lacks the client: %s", body)
		}
		return nil
	})
	if body := get("/v1/rules"); !strings.Contains(body, "no-command-timeout") {
		t.Errorf("GET /v1/rules: %s", body)
	}
	if body := get("/metrics"); !strings.Contains(body, "redis_chaos_findings_total") {
		t.Error("/metrics lacks redis_chaos_findings_total")
	}
	out, err := cli(t, "findings", "--api", addr)
	if err != nil || !strings.Contains(out, "no findings") {
		t.Errorf("findings: %v\n%s", err, out)
	}
}

// TestRunPlanLoop plays a YAML plan (a scenario step and a fault step) again
// and again while the app runs, in front of an existing cluster (--upstream).
func TestRunPlanLoop(t *testing.T) {
	needRedis(t)
	app := buildApp(t)
	cl := testenv.StartCluster(t, testenv.ClusterOptions{NodeTimeout: time.Second})
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(plan, []byte(`name: smoke
steps:
  - at: 0s
    scenario: replica-down
    hold: 1s
  - at: 500ms
    fault:
      action: latency
      target: master
      latency: 20ms
      ttl: 2s
`), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "reports")
	args := append(runArgs(t, dir), "--upstream", cl.Seed(), "--plan", plan, "--loop", "--warmup", "200ms",
		"--", app, "--duration", "12s")
	out, code := runIn(t, time.Minute, args...)
	if code != exitOK {
		t.Fatalf("exit %d, want 0:\n%s", code, out)
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
	plans, replicaDown := 0, 0
	for _, sc := range r.Scenarios {
		switch sc.Name {
		case "plan:smoke":
			plans++
			if len(sc.Faults) < 2 || sc.Faults[0].Action != "latency" {
				t.Errorf("the plan's own faults: %+v", sc.Faults)
			}
		case "replica-down":
			replicaDown++
		}
	}
	// A cycle lasts hold + recovery (1s + 2×1s + 2s): at least two in 12s.
	if plans != 1 || replicaDown < 2 {
		t.Errorf("plan runs %d, replica-down runs %d (want 1 and ≥ 2): %+v", plans, replicaDown, r.Scenarios)
	}
	if r.Run.Name != "plan smoke" {
		t.Errorf("run name %q", r.Run.Name)
	}
}
