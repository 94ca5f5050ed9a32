// Command redis-chaos is a chaos-testing proxy for Redis Cluster.
//
// Every subcommand lives in its own file; this one holds the root command and the
// glue between cobra flags, the YAML config file and REDIS_CHAOS_* environment
// variables (viper). Nothing below cmd/ reads flags, files or the environment.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	redis.SetLogger(quietLogger{}) // our errors carry the cause; its own lines would come first
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := cpuProfile(os.Getenv("REDIS_CHAOS_CPUPROFILE"))
	err := newRootCmd().ExecuteContext(ctx)
	stopProfile()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "redis-chaos:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// quietLogger drops go-redis's log lines (pool.go: failed to dial …).
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// cpuProfile writes a CPU profile of the whole run to file, if one is named
// (REDIS_CHAOS_CPUPROFILE), for go tool pprof.
func cpuProfile(file string) (stop func()) {
	if file == "" {
		return func() {}
	}
	f, err := os.Create(file)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "redis-chaos: REDIS_CHAOS_CPUPROFILE:", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "redis-chaos",
		Short:         "A chaos-testing proxy for Redis Cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("config", "", "YAML config file (every key is also a flag and a REDIS_CHAOS_* env var)")
	root.PersistentFlags().String("log-level", "info", "log level: debug, info, warn, error")
	root.SetFlagErrorFunc(flagError)
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	for _, c := range root.Commands() {
		if c.HasSubCommands() && !c.Runnable() {
			c.Args = cobra.ArbitraryArgs
			c.RunE = unknownSubcommand
			c.SuggestionsMinimumDistance = 2
		}
	}
	return root
}

// unknownSubcommand is the RunE of a command that only groups others
// (cluster, fault, scenario): without arguments it shows its help, with an
// unknown one it fails with the nearest subcommands, as the root does.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t") + "\n"
	}
	return errors.New(msg)
}

// subcommands is filled by the init functions of the files that define them.
var subcommands []func() *cobra.Command

// envKey turns a setting's name into its REDIS_CHAOS_* variable's suffix
// (upper-cased by viper).
var envKey = strings.NewReplacer("-", "_", ".", "_")

// settings binds a command's flags, the config file and the environment into one
// viper instance: flag > env > file > default.
func settings(cmd *cobra.Command) (*viper.Viper, error) {
	v := viper.New()
	v.SetEnvPrefix("REDIS_CHAOS")
	v.SetEnvKeyReplacer(envKey)
	v.AutomaticEnv()
	var bindErr error
	bind := func(f *pflag.Flag) {
		if err := v.BindPFlag(f.Name, f); err != nil && bindErr == nil {
			bindErr = err
		}
	}
	cmd.Flags().VisitAll(bind)
	cmd.InheritedFlags().VisitAll(bind)
	if bindErr != nil {
		return nil, bindErr
	}
	if file := v.GetString("config"); file != "" {
		v.SetConfigFile(file)
		if err := checkYAMLSyntax(file); err != nil {
			return nil, err
		}
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("read config %s: %w", file, err)
		}
	}
	return v, nil
}
