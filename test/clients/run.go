package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/chaos"
)

// Options configure a matrix run.
type Options struct {
	Root        string        // the repository's root
	Out         string        // where binaries, the cluster and per-cell results go
	Cells       []Cell        // the cells to play
	Reps        int           // repetitions of each cell (default 1)
	ClusterBase int           // first real node port (9 nodes; bus ports +10000)
	ProxyBase   int           // first proxy port (9 ports)
	API         string        // control API address of each run
	NodeTimeout time.Duration // cluster-node-timeout (default 1s)
	Tail        time.Duration // the app keeps running this long after the recovery (default 2s)
	Log         io.Writer     // progress (default stderr)
}

// CellResult is one played cell.
type CellResult struct {
	Cell
	ID        string                 `json:"id"`
	Rep       int                    `json:"rep"`
	Summary   *Summary               `json:"summary,omitempty"`
	Dups      int                    `json:"dup_incr"`
	IncrKeys  int                    `json:"incr_keys"`
	Recovery  Recovery               `json:"recovery"`
	Expected  map[string]Expectation `json:"expected"`
	Findings  []Found                `json:"findings"`
	Verdicts  map[string]string      `json:"verdicts"` // rule → tp, fp, fn, undecided (true negatives left out)
	RunExit   int                    `json:"run_exit"`
	Error     string                 `json:"error,omitempty"`
	Seconds   float64                `json:"seconds"`
	ReportDir string                 `json:"report_dir"`
}

// Found is one rule the checker reported in a cell.
type Found struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"`
	Count    int    `json:"count"`
}

// Recovery is how the app's operations fared around the fault.
type Recovery struct {
	FaultMS      int64          `json:"fault_ms"`      // how long the fault was held
	ErrorsDuring int            `json:"errors_during"` // failed operations from the fault's start to the app's end
	Classes      map[string]int `json:"classes"`       // their error classes
	LastErrorMS  int64          `json:"last_error_ms"` // the last failed operation's end, from the fault's start (-1: none)
	Recovered    bool           `json:"recovered"`     // the app's last 2 s were free of errors
	ErrorsBefore int            `json:"errors_before"` // failed operations before the fault
	MaxWaitMS    int64          `json:"max_wait_ms"`   // the longest operation
	Resends      int            `json:"resends"`       // data commands sent again, identical (retries by the library or the app)
	NotRecovered string         `json:"not_recovered,omitempty"`
}

// Results are a whole run of the matrix.
type Results struct {
	Commit  string       `json:"commit"`
	Started time.Time    `json:"started"`
	Seconds float64      `json:"seconds"`
	Cells   []CellResult `json:"cells"`
}

func (o *Options) defaults() {
	if o.Reps <= 0 {
		o.Reps = 1
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = time.Second
	}
	if o.Tail <= 0 {
		o.Tail = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.ClusterBase == 0 {
		o.ClusterBase = 14001
	}
	if o.ProxyBase == 0 {
		o.ProxyBase = 14101
	}
	if o.API == "" {
		o.API = "127.0.0.1:14100"
	}
}

// Run builds what the cells need, starts one cluster, plays every cell
// against it through redis-chaos run, and returns the results. done, when
// set, is called after each cell.
func Run(ctx context.Context, o Options, done func(CellResult)) (*Results, error) {
	o.defaults()
	var err error
	if o.Out, err = filepath.Abs(o.Out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(o.Out, "cells"), 0o755); err != nil {
		return nil, err
	}
	res := &Results{Started: time.Now(), Commit: commit(o.Root)}
	bins, err := build(ctx, o)
	if err != nil {
		return nil, err
	}
	m := &matrix{o: o, bins: bins}
	if err := m.startCluster(ctx); err != nil {
		return nil, err
	}
	defer m.stopCluster()
	for _, c := range o.Cells {
		for rep := 1; rep <= o.Reps; rep++ {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			r := m.play(ctx, c, rep)
			res.Cells = append(res.Cells, r)
			if done != nil {
				done(r)
			}
		}
	}
	res.Seconds = time.Since(res.Started).Seconds()
	return res, nil
}

func commit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

type binaries struct {
	redisChaos string
	app        map[string][]string // library → the app's command (before its flags)
}

// build compiles redis-chaos and the Go apps, installs the Node.js apps'
// packages, and checks Python's redis package, as far as the cells need.
func build(ctx context.Context, o Options) (*binaries, error) {
	bin := filepath.Join(o.Out, "bin")
	b := &binaries{redisChaos: filepath.Join(bin, "redis-chaos"), app: map[string][]string{}}
	need := map[string]bool{}
	for _, c := range o.Cells {
		need[c.Library] = true
	}
	run := func(dir string, args ...string) error {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = o.Log, o.Log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s (in %s): %w", strings.Join(args, " "), dir, err)
		}
		return nil
	}
	if err := run(o.Root, "go", "build", "-o", b.redisChaos, "./cmd/redis-chaos"); err != nil {
		return nil, err
	}
	goApps := filepath.Join(o.Root, "test", "clients", "go")
	for lib, pkg := range map[string]string{"go-redis": "./goredis", "rueidis": "./rueidis"} {
		if need[lib] {
			exe := filepath.Join(bin, strings.TrimPrefix(pkg, "./"))
			if err := run(goApps, "go", "build", "-o", exe, pkg); err != nil {
				return nil, err
			}
			b.app[lib] = []string{exe}
		}
	}
	if need["redis-py"] {
		out, err := exec.CommandContext(ctx, Python, "-c", "import redis; print(redis.__version__)").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("%s cannot import redis (install Debian's python3-redis): %s", Python, out)
		}
		b.app["redis-py"] = []string{Python, filepath.Join(o.Root, "test", "clients", "python", "app.py")}
	}
	if need["ioredis"] || need["node-redis"] {
		node := filepath.Join(o.Root, "test", "clients", "node")
		if err := run(node, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"); err != nil {
			return nil, err
		}
		b.app["ioredis"] = []string{"node", filepath.Join(node, "ioredis.js")}
		b.app["node-redis"] = []string{"node", filepath.Join(node, "noderedis.js")}
	}
	return b, nil
}

// Python is the interpreter of the redis-py app: Debian's, with its
// python3-redis package.
const Python = "/usr/bin/python3"

type matrix struct {
	o        Options
	bins     *binaries
	dir      string
	coverage string
}

func (m *matrix) realAddrs() []string {
	var out []string
	for i := 0; i < 9; i++ {
		out = append(out, "127.0.0.1:"+strconv.Itoa(m.o.ClusterBase+i))
	}
	return out
}

// ErrClusterStart is a cluster that did not start (a port taken, most often).
var ErrClusterStart = errors.New("cluster up failed")

func (m *matrix) startCluster(ctx context.Context) error {
	m.dir = filepath.Join(m.o.Out, "cluster")
	os.RemoveAll(m.dir)
	cmd := exec.CommandContext(ctx, m.bins.redisChaos, "cluster", "up", "--log-level", "warn",
		"--cluster-base-port", strconv.Itoa(m.o.ClusterBase), "--node-timeout", m.o.NodeTimeout.String(), "--dir", m.dir)
	cmd.Stdout, cmd.Stderr = io.Discard, m.o.Log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %w", ErrClusterStart, err)
	}
	m.coverage = "yes"
	return nil
}

func (m *matrix) stopCluster() {
	cmd := exec.Command(m.bins.redisChaos, "cluster", "down", "--dir", m.dir)
	cmd.Stdout, cmd.Stderr = io.Discard, m.o.Log
	cmd.Run()
}

// onNodes runs f on a plain client of every real node.
func (m *matrix) onNodes(ctx context.Context, f func(*redis.Client) error) error {
	var errs []error
	for _, a := range m.realAddrs() {
		c := redis.NewClient(&redis.Options{Addr: a, DialTimeout: 2 * time.Second, ReadTimeout: 10 * time.Second, MaxRetries: -1})
		if err := f(c); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
		}
		c.Close()
	}
	return errors.Join(errs...)
}

func (m *matrix) setCoverage(ctx context.Context, v string) error {
	if v == m.coverage {
		return nil
	}
	err := m.onNodes(ctx, func(c *redis.Client) error {
		return c.ConfigSet(ctx, "cluster-require-full-coverage", v).Err()
	})
	if err == nil {
		m.coverage = v
	}
	return err
}

// baselinePlan is the plan played for the "baseline" scenario: one fault
// that matches no key the apps use, so that nothing changes and the run
// has the same shape as the others.
const baselinePlan = `name: baseline
steps:
  - at: 0s
    fault: {action: error, error: MISCONF, target: all, match: {keys: "matrix:baseline:unused"}, ttl: 10s}
`

func (m *matrix) hold(scenario string) time.Duration {
	if sc, ok := chaos.Scenarios[scenario]; ok {
		return sc.Hold
	}
	return 10 * time.Second
}

func (m *matrix) play(ctx context.Context, c Cell, rep int) (r CellResult) {
	began := time.Now()
	r = CellResult{Cell: c, ID: c.ID(), Rep: rep, Verdicts: map[string]string{}}
	name := strings.ReplaceAll(c.ID(), "/", "_")
	if m.o.Reps > 1 {
		name += "_" + strconv.Itoa(rep)
	}
	dir := filepath.Join(m.o.Out, "cells", name)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.Error = err.Error()
		return r
	}
	r.ReportDir = filepath.Join(dir, "report")
	defer func() {
		// Empty the cluster for the next cell (directly on the real nodes),
		// and keep the cell's result next to its records (for Rejudge).
		if err := m.reset(ctx); err != nil && r.Error == "" {
			r.Error = fmt.Sprintf("reset: %v", err)
		}
		r.Seconds = time.Since(began).Seconds()
		b, _ := json.MarshalIndent(&r, "", "  ")
		os.WriteFile(filepath.Join(dir, "cell.json"), b, 0o644)
	}()
	fail := func(err error) CellResult {
		r.Error = err.Error()
		fmt.Fprintf(m.o.Log, "matrix: %s: %v\n", r.ID, err)
		return r
	}
	if err := m.setCoverage(ctx, c.Coverage); err != nil {
		return fail(fmt.Errorf("coverage %s: %w", c.Coverage, err))
	}
	app, ok := m.bins.app[c.Library]
	if !ok {
		return fail(fmt.Errorf("no app for %s", c.Library))
	}
	recoverFor := 2*m.o.NodeTimeout + 2*time.Second
	// Time for the app to start and connect before the fault (Python and
	// Node.js take about a second to start on a busy machine).
	warmup := 3 * time.Second
	duration := warmup + m.hold(c.Scenario) + recoverFor + m.o.Tail
	h := fnv.New64a()
	h.Write([]byte(c.ID()))
	seed := h.Sum64()>>1 | 1

	var proxySeeds []string
	for i := 0; i < 9; i++ {
		proxySeeds = append(proxySeeds, "127.0.0.1:"+strconv.Itoa(m.o.ProxyBase+i))
	}
	args := []string{"run", "--upstream", strings.Join(m.realAddrs(), ","),
		"--base-port", strconv.Itoa(m.o.ProxyBase), "--api", m.o.API,
		"--node-timeout", m.o.NodeTimeout.String(), "--recover", recoverFor.String(),
		"--warmup", warmup.String(), "--seed", strconv.FormatUint(seed, 10),
		"--report-dir", r.ReportDir, "--progress", "10s", "--log-level", "warn"}
	if c.Scenario == "baseline" {
		plan := filepath.Join(dir, "baseline.yaml")
		if err := os.WriteFile(plan, []byte(baselinePlan), 0o644); err != nil {
			return fail(err)
		}
		args = append(args, "--plan", plan)
	} else {
		args = append(args, "--scenarios", c.Scenario)
	}
	wirePath, sumPath := filepath.Join(dir, "wire.jsonl"), filepath.Join(dir, "summary.json")
	args = append(args, "--")
	args = append(args, app...)
	args = append(args, "--config", c.Config, "--duration", duration.String(),
		"--wire", wirePath, "--out", sumPath, "--name", "matrix")
	logf, err := os.Create(filepath.Join(dir, "run.log"))
	if err != nil {
		return fail(err)
	}
	cmd := exec.CommandContext(ctx, m.bins.redisChaos, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.WaitDelay = 30 * time.Second
	err = cmd.Run()
	logf.Close()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.RunExit = ee.ExitCode()
	default:
		return fail(fmt.Errorf("redis-chaos run: %w", err))
	}

	evs, err := ReadWire(wirePath)
	if err != nil {
		return fail(fmt.Errorf("the app's wire log: %w (see %s)", err, filepath.Join(dir, "run.log")))
	}
	r.IncrKeys, r.Dups, err = m.readBack(ctx, Organise(evs))
	if err != nil {
		return fail(fmt.Errorf("reading the INCR keys back: %w", err))
	}
	if err := judge(&r, dir, recoverFor); err != nil {
		return fail(err)
	}
	return r
}

// judge compares the checker's findings in a played cell (its directory
// holds report/report.json, summary.json and wire.jsonl) with what the app
// did; r carries the INCR keys read back.
func judge(r *CellResult, dir string, recoverFor time.Duration) error {
	r.ReportDir = filepath.Join(dir, "report")
	r.Findings, r.Verdicts = nil, map[string]string{}
	rep, err := readReport(filepath.Join(r.ReportDir, "report.json"))
	if err != nil {
		return fmt.Errorf("report: %w (see %s)", err, filepath.Join(dir, "run.log"))
	}
	for _, f := range rep.Findings {
		r.Findings = append(r.Findings, Found{Rule: f.Rule, Severity: f.Severity, Count: f.Count})
	}
	var sum Summary
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err == nil {
		err = json.Unmarshal(b, &sum)
	}
	if err != nil {
		return fmt.Errorf("the app's summary: %w (see %s)", err, filepath.Join(dir, "run.log"))
	}
	r.Summary = &sum
	evs, err := ReadWire(filepath.Join(dir, "wire.jsonl"))
	if err != nil {
		return fmt.Errorf("the app's wire log: %w", err)
	}
	w := Organise(evs)
	env := Env{Window: rep.window(r.Cell, recoverFor), ReplicaPorts: rep.replicaPorts(), Dups: r.Dups, IncrKeys: r.IncrKeys}
	r.Recovery = recovery(w, &sum, env.Window)
	r.Recovery.Resends = Resends(w)
	r.Expected = Derive(&sum, w, env)
	found := map[string]bool{}
	for _, f := range r.Findings {
		found[f.Rule] = true
	}
	for rule, e := range r.Expected {
		switch {
		case e.Undecided:
			r.Verdicts[rule] = "undecided"
		case e.Expected && found[rule]:
			r.Verdicts[rule] = "tp"
		case e.Expected:
			r.Verdicts[rule] = "fn"
		case found[rule]:
			r.Verdicts[rule] = "fp"
		}
	}
	for rule := range found {
		if _, ok := r.Expected[rule]; !ok {
			r.Verdicts[rule] = "fp" // a rule the matrix does not know: reported, never expected
		}
	}
	return nil
}

// Rejudge recomputes every cell of a finished run (out/cells/*) from what
// it recorded, without playing it again: for a change in how expectations
// are derived.
func Rejudge(out string, nodeTimeout time.Duration) (*Results, error) {
	if nodeTimeout <= 0 {
		nodeTimeout = time.Second
	}
	var prev Results
	if b, err := os.ReadFile(filepath.Join(out, "results.json")); err == nil {
		json.Unmarshal(b, &prev)
	}
	dirs, err := filepath.Glob(filepath.Join(out, "cells", "*", "cell.json"))
	if err != nil {
		return nil, err
	}
	res := &Results{Commit: prev.Commit, Started: prev.Started, Seconds: prev.Seconds}
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r CellResult
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if r.Error == "" {
			if err := judge(&r, filepath.Dir(f), 2*nodeTimeout+2*time.Second); err != nil {
				r.Error = err.Error()
			}
		}
		res.Cells = append(res.Cells, r)
	}
	SortCells(res.Cells)
	return res, nil
}

// readBack reads every INCR key the app sent from the real cluster
// (bypassing the proxy): a value above 1 is a write that ran twice.
func (m *matrix) readBack(ctx context.Context, w *Wire) (keys, dups int, err error) {
	seen := map[string]bool{}
	var list []string
	for _, c := range w.Cmds {
		name := strings.ToUpper(c.Args[0])
		if (name == "INCR" || name == "INCRBY") && len(c.Args) > 1 && !seen[c.Args[1]] {
			seen[c.Args[1]] = true
			list = append(list, c.Args[1])
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: m.realAddrs(), ReadTimeout: 5 * time.Second})
	defer cc.Close()
	for i := 0; i < len(list); i += 500 {
		batch := list[i:min(i+500, len(list))]
		cmds, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range batch {
				p.Get(ctx, k)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, 0, err
		}
		for _, c := range cmds {
			if n, err := c.(*redis.StringCmd).Int64(); err == nil && n > 1 {
				dups++
			}
		}
	}
	return len(list), dups, nil
}

// reset empties the cluster between cells (directly on the real nodes).
func (m *matrix) reset(ctx context.Context) error {
	return m.onNodes(ctx, func(c *redis.Client) error {
		err := c.FlushAll(ctx).Err()
		if err != nil && strings.HasPrefix(err.Error(), "READONLY") {
			return nil
		}
		return err
	})
}

// recovery measures the app's operations around the fault window.
func recovery(w *Wire, s *Summary, win Window) Recovery {
	r := Recovery{FaultMS: (win.End - win.Start) / 1000, Classes: map[string]int{}, LastErrorMS: -1, MaxWaitMS: s.MaxOpMS}
	var lastErr int64
	for _, e := range w.App {
		if e.K != "op" || e.OK == nil || *e.OK {
			continue
		}
		if e.T < win.Start {
			r.ErrorsBefore++
			continue
		}
		r.ErrorsDuring++
		r.Classes[e.E]++
		lastErr = max(lastErr, e.T)
	}
	if lastErr > 0 {
		r.LastErrorMS = (lastErr - win.Start) / 1000
	}
	r.Recovered = lastErr == 0 || s.EndUS-lastErr >= 2*sec
	if !r.Recovered {
		r.NotRecovered = fmt.Sprintf("errors until %.1f s before the end", float64(s.EndUS-lastErr)/float64(sec))
	}
	return r
}

// report is what the matrix reads from redis-chaos run's report.json.
type report struct {
	Nodes []struct {
		Addr     string `json:"addr"`
		Announce string `json:"announce"`
		Role     string `json:"role"`
	} `json:"nodes"`
	Scenarios []struct {
		Name   string `json:"name"`
		Phases []struct {
			Name  string    `json:"name"`
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		} `json:"phases"`
		Faults []struct {
			Action string    `json:"action"`
			Nodes  []string  `json:"nodes"`
			Start  time.Time `json:"start"`
			End    time.Time `json:"end"`
		} `json:"faults"`
	} `json:"scenarios"`
	Findings []struct {
		Rule     string `json:"rule"`
		Severity string `json:"severity"`
		Count    int    `json:"count"`
	} `json:"findings"`
}

func readReport(path string) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *report) replicaPorts() map[int]bool {
	out := map[int]bool{}
	for _, n := range r.Nodes {
		if n.Role == "replica" || n.Role == "slave" {
			if i := strings.LastIndexByte(n.Announce, ':'); i >= 0 {
				p, _ := strconv.Atoi(n.Announce[i+1:])
				out[p] = true
			}
		}
	}
	return out
}

// uncovering are the scenarios during whose hold some slots are not served.
var uncovering = map[string]bool{"shard-down": true, "majority-masters-down": true, "all-masters-down": true, "all-down": true}

// window is the cell's fault as played: from the first fault's start to the
// start of the recovery (the end of the hold), and the recovery's end.
func (r *report) window(c Cell, recoverFor time.Duration) Window {
	w := Window{ClusterSize: len(r.Nodes), Uncovered: uncovering[c.Scenario],
		Served: c.Scenario == "shard-down" && c.Coverage == "no"}
	nodes := map[string]bool{}
	var start, end, recEnd time.Time
	for _, s := range r.Scenarios {
		for _, f := range s.Faults {
			if start.IsZero() || f.Start.Before(start) {
				start = f.Start
			}
			if f.End.After(end) {
				end = f.End
			}
			for _, n := range f.Nodes {
				nodes[n] = true
			}
		}
		for _, p := range s.Phases {
			if p.Name == "recover" {
				end, recEnd = p.Start, p.End
			}
		}
	}
	if recEnd.IsZero() {
		recEnd = end.Add(recoverFor)
	}
	w.Start, w.End, w.RecoverEnd, w.Nodes = start.UnixMicro(), end.UnixMicro(), recEnd.UnixMicro(), len(nodes)
	return w
}

// Score is one rule's counts over the cells.
type Score struct {
	Rule      string  `json:"rule"`
	TP        int     `json:"tp"`
	FP        int     `json:"fp"`
	FN        int     `json:"fn"`
	TN        int     `json:"tn"`
	Undecided int     `json:"undecided"` // cells the rule's definition does not settle (not scored)
	Precision float64 `json:"precision"` // -1: no finding
	Recall    float64 `json:"recall"`    // -1: never expected
}

// Scores computes precision and recall per rule and overall (the last
// entry, "overall", over every (cell, rule) pair).
func Scores(cells []CellResult) []Score {
	byRule := map[string]*Score{}
	all := &Score{Rule: "overall"}
	rules := append([]string(nil), Rules...)
	for _, c := range cells {
		for rule := range c.Verdicts {
			if !contains(rules, rule) {
				rules = append(rules, rule)
			}
		}
	}
	for _, rule := range rules {
		byRule[rule] = &Score{Rule: rule}
	}
	for _, c := range cells {
		if c.Error != "" {
			continue
		}
		for _, rule := range rules {
			s := byRule[rule]
			switch c.Verdicts[rule] {
			case "tp":
				s.TP++
				all.TP++
			case "fp":
				s.FP++
				all.FP++
			case "fn":
				s.FN++
				all.FN++
			case "undecided":
				s.Undecided++
				all.Undecided++
			default:
				s.TN++
				all.TN++
			}
		}
	}
	var out []Score
	for _, rule := range rules {
		out = append(out, finish(*byRule[rule]))
	}
	return append(out, finish(*all))
}

func finish(s Score) Score {
	s.Precision, s.Recall = -1, -1
	if s.TP+s.FP > 0 {
		s.Precision = float64(s.TP) / float64(s.TP+s.FP)
	}
	if s.TP+s.FN > 0 {
		s.Recall = float64(s.TP) / float64(s.TP+s.FN)
	}
	return s
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// SortCells orders results as the page shows them: by library, then
// configuration (good first), then scenario.
func SortCells(cells []CellResult) {
	lib := map[string]int{}
	for i, l := range Libraries {
		lib[l] = i
	}
	sort.SliceStable(cells, func(i, j int) bool {
		a, b := cells[i], cells[j]
		if lib[a.Library] != lib[b.Library] {
			return lib[a.Library] < lib[b.Library]
		}
		if (a.Config == "good") != (b.Config == "good") {
			return a.Config == "good"
		}
		if a.Config != b.Config {
			return a.Config < b.Config
		}
		return false
	})
}
