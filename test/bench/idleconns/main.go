// Command idleconns opens many idle client connections to a Redis-speaking address,
// sends one PING on each (so that a 1:1 proxy has dialled its upstream connection
// too), keeps them all open and reports the resident memory (VmRSS) of a process,
// typically the proxy under test. The target: 10,000 idle connections in ≤ 512 MiB.
//
//	go run ./test/bench/idleconns -addr 127.0.0.1:7001 -n 10000 -pid $(pidof redis-chaos)
//
// The caller must raise the open-files limit (ulimit -n) of this process and of the
// process under test; test/bench/idle_conns.sh does that.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7001", "address to connect to")
	n := flag.Int("n", 10000, "number of connections")
	pid := flag.Int("pid", 0, "process whose VmRSS is reported (0: none)")
	parallel := flag.Int("parallel", 64, "connections opened at once")
	hold := flag.Duration("hold", 2*time.Second, "how long to hold the connections open before measuring")
	project := flag.Int("project", 0, "also print the RSS extrapolated to this many connections (0: no)")
	flag.Parse()

	before, _ := vmRSS(*pid)
	start := time.Now()
	conns, err := openAll(*addr, *n, *parallel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "idleconns: %v (opened %d)\n", err, len(conns))
		closeAll(conns)
		os.Exit(1)
	}
	opened := time.Since(start)
	time.Sleep(*hold) // let the process under test settle (GC, lazily freed buffers)
	after, err := vmRSS(*pid)
	if *pid != 0 && err != nil {
		fmt.Fprintf(os.Stderr, "idleconns: %v\n", err)
	}
	// Check that every connection is still alive after the hold.
	alive := 0
	for _, c := range conns {
		if ping(c) == nil {
			alive++
		}
	}
	closeAll(conns)

	fmt.Printf("connections=%d alive=%d open_time=%s\n", len(conns), alive, opened.Round(time.Millisecond))
	if *pid != 0 {
		perConn := float64(after-before) / float64(len(conns))
		fmt.Printf("pid=%d rss_before_kib=%d rss_kib=%d rss_mib=%.1f per_conn_kib=%.1f\n",
			*pid, before, after, float64(after)/1024, perConn)
		if *project > 0 && *project != len(conns) {
			fmt.Printf("projected_rss_mib_at_%d=%.1f\n", *project, (float64(before)+perConn*float64(*project))/1024)
		}
	}
	if alive != len(conns) {
		os.Exit(1)
	}
}

// openAll dials n connections, parallel at a time, and PINGs each once.
func openAll(addr string, n, parallel int) ([]net.Conn, error) {
	var (
		mu    sync.Mutex
		conns = make([]net.Conn, 0, n)
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, parallel)
	)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err == nil {
				if err = ping(c); err != nil {
					c.Close()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			conns = append(conns, c)
		}()
	}
	wg.Wait()
	return conns, first
}

func ping(c net.Conn) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return err
	}
	buf := make([]byte, 7)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "+PONG\r\n" {
		return fmt.Errorf("unexpected reply %q", buf)
	}
	return nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// vmRSS returns the VmRSS of pid in KiB.
func vmRSS(pid int) (int64, error) {
	if pid == 0 {
		return 0, nil
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
