package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

func init() { subcommands = append(subcommands, newTopologyCmd) }

func newTopologyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Show the proxy's port map and the cluster as clients see it (control API client)",
		Long: `Show the proxy's port map (one proxy port per real node) and the virtual
cluster: the roles, flags and slots clients see through the proxy, which faults
change while the real cluster stays as it is (REAL ROLE).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, asJSON, err := apiSetup(cmd)
			if err != nil {
				return err
			}
			t, err := c.Topology(cmd.Context())
			if err != nil {
				return apiErr(c, err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), t)
			}
			return printTopology(cmd.OutOrStdout(), t)
		},
	}
	addAPIFlags(cmd, true)
	return cmd
}

func printTopology(w io.Writer, t *api.Topology) error {
	state := "ok"
	differs := false
	type row struct{ role, flags, master, slots string }
	virt := map[string]row{}
	if t.Virtual != nil {
		state, differs = t.Virtual.State, t.Virtual.Differ
		for _, n := range t.Virtual.Nodes {
			virt[n.Addr] = row{n.Role, n.Flags, n.Master, ranges(n.Slots)}
		}
	}
	realNodes := map[string]topology.Node{}
	if t.Real != nil {
		for _, n := range t.Real.Nodes {
			realNodes[n.Addr] = n
		}
	}
	fmt.Fprintf(w, "cluster_state: %s", state)
	switch {
	case t.Virtual == nil:
		fmt.Fprint(w, " (no chaos engine: the real view)")
	case differs:
		fmt.Fprint(w, " (faults: clients see a cluster that differs from the real one)")
	default:
		fmt.Fprint(w, " (clients see the real cluster)")
	}
	fmt.Fprintln(w)
	tw := table(w)
	fmt.Fprintln(tw, "PROXY\tREAL NODE\tROLE\tREAL ROLE\tFLAGS\tSLOTS\tNODE ID\tLISTENER")
	for _, n := range t.Nodes {
		r, ok := virt[n.Addr]
		if !ok {
			rn := realNodes[n.Addr]
			r = row{role: n.Role, flags: strings.Join(rn.Flags, ","), slots: ranges(rn.Slots)}
		}
		listener := "open"
		if n.Down {
			listener = "closed (down)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Announce, n.Addr, dash(r.role), dash(n.Role),
			dash(r.flags), dash(r.slots), shortID(n.ID), listener)
	}
	return tw.Flush()
}

func ranges(rs []topology.Range) string {
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		if r.From == r.To {
			parts = append(parts, strconv.Itoa(r.From))
		} else {
			parts = append(parts, strconv.Itoa(r.From)+"-"+strconv.Itoa(r.To))
		}
	}
	return strings.Join(parts, ",")
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
