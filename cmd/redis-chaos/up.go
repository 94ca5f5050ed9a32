package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/stack"
	"github.com/redis-chaos/redis-chaos/provision"
)

func init() { subcommands = append(subcommands, newUpCmd) }

// addClusterFlags adds the flags shared by up, run and cluster.
func addClusterFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Int("cluster-base-port", provision.DefaultBasePort, "first real node port (node i listens on base+i)")
	f.Int("shards", provision.DefaultShards, "number of shards (masters)")
	f.Int("replicas", provision.DefaultReplicas, "replicas per shard")
	f.String("dir", "", "working directory of the nodes (default: a temporary directory, removed on exit)")
	f.String("redis-server", "", "path of redis-server (default: from PATH)")
}

func newUpCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a real local 9-node cluster with the proxy in front of it; Ctrl-C tears it all down",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := runSettings(cmd)
			if err != nil {
				return err
			}
			return runUp(cmd.Context(), v, cmd)
		},
	}
	addProxyFlags(cmd)
	addClusterFlags(cmd)
	return cmd
}

func clusterConfig(v *viper.Viper) (provision.Config, error) {
	cfg := provision.Config{
		BasePort:    v.GetInt("cluster-base-port"),
		Shards:      v.GetInt("shards"),
		Replicas:    v.GetInt("replicas"),
		Dir:         v.GetString("dir"),
		RedisServer: v.GetString("redis-server"),
		NodeTimeout: v.GetDuration("node-timeout"),
	}
	if cfg.Shards < 1 {
		return cfg, fmt.Errorf("--shards %d: must be at least 1", cfg.Shards)
	}
	if cfg.Replicas < 0 {
		return cfg, fmt.Errorf("--replicas %d: must be 0 or more", cfg.Replicas)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = -1 // provision: negative means none
	}
	return cfg, cfg.Validate()
}

func runUp(ctx context.Context, v *viper.Viper, cmd *cobra.Command) error {
	out := cmd.OutOrStdout()
	cfg, err := clusterConfig(v)
	if err != nil {
		return err
	}
	if _, err := checkerThresholds(v); err != nil { // before the cluster starts
		return err
	}
	log := newLogger(v, cmd.ErrOrStderr())
	if err := withPortsNote(cfg.CheckPorts(), cfg); err != nil {
		return err
	}
	if err := checkListen(v, cfg); err != nil {
		return err
	}
	cfg.Logger = log
	began := time.Now()
	fmt.Fprintf(out, "starting a %d-node cluster (%d shards × %d replicas)...\n",
		cfg.Shards*(1+max(cfg.Replicas, 0)), cfg.Shards, max(cfg.Replicas, 0))
	cl, err := provision.Start(ctx, cfg)
	if err != nil {
		return withPortsNote(err, cfg)
	}
	warnPorts(cfg, log)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := cl.Stop(sctx); err != nil {
			log.Warn("stopping the cluster", "err", err)
		}
		fmt.Fprintln(out, "cluster stopped")
	}()
	rt, err := startProxy(ctx, v, cl.Addrs(), stack.RealCluster(cl))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ready in %.1fs\n\n", time.Since(began).Seconds())
	printBanner(out, rt)
	fmt.Fprintln(out, "\nCtrl-C stops the proxy and the cluster.")
	<-ctx.Done()
	fmt.Fprintln(out, "shutting down...")
	return rt.Close()
}

// checkListen reports, before the cluster is provisioned, what startProxy
// would find only after it: an --api address that is refused or cannot be
// bound, and a proxy port for one of the cluster's nodes (from --base-port,
// or pinned by address in the ports: mapping) that is taken.
func checkListen(v *viper.Viper, cfg provision.Config) error {
	apiAddr := v.GetString("api")
	if err := checkAPIBind(apiAddr, v.GetString("api-token")); err != nil {
		return err
	}
	if err := portFree(apiAddr); err != nil {
		return fmt.Errorf("port in use: control API --api %s: %w", apiAddr, err)
	}
	if m := v.GetString("metrics"); m != "" {
		if err := portFree(m); err != nil {
			return fmt.Errorf("port in use: metrics listener --metrics %s: %w", m, err)
		}
	}
	base := v.GetInt("base-port")
	if base < 0 || base > 65535 {
		return fmt.Errorf("--base-port %d: must be between 1 and 65535", base)
	}
	if base == 0 {
		base = 7001 // proxy.Config's default
	}
	pinned, err := pinnedPorts(v)
	if err != nil {
		return err
	}
	host := v.GetString("listen-host")
	if host == "" {
		host = "127.0.0.1"
	}
	// The nodes in address order, as the proxy gives them ports: a pinned
	// node its own, the others the next free one from --base-port on.
	host0, port0 := cfg.Host, cfg.BasePort
	if host0 == "" {
		host0 = provision.DefaultHost
	}
	if port0 == 0 {
		port0 = provision.DefaultBasePort
	}
	var addrs []string
	for i := range cfg.Shards * (1 + max(cfg.Replicas, 0)) {
		addrs = append(addrs, net.JoinHostPort(host0, strconv.Itoa(port0+i)))
	}
	sort.Strings(addrs)
	taken := map[int]bool{}
	for _, p := range pinned {
		taken[p] = true
	}
	next := base
	for _, a := range addrs {
		if p, ok := pinned[a]; ok {
			if err := portFree(net.JoinHostPort(host, strconv.Itoa(p))); err != nil {
				return fmt.Errorf("port in use: proxy port %s:%d pinned to node %s (ports: in the config file): %w", host, p, a, err)
			}
			continue
		}
		for taken[next] {
			next++
		}
		taken[next] = true
		if err := portFree(net.JoinHostPort(host, strconv.Itoa(next))); err != nil {
			return fmt.Errorf("port in use: proxy port %s:%d for node %s (from --base-port %d; choose another --base-port): %w",
				host, next, a, base, err)
		}
	}
	return nil
}

// checkAPIBind refuses an API address off loopback without a token, saying
// how to give one.
func checkAPIBind(addr, token string) error {
	err := api.CheckBind(addr, token)
	if errors.Is(err, api.ErrTokenRequired) {
		return fmt.Errorf("--api %s: %w: give one with --api-token, REDIS_CHAOS_API_TOKEN "+
			"(export REDIS_CHAOS_API_TOKEN=$(openssl rand -hex 16)) or api-token: in the config file, and the same to "+
			"the clients (the CLI reads REDIS_CHAOS_API_TOKEN; others send Authorization: Bearer TOKEN); "+
			"or keep --api on loopback, where none is needed", addr, err)
	}
	if err != nil {
		return fmt.Errorf("--api %s: %w", addr, err)
	}
	return nil
}

// portFree reports whether addr can be bound now.
func portFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ln.Close()
}
