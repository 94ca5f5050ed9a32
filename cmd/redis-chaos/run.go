package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/chaos/report"
	"github.com/redis-chaos/redis-chaos/chaos/stack"
	"github.com/redis-chaos/redis-chaos/provision"
	"github.com/redis-chaos/redis-chaos/proxy"
)

// Exit codes of redis-chaos run (documented in the README; CI scripts rely on them).
const (
	exitOK          = 0   // CMD succeeded and no finding reaches --fail-on
	exitUsage       = 1   // bad flags or config, or redis-chaos itself failed
	exitCommand     = 2   // CMD failed (and no finding reaches --fail-on)
	exitFindings    = 3   // findings at or above --fail-on (whether CMD failed or not)
	exitIncomplete  = 4   // CMD succeeded, no finding, but a scenario was cut short or not played (--fail-incomplete)
	exitInterrupted = 130 // SIGINT/SIGTERM: CMD stopped, faults reverted, cluster stopped
)

func init() { subcommands = append(subcommands, newRunCmd) }

func newRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run [--scenarios a,b | --plan plan.yaml] [flags] -- CMD [ARGS…]",
		Short: "CI entry point: run CMD against a faulty cluster, play scenarios, write reports, fail on findings",
		Long: `Provision a local cluster (or use --upstream), start the proxy in front of it, run
CMD with REDIS_CLUSTER_ADDRS (the proxy's addresses, comma separated) and
REDIS_CHAOS_API (the control API's URL) in its environment, and play the
scenarios (each inject → hold → recover, in order) or the plan while CMD runs.
When CMD exits, report.json, junit.xml and report.html are written to
--report-dir.

Exit codes:
  0    CMD succeeded and no finding reaches --fail-on
  1    usage or configuration error, or redis-chaos itself failed
  2    CMD failed (its exit status is printed) and no finding reaches --fail-on
  3    findings at or above --fail-on (whether CMD failed or not)
  4    CMD succeeded and no finding reaches --fail-on, but a scenario was cut
       short or never played (the command ended first); --fail-incomplete=false
       reports them as skipped instead
  130  interrupted (SIGINT/SIGTERM): CMD stopped, faults reverted, cluster stopped`,
		Example: `  redis-chaos run --scenarios replica-down,master-down -- go test ./integration/...
  redis-chaos run --plan plan.yaml --fail-on medium --report-dir out -- ./app-smoke-test
  redis-chaos run --upstream 10.0.0.5:6379 --scenarios hang --loop -- ./load-test --duration 2m`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErr(errNoCommand)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := runSettings(cmd)
			if err != nil {
				return usageErr(err)
			}
			return runRun(cmd, v, args)
		},
	}
	cmd.Flags().SetInterspersed(false) // CMD's own flags are CMD's
	f := cmd.Flags()
	f.String("scenarios", "", "built-in scenarios to play in order, comma separated (redis-chaos scenario ls)")
	f.String("plan", "", "YAML plan to play instead of --scenarios (steps at offsets, each a scenario or a fault)")
	f.String("mode", "simulate", "simulate, or real (the embedded cluster only)")
	f.String("upstream", "", "use this existing cluster (seed addresses, comma separated) instead of provisioning one; simulate only")
	f.String("report-dir", "redis-chaos-report", "where report.json, junit.xml and report.html are written")
	f.String("fail-on", "high", "fail (exit 3) on findings of this severity or more: high, medium, low, info")
	f.Duration("hold", 0, "how long each scenario's faults are held (default: the scenario's)")
	f.Duration("recover", 0, "how long each scenario watches the recovery (default: 2×node-timeout+2s)")
	f.Duration("warmup", time.Second, "time CMD gets to connect before the first fault")
	f.Bool("loop", false, "play the scenario list (or the plan) again and again until CMD exits")
	f.Bool("fail-incomplete", true, "fail (exit 4) when a scenario is cut short or never played because CMD ended first; false: report it as skipped")
	f.Duration("progress", time.Second, "progress update interval on stderr (plain lines every 5× this when not a terminal)")
	f.Duration("kill-after", 10*time.Second, "after Ctrl-C, how long CMD gets after SIGTERM before SIGKILL")
	addProxyFlags(cmd)
	addClusterFlags(cmd)
	return cmd
}

func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

// errNoCommand is run without the command to test.
var errNoCommand = errors.New("give the command to test after --: redis-chaos run [flags] -- CMD [ARGS…]")

// runOptions are run's settings, checked before anything starts.
type runOptions struct {
	scenarios      []string
	plan           *chaos.Plan
	mode           string
	upstream       []string
	reportDir      string
	failOn         checker.Severity
	hold           time.Duration
	recover        time.Duration
	warmup         time.Duration
	loop           bool
	failIncomplete bool
	defaultTTL     time.Duration
	progress       time.Duration
	killAfter      time.Duration
	command        []string
}

func parseRunOptions(v *viper.Viper, args []string) (*runOptions, error) {
	o := &runOptions{
		scenarios:      splitList(v.GetString("scenarios")),
		mode:           v.GetString("mode"),
		upstream:       splitList(v.GetString("upstream")),
		reportDir:      v.GetString("report-dir"),
		hold:           v.GetDuration("hold"),
		recover:        v.GetDuration("recover"),
		warmup:         v.GetDuration("warmup"),
		loop:           v.GetBool("loop"),
		failIncomplete: v.GetBool("fail-incomplete"),
		defaultTTL:     v.GetDuration("default-ttl"),
		progress:       v.GetDuration("progress"),
		killAfter:      v.GetDuration("kill-after"),
		command:        args,
	}
	sev, err := checker.ParseSeverity(v.GetString("fail-on"))
	if err != nil {
		return nil, fmt.Errorf("--fail-on: %w", err)
	}
	o.failOn = sev
	if _, err := checkerThresholds(v); err != nil {
		return nil, err
	}
	switch o.mode {
	case "simulate", "real":
	default:
		return nil, fmt.Errorf("--mode %q: want simulate or real", o.mode)
	}
	if o.mode == "real" && len(o.upstream) > 0 {
		return nil, errors.New("--mode real: refused with --upstream (real faults only on the cluster redis-chaos provisions)")
	}
	planFile := v.GetString("plan")
	switch {
	case planFile != "" && len(o.scenarios) > 0:
		return nil, errors.New("--scenarios and --plan: give one or the other")
	case planFile == "" && len(o.scenarios) == 0:
		return nil, errors.New("--scenarios or --plan is required (redis-chaos scenario ls lists the scenarios)")
	case planFile != "":
		b, err := os.ReadFile(planFile)
		if err != nil {
			return nil, fmt.Errorf("--plan: %w", err)
		}
		p, err := chaos.ParsePlan(b, fault.Limits{DefaultTTL: v.GetDuration("default-ttl"), MaxTTL: v.GetDuration("max-ttl")})
		if err != nil {
			return nil, fmt.Errorf("--plan %s: %w", planFile, err)
		}
		if o.loop {
			p.Loop = true
		}
		o.plan = p
	}
	for _, s := range o.scenarios {
		sc, ok := chaos.Scenarios[s]
		if !ok {
			return nil, fmt.Errorf("--scenarios: unknown scenario %q%s (known: %s)", s, didYouMean(s, chaos.ScenarioNames()), strings.Join(chaos.ScenarioNames(), ", "))
		}
		if o.mode == "real" && !sc.Real {
			return nil, fmt.Errorf("--scenarios: %s has no real mode", s)
		}
	}
	if o.reportDir == "" {
		return nil, errors.New("--report-dir must not be empty")
	}
	if len(o.command) == 0 {
		return nil, errNoCommand
	}
	if _, err := exec.LookPath(o.command[0]); err != nil {
		return nil, fmt.Errorf("command %q: %w", o.command[0], err)
	}
	return o, nil
}

func runRun(cmd *cobra.Command, v *viper.Viper, args []string) error {
	o, err := parseRunOptions(v, args)
	if err != nil {
		return usageErr(err)
	}
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	log := newLogger(v, stderr)
	began := time.Now()

	// The cluster: provisioned here (stopped on every way out), or --upstream.
	seeds := o.upstream
	var realFaults chaos.RealCluster
	if len(seeds) == 0 {
		cfg, err := clusterConfig(v)
		if err != nil {
			return usageErr(err)
		}
		if err := cfg.CheckPorts(); err != nil {
			return usageErr(err)
		}
		if err := checkListen(v, cfg); err != nil {
			return usageErr(err)
		}
		cfg.Logger = log
		fmt.Fprintf(stderr, "redis-chaos: starting a %d-node cluster (%d shards × %d replicas)...\n",
			cfg.Shards*(1+max(cfg.Replicas, 0)), cfg.Shards, max(cfg.Replicas, 0))
		cl, err := provision.Start(ctx, cfg)
		if err != nil {
			if ctx.Err() != nil {
				return &exitError{code: exitInterrupted, err: errors.New("interrupted")}
			}
			return usageErr(err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := cl.Stop(sctx); err != nil {
				log.Warn("stopping the cluster", "err", err)
			}
			fmt.Fprintln(stderr, "redis-chaos: cluster stopped")
		}()
		seeds = cl.Addrs()
		realFaults = stack.RealCluster(cl)
	}
	rt, err := startProxy(ctx, v, seeds, realFaults)
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: exitInterrupted, err: errors.New("interrupted")}
		}
		return usageErr(err)
	}
	stopped := false
	stopProxy := func() {
		if !stopped {
			stopped = true
			if err := rt.Close(); err != nil {
				log.Warn("stopping the proxy", "err", err)
			}
		}
	}
	defer stopProxy()

	var announced []string
	for _, n := range rt.Proxy.Nodes() {
		announced = append(announced, n.Announce)
	}
	apiURL := "http://" + rt.APIAddr().String()
	fmt.Fprintf(stderr, "redis-chaos: ready in %.1fs; REDIS_CLUSTER_ADDRS=%s REDIS_CHAOS_API=%s\n",
		time.Since(began).Seconds(), strings.Join(announced, ","), apiURL)
	fmt.Fprintf(stderr, "redis-chaos: %s\n", planned(o, rt.Engine.Settings().NodeTimeout))
	fmt.Fprintf(stderr, "redis-chaos: running %s\n", strings.Join(o.command, " "))

	// The command, in its own process group so that Ctrl-C reaches all of it.
	c := exec.Command(o.command[0], o.command[1:]...)
	c.Env = append(os.Environ(), "REDIS_CLUSTER_ADDRS="+strings.Join(announced, ","), "REDIS_CHAOS_API="+apiURL)
	if tok := v.GetString("api-token"); tok != "" {
		c.Env = append(c.Env, "REDIS_CHAOS_API_TOKEN="+tok)
	}
	// The command runs in its own process group (Ctrl-C reaches it through
	// us); a background group reading the terminal would be stopped (SIGTTIN),
	// so a terminal stdin is not passed on.
	if in := cmd.InOrStdin(); !isTerminalReader(in) {
		c.Stdin = in
	}
	c.Stdout = cmd.OutOrStdout()
	c.Stderr = stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := c.Start(); err != nil {
		return usageErr(fmt.Errorf("start %s: %w", o.command[0], err))
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()

	// The player: scenarios or the plan, while the command runs.
	pl := &player{eng: rt.Engine, proxy: rt.Proxy, o: o, log: log}
	playCtx, stopPlay := context.WithCancel(context.Background())
	playDone := make(chan struct{})
	go func() { defer close(playDone); pl.play(playCtx) }()

	// Progress on stderr until the command exits or we are interrupted.
	pr := &progress{w: stderr, tty: isTerminal(stderr), pl: pl, rt: rt, start: start}
	tick := time.NewTicker(max(o.progress, 100*time.Millisecond))
	var waitErr error
	interrupted := false
loop:
	for n := 0; ; n++ {
		select {
		case waitErr = <-exited:
			break loop
		case <-ctx.Done():
			interrupted = true
			pr.clear()
			fmt.Fprintln(stderr, "redis-chaos: interrupted: stopping the command, reverting faults")
			waitErr = stopGroup(c, exited, o.killAfter)
			break loop
		case <-tick.C:
			pr.show(n)
		}
	}
	tick.Stop()
	pr.clear()
	end := time.Now()
	stopPlay()
	<-playDone
	rt.Engine.StopRuns()
	rt.Engine.Clear("run ended")
	// Real faults are reverted in the background: a partition heals, then
	// its lost writes are known (and become findings) before the report.
	sctx, cancelSettle := context.WithTimeout(context.Background(), 2*time.Minute)
	if err := rt.Engine.Settle(sctx); err != nil {
		log.Warn("real faults still being reverted; the report may miss what they lost", "err", err)
	}
	cancelSettle()

	code := exitCode(waitErr)
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	rt.Checker.Flush(fctx)
	cancel()
	rep := report.Build(rt.Checker, report.Run{
		Name:     runName(o),
		Mode:     o.mode,
		Seed:     rt.Engine.Seed(),
		Start:    start,
		End:      end,
		Command:  o.command,
		ExitCode: &code,
		Seeds:    announced,
	}, pl.scenarios(end), report.NodesFrom(rt.Proxy.Nodes()))
	rep.FailOn = o.failOn
	rep.FailIncomplete = o.failIncomplete
	stopProxy()
	werr := report.WriteFiles(o.reportDir, rep)
	if werr != nil {
		log.Error("writing the reports", "err", werr)
	} else {
		fmt.Fprintf(stderr, "redis-chaos: reports in %s (%s, %s, %s)\n", o.reportDir, report.FileJSON, report.FileJUnit, report.FileHTML)
	}
	summarize(stderr, rep, o.failOn)
	pl.warn(stderr)
	return verdictExit(rep, interrupted, describeExit(waitErr), werr, stderr)
}

// verdictExit turns the report's verdict into run's exit code, so that the
// exit code, the HTML headline and the JUnit file say the same thing.
func verdictExit(rep *report.Report, interrupted bool, exit string, werr error, stderr io.Writer) error {
	v := rep.Verdict()
	switch {
	case interrupted:
		return &exitError{code: exitInterrupted, err: errors.New("interrupted; faults reverted, cluster stopped")}
	case rep.FailingFindings() > 0:
		msg := fmt.Sprintf("%d finding(s) at or above --fail-on %s", rep.FailingFindings(), rep.FailOn)
		if rep.CommandFailed() {
			msg = fmt.Sprintf("the command failed (%s), and %s", exit, msg)
		}
		return &exitError{code: exitFindings, err: errors.New(msg)}
	case rep.CommandFailed():
		return &exitError{code: exitCommand, err: fmt.Errorf("the command failed: %s", exit)}
	case v.Failed: // only scenarios not played to their end are left
		return &exitError{code: exitIncomplete, err: errors.New(strings.Join(v.Reasons, "; ") +
			" (give the command more time, or --loop; --fail-incomplete=false reports this as skipped)")}
	case werr != nil:
		return usageErr(werr)
	}
	for _, n := range v.Notes {
		fmt.Fprintf(stderr, "redis-chaos: not failing the run: %s\n", n)
	}
	fmt.Fprintln(stderr, "redis-chaos: PASS")
	return nil
}

// planned says how long the scenarios (or one pass of the plan) take, so
// that the command can be given at least that long.
func planned(o *runOptions, nodeTimeout time.Duration) string {
	total, parts := passLength(o, nodeTimeout)
	what := fmt.Sprintf("planned: %s warmup + %s = %s", o.warmup, strings.Join(parts, " + "), (o.warmup + total).Round(time.Second))
	if o.looping() {
		return what + " per pass, again until the command exits"
	}
	return what + "; the command should run at least that long (a scenario it does not see to the end is reported)"
}

// looping reports whether the scenarios or the plan play until the command exits.
func (o *runOptions) looping() bool { return o.loop || o.plan != nil && o.plan.Loop }

// passLength is how long one pass of the scenarios or the plan takes (after
// the warmup), with its parts.
func passLength(o *runOptions, nodeTimeout time.Duration) (time.Duration, []string) {
	recovery := o.recover
	if recovery <= 0 {
		recovery = 2*nodeTimeout + 2*time.Second
	}
	var total time.Duration
	var parts []string
	if o.plan != nil {
		for _, st := range o.plan.Steps {
			var d time.Duration
			switch {
			case st.Fault != nil:
				ttl := st.Fault.TTL.D()
				if ttl <= 0 {
					ttl = o.defaultTTL
				}
				if ttl <= 0 {
					ttl = 5 * time.Minute
				}
				d = st.Fault.Delay.D() + ttl
			default:
				hold := st.Hold.D()
				if hold <= 0 {
					hold = chaos.Scenarios[st.Scenario].Hold
				}
				d = hold + recovery
			}
			total = max(total, st.At.D()+d)
		}
		parts = append(parts, fmt.Sprintf("the plan %s", total))
	} else {
		for _, name := range o.scenarios {
			hold := o.hold
			if hold <= 0 {
				hold = chaos.Scenarios[name].Hold
			}
			total += hold + recovery
			parts = append(parts, fmt.Sprintf("%s %s hold+%s recover", name, hold, recovery))
		}
	}
	return total, parts
}

func runName(o *runOptions) string {
	if o.plan != nil {
		if o.plan.Name != "" {
			return "plan " + o.plan.Name
		}
		return "plan"
	}
	return strings.Join(o.scenarios, ",")
}

// stopGroup sends SIGTERM to the command's process group, then SIGKILL after
// grace, and returns the command's wait error.
func stopGroup(c *exec.Cmd, exited chan error, grace time.Duration) error {
	pgid := c.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-exited:
		syscall.Kill(-pgid, syscall.SIGKILL) // whatever of the group is left
		return err
	case <-t.C:
		syscall.Kill(-pgid, syscall.SIGKILL)
		return <-exited
	}
}

// exitCode is the command's exit status (128+signal when killed).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func summarize(w io.Writer, r *report.Report, failOn checker.Severity) {
	for _, sc := range r.Scenarios {
		if sc.Writes != nil {
			fmt.Fprintf(w, "redis-chaos: %s: %s\n", sc.Name, sc.Writes)
		}
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "redis-chaos: no findings")
		return
	}
	fmt.Fprintf(w, "redis-chaos: %d finding(s):\n", len(r.Findings))
	for _, f := range r.Findings {
		mark := " "
		if f.Severity.AtLeast(failOn) {
			mark = "✗"
		}
		possible := ""
		if f.Possible {
			possible = " (possible)"
		}
		fmt.Fprintf(w, "  %s %-6s %-26s %s ×%d%s\n", mark, f.Severity, f.Rule, f.Client, f.Count, possible)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && fileIsTerminal(f)
}

func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && fileIsTerminal(f)
}

func fileIsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// player plays the scenarios or the plan and remembers the runs.
type player struct {
	eng   *chaos.Engine
	proxy *proxy.Server // for the proxy addresses of nodes in the report
	o     *runOptions
	log   *slog.Logger

	mu      sync.Mutex
	current string // what is playing, for the progress line
	runs    []string
	plan    string // the plan's run id
	errs    []notPlayed
}

// notPlayed is a scenario that could not start.
type notPlayed struct{ name, err string }

func (p *player) setCurrent(s string) {
	p.mu.Lock()
	p.current = s
	p.mu.Unlock()
}

func (p *player) play(ctx context.Context) {
	if !sleepCtx(ctx, p.o.warmup) {
		return
	}
	if p.o.plan != nil {
		r, err := p.eng.StartPlan(p.o.plan, chaos.RunOptions{Mode: p.o.mode})
		if err != nil {
			p.fail("plan", err)
			return
		}
		p.mu.Lock()
		p.plan = r.ID
		p.mu.Unlock()
		p.wait(ctx, r.ID)
		return
	}
	for cycle := 1; ; cycle++ {
		for _, name := range p.o.scenarios {
			if ctx.Err() != nil {
				return
			}
			r, err := p.eng.StartScenario(name, chaos.RunOptions{Mode: p.o.mode, Hold: p.o.hold, Recover: p.o.recover})
			if err != nil {
				p.fail(name, err)
				continue
			}
			p.mu.Lock()
			p.runs = append(p.runs, r.ID)
			p.mu.Unlock()
			p.wait(ctx, r.ID)
		}
		if !p.o.loop {
			p.setCurrent("")
			return
		}
	}
}

// warn tells what was not played: scenarios that could not start, and those
// the command did not live long enough to see.
func (p *player) warn(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errs {
		fmt.Fprintf(w, "redis-chaos: warning: not played: %s: %s\n", e.name, e.err)
	}
	if p.o.plan != nil || p.o.loop {
		return
	}
	if played := len(p.runs) + len(p.errs); played < len(p.o.scenarios) {
		fmt.Fprintf(w, "redis-chaos: warning: the command ended before every scenario was played (%d of %d started: %s not played); give it more time, or use --loop\n",
			len(p.runs), len(p.o.scenarios), strings.Join(p.o.scenarios[played:], ","))
	}
}

func (p *player) fail(name string, err error) {
	p.log.Error("run: cannot start", "what", name, "err", err)
	p.mu.Lock()
	p.errs = append(p.errs, notPlayed{name, err.Error()})
	p.mu.Unlock()
}

// wait follows a run until it is done or ctx ends (the run is stopped then).
func (p *player) wait(ctx context.Context, id string) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		r, err := p.eng.GetRun(id)
		if err != nil || r.State != "running" {
			return
		}
		p.setCurrent(id)
		select {
		case <-ctx.Done():
			p.eng.StopRun(id)
			return
		case <-t.C:
		}
	}
}

// status describes what is playing: "master-down hold 3.2s left".
func (p *player) status() string {
	p.mu.Lock()
	id := p.current
	p.mu.Unlock()
	if id == "" {
		return "no fault"
	}
	r, err := p.eng.GetRun(id)
	if err != nil || r.State != "running" {
		return "between scenarios"
	}
	s := r.Scenario
	if len(r.Phases) > 0 {
		ph := r.Phases[len(r.Phases)-1]
		s += " " + ph.Name
		if left := p.phaseLeft(r, ph); left > 0 {
			s += fmt.Sprintf(" (%s left)", left.Round(100*time.Millisecond))
		}
	}
	return s
}

func (p *player) phaseLeft(r *chaos.Run, ph chaos.Phase) time.Duration {
	d := p.phaseLength(r, ph.Name)
	if d <= 0 {
		return 0
	}
	return time.Until(ph.Start.Add(d))
}

// phaseLength is how long a scenario's hold or recover phase lasts; 0 for
// other phases.
func (p *player) phaseLength(r *chaos.Run, phase string) time.Duration {
	var d time.Duration
	switch phase {
	case "hold":
		d = p.o.hold
		if d <= 0 {
			if sc, ok := chaos.Scenarios[r.Scenario]; ok {
				d = sc.Hold
			}
		}
	case "recover":
		d = p.o.recover
		if d <= 0 {
			d = 2*p.eng.Settings().NodeTimeout + 2*time.Second
		}
	}
	return d
}

// scenarios are the runs played, as the report shows them, then the
// scenarios never played.
func (p *player) scenarios(end time.Time) []report.Scenario {
	p.mu.Lock()
	ids := append([]string(nil), p.runs...)
	plan := p.plan
	attempted := len(p.runs) + len(p.errs)
	errs := append([]notPlayed(nil), p.errs...)
	p.mu.Unlock()
	var out []report.Scenario
	if plan != "" { // the plan's scenario steps are runs of their own
		for _, r := range p.eng.Runs() {
			if r.ID != plan && !strings.HasPrefix(r.Scenario, "plan:") {
				ids = append(ids, r.ID)
			}
		}
		if r, err := p.eng.GetRun(plan); err == nil {
			sc := p.toScenario(r, end)
			var own []*chaos.Fault
			for _, f := range r.Faults {
				if f.Source == "plan:"+r.ID {
					own = append(own, f)
				}
			}
			sc.Faults = windows(own, r, end)
			out = append(out, sc)
		}
	}
	done := map[string]bool{} // scenarios played to the end at least once (--loop)
	if len(out) == 1 && !out[0].Complete() && p.o.looping() {
		if pass, _ := passLength(p.o, p.eng.Settings().NodeTimeout); out[0].End.Sub(out[0].Start) >= pass {
			// A looping plan plays until the command exits: its last pass
			// is always cut short, and it was played through at least once.
			out[0].Detail = strings.TrimPrefix(out[0].Detail+"; last pass "+out[0].Status+": "+out[0].Reason, "; ")
			out[0].Status, out[0].Reason = report.StatusDone, ""
		}
	}
	for _, id := range ids {
		if r, err := p.eng.GetRun(id); err == nil {
			sc := p.toScenario(r, end)
			if sc.Complete() {
				done[sc.Name] = true
			} else if p.o.looping() && done[sc.Name] {
				// --loop plays until the command exits: the last pass is
				// always cut short, and this scenario was seen to its end.
				sc.Detail = strings.TrimPrefix(sc.Detail+"; last pass "+sc.Status+": "+sc.Reason, "; ")
				sc.Status, sc.Reason = report.StatusDone, ""
			}
			out = append(out, sc)
		}
	}
	for _, e := range errs {
		out = append(out, report.Scenario{Name: e.name, Status: report.StatusNotPlayed, Reason: "could not start: " + e.err})
	}
	if p.o.plan == nil && !p.o.loop {
		for _, name := range p.o.scenarios[min(attempted, len(p.o.scenarios)):] {
			sc := report.Scenario{Name: name, Status: report.StatusNotPlayed, Reason: "the command ended before it started"}
			if s, ok := chaos.Scenarios[name]; ok {
				sc.Detail, sc.Expect = s.Summary, s.Expect
			}
			out = append(out, sc)
		}
	}
	return out
}

func (p *player) toScenario(r *chaos.Run, end time.Time) report.Scenario {
	sc := report.Scenario{Name: r.Scenario, Expect: r.Expect, Start: r.Started, End: r.Ended, Status: report.StatusDone}
	if sc.End.IsZero() || sc.End.After(end) {
		sc.End = end
	}
	if s, ok := chaos.Scenarios[r.Scenario]; ok {
		sc.Detail = s.Summary
	}
	if len(r.Nodes) > 0 {
		sc.Detail = strings.TrimPrefix(sc.Detail+"; nodes "+strings.Join(r.Nodes, ", "), "; ")
	}
	switch r.State {
	case "done":
	case "failed":
		sc.Status, sc.Reason = report.StatusCut, "failed: "+r.Error
	default: // stopped (the command ended), or still running at the end
		sc.Status, sc.Reason = report.StatusCut, "the command ended "+p.cutAt(r, sc.End)
	}
	for _, ph := range r.Phases {
		e := ph.End
		if e.IsZero() || e.After(sc.End) {
			e = sc.End
		}
		sc.Phases = append(sc.Phases, report.Phase{Name: ph.Name, Start: ph.Start, End: e})
	}
	if !strings.HasPrefix(r.Scenario, "plan:") {
		sc.Faults = windows(r.Faults, r, end)
	}
	for _, f := range r.Faults {
		if w := f.Writes; w != nil {
			if sc.Writes == nil {
				sc.Writes = &report.Writes{AtRisk: w.AtRisk}
			}
			sc.Writes.Acknowledged += w.Acknowledged
			sc.Writes.Lost += w.Count()
			sc.Writes.Demoted = append(sc.Writes.Demoted, w.Demoted...)
			for _, lw := range stack.LostWrites(p.proxy, w.Lost) {
				if len(sc.Writes.List) < report.MaxListedWrites {
					sc.Writes.List = append(sc.Writes.List, lw)
				}
			}
		}
	}
	return sc
}

// cutAt says where a run was when it was stopped: "3s into hold (of 10s)".
func (p *player) cutAt(r *chaos.Run, at time.Time) string {
	if len(r.Phases) == 0 {
		return fmt.Sprintf("%s into the run", at.Sub(r.Started).Round(100*time.Millisecond))
	}
	ph := r.Phases[len(r.Phases)-1]
	s := fmt.Sprintf("%s into %s", at.Sub(ph.Start).Round(100*time.Millisecond), ph.Name)
	if d := p.phaseLength(r, ph.Name); d > 0 {
		s += fmt.Sprintf(" (of %s)", d)
	}
	return s
}

// windows are a run's faults with their end: the start of the recover phase
// for a scenario, else the fault's expiry or the run's end.
func windows(fs []*chaos.Fault, r *chaos.Run, end time.Time) []checker.FaultWindow {
	stop := r.Ended
	for _, ph := range r.Phases {
		if ph.Name == "recover" {
			stop = ph.Start
		}
	}
	if stop.IsZero() || stop.After(end) {
		stop = end
	}
	out := make([]checker.FaultWindow, 0, len(fs))
	for _, f := range fs {
		w := stack.FaultWindow(f)
		w.End = stop
		if !f.Expires.IsZero() && f.Expires.Before(stop) {
			w.End = f.Expires
		}
		out = append(out, w)
	}
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// progress prints the run's state on stderr: one line rewritten in place on
// a terminal, plain lines otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	pl    *player
	rt    *stack.Stack
	start time.Time
	shown bool
}

func (p *progress) show(n int) {
	if !p.tty && n%5 != 4 {
		return
	}
	now := time.Now()
	var cmds, errs, redirs int
	for _, s := range p.rt.Checker.Series(p.start, now) {
		for _, pt := range s.Points {
			cmds += pt.Commands
			errs += pt.Errors
			redirs += pt.Redirects
		}
	}
	line := fmt.Sprintf("redis-chaos: %s  %s  commands %d  errors %d  redirects %d  findings %d",
		now.Sub(p.start).Round(time.Second), p.pl.status(), cmds, errs, redirs, p.rt.Checker.Stats().Findings)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.shown = true
		return
	}
	fmt.Fprintln(p.w, line)
}

func (p *progress) clear() {
	if p.tty && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
