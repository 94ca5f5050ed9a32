package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"

	"github.com/redis-chaos/redis-chaos/chaos/api"
)

func init() { subcommands = append(subcommands, newFindingsCmd) }

// errNoChecker is what findings says when the proxy serves no /v1/findings.
var errNoChecker = errors.New("no checker on this proxy (GET /v1/findings: 404)")

func newFindingsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "findings",
		Short: "Show what the checker found unsafe in the clients it watched (control API client)",
		Long: `Show the checker's findings: the unsafe client behaviours seen through the
proxy, most severe first. --verbose adds the explanation, what a correct client
does and the remedy; --clear forgets every finding.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, asJSON, err := apiSetup(cmd)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if clear, _ := cmd.Flags().GetBool("clear"); clear {
				if err := c.ClearFindings(cmd.Context()); err != nil {
					if api.IsNotFound(err) {
						return errNoChecker
					}
					return apiErr(c, err)
				}
				if asJSON {
					return printJSON(out, map[string]bool{"cleared": true})
				}
				fmt.Fprintln(out, "findings cleared")
				return nil
			}
			fs, err := c.Findings(cmd.Context())
			if err != nil {
				if api.IsNotFound(err) {
					return errNoChecker
				}
				return apiErr(c, err)
			}
			if asJSON {
				raw := make([]json.RawMessage, 0, len(fs))
				for _, f := range fs {
					raw = append(raw, f.Raw)
				}
				return printJSON(out, raw)
			}
			verbose, _ := cmd.Flags().GetBool("verbose")
			if err := printFindings(out, fs, verbose); err != nil {
				return err
			}
			clients, err := c.Clients(cmd.Context())
			if err != nil {
				return apiErr(c, err)
			}
			fmt.Fprintln(out, watched(clients))
			return nil
		},
	}
	cmd.Flags().BoolP("verbose", "v", false, "add each finding's explanation, correct behaviour and remedy")
	cmd.Flags().Bool("clear", false, "forget every finding (DELETE /v1/findings)")
	addAPIFlags(cmd, true)
	return cmd
}

func severityRank(s string) int {
	switch s {
	case "high":
		return 4
	case "medium":
		return 3
	case "low":
		return 2
	case "info":
		return 1
	}
	return 0
}

func printFindings(w io.Writer, fs []api.Finding, verbose bool) error {
	if len(fs) == 0 {
		fmt.Fprintln(w, "no findings")
		return nil
	}
	sort.SliceStable(fs, func(i, j int) bool { return severityRank(fs[i].Severity) > severityRank(fs[j].Severity) })
	tw := table(w)
	fmt.Fprintln(tw, "SEVERITY\tRULE\tCLIENT\tCOUNT\tFIRST SEEN\tLAST SEEN\tTITLE")
	for _, f := range fs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", dash(f.Severity), dash(f.Rule), clientName(f.Client), f.Count,
			f.FirstSeen.Local().Format("15:04:05.000"), f.LastSeen.Local().Format("15:04:05.000"), f.Title)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !verbose {
		return nil
	}
	for _, f := range fs {
		fmt.Fprintf(w, "\n[%s] %s: %s\n  client: %s\n", f.Severity, f.Rule, f.Title, clientName(f.Client))
		if len(f.Nodes) > 0 {
			fmt.Fprintf(w, "  nodes: %v\n", f.Nodes)
		}
		for _, kv := range [][2]string{{"why", f.Explanation}, {"a correct client", f.Correct}, {"remedy", f.Remedy}} {
			if kv[1] != "" {
				fmt.Fprintf(w, "  %s: %s\n", kv[0], kv[1])
			}
		}
		libs := make([]string, 0, len(f.Remedies))
		for lib := range f.Remedies {
			libs = append(libs, lib)
		}
		sort.Strings(libs)
		for _, lib := range libs {
			fmt.Fprintf(w, "  remedy for %s: %s\n", lib, f.Remedies[lib])
		}
	}
	return nil
}

// watched says what the findings are about: how many clients, connections
// and commands the checker watched.
func watched(cs []api.WatchedClient) string {
	var conns, commands uint64
	for _, c := range cs {
		conns += c.Connects
		commands += c.Commands
	}
	if len(cs) == 0 {
		return "watched: no client yet (point an application at the proxy's ports; redis-chaos topology lists them)"
	}
	return fmt.Sprintf("watched: %s, %s, %s", plural(uint64(len(cs)), "client"), plural(conns, "connection"), plural(commands, "command"))
}

// plural is "1 client", "2 clients".
func plural(n uint64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// clientName is "go-redis 9.23.0 name=app @10.0.0.7".
func clientName(c api.FindingClient) string {
	s := "unidentified client"
	if c.LibName != "" {
		s = c.LibName
		if c.LibVer != "" {
			s += " " + c.LibVer
		}
	}
	if c.Name != "" {
		s += " name=" + c.Name
	}
	if c.Addr != "" {
		s += " @" + c.Addr
	}
	return s
}
