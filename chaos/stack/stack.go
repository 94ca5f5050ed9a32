package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/proxy"
)

// Config configures a Stack. Each part's own settings are in its Config;
// Start fills in what ties the parts together.
type Config struct {
	// Proxy configures the data path. Seeds is required; Start sets Policy
	// and Observer, and Logger and Registerer when they are nil.
	Proxy proxy.Config
	// Engine configures the chaos engine. Start sets Data and Policy, reads
	// Settings from the cluster, and sets Logger and Registerer when nil.
	// Engine.Real enables real mode (RealCluster).
	Engine chaos.Config
	// NodeTimeout, if not zero, replaces the cluster's cluster-node-timeout
	// in the virtual cluster.
	NodeTimeout time.Duration
	// Checker configures the checker; if nil, no checker runs. Start sets
	// Faults and Nodes, and FullCoverage, Logger and Registerer when nil.
	Checker *checker.Config
	// API configures the control API. Start sets Proxy, Engine, Checker and
	// Logger, and Gatherer to Registry.
	API api.Config
	// APIListener, if not nil, is where the API is served until Close. Start
	// closes it if it fails.
	APIListener net.Listener
	// MetricsListener, if not nil, is where /metrics, /healthz and /readyz
	// alone are served until Close, without the API's token: for Prometheus
	// and a kubelet's probes on a pod's address while the API stays on
	// loopback. Start closes it if it fails.
	MetricsListener net.Listener
	// Logger is every part's logger unless its Config sets one; if nil,
	// logs are discarded.
	Logger *slog.Logger
	// Registry receives every part's metrics and serves them at /metrics;
	// if nil, no metrics are kept.
	Registry *prometheus.Registry
}

// Stack is a started redis-chaos: the proxy in front of the cluster, the
// chaos engine deciding what it does to each command, the checker watching
// the clients, and the control API over all three.
type Stack struct {
	Proxy   *proxy.Server
	Engine  *chaos.Engine
	Checker *checker.Checker // nil if Config.Checker is nil
	API     *api.Handler

	stopEngine context.CancelFunc
	engineDone chan struct{}
	server     *http.Server
	apiAddr    net.Addr
	served     chan error

	metricsServer *http.Server
	metricsAddr   net.Addr
	metricsServed chan error
}

// APIAddr is the address the API is served at (Config.APIListener); nil if
// it is not served.
func (s *Stack) APIAddr() net.Addr { return s.apiAddr }

// MetricsAddr is the address of the token-free metrics and health listener
// (Config.MetricsListener); nil if there is none.
func (s *Stack) MetricsAddr() net.Addr { return s.metricsAddr }

// Start builds the parts and starts them; ctx bounds the start only. The
// parts refer to one another, so they are built in the one order that lets
// each take the others it needs when it is made:
//
//  1. the engine's Policy, which forwards everything until the engine exists;
//  2. the checker, which asks the engine for its faults and nodes only once
//     it runs (step 5);
//  3. the proxy, with the Policy and the checker as its observer;
//  4. the engine, acting on the proxy and publishing into the Policy;
//  5. then the proxy listens, the checker and the engine run, and the API
//     is served.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	s, err := start(ctx, cfg)
	if err != nil {
		for _, ln := range []net.Listener{cfg.APIListener, cfg.MetricsListener} {
			if ln != nil {
				ln.Close()
			}
		}
	}
	return s, err
}

func start(ctx context.Context, cfg Config) (*Stack, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.Registerer(nil)
	if cfg.Registry != nil {
		reg = cfg.Registry
		cfg.API.Gatherer = cfg.Registry
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := ReadSettings(sctx, cfg.Proxy.Seeds, cfg.Proxy.Username, cfg.Proxy.Password)
	cancel()
	if err != nil {
		return nil, err
	}
	if cfg.NodeTimeout > 0 {
		st.NodeTimeout = cfg.NodeTimeout
	}
	s := &Stack{}
	policy := new(chaos.Policy)
	if cfg.Checker != nil {
		cc := *cfg.Checker
		cc.Faults, cc.Nodes = engineView{s}, engineView{s}
		if cc.FullCoverage == nil {
			cc.FullCoverage = engineView{s}.fullCoverage
		}
		cc.Logger = or(cc.Logger, cfg.Logger)
		cc.Registerer = orReg(cc.Registerer, reg)
		s.Checker = checker.New(cc)
	}
	pc := cfg.Proxy
	pc.Policy = policy
	// The policy watches the writes a partition tracks, then hands every
	// event to the checker.
	if s.Checker != nil {
		pc.Observer = policy.Observer(s.Checker)
	} else {
		pc.Observer = policy.Observer(nil)
	}
	pc.Logger = or(pc.Logger, cfg.Logger)
	pc.Registerer = orReg(pc.Registerer, reg)
	p, err := proxy.New(pc)
	if err != nil {
		return nil, err
	}
	ec := cfg.Engine
	ec.Data, ec.Policy, ec.Settings = p, policy, st
	if s.Checker != nil {
		ec.Healed = s.lostWrites(cfg.Engine.Healed)
	}
	ec.Logger = or(ec.Logger, cfg.Logger)
	ec.Registerer = orReg(ec.Registerer, reg)
	s.Proxy, s.Engine = p, chaos.New(ec)
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	if s.Checker != nil {
		s.Checker.Start()
	}
	ac := cfg.API
	ac.Proxy, ac.Engine, ac.Checker = p, s.Engine, s.Checker
	ac.Logger = or(ac.Logger, cfg.Logger)
	s.API = api.New(ac)
	engCtx, stop := context.WithCancel(context.Background())
	s.stopEngine, s.engineDone = stop, make(chan struct{})
	go s.runEngine(engCtx)
	if cfg.APIListener != nil {
		s.server = &http.Server{Handler: s.API, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
		s.apiAddr, s.served = cfg.APIListener.Addr(), make(chan error, 1)
		go s.serveAPI(cfg.APIListener)
	}
	if cfg.MetricsListener != nil {
		s.metricsServer = &http.Server{Handler: s.API.Metrics(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
		s.metricsAddr, s.metricsServed = cfg.MetricsListener.Addr(), make(chan error, 1)
		go s.serveMetrics(cfg.MetricsListener)
	}
	return s, nil
}

func (s *Stack) serveMetrics(ln net.Listener) { s.metricsServed <- s.metricsServer.Serve(ln) }

// lostWrites returns the engine's Healed hook: the writes a partition lost
// (or put at risk) become the checker's findings, then next is called.
func (s *Stack) lostWrites(next func(*chaos.Fault)) func(*chaos.Fault) {
	return func(f *chaos.Fault) {
		if w := f.Writes; w != nil && len(w.Lost) > 0 {
			s.Checker.AddLostWrites(LostWrites(s.Proxy, w.Lost), w.AtRisk)
		}
		if next != nil {
			next(f)
		}
	}
}

// LostWrites turns the writes a partition lost, as the engine reports them,
// into the checker's form (with the proxy address of each node).
func LostWrites(p *proxy.Server, lost []chaos.LostWrite) []checker.LostWrite {
	out := make([]checker.LostWrite, 0, len(lost))
	for _, x := range lost {
		port, _ := p.Announced(x.Node)
		ip, _, err := net.SplitHostPort(x.Client.Addr)
		if err != nil {
			ip = x.Client.Addr
		}
		out = append(out, checker.LostWrite{Time: x.Time, Command: x.Command, Key: x.Key, Node: x.Node, Port: port,
			Conn: x.Client.Conn, Client: checker.ClientID{Addr: ip, LibName: x.Client.LibName, LibVer: x.Client.LibVer, Name: x.Client.Name}})
	}
	return out
}

func (s *Stack) runEngine(ctx context.Context) {
	defer close(s.engineDone)
	s.Engine.Run(ctx)
}

func (s *Stack) serveAPI(ln net.Listener) { s.served <- s.server.Serve(ln) }

// Close ends every run and reverts every fault, then stops the API, the
// proxy (delivering the replies in flight, for at most 10 s) and the
// checker.
func (s *Stack) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Engine.StopRuns()
	s.stopEngine()
	<-s.engineDone
	if s.server != nil {
		s.server.Shutdown(ctx)
		<-s.served
	}
	if s.metricsServer != nil {
		s.metricsServer.Shutdown(ctx)
		<-s.metricsServed
	}
	err := s.Proxy.Shutdown(ctx)
	if s.Checker != nil {
		s.Checker.Close()
	}
	return err
}

// engineView is what the checker asks of the engine: its active faults, the
// nodes with the roles clients are told, and the cluster's
// cluster-require-full-coverage. The checker is made before the
// engine (it observes the proxy the engine acts on) and asks only once it
// runs, when s.Engine is set.
type engineView struct{ s *Stack }

func (v engineView) Active(now time.Time) []checker.FaultWindow {
	var out []checker.FaultWindow
	for _, x := range v.s.Engine.List() {
		if x.State == "active" && !now.Before(x.Starts) {
			out = append(out, FaultWindow(x))
		}
	}
	return out
}

func (v engineView) Nodes() []proxy.NodeInfo { return v.s.Engine.Nodes() }

func (v engineView) fullCoverage() bool { return v.s.Engine.Settings().FullCoverage }

// FaultWindow is a fault as the checker and the reports see it.
func FaultWindow(x *chaos.Fault) checker.FaultWindow {
	w := checker.FaultWindow{ID: x.ID, Action: x.Spec.Action, Nodes: x.Nodes, Start: x.Starts, Detail: x.Spec.Error}
	if x.State != "active" && x.State != "pending" {
		w.End = x.Expires
	}
	return w
}

// ReadSettings reads the settings the virtual cluster follows from the first
// seed that answers. When no seed could be dialled, the error names the
// seeds.
func ReadSettings(ctx context.Context, seeds []string, user, pass string) (chaos.Settings, error) {
	if len(seeds) == 0 {
		return chaos.Settings{}, errors.New("no seed address of the cluster")
	}
	var lastErr, answered error // answered: the last error of a seed that was reached
	for _, s := range seeds {
		st, err := chaos.ReadSettings(ctx, s, user, pass)
		if err == nil {
			return st, nil
		}
		lastErr = err
		if op := (*net.OpError)(nil); !errors.As(err, &op) || op.Op != "dial" {
			answered = err
		}
	}
	if answered != nil {
		return chaos.Settings{}, fmt.Errorf("cannot read the cluster's settings: %w", answered)
	}
	var op *net.OpError
	if errors.As(lastErr, &op) {
		lastErr = op.Err // the address is in the message already
	}
	return chaos.Settings{}, fmt.Errorf("cannot reach the upstream %s: %w", strings.Join(seeds, ","), lastErr)
}

func or(l, def *slog.Logger) *slog.Logger {
	if l == nil {
		return def
	}
	return l
}

func orReg(r, def prometheus.Registerer) prometheus.Registerer {
	if r == nil {
		return def
	}
	return r
}
