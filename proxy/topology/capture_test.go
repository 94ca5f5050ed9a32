package topology

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

var capture = flag.Bool("capture", false, "capture replies from a live cluster into testdata/replies")

// TestCapture stores real replies (RESP2 and RESP3) from a live cluster under
// testdata/replies: the seeds of the fuzz tests and the inputs of
// TestRewriteCaptured. Run with -capture to refresh them.
func TestCapture(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture")
	}
	c := startCluster(t)
	dir := filepath.Join("testdata", "replies")
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The ports (data and bus) the files hold, so that tests can check none is left.
	var ports []byte
	for _, p := range slices.Concat(c.ports, c.buses) {
		ports = strconv.AppendInt(ports, int64(p), 10)
		ports = append(ports, '\n')
	}
	os.WriteFile(filepath.Join(dir, "ports"), ports, 0o644)
	for _, r := range captureCommands(c) {
		for proto, conns := range map[int]map[int]*rawConn{2: c.conns, 3: c.conns3} {
			b := conns[r.port].mustDo(t, r.args...)
			name := r.name + ".resp" + strconv.Itoa(proto)
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

type captureCmd struct {
	name string
	port int
	args []string
}

func captureCommands(c *testCluster) []captureCmd {
	m, s := c.ports[0], c.ports[3]
	return []captureCmd{
		{"slots", m, []string{"CLUSTER", "SLOTS"}},
		{"shards", m, []string{"CLUSTER", "SHARDS"}},
		{"nodes", m, []string{"CLUSTER", "NODES"}},
		{"nodes-replica", s, []string{"CLUSTER", "NODES"}},
		{"replicas", m, []string{"CLUSTER", "REPLICAS", c.ids[0]}},
		{"slaves", m, []string{"CLUSTER", "SLAVES", c.ids[1]}},
		{"role-master", m, []string{"ROLE"}},
		{"role-replica", s, []string{"ROLE"}},
		{"info-replication-master", m, []string{"INFO", "replication"}},
		{"info-replication-replica", s, []string{"INFO", "replication"}},
		{"info-server", m, []string{"INFO", "server"}},
		{"client-list", m, []string{"CLIENT", "LIST"}},
		{"client-info", s, []string{"CLIENT", "INFO"}},
	}
}
