package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

func init() { subcommands = append(subcommands, newScenarioCmd) }

func newScenarioCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenario ls|run NAME",
		Short: "List and start the built-in scenarios on a running proxy (control API client)",
		Long: `List and start the built-in scenarios on a running proxy through its control API.

  scenario ls                                     the scenarios, their default hold and what a safe client sees
  scenario run NAME [--mode M] [--hold D] [--wait]  start one; --wait follows it until it is done

Nodes are picked from live roles with the proxy's seed and named in the output.`,
	}
	cmd.AddCommand(newScenarioLsCmd(), newScenarioRunCmd())
	return cmd
}

func newScenarioLsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the built-in scenarios",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, asJSON, err := apiSetup(cmd)
			if err != nil {
				return err
			}
			scs, err := c.Scenarios(cmd.Context())
			if err != nil {
				return apiErr(c, err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if scs == nil {
					scs = []api.ScenarioInfo{}
				}
				return printJSON(out, scs)
			}
			verbose, _ := cmd.Flags().GetBool("verbose")
			tw := table(out)
			fmt.Fprintln(tw, "NAME\tHOLD\tREAL MODE\tSUMMARY")
			for _, s := range scs {
				real := "no"
				if s.Real {
					real = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Hold, real, s.Summary)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if verbose {
				for _, s := range scs {
					fmt.Fprintf(out, "\n%s: %s\n  a safe client: %s\n", s.Name, s.Summary, s.Expect)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolP("verbose", "v", false, "also print what a safe client should see in each")
	addAPIFlags(cmd, true)
	return cmd
}

func newScenarioRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run NAME",
		Short: "Start a scenario (inject → hold → recover); --wait follows it to the end",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, err := jsonOutput(cmd)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			var req api.ScenarioRequest
			req.Mode, _ = f.GetString("mode")
			for name, dst := range map[string]*fault.Duration{"hold": &req.Hold, "recover": &req.Recover} {
				s, _ := f.GetString(name)
				d, err := fault.ParseDuration(s)
				if err != nil {
					return fmt.Errorf("--%s: %w", name, err)
				}
				*dst = d
			}
			var side fault.Match
			side.Clients, _ = f.GetString("clients")
			side.ClientName, _ = f.GetString("client-name")
			side.LibName, _ = f.GetString("lib-name")
			if side.Clients != "" || side.ClientName != "" || side.LibName != "" {
				req.Clients = &side
			}
			if known := chaos.ScenarioNames(); !slices.Contains(known, args[0]) {
				return fmt.Errorf("unknown scenario %q%s (known: %s)", args[0], didYouMean(args[0], known), strings.Join(known, ", "))
			}
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			run, err := c.StartScenario(ctx, args[0], req)
			if err != nil {
				if api.IsNotFound(err) {
					return fmt.Errorf("no scenario %q on this proxy (redis-chaos scenario ls lists them)", args[0])
				}
				return apiErr(c, err)
			}
			out := cmd.OutOrStdout()
			an := newAnnouncer(ctx, c)
			if !asJSON {
				printRunStart(out, run, an)
			}
			if wait, _ := f.GetBool("wait"); !wait {
				if asJSON {
					return printJSON(out, run)
				}
				fmt.Fprintf(out, "the run goes on on the proxy (GET /v1/runs/%s); --wait follows a run to its end\n", run.ID)
				return nil
			}
			poll, _ := f.GetDuration("poll")
			final, err := followRun(ctx, c, run, poll, func(p chaos.Phase) {
				if !asJSON {
					fmt.Fprintf(out, "%s  %s\n", p.Start.Local().Format("15:04:05.000"), p.Name)
				}
			})
			if err != nil {
				if ctx.Err() != nil && !asJSON {
					fmt.Fprintf(out, "stopped following run %s; it goes on on the proxy\n", run.ID)
					return nil
				}
				return apiErr(c, err)
			}
			if asJSON {
				if err := printJSON(out, final); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(out, "%s  run %s %s", final.Ended.Local().Format("15:04:05.000"), final.ID, final.State)
				if !final.Ended.IsZero() {
					fmt.Fprintf(out, " after %s", final.Ended.Sub(final.Started).Round(100*time.Millisecond))
				}
				fmt.Fprintln(out)
			}
			if final.State != "done" {
				msg := "run " + final.ID + " " + final.State
				if final.Error != "" {
					msg += ": " + final.Error
				}
				return errors.New(msg)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.String("mode", "simulate", "simulate, or real (only against redis-chaos up or run, which provisioned the cluster; not proxy)")
	f.String("hold", "", "how long the faults are held (default: the scenario's)")
	f.String("recover", "", "how long to watch the recovery after the faults end (default: 2×node-timeout+2s)")
	f.String("clients", "", "partition scenarios: the clients (IP or CIDR, comma separated) on the cut-off side (default: half of the clients, by identity)")
	f.String("client-name", "", "partition scenarios: the clients on the cut-off side by CLIENT SETNAME (glob)")
	f.String("lib-name", "", "partition scenarios: the clients on the cut-off side by CLIENT SETINFO lib-name (glob)")
	f.Bool("wait", false, "follow the run until it is done, printing its phases")
	f.Duration("poll", 200*time.Millisecond, "with --wait: how often the run is polled")
	addAPIFlags(cmd, true)
	return cmd
}

func printRunStart(w io.Writer, r *chaos.Run, an announcer) {
	fmt.Fprintf(w, "run %s: scenario %s (%s mode, seed %d)\n", r.ID, r.Scenario, r.Mode, r.Seed)
	var nodes []string
	for _, n := range r.Nodes {
		if p, ok := an[n]; ok && p != n {
			nodes = append(nodes, p+" (real "+n+")")
		} else {
			nodes = append(nodes, n)
		}
	}
	fmt.Fprintf(w, "nodes picked: %s\n", dash(strings.Join(nodes, ", ")))
	for _, f := range r.Faults {
		fmt.Fprintf(w, "fault %s: %s on %s\n", f.ID, faultAction(&f.Spec), dash(an.nodes(f.Nodes)))
	}
	if r.Expect != "" {
		fmt.Fprintf(w, "a safe client: %s\n", r.Expect)
	}
	for _, p := range r.Phases {
		fmt.Fprintf(w, "%s  %s\n", p.Start.Local().Format("15:04:05.000"), p.Name)
	}
}

// followRun polls a run until it is no longer running, calling phase for
// every phase that begins after the ones start already holds.
func followRun(ctx context.Context, c *api.Client, start *chaos.Run, every time.Duration, phase func(chaos.Phase)) (*chaos.Run, error) {
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	seen := len(start.Phases)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r, err := c.Run(ctx, start.ID)
		if err != nil {
			return nil, err
		}
		for ; seen < len(r.Phases); seen++ {
			phase(r.Phases[seen])
		}
		if r.State != "running" {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-t.C:
		}
	}
}
