package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/redis-chaos/redis-chaos/chaos/lint"
)

func init() { subcommands = append(subcommands, newLintCmd) }

func newLintCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lint [PATH...]",
		Short: "Find dangerous Redis Cluster client options in source code and config files",
		Long: `Walk the given trees (default "."), detect the Redis clients and their versions
from build files (go.mod, package.json, package-lock.json, requirements*.txt,
pyproject.toml, Pipfile, pom.xml, build.gradle[.kts]) and report client options
that the runtime checker would flag under faults.

Inside a git work tree the files git tracks or would track are scanned;
elsewhere every .gitignore of the tree is honoured (negations, nested files,
"**"). vendor/, node_modules/, .git/ and testdata/ are skipped, and so are
files with a "Code generated ... DO NOT EDIT." header. Test, mock, example and
documentation sources are skipped unless --include-tests is given, which
reports their findings at low severity. See docs/lint.md.

Exit codes: 0 no finding reaches --fail-on; 1 bad flags or a path that cannot
be read; 3 findings at or above --fail-on; 4 nothing was scanned in a
directory whose build files declare a Redis client (the findings, if any, are
still written).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, _ := cmd.Flags().GetString("format")
			failOnFlag, _ := cmd.Flags().GetString("fail-on")
			failOn, err := lint.ParseSeverity(failOnFlag)
			if err != nil {
				return usageErr(err)
			}
			write := map[string]func(w writer, r *lint.Result) error{
				"text": func(w writer, r *lint.Result) error { return lint.WriteText(w, r) },
				"json": func(w writer, r *lint.Result) error { return lint.WriteJSON(w, r) },
				"sarif": func(w writer, r *lint.Result) error {
					return lint.WriteSARIF(w, r)
				},
			}[format]
			if write == nil {
				return usageErr(fmt.Errorf("unknown --format %q (text, json, sarif)", format))
			}
			if rules, _ := cmd.Flags().GetBool("rules"); rules {
				return printLintRules(cmd)
			}
			includeTests, _ := cmd.Flags().GetBool("include-tests")
			res, err := lint.Run(lint.Config{Paths: args, IncludeTests: includeTests})
			var empty *lint.EmptyScanError
			if err != nil && !errors.As(err, &empty) {
				return usageErr(err)
			}
			if err := write(cmd.OutOrStdout(), res); err != nil {
				return err
			}
			if empty != nil {
				return &exitError{code: exitNothingScanned, err: empty}
			}
			if failOn > 0 && res.Max() >= failOn {
				return &exitError{code: exitFindings, err: fmt.Errorf("lint: findings at or above %s", failOn)}
			}
			return nil
		},
	}
	cmd.Flags().String("format", "text", "output: text, json or sarif (SARIF 2.1.0)")
	cmd.Flags().String("fail-on", "high", "exit 3 when a finding has this severity or higher: low, medium, high, none")
	cmd.Flags().Bool("rules", false, "list the rules and exit")
	cmd.Flags().Bool("include-tests", false, "also lint test, mock, example and documentation sources (their findings are low severity)")
	return cmd
}

// exitNothingScanned: a directory whose build declares a Redis client gave
// no file to scan.
const exitNothingScanned = 4

type writer = interface{ Write([]byte) (int, error) }

func printLintRules(cmd *cobra.Command) error {
	out := cmd.OutOrStdout()
	for _, r := range lint.Rules() {
		checker := r.Checker
		if checker == "" {
			checker = "-"
		}
		if _, err := fmt.Fprintf(out, "%-38s %-6s %-22s %s\n", r.ID, r.Severity, checker, r.Short); err != nil {
			return err
		}
	}
	return nil
}
