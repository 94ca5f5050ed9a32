package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
)

func init() { subcommands = append(subcommands, newProxyCmd) }

// addProxyFlags adds the flags shared by up, run and proxy.
func addProxyFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Int("base-port", 7001, "first proxy port (one port per real node, in address order)")
	f.String("listen-host", "127.0.0.1", "interface the per-node proxy listeners bind to")
	f.String("announce-host", "", "host told to clients in MOVED/ASK and CLUSTER replies (default: listen-host, or 127.0.0.1 for 0.0.0.0)")
	f.String("api", "127.0.0.1:8470", "control API, health and metrics address")
	f.String("api-token", "", "bearer token for the control API (required when --api is not loopback)")
	f.Duration("node-timeout", 0, "node timeout of the simulated cluster (default: the real cluster's cluster-node-timeout)")
	f.Int64("seed", 0, "random seed for fault and scenario picks (0: time-based, printed)")
	f.Duration("refresh", time.Second, "topology refresh interval")
	f.Bool("share-upstreams", false, "let client connections share upstream connections until their first stateful command (fewer system calls; see README)")
	f.String("username", "", "ACL user for the proxy's own topology queries")
	f.String("password", "", "password for the proxy's own topology queries")
	f.Duration("default-ttl", 5*time.Minute, "TTL of a fault that sets none")
	f.Duration("max-ttl", time.Hour, "largest TTL a fault may ask for")
	f.StringArray("checker-threshold", nil, "set a checker threshold, NAME=VALUE (repeatable; e.g. command-timeout=5s; names: GET /v1/rules)")
}

func newProxyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proxy --upstream HOST:PORT[,HOST:PORT…]",
		Short: "Run the proxy in front of an existing cluster (sidecar mode; faults are simulated only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := runSettings(cmd)
			if err != nil {
				return err
			}
			seeds := splitList(v.GetString("upstream"))
			if len(seeds) == 0 {
				return errors.New("--upstream is required: one or more HOST:PORT of the real cluster")
			}
			for _, s := range seeds {
				if _, _, err := net.SplitHostPort(s); err != nil {
					return fmt.Errorf("--upstream: %q is not HOST:PORT", s)
				}
			}
			return runProxy(cmd.Context(), v, cmd.OutOrStdout(), seeds)
		},
	}
	cmd.Flags().String("upstream", "", "seed addresses of the real cluster, comma separated")
	addProxyFlags(cmd)
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// logOutput is where the proxy's structured log goes (tests capture it).
var logOutput io.Writer = os.Stderr

func newLogger(v *viper.Viper, w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(v.GetString("log-level"))); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// runProxy starts the proxy and the API in front of seeds and serves until ctx ends.
func runProxy(ctx context.Context, v *viper.Viper, out io.Writer, seeds []string) error {
	rt, err := startProxy(ctx, v, seeds, nil)
	if err != nil {
		return err
	}
	rt.printBanner(out)
	<-ctx.Done()
	fmt.Fprintln(out, "shutting down...")
	return rt.stop()
}

// runtime is a started proxy with its chaos engine and API server.
type runtime struct {
	proxy     *proxy.Server
	engine    *chaos.Engine
	api       *http.Server
	apiLn     net.Listener
	handler   *api.Handler
	checker   *checker.Checker
	log       *slog.Logger
	served    chan error
	engineErr chan error
	stopEng   context.CancelFunc
}

// startProxy starts the proxy, the chaos engine and the API. real performs
// real-mode faults (nil: simulate only).
func startProxy(ctx context.Context, v *viper.Viper, seeds []string, real chaos.RealCluster) (*runtime, error) {
	log := newLogger(v, logOutput)
	thresholds, err := checkerThresholds(v)
	if err != nil {
		return nil, err
	}
	apiAddr, token := v.GetString("api"), v.GetString("api-token")
	if err := checkAPIBind(apiAddr, token); err != nil {
		return nil, err
	}
	if bp := v.GetInt("base-port"); bp < 0 || bp > 65535 {
		return nil, fmt.Errorf("--base-port %d: must be between 1 and 65535", bp)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	settingsCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := readSettings(settingsCtx, seeds, v.GetString("username"), v.GetString("password"))
	cancel()
	if err != nil {
		return nil, err
	}
	if nt := v.GetDuration("node-timeout"); nt > 0 {
		st.NodeTimeout = nt
	}
	eng := chaos.New(chaos.Config{
		Real:       real,
		Settings:   st,
		Seed:       uint64(v.GetInt64("seed")),
		Limits:     fault.Limits{DefaultTTL: v.GetDuration("default-ttl"), MaxTTL: v.GetDuration("max-ttl")},
		Logger:     log,
		Registerer: reg,
	})
	ports, err := pinnedPorts(v)
	if err != nil {
		return nil, err
	}
	nodes := &nodeSource{e: eng}
	ck := checker.New(checker.Config{Thresholds: thresholds, Faults: engineFaults{eng}, Nodes: nodes, Logger: log, Registerer: reg,
		FullCoverage: func() bool { return eng.Settings().FullCoverage }})
	srv, err := proxy.New(proxy.Config{
		Policy:          eng,
		Observer:        ck,
		Seeds:           seeds,
		ListenHost:      v.GetString("listen-host"),
		AnnounceHost:    v.GetString("announce-host"),
		BasePort:        v.GetInt("base-port"),
		Ports:           ports,
		RefreshInterval: v.GetDuration("refresh"),
		ShareUpstreams:  v.GetBool("share-upstreams"),
		Username:        v.GetString("username"),
		Password:        v.GetString("password"),
		Logger:          log,
		Registerer:      reg,
	})
	if err != nil {
		return nil, err
	}
	apiLn, err := net.Listen("tcp", apiAddr)
	if err != nil {
		return nil, fmt.Errorf("--api %s: %w", apiAddr, err)
	}
	if err := srv.Start(ctx); err != nil {
		apiLn.Close()
		return nil, err
	}
	eng.SetData(srv)
	nodes.p.Store(srv)
	ck.Start()
	engCtx, stopEng := context.WithCancel(context.Background())
	h := api.New(api.Config{Proxy: srv, Gatherer: reg, Token: token, Engine: eng, Logger: log})
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	ck.Routes(h) // GET|DELETE /v1/findings, GET /v1/clients, GET /v1/rules
	rt := &runtime{proxy: srv, engine: eng, api: hs, apiLn: apiLn, handler: h, checker: ck, log: log,
		served: make(chan error, 1), engineErr: make(chan error, 1), stopEng: stopEng}
	go func() { rt.engineErr <- eng.Run(engCtx) }()
	go func() { rt.served <- hs.Serve(apiLn) }()
	if err := startConfigFaults(ctx, v, eng, h, reg, log); err != nil { // the config file's faults: list, hot-reloaded
		rt.stop()
		return nil, err
	}
	log.Info("chaos engine ready", "seed", eng.Seed(), "node_timeout", st.NodeTimeout,
		"full_coverage", st.FullCoverage, "allow_reads_when_down", st.AllowReadsWhenDown)
	return rt, nil
}

// readSettings reads the real cluster's settings from the first seed that
// answers. When no seed could be dialled, the error names the upstream.
func readSettings(ctx context.Context, seeds []string, user, pass string) (chaos.Settings, error) {
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

func (rt *runtime) printBanner(out io.Writer) {
	nodes := rt.proxy.Nodes()
	fmt.Fprintln(out, "proxy listening, one port per real node:")
	fmt.Fprintf(out, "  %-22s %-22s %-8s %s\n", "PROXY", "REAL NODE", "ROLE", "NODE ID")
	var seeds []string
	for _, n := range nodes {
		fmt.Fprintf(out, "  %-22s %-22s %-8s %s\n", n.Announce, n.Addr, n.Role, n.ID)
		seeds = append(seeds, n.Announce)
	}
	fmt.Fprintf(out, "\nseed address for applications: %s\n", strings.Join(seeds, ","))
	if rt.proxy.SharesUpstreams() {
		fmt.Fprintln(out, "upstream connections: shared (--share-upstreams), two per node while clients use them, until a client's first stateful command")
	}
	fmt.Fprintf(out, "control API: http://%s (health /healthz, metrics /metrics, topology /v1/topology)\n", rt.apiLn.Addr())
}

// stop reverts every fault, then shuts the API and the proxy down, delivering
// replies in flight.
func (rt *runtime) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt.engine.StopRuns()
	rt.stopEng()
	<-rt.engineErr
	rt.api.Shutdown(ctx)
	<-rt.served
	err := rt.proxy.Shutdown(ctx)
	rt.checker.Close()
	return err
}

// nodeSource hands the proxy to the checker once it exists (the proxy takes
// the checker as its Observer, so it is created after it), with the roles of
// the virtual cluster: after a simulated failover the checker judges writes
// to replicas by the roles clients are told.
type nodeSource struct {
	p atomic.Pointer[proxy.Server]
	e *chaos.Engine
}

func (n *nodeSource) Nodes() []proxy.NodeInfo {
	p := n.p.Load()
	if p == nil {
		return nil
	}
	nodes := p.Nodes()
	if n.e == nil {
		return nodes
	}
	if v := n.e.Topology(); v != nil && v.Differ {
		byAddr := map[string]chaos.VirtualNode{}
		for _, vn := range v.Nodes {
			byAddr[vn.Addr] = vn
		}
		for i := range nodes {
			if vn, ok := byAddr[nodes[i].Addr]; ok {
				nodes[i].Role, nodes[i].MasterID = vn.Role, vn.Master
			}
		}
	}
	return nodes
}

// engineFaults tells the checker which of the engine's faults are active.
type engineFaults struct{ e *chaos.Engine }

func (f engineFaults) Active(now time.Time) []checker.FaultWindow {
	var out []checker.FaultWindow
	for _, x := range f.e.List() {
		if x.State == "active" && !now.Before(x.Starts) {
			out = append(out, faultWindow(x))
		}
	}
	return out
}

// faultWindow is a fault as the checker and the reports see it.
func faultWindow(x *chaos.Fault) checker.FaultWindow {
	w := checker.FaultWindow{ID: x.ID, Action: string(x.Spec.Action), Nodes: x.Nodes, Start: x.Starts, Detail: x.Spec.Error}
	if x.State != "active" && x.State != "pending" {
		w.End = x.Expires
	}
	return w
}
