// Command forwarder is the floor of any 1:1 TCP proxy: for every client connection it
// dials one upstream connection and copies bytes both ways with io.Copy, which on
// Linux moves them with splice(2) between the two *net.TCPConn without copying
// through user space. It knows nothing of RESP. The benchmark (test/bench/bench.sh)
// compares redis-chaos against it. While a direction waits for data, splice holds a
// pipe (2 fds), so an idle connection costs 6 fds; -mode copy uses a user-space
// buffer instead (test/bench/idle_conns.sh uses it to compare memory).
//
//	go run ./test/bench/forwarder -listen 127.0.0.1:7100 -upstream 127.0.0.1:6379
//
//	client ──TCP──▶ forwarder ──TCP──▶ redis-server
//	       ◀──────  (splice)   ◀──────
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:6379", "address to forward to")
	mode := flag.String("mode", "splice", "splice: io.Copy between the TCP connections (splice(2), a pipe per direction while copying); "+
		"copy: a 16 KiB user-space buffer per direction (what a plain Go proxy does)")
	flag.Parse()
	var copyFn func(dst, src *net.TCPConn)
	switch *mode {
	case "splice":
		copyFn = func(dst, src *net.TCPConn) { io.Copy(dst, src) } // *TCPConn.ReadFrom: splice(2)
	case "copy":
		copyFn = func(dst, src *net.TCPConn) {
			// Hiding ReadFrom/WriteTo makes io.CopyBuffer use the buffer.
			io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, 16<<10))
		}
	default:
		log.Fatalf("forwarder: -mode %q: want splice or copy", *mode)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("forwarder: %v", err)
	}
	// The address line is the readiness signal for scripts.
	fmt.Printf("listening %s\n", ln.Addr())

	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		ln.Close()
	}()

	var wg sync.WaitGroup
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				break
			}
			// Out of file descriptors and the like: back off as net/http does
			// instead of spinning on accept.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Printf("forwarder: accept: %v; retrying in %v", err, backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			forward(c.(*net.TCPConn), *upstream, copyFn)
		}()
	}
	// Open connections are not waited for: the process exits on signal.
}

// forward serves one client connection until either side closes.
func forward(client *net.TCPConn, upstream string, copyFn func(dst, src *net.TCPConn)) {
	defer client.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		log.Printf("forwarder: dial %s: %v", upstream, err)
		return
	}
	server := u.(*net.TCPConn)
	defer server.Close()

	done := make(chan struct{})
	go func() {
		copyFn(server, client) // requests
		server.CloseWrite()    // the peer sees EOF
		close(done)
	}()
	copyFn(client, server) // replies
	client.CloseWrite()
	<-done
}
