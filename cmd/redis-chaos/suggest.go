package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// closest returns the known name nearest to name by edit distance, or ""
// when none is near enough to be a likely misspelling.
func closest(name string, known []string) string {
	name = strings.ToLower(name)
	best, bestD := "", -1
	for _, k := range known {
		if d := editDistance(name, k); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if bestD < 0 || bestD > 1+len([]rune(name))/4 {
		return ""
	}
	return best
}

// didYouMean is `: did you mean "x"?` for the known name nearest to name,
// or "".
func didYouMean(name string, known []string) string {
	if c := closest(name, known); c != "" {
		return fmt.Sprintf(": did you mean %q?", c)
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b, counting an adjacent
// transposition as one edit.
func editDistance(a, b string) int {
	r, s := []rune(a), []rune(b)
	prev2 := make([]int, len(s)+1)
	prev := make([]int, len(s)+1)
	cur := make([]int, len(s)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(r); i++ {
		cur[0] = i
		for j := 1; j <= len(s); j++ {
			cost := 1
			if r[i-1] == s[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && r[i-1] == s[j-2] && r[i-2] == s[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(s)]
}

// flagError adds to an unknown flag the command's flag nearest to it, and
// where the command's flags are listed.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok {
		return err
	}
	var known []string
	add := func(f *pflag.Flag) { known = append(known, f.Name) }
	cmd.Flags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	hint := ""
	if c := closest(name, known); c != "" {
		hint = fmt.Sprintf(": did you mean --%s?", c)
	}
	return fmt.Errorf("%s%s (%s --help lists its flags)", msg, hint, cmd.CommandPath())
}
