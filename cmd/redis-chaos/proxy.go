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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/chaos/stack"
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
	f.String("metrics", "", "also serve /metrics, /healthz and /readyz alone, without a token, at this address (e.g. 0.0.0.0:9470 in a pod, for Prometheus and probes)")
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
	s, err := startProxy(ctx, v, seeds, nil)
	if err != nil {
		return err
	}
	printBanner(out, s)
	<-ctx.Done()
	fmt.Fprintln(out, "shutting down...")
	return s.Close()
}

// startProxy starts the proxy, the chaos engine, the checker and the API.
// real performs real-mode faults (nil: simulate only).
func startProxy(ctx context.Context, v *viper.Viper, seeds []string, real chaos.RealCluster) (*stack.Stack, error) {
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
	ports, err := pinnedPorts(v)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cf := newConfigFaults(v, reg, log) // nil without a config file
	ac := api.Config{Token: token}
	if cf != nil {
		ac.ConfigFile = http.HandlerFunc(cf.serveStatus)
	}
	apiLn, err := net.Listen("tcp", apiAddr)
	if err != nil {
		return nil, fmt.Errorf("--api %s: %w", apiAddr, err)
	}
	var metricsLn net.Listener
	if addr := v.GetString("metrics"); addr != "" {
		if metricsLn, err = net.Listen("tcp", addr); err != nil {
			apiLn.Close()
			return nil, fmt.Errorf("--metrics %s: %w", addr, err)
		}
	}
	s, err := stack.Start(ctx, stack.Config{
		Proxy: proxy.Config{
			Seeds:           seeds,
			ListenHost:      v.GetString("listen-host"),
			AnnounceHost:    v.GetString("announce-host"),
			BasePort:        v.GetInt("base-port"),
			Ports:           ports,
			RefreshInterval: v.GetDuration("refresh"),
			ShareUpstreams:  v.GetBool("share-upstreams"),
			Username:        v.GetString("username"),
			Password:        v.GetString("password"),
		},
		Engine: chaos.Config{
			Real:   real,
			Seed:   uint64(v.GetInt64("seed")),
			Limits: fault.Limits{DefaultTTL: v.GetDuration("default-ttl"), MaxTTL: v.GetDuration("max-ttl")},
		},
		NodeTimeout:     v.GetDuration("node-timeout"),
		Checker:         &checker.Config{Thresholds: thresholds},
		API:             ac,
		APIListener:     apiLn,
		MetricsListener: metricsLn,
		Logger:          log,
		Registry:        reg,
	})
	if err != nil {
		return nil, err
	}
	if cf != nil {
		if err := cf.start(ctx, v, s.Engine); err != nil { // the config file's faults: list, hot-reloaded
			s.Close()
			return nil, err
		}
	}
	st := s.Engine.Settings()
	log.Info("chaos engine ready", "seed", s.Engine.Seed(), "node_timeout", st.NodeTimeout,
		"full_coverage", st.FullCoverage, "allow_reads_when_down", st.AllowReadsWhenDown)
	return s, nil
}

func printBanner(out io.Writer, s *stack.Stack) {
	nodes := s.Proxy.Nodes()
	fmt.Fprintln(out, "proxy listening, one port per real node:")
	fmt.Fprintf(out, "  %-22s %-22s %-8s %s\n", "PROXY", "REAL NODE", "ROLE", "NODE ID")
	var seeds []string
	for _, n := range nodes {
		fmt.Fprintf(out, "  %-22s %-22s %-8s %s\n", n.Announce, n.Addr, n.Role, n.ID)
		seeds = append(seeds, n.Announce)
	}
	fmt.Fprintf(out, "\nseed address for applications: %s\n", strings.Join(seeds, ","))
	if s.Proxy.SharesUpstreams() {
		fmt.Fprintln(out, "upstream connections: shared (--share-upstreams), two per node while clients use them, until a client's first stateful command")
	}
	fmt.Fprintf(out, "control API: http://%s (health /healthz, metrics /metrics, topology /v1/topology)\n", s.APIAddr())
	if a := s.MetricsAddr(); a != nil {
		fmt.Fprintf(out, "metrics and health, no token: http://%s (/metrics, /healthz, /readyz)\n", a)
	}
}
