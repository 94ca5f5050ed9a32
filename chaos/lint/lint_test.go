package lint_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/lint"
)

// corpus is the sample projects directory, relative to this package.
const corpus = "../../test/lint"

type want struct {
	file string // relative to the sample directory
	line int
	rule string
}

func (w want) String() string { return fmt.Sprintf("%s:%d %s", w.file, w.line, w.rule) }

// TestCorpus checks that every rule fires on its bad sample at the right
// file:line, and that nothing fires on the good samples.
func TestCorpus(t *testing.T) {
	bad := map[string][]want{
		"lettuce": {
			{"gradle5/src/main/kotlin/example/Redis.kt", 7, "lettuce-topology-refresh-off"},
			{"src/main/java/com/example/RedisConfig.java", 11, "lettuce-topology-refresh-off"},
			{"src/main/java/com/example/RedisConfig.java", 15, "lettuce-cancel-on-reconnect-failure"},
			{"src/main/java/com/example/RedisConfig.java", 16, "lettuce-unbounded-request-queue"},
		},
		"spring": {
			{"props/src/main/resources/application.properties", 4, "spring-redis-health-cluster"},
			{"src/main/resources/application.yml", 7, "spring-redis-health-cluster"},
		},
		"jedis": {
			{"src/main/java/com/example/Cache.java", 20, "jedis-cluster-no-timeout"},
			{"src/main/java/com/example/Cache.java", 24, "jedis-cluster-no-timeout"},
			{"src/main/java/com/example/Cache.java", 28, "jedis-cluster-retry-non-idempotent"},
		},
		"go-redis": {
			{"main.go", 12, "goredis-read-timeout-disabled"},
			{"main.go", 13, "goredis-redirects-disabled"},
			{"main.go", 14, "goredis-readonly-no-fallback"},
		},
		"node-redis": {
			{"index.js", 4, "noderedis-no-socket-timeout"},
			{"index.js", 4, "noderedis-unbounded-offline-queue"},
		},
		"ioredis": {
			{"server.js", 3, "ioredis-no-command-timeout"},
			{"server.js", 6, "ioredis-redirections-disabled"},
			{"server.js", 8, "ioredis-auto-resend"},
		},
		"redis-py": {
			{"app.py", 8, "redispy-require-full-coverage"},
			{"app.py", 9, "redispy-socket-timeout-none"},
		},
	}
	fired := map[string]bool{}
	for client, wants := range bad {
		for _, variant := range []string{"bad", "good"} {
			t.Run(client+"/"+variant, func(t *testing.T) {
				dir := filepath.Join(corpus, client, variant)
				res, err := lint.Run(lint.Config{Paths: []string{dir}})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Clients) == 0 {
					t.Errorf("no client detected in %s", dir)
				}
				var got []string
				for _, f := range res.Findings {
					rel, err := filepath.Rel(dir, filepath.FromSlash(f.File))
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, want{filepath.ToSlash(rel), f.Line, f.RuleID}.String())
					if f.Message == "" || f.Fix == "" || f.Level == "" {
						t.Errorf("%s:%d %s: empty message, fix or severity", f.File, f.Line, f.RuleID)
					}
				}
				var exp []string
				if variant == "bad" {
					for _, w := range wants {
						exp = append(exp, w.String())
						fired[w.rule] = true
					}
				}
				slices.Sort(got)
				slices.Sort(exp)
				if !slices.Equal(got, exp) {
					t.Errorf("findings\n got  %q\n want %q", got, exp)
				}
			})
		}
	}
	for _, r := range lint.Rules() {
		if !fired[r.ID] {
			t.Errorf("rule %s has no bad sample", r.ID)
		}
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

// TestSARIF validates the 2.1.0 structure: required fields present and every
// result's ruleId declared by the driver.
func TestSARIF(t *testing.T) {
	res, err := lint.Run(lint.Config{Paths: []string{corpus}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) == 0 {
		t.Fatal("no findings in the corpus")
	}
	var buf bytes.Buffer
	if err := lint.WriteSARIF(&buf, res); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Schema  string `json:"$schema"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID               string `json:"id"`
						ShortDescription *struct {
							Text string `json:"text"`
						} `json:"shortDescription"`
						FullDescription *struct {
							Text string `json:"text"`
						} `json:"fullDescription"`
						Help *struct {
							Text string `json:"text"`
						} `json:"help"`
						DefaultConfiguration *struct {
							Level string `json:"level"`
						} `json:"defaultConfiguration"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results *[]struct {
				RuleID    string `json:"ruleId"`
				RuleIndex *int   `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   *struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation *struct {
						ArtifactLocation *struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region *struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif") {
		t.Errorf("version %q, $schema %q", log.Version, log.Schema)
	}
	if len(log.Runs) != 1 {
		t.Fatalf("%d runs", len(log.Runs))
	}
	run := log.Runs[0]
	levels := map[string]bool{"none": true, "note": true, "warning": true, "error": true}
	if run.Tool.Driver.Name == "" {
		t.Error("no tool.driver.name")
	}
	index := map[string]int{}
	for i, r := range run.Tool.Driver.Rules {
		if r.ID == "" || r.ShortDescription == nil || r.ShortDescription.Text == "" ||
			r.FullDescription == nil || r.FullDescription.Text == "" || r.Help == nil || r.Help.Text == "" ||
			r.DefaultConfiguration == nil || !levels[r.DefaultConfiguration.Level] {
			t.Errorf("rule %d incomplete: %+v", i, r)
		}
		index[r.ID] = i
	}
	if run.Results == nil || len(*run.Results) != len(res.Findings) {
		t.Fatalf("results missing or not one per finding")
	}
	for _, r := range *run.Results {
		i, ok := index[r.RuleID]
		if !ok {
			t.Errorf("result ruleId %q not in driver rules", r.RuleID)
		}
		if r.RuleIndex == nil || *r.RuleIndex != i {
			t.Errorf("%s: ruleIndex %v, want %d", r.RuleID, r.RuleIndex, i)
		}
		if !levels[r.Level] || r.Message == nil || r.Message.Text == "" || len(r.Locations) == 0 {
			t.Errorf("%s: incomplete result", r.RuleID)
		}
		for _, l := range r.Locations {
			p := l.PhysicalLocation
			if p == nil || p.ArtifactLocation == nil || p.ArtifactLocation.URI == "" || p.Region == nil || p.Region.StartLine < 1 {
				t.Errorf("%s: incomplete location", r.RuleID)
			}
		}
	}
}

func TestOutputs(t *testing.T) {
	res, err := lint.Run(lint.Config{Paths: []string{filepath.Join(corpus, "go-redis", "bad")}})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := lint.WriteText(&text, res); err != nil {
		t.Fatal(err)
	}
	if strings.Count(text.String(), "test/lint/go-redis/bad/main.go\n") != 1 || !strings.Contains(text.String(), "  12: high [goredis-read-timeout-disabled]") {
		t.Errorf("text output not grouped by file:\n%s", text.String())
	}
	var js bytes.Buffer
	if err := lint.WriteJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	var back lint.Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Findings) != 3 || back.Findings[0].Line != 12 || back.Findings[0].Level != "high" {
		t.Errorf("json round trip: %+v", back.Findings)
	}
	if res.Max() != lint.High {
		t.Errorf("max severity %v", res.Max())
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a/requirements-dev.txt": "redisearch==2.1\nredis-om==0.3\nredis>=4.6.0 ; python_version>'3.8'\n",
		"b/Pipfile":              "[packages]\nredis = \"*\"\n",
		"c/pyproject.toml":       "[tool.poetry.dependencies]\nredis = \"^5.0.1\"\n",
		"d/package-lock.json":    `{"dependencies": {"ioredis": {"version": "4.28.5"}}}`,
		"e/build.gradle":         "dependencies { implementation \"org.springframework.boot:spring-boot-starter-data-redis\" }\n",
		"f/go.mod":               "module x\n\nrequire (\n\tgithub.com/go-redis/redis/v8 v8.11.5\n)\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := lint.Run(lint.Config{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range res.Clients {
		got = append(got, filepath.Base(filepath.Dir(c.BuildFile))+":"+c.Name+"@"+c.Version)
	}
	slices.Sort(got)
	exp := []string{"a:redis-py@4.6.0", "b:redis-py@", "c:redis-py@5.0.1", "d:ioredis@4.28.5", "e:spring-data-redis@", "f:go-redis@8.11.5"}
	if !slices.Equal(got, exp) {
		t.Errorf("clients\n got  %q\n want %q", got, exp)
	}
}

func TestMissingPath(t *testing.T) {
	if _, err := lint.Run(lint.Config{Paths: []string{filepath.Join(t.TempDir(), "nope")}}); err == nil {
		t.Error("no error for a missing path")
	}
}

// TestRepository lints this repository: it must finish without error.
func TestRepository(t *testing.T) {
	res, err := lint.Run(lint.Config{Paths: []string{"../.."}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files == 0 {
		t.Error("no files scanned")
	}
}

// TestModuleCache lints a large tree, the Go module cache. Skipped with -short.
func TestModuleCache(t *testing.T) {
	if testing.Short() {
		t.Skip("large tree; skipped with -short")
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skip("no GOMODCACHE")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skip("GOMODCACHE missing")
	}
	start := time.Now()
	res, err := lint.Run(lint.Config{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d files, %d findings in %v", dir, res.Files, len(res.Findings), time.Since(start))
}
