// Command runner plays the client conformance matrix: every cell (library ×
// configuration × scenario) through redis-chaos run against one real
// cluster, then writes the results (results.json), the per-rule precision
// and recall, and the page docs/clients.md.
//
//	go run ./test/clients/runner                         # every cell
//	go run ./test/clients/runner --cells 'ioredis,*/good/hang' --docs ''
//
// Ports: the cluster's nodes on --cluster-base-port … +8 (bus ports +10000),
// the proxy on --base-port … +8, its API on --api.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clients "github.com/redis-chaos/redis-chaos/test/clients"
)

func main() {
	os.Exit(run())
}

func run() int {
	cells := flag.String("cells", "", "cells to play, comma separated patterns (library[/config[/scenario]], * for any); default all")
	out := flag.String("out", "test/clients/results", "results directory (git-ignored)")
	docs := flag.String("docs", "docs/clients.md", "page to write ('' for none)")
	reps := flag.Int("reps", 1, "repetitions of each cell")
	clusterBase := flag.Int("cluster-base-port", 14001, "first real node port")
	proxyBase := flag.Int("base-port", 14101, "first proxy port")
	api := flag.String("api", "127.0.0.1:14100", "control API address of each run")
	list := flag.Bool("list", false, "list the cells and exit")
	rejudge := flag.Bool("rejudge", false, "judge the cells already played in --out again (after a change in how expectations are derived), without playing them")
	flag.Parse()

	var pats []string
	if *cells != "" {
		pats = strings.Split(*cells, ",")
	}
	sel, err := clients.Select(clients.Cells(), pats)
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		return 2
	}
	if *list {
		for _, c := range sel {
			fmt.Println(c.ID())
		}
		fmt.Fprintf(os.Stderr, "%d cells\n", len(sel))
		return 0
	}
	if *rejudge {
		res, err := clients.Rejudge(*out, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, "runner:", err)
			return 1
		}
		return finish(res, *out, *docs, (time.Duration(res.Seconds) * time.Second).String(), nil)
	}
	root, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	i := 0
	res, err := clients.Run(ctx, clients.Options{
		Root: root, Out: *out, Cells: sel, Reps: *reps,
		ClusterBase: *clusterBase, ProxyBase: *proxyBase, API: *api,
	}, func(r clients.CellResult) {
		i++
		var bad []string
		for rule, v := range r.Verdicts {
			if v != "tp" {
				bad = append(bad, v+":"+rule)
			}
		}
		status := "agree"
		if len(bad) > 0 {
			status = strings.Join(bad, " ")
		}
		if r.Error != "" {
			status = "ERROR " + r.Error
		}
		fmt.Fprintf(os.Stderr, "[%d/%d %s] %s: %s (%.0fs)\n", i, len(sel)**reps,
			time.Since(began).Round(time.Second), r.ID, status, r.Seconds)
	})
	if res == nil {
		fmt.Fprintln(os.Stderr, "runner:", err)
		return 1
	}
	return finish(res, *out, *docs, time.Since(began).Round(time.Second).String(), err)
}

// finish writes results.json, prints the scores, and writes the page.
func finish(res *clients.Results, out, docs, took string, runErr error) int {
	b, _ := json.MarshalIndent(res, "", "  ")
	if werr := os.WriteFile(filepath.Join(out, "results.json"), b, 0o644); werr != nil {
		fmt.Fprintln(os.Stderr, "runner:", werr)
	}
	fmt.Fprintf(os.Stderr, "\n%-26s %4s %4s %4s %9s %6s\n", "rule", "TP", "FP", "FN", "precision", "recall")
	for _, s := range clients.Scores(res.Cells) {
		if s.TP+s.FP+s.FN == 0 {
			continue
		}
		fmt.Fprintf(os.Stderr, "%-26s %4d %4d %4d %9s %6s\n", s.Rule, s.TP, s.FP, s.FN, pct(s.Precision), pct(s.Recall))
	}
	fmt.Fprintf(os.Stderr, "%d cells in %s (commit %s)\n", len(res.Cells), took, res.Commit)
	if docs != "" && runErr == nil {
		if werr := os.WriteFile(docs, []byte(clients.Markdown(res, took)), 0o644); werr != nil {
			fmt.Fprintln(os.Stderr, "runner:", werr)
			return 1
		}
		fmt.Fprintln(os.Stderr, "wrote", docs)
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "runner:", runErr)
		return 1
	}
	return 0
}

func pct(f float64) string {
	if f < 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", f)
}
