package provision

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a running redis-server process. A proc started by this Cluster owns its
// exec.Cmd and a goroutine that Waits for it; a proc attached from a state file
// (Open) is known by PID only and checked through /proc.
type proc struct {
	pid  int
	dir  string
	done chan struct{} // closed when the owned process has been reaped; nil if attached
	kill context.CancelFunc
}

// exited reports whether the process is gone.
func (p *proc) exited() bool {
	if p == nil {
		return true
	}
	if p.done != nil {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	}
	return !pidAlive(p.pid, p.dir)
}

// wait blocks until the process is gone or ctx ends.
func (p *proc) wait(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if p.done != nil {
		select {
		case <-p.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return poll(ctx, 20*time.Millisecond, func() (bool, error) { return p.exited(), nil })
}

// signal sends sig to the process group of the node (the server and any fork child).
func (p *proc) signal(sig syscall.Signal) error {
	if p == nil || p.exited() {
		return ErrNodeDown
	}
	if err := syscall.Kill(-p.pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return ErrNodeDown
		}
		return fmt.Errorf("provision: signal %v to pid %d: %w", sig, p.pid, err)
	}
	return nil
}

// spawn starts redis-server with the node's config in its own process group (its
// own session when daemon), and Waits for it in a goroutine tracked by c.wg.
func (c *Cluster) spawn(n *node) (*proc, error) {
	ctx, cancel := context.WithCancel(context.Background())
	// A node started during a partition starts behind it (see partitionArgs).
	cmd := exec.CommandContext(ctx, c.redisServer, append([]string{n.confPath()}, c.partitionArgs(n)...)...)
	cmd.Dir = n.Dir
	attr := &syscall.SysProcAttr{}
	if c.daemon {
		attr.Setsid = true // own session and process group; outlives us
	} else {
		attr.Setpgid = true
		attr.Pdeathsig = syscall.SIGKILL // never outlive a crashed parent
	}
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("provision: start node %d: %w", n.Index, err)
	}
	p := &proc{pid: cmd.Process.Pid, dir: n.Dir, done: make(chan struct{}), kill: cancel}
	c.wg.Add(1)
	go c.reap(n.Index, cmd, p)
	return p, nil
}

// reap waits for a node process and records its end.
func (c *Cluster) reap(index int, cmd *exec.Cmd, p *proc) {
	defer c.wg.Done()
	err := cmd.Wait()
	p.kill()
	close(p.done)
	c.log.Debug("redis-server exited", "node", index, "pid", p.pid, "err", err)
}

// pidAlive reports whether pid is a live (not zombie) process whose working
// directory is dir, i.e. still the redis-server we started there.
func pidAlive(pid int, dir string) bool {
	if pid <= 0 {
		return false
	}
	state, err := procState(pid)
	if err != nil || state == 'Z' || state == 'X' {
		return false
	}
	cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	if err != nil {
		// No permission to read it: fall back to the command line.
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return err == nil && bytes.Contains(cmdline, []byte("redis-server"))
	}
	return sameDir(cwd, dir)
}

func sameDir(a, b string) bool {
	if a == b {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// procState returns the state letter of /proc/<pid>/stat (R, S, T, Z, ...).
func procState(pid int) (byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("provision: malformed /proc/%d/stat", pid)
	}
	return b[i+2], nil
}

// procStopped reports whether pid is stopped by a signal (SIGSTOP).
func procStopped(pid int) bool {
	s, err := procState(pid)
	return err == nil && (s == 'T' || s == 't')
}

// childPIDs lists the children of pid's main thread, falling back to a scan of /proc.
func childPIDs(pid int) []int {
	var out []int
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err == nil {
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
		return out
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(st, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}

// poll calls cond every interval until it reports done, fails, or ctx ends. The
// first call is immediate.
func poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// logTail returns the last lines of a node's log, for error messages.
func logTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
