package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/redis-chaos/redis-chaos/chaos/real"
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
	if err := cfg.CheckPorts(); err != nil {
		return err
	}
	log := newLogger(v, cmd.ErrOrStderr())
	cfg.Logger = log
	began := time.Now()
	fmt.Fprintf(out, "starting a %d-node cluster (%d shards × %d replicas)...\n",
		cfg.Shards*(1+max(cfg.Replicas, 0)), cfg.Shards, max(cfg.Replicas, 0))
	cl, err := provision.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := cl.Stop(sctx); err != nil {
			log.Warn("stopping the cluster", "err", err)
		}
		fmt.Fprintln(out, "cluster stopped")
	}()
	rt, err := startProxy(ctx, v, cl.Addrs(), real.New(cl))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ready in %.1fs\n\n", time.Since(began).Seconds())
	rt.printBanner(out)
	fmt.Fprintln(out, "\nCtrl-C stops the proxy and the cluster.")
	<-ctx.Done()
	fmt.Fprintln(out, "shutting down...")
	return rt.stop()
}
