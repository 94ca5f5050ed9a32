// Command soak is the proxy's invariant soak: a real 3×2 cluster, the proxy
// and the chaos engine in one process (chaos/stack, as redis-chaos runs
// them), many connections sending random pipelines whose replies identify
// their request, and a goroutine adding and removing random faults of every
// simulated kind.
//
//	DURATION=5m CONNS=1000 go run ./test/soak      (or: make soak)
//	SHARE=1 DURATION=5m go run ./test/soak         (the proxy shares upstream connections)
//
//	clients ──pipelines──▶ proxy ──▶ 3×2 cluster
//	                         ▲ Policy
//	  faulter ──Add/Remove──▶ chaos engine
//
// Every reply must be the exact expected one, or an error a fault explains (an
// injected error, a redirection, a connection closed by reset or down). It
// counts commands, good replies, explained errors, mismatches, duplicates,
// lost replies and reconnects, checks that goroutines and heap return to
// their baseline once the clients leave, and exits 1 on any violation.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/chaos/stack"
	"github.com/redis-chaos/redis-chaos/provision"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

func main() {
	cfg := Config{Out: os.Stdout}
	flag.DurationVar(&cfg.Duration, "duration", envDuration("DURATION", 5*time.Minute), "how long clients run (env DURATION)")
	flag.IntVar(&cfg.Conns, "conns", envInt("CONNS", 1000), "concurrent client connections (env CONNS)")
	flag.Uint64Var(&cfg.Seed, "seed", uint64(envInt("SEED", 0)), "random seed; 0 picks one (env SEED)")
	flag.BoolVar(&cfg.Share, "share", os.Getenv("SHARE") == "1", "the proxy shares upstream connections (--share-upstreams; env SHARE=1)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if err := res.Check(); err != nil {
		fmt.Fprintln(os.Stderr, "soak: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("soak: PASS")
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
		fmt.Fprintf(os.Stderr, "soak: bad %s=%q, using %v\n", name, v, def)
	}
	return def
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		fmt.Fprintf(os.Stderr, "soak: bad %s=%q, using %d\n", name, v, def)
	}
	return def
}

// Config tunes a soak run. Zero values get defaults.
type Config struct {
	Duration time.Duration // clients run this long; if zero, 5m
	Conns    int           // concurrent connections; if zero, 1000
	Seed     uint64        // seed of every random choice; if zero, random
	Share    bool          // the proxy shares upstream connections (proxy.Config.ShareUpstreams)
	Out      io.Writer     // where counts are printed; if nil, discarded
}

// Result is what a run counted.
type Result struct {
	Seed        uint64
	Commands    int64 // commands sent
	OK          int64 // exact expected replies
	Explained   int64 // error replies a fault explains
	Closed      int64 // replies not received because a fault closed the connection
	Mismatches  int64 // replies that are not their request's
	Duplicates  int64 // replies that belong to an earlier request of the connection
	Lost        int64 // replies that never came on a live connection
	Unexplained int64 // errors (replies, closes, refused dials) with no fault to explain them
	Reconnects  int64
	Redirects   int64 // MOVED followed to another proxy port

	FaultsAdded, FaultsRefused, FaultsRemoved int64
	FaultKinds                                map[string]int64

	PeakRSS, PeakHeap                 uint64 // bytes
	RSSBefore, RSSAfter               uint64 // bytes, after returning freed memory to the OS
	HeapBefore, HeapAfter             uint64 // heap in use after GC, bytes
	GoroutinesBefore, GoroutinesAfter int
	CloseHung                         bool // stack.Stack.Close did not return
}

// Check returns an error naming every broken invariant.
func (r Result) Check() error {
	var errs []error
	if r.Mismatches > 0 {
		errs = append(errs, fmt.Errorf("%d mismatched replies", r.Mismatches))
	}
	if r.Duplicates > 0 {
		errs = append(errs, fmt.Errorf("%d duplicated replies", r.Duplicates))
	}
	if r.Lost > 0 {
		errs = append(errs, fmt.Errorf("%d lost replies", r.Lost))
	}
	if r.Unexplained > 0 {
		errs = append(errs, fmt.Errorf("%d errors no fault explains", r.Unexplained))
	}
	if r.CloseHung {
		errs = append(errs, errors.New("Close did not return within 20 s"))
	}
	if r.OK == 0 {
		errs = append(errs, errors.New("no command succeeded"))
	}
	if r.GoroutinesAfter > r.GoroutinesBefore+goroutineSlack {
		errs = append(errs, fmt.Errorf("goroutines %d after, %d before", r.GoroutinesAfter, r.GoroutinesBefore))
	}
	if r.HeapAfter > heapLimit(r.HeapBefore) {
		errs = append(errs, fmt.Errorf("heap %s after, %s before", mib(r.HeapAfter), mib(r.HeapBefore)))
	}
	return errors.Join(errs...)
}

const goroutineSlack = 3

func heapLimit(before uint64) uint64 { return before*2 + 32<<20 }

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (r Result) print(w io.Writer) {
	fmt.Fprintf(w, "seed            %d\n", r.Seed)
	fmt.Fprintf(w, "commands        %d\n", r.Commands)
	fmt.Fprintf(w, "ok              %d\n", r.OK)
	fmt.Fprintf(w, "explained errs  %d\n", r.Explained)
	fmt.Fprintf(w, "closed by fault %d (replies not received on a connection a fault closed)\n", r.Closed)
	fmt.Fprintf(w, "mismatches      %d\n", r.Mismatches)
	fmt.Fprintf(w, "duplicates      %d\n", r.Duplicates)
	fmt.Fprintf(w, "lost            %d\n", r.Lost)
	fmt.Fprintf(w, "unexplained     %d\n", r.Unexplained)
	fmt.Fprintf(w, "reconnects      %d\n", r.Reconnects)
	fmt.Fprintf(w, "redirects       %d\n", r.Redirects)
	fmt.Fprintf(w, "faults          %d added, %d refused, %d removed early; by kind %v\n",
		r.FaultsAdded, r.FaultsRefused, r.FaultsRemoved, r.FaultKinds)
	fmt.Fprintf(w, "peak RSS        %s\n", mib(r.PeakRSS))
	fmt.Fprintf(w, "peak heap       %s\n", mib(r.PeakHeap))
	fmt.Fprintf(w, "RSS             %s before, %s after\n", mib(r.RSSBefore), mib(r.RSSAfter))
	fmt.Fprintf(w, "heap            %s before, %s after\n", mib(r.HeapBefore), mib(r.HeapAfter))
	fmt.Fprintf(w, "goroutines      %d before, %d after\n", r.GoroutinesBefore, r.GoroutinesAfter)
	if r.CloseHung {
		fmt.Fprintln(w, "Close          HUNG (did not return within 20 s)")
	}
}

// Run provisions the cluster, runs the soak and tears everything down.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	if cfg.Duration == 0 {
		cfg.Duration = 5 * time.Minute
	}
	if cfg.Conns == 0 {
		cfg.Conns = 1000
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	res.Seed = cfg.Seed
	fmt.Fprintf(cfg.Out, "soak: %v, %d connections, seed %d\n", cfg.Duration, cfg.Conns, cfg.Seed)

	c, err := startCluster(ctx)
	if err != nil {
		return res, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if serr := c.Stop(sctx); serr != nil && err == nil {
			err = fmt.Errorf("stop cluster: %w", serr)
		}
	}()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	st, err := stack.Start(sctx, stack.Config{
		Proxy:  proxy.Config{Seeds: c.Addrs(), BasePort: -1, RefreshInterval: 200 * time.Millisecond, ShareUpstreams: cfg.Share},
		Engine: chaos.Config{Seed: cfg.Seed},
	})
	cancel()
	if err != nil {
		return res, err
	}
	p, eng := st.Proxy, st.Engine
	// Teardown is bounded: a stack whose Close hangs is a finding, not a
	// soak that never ends.
	var closeOnce sync.Once
	closeStack := func() {
		closeOnce.Do(func() {
			done := make(chan struct{})
			go func() { st.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				res.CloseHung = true
				dumpGoroutines(cfg.Out)
			}
		})
	}
	defer closeStack()

	res.GoroutinesBefore, res.HeapBefore = settle()
	res.RSSBefore = procStatus("VmRSS:")

	s := &soak{cfg: cfg, proxy: p, engine: eng, cluster: c, res: &res, kinds: map[string]int64{},
		nodeUntil: map[string]*atomic.Int64{}}
	for _, n := range p.Nodes() {
		s.nodeUntil[n.Announce] = new(atomic.Int64)
	}
	s.run(ctx)
	res.FaultKinds = s.kinds

	// Clients have left and faults are cleared: the proxy must shed what
	// they cost. Poll briefly, since closed connections finish asynchronously.
	deadline := time.Now().Add(15 * time.Second)
	for {
		res.GoroutinesAfter, res.HeapAfter = settle()
		if (res.GoroutinesAfter <= res.GoroutinesBefore+goroutineSlack && res.HeapAfter <= heapLimit(res.HeapBefore)) ||
			time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if res.GoroutinesAfter > res.GoroutinesBefore+goroutineSlack {
		dumpGoroutines(cfg.Out)
	}
	if f := os.Getenv("SOAK_HEAPPROFILE"); f != "" {
		// What the heap still holds after the clients left (go tool pprof).
		if out, err := os.Create(f); err == nil {
			pprof.Lookup("heap").WriteTo(out, 0)
			out.Close()
		}
	}
	res.RSSAfter = procStatus("VmRSS:")
	res.PeakRSS = procStatus("VmHWM:")
	res.PeakHeap = max(s.peakHeap.Load(), res.HeapBefore)
	closeStack()
	res.print(cfg.Out)
	return res, nil
}

// dumpGoroutines prints the goroutines left, grouped by stack.
func dumpGoroutines(w io.Writer) {
	var b strings.Builder
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	lines := strings.Split(b.String(), "\n")
	fmt.Fprintln(w, "goroutines left (grouped by stack):")
	fmt.Fprintln(w, strings.Join(lines[:min(len(lines), 80)], "\n"))
}

// settle collects garbage and returns the goroutine count and heap in use.
func settle() (int, uint64) {
	debug.FreeOSMemory() // a GC that also returns freed memory to the OS
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapInuse
}

// procStatus reads a size field of /proc/self/status ("VmRSS:", "VmHWM:");
// 0 where there is none.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func startCluster(ctx context.Context) (*provision.Cluster, error) {
	var last error
	for range 3 {
		base, err := freeBasePort(9)
		if err != nil {
			return nil, err
		}
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		c, err := provision.Start(sctx, provision.Config{BasePort: base, NodeTimeout: time.Second})
		cancel()
		if err == nil {
			return c, nil
		}
		last = err // a port taken between the probe and the start
	}
	return nil, fmt.Errorf("start cluster: %w", last)
}

// freeBasePort returns a base port such that base..base+n-1 and their bus
// ports (+10000) are free now.
func freeBasePort(n int) (int, error) {
	for range 200 {
		base := 20000 + rand.IntN(25000)
		ok := true
		for i := 0; i < n && ok; i++ {
			for _, p := range []int{base + i, base + i + 10000} {
				ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
				if err != nil {
					ok = false
					break
				}
				ln.Close()
			}
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free range of %d ports", n)
}

// soak is one run's moving parts.
type soak struct {
	cfg     Config
	proxy   *proxy.Server
	engine  *chaos.Engine
	cluster *provision.Cluster
	res     *Result

	// faultUntil is when (unix nanos) the last fault added that can affect
	// every node (down, hang, failover, migrate: they change the virtual cluster)
	// ends, or the last clear happened; nodeUntil is the same, per proxy
	// address, for faults that act on one node's connections only. Errors
	// until then plus slack are explained.
	faultUntil atomic.Int64
	nodeUntil  map[string]*atomic.Int64
	peakHeap   atomic.Uint64
	kinds      map[string]int64 // owned by the faulter until it returns
	printed    atomic.Int64     // violations printed
}

// slack is how long after a fault's end its effects still explain errors
// (the engine's tick, a refresh, a reconnect).
const slack = 2 * time.Second

// explained tells whether an error on a connection to the proxy address
// addr has a fault to explain it.
func (s *soak) explained(addr string) bool {
	now := time.Now().UnixNano()
	if now <= s.faultUntil.Load()+int64(slack) {
		return true
	}
	w := s.nodeUntil[addr]
	return w != nil && now <= w.Load()+int64(slack)
}

func extend(w *atomic.Int64, until time.Time) {
	for {
		cur := w.Load()
		if until.UnixNano() <= cur || w.CompareAndSwap(cur, until.UnixNano()) {
			return
		}
	}
}

func (s *soak) extend(until time.Time) { extend(&s.faultUntil, until) }

// extendFor opens the window of the nodes a fault can affect.
func (s *soak) extendFor(spec fault.Spec, until time.Time) {
	switch spec.Action {
	case "latency", "error", "reset":
		// These act on their node's connections only.
		a, ok := s.proxy.Announced(spec.Target)
		if w := s.nodeUntil[a]; ok && w != nil {
			extend(w, until)
			return
		}
	}
	// Other actions change the virtual cluster: a node down or hung fails
	// (CLUSTERDOWN everywhere, then a failover), a failover or a migration
	// redirects clients.
	s.extend(until)
}

func (s *soak) report(format string, args ...any) {
	if s.printed.Add(1) <= 20 {
		fmt.Fprintf(s.cfg.Out, "VIOLATION: "+format+"\n", args...)
	}
}

// run drives clients for the duration, faults for all but a quiet tail at
// the end (where everything must work again), then waits for all of it.
func (s *soak) run(ctx context.Context) {
	tail := min(max(s.cfg.Duration/5, 2*time.Second), 10*time.Second)
	cctx, cancelClients := context.WithTimeout(ctx, s.cfg.Duration)
	defer cancelClients()
	fctx, cancelFaults := context.WithTimeout(ctx, max(s.cfg.Duration-tail, 0))
	defer cancelFaults()

	var wg sync.WaitGroup
	wg.Go(func() { s.sampleHeap(cctx) })
	wg.Go(func() {
		s.fault(fctx)
		s.extend(time.Now())
		s.engine.Clear("soak: quiet tail")
		s.extend(time.Now())
	})
	for i := range s.cfg.Conns {
		cl := &client{s: s, id: i, rnd: rand.New(rand.NewPCG(s.cfg.Seed, uint64(i)))}
		wg.Go(func() { cl.run(cctx) })
	}
	wg.Wait()
	s.engine.Clear("soak: done")
}

func (s *soak) sampleHeap(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > s.peakHeap.Load() {
			s.peakHeap.Store(ms.HeapInuse)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// fault adds a random fault every 100–400 ms and sometimes removes one early.
func (s *soak) fault(ctx context.Context) {
	rnd := rand.New(rand.NewPCG(s.cfg.Seed, 0xfa17))
	var ids []string
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(100+rnd.IntN(300)) * time.Millisecond):
		}
		if len(ids) > 0 && rnd.IntN(4) == 0 {
			i := rnd.IntN(len(ids))
			if s.engine.Remove(ids[i]) == nil {
				atomic.AddInt64(&s.res.FaultsRemoved, 1)
			}
			ids = append(ids[:i], ids[i+1:]...)
		}
		spec := s.randomSpec(rnd)
		// Extend the window before the fault can act.
		s.extendFor(spec, time.Now().Add(spec.TTL.D()))
		f, err := s.engine.Add(spec, "soak")
		if err != nil {
			atomic.AddInt64(&s.res.FaultsRefused, 1)
			continue
		}
		atomic.AddInt64(&s.res.FaultsAdded, 1)
		s.kinds[spec.Action]++
		ids = append(ids, f.ID)
		if len(ids) > 50 {
			ids = ids[1:]
		}
	}
}

func (s *soak) randomSpec(rnd *rand.Rand) fault.Spec {
	addrs := s.cluster.Addrs()
	var masters []string
	for _, m := range s.proxy.Topology().Masters() {
		masters = append(masters, m.Addr)
	}
	spec := fault.Spec{
		Action: fault.Actions[rnd.IntN(len(fault.Actions))],
		Target: addrs[rnd.IntN(len(addrs))],
		TTL:    fault.Duration(time.Duration(200+rnd.IntN(1800)) * time.Millisecond),
	}
	switch spec.Action {
	case "latency":
		spec.Latency = fault.Duration(time.Duration(rnd.IntN(100)) * time.Millisecond)
		spec.Jitter = fault.Duration(time.Duration(rnd.IntN(50)) * time.Millisecond)
	case "error":
		names := fault.ErrorNames()
		spec.Error = names[rnd.IntN(len(names))]
		spec.Match.Probability = 0.05 + rnd.Float64()*0.5
	case "reset":
		spec.After = rnd.IntN(50)
		spec.Match.Probability = 0.01 + rnd.Float64()*0.1
	case "failover":
		if len(masters) > 0 {
			spec.Target = masters[rnd.IntN(len(masters))]
		}
	case "migrate":
		if len(masters) > 1 {
			i := rnd.IntN(len(masters))
			j := (i + 1 + rnd.IntN(len(masters)-1)) % len(masters)
			spec.Target, spec.To = masters[i], masters[j]
		}
	}
	return spec
}

// client is one connection's loop: connect to the proxy port of the master
// that owns its hash tag, send pipelines, check every reply, reconnect after
// a close or a MOVED.
type client struct {
	s    *soak
	id   int
	rnd  *rand.Rand
	addr string
	seq  int
}

// op is one command of a pipeline and its expected reply.
type op struct {
	cmd  []byte
	want string // exact reply bytes
	// get: a nil reply is right when the SET before it in the pipeline did
	// not answer +OK.
	set *op
	ok  bool // this reply was the expected one
}

// errPrefixes are the error replies faults and redirections produce.
var errPrefixes = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range fault.ErrorTexts {
		p, _, _ := strings.Cut(t, " ")
		m[p] = true
	}
	return m
}()

func (cl *client) run(ctx context.Context) {
	tag := fmt.Sprintf("{t%d}", cl.id)
	slot := topology.Slot([]byte(tag))
	for _, m := range cl.s.proxy.Topology().Masters() {
		for _, r := range m.Slots {
			if slot >= r.From && slot <= r.To {
				cl.addr, _ = cl.s.proxy.Announced(m.Addr)
			}
		}
	}
	if cl.addr == "" {
		cl.s.report("client %d: no master owns slot %d", cl.id, slot)
		atomic.AddInt64(&cl.s.res.Unexplained, 1)
		return
	}
	first := true
	for ctx.Err() == nil {
		c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", cl.addr)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !cl.s.explained(cl.addr) {
				cl.s.report("client %d: dial %s: %v", cl.id, cl.addr, err)
				atomic.AddInt64(&cl.s.res.Unexplained, 1)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(50+cl.rnd.IntN(150)) * time.Millisecond):
			}
			continue
		}
		if !first {
			atomic.AddInt64(&cl.s.res.Reconnects, 1)
		}
		first = false
		cl.session(ctx, c, tag)
		c.Close()
	}
}

// session runs pipelines on one connection until ctx ends or the connection
// breaks.
func (cl *client) session(ctx context.Context, c net.Conn, tag string) {
	r := bufio.NewReader(c)
	res := cl.s.res
	for ctx.Err() == nil {
		ops := cl.pipeline(tag)
		var buf []byte
		for _, o := range ops {
			buf = append(buf, o.cmd...)
		}
		atomic.AddInt64(&res.Commands, int64(len(ops)))
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write(buf); err != nil {
			cl.broken(ops, 0, err)
			return
		}
		redirect := ""
		for i, o := range ops {
			reply, err := readReply(r)
			if err != nil {
				cl.broken(ops, i, err)
				return
			}
			if bytesEqual(reply, o.want) {
				o.ok = true
				atomic.AddInt64(&res.OK, 1)
				continue
			}
			if o.set != nil && reply == "$-1\r\n" && !o.set.ok {
				atomic.AddInt64(&res.OK, 1) // its SET failed: nothing to read
				continue
			}
			if reply[0] == '-' {
				line := strings.TrimSuffix(reply[1:], "\r\n")
				prefix, rest, _ := strings.Cut(line, " ")
				if errPrefixes[prefix] && cl.s.explained(cl.addr) {
					atomic.AddInt64(&res.Explained, 1)
					if prefix == "MOVED" {
						if _, addr, ok := strings.Cut(rest, " "); ok {
							redirect = addr
						}
					}
					continue
				}
				cl.s.report("client %d: %q got unexplained error %q", cl.id, o.cmd, line)
				atomic.AddInt64(&res.Unexplained, 1)
				continue
			}
			if cl.earlier(reply) {
				cl.s.report("client %d: %q got an earlier request's reply %q", cl.id, o.cmd, reply)
				atomic.AddInt64(&res.Duplicates, 1)
			} else {
				cl.s.report("client %d: %q got %q, want %q", cl.id, o.cmd, reply, o.want)
				atomic.AddInt64(&res.Mismatches, 1)
			}
		}
		if redirect != "" && redirect != cl.addr {
			atomic.AddInt64(&res.Redirects, 1)
			cl.addr = redirect
			return
		}
	}
	// No reply may follow the last one.
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if reply, err := readReply(r); err == nil {
		cl.s.report("client %d: extra reply %q after the last request", cl.id, reply)
		atomic.AddInt64(&res.Duplicates, 1)
	}
}

func bytesEqual(a, b string) bool { return a == b }

// broken accounts for a connection that failed while replies ops[i:] were
// outstanding.
func (cl *client) broken(ops []*op, i int, err error) {
	res := cl.s.res
	n := int64(len(ops) - i)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		cl.s.report("client %d: %d replies lost (timeout): %v", cl.id, n, err)
		atomic.AddInt64(&res.Lost, n)
	case cl.s.explained(cl.addr):
		atomic.AddInt64(&res.Closed, n)
	default:
		cl.s.report("client %d: connection error with no fault: %v", cl.id, err)
		atomic.AddInt64(&res.Unexplained, 1)
		atomic.AddInt64(&res.Closed, n)
	}
}

// earlier tells whether a reply names one of this client's earlier requests.
func (cl *client) earlier(reply string) bool {
	_, body, ok := strings.Cut(reply, "\r\n")
	if !ok {
		return false
	}
	body = strings.TrimSuffix(body, "\r\n")
	for _, p := range []string{fmt.Sprintf("e%d:", cl.id), fmt.Sprintf("{t%d}:", cl.id)} {
		if rest, ok := strings.CutPrefix(body, p); ok {
			n, err := strconv.Atoi(rest)
			return err == nil && n < cl.seq
		}
	}
	return false
}

// pipeline builds 1–16 commands: ECHO of a unique token, or SET k k then GET k
// on a fresh key of the client's hash tag.
func (cl *client) pipeline(tag string) []*op {
	n := 1 + cl.rnd.IntN(16)
	ops := make([]*op, 0, n+1)
	for len(ops) < n {
		cl.seq++
		if cl.rnd.IntN(2) == 0 {
			tok := fmt.Sprintf("e%d:%d", cl.id, cl.seq)
			ops = append(ops, &op{cmd: command("ECHO", tok), want: bulk(tok)})
			continue
		}
		k := fmt.Sprintf("%s:%d", tag, cl.seq)
		set := &op{cmd: command("SET", k, k), want: "+OK\r\n"}
		ops = append(ops, set, &op{cmd: command("GET", k), want: bulk(k), set: set})
	}
	return ops
}

func command(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

func bulk(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

// readReply reads one RESP2 reply and returns its exact bytes.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return line, nil // a malformed reply: it will not match
	}
	switch line[0] {
	case '$':
		n, err := strconv.Atoi(line[1 : len(line)-2])
		if err != nil || n < 0 {
			return line, nil
		}
		if n > 1<<20 {
			return "", fmt.Errorf("bulk of %d bytes", n)
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", err
		}
		return line + string(b), nil
	case '*':
		n, err := strconv.Atoi(line[1 : len(line)-2])
		if err != nil || n < 0 {
			return line, nil
		}
		out := line
		for range min(n, 1024) {
			e, err := readReply(r)
			if err != nil {
				return "", err
			}
			out += e
		}
		return out, nil
	}
	return line, nil
}
