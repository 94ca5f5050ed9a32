package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"

	"github.com/redis-chaos/redis-chaos/provision"
)

func init() { subcommands = append(subcommands, newClusterCmd) }

// defaultClusterDir is where `cluster up` records a daemonised cluster.
const defaultClusterDir = ".redis-chaos/cluster"

func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster up|down|status",
		Short: "Provision a real local Redis Cluster without the proxy (daemonised nodes)",
		Long: `Provision a real local Redis Cluster without the proxy.

  cluster up       start the nodes in the background and record them under --dir
  cluster status   show each node's live role, shard, slots, link and cluster_state
  cluster down     stop the recorded nodes and remove --dir

Node i listens on --cluster-base-port + i. Nodes 0..shards-1 are the masters of
shards 0..shards-1; replica j of shard s is node shards + s*replicas + j.`,
	}
	cmd.AddCommand(newClusterUpCmd(), newClusterDownCmd(), newClusterStatusCmd())
	return cmd
}

// addClusterDirFlags adds the flags every cluster subcommand takes.
func addClusterDirFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	if f.Lookup("dir") == nil {
		f.String("dir", "", "")
	}
	f.Lookup("dir").Usage = "directory holding the nodes and their state (default " + defaultClusterDir + ")"
	f.String("username", "", "ACL user the provisioner uses when the cluster requires one")
	f.String("password", "", "password the provisioner uses when the cluster requires one")
}

func clusterDir(v *viper.Viper) string {
	if d := v.GetString("dir"); d != "" {
		return d
	}
	return defaultClusterDir
}

func newClusterUpCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a real local cluster in the background (3 shards × 2 replicas by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := runSettings(cmd)
			if err != nil {
				return err
			}
			return runClusterUp(cmd.Context(), v, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addClusterFlags(cmd)
	addClusterDirFlags(cmd)
	f := cmd.Flags()
	f.String("host", provision.DefaultHost, "IP address the nodes bind to and announce")
	f.Duration("node-timeout", provision.DefaultNodeTimeout, "cluster-node-timeout of the nodes")
	f.StringArray("redis-config", nil, `extra redis.conf line for every node (repeatable), e.g. "cluster-require-full-coverage no"`)
	return cmd
}

func runClusterUp(ctx context.Context, v *viper.Viper, out, errOut io.Writer) error {
	cfg, err := clusterConfig(v)
	if err != nil {
		return err
	}
	if v.GetDuration("node-timeout") <= 0 {
		return fmt.Errorf("--node-timeout %s: must be positive", v.GetString("node-timeout"))
	}
	cfg.Host = v.GetString("host")
	cfg.Dir = clusterDir(v)
	cfg.ExtraConfig = v.GetStringSlice("redis-config")
	cfg.Username = v.GetString("username")
	cfg.Password = v.GetString("password")
	cfg.Daemon = true
	cfg.Logger = newLogger(v, errOut)
	if err := cfg.Validate(); err != nil {
		return err
	}
	began := time.Now()
	c, err := provision.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(out, "cluster ready in %.1fs (%d nodes, in %s)\n\n", time.Since(began).Seconds(), len(c.Nodes()), c.Dir())
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tADDR\tSHARD\tROLE\tNODE ID")
	for _, n := range c.Nodes() {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", n.Index, n.Addr, n.Shard, n.Role, n.ID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nseed: %s\n", c.Seed())
	fmt.Fprintf(out, "status: redis-chaos cluster status --dir %s\n", c.Dir())
	fmt.Fprintf(out, "stop:   redis-chaos cluster down --dir %s\n", c.Dir())
	return nil
}

// openCluster attaches to the cluster recorded in --dir.
func openCluster(v *viper.Viper, errOut io.Writer) (*provision.Cluster, error) {
	dir := clusterDir(v)
	c, err := provision.OpenConfig(provision.Config{
		Dir:      dir,
		Username: v.GetString("username"),
		Password: v.GetString("password"),
		Logger:   newLogger(v, errOut),
	})
	if errors.Is(err, provision.ErrNoState) {
		return nil, fmt.Errorf("no cluster recorded in %s (start one with: redis-chaos cluster up --dir %s)", dir, dir)
	}
	return c, err
}

func newClusterDownCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the cluster recorded in --dir and remove its directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := settings(cmd)
			if err != nil {
				return err
			}
			c, err := openCluster(v, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 30*time.Second)
			defer cancel()
			if err := c.Stop(ctx); err != nil {
				return err
			}
			if err := c.Remove(); err != nil {
				return err
			}
			if clusterDir(v) == defaultClusterDir {
				_ = os.Remove(filepath.Dir(defaultClusterDir)) // .redis-chaos, if now empty
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cluster stopped (%d nodes), %s removed\n", len(c.Nodes()), c.Dir())
			return nil
		},
	}
	addClusterDirFlags(cmd)
	return cmd
}

func newClusterStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each node's live role, shard, slots, link state and cluster_state (exit 1 when unhealthy)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := settings(cmd)
			if err != nil {
				return err
			}
			c, err := openCluster(v, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			if err := printClusterStatus(cmd.OutOrStdout(), st); err != nil {
				return err
			}
			if p := st.Problem(); p != nil {
				return &exitError{code: 1, err: fmt.Errorf("cluster unhealthy: %w", p)}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "\ncluster healthy")
			return nil
		},
	}
	addClusterDirFlags(cmd)
	return cmd
}

func printClusterStatus(out io.Writer, st provision.Status) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tADDR\tSHARD\tROLE\tPROCESS\tCLUSTER\tLINK\tSLOTS\tNODE ID")
	for _, n := range st.Nodes {
		process := "running"
		switch {
		case !n.Running:
			process = "down"
		case n.Paused:
			process = "paused"
		case !n.Reachable:
			process = "unreachable"
		}
		role, state, link, slots := "-", "-", "-", "-"
		if n.Reachable {
			role, state = string(n.Role), n.ClusterState
			if n.Role != n.Node.Role {
				role += " (was " + string(n.Node.Role) + ")"
			}
			if n.Role == provision.RoleReplica {
				link = n.Link
			}
			if len(n.Slots) > 0 {
				slots = provision.FormatSlots(n.Slots)
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Index, n.Addr, n.Shard, role, process, state, link, slots, n.ID)
	}
	return tw.Flush()
}
