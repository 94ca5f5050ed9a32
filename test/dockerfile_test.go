package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoFiles lists the files of a checkout (tracked, and new ones not ignored).
func repoFiles(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("git", "-C", "..", "ls-files", "-co", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	var files []string
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if _, err := os.Stat(filepath.Join("..", f)); err == nil { // not deleted in the work tree
			files = append(files, f)
		}
	}
	return files
}

// dockerIgnored reports whether .dockerignore's patterns leave path out of
// the build context (Docker's rules for the forms the file uses: a leading /
// anchors nothing more, a trailing / or a directory name takes what is under
// it, **/ matches any directories).
func dockerIgnored(patterns []string, path string) bool {
	ignored := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.Trim(strings.TrimPrefix(p, "!"), "/")
		match := false
		parts := strings.Split(path, "/")
		for i := range parts {
			prefix := strings.Join(parts[:i+1], "/") // the path and each directory above it
			if ok, _ := filepath.Match(p, prefix); ok {
				match = true
			}
			if rest, ok := strings.CutPrefix(p, "**/"); ok {
				for j := range i + 1 {
					if ok, _ := filepath.Match(rest, strings.Join(parts[j:i+1], "/")); ok {
						match = true
					}
				}
			}
		}
		if match {
			ignored = !neg
		}
	}
	return ignored
}

func TestDockerIgnored(t *testing.T) {
	pats := []string{".git", "bin/", "/redis-chaos", "**/*.test", "docs/", "/*.md"}
	for path, want := range map[string]bool{
		".git/config": true, "bin/redis-chaos": true, "redis-chaos": true, "cmd/redis-chaos/main.go": false,
		"proxy/proxy.test": true, "docs/faults.md": true, "README.md": true, "chaos/checker/README.md": false,
		"go.mod": false,
	} {
		if got := dockerIgnored(pats, path); got != want {
			t.Errorf("%s: ignored %v, want %v", path, got, want)
		}
	}
}

// TestDockerfileBuildsFromCheckout builds the image's binary the way the
// Dockerfile's build stage does, from a copy of the checkout as .dockerignore
// leaves it: a file the build needs that the context leaves out fails it.
// (No Docker engine here: the stages' base images are not pulled.)
func TestDockerfileBuildsFromCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	ign, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(ign), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	ctx := t.TempDir()
	n := 0
	for _, f := range repoFiles(t) {
		if dockerIgnored(patterns, f) {
			continue
		}
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(ctx, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctx, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	t.Logf("%d files in the build context", n)

	// Every COPY from the context names something in it.
	for _, m := range regexp.MustCompile(`(?m)^COPY (?:--\S+ )*(.+) \S+$`).FindAllStringSubmatch(string(df), -1) {
		if strings.Contains(m[0], "--from=") {
			continue
		}
		for _, src := range strings.Fields(m[1]) {
			if _, err := os.Stat(filepath.Join(ctx, src)); err != nil {
				t.Errorf("Dockerfile: COPY %s: not in the build context", src)
			}
		}
	}

	// The build stage's go build, as the Dockerfile writes it.
	run := regexp.MustCompile(`(?s)RUN (?:--mount=\S+\s*\\?\s*)*(go build [^\n]+)`).FindStringSubmatch(string(df))
	if run == nil {
		t.Fatal("Dockerfile: no RUN go build")
	}
	env := regexp.MustCompile(`(?m)^ENV (\w+)=(\S+)`).FindAllStringSubmatch(string(df), -1)
	line := strings.NewReplacer("${VERSION}", "docker-test", "/out/", t.TempDir()+"/").Replace(run[1])
	bin := regexp.MustCompile(`-o (\S+)`).FindStringSubmatch(line)[1]
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly")
	for _, e := range env {
		cmd.Env = append(cmd.Env, e[1]+"="+e[2])
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.Contains(string(out), "redis-chaos docker-test") {
		t.Errorf("the image's binary: version %q, %v", out, err)
	}
}
