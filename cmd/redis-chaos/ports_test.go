package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/redis-chaos/redis-chaos/provision"
)

func TestEphemeralNote(t *testing.T) {
	for _, tc := range []struct {
		name          string
		base, n       int
		lo, hi        int
		want, wantNot []string
	}{
		{name: "the default is below Linux's default range", base: provision.DefaultBasePort, n: 9, lo: 32768, hi: 60999},
		{name: "the old default: nodes and bus in the range", base: 30001, n: 9, lo: 32768, hi: 60999,
			want: []string{"cluster bus ports 40001-40009", "(32768-60999)", "--cluster-base-port 21001"}, wantNot: []string{"node ports"}},
		{name: "both in the range", base: 33001, n: 9, lo: 32768, hi: 60999,
			want: []string{"node ports 33001-33009 and cluster bus ports 43001-43009"}},
		{name: "the last node reaches into the range", base: 22760, n: 9, lo: 32768, hi: 60999,
			want: []string{"cluster bus ports 32760-32768"}},
		{name: "the last node stops just below", base: 22759, n: 9, lo: 32768, hi: 60999},
		{name: "a lower range moves the suggestion", base: 21001, n: 9, lo: 20000, hi: 60999,
			want: []string{"node ports 21001-21009", "--cluster-base-port 8991"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ephemeralNote(tc.base, tc.n, tc.lo, tc.hi)
			if len(tc.want) == 0 && got != "" {
				t.Errorf("note %q, want none", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("note %q lacks %q", got, w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("note %q has %q", got, w)
				}
			}
		})
	}
}

// TestClusterUpEphemeralPortInUse: a port in use in the ephemeral range is
// reported with what to do about it.
func TestClusterUpEphemeralPortInUse(t *testing.T) {
	lo, hi, ok := localPortRange()
	if !ok || hi-lo < 20000 {
		t.Skip("no usable ip_local_port_range")
	}
	var ln net.Listener
	var base int
	for p := lo + 1000; p < lo+5000 && ln == nil; p += 17 {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			ln, base = l, p
		}
	}
	if ln == nil {
		t.Skip("no free port in the ephemeral range")
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "c")
	_, err := runCLI(t, "cluster", "up", "--dir", dir, "--cluster-base-port", strconv.Itoa(base))
	if err == nil || !strings.Contains(err.Error(), "port of node 0") || !strings.Contains(err.Error(), "ephemeral port range") ||
		!strings.Contains(err.Error(), "--cluster-base-port 21001") {
		t.Errorf("cluster up on a taken port in the ephemeral range: %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("cluster up wrote %s before failing", dir)
	}
}
