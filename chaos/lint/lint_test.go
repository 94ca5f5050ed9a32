package lint_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/redis-chaos/redis-chaos/chaos/lint"
)

// fixtures holds one directory per rule, with bad-* and good-* sample
// projects; each has an expect.txt listing "path:line rule" per finding.
const fixtures = "../../test/lint/fixtures"

// TestFixtures lints every sample project and compares the findings with its
// expect.txt, and checks that every rule has a bad and a good sample.
func TestFixtures(t *testing.T) {
	rules, err := os.ReadDir(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string][2]bool{}
	for _, r := range rules {
		cases, err := os.ReadDir(filepath.Join(fixtures, r.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			dir := filepath.Join(fixtures, r.Name(), c.Name())
			t.Run(r.Name()+"/"+c.Name(), func(t *testing.T) {
				want := readExpect(t, dir)
				got := lintDir(t, dir, lint.Config{})
				if !slices.Equal(got, want) {
					t.Errorf("findings\n got  %q\n want %q", got, want)
				}
				cov := covered[r.Name()]
				switch {
				case strings.HasPrefix(c.Name(), "bad") && slices.ContainsFunc(want, func(w string) bool { return strings.HasSuffix(w, " "+r.Name()) }):
					cov[0] = true
				case strings.HasPrefix(c.Name(), "good") && !slices.ContainsFunc(want, func(w string) bool { return strings.HasSuffix(w, " "+r.Name()) }):
					cov[1] = true
				}
				covered[r.Name()] = cov
			})
		}
	}
	for _, r := range lint.Rules() {
		if c := covered[r.ID]; !c[0] || !c[1] {
			t.Errorf("rule %s: bad sample %v, good sample %v", r.ID, c[0], c[1])
		}
	}
}

func readExpect(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "expect.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// lintDir runs the lint on dir and returns "path:line rule" per finding,
// paths relative to dir; every finding must carry a message, fix and level.
func lintDir(t *testing.T, dir string, cfg lint.Config) []string {
	t.Helper()
	cfg.Paths = []string{dir}
	res, err := lint.Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Findings {
		rel, err := filepath.Rel(dir, filepath.FromSlash(f.File))
		if err != nil {
			t.Fatal(err)
		}
		if f.Message == "" || f.Fix == "" || f.Level == "" {
			t.Errorf("%s:%d %s: empty message, fix or severity", f.File, f.Line, f.RuleID)
		}
		got = append(got, fmt.Sprintf("%s:%d %s", filepath.ToSlash(rel), f.Line, f.RuleID))
	}
	slices.Sort(got)
	return got
}

// writeTree creates files (slash paths) under a new temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const badPy = "from redis.cluster import RedisCluster\nrc = RedisCluster(host='a')\n"

// TestWalk checks .gitignore semantics (negation, nesting, anchoring, "**",
// directories) without git, and that git's own listing agrees inside a work
// tree.
func TestWalk(t *testing.T) {
	files := map[string]string{
		"requirements.txt": "redis==5.0.1\n",
		// the go-zero pattern: ignore everything, then re-include files with an
		// extension and every directory
		".gitignore":                 "*\n!*.*\n!*/\n/build/\n**/gen/**\nlogs/\n",
		"app/main.py":                badPy,
		"app/LICENSE":                badPy, // no extension: ignored by "*"
		"build/a.py":                 badPy, // anchored directory
		"app/build/b.py":             badPy, // "/build/" is anchored to the root: kept
		"app/gen/x/c.py":             badPy, // "**/gen/**"
		"app/logs/d.py":              badPy,
		"sub/.gitignore":             "*.py\n!keep.py\n",
		"sub/drop.py":                badPy,
		"sub/keep.py":                badPy,
		"sub/deeper/drop2.py":        badPy,
		"vendored/node_modules/x.py": badPy,
		"tests/test_cache.py":        badPy, // a test source: skipped by default
	}
	want := []string{"app/build/b.py:2 redispy-socket-timeout-none", "app/main.py:2 redispy-socket-timeout-none", "sub/keep.py:2 redispy-socket-timeout-none"}
	dir := writeTree(t, files)
	if got := lintDir(t, dir, lint.Config{}); !slices.Equal(got, want) {
		t.Errorf("walk without git\n got  %q\n want %q", got, want)
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	gitDir := writeTree(t, files)
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = gitDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if got := lintDir(t, gitDir, lint.Config{}); !slices.Equal(got, want) {
		t.Errorf("walk with git\n got  %q\n want %q", got, want)
	}
}

// TestEmptyScan: a tree whose build declares a client but whose sources are
// all ignored is an error, not a clean result.
func TestEmptyScan(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"go.mod":      "module x\n\nrequire github.com/redis/go-redis/v9 v9.5.1\n",
		".gitignore":  "*\n!go.mod\n",
		"cmd/main.go": "package main\n",
	})
	res, err := lint.Run(lint.Config{Paths: []string{dir}})
	var empty *lint.EmptyScanError
	if !errors.As(err, &empty) || res == nil || res.Files != 0 || !slices.Contains(empty.Clients, "go-redis") {
		t.Fatalf("Run = %+v, %v; want an EmptyScanError naming go-redis", res, err)
	}
	// no client declared: nothing to say
	if _, err := lint.Run(lint.Config{Paths: []string{writeTree(t, map[string]string{".gitignore": "*\n", "a.go": ""})}}); err != nil {
		t.Errorf("empty tree without clients: %v", err)
	}
}

// TestTestSources: test sources are skipped by default and reported at low
// severity with IncludeTests.
func TestTestSources(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"build.gradle": "dependencies { implementation 'redis.clients:jedis:5.1.0' }\n",
		"src/test/java/x/ItTest.java": "package x;\nimport redis.clients.jedis.JedisCluster;\nclass ItTest {\n" +
			"  JedisCluster c = new JedisCluster(nodes);\n  long n() { return c.incr(\"k\"); }\n}\n",
	})
	res, err := lint.Run(lint.Config{Paths: []string{dir}})
	var empty *lint.EmptyScanError
	if !errors.As(err, &empty) || empty.Skipped != 1 || len(res.Findings) != 0 {
		t.Fatalf("default: %v, %+v", err, res)
	}
	res, err = lint.Run(lint.Config{Paths: []string{dir}, IncludeTests: true})
	if err != nil || len(res.Findings) != 1 || res.Findings[0].Severity != lint.Low || !res.Findings[0].Test {
		t.Fatalf("IncludeTests: %v, %+v", err, res.Findings)
	}
}

// TestOverlappingPaths: a file reached through two paths is reported once.
func TestOverlappingPaths(t *testing.T) {
	dir := writeTree(t, map[string]string{"requirements.txt": "redis<8\n", "app/c.py": badPy})
	res, err := lint.Run(lint.Config{Paths: []string{dir, filepath.Join(dir, "app")}})
	if err != nil || len(res.Findings) != 1 {
		t.Fatalf("%v, %+v", err, res.Findings)
	}
}

// TestVersions checks the versions read from build files: properties, parent
// poms, BOMs, Gradle variables, catalogs and map notation, lock files, and
// ranges reported as ranges.
func TestVersions(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"mvn/pom.xml": "<project><artifactId>parent</artifactId><properties><revJedis>4.4.6</revJedis><boot.version>3.2.1</boot.version></properties>" +
			"<dependencyManagement><dependencies><dependency><groupId>org.springframework.boot</groupId><artifactId>spring-boot-dependencies</artifactId>" +
			"<version>${boot.version}</version><type>pom</type><scope>import</scope></dependency></dependencies></dependencyManagement></project>",
		"mvn/app/pom.xml": "<project><parent><artifactId>parent</artifactId></parent><artifactId>app</artifactId><dependencies>" +
			"<dependency><groupId>redis.clients</groupId><artifactId>jedis</artifactId><version>${revJedis}</version></dependency>" +
			"<dependency><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-data-redis</artifactId></dependency>" +
			"<dependency><groupId>io.lettuce</groupId><artifactId>lettuce-core</artifactId><version>${notDefined}</version></dependency>" +
			"</dependencies></project>",
		"gradle/build.gradle":               "ext { revJedis = '3.7.1' }\ndependencies { implementation group: 'redis.clients', name: 'jedis', version: revJedis }\n",
		"catalog/gradle/libs.versions.toml": "[versions]\nlettuce = \"6.3.1.RELEASE\"\n[libraries]\nlettuce = { module = \"io.lettuce:lettuce-core\", version.ref = \"lettuce\" }\n",
		"catalog/build.gradle.kts":          "dependencies { implementation(libs.lettuce) }\n",
		"npm/package.json":                  `{"dependencies": {"ioredis": "^5.3.0"}}`,
		"npm/package-lock.json":             `{"packages": {"node_modules/ioredis": {"version": "5.3.2"}}}`,
		"npmrange/package.json":             `{"dependencies": {"@redis/client": "^1.3.0"}}`,
		"yarn/package.json":                 `{"dependencies": {"ioredis": "^4.27.0"}}`,
		"yarn/yarn.lock":                    "ioredis@^4.27.0:\n  version \"4.28.5\"\n  resolved \"x\"\n",
		"py/requirements.txt":               "redis>=4.2.2,<8 ; python_version >= '3.8'\n",
		"poetry/pyproject.toml":             "[tool.poetry.dependencies]\nredis = {version = \"^5.0.1\", extras = [\"hiredis\"]}\n",
		"poetry/poetry.lock":                "[[package]]\nname = \"redis\"\nversion = \"5.0.8\"\n",
		"go/go.mod":                         "module x\n\nrequire (\n\tgithub.com/go-redis/redis/v8 v8.11.5\n)\n",
	})
	res, err := lint.Run(lint.Config{Paths: []string{dir}})
	var empty *lint.EmptyScanError
	if err != nil && !errors.As(err, &empty) {
		t.Fatal(err)
	}
	var got []string
	for _, c := range res.Clients {
		rel, _ := filepath.Rel(dir, filepath.FromSlash(c.BuildFile))
		v := c.Version
		if c.Via != "" {
			v += " via " + c.Via
		}
		if c.Range != "" {
			v = "range " + c.Range
		}
		got = append(got, filepath.ToSlash(filepath.Dir(rel))+" "+c.Name+" "+v)
	}
	slices.Sort(got)
	want := []string{
		"go go-redis 8.11.5",
		"gradle jedis 3.7.1",
		"mvn/app jedis 4.4.6",
		"mvn/app lettuce 6.3 via Spring Boot 3.2.1", // the unresolved ${notDefined} falls back to the BOM
		"mvn/app spring-data-redis 3.2 via Spring Boot 3.2.1",
		"npm ioredis 5.3.2",
		"npmrange node-redis 4 via @redis/client ^1.3.0",
		"poetry redis-py 5.0.8",
		"py redis-py range >=4.2.2,<8",
		"yarn ioredis 4.28.5",
	}
	if !slices.Equal(got, want) {
		t.Errorf("clients\n got  %q\n want %q", got, want)
	}
}

func TestRuleCatalogue(t *testing.T) {
	checker := map[string]bool{ // ids from the runtime checker's catalogue
		"moved-ignored": true, "stale-slot-map": true, "topology-refresh-storm": true,
		"no-command-timeout": true, "unsafe-retry": true, "health-check-fanout": true,
		"restart-on-single-fault": true, "full-coverage-required": true,
		"unbounded-pipeline": true, "reply-desync-risk": true,
	}
	seen := map[string]bool{}
	for _, r := range lint.Rules() {
		if seen[r.ID] {
			t.Errorf("duplicate rule id %s", r.ID)
		}
		seen[r.ID] = true
		if r.Checker != "" && !checker[r.Checker] {
			t.Errorf("%s: unknown checker rule %q", r.ID, r.Checker)
		}
		if r.Short == "" || r.Explanation == "" || r.Fix == "" || r.Severity == 0 || r.Client == "" {
			t.Errorf("%s: incomplete rule %+v", r.ID, r)
		}
	}
}

// TestSARIF validates the log against the required fields of the SARIF 2.1.0
// schema (sarifLog, run, tool, toolComponent, reportingDescriptor, result,
// message, location) and that every result's ruleId and ruleIndex name a
// rule of the driver.
func TestSARIF(t *testing.T) {
	res, err := lint.Run(lint.Config{Paths: []string{fixtures}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) == 0 {
		t.Fatal("no findings in the fixtures")
	}
	var buf bytes.Buffer
	if err := lint.WriteSARIF(&buf, res); err != nil {
		t.Fatal(err)
	}
	var log map[string]any
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	// required by the schema: sarifLog{version, runs}, run{tool},
	// tool{driver}, toolComponent{name}, reportingDescriptor{id},
	// result{message}, message{text|id}, artifactLocation and region as
	// objects; version must be "2.1.0"
	if log["version"] != "2.1.0" {
		t.Errorf("version %v", log["version"])
	}
	runs, _ := log["runs"].([]any)
	if len(runs) != 1 {
		t.Fatalf("runs: %v", log["runs"])
	}
	run := runs[0].(map[string]any)
	driver, _ := dig(run, "tool", "driver").(map[string]any)
	if driver == nil || driver["name"] == "" || driver["name"] == nil {
		t.Fatalf("tool.driver: %v", run["tool"])
	}
	levels := map[any]bool{"none": true, "note": true, "warning": true, "error": true}
	index := map[string]int{}
	for i, r := range driver["rules"].([]any) {
		rule := r.(map[string]any)
		id, _ := rule["id"].(string)
		if id == "" || dig(rule, "shortDescription", "text") == nil || dig(rule, "fullDescription", "text") == nil ||
			!levels[dig(rule, "defaultConfiguration", "level")] {
			t.Errorf("rule %d incomplete: %v", i, rule)
		}
		index[id] = i
	}
	results, _ := run["results"].([]any)
	if len(results) != len(res.Findings) {
		t.Fatalf("%d results for %d findings", len(results), len(res.Findings))
	}
	for _, r := range results {
		result := r.(map[string]any)
		id, _ := result["ruleId"].(string)
		i, ok := index[id]
		if !ok || result["ruleIndex"] != float64(i) {
			t.Errorf("result %s: ruleIndex %v, want %d", id, result["ruleIndex"], i)
		}
		if text, _ := dig(result, "message", "text").(string); text == "" || !levels[result["level"]] {
			t.Errorf("result %s: message %q level %v", id, text, result["level"])
		}
		locs, _ := result["locations"].([]any)
		if len(locs) != 1 {
			t.Fatalf("result %s: %d locations", id, len(locs))
		}
		uri, _ := dig(locs[0].(map[string]any), "physicalLocation", "artifactLocation", "uri").(string)
		line, _ := dig(locs[0].(map[string]any), "physicalLocation", "region", "startLine").(float64)
		if uri == "" || line < 1 {
			t.Errorf("result %s: location %v", id, locs[0])
		}
	}
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func TestOutputs(t *testing.T) {
	dir := filepath.Join(fixtures, "goredis-retry-non-idempotent", "bad-same-package")
	res, err := lint.Run(lint.Config{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := lint.WriteText(&text, res); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, want := range []string{"store/client.go\n  8: medium [goredis-retry-non-idempotent]", "EVALSHA and INCR", "store/quota.go:", "clients: go-redis 9.5.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	var js bytes.Buffer
	if err := lint.WriteJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	var back lint.Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Findings) != 1 || back.Findings[0].Line != 8 || back.Findings[0].Level != "medium" || back.Files != 2 {
		t.Errorf("json round trip: %+v", back)
	}
	if res.Max() != lint.Medium {
		t.Errorf("max severity %v", res.Max())
	}
}

func TestMissingPath(t *testing.T) {
	if _, err := lint.Run(lint.Config{Paths: []string{filepath.Join(t.TempDir(), "nope")}}); !errors.Is(err, lint.ErrNoPath) {
		t.Errorf("missing path: %v", err)
	}
}

// TestRepository lints this repository: its own fixtures are test sources,
// so nothing is reported, and the walk must not fail.
func TestRepository(t *testing.T) {
	res, err := lint.Run(lint.Config{Paths: []string{"../.."}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files == 0 || res.Skipped == 0 || len(res.Findings) != 0 {
		t.Errorf("files %d, skipped %d, findings %v", res.Files, res.Skipped, res.Findings)
	}
}
