package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// TestSigtermShutdown sends SIGTERM to `redis-chaos up` while a client's
// command is in flight (held back by a latency fault) and a real-mode fault
// holds a replica stopped (SIGSTOP): the command gets its reply, the process
// exits 0, the real fault is reverted before the nodes are stopped, and no
// redis-server process and no recorded cluster is left (a --dir given is
// kept, as documented).
func TestSigtermShutdown(t *testing.T) {
	needRedis(t)
	ctx := context.Background()
	bin := goBuild(t, t.TempDir(), ".", "redis-chaos")
	dir := filepath.Join(t.TempDir(), "cluster")
	p, pids, c := startUpProc(t, bin, dir, "info")
	seed := regexp.MustCompile(`seed address for applications: ([^,\s]+)`).FindStringSubmatch(p.output())
	if seed == nil {
		t.Fatalf("no seed address in the output:\n%s", p.output())
	}
	hang, err := c.AddFault(ctx, fault.Spec{Action: "hang", Target: "replica", Mode: "real", TTL: fault.Duration(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := c.AddFault(ctx, fault.Spec{Action: "latency", Target: "all", Latency: fault.Duration(1500 * time.Millisecond),
		Match: fault.Match{Commands: []string{"ECHO"}}, TTL: fault.Duration(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	var stopped []int
	testenv.Eventually(t, 10*time.Second, func() error {
		g, err := c.Fault(ctx, hang.ID)
		if err != nil {
			return err
		}
		if g.State != "active" {
			return fmt.Errorf("real hang is %s %s", g.State, g.Error)
		}
		stopped = stopped[:0]
		for _, pid := range pids {
			if procState(pid) == 'T' {
				stopped = append(stopped, pid)
			}
		}
		if len(stopped) == 0 {
			return errors.New("no redis-server is stopped")
		}
		return nil
	})

	// A command in flight: ECHO (keyless, any node answers it) held back
	// 1.5 s by the latency fault.
	nc, err := net.Dial("tcp", seed[1])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("*2\r\n$4\r\nECHO\r\n$8\r\ninflight\r\n")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		g, err := c.Fault(ctx, slow.ID)
		if err != nil {
			return err
		}
		if g.Injected == 0 {
			return errors.New("the latency fault has not held the command yet")
		}
		return nil
	})
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(nc)
	reply, err := rd.ReadString('\n')
	if err != nil || reply != "$8\r\n" {
		t.Errorf("in-flight ECHO after SIGTERM: %q, %v (want its reply)", reply, err)
	} else if data, _ := rd.ReadString('\n'); data != "inflight\r\n" {
		t.Errorf("in-flight ECHO reply data %q", data)
	}
	if _, err := rd.ReadByte(); err == nil {
		t.Error("the connection stayed open after its last reply during shutdown")
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("up after SIGTERM: %v\n%s", err, p.output())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("up still running 20s after SIGTERM:\n%s", p.output())
	}
	t.Logf("SIGTERM to exit: %v", time.Since(start).Round(time.Millisecond))
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("redis-server pid %d still runs after up exited (state %c)", pid, procState(pid))
		}
	}
	// The real fault was reverted (the node resumed) by the engine, not left
	// to the node's SIGKILL.
	if !regexp.MustCompile(`fault (ended|reverted|removed)[^\n]*` + regexp.QuoteMeta(hang.ID)).MatchString(p.output()) {
		t.Errorf("no sign of the real hang %s being reverted in the log:\n%s", hang.ID, p.output())
	}
	if out, err := exec.Command(bin, "cluster", "status", "--dir", dir).CombinedOutput(); err == nil {
		t.Errorf("cluster status after up exited: %s", out)
	}
}

// procState is the state letter of a process (/proc/PID/stat), 0 if gone.
func procState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// pid (comm) S …: the state follows the last ')'.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' && i+2 < len(b) {
			return b[i+2]
		}
	}
	return 0
}

// TestCPUProfileEnv: REDIS_CHAOS_CPUPROFILE writes a CPU profile (gzipped
// pprof) of the run when the process exits.
func TestCPUProfileEnv(t *testing.T) {
	bin := goBuild(t, t.TempDir(), ".", "redis-chaos")
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	cmd := exec.Command(bin, "version")
	cmd.Env = append(os.Environ(), "REDIS_CHAOS_CPUPROFILE="+prof)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("version: %v\n%s", err, out)
	}
	b, err := os.ReadFile(prof)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("profile %s: %v, %d bytes", prof, err, len(b))
	}
}
