package lint_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/lint"
)

// corpusMD lists the evaluation corpus and the hand verdicts.
const corpusMD = "../../test/lint/corpus.md"

// truth is one real problem the hand review found.
type truth struct {
	set, repo, rule, file string
	line                  int // 0: anywhere in the file
	matched               bool
}

// TestCorpus scores the lint against the hand-judged corpus of
// test/lint/corpus.md. It needs checkouts of the listed commits, one
// directory per repository named as in the table, under $LINT_CORPUS
// (test/lint/corpus.sh prepares nothing: it runs this test on a directory
// you provide). Without LINT_CORPUS it is skipped. It prints the per-rule
// table for the held-out set and the whole corpus, writes every finding with
// its verdict to $LINT_CORPUS_OUT if set, and fails below 90% precision or
// 85% recall overall or for the Spring health and Lettuce refresh rules, or
// when a repository is scanned as empty.
func TestCorpus(t *testing.T) {
	root := os.Getenv("LINT_CORPUS")
	if root == "" {
		t.Skip("LINT_CORPUS not set: no corpus checkouts to score")
	}
	repos, truths := readCorpus(t)
	type scored struct {
		set, repo, rule, file string
		line                  int
		tp                    bool
	}
	var findings []scored
	start := time.Now()
	for _, r := range repos {
		dir := filepath.Join(root, r.name)
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("%s: no checkout at %s", r.name, dir)
		}
		res, err := lint.Run(lint.Config{Paths: []string{dir}})
		var empty *lint.EmptyScanError
		if errors.As(err, &empty) || err == nil && res.Files == 0 {
			t.Errorf("%s: scanned as empty (%v)", r.name, err)
		} else if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		for _, f := range res.Findings {
			rel, _ := filepath.Rel(dir, filepath.FromSlash(f.File))
			rel = filepath.ToSlash(rel)
			s := scored{set: r.set, repo: r.name, rule: f.RuleID, file: rel, line: f.Line}
			for i := range truths {
				g := &truths[i]
				if !g.matched && g.repo == r.name && g.rule == f.RuleID && g.file == rel && (g.line == 0 || abs(g.line-f.Line) <= 3) {
					g.matched, s.tp = true, true
					break
				}
			}
			findings = append(findings, s)
		}
	}
	elapsed := time.Since(start)

	type counts struct{ tp, fp, fn int }
	table := func(set string) (map[string]*counts, *counts) {
		per := map[string]*counts{}
		all := &counts{}
		get := func(rule string) *counts {
			if per[rule] == nil {
				per[rule] = &counts{}
			}
			return per[rule]
		}
		for _, f := range findings {
			if set != "" && f.set != set {
				continue
			}
			if f.tp {
				get(f.rule).tp++
				all.tp++
			} else {
				get(f.rule).fp++
				all.fp++
			}
		}
		for _, g := range truths {
			if (set == "" || g.set == set) && !g.matched {
				get(g.rule).fn++
				all.fn++
			}
		}
		return per, all
	}
	pct := func(n, d int) string {
		if d == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(d))
	}
	for _, set := range []string{"held-out", ""} {
		per, all := table(set)
		name := set
		if name == "" {
			name = "whole corpus"
		}
		var b strings.Builder
		fmt.Fprintf(&b, "\n%s (%d repositories)\n| rule | TP | FP | FN | precision | recall |\n|---|---|---|---|---|---|\n", name, countSet(repos, set))
		var ids []string
		for id := range per {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			c := per[id]
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s |\n", id, c.tp, c.fp, c.fn, pct(c.tp, c.tp+c.fp), pct(c.tp, c.tp+c.fn))
		}
		fmt.Fprintf(&b, "| **all** | %d | %d | %d | %s | %s |\n", all.tp, all.fp, all.fn, pct(all.tp, all.tp+all.fp), pct(all.tp, all.tp+all.fn))
		t.Log(b.String())
		if set == "" {
			check := func(what string, c *counts) {
				if c == nil {
					c = &counts{}
				}
				if c.tp+c.fp > 0 && float64(c.tp) < 0.9*float64(c.tp+c.fp) || c.tp+c.fn > 0 && float64(c.tp) < 0.85*float64(c.tp+c.fn) {
					t.Errorf("%s: precision %s, recall %s (want ≥ 90%%, ≥ 85%%)", what, pct(c.tp, c.tp+c.fp), pct(c.tp, c.tp+c.fn))
				}
			}
			check("overall", all)
			check("spring-redis-health-cluster", per["spring-redis-health-cluster"])
			check("lettuce-topology-refresh-off", per["lettuce-topology-refresh-off"])
		}
	}
	t.Logf("%d repositories linted in %v", len(repos), elapsed.Round(10*time.Millisecond))
	if out := os.Getenv("LINT_CORPUS_OUT"); out != "" {
		var b strings.Builder
		for _, f := range findings {
			v := "FP"
			if f.tp {
				v = "TP"
			}
			fmt.Fprintf(&b, "%s | %s | %s | %s:%d | %s\n", f.set, f.repo, f.rule, f.file, f.line, v)
		}
		for _, g := range truths {
			if !g.matched {
				fmt.Fprintf(&b, "%s | %s | %s | %s:%d | FN\n", g.set, g.repo, g.rule, g.file, g.line)
			}
		}
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type corpusRepo struct{ name, set string }

// readCorpus parses the repository table and the real-problem table of
// corpus.md: rows "| name | commit | set | … |" and
// "| set | repo | rule | file[:line] | why |".
func readCorpus(t *testing.T) ([]corpusRepo, []truth) {
	f, err := os.Open(corpusMD)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var repos []corpusRepo
	var truths []truth
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "## ") {
			section = strings.TrimPrefix(l, "## ")
			continue
		}
		if !strings.HasPrefix(l, "| ") || strings.HasPrefix(l, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "| "), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch section {
		case "Repositories":
			if len(cells) >= 3 && len(cells[1]) == 40 {
				repos = append(repos, corpusRepo{cells[0], cells[2]})
			}
		case "Real problems (ground truth)":
			if len(cells) >= 4 && (cells[0] == "dev" || cells[0] == "held-out") {
				file, line := cells[3], 0
				if i := strings.LastIndex(file, ":"); i > 0 {
					if n, err := strconv.Atoi(file[i+1:]); err == nil {
						file, line = file[:i], n
					}
				}
				truths = append(truths, truth{set: cells[0], repo: cells[1], rule: cells[2], file: file, line: line})
			}
		}
	}
	if len(repos) == 0 || len(truths) == 0 {
		t.Fatalf("%s: %d repositories, %d real problems read", corpusMD, len(repos), len(truths))
	}
	return repos, truths
}

func countSet(repos []corpusRepo, set string) int {
	n := 0
	for _, r := range repos {
		if set == "" || r.set == set {
			n++
		}
	}
	return n
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
