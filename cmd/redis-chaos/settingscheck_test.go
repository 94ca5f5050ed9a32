package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/viper"

	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// TestSettingsCheckedBeforeStart: a config file (and environment) with
// problems of every kind stops proxy, up, run and cluster up before anything
// starts, with every problem listed at once — including values viper would
// silently have turned into 0 or nanoseconds.
func TestSettingsCheckedBeforeStart(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(conf, []byte(`
base-port: abc
node-timout: 2s
node-timeout: 5
default-ttl: soon
faults:
  - action: explode
    target: all
checker:
  thresholds:
    command-timout: 1s
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REDIS_CHAOS_MAX_TTL", "forever")
	want := []string{
		"base-port: want an integer, got \"abc\"",
		"node-timout: unknown key",
		"node-timeout: want a duration with its unit (such as 5s), got 5",
		"default-ttl: want a duration such as 500ms or 5s, got \"soon\"",
		"REDIS_CHAOS_MAX_TTL: want a duration such as 500ms or 5s, got \"forever\"",
		"faults[0].action",
		"command-timout: unknown threshold",
	}
	for _, args := range [][]string{
		{"up", "--config", conf},
		{"proxy", "--upstream", "127.0.0.1:1", "--config", conf},
		{"run", "--scenarios", "hang", "--config", conf, "--", "true"},
		{"cluster", "up", "--config", conf, "--dir", filepath.Join(dir, "c")},
	} {
		t.Run(args[0]+"_"+args[1], func(t *testing.T) {
			out, err := runCLI(t, args...)
			if err == nil {
				t.Fatalf("started with a bad config:\n%s", out)
			}
			msg := err.Error()
			for _, w := range want {
				if args[0] == "cluster" && (strings.HasPrefix(w, "base-port") || strings.Contains(w, "TTL") || strings.Contains(w, "ttl")) {
					continue // cluster up has no proxy flags
				}
				if !strings.Contains(msg, w) {
					t.Errorf("problem %q not listed:\n%s", w, msg)
				}
			}
			if strings.Contains(out, "starting") || strings.Contains(out, "ready in") {
				t.Errorf("something started before the problems were reported:\n%s", out)
			}
		})
	}
}

// TestSettingsAcceptWhatViperReads: what viper reads correctly passes the
// check (a JSON 0 duration, a hex port), what it would silently turn into 0
// or false does not (trailing whitespace in a variable), and a problem with
// an inherited flag is listed once.
func TestSettingsAcceptWhatViperReads(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(`{"base-port": 7001.0, "default-ttl": 0, "max-ttl": "1h"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REDIS_CHAOS_REFRESH", "0")
	// Nothing listens on port 1: the proxy fails after the check, at discovery.
	_, err := runCLI(t, "proxy", "--upstream", "127.0.0.1:1", "--config", good, "--api", "127.0.0.1:0")
	var ce *ConfigError
	if err == nil || errors.As(err, &ce) {
		t.Errorf("a valid JSON config: %v (want the discovery error, not a settings problem)", err)
	}

	t.Setenv("REDIS_CHAOS_NODE_TIMEOUT", "5s ")
	t.Setenv("REDIS_CHAOS_BASE_PORT", " 7005")
	t.Setenv("REDIS_CHAOS_LOG_LEVEL", "")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("log-level: [debug]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "up", "--config", bad)
	if err == nil {
		t.Fatal("up started with values viper would read as 0")
	}
	msg := err.Error()
	for _, w := range []string{`REDIS_CHAOS_NODE_TIMEOUT: want a duration such as 500ms or 5s, got "5s "`,
		`REDIS_CHAOS_BASE_PORT: want an integer, got " 7005"`} {
		if !strings.Contains(msg, w) {
			t.Errorf("problem %q not listed:\n%s", w, msg)
		}
	}
	if n := strings.Count(msg, "log-level: want a single value"); n != 1 {
		t.Errorf("the inherited log-level problem is listed %d times:\n%s", n, msg)
	}
}

// TestPinnedPorts: the config file's ports: mapping (addresses contain dots,
// which viper must not take for nesting) and its problems.
func TestPinnedPorts(t *testing.T) {
	dir := t.TempDir()
	read := func(body string) (map[string]int, error) {
		f := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		v := viper.New()
		v.SetConfigFile(f)
		if err := v.ReadInConfig(); err != nil {
			t.Fatal(err)
		}
		return pinnedPorts(v)
	}
	got, err := read("ports:\n  \"10.0.0.5:6379\": 7001\n  07c37dfeb235213a872192d90877d0cd55635b91: \"7002\"\n")
	if err != nil || got["10.0.0.5:6379"] != 7001 || got["07c37dfeb235213a872192d90877d0cd55635b91"] != 7002 || len(got) != 2 {
		t.Errorf("ports %v, %v", got, err)
	}
	_, err = read("ports:\n  \"10.0.0.5:6379\": 7001\n  \"10.0.0.6:6379\": 7001\n  \"10.0.0.7:6379\": x\n")
	for _, w := range []string{"ports.10.0.0.6:6379: port 7001 is already pinned to 10.0.0.5:6379", `ports.10.0.0.7:6379: want a port (1-65535), got "x"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("problem %q not listed: %v", w, err)
		}
	}
	if _, err := read("ports: 7001\n"); err == nil || !strings.Contains(err.Error(), "want a mapping") {
		t.Errorf("ports: 7001 → %v", err)
	}
}

// TestListenCheckedBeforeStart: up and run find a busy --api address, a busy
// proxy port (from --base-port, or pinned in ports:) and an --api refused
// without a token before they provision the cluster, as they do a busy node
// port.
func TestListenCheckedBeforeStart(t *testing.T) {
	cluster := clusterTestBase(t, 9)
	base := testenv.FreeBasePort(t, 9)
	busy := func() *net.TCPListener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln.(*net.TCPListener)
	}
	apiLn := busy()
	baseLn, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+3)))
	if err != nil {
		t.Fatal(err)
	}
	defer baseLn.Close()
	pinLn := busy()
	pinned := filepath.Join(t.TempDir(), "pinned.yaml")
	second := net.JoinHostPort("127.0.0.1", strconv.Itoa(cluster+1))
	writeFile(t, pinned, "ports:\n  \""+second+"\": "+strconv.Itoa(pinLn.Addr().(*net.TCPAddr).Port)+"\n")
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"busy api", []string{"--api", apiLn.Addr().String()}, "port in use: control API --api " + apiLn.Addr().String() + ": listen tcp"},
		{"busy base port", []string{"--api", "127.0.0.1:0"}, "port in use: proxy port 127.0.0.1:" + strconv.Itoa(base+3) + " for node 127.0.0.1:" +
			strconv.Itoa(cluster+3) + " (from --base-port " + strconv.Itoa(base) + "; choose another --base-port)"},
		{"busy pinned port", []string{"--api", "127.0.0.1:0", "--config", pinned}, "port in use: proxy port " + pinLn.Addr().String() + " pinned to node " + second},
		{"api without token", []string{"--api", "0.0.0.0:0"}, "a bearer token is required"},
	} {
		for _, cmd := range [][]string{{"up"}, {"run", "--scenarios", "hang"}} {
			t.Run(cmd[0]+" "+tt.name, func(t *testing.T) {
				args := append(append(cmd, "--cluster-base-port", strconv.Itoa(cluster), "--base-port", strconv.Itoa(base), "--log-level", "warn"), tt.args...)
				if cmd[0] == "run" {
					args = append(args, "--", "true")
				}
				out, err := runCLI(t, args...)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%v: %v, want an error containing %q\n%s", args, err, tt.want, out)
				}
				if strings.Contains(out, "starting") {
					t.Errorf("the cluster was started before the problem was found:\n%s", out)
				}
			})
		}
	}
}
