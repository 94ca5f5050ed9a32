package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is what the build says it is when the Go build information cannot:
// make build and make docker set it (-ldflags "-X main.version=…") from git
// describe, for builds without version control information (a Docker build
// context has no .git; GOFLAGS=-buildvcs=false).
var version = ""

func init() {
	subcommands = append(subcommands, func() *cobra.Command {
		return &cobra.Command{
			Use:   "version",
			Short: "Print the version: the module version and the commit it was built from",
			Args:  cobra.NoArgs,
			Run: func(cmd *cobra.Command, _ []string) {
				bi, _ := debug.ReadBuildInfo()
				fmt.Fprintln(cmd.OutOrStdout(), versionLine(bi, version))
			},
		}
	})
}

// versionLine describes the binary from its build information (bi, nil when
// there is none) and the version set at link time (stamped, "" when none):
//
//	redis-chaos v1.2.0 (go1.26.8 linux/amd64)
//	redis-chaos v0.0.0-20261122195608-a113faa21eae (commit a113faa21eae, 2026-11-22T19:56:08Z; go1.26.8 linux/amd64)
//	redis-chaos a113faa-dirty (go1.26.8 linux/amd64)
func versionLine(bi *debug.BuildInfo, stamped string) string {
	ver, rev, at, modified := "", "", "", false
	goVer := goruntime.Version()
	if bi != nil {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			ver = v
		}
		if bi.GoVersion != "" {
			goVer = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if ver == "" {
		ver = stamped
	}
	built := goVer + " " + goruntime.GOOS + "/" + goruntime.GOARCH
	if ver == "" && rev == "" {
		return "redis-chaos (devel) (" + built + "): built without version information; " +
			"make build records it, or go build with -buildvcs=true in a git checkout"
	}
	var b strings.Builder
	b.WriteString("redis-chaos ")
	if ver == "" {
		ver = "(devel)"
	}
	b.WriteString(ver)
	b.WriteString(" (")
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		b.WriteString("commit " + rev)
		if modified {
			b.WriteString(" with uncommitted changes")
		}
		if at != "" {
			b.WriteString(", " + at)
		}
		b.WriteString("; ")
	}
	b.WriteString(built + ")")
	return b.String()
}
