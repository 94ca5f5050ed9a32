package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
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

status and down find the cluster by --dir (default ` + defaultClusterDir + `) or, given
--cluster-base-port (and --host) without --dir, by its first node's address, from
any directory.

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
	if err := checkNotRunning(clusterDir(v)); err != nil {
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
		return withPortsNote(err, cfg)
	}
	warnPorts(cfg, cfg.Logger)
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

// checkNotRunning fails when dir records a cluster with a node still running:
// a second cluster up there would otherwise stop at its first port in use.
func checkNotRunning(dir string) error {
	c, err := provision.Open(dir)
	if err != nil {
		return nil // nothing recorded (or unreadable: Start reports it)
	}
	defer c.Close()
	nodes := c.Nodes()
	running := 0
	for _, n := range nodes {
		if n.PID != 0 {
			running++
		}
	}
	if running == 0 {
		return nil
	}
	return &runningError{fmt.Sprintf("a cluster is already running in %s (%d of %d nodes up, %s…): "+
		"see it with redis-chaos cluster status --dir %s, stop it with redis-chaos cluster down --dir %s, "+
		"or start another one with a different --dir and --cluster-base-port",
		c.Dir(), running, len(nodes), nodes[0].Addr, dir, dir)}
}

// runningError is provision.ErrRunning told in the words of the CLI.
type runningError struct{ msg string }

func (e *runningError) Error() string { return e.msg }
func (e *runningError) Unwrap() error { return provision.ErrRunning }

// openCluster attaches to the cluster recorded in --dir or, given
// --cluster-base-port without --dir, to the provisioned cluster whose first
// node listens on --host:--cluster-base-port (its directory is found through
// the node: see provision.OpenByAddr).
func openCluster(ctx context.Context, v *viper.Viper, errOut io.Writer) (*provision.Cluster, error) {
	dir := clusterDir(v)
	pcfg := provision.Config{
		Dir:      dir,
		Username: v.GetString("username"),
		Password: v.GetString("password"),
		Logger:   newLogger(v, errOut),
	}
	if !v.IsSet("cluster-base-port") {
		c, err := provision.OpenConfig(pcfg)
		if errors.Is(err, provision.ErrNoState) {
			return nil, fmt.Errorf("no cluster recorded in %s (start one with: redis-chaos cluster up --dir %s; "+
				"or name a running one by its first port: --cluster-base-port N)", dir, dir)
		}
		return c, err
	}
	addr := net.JoinHostPort(v.GetString("host"), strconv.Itoa(v.GetInt("cluster-base-port")))
	if !v.IsSet("dir") {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			c, err := provision.OpenByAddr(ctx, pcfg, addr)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", addr, err)
			}
			return c, checkFirstNode(c, addr)
		}
		// Nothing answers there: the recorded cluster, if it is that one,
		// can still be shown (every node down) or removed.
	}
	c, err := provision.OpenConfig(pcfg)
	if errors.Is(err, provision.ErrNoState) {
		return nil, fmt.Errorf("no redis-chaos node answers on %s and no cluster is recorded in %s", addr, dir)
	}
	if err != nil {
		return nil, err
	}
	return c, checkFirstNode(c, addr)
}

// checkFirstNode closes c and fails unless its node 0 listens on addr.
func checkFirstNode(c *provision.Cluster, addr string) error {
	if first := c.Nodes()[0].Addr; first != addr {
		c.Close()
		return fmt.Errorf("the cluster in %s starts at %s, not %s (--cluster-base-port names the first node's port)", c.Dir(), first, addr)
	}
	return nil
}

// addClusterFindFlags adds the flags that name a running cluster by its address.
func addClusterFindFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Int("cluster-base-port", provision.DefaultBasePort, "find the cluster by its first node's port (instead of --dir)")
	f.String("host", provision.DefaultHost, "with --cluster-base-port: the nodes' IP address")
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
			ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 30*time.Second)
			defer cancel()
			c, err := openCluster(ctx, v, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := c.Stop(ctx); err != nil {
				return err
			}
			if err := c.Remove(); err != nil {
				return err
			}
			if parent := filepath.Dir(c.Dir()); filepath.Base(parent) == filepath.Dir(defaultClusterDir) {
				_ = os.Remove(parent) // .redis-chaos, if now empty
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cluster stopped (%d nodes), %s removed\n", len(c.Nodes()), c.Dir())
			return nil
		},
	}
	addClusterDirFlags(cmd)
	addClusterFindFlags(cmd)
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
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			c, err := openCluster(ctx, v, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer c.Close()
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
	addClusterFindFlags(cmd)
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
