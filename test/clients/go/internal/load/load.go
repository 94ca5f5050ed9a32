// Package load is the workload every Go conformance app runs, whatever its
// library: workers that each repeat SET k v, GET k (the reply must be v),
// INCR c on a fresh key (so a value above 1 proves the write ran twice),
// plus the application behaviours a configuration asks for (a retry loop, a
// resent INCR, a health check over every node that rebuilds the client, a
// circuit breaker). Everything the app does is logged by package wire; a
// summary of its own counters is written at the end.
//
// The Python and Node.js apps implement the same workload (see
// docs/clients.md).
package load

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis-chaos/redis-chaos/test/clients/go/internal/wire"
)

// Client is what the workload needs from a library.
type Client interface {
	Set(ctx context.Context, key, val string) error
	// Get returns the value and whether the key exists.
	Get(ctx context.Context, key string) (string, bool, error)
	Incr(ctx context.Context, key string) (int64, error)
	// Probe pings each of addrs (every node of the app's configuration)
	// with a single-node client of the same library, and returns each
	// node's result by address. The clients are the app's: Close closes
	// them too.
	Probe(ctx context.Context, addrs []string, timeout time.Duration) map[string]error
	Close() error
}

// Policy is the application's behaviour around the library.
type Policy struct {
	// OpTimeout is each command's deadline (0: none).
	OpTimeout time.Duration
	// Retry resends every failed command at once, up to 20 times.
	Retry bool
	// IncrRetry resends an INCR at once after a timeout.
	IncrRetry bool
	// Health: "" none; "fanout" pings every node of the configuration (the
	// seed list) every 250 ms and reports;
	// "restart" also rebuilds the client when one node fails (at most
	// every 3 s), as a liveness probe restarting the app would.
	Health string
	// Breaker stops every data command after 3 failed operations in a row
	// until every node the client knows answers PING (checked every
	// 1.5 s): the app requires the whole cluster.
	Breaker bool
}

// Config is one configuration of an app.
type Config struct {
	Desc   string
	Policy Policy
	// New builds the library client; name is its client name.
	New func(addrs []string, name string, rec *wire.Recorder) (Client, error)
}

// Summary is the app's own account of the run, written as JSON.
type Summary struct {
	Library       string         `json:"library"`
	Version       string         `json:"version"`
	Config        string         `json:"config"`
	Desc          string         `json:"desc"`
	StartUS       int64          `json:"start_us"`
	EndUS         int64          `json:"end_us"`
	OpsOK         int64          `json:"ops_ok"`
	OpsFailed     int64          `json:"ops_failed"`
	Errors        map[string]int `json:"errors"`
	AppRetries    int64          `json:"app_retries"`
	Restarts      int64          `json:"restarts"`
	Mismatched    int64          `json:"mismatched"`
	Missing       int64          `json:"missing"`
	IncrSent      int64          `json:"incr_sent"`
	IncrAbove1    int64          `json:"incr_above_1"`
	Probes        int64          `json:"probes"`
	ProbeFailures int64          `json:"probe_failures"`
	BreakerOpenMS int64          `json:"breaker_open_ms"`
	MaxOpMS       int64          `json:"max_op_ms"`
	Stuck         int64          `json:"stuck"`
}

// Main runs an app: flags, the workload, the summary. It returns the exit
// code: 0 whatever the faults did (the runner judges), 2 on bad usage.
func Main(library, module string, configs map[string]Config) int {
	fs := flag.NewFlagSet(library, flag.ContinueOnError)
	cfgName := fs.String("config", "good", "configuration: "+strings.Join(names(configs), ", "))
	addrs := fs.String("addrs", os.Getenv("REDIS_CLUSTER_ADDRS"), "seed addresses, comma separated (default $REDIS_CLUSTER_ADDRS)")
	duration := fs.Duration("duration", 20*time.Second, "how long the load runs")
	workers := fs.Int("workers", 4, "concurrent workers")
	interval := fs.Duration("interval", 20*time.Millisecond, "pause between one worker's operations")
	wirePath := fs.String("wire", "wire.jsonl", "wire log")
	outPath := fs.String("out", "summary.json", "summary of the app's counters")
	name := fs.String("name", "matrix", "client name (CLIENT SETNAME)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	cfg, ok := configs[*cfgName]
	if !ok || *addrs == "" {
		fmt.Fprintf(os.Stderr, "%s: need --config (one of %s) and seed addresses\n", library, strings.Join(names(configs), ", "))
		return 2
	}
	rec, err := wire.Open(*wirePath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	a := &app{
		cfg: cfg, rec: rec, addrs: strings.Split(*addrs, ","), name: *name,
		run:     strconv.FormatUint(rand.Uint64(), 36),
		workers: *workers, interval: *interval,
		sum: Summary{Library: library, Version: version(module), Config: *cfgName, Desc: cfg.Desc,
			Errors: map[string]int{}},
	}
	a.run1(*duration)
	rec.Close()
	b, _ := json.MarshalIndent(&a.sum, "", "  ")
	if err := os.WriteFile(*outPath, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "%s/%s: %d ok, %d failed, errors %v, restarts %d, retries %d\n",
		library, *cfgName, a.sum.OpsOK, a.sum.OpsFailed, a.sum.Errors, a.sum.Restarts, a.sum.AppRetries)
	return 0
}

func names(m map[string]Config) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// version is the library's version from the build information.
func version(module string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == module {
				return d.Version
			}
		}
	}
	return "unknown"
}

type app struct {
	cfg      Config
	rec      *wire.Recorder
	addrs    []string
	name     string
	run      string
	workers  int
	interval time.Duration

	cur      atomic.Pointer[holder]
	inflight []atomic.Int64 // per worker: start of the operation in flight (µs), 0 if none

	mu          sync.Mutex
	sum         Summary
	failsInRow  int
	breakerOpen time.Time
}

type holder struct{ c Client }

func (a *app) client() Client { return a.cur.Load().c }

func (a *app) run1(d time.Duration) {
	a.sum.StartUS = wire.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	// As a service does at start-up: retry until the client can be built.
	var c Client
	for {
		var err error
		if c, err = a.cfg.New(a.addrs, a.name, a.rec); err == nil {
			break
		}
		fmt.Fprintln(os.Stderr, "client:", err)
		if sleep(ctx, 500*time.Millisecond); ctx.Err() != nil {
			a.sum.EndUS = wire.Now()
			return
		}
	}
	a.cur.Store(&holder{c})
	a.inflight = make([]atomic.Int64, a.workers)
	var wg sync.WaitGroup
	for w := range a.workers {
		wg.Add(1)
		go func() { defer wg.Done(); a.worker(ctx, w) }()
	}
	if a.cfg.Policy.Health != "" {
		wg.Add(1)
		go func() { defer wg.Done(); a.health(ctx) }()
	}
	if a.cfg.Policy.Breaker {
		wg.Add(1)
		go func() { defer wg.Done(); a.breaker(ctx) }()
	}
	<-ctx.Done()
	// Workers stuck on a command without a timeout are left behind (the
	// process exits): each is recorded as stuck for as long as it waited.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
	now := wire.Now()
	for w := range a.inflight {
		if s := a.inflight[w].Load(); s != 0 {
			f := false
			a.rec.Log(wire.Event{K: "op", D: now - s, OK: &f, E: "stuck"})
			a.mu.Lock()
			a.sum.Stuck++
			a.sum.MaxOpMS = max(a.sum.MaxOpMS, (now-s)/1000)
			a.mu.Unlock()
		}
	}
	a.sum.EndUS = now
	a.mu.Lock()
	if !a.breakerOpen.IsZero() {
		a.sum.BreakerOpenMS += time.Since(a.breakerOpen).Milliseconds()
	}
	a.mu.Unlock()
	a.rec.Stop()
	go a.client().Close() // may block on a hung connection; the process exits anyway
}

func (a *app) worker(ctx context.Context, w int) {
	for i := 0; ctx.Err() == nil; i++ {
		if a.isOpen() {
			sleep(ctx, a.interval)
			continue
		}
		start := wire.Now()
		a.inflight[w].Store(start)
		class, err := a.op(ctx, w, i)
		end := wire.Now()
		a.inflight[w].Store(0)
		if class == "cancelled" {
			return // the run's end cut the operation short
		}
		okv := class == ""
		ev := wire.Event{T: end, K: "op", D: end - start, OK: &okv, E: class}
		if err != nil {
			ev.Note = err.Error()
			if len(ev.Note) > 100 {
				ev.Note = ev.Note[:100]
			}
		}
		a.rec.Log(ev)
		a.mu.Lock()
		a.sum.MaxOpMS = max(a.sum.MaxOpMS, (end-start)/1000)
		if okv {
			a.sum.OpsOK++
			a.failsInRow = 0
		} else {
			a.sum.OpsFailed++
			a.sum.Errors[class]++
			a.failsInRow++
			if a.cfg.Policy.Breaker && a.failsInRow >= 3 && a.breakerOpen.IsZero() {
				a.breakerOpen = time.Now()
				a.rec.Log(wire.Event{K: "breaker", Note: "open"})
			}
		}
		a.mu.Unlock()
		sleep(ctx, a.interval)
	}
}

// op is one operation; it returns "" or the class of its first error, and
// the error.
func (a *app) op(ctx context.Context, w, i int) (string, error) {
	key := fmt.Sprintf("m:%s:%d:%d", a.run, w, i)
	val := key + "=" + strconv.FormatInt(wire.Now(), 10)
	if err := a.do(ctx, func(ctx context.Context) error { return a.client().Set(ctx, key, val) }); err != nil {
		return a.classify(ctx, err), err
	}
	var got string
	var found bool
	err := a.do(ctx, func(ctx context.Context) error {
		var err error
		got, found, err = a.client().Get(ctx, key)
		return err
	})
	if err != nil {
		return a.classify(ctx, err), err
	}
	switch {
	case !found:
		a.mu.Lock()
		a.sum.Missing++
		a.mu.Unlock()
		a.rec.Log(wire.Event{K: "missing"})
		return "missing", nil
	case got != val:
		a.mu.Lock()
		a.sum.Mismatched++
		a.mu.Unlock()
		a.rec.Log(wire.Event{K: "mismatch"})
		return "mismatch", nil
	}
	ckey := fmt.Sprintf("c:%s:%d:%d", a.run, w, i)
	a.mu.Lock()
	a.sum.IncrSent++
	a.mu.Unlock()
	var n int64
	err = a.do(ctx, func(ctx context.Context) error {
		var err error
		n, err = a.client().Incr(ctx, ckey)
		if err != nil && a.cfg.Policy.IncrRetry && Classify(err) == "timeout" && ctx.Err() == nil {
			a.retried()
			n, err = a.client().Incr(ctx, ckey)
		}
		return err
	})
	if err != nil {
		return a.classify(ctx, err), err
	}
	if n > 1 {
		a.mu.Lock()
		a.sum.IncrAbove1++
		a.mu.Unlock()
	}
	return "", nil
}

// do runs one command with the command deadline and the retry policy.
func (a *app) do(ctx context.Context, f func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if a.cfg.Policy.OpTimeout > 0 {
			cctx, cancel = context.WithTimeout(ctx, a.cfg.Policy.OpTimeout)
		}
		err := f(cctx)
		cancel()
		if err == nil || !a.cfg.Policy.Retry || attempt >= 20 || ctx.Err() != nil {
			return err
		}
		a.retried()
	}
}

func (a *app) retried() {
	a.mu.Lock()
	a.sum.AppRetries++
	a.mu.Unlock()
	a.rec.Log(wire.Event{K: "retry"})
}

func (a *app) classify(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "cancelled"
	}
	return Classify(err)
}

// Classify names an error as the app sees it: moved, ask, clusterdown,
// tryagain, loading, masterdown, timeout, refused, reset (reset, EOF,
// broken pipe, closed), or other.
func Classify(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return ClassifyText(err.Error())
}

// ClassifyText classifies an error message.
func ClassifyText(s string) string {
	u := strings.ToUpper(s)
	for _, p := range []struct{ sub, class string }{
		{"MOVED ", "moved"}, {"ASK ", "ask"}, {"CLUSTERDOWN", "clusterdown"}, {"TRYAGAIN", "tryagain"},
		{"LOADING", "loading"}, {"MASTERDOWN", "masterdown"}, {"CROSSSLOT", "crossslot"},
		{"TIMEOUT", "timeout"}, {"TIMED OUT", "timeout"}, {"DEADLINE", "timeout"},
		{"REFUSED", "refused"}, {"RESET", "reset"}, {"EOF", "reset"}, {"BROKEN PIPE", "reset"},
		{"CLOSED", "reset"},
	} {
		if strings.Contains(u, p.sub) {
			return p.class
		}
	}
	return "other"
}

func (a *app) health(ctx context.Context) {
	var lastRestart time.Time
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res := a.client().Probe(ctx, a.addrs, 300*time.Millisecond)
		failed := false
		for addr, err := range res {
			ok := err == nil
			failed = failed || !ok
			a.rec.Log(wire.Event{K: "probe", P: port(addr), OK: &ok})
			a.mu.Lock()
			a.sum.Probes++
			if !ok {
				a.sum.ProbeFailures++
			}
			a.mu.Unlock()
		}
		if failed && a.cfg.Policy.Health == "restart" && time.Since(lastRestart) >= 3*time.Second && ctx.Err() == nil {
			c, err := a.cfg.New(a.addrs, a.name, a.rec)
			if err != nil {
				continue
			}
			lastRestart = time.Now()
			old := a.cur.Swap(&holder{c})
			go old.c.Close()
			a.rec.Log(wire.Event{K: "restart"})
			a.mu.Lock()
			a.sum.Restarts++
			a.mu.Unlock()
		}
	}
}

func (a *app) isOpen() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.breakerOpen.IsZero()
}

func (a *app) breaker(ctx context.Context) {
	for ctx.Err() == nil {
		sleep(ctx, 1500*time.Millisecond)
		if !a.isOpen() {
			continue
		}
		all := true
		for addr, err := range a.client().Probe(ctx, a.addrs, time.Second) {
			ok := err == nil
			all = all && ok
			a.rec.Log(wire.Event{K: "probe", P: port(addr), OK: &ok, Note: "breaker"})
		}
		if all {
			a.mu.Lock()
			a.sum.BreakerOpenMS += time.Since(a.breakerOpen).Milliseconds()
			a.breakerOpen = time.Time{}
			a.failsInRow = 0
			a.mu.Unlock()
			a.rec.Log(wire.Event{K: "breaker", Note: "close"})
		}
	}
}

func port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
