package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cast"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// runSettings is settings for the commands that run something (proxy, up,
// run, cluster up): it also checks everything that can be checked before
// anything starts — the config file's keys and faults, the type of every
// value that did not come from a flag (file or REDIS_CHAOS_* variable), and
// the checker's thresholds — and reports every problem at once.
func runSettings(cmd *cobra.Command) (*viper.Viper, error) {
	v, err := settings(cmd)
	if err != nil {
		return nil, err
	}
	if err := checkSettings(cmd, v); err != nil {
		return nil, err
	}
	return v, nil
}

func checkSettings(cmd *cobra.Command, v *viper.Viper) error {
	var problems fault.Errors
	// collect adds the problems of a check that lists them (ConfigError,
	// ThresholdError: both unwrap to fault.Errors); other errors end the check.
	collect := func(err error) error {
		var fe fault.Errors
		if err != nil && !errors.As(err, &fe) {
			return err
		}
		problems = append(problems, fe...)
		return nil
	}
	file := v.ConfigFileUsed()
	if file != "" && strictConfig(file) { // YAML or JSON: the formats read here
		known := configKeys()
		limits := fault.Limits{DefaultTTL: v.GetDuration("default-ttl"), MaxTTL: v.GetDuration("max-ttl")}
		if _, err := readConfigFaults(file, known, limits); collect(err) != nil {
			return err
		}
	}
	visit := func(f *pflag.Flag) {
		if f.Changed || f.Name == "checker-threshold" {
			return // parsed by pflag; thresholds below
		}
		val := v.Get(f.Name)
		if val == nil {
			return
		}
		field := f.Name
		if !v.InConfig(f.Name) {
			field = "REDIS_CHAOS_" + strings.ToUpper(envKey.Replace(f.Name))
		}
		if reason := badValue(f.Value.Type(), val); reason != "" {
			problems = append(problems, &fault.FieldError{Field: field, Reason: reason})
		}
	}
	seen := map[string]bool{} // after parsing, Flags holds the inherited ones too
	both := func(f *pflag.Flag) {
		if !seen[f.Name] {
			seen[f.Name] = true
			visit(f)
		}
	}
	cmd.Flags().VisitAll(both)
	cmd.InheritedFlags().VisitAll(both)
	if _, err := pinnedPorts(v); collect(err) != nil {
		return err
	}
	if _, err := checkerThresholds(v); collect(err) != nil {
		return err
	}
	if len(problems) > 0 {
		return &ConfigError{File: file, Problems: problems}
	}
	return nil
}

// badValue says what is wrong with a value read from a file or the
// environment for a flag of type typ ("" if nothing). It accepts exactly what
// viper's conversions (spf13/cast) accept, which otherwise turn a bad value
// into 0 or false without a word, and rejects a duration without its unit
// (which they read as nanoseconds).
func badValue(typ string, val any) string {
	switch typ {
	case "int", "int64", "int32", "uint", "uint16", "uint32", "uint64":
		if _, err := cast.ToInt64E(val); err != nil {
			return fmt.Sprintf("want an integer, got %v", quoteIf(val))
		}
	case "duration":
		switch x := val.(type) {
		case time.Duration:
		case string:
			if _, err := time.ParseDuration(x); err != nil {
				if _, num := cast.ToFloat64E(x); num == nil && strings.TrimSpace(x) != "0" {
					return fmt.Sprintf("want a duration with its unit (such as 5s), got %q", x)
				}
				return fmt.Sprintf("want a duration such as 500ms or 5s, got %q", x)
			}
		default:
			if f, err := cast.ToFloat64E(val); err != nil || f != 0 {
				return fmt.Sprintf("want a duration with its unit (such as 5s), got %v", val)
			}
		}
	case "bool":
		if _, err := cast.ToBoolE(val); err != nil {
			return fmt.Sprintf("want true or false, got %v", quoteIf(val))
		}
	case "float64", "float32":
		if _, err := cast.ToFloat64E(val); err != nil {
			return fmt.Sprintf("want a number, got %v", quoteIf(val))
		}
	case "string":
		switch val.(type) {
		case map[string]any, []any:
			return "want a single value"
		}
	}
	return ""
}

func quoteIf(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// pinnedPorts reads the config file's ports: mapping — a real node's address
// or node id to the proxy port that stands for it (proxy.Config.Ports).
func pinnedPorts(v *viper.Viper) (map[string]int, error) {
	raw := v.Get("ports")
	if raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, &ConfigError{File: v.ConfigFileUsed(), Problems: fault.Errors{{Field: "ports",
			Reason: `want a mapping of node address or id to proxy port, e.g. {"10.0.0.5:6379": 7001}`}}}
	}
	var problems fault.Errors
	ports := map[string]int{}
	used := map[int]string{}
	for _, node := range sortedKeys(m) {
		p, err := cast.ToIntE(m[node])
		switch {
		case err != nil || p < 1 || p > 65535:
			problems = append(problems, &fault.FieldError{Field: "ports." + node, Reason: fmt.Sprintf("want a port (1-65535), got %v", quoteIf(m[node]))})
		case used[p] != "":
			problems = append(problems, &fault.FieldError{Field: "ports." + node, Reason: fmt.Sprintf("port %d is already pinned to %s", p, used[p])})
		default:
			ports[node], used[p] = p, node
		}
	}
	if len(problems) > 0 {
		return nil, &ConfigError{File: v.ConfigFileUsed(), Problems: problems}
	}
	return ports, nil
}
