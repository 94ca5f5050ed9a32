package lint

import (
	"bytes"
	"errors"
	"fmt"
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
	Test     bool     `json:"testSource,omitempty"`
}

// Client is a Redis client a build file declares, with the version the build
// resolves to (Version) or, when it only gives a range, the range.
type Client struct {
	Name      string `json:"name"`
	Version   string `json:"version,omitempty"`
	Range     string `json:"range,omitempty"`
	Via       string `json:"via,omitempty"` // where a managed version comes from
	BuildFile string `json:"buildFile"`
}

// Result is the outcome of one Run.
type Result struct {
	Clients  []Client  `json:"clients"`
	Findings []Finding `json:"findings"`
	// Files is the number of source and configuration files scanned.
	Files int `json:"filesScanned"`
	// Skipped counts test, mock, example and documentation sources left out.
	Skipped int `json:"nonProductionSkipped"`
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
	// IncludeTests lints test, mock, example and documentation sources too,
	// reporting their findings at low severity. If false they are skipped.
	IncludeTests bool
}

// ErrNoPath is returned when a path given explicitly does not exist.
var ErrNoPath = errors.New("lint: path not found")

// EmptyScanError is returned, with the Result, when a directory whose build
// files declare a Redis client yielded no file to scan: an ignore rule, a
// filter or a wrong path hid the code, and "no findings" would be a lie.
type EmptyScanError struct {
	Root    string
	Clients []string
	Skipped int
}

func (e *EmptyScanError) Error() string {
	msg := fmt.Sprintf("lint: 0 files scanned in %s although its build declares %s", e.Root, strings.Join(e.Clients, ", "))
	if e.Skipped > 0 {
		msg += fmt.Sprintf(" (%d test/example sources skipped: --include-tests lints them)", e.Skipped)
	} else {
		msg += " (check the .gitignore files and the path)"
	}
	return msg
}

var generatedRE = regexp.MustCompile(`(?m)^\s*(//|#|/\*|\*|<!--)?\s*Code generated .* DO NOT EDIT\.`)

func mustRE(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// scan is one Run's state: the files of every root, the modules their build
// files make up, and the facts the rules read.
type scan struct {
	cfg     Config
	res     *Result
	root    string // the root being scanned, as given
	modules map[string]*module
	byName  map[string]*module
	usedBy  map[*module][]*module
	locks   map[string]map[string]string

	buildSrc      []*module
	sortedModules []*module
	relatedCache  map[*module][]*module
	scopeModules  map[*module][]*module

	files      []*file // sources and configuration files to scan
	jvm        []*jvmFile
	confCache  map[*file][]confKey
	scopeCache map[*module][]confRef
	seen       map[string]bool
	report     map[string]bool // rule|file|line already reported
}

// file is one source or configuration file under inspection.
type file struct {
	rel  string // relative to the scan root
	disp string // as shown in findings
	kind kind
	test bool
	src  *source
	mod  *module
	cmds map[string]string // non-idempotent commands it sends, once computed
}

// Run walks the paths, reads the build files, and applies the rules.
func Run(cfg Config) (*Result, error) {
	paths := cfg.Paths
	if len(paths) == 0 {
		paths = []string{"."}
	}
	if cfg.MaxFileSize == 0 {
		cfg.MaxFileSize = 1 << 20
	}
	res := &Result{Findings: []Finding{}, Clients: []Client{}}
	seen := map[string]bool{}
	var empty *EmptyScanError
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrNoPath, p)
		}
		s := &scan{cfg: cfg, res: res, root: p, seen: seen, report: map[string]bool{},
			modules: map[string]*module{}, byName: map[string]*module{}, usedBy: map[*module][]*module{},
			locks: map[string]map[string]string{}, relatedCache: map[*module][]*module{}, scopeModules: map[*module][]*module{},
			confCache: map[*file][]confKey{}, scopeCache: map[*module][]confRef{}}
		var rels []string
		if fi.IsDir() {
			rels, err = walkTree(p)
			if err != nil {
				return nil, fmt.Errorf("lint: walk %s: %w", p, err)
			}
		} else {
			s.root = filepath.Dir(p)
			rels = []string{filepath.ToSlash(filepath.Base(p))}
		}
		before, skippedBefore := res.Files, res.Skipped
		s.load(rels)
		s.check()
		if fi.IsDir() && res.Files == before {
			if names := s.clientNames(); len(names) > 0 && empty == nil {
				empty = &EmptyScanError{Root: p, Clients: names, Skipped: res.Skipped - skippedBefore}
			}
		}
	}
	sort.Slice(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.RuleID < b.RuleID
	})
	if empty != nil {
		return res, empty
	}
	return res, nil
}

// load reads the build files into modules and queues the sources.
func (s *scan) load(rels []string) {
	sort.Strings(rels)
	var builds []string
	for _, rel := range rels {
		if buildKind(rel) {
			builds = append(builds, rel)
		}
	}
	for _, rel := range builds {
		if nonProduction(rel) && !s.cfg.IncludeTests {
			continue
		}
		data, ok := s.read(rel)
		if !ok {
			continue
		}
		dir, base := parentDir(rel), path.Base(rel)
		if isLock(base) {
			if s.locks[dir] == nil {
				s.locks[dir] = map[string]string{}
			}
			for k, v := range lockVersions(base, data) {
				s.locks[dir][k] = v
			}
			continue
		}
		if strings.HasPrefix(rel, "buildSrc/") || strings.Contains(rel, "/buildSrc/") {
			b := newModule(dir)
			b.read(rel, data)
			s.buildSrc = append(s.buildSrc, b)
			continue
		}
		if base == "libs.versions.toml" || base == "gradle.properties" || strings.HasSuffix(base, ".gradle") && !strings.HasPrefix(base, "build.") && !strings.HasPrefix(base, "settings.") {
			if path.Base(dir) == "gradle" { // shared Gradle files belong to the project above gradle/
				dir = parentDir(dir)
			}
		}
		m := s.modules[dir]
		if m == nil {
			m = newModule(dir)
			s.modules[dir] = m
		}
		m.read(rel, data)
	}
	for _, m := range s.modules {
		if m.name == "" {
			m.name = path.Base(m.dir)
		}
		if m.name != "" && m.name != "." {
			if _, dup := s.byName[m.name]; !dup {
				s.byName[m.name] = m
			}
		}
	}
	for _, m := range s.allModules() {
		for _, u := range m.uses {
			for _, t := range s.lookupUse(m, u) {
				s.usedBy[t] = append(s.usedBy[t], m)
			}
		}
		if p := s.byName[m.parent]; p != nil {
			s.usedBy[p] = append(s.usedBy[p], m)
		}
	}
	s.listClients()
	for _, rel := range rels {
		k := kindOf(path.Base(rel))
		if k == kindNone {
			continue
		}
		abs := filepath.Join(s.root, filepath.FromSlash(rel))
		if key, err := filepath.Abs(abs); err == nil {
			if s.seen[key] {
				continue // reached through two overlapping paths: scan it once
			}
			s.seen[key] = true
		}
		test := nonProduction(rel)
		if test && !s.cfg.IncludeTests {
			s.res.Skipped++
			continue
		}
		data, ok := s.read(rel)
		if !ok || bytes.IndexByte(data, 0) >= 0 {
			continue
		}
		head := data[:min(len(data), 2048)]
		if bytes.Contains(head, []byte("DO NOT EDIT")) && generatedRE.Match(head) {
			continue
		}
		s.res.Files++
		f := &file{rel: rel, disp: filepath.ToSlash(abs), kind: k, test: test, mod: s.moduleOf(rel)}
		f.src = newSource(data, syntaxOf(rel))
		s.files = append(s.files, f)
	}
}

func (s *scan) read(rel string) ([]byte, bool) {
	fp := filepath.Join(s.root, filepath.FromSlash(rel))
	fi, err := os.Stat(fp)
	if err != nil || fi.Size() > s.cfg.MaxFileSize {
		return nil, false
	}
	data, err := os.ReadFile(fp)
	return data, err == nil
}

// listClients adds the clients the build files declare to the Result, with
// the version each module resolves.
func (s *scan) listClients() {
	for _, m := range s.allModules() {
		for _, d := range m.decls {
			if d.client == actuator || d.indir {
				continue
			}
			v := s.version(m, d.client)
			c := Client{Name: d.client, Version: v.exact, Range: v.rng, Via: v.via, BuildFile: filepath.ToSlash(filepath.Join(s.root, filepath.FromSlash(d.file)))}
			s.res.Clients = append(s.res.Clients, c)
		}
	}
}

// clientNames are the distinct clients declared in this root.
func (s *scan) clientNames() []string {
	set := map[string]bool{}
	for _, m := range s.modules {
		for _, d := range m.decls {
			if d.client != actuator && !d.indir {
				set[d.client] = true
			}
		}
	}
	var out []string
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// add records a finding once per rule, file and line.
func (s *scan) add(ruleID string, f *file, line int, detail, fix string) {
	r := ruleByID[ruleID]
	key := ruleID + "|" + f.disp + "|" + fmt.Sprint(line)
	if s.report[key] {
		return
	}
	s.report[key] = true
	sev := r.Severity
	if f.test {
		sev = Low
	}
	msg := r.Short
	if detail != "" {
		msg += " (" + detail + ")"
	}
	msg += ": " + r.Explanation
	if fix == "" {
		fix = r.Fix
	}
	s.res.Findings = append(s.res.Findings, Finding{
		RuleID: r.ID, Severity: sev, Level: sev.String(), File: f.disp, Line: line,
		Message: msg, Fix: fix, Checker: r.Checker, Test: f.test,
	})
}

// check runs every rule family over the loaded files.
func (s *scan) check() {
	s.checkJVM()
	s.checkSpring()
	s.checkGo()
	s.checkJS()
	s.checkPython()
}

// filesOf returns the loaded files of some kinds.
func (s *scan) filesOf(k kind) []*file {
	var out []*file
	for _, f := range s.files {
		if f.kind&k != 0 {
			out = append(out, f)
		}
	}
	return out
}
