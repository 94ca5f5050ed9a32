package lint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Severity orders findings; --fail-on compares against it.
type Severity int

// Severities, lowest first.
const (
	Low Severity = iota + 1
	Medium
	High
)

func (s Severity) String() string {
	switch s {
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return "none"
}

// ParseSeverity reads "low", "medium", "high" or "none" (0: never fail).
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(s) {
	case "low":
		return Low, nil
	case "medium":
		return Medium, nil
	case "high":
		return High, nil
	case "none", "never", "":
		return 0, nil
	}
	return 0, fmt.Errorf("lint: unknown severity %q (low, medium, high, none)", s)
}

// Finding is one rule hit at one line.
type Finding struct {
	RuleID   string   `json:"rule"`
	Severity Severity `json:"-"`
	Level    string   `json:"severity"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix"`
	Checker  string   `json:"checkerRule,omitempty"`
}

// Client is a Redis client found in a build file.
type Client struct {
	Name      string `json:"name"`
	Version   string `json:"version,omitempty"`
	BuildFile string `json:"buildFile"`
}

// Result is the outcome of one Run.
type Result struct {
	Clients  []Client  `json:"clients"`
	Findings []Finding `json:"findings"`
	Files    int       `json:"filesScanned"`
}

// Max is the highest severity among the findings, 0 when there are none.
func (r *Result) Max() Severity {
	var m Severity
	for _, f := range r.Findings {
		m = max(m, f.Severity)
	}
	return m
}

// Config says what to lint.
type Config struct {
	// Paths are files or directories; if empty, "." is used.
	Paths []string
	// MaxFileSize skips larger files; if zero, 1 MiB is used.
	MaxFileSize int64
}

// ErrNoPath is returned when a path given explicitly does not exist.
var ErrNoPath = errors.New("lint: path not found")

// skipDirs are never entered unless given explicitly.
var skipDirs = map[string]bool{"vendor": true, "node_modules": true, ".git": true, "testdata": true}

var generatedRE = regexp.MustCompile(`(?m)^\s*(//|#|/\*|\*|<!--)?\s*Code generated .* DO NOT EDIT\.`)

// Run walks the paths, detects clients and applies the rules.
func Run(cfg Config) (*Result, error) {
	paths := cfg.Paths
	if len(paths) == 0 {
		paths = []string{"."}
	}
	maxSize := cfg.MaxFileSize
	if maxSize == 0 {
		maxSize = 1 << 20
	}
	s := &scan{res: &Result{Findings: []Finding{}, Clients: []Client{}}, projects: map[string][]Client{}, maxSize: maxSize}
	var sources []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrNoPath, p)
		}
		if !fi.IsDir() {
			s.classify(p, &sources)
			continue
		}
		ign := ignores{"": readGitignore(filepath.Join(p, ".gitignore"))}
		err = filepath.WalkDir(p, func(fp string, d fs.DirEntry, err error) error {
			if err != nil {
				if fp == p {
					return err
				}
				return nil // unreadable entry: skip it, keep walking
			}
			rel, _ := filepath.Rel(p, fp)
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				if fp == p {
					return nil
				}
				if skipDirs[d.Name()] || ign.match(rel, true) {
					return filepath.SkipDir
				}
				if g := readGitignore(filepath.Join(fp, ".gitignore")); g != nil {
					ign[rel] = g
				}
				return nil
			}
			if !d.Type().IsRegular() || ign.match(rel, false) {
				return nil
			}
			s.classify(fp, &sources)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("lint: walk %s: %w", p, err)
		}
	}
	for _, fp := range sources {
		s.lintFile(fp)
	}
	sort.Slice(s.res.Findings, func(i, j int) bool {
		a, b := s.res.Findings[i], s.res.Findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.RuleID < b.RuleID
	})
	return s.res, nil
}

type scan struct {
	res      *Result
	projects map[string][]Client // directory → clients from its build files
	maxSize  int64
}

// classify detects clients in build files at once and queues source files.
func (s *scan) classify(fp string, sources *[]string) {
	base := filepath.Base(fp)
	if detectFunc(base) != nil {
		data, ok := s.read(fp)
		if ok {
			cs := detectFunc(base)(data)
			for i := range cs {
				cs[i].BuildFile = filepath.ToSlash(fp)
			}
			dir := filepath.Dir(fp)
			s.projects[dir] = append(s.projects[dir], cs...)
			s.res.Clients = append(s.res.Clients, cs...)
		}
	}
	if kindOf(base) != kindNone {
		*sources = append(*sources, fp)
	}
}

func (s *scan) read(fp string) ([]byte, bool) {
	fi, err := os.Stat(fp)
	if err != nil || fi.Size() > s.maxSize {
		return nil, false
	}
	data, err := os.ReadFile(fp)
	if err != nil {
		return nil, false
	}
	return data, true
}

// version returns the version of a client declared by the nearest enclosing
// build file, or "" when none declares it.
func (s *scan) version(fp, client string) string {
	for dir := filepath.Dir(fp); ; {
		for _, c := range s.projects[dir] {
			if c.Name == client && c.Version != "" {
				return c.Version
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func (s *scan) lintFile(fp string) {
	data, ok := s.read(fp)
	if !ok || bytes.IndexByte(data, 0) >= 0 {
		return
	}
	head := data[:min(len(data), 2048)]
	if bytes.Contains(head, []byte("DO NOT EDIT")) && generatedRE.Match(head) {
		return
	}
	s.res.Files++
	f := &file{path: filepath.ToSlash(fp), kind: kindOf(filepath.Base(fp)), data: data, scan: s}
	for _, r := range rules {
		if r.kinds&f.kind == 0 {
			continue
		}
		for _, h := range r.check(f) {
			s.res.Findings = append(s.res.Findings, Finding{
				RuleID: r.ID, Severity: r.Severity, Level: r.Severity.String(),
				File: f.path, Line: h.line, Message: h.msg(r), Fix: r.Fix, Checker: r.Checker,
			})
		}
	}
}

// gitignore is the simple subset: glob lines, "/" anchors, trailing "/" for
// directories; negations and "**" beyond a leading "**/" are ignored.
type gitignore []ignorePattern

type ignorePattern struct {
	glob     string
	anchored bool
	dirOnly  bool
}

func readGitignore(fp string) gitignore {
	f, err := os.Open(fp)
	if err != nil {
		return nil
	}
	defer f.Close()
	var g gitignore
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "!") {
			continue
		}
		var p ignorePattern
		if strings.HasSuffix(l, "/") {
			p.dirOnly = true
			l = strings.TrimSuffix(l, "/")
		}
		l = strings.TrimPrefix(l, "**/")
		if strings.Contains(l, "/") {
			p.anchored = true
			l = strings.TrimPrefix(l, "/")
		}
		p.glob = l
		g = append(g, p)
	}
	return g
}

// ignores are the .gitignore files met in a walk, by directory (relative to
// the walk's root, "" for the root).
type ignores map[string]gitignore

// match reports whether a .gitignore of rel's directory or of any directory
// above it (up to the walk's root) ignores rel, each with rel's path from
// that directory.
func (ig ignores) match(rel string, isDir bool) bool {
	dir := rel
	for dir != "" {
		dir = path.Dir(dir)
		if dir == "." {
			dir = ""
		}
		if g := ig[dir]; g != nil {
			sub := rel
			if dir != "" {
				sub = strings.TrimPrefix(rel, dir+"/")
			}
			if g.match(sub, isDir) {
				return true
			}
		}
	}
	return false
}

func (g gitignore) match(rel string, isDir bool) bool {
	for _, p := range g {
		if p.dirOnly && !isDir {
			continue
		}
		name := path.Base(rel)
		if p.anchored {
			name = rel
		}
		if ok, _ := path.Match(p.glob, name); ok {
			return true
		}
	}
	return false
}
