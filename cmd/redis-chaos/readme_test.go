package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The documents whose commands TestDocsCommands checks.
var docFiles = []string{"../../README.md", "../../docs/*.md"}

// foreignFlags are flags the documents name that belong to other tools, each
// with the file of this repository that shows the tool takes it.
var foreignFlags = map[string]string{
	"--with-benchmark": "../../scripts/install-redis.sh",
	"--dry-run":        "../../scripts/install-redis.sh",
	"--no-timeouts":    "../../test/app/main.go", // the example app
	"--max-retries":    "../../test/app/main.go",
}

// codeSpan is an inline code span of Markdown.
var codeSpan = regexp.MustCompile("`([^`\n]+)`")

// helpFlag is a flag in the help output of a command: "  -o, --output string".
var helpFlag = regexp.MustCompile(`(?m)^\s+(?:-(\w), )?--([\w-]+)`)

// TestDocsCommands: every redis-chaos command the README and docs/ show
// exists, and every flag they give it is one its --help lists; every flag
// named on its own is one some command takes.
func TestDocsCommands(t *testing.T) {
	helps := map[string]map[string]bool{} // command path → its flags ("--x", "-x")
	flagsOf := func(t *testing.T, path []string) (map[string]bool, bool) {
		key := strings.Join(path, " ")
		if f, ok := helps[key]; ok {
			return f, f != nil
		}
		out, err := runCLI(t, append(slices.Clone(path), "--help")...)
		if err != nil || !strings.Contains(out, "Usage:") {
			helps[key] = nil
			return nil, false
		}
		flags := map[string]bool{"--help": true, "-h": true}
		for _, m := range helpFlag.FindAllStringSubmatch(out, -1) {
			flags["--"+m[2]] = true
			if m[1] != "" {
				flags["-"+m[1]] = true
			}
		}
		helps[key] = flags
		return flags, true
	}
	root := newRootCmd()
	var files []string
	for _, g := range docFiles {
		m, err := filepath.Glob(g)
		if err != nil || len(m) == 0 {
			t.Fatalf("%s: %v", g, err)
		}
		files = append(files, m...)
	}
	checked := 0
	var bareFlags []string
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(file)
		for _, c := range docCommands(string(b)) {
			where := name + ":" + itoa(c.line)
			if c.args == nil { // a bare flag
				bareFlags = append(bareFlags, where+" "+c.flag)
				continue
			}
			// The command path: the leading words that are subcommands.
			cmd, rest, err := root.Find(c.args)
			if err != nil || cmd == root || cmd.HasSubCommands() && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
				t.Errorf("%s: %q: no such command", where, c.text)
				continue
			}
			path := strings.Fields(cmd.CommandPath())[1:]
			flags, ok := flagsOf(t, path)
			if !ok {
				t.Errorf("%s: %q: redis-chaos %s --help fails", where, c.text, strings.Join(path, " "))
				continue
			}
			checked++
			for _, a := range rest {
				if a == "--" {
					break // the rest is run's command
				}
				if !strings.HasPrefix(a, "-") || a == "-" || a[1] >= '0' && a[1] <= '9' {
					continue
				}
				f, _, _ := strings.Cut(a, "=")
				if !flags[f] {
					t.Errorf("%s: %q: redis-chaos %s has no flag %s", where, c.text, strings.Join(path, " "), f)
				}
			}
		}
	}
	// A flag named on its own (in prose) is one some command takes.
	all := map[string]bool{}
	var walk func(path []string)
	walk = func(path []string) {
		cmd, _, err := root.Find(path)
		if err != nil {
			return
		}
		if f, ok := flagsOf(t, path); ok {
			for k := range f {
				all[k] = true
			}
		}
		for _, sub := range cmd.Commands() {
			walk(append(slices.Clone(path), sub.Name()))
		}
	}
	walk(nil)
	for _, bf := range bareFlags {
		where, flag, _ := strings.Cut(bf, " ")
		if all[flag] {
			continue
		}
		if src, ok := foreignFlags[flag]; ok {
			if b, err := os.ReadFile(src); err == nil && strings.Contains(string(b), flag) {
				continue
			}
		}
		t.Errorf("%s: %s is no flag of any redis-chaos command", where, flag)
	}
	t.Logf("%d commands checked", checked)
	if checked < 40 {
		t.Errorf("only %d commands checked: the documents' commands were not found", checked)
	}
}

// docCommand is a redis-chaos command line of a document (args after the
// binary's name), or a flag named on its own (args nil).
type docCommand struct {
	line int
	text string
	args []string
	flag string
}

// commandStart finds the binary at the start of a shell command: after a
// line's start, a prompt, environment assignments, &&, ||, ; or |.
var commandStart = regexp.MustCompile(`(?:^|&&|\|\||;|\||\$\(|^\$ )\s*(?:[A-Z_]+=\S*\s+)*(?:\./)?(?:bin/)?(redis-chaos|bash scripts/up\.sh)(?:\s+|$)`)

// docCommands finds the redis-chaos commands of a Markdown document: in
// fenced code blocks (shell lines, with \ continuations) and in inline code
// spans, and the flags named alone in inline code spans.
func docCommands(doc string) []docCommand {
	var out []docCommand
	lines := strings.Split(doc, "\n")
	inBlock, lang := false, ""
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inBlock = !inBlock
			lang = strings.TrimPrefix(strings.TrimSpace(l), "```")
			continue
		}
		if inBlock {
			if lang == "yaml" || lang == "json" || lang == "" && !commandStart.MatchString(l) {
				if lang != "yaml" { // a YAML run: step holds a command too (GitHub Actions)
					continue
				}
			}
			start := i
			for strings.HasSuffix(strings.TrimRight(l, " "), "\\") && i+1 < len(lines) {
				i++
				l = strings.TrimSuffix(strings.TrimRight(l, " "), "\\") + " " + strings.TrimSpace(lines[i])
			}
			if lang == "yaml" {
				// run: >- folded lines: join the following more-indented lines.
				if strings.Contains(l, "run: >-") {
					for i+1 < len(lines) && strings.HasPrefix(lines[i+1], strings.Repeat(" ", 10)) {
						i++
						l += " " + strings.TrimSpace(lines[i])
					}
				}
				l = strings.TrimPrefix(strings.TrimSpace(l), "- ")
				l = strings.TrimPrefix(l, "run: >-")
				l = strings.TrimPrefix(l, "run: ")
			}
			code, _, _ := strings.Cut(l, " #") // a comment
			out = append(out, commandsIn(start+1, code)...)
			continue
		}
		for _, m := range codeSpan.FindAllStringSubmatch(l, -1) {
			span := strings.TrimSpace(m[1])
			if strings.HasPrefix(span, "--") && !strings.Contains(span, " --") {
				f, _, _ := strings.Cut(strings.Fields(span)[0], "=")
				if len(f) > 2 {
					out = append(out, docCommand{line: i + 1, text: span, flag: f})
				}
				continue
			}
			out = append(out, commandsIn(i+1, span)...)
		}
	}
	return out
}

// commandsIn returns the redis-chaos commands of one shell line.
func commandsIn(line int, code string) []docCommand {
	var out []docCommand
	for _, loc := range commandStart.FindAllStringSubmatchIndex(code, -1) {
		rest := code[loc[1]:]
		for _, sep := range []string{" && ", " || ", "; ", " | ", " > ", " 2>", ")"} {
			if j := strings.Index(rest, sep); j >= 0 {
				rest = rest[:j]
			}
		}
		var args []string
		if code[loc[2]:loc[3]] == "bash scripts/up.sh" {
			args = []string{"up"} // up.sh passes its arguments to redis-chaos up
		}
		for _, w := range strings.Fields(rest) {
			if strings.ContainsAny(w, "…<>[]|{}") || strings.HasPrefix(w, "$") || w == "..." {
				break // a placeholder or a list of alternatives: what follows is not literal
			}
			args = append(args, strings.Trim(w, `"'`))
		}
		if len(args) == 0 {
			continue
		}
		out = append(out, docCommand{line: line, text: strings.TrimSpace(code[loc[0]:]), args: args})
	}
	return out
}

// mdLink is a Markdown link's target.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// repoPath is a path of this repository named in a document.
var repoPath = regexp.MustCompile("(?:^|[\\s`(])((?:scripts|configs|docs|test|cmd|chaos|proxy|provision|\\.ci)/[\\w./-]*[\\w/])")

// makeTarget is a make command in a document.
var makeTarget = regexp.MustCompile("(?m)(?:^|`)make ([a-z][\\w-]*)")

// TestDocsLinks: the links of the README and docs/ lead somewhere (files,
// and headings for #anchors), the paths they name exist, and the make
// targets they name are the Makefile's.
func TestDocsLinks(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, g := range docFiles {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		doc, dir, name := string(b), filepath.Dir(file), filepath.Base(file)
		for _, m := range mdLink.FindAllStringSubmatch(doc, -1) {
			target := m[1]
			if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			linked := file
			if path != "" {
				linked = filepath.Join(dir, path)
				if _, err := os.Stat(linked); err != nil {
					t.Errorf("%s: link %s: %v", name, target, err)
					continue
				}
			}
			if anchor != "" {
				lb, err := os.ReadFile(linked)
				if err != nil || !slices.Contains(anchors(string(lb)), anchor) {
					t.Errorf("%s: link %s: no heading #%s in %s", name, target, anchor, filepath.Base(linked))
				}
			}
		}
		for _, m := range repoPath.FindAllStringSubmatch(doc, -1) {
			p := strings.TrimSuffix(m[1], ".")
			if i := strings.LastIndex(p, "."); i > 0 && i+1 < len(p) && p[i+1] >= 'A' && p[i+1] <= 'Z' {
				p = p[:i] // a package's identifier: chaos/api.Client
			}
			if strings.ContainsAny(p, "*{") || strings.Contains(p, "...") {
				continue
			}
			if _, err := os.Stat(filepath.Join("../..", p)); err != nil {
				t.Errorf("%s: names %s, which does not exist", name, p)
			}
		}
		for _, m := range makeTarget.FindAllStringSubmatch(doc, -1) {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `:`).Match(mk) {
				t.Errorf("%s: make %s: no such target in the Makefile", name, m[1])
			}
		}
	}
}

// anchors are the ids GitHub gives a document's headings.
func anchors(doc string) []string {
	var out []string
	inBlock := false
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inBlock = !inBlock
		}
		if inBlock || !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(l, "#")))
		var b strings.Builder
		for _, r := range h {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			case r > 127 && r != '×' && r != '·' && r != '—':
				b.WriteRune(r)
			}
		}
		out = append(out, b.String())
	}
	return out
}
