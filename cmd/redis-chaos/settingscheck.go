package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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
	file := v.ConfigFileUsed()
	if file != "" {
		known := configKeys()
		if !strictConfig(file) {
			known = nil
		}
		limits := fault.Limits{DefaultTTL: v.GetDuration("default-ttl"), MaxTTL: v.GetDuration("max-ttl")}
		if _, err := readConfigFaults(file, known, limits); err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				return err
			}
			problems = append(problems, ce.Problems...)
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
			field = "REDIS_CHAOS_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(f.Name))
		}
		if reason := badValue(f.Value.Type(), val); reason != "" {
			problems = append(problems, &fault.FieldError{Field: field, Reason: reason})
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	if _, err := checkerThresholds(v); err != nil {
		var te *ThresholdError
		if !errors.As(err, &te) {
			return err
		}
		problems = append(problems, te.Problems...)
	}
	if len(problems) > 0 {
		return &ConfigError{File: file, Problems: problems}
	}
	return nil
}

// badValue says what is wrong with a value read from a file or the
// environment for a flag of type typ ("" if nothing): viper would silently
// turn "abc" into 0 and 5 into 5ns.
func badValue(typ string, val any) string {
	s, isString := val.(string)
	switch typ {
	case "int", "int64", "int32", "uint", "uint16", "uint32", "uint64":
		switch x := val.(type) {
		case int, int64, uint64:
			return ""
		case float64:
			if x == float64(int64(x)) {
				return ""
			}
		case string:
			if _, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return ""
			}
		}
		return fmt.Sprintf("want an integer, got %v", quoteIf(val))
	case "duration":
		if isString {
			if _, err := time.ParseDuration(strings.TrimSpace(s)); err != nil {
				return fmt.Sprintf("want a duration such as 500ms or 5s, got %q", s)
			}
			return ""
		}
		if val == 0 {
			return ""
		}
		return fmt.Sprintf("want a duration with its unit (such as 5s), got %v", val)
	case "bool":
		switch x := val.(type) {
		case bool:
			return ""
		case string:
			if _, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
				return ""
			}
		}
		return fmt.Sprintf("want true or false, got %v", quoteIf(val))
	case "float64", "float32":
		switch x := val.(type) {
		case int, int64, float64:
			return ""
		case string:
			if _, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
				return ""
			}
		}
		return fmt.Sprintf("want a number, got %v", quoteIf(val))
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
