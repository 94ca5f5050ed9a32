package proxy_test

import (
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// syncBuf is a strings.Builder for several goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMultiStateFollowsTheNode: the proxy knows which commands Redis
// queues in MULTI as Redis does (MULTI and DISCARD with arguments are
// refused and change nothing, EXEC with one aborts the transaction; a
// nested MULTI is refused; RESET ends the transaction), so that every reply that carries an address is rewritten,
// +QUEUED passes as it is and nothing is logged.
func TestMultiStateFollowsTheNode(t *testing.T) {
	c, _ := env(t)
	var warns syncBuf
	p := testenv.StartProxy(t, c.Addrs(), func(cfg *proxy.Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&warns, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	seed := testenv.Seeds(p)[0]
	realPorts := map[string]bool{}
	for _, n := range c.Nodes() {
		_, port, _ := net.SplitHostPort(n.Addr)
		realPorts[port] = true
	}
	cases := []struct {
		name string
		send [][]string
		want []string // first line of each reply; "*" for one that carries addresses
	}{
		{"queued commands that carry addresses, then EXEC",
			[][]string{{"MULTI"}, {"ROLE"}, {"INFO", "replication"}, {"CLIENT", "INFO"}, {"CLUSTER", "NODES"}, {"CLUSTER", "SLOTS"}, {"EXEC"}},
			[]string{"+OK", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "*"}},
		{"DISCARD with an argument is refused: the transaction goes on",
			[][]string{{"MULTI"}, {"DISCARD", "x"}, {"ROLE"}, {"CLUSTER", "SLOTS"}, {"DISCARD"}, {"ROLE"}},
			[]string{"+OK", "-ERR wrong number of arguments for 'discard' command", "+QUEUED", "+QUEUED", "+OK", "*"}},
		{"EXEC with an argument is refused and aborts the transaction",
			[][]string{{"MULTI"}, {"ROLE"}, {"EXEC", "x"}, {"ROLE"}},
			[]string{"+OK", "+QUEUED", "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command", "*"}},
		{"MULTI with an argument is refused: no transaction",
			[][]string{{"MULTI", "x"}, {"ROLE"}, {"CLUSTER", "SLOTS"}},
			[]string{"-ERR wrong number of arguments for 'multi' command", "*", "*"}},
		{"a nested MULTI is refused: the transaction goes on",
			[][]string{{"MULTI"}, {"ROLE"}, {"MULTI"}, {"CLUSTER", "SLOTS"}, {"EXEC"}},
			[]string{"+OK", "+QUEUED", "-ERR MULTI calls can not be nested", "+QUEUED", "*"}},
		{"RESET ends the transaction",
			[][]string{{"MULTI"}, {"ROLE"}, {"RESET"}, {"ROLE"}},
			[]string{"+OK", "+QUEUED", "+RESET", "*"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, seed)
			for _, cmd := range tc.send {
				rc.send(cmd...)
			}
			for i, want := range tc.want {
				rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				r := readReply(t, rc.r)
				if want == "*" {
					if r[0] != '*' && r[0] != '$' {
						t.Fatalf("reply %d to %v: %q, want one with addresses", i+1, tc.send[i], r)
					}
					for port := range realPorts {
						if strings.Contains(r, ":"+port) || strings.Contains(r, "\r\n"+port+"\r\n") {
							t.Fatalf("reply %d to %v shows the real port %s: %q", i+1, tc.send[i], port, r)
						}
					}
					continue
				}
				if got := strings.TrimSuffix(r, "\r\n"); got != want {
					t.Fatalf("reply %d to %v: %q, want %q", i+1, tc.send[i], got, want)
				}
			}
		})
	}
	if w := warns.String(); w != "" {
		t.Fatalf("the proxy logged:\n%s", w)
	}
}
