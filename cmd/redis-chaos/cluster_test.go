package main

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/provision"
)

// runCLI runs the root command with args and returns its output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// clusterTestBase returns a base port whose n node ports and bus ports are free,
// below the ephemeral port range.
func clusterTestBase(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := 11000 + rand.IntN(11000)
		free := true
		for i := range n {
			for _, p := range []int{base + i, base + i + 10000} {
				ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
				if err != nil {
					free = false
					break
				}
				ln.Close()
			}
		}
		if free {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func TestClusterUpStatusDown(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	base := clusterTestBase(t, 2)
	t.Cleanup(func() {
		// Whatever happens, no node outlives the test.
		if c, err := provision.Open(dir); err == nil {
			_ = c.Stop(context.Background())
		}
	})
	out, err := runCLI(t, "cluster", "up", "--dir", dir, "--cluster-base-port", strconv.Itoa(base),
		"--shards", "1", "--replicas", "1", "--node-timeout", "1500ms", "--log-level", "warn")
	if err != nil {
		t.Fatalf("cluster up: %v\n%s", err, out)
	}
	seed := "127.0.0.1:" + strconv.Itoa(base)
	for _, want := range []string{"INDEX", "127.0.0.1:" + strconv.Itoa(base+1), "replica", "seed: " + seed} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster up output lacks %q:\n%s", want, out)
		}
	}

	out, err = runCLI(t, "cluster", "status", "--dir", dir)
	if err != nil {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}
	for _, want := range []string{"0-16383", "up", "cluster healthy"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster status output lacks %q:\n%s", want, out)
		}
	}

	// A second cluster up in the same directory, on the same ports or others,
	// says a cluster is running there (not that a port is in use).
	for _, port := range []int{base, clusterTestBase(t, 2)} {
		out, err = runCLI(t, "cluster", "up", "--dir", dir, "--cluster-base-port", strconv.Itoa(port), "--shards", "1", "--replicas", "1")
		if !errors.Is(err, provision.ErrRunning) || !strings.Contains(err.Error(), "a cluster is already running in ") ||
			!strings.Contains(err.Error(), "cluster down --dir "+dir) {
			t.Errorf("second cluster up in the same dir (port %d): %v\n%s", port, err, out)
		}
	}

	// status by port, from any directory: the first node leads to the cluster's.
	out, err = runCLI(t, "cluster", "status", "--cluster-base-port", strconv.Itoa(base))
	if err != nil || !strings.Contains(out, "cluster healthy") {
		t.Errorf("cluster status --cluster-base-port %d: %v\n%s", base, err, out)
	}
	if _, err := runCLI(t, "cluster", "status", "--cluster-base-port", strconv.Itoa(base+1)); err == nil ||
		!strings.Contains(err.Error(), "starts at "+seed) {
		t.Errorf("status by the second node's port: %v, want the cluster's first port named", err)
	}
	if _, err := runCLI(t, "cluster", "status", "--dir", dir, "--cluster-base-port", strconv.Itoa(base+1)); err == nil ||
		!strings.Contains(err.Error(), "starts at "+seed) {
		t.Errorf("status --dir with the wrong port: %v, want the cluster's first port named", err)
	}

	// A killed node makes status fail with exit code 1.
	c, err := provision.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	c.Close()
	out, err = runCLI(t, "cluster", "status", "--dir", dir)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "down") {
		t.Errorf("status with a dead node: %v\n%s", err, out)
	}

	out, err = runCLI(t, "cluster", "down", "--cluster-base-port", strconv.Itoa(base), "--log-level", "warn")
	if err != nil {
		t.Fatalf("cluster down --cluster-base-port: %v\n%s", err, out)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after down", dir)
	}
	if _, err := net.DialTimeout("tcp", seed, time.Second); err == nil {
		t.Errorf("%s still accepts connections after down", seed)
	}
	if _, err := runCLI(t, "cluster", "status", "--dir", dir); err == nil || !strings.Contains(err.Error(), "no cluster recorded") {
		t.Errorf("status after down: %v", err)
	}
}

// TestClusterFindByPort: status and down by port refuse what is not a
// cluster this tool provisioned, and say when nothing answers.
func TestClusterFindByPort(t *testing.T) {
	base := clusterTestBase(t, 1)
	out, err := runCLI(t, "cluster", "down", "--cluster-base-port", strconv.Itoa(base))
	if err == nil || !strings.Contains(err.Error(), "no redis-chaos node answers on 127.0.0.1:"+strconv.Itoa(base)) {
		t.Errorf("down on a free port: %v\n%s", err, out)
	}
	// Something that is not a provisioned node (here, not even Redis) is left alone.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	out, err = runCLI(t, "cluster", "down", "--cluster-base-port", strconv.Itoa(base))
	if !errors.Is(err, provision.ErrNotProvisioned) {
		t.Errorf("down on a port that is not a provisioned node: %v\n%s", err, out)
	}
}

func TestClusterUpRejectsBadInput(t *testing.T) {
	base := clusterTestBase(t, 9)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+4)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"zero shards", []string{"--shards", "0"}, nil, "--shards 0: must be at least 1"},
		{"negative replicas", []string{"--replicas", "-1"}, nil, "--replicas -1: must be 0 or more"},
		{"ports beyond 65535", []string{"--cluster-base-port", "60000"}, nil, "beyond 65535"},
		{"bad node timeout", []string{"--node-timeout", "0s"}, nil, "--node-timeout"},
		{"port in use", []string{"--cluster-base-port", strconv.Itoa(base)}, nil, "port of node 4 127.0.0.1:" + strconv.Itoa(base+4)},
		{"redis-server missing", []string{"--cluster-base-port", strconv.Itoa(base)}, map[string]string{"REDIS_CHAOS_REDIS_SERVER": "/nonexistent/redis-server"}, "bash scripts/install-redis.sh installs it"},
		{"bad host", []string{"--host", "nowhere"}, nil, "host must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			dir := filepath.Join(t.TempDir(), "c")
			out, err := runCLI(t, append([]string{"cluster", "up", "--dir", dir}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("cluster up %v: %v, want an error containing %q\n%s", tt.args, err, tt.want, out)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("cluster up wrote %s before failing", dir)
			}
		})
	}
}
