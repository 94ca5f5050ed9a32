package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redis-chaos/redis-chaos/test/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// syncBuffer is an output a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli runs the root command in-process with args and returns its output.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return cliIn(t, "", args...)
}

// cliIn is cli with stdin.
func cliIn(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// background is a long-running command (proxy, up) run in-process.
type background struct {
	out  *syncBuffer
	err  chan error
	stop context.CancelFunc
}

// Wait returns the command's error once it has ended.
func (b *background) Wait() error { return <-b.err }

// startCLI starts a long-running command; it is stopped (Ctrl-C) when the
// test ends.
func startCLI(t *testing.T, args ...string) *background {
	t.Helper()
	cmd := newRootCmd()
	b := &background{out: &syncBuffer{}, err: make(chan error, 1)}
	cmd.SetOut(b.out)
	cmd.SetErr(b.out)
	cmd.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	b.stop = cancel
	go func() { b.err <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-b.err:
		case <-time.After(30 * time.Second):
			t.Errorf("%v did not stop", args)
		}
	})
	return b
}

var apiLine = regexp.MustCompile(`control API: http://(\S+)`)

// startProxyCLI runs `redis-chaos proxy` in front of upstream with extra
// args, and returns the API address it printed once it is ready.
func startProxyCLI(t *testing.T, upstream string, extra ...string) (*background, string) {
	t.Helper()
	base := testenv.FreeBasePort(t, 9)
	args := append([]string{"proxy", "--upstream", upstream, "--base-port", strconv.Itoa(base),
		"--api", "127.0.0.1:0", "--log-level", "warn"}, extra...)
	b := startCLI(t, args...)
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" {
		if m := apiLine.FindStringSubmatch(b.out.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-b.err:
			b.err <- err // for the cleanup
			t.Fatalf("proxy ended: %v\n%s", err, b.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy not ready:\n%s", b.out.String())
		}
	}
	return b, addr
}
