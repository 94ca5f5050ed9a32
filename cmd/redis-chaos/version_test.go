package main

import (
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	vcs := func(rev, at, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: at}, {Key: "vcs.modified", Value: modified}}
	}
	built := "go1.26.8 " + goruntime.GOOS + "/" + goruntime.GOARCH
	for _, tc := range []struct {
		name    string
		bi      *debug.BuildInfo
		stamped string
		want    string
	}{
		{"go install of a tagged version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}}, "",
			"redis-chaos v1.2.0 (" + built + ")"},
		{"go build in a git checkout",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261122195608-a113faa21eae"},
				Settings: vcs("a113faa21eae8bb1805d0f64984091fd4a45b203", "2026-11-22T19:56:08Z", "false")}, "",
			"redis-chaos v0.0.0-20261122195608-a113faa21eae (commit a113faa21eae, 2026-11-22T19:56:08Z; " + built + ")"},
		{"uncommitted changes",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
				Settings: vcs("a113faa21eae8bb1805d0f64984091fd4a45b203", "2026-11-22T19:56:08Z", "true")}, "",
			"redis-chaos (devel) (commit a113faa21eae with uncommitted changes, 2026-11-22T19:56:08Z; " + built + ")"},
		{"make build without VCS stamping", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "a113faa-dirty",
			"redis-chaos a113faa-dirty (" + built + ")"},
		{"the build info wins over the stamp", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}}, "a113faa",
			"redis-chaos v1.2.0 (" + built + ")"},
		{"nothing known", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "",
			"redis-chaos (devel) (" + built + "): built without version information; make build records it, or go build with -buildvcs=true in a git checkout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionLine(tc.bi, tc.stamped); got != tc.want {
				t.Errorf("versionLine:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestVersionFromCheckout builds the binary in a git repository with VCS
// stamping on, as go build and go install do by default in a clone, and checks
// that `version` names the commit. The repository is a copy of this checkout's
// files with one commit: Go does not read the version control information of a
// linked git worktree (go.dev/issue/58218), which this checkout may be.
func TestVersionFromCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	src := strings.TrimSpace(string(root))
	files, err := exec.Command("git", "-C", src, "ls-files", "-co", "--exclude-standard", "--", "go.mod", "go.sum", "*.go").Output()
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	for _, f := range strings.Fields(string(files)) {
		b, err := os.ReadFile(filepath.Join(src, f))
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(repo, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "version test")
	rev := git("rev-parse", "HEAD")

	bin := filepath.Join(t.TempDir(), "redis-chaos")
	build := exec.Command("go", "build", "-buildvcs=true", "-trimpath", "-o", bin, "./cmd/redis-chaos")
	build.Dir = repo
	build.Env = append(os.Environ(), "GOFLAGS=", "CGO_ENABLED=0") // as the Dockerfile and make build: one compile for both tests
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"redis-chaos v0.0.0-", rev[:12], "(commit " + rev[:12] + ", "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("version: %s: want %q", out, want)
		}
	}
}
