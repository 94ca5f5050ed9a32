package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

func init() { subcommands = append(subcommands, newFaultCmd) }

// ---- shared by the clients of the control API (fault, scenario, topology, findings)

// addAPIFlags adds the flags every client of the control API takes. json
// adds --json as a shorthand for --output json.
func addAPIFlags(cmd *cobra.Command, json bool) {
	f := cmd.Flags()
	f.String("api", "127.0.0.1:8470", "control API address of the proxy (HOST:PORT or URL)")
	f.String("api-token", "", "bearer token of the control API (env REDIS_CHAOS_API_TOKEN)")
	f.StringP("output", "o", "table", "output format: table or json")
	if json {
		f.Bool("json", false, "machine output (same as --output json)")
	}
}

// apiClient returns a client of the API named by --api, --api-token, the
// config file and the environment.
func apiClient(cmd *cobra.Command) (*api.Client, error) {
	v, err := settings(cmd)
	if err != nil {
		return nil, err
	}
	c := api.NewClient(v.GetString("api"), v.GetString("api-token"))
	c.Actor = cliActor()
	return c, nil
}

// cliActor is who the API client commands say they act for, for the API's
// audit log: $REDIS_CHAOS_ACTOR, or $USER@hostname.
func cliActor() string {
	if a := os.Getenv("REDIS_CHAOS_ACTOR"); a != "" {
		return a
	}
	u := os.Getenv("USER")
	if u == "" {
		if cu, err := user.Current(); err == nil {
			u = cu.Username
		}
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return u + "@" + host
}

// apiSetup is the start of every API client command: the client and whether
// to print JSON.
func apiSetup(cmd *cobra.Command) (*api.Client, bool, error) {
	asJSON, err := jsonOutput(cmd)
	if err != nil {
		return nil, false, err
	}
	c, err := apiClient(cmd)
	return c, asJSON, err
}

// jsonOutput reports whether the command should print JSON.
func jsonOutput(cmd *cobra.Command) (bool, error) {
	if f := cmd.Flags().Lookup("json"); f != nil && f.Value.Type() == "bool" && f.Value.String() == "true" {
		return true, nil
	}
	switch o, _ := cmd.Flags().GetString("output"); o {
	case "", "table":
		return false, nil
	case "json":
		return true, nil
	default:
		return false, fmt.Errorf("--output %q: want table or json", o)
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// apiErr explains an error of the API client for a terminal.
func apiErr(c *api.Client, err error) error {
	var ne net.Error
	var oe *net.OpError
	if api.StatusOf(err) == 0 && (errors.As(err, &oe) || errors.As(err, &ne)) {
		return fmt.Errorf("cannot reach the control API at %s (is a proxy running? --api sets its address): %w", c.BaseURL, err)
	}
	if api.StatusOf(err) == 401 {
		return fmt.Errorf("%w (set --api-token or REDIS_CHAOS_API_TOKEN)", err)
	}
	return err
}

// announcer maps real node addresses to the proxy addresses clients use.
type announcer map[string]string

func newAnnouncer(ctx context.Context, c *api.Client) announcer {
	a := announcer{}
	if t, err := c.Topology(ctx); err == nil {
		for _, n := range t.Nodes {
			a[n.Addr] = n.Announce
		}
	}
	return a
}

// nodes lists nodes by proxy address: the first three, then a count.
func (a announcer) nodes(real []string) string {
	const show = 3
	if len(real) > show+1 {
		return a.nodes(real[:show]) + fmt.Sprintf(" +%d more", len(real)-show)
	}
	out := make([]string, len(real))
	for i, r := range real {
		if p, ok := a[r]; ok {
			out[i] = p
		} else {
			out[i] = r
		}
	}
	return strings.Join(out, ",")
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ---- fault add|ls|rm|clear

func newFaultCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fault add|ls|rm|clear",
		Short: "Add, list and remove faults on a running proxy (control API client)",
		Long: `Add, list and remove faults on a running proxy through its control API.

  fault add [ACTION] --target T [flags]   add a fault (or --json '{...}')
  fault ls                                list pending and active faults
  fault rm ID...                          end faults now
  fault clear                             end every fault

Examples:
  redis-chaos fault add error --error MISCONF --target master --commands SET --ttl 30s
  redis-chaos fault add latency --target shard:1 --latency 100ms --jitter 50ms
  redis-chaos fault add down --target replica --ttl 1m
  redis-chaos fault add --json '{"action":"error","error":"OOM","target":"127.0.0.1:7002","match":{"keys":"user:*"}}'`,
	}
	cmd.AddCommand(newFaultAddCmd(), newFaultLsCmd(), newFaultRmCmd(), newFaultClearCmd())
	return cmd
}

func newFaultAddCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add [ACTION]",
		Short: "Add a fault: " + strings.Join(fault.Actions, ", "),
		Args: func(cmd *cobra.Command, args []string) error {
			if js, _ := cmd.Flags().GetString("json"); strings.HasPrefix(js, "-") && js != "-" {
				return fmt.Errorf("--json %s: here --json takes the fault as JSON (use -o json for JSON output)", js)
			}
			return cobra.MaximumNArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, raw, err := faultFromFlags(cmd, args)
			if err != nil {
				return err
			}
			c, err := apiClient(cmd)
			if err != nil {
				return err
			}
			var f *chaos.Fault
			if raw != nil {
				f, err = c.AddFaultJSON(cmd.Context(), raw)
			} else {
				f, err = c.AddFault(cmd.Context(), spec)
			}
			if err != nil {
				return apiErr(c, err)
			}
			asJSON, err := jsonOutput(cmd)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, f)
			}
			fmt.Fprintf(out, "added fault %s\n", f.ID)
			return printFaults(out, []*chaos.Fault{f}, newAnnouncer(cmd.Context(), c), time.Now(), false)
		},
	}
	f := cmd.Flags()
	f.String("json", "", `the fault as JSON, as POST /v1/faults takes it ("-" reads stdin); flags override its fields`)
	f.String("action", "", "what the fault does: "+strings.Join(fault.Actions, ", "))
	f.String("error", "", "error: one of "+strings.Join(fault.ErrorNames(), ", ")+`, or a custom "PREFIX message"`)
	f.String("target", "", "node address (proxy or real), node id, or a selector: all, master, replica, masters:all, masters:majority, shard:N, replicas-of:shard:N")
	f.StringSlice("commands", nil, "match: command names (comma separated)")
	f.StringSlice("categories", nil, "match: command categories: "+strings.Join(fault.Categories, ", "))
	f.String("keys", "", "match: glob on the first key, e.g. user:*")
	f.String("slots", "", "match: slot ranges, e.g. 0-5460,6000")
	f.String("clients", "", "match: client IP or CIDR, comma separated")
	f.String("client-name", "", "match: CLIENT SETNAME (glob)")
	f.String("lib-name", "", "match: CLIENT SETINFO lib-name (glob)")
	f.Float64("probability", 0, "match: inject on this fraction of matching commands (0-1; 0 means all)")
	f.Int("count", 0, "match: inject on at most this many commands (0: no limit)")
	f.String("delay", "", "start after this, e.g. 2s")
	f.String("ttl", "", "expire after this, e.g. 30s (default: the proxy's --default-ttl)")
	f.String("latency", "", "latency: fixed delay per reply, e.g. 100ms")
	f.String("jitter", "", "latency: random extra delay up to this")
	f.Int("after", 0, "reset: close the connection on every Nth matching command")
	f.String("to", "", "migrate (and MOVED/ASK errors): the master that receives the slots")
	f.String("ask-for", "", "migrate: ASK phase length before MOVED (default: half the TTL)")
	f.Float64("share", 0, "partition: fraction of clients (0-1, by identity) on the target's side, unless --clients, --client-name or --lib-name name them")
	f.String("mode", "", "simulate (default) or real (only against redis-chaos up or run, which provisioned the cluster; not proxy)")
	f.String("api", "127.0.0.1:8470", "control API address of the proxy (HOST:PORT or URL)")
	f.String("api-token", "", "bearer token of the control API (env REDIS_CHAOS_API_TOKEN)")
	f.StringP("output", "o", "table", "output format: table or json")
	return cmd
}

// faultFromFlags builds a fault from --json and the field flags (flags win).
// When only --json is given, raw is the JSON as written so that the API
// names unknown fields itself.
func faultFromFlags(cmd *cobra.Command, args []string) (spec fault.Spec, raw json.RawMessage, err error) {
	f := cmd.Flags()
	js, _ := f.GetString("json")
	if js == "-" {
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return spec, nil, fmt.Errorf("--json -: %w", err)
		}
		js = string(b)
	}
	if strings.TrimSpace(js) != "" {
		dec := json.NewDecoder(strings.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			return spec, nil, fmt.Errorf("--json: %w", err)
		}
	}
	setFlags := 0
	f.Visit(func(fl *pflag.Flag) {
		switch fl.Name {
		case "json", "api", "api-token", "output", "config", "log-level":
		default:
			setFlags++
		}
	})
	if len(args) == 1 {
		if f.Changed("action") && !strings.EqualFold(args[0], mustString(f.GetString("action"))) {
			return spec, nil, fmt.Errorf("action given twice: %q and --action %q", args[0], mustString(f.GetString("action")))
		}
		spec.Action = args[0]
		setFlags++
	}
	if strings.TrimSpace(js) != "" && setFlags == 0 {
		return spec, json.RawMessage(js), nil
	}
	var errs []string
	str := func(name string, dst *string) {
		if f.Changed(name) {
			*dst, _ = f.GetString(name)
		}
	}
	dur := func(name string, dst *fault.Duration) {
		if f.Changed(name) {
			s, _ := f.GetString(name)
			d, err := fault.ParseDuration(s)
			if err != nil {
				errs = append(errs, "--"+name+": "+err.Error())
				return
			}
			*dst = d
		}
	}
	str("action", &spec.Action)
	str("error", &spec.Error)
	str("target", &spec.Target)
	list := func(name string, dst *[]string) {
		if f.Changed(name) {
			vals, _ := f.GetStringSlice(name)
			*dst = nil
			for _, v := range vals { // "SET, GET" gives " GET"
				if v = strings.TrimSpace(v); v != "" {
					*dst = append(*dst, v)
				}
			}
		}
	}
	list("commands", &spec.Match.Commands)
	list("categories", &spec.Match.Categories)
	str("keys", &spec.Match.Keys)
	str("slots", &spec.Match.Slots)
	str("clients", &spec.Match.Clients)
	str("client-name", &spec.Match.ClientName)
	str("lib-name", &spec.Match.LibName)
	if f.Changed("probability") {
		spec.Match.Probability, _ = f.GetFloat64("probability")
	}
	if f.Changed("count") {
		spec.Match.Count, _ = f.GetInt("count")
	}
	dur("delay", &spec.Delay)
	dur("ttl", &spec.TTL)
	dur("latency", &spec.Latency)
	dur("jitter", &spec.Jitter)
	if f.Changed("after") {
		spec.After, _ = f.GetInt("after")
	}
	str("to", &spec.To)
	dur("ask-for", &spec.AskFor)
	if f.Changed("share") {
		spec.Share, _ = f.GetFloat64("share")
	}
	str("mode", &spec.Mode)
	if spec.Action == "" {
		errs = append(errs, "the action is required: fault add ACTION, or --action ("+strings.Join(fault.Actions, ", ")+")")
	}
	if len(errs) > 0 {
		return spec, nil, errors.New(strings.Join(errs, "; "))
	}
	return spec, nil, nil
}

func mustString(s string, _ error) string { return s }

func newFaultLsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List pending and active faults",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, asJSON, err := apiSetup(cmd)
			if err != nil {
				return err
			}
			fs, err := c.Faults(cmd.Context())
			if err != nil {
				return apiErr(c, err)
			}
			out := cmd.OutOrStdout()
			stale := staleConfig(cmd.Context(), c)
			if asJSON {
				if fs == nil {
					fs = []*chaos.Fault{}
				}
				if stale != "" {
					fmt.Fprintln(cmd.ErrOrStderr(), stale)
				}
				return printJSON(out, fs)
			}
			if len(fs) == 0 {
				fmt.Fprintln(out, "no faults")
			} else if err := printFaults(out, fs, newAnnouncer(cmd.Context(), c), time.Now(), stale != ""); err != nil {
				return err
			}
			if stale != "" {
				fmt.Fprintln(out, "\n"+stale)
			}
			return nil
		},
	}
	addAPIFlags(cmd, true)
	return cmd
}

// printFaults writes faults as a table; staleConfig marks the config file's
// faults as stale (its last reload failed).
func printFaults(w io.Writer, fs []*chaos.Fault, an announcer, now time.Time, staleConfig bool) error {
	tw := table(w)
	fmt.Fprintln(tw, "ID\tACTION\tTARGET\tNODES\tMATCH\tSTATE\tEXPIRES IN\tINJECTED\tSOURCE")
	for _, f := range fs {
		source := dash(f.Source)
		if staleConfig && f.Source == "config" {
			source += " (stale)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", f.ID, faultAction(&f.Spec), dash(f.Spec.Target),
			dash(an.nodes(f.Nodes)), dash(matchSummary(&f.Spec.Match)), faultState(f), expiresIn(f, now), f.Injected, source)
	}
	return tw.Flush()
}

// staleConfig is a warning when the proxy's config file failed to reload
// (its faults in force are those of its last good version), or "".
func staleConfig(ctx context.Context, c *api.Client) string {
	var st configStatus
	if err := c.Get(ctx, "/v1/config", &st); err != nil || st.OK || st.File == "" {
		return "" // no config file, a proxy without the route, or all is well
	}
	since := "start-up"
	if !st.LastOKAt.IsZero() {
		since = st.LastOKAt.Local().Format("15:04:05")
	}
	return fmt.Sprintf("stale: the config file %s failed to reload at %s; its faults are those of %s, its last good version:\n  %s",
		st.File, st.LoadedAt.Local().Format("15:04:05"), since, strings.ReplaceAll(st.Error, "\n", "\n  "))
}

// faultAction is the action with its main parameter: "error MISCONF", "latency 100ms±50ms".
func faultAction(s *fault.Spec) string {
	a := s.Summary()
	if s.Mode == "real" {
		a += " (real)"
	}
	return a
}

func faultState(f *chaos.Fault) string {
	if f.Error != "" {
		return f.State + " (error: " + f.Error + ")"
	}
	return f.State
}

func expiresIn(f *chaos.Fault, now time.Time) string {
	if f.Expires.IsZero() {
		return "-"
	}
	d := f.Expires.Sub(now).Round(100 * time.Millisecond)
	if d < 0 {
		d = 0
	}
	return d.String()
}

// matchSummary is a short form of a match: "SET,GET keys=user:* p=0.5".
func matchSummary(m *fault.Match) string {
	var parts []string
	if len(m.Commands) > 0 {
		parts = append(parts, strings.Join(m.Commands, ","))
	}
	if len(m.Categories) > 0 {
		parts = append(parts, "@"+strings.Join(m.Categories, ",@"))
	}
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("keys", m.Keys)
	add("slots", m.Slots)
	add("clients", m.Clients)
	add("name", m.ClientName)
	add("lib", m.LibName)
	if m.Probability > 0 {
		add("p", strconv.FormatFloat(m.Probability, 'g', -1, 64))
	}
	if m.Count > 0 {
		add("count", strconv.Itoa(m.Count))
	}
	return strings.Join(parts, " ")
}

func newFaultRmCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rm ID...",
		Aliases: []string{"remove", "delete"},
		Short:   "End faults now",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, asJSON, err := apiSetup(cmd)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			removed := []string{}
			var errs []error
			for _, id := range args {
				if err := c.RemoveFault(cmd.Context(), id); err != nil {
					if api.IsNotFound(err) {
						err = fmt.Errorf("fault %s: not found (expired or removed)", id)
					}
					errs = append(errs, apiErr(c, err))
					continue
				}
				removed = append(removed, id)
				if !asJSON {
					fmt.Fprintf(out, "removed fault %s\n", id)
				}
			}
			if asJSON {
				if err := printJSON(out, map[string][]string{"removed": removed}); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
	addAPIFlags(cmd, true)
	return cmd
}

func newFaultClearCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clear",
		Short: "End every fault (the virtual cluster returns to the real topology)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, asJSON, err := apiSetup(cmd)
			if err != nil {
				return err
			}
			n, err := c.ClearFaults(cmd.Context())
			if err != nil {
				return apiErr(c, err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]int{"removed": n})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d fault(s)\n", n)
			return nil
		},
	}
	addAPIFlags(cmd, true)
	return cmd
}
