package lint

import (
	"bytes"
	"path"
	"regexp"
	"strconv"
	"strings"
)

var (
	goRedisImportRE = mustRE(`(?m)^\s*(?:import\s+)?(\w+\s+)?"(github\.com/(?:redis/go-redis|go-redis/redis)(?:/v\d+)?)"`)
	goOptionsLitRE  = mustRE(`\b(?:Cluster|Universal)Options\s*\{`)
	goReadOnlyRE    = mustRE(`\bReadOnly\s*:\s*true\b`)
	goRouteRE       = mustRE(`\bRoute(?:ByLatency|Randomly)\s*:\s*true\b`)
	goReadTimeoutRE = mustRE(`\bReadTimeout\s*(?::|=)\s*-\s*[12]\b`)
	goRedirectsRE   = mustRE(`\bMaxRedirects\s*(?::|=)\s*(-?\s*\d+)\b`)
	goFuncRE        = mustRE(`(?m)^func\b`)
)

// goConstruction is a go-redis cluster client construction.
type goConstruction struct {
	call
	kind string // ClusterClient, UniversalClient, FailoverClusterClient
}

// goFacadeRE finds a package that re-exports go-redis's constructors
// (var NewClusterClient = redis.NewClusterClient), so that its importers
// build go-redis clients through it.
var goFacadeRE = mustRE(`\bNew(?:Cluster|Universal|FailoverCluster)Client\s*=\s*\w+\.New(?:Cluster|Universal|FailoverCluster)Client\b`)

// goImportRE matches an import of one of the paths, with its alias if any.
func goImportRE(paths []string) *regexp.Regexp {
	var q []string
	for _, p := range paths {
		q = append(q, regexp.QuoteMeta(p))
	}
	return mustRE(`(?m)^\s*(?:import\s+)?(\w+\s+)?"(` + strings.Join(q, "|") + `)"`)
}

// checkGo applies the go-redis rules.
func (s *scan) checkGo() {
	files := s.filesOf(kindGo)
	var facades []string
	for _, f := range files {
		if bytes.Contains(f.src.code, []byte("Client =")) && goRedisImportRE.Match(f.src.code) && goFacadeRE.Match(f.src.code) {
			if mod := f.mod.name; strings.Contains(mod, ".") || strings.Contains(mod, "/") {
				rel := strings.TrimPrefix(strings.TrimPrefix(parentDir(f.rel), f.mod.dir), "/")
				facades = append(facades, strings.TrimSuffix(mod+"/"+rel, "/"))
			}
		}
	}
	importRE := goRedisImportRE
	if len(facades) > 0 {
		importRE = goImportRE(append([]string{"github.com/redis/go-redis", "github.com/redis/go-redis/v9", "github.com/redis/go-redis/v10",
			"github.com/go-redis/redis", "github.com/go-redis/redis/v7", "github.com/go-redis/redis/v8", "github.com/go-redis/redis/v9"}, facades...))
	}
	for _, f := range files {
		if !bytes.Contains(f.src.code, []byte("redis")) && len(facades) == 0 {
			continue
		}
		g := importRE.FindSubmatch(f.src.code)
		if g == nil {
			continue
		}
		alias := strings.TrimSpace(string(g[1]))
		if alias == "" {
			alias = path.Base(strings.TrimSuffix(string(g[2]), "/v9"))
			if strings.HasPrefix(alias, "v") || alias == "go-redis" {
				alias = "redis"
			}
		}
		for _, m := range f.src.find(goReadTimeoutRE) {
			s.add("goredis-read-timeout-disabled", f, f.src.lineAt(m[0]), "", "")
		}
		for _, m := range f.src.find(goRedirectsRE) {
			if strings.ReplaceAll(string(f.src.code[m[2]:m[3]]), " ", "") == "-1" {
				s.add("goredis-redirects-disabled", f, f.src.lineAt(m[0]), "", "")
			}
		}
		for _, c := range f.src.calls(goOptionsLitRE) {
			if loc := goReadOnlyRE.FindStringIndex(c.body); loc != nil && !goRouteRE.MatchString(c.body) {
				s.add("goredis-readonly-no-fallback", f, f.src.lineAt(c.open+1+loc[0]), "", "")
			}
		}
		ctor := mustRE(`\b(` + regexp.QuoteMeta(alias) + `\.New(?:Cluster|Universal|FailoverCluster)Client)\s*\(`)
		for _, c := range f.src.calls(ctor) {
			kind := strings.TrimSpace(string(f.src.code[c.start:c.open]))
			kind = strings.TrimSuffix(kind[strings.Index(kind, ".New")+4:], "Client")
			s.goRetry(f, goConstruction{c, kind})
			s.perCall(f, c)
		}
	}
}

// goRetry reports a cluster client whose package (or, when the client leaves
// the function that builds it, whose module) sends non-idempotent commands.
func (s *scan) goRetry(f *file, c goConstruction) {
	fnStart, fnEnd := s.goFunc(f, c.start)
	fn := string(f.src.code[fnStart:fnEnd])
	redirects := ""
	if g := goRedirectsRE.FindStringSubmatch(c.body); g != nil {
		redirects = strings.ReplaceAll(g[1], " ", "")
	} else if g := goRedirectsRE.FindStringSubmatch(fn); g != nil {
		redirects = strings.ReplaceAll(g[1], " ", "")
	}
	if redirects == "-1" {
		return // no retries, and goredis-redirects-disabled says what that costs
	}
	times := "3 times (MaxRedirects' default)"
	if n, err := strconv.Atoi(redirects); err == nil && n > 0 {
		times = strconv.Itoa(n) + " time(s) (MaxRedirects " + redirects + ")"
	}
	scope := s.sameDir(f, kindGo)
	cmds := commandsSent(scope)
	if len(cmds) == 0 && s.goEscapes(f, c, fn) {
		cmds = commandsSent(s.relatedFiles(f.mod, kindGo))
	}
	if len(cmds) == 0 {
		return
	}
	what := "ClusterClient"
	if c.kind == "Universal" {
		what = "UniversalClient (a ClusterClient for several addresses; a Client retries MaxRetries times)"
	}
	s.add("goredis-retry-non-idempotent", f, c.line(f.src), what+" re-sends up to "+times+"; the code sends "+commandList(cmds)+" ("+firstUse(cmds)+")", "")
}

// goFunc returns the span of the top-level function around off.
func (s *scan) goFunc(f *file, off int) (int, int) {
	start := 0
	for _, m := range goFuncRE.FindAllIndex(f.src.code, -1) {
		if m[0] > off {
			break
		}
		start = m[0]
	}
	end := len(f.src.code)
	if m := goFuncRE.FindIndex(f.src.code[off:]); m != nil {
		end = off + m[0]
	}
	return start, end
}

// goEscapes reports whether the client leaves the function that builds it:
// returned, or stored in a package-level or exported variable.
func (s *scan) goEscapes(f *file, c goConstruction, fn string) bool {
	before := string(f.src.code[max(0, c.start-200):c.start])
	if regexp.MustCompile(`\breturn\s*$`).MatchString(before) {
		return true
	}
	g := regexp.MustCompile(`([\w.]+)\s*(?::=|=)\s*$`).FindStringSubmatch(before)
	if g == nil {
		return false
	}
	v := g[1]
	if strings.Contains(v, ".") || v != "" && v[0] >= 'A' && v[0] <= 'Z' {
		return true // a field of a package variable, or an exported variable
	}
	return regexp.MustCompile(`\breturn\s+`+regexp.QuoteMeta(v)+`\s*(?:,|$|\n)`).MatchString(fn) ||
		regexp.MustCompile(`\b[\w.]*[A-Z]\w*\s*=\s*`+regexp.QuoteMeta(v)+`\b`).MatchString(fn)
}

// sameDir is the loaded files of a kind in a file's directory.
func (s *scan) sameDir(f *file, k kind) []*file {
	dir := parentDir(f.rel)
	var out []*file
	for _, g := range s.files {
		if g.kind&k != 0 && parentDir(g.rel) == dir {
			out = append(out, g)
		}
	}
	return out
}
