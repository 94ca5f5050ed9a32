// Package scripts holds the tests of the repository's shell scripts.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubPackageManager logs its arguments and, on an install, puts the
// commands its packages provide on PATH (none with STUB_INSTALL_NOTHING).
const stubPackageManager = `#!/bin/bash
echo "$(basename "$0") $*" >> "$STUB_LOG"
case " $* " in
*" install "* | *" add "*) ;;
*) exit 0 ;;
esac
[ -n "${STUB_INSTALL_NOTHING:-}" ] && exit 0
provides="redis-server redis-cli redis-benchmark"
case " $* " in
*" redis-server "* | *" redis "*) ;;
*" redis-tools "*) provides="redis-cli redis-benchmark" ;;
esac
for c in $provides; do
	printf '#!/bin/bash\necho "Redis server v=${STUB_VERSION:-7.2.4} sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=1"\n' > "$STUB_BIN/$c"
	chmod +x "$STUB_BIN/$c"
done
`

// stubs writes a PATH directory holding only what install-redis.sh may run:
// stubbed uname, id, sudo, systemctl and package managers (present lists which
// of apt-get, dnf, apk, brew and the redis commands exist), and the real
// tools it needs.
func stubs(t *testing.T, present []string) (bin, log string) {
	t.Helper()
	bin = t.TempDir()
	log = filepath.Join(t.TempDir(), "calls")
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("uname", "#!/bin/bash\necho \"$STUB_UNAME\"\n")
	write("id", "#!/bin/bash\necho \"$STUB_UID\"\n")
	write("sudo", "#!/bin/bash\necho \"sudo $*\" >> \"$STUB_LOG\"\nexec \"$@\"\n")
	write("systemctl", "#!/bin/bash\necho \"systemctl $*\" >> \"$STUB_LOG\"\n")
	for _, p := range present {
		switch p {
		case "apt-get", "dnf", "apk", "brew":
			write(p, stubPackageManager)
		default: // a redis command already installed
			write(p, "#!/bin/bash\necho \"Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=1\"\n")
		}
	}
	for _, tool := range []string{"env", "sed", "sort", "head", "basename", "chmod", "cat"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return bin, log
}

func TestInstallRedis(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script, err := filepath.Abs("install-redis.sh")
	if err != nil {
		t.Fatal(err)
	}
	const (
		debian = "ID=debian\nVERSION_ID=\"12\"\n"
		ubuntu = "ID=ubuntu\nID_LIKE=debian\n"
		fedora = "ID=fedora\nVERSION_ID=41\n"
		rocky  = "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n"
		alpine = "ID=alpine\n"
		arch   = "ID=arch\n"
	)
	for _, tc := range []struct {
		name      string
		osRelease string
		uname     string
		uid       string
		present   []string
		args      []string
		env       []string
		wantCode  int
		wantCalls []string // package manager, sudo and systemctl calls, in order
		wantErr   []string // in what the script says
	}{
		{name: "debian, all there: nothing runs", osRelease: debian, uname: "Linux", uid: "0",
			present: []string{"apt-get", "redis-server", "redis-cli", "redis-benchmark"}},
		{name: "debian, only redis-benchmark missing: not needed, nothing runs", osRelease: debian, uname: "Linux", uid: "0",
			present: []string{"apt-get", "redis-server", "redis-cli"}},
		{name: "debian, only redis-benchmark missing, needed: redis-tools", osRelease: debian, uname: "Linux", uid: "0",
			present: []string{"apt-get", "redis-server", "redis-cli"}, args: []string{"--with-benchmark"},
			wantCalls: []string{"apt-get update -qq", "apt-get install -y -qq redis-tools"}},
		{name: "debian as root, nothing there", osRelease: debian, uname: "Linux", uid: "0", present: []string{"apt-get"},
			wantCalls: []string{"apt-get update -qq", "apt-get install -y -qq redis-server redis-tools", "systemctl stop redis-server"},
			wantErr:   []string{"redis-server redis-cli not found: installing redis-server redis-tools with apt", "done: Redis server v=7.2.4"}},
		{name: "ubuntu as a user: sudo", osRelease: ubuntu, uname: "Linux", uid: "1000", present: []string{"apt-get", "redis-cli"},
			wantCalls: []string{"sudo apt-get update -qq", "apt-get update -qq",
				"sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server", "apt-get install -y -qq redis-server",
				"sudo systemctl stop redis-server", "systemctl stop redis-server"}},
		{name: "fedora", osRelease: fedora, uname: "Linux", uid: "0", present: []string{"dnf"},
			wantCalls: []string{"dnf install -y redis"}},
		{name: "rocky (like rhel) as a user", osRelease: rocky, uname: "Linux", uid: "1000", present: []string{"dnf"},
			wantCalls: []string{"sudo dnf install -y redis", "dnf install -y redis"}},
		{name: "alpine", osRelease: alpine, uname: "Linux", uid: "0", present: []string{"apk", "redis-server"},
			wantCalls: []string{"apk add --no-cache redis"}},
		{name: "alpine as a user without sudo", osRelease: alpine, uname: "Linux", uid: "1000", present: []string{"apk"},
			env: []string{"STUB_NO_SUDO=1"}, wantCode: 1, wantErr: []string{"needs root: run this script as root, or install sudo"}},
		{name: "macOS with Homebrew: never sudo", uname: "Darwin", uid: "501", present: []string{"brew"},
			wantCalls: []string{"brew install redis"}},
		{name: "macOS without Homebrew", uname: "Darwin", uid: "501", wantCode: 1,
			wantErr: []string{"on macOS, install Homebrew (brew.sh), then: brew install redis"}},
		{name: "arch: says what to do", osRelease: arch, uname: "Linux", uid: "0", wantCode: 1,
			wantErr: []string{"redis-server redis-cli not found, and this system is not one this script knows (Linux (arch))", "Redis 7.0 or later"}},
		{name: "freebsd: says what to do", uname: "FreeBSD", uid: "0", wantCode: 1, wantErr: []string{"(FreeBSD)"}},
		{name: "no os-release", uname: "Linux", uid: "0", present: []string{"apt-get"}, wantCode: 1, wantErr: []string{"(Linux ()"}},
		{name: "installed but still missing", osRelease: fedora, uname: "Linux", uid: "0", present: []string{"dnf"},
			env: []string{"STUB_INSTALL_NOTHING=1"}, wantCode: 1, wantCalls: []string{"dnf install -y redis"},
			wantErr: []string{"still not on PATH after installing redis"}},
		{name: "an old redis is installed: warned", osRelease: fedora, uname: "Linux", uid: "0", present: []string{"dnf"},
			env: []string{"STUB_VERSION=6.2.6"}, wantCalls: []string{"dnf install -y redis"},
			wantErr: []string{"warning: redis-server 6.2.6 installed; redis-chaos needs Redis 7.0 or later"}},
		{name: "dry run: says, runs nothing", osRelease: debian, uname: "Linux", uid: "1000", present: []string{"apt-get"},
			args:    []string{"--dry-run"},
			wantErr: []string{"+ sudo apt-get update -qq", "+ sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin, log := stubs(t, tc.present)
			if strings.Contains(strings.Join(tc.env, " "), "STUB_NO_SUDO") {
				os.Remove(filepath.Join(bin, "sudo"))
			}
			release := filepath.Join(t.TempDir(), "os-release")
			if tc.osRelease != "" {
				if err := os.WriteFile(release, []byte(tc.osRelease), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(bash, append([]string{script}, tc.args...)...)
			cmd.Env = append([]string{"PATH=" + bin, "STUB_BIN=" + bin, "STUB_LOG=" + log, "STUB_UNAME=" + tc.uname,
				"STUB_UID=" + tc.uid, "INSTALL_REDIS_OS_RELEASE=" + release}, tc.env...)
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tc.wantCode, out)
			}
			b, _ := os.ReadFile(log)
			calls := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(b) == 0 {
				calls = nil
			}
			if strings.Join(calls, "\n") != strings.Join(tc.wantCalls, "\n") {
				t.Errorf("calls:\n  %s\nwant:\n  %s\noutput:\n%s", strings.Join(calls, "\n  "), strings.Join(tc.wantCalls, "\n  "), out)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
