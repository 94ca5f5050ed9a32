package main

// The checker's thresholds: the config file's
//
//	checker:
//	  thresholds:
//	    command-timeout: 10s
//
// and the repeatable flag --checker-threshold NAME=VALUE (also
// REDIS_CHAOS_CHECKER_THRESHOLD="NAME=VALUE,NAME=VALUE", or a checker-threshold:
// list in the file). They merge by name: flag > environment > file; a name
// set nowhere keeps its default. Every problem is reported at once and stops
// start-up.

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/viper"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// ThresholdError lists every problem of the checker's thresholds.
type ThresholdError struct {
	Problems fault.Errors
}

func (e *ThresholdError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "checker thresholds: %d problem(s):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.Error())
	}
	return b.String()
}

func (e *ThresholdError) Unwrap() error { return e.Problems }

// checkerThresholds reads the checker's thresholds from v.
func checkerThresholds(v *viper.Viper) (checker.Thresholds, error) {
	var th checker.Thresholds
	var problems fault.Errors
	bad := func(field, format string, a ...any) {
		problems = append(problems, &fault.FieldError{Field: field, Reason: fmt.Sprintf(format, a...)})
	}
	// The file's checker: thresholds: mapping.
	if raw := v.Get("checker"); raw != nil {
		sec, ok := raw.(map[string]any)
		if !ok {
			bad("checker", "want a mapping with thresholds:")
		}
		keys := sortedKeys(sec)
		for _, k := range keys {
			if k != "thresholds" {
				bad("checker."+k, "unknown key (checker: holds thresholds:)")
			}
		}
		if t, present := sec["thresholds"]; present && t != nil {
			m, ok := t.(map[string]any)
			if !ok {
				bad("checker.thresholds", "want a mapping of threshold names to values")
			}
			for _, name := range sortedKeys(m) {
				val := m[name]
				if _, isList := val.([]any); isList || val == nil {
					bad("checker.thresholds."+name, "want one value")
					continue
				}
				if err := setThreshold(&th, name, fmt.Sprint(val)); err != nil {
					bad("checker.thresholds."+name, "%v", err)
				}
			}
		}
	}
	// --checker-threshold NAME=VALUE (flag > env > the file's checker-threshold: list).
	for _, s := range stringList(v.Get("checker-threshold")) {
		name, val, ok := strings.Cut(s, "=")
		name = strings.TrimSpace(name)
		field := "--checker-threshold " + s
		if !ok || name == "" {
			bad(field, "want NAME=VALUE, e.g. command-timeout=5s")
			continue
		}
		if err := setThreshold(&th, name, val); err != nil {
			bad(field, "%v", err)
		}
	}
	if len(problems) > 0 {
		return th, &ThresholdError{Problems: problems}
	}
	return th, nil
}

// setThreshold is th.Set, naming the closest known threshold for a
// misspelt name the checker does not recognise.
func setThreshold(th *checker.Thresholds, name, val string) error {
	err := th.Set(name, val)
	if err == nil || strings.Contains(err.Error(), "did you mean") {
		return err
	}
	var names []string
	for _, info := range checker.ThresholdInfos() {
		if info.Name == name {
			return err // a known name with a bad value
		}
		names = append(names, info.Name)
	}
	if hint := didYouMean(name, names); hint != "" {
		return fmt.Errorf("unknown threshold%s", hint)
	}
	return err
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// stringList reads a list setting: the flag's []string, the file's list, or
// the environment's "a=1,b=2" (commas or spaces between entries).
func stringList(x any) []string {
	var out []string
	add := func(s string) {
		for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
			out = append(out, p)
		}
	}
	switch x := x.(type) {
	case nil:
	case string:
		add(x)
	case []string:
		for _, s := range x {
			add(s)
		}
	case []any:
		for _, s := range x {
			add(fmt.Sprint(s))
		}
	default:
		add(fmt.Sprint(x))
	}
	return out
}
