package report

import (
	"bytes"
	"context"
	"encoding/xml"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/proxy"
)

// TestBuild collects a report from a checker fed with proxy events.
func TestBuild(t *testing.T) {
	start := time.Now().Add(-10 * time.Second).Truncate(time.Second)
	ck := checker.New(checker.Config{Thresholds: checker.Thresholds{CommandTimeout: 3 * time.Second}})
	nodes := []proxy.NodeInfo{
		{ID: "a", Addr: "10.0.0.1:30001", Listen: "127.0.0.1:7001", Announce: "127.0.0.1:7001", Role: "master"},
		{ID: "b", Addr: "10.0.0.1:30002", Listen: "127.0.0.1:7002", Announce: "127.0.0.1:7002", Role: "replica", MasterID: "a"},
	}
	for i, n := range nodes {
		info := proxy.ConnInfo{ID: uint64(i + 1), Node: n.Addr, Listen: n.Listen, Since: start,
			Client: &net.TCPAddr{IP: net.IPv4(10, 9, 9, 9), Port: 5000 + i}, LibName: "redis-py", LibVer: "5.0"}
		ck.Observe(proxy.Event{Type: proxy.EventConnect, Time: start, Conn: info, Slot: -1})
		// INCR, not GET: the checker counts plain commands like GET in bulk,
		// dated when it folds them in, and these events are dated in the past.
		for s := 0; s < 10; s++ {
			for j := 0; j < 20; j++ {
				ck.Observe(proxy.Event{Type: proxy.EventCommand, Time: start.Add(time.Duration(s) * time.Second), Conn: info,
					Command: "INCR", Key: "k", Slot: 1, Reply: ':', Latency: time.Millisecond})
			}
		}
		ck.Observe(proxy.Event{Type: proxy.EventCommand, Time: start.Add(5 * time.Second), Conn: info, Command: "KEYS",
			Slot: -1, Reply: '*'})
	}
	ck.Flush(context.Background())
	sc := []Scenario{{Name: "replica-down", Start: start.Add(4 * time.Second), End: start.Add(8 * time.Second),
		Faults: []checker.FaultWindow{{ID: "f1", Action: "down", Nodes: []string{nodes[1].Addr}, Start: start.Add(4 * time.Second), End: start.Add(7 * time.Second)}}}}
	r := Build(ck, Run{Name: "build", Start: start, End: start.Add(10 * time.Second)}, sc, NodesFrom(nodes))
	if len(r.Series) != 2 || len(r.Series[0].Points) != 11 || r.Series[0].Points[3].Commands != 20 {
		t.Fatalf("series %+v", r.Series)
	}
	if len(r.Findings) != 1 || r.Findings[0].Rule != checker.RuleDangerousCommand || r.Run.Checker.Processed == 0 {
		t.Fatalf("findings %+v, stats %+v", r.Findings, r.Run.Checker)
	}
	if r.Thresholds["command-timeout"] != "3s" || r.Thresholds["stale-moved"] != "3" || len(r.Rules) != len(checker.Rules()) {
		t.Errorf("thresholds in effect %v, %d rules", r.Thresholds, len(r.Rules))
	}
	var buf bytes.Buffer
	if err := r.WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil || doc.Failures != 1 || doc.Suites[0].Name != "replica-down" {
		t.Fatalf("JUnit %v: %+v", err, doc)
	}
	buf.Reset()
	if err := r.WriteHTML(&buf); err != nil || strings.Count(buf.String(), `<polyline class="series"`) != 6 {
		t.Fatalf("HTML: %v", err)
	}
}
