package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/chaos/report"
)

func init() { subcommands = append(subcommands, newReportCmd) }

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report --from DIR/report.json [--format html|junit|json] [--out FILE]",
		Short: "Render a saved run (the report.json of redis-chaos run) as HTML, JUnit XML or JSON",
		Example: `  redis-chaos report --from redis-chaos-report/report.json --format html --out run.html
  redis-chaos report --from redis-chaos-report --format junit --fail-on medium > junit.xml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			from, _ := f.GetString("from")
			format, _ := f.GetString("format")
			outFile, _ := f.GetString("out")
			failOn, _ := f.GetString("fail-on")
			if from == "" {
				return errors.New("--from is required: the report.json written by redis-chaos run (or its directory)")
			}
			if st, err := os.Stat(from); err == nil && st.IsDir() {
				from = filepath.Join(from, report.FileJSON)
			}
			var write func(*report.Report, io.Writer) error
			switch format {
			case "html":
				write = (*report.Report).WriteHTML
			case "junit", "xml":
				write = (*report.Report).WriteJUnit
			case "json":
				write = (*report.Report).WriteJSON
			default:
				return fmt.Errorf("--format %q: want html, junit or json", format)
			}
			in, err := os.Open(from)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			r, err := report.ReadJSON(in)
			in.Close()
			if err != nil {
				return fmt.Errorf("--from %s: %w", from, err)
			}
			if failOn != "" {
				sev, err := checker.ParseSeverity(failOn)
				if err != nil {
					return fmt.Errorf("--fail-on: %w", err)
				}
				r.FailOn = sev
			}
			if outFile == "" || outFile == "-" {
				return write(r, cmd.OutOrStdout())
			}
			out, err := os.Create(outFile)
			if err != nil {
				return err
			}
			if err := write(r, out); err != nil {
				out.Close()
				return err
			}
			return out.Close()
		},
	}
	f := cmd.Flags()
	f.String("from", "", "report.json of a run, or the directory holding it")
	f.String("format", "html", "html, junit or json")
	f.String("out", "", "file to write (default: standard output)")
	f.String("fail-on", "", "severity from which findings fail (default: the run's --fail-on)")
	return cmd
}
