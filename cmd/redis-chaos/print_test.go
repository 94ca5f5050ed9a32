package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

func TestPrintFindings(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	fs := []api.Finding{
		{Rule: "slow-reconnect", Severity: "low", Title: "reconnects slowly", Count: 1, FirstSeen: now, LastSeen: now},
		{Rule: "retry-storm", Severity: "high", Title: "retries without backoff", Count: 40, FirstSeen: now, LastSeen: now.Add(time.Second),
			Client:      api.FindingClient{Addr: "10.0.0.7", LibName: "go-redis", LibVer: "9.23.0", Name: "app"},
			Explanation: "why", Correct: "how", Remedy: "fix", Remedies: map[string]string{"jedis": "j", "go-redis": "g"}},
	}
	var b bytes.Buffer
	if err := printFindings(&b, fs, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "SEVERITY") || !strings.HasPrefix(lines[1], "high") || !strings.HasPrefix(lines[2], "low") {
		t.Errorf("not sorted by severity:\n%s", out)
	}
	for _, want := range []string{"go-redis 9.23.0 name=app @10.0.0.7", "unidentified client", "why: why", "a correct client: how",
		"remedy: fix", "remedy for go-redis: g\n  remedy for jedis: j"} {
		if !strings.Contains(out, want) {
			t.Errorf("findings output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	printFindings(&b, nil, false)
	if b.String() != "no findings\n" {
		t.Errorf("no findings: %q", b.String())
	}
}

func TestWatched(t *testing.T) {
	for _, tc := range []struct {
		cs   []api.WatchedClient
		want string
	}{
		{nil, "watched: no client yet (point an application at the proxy's ports; redis-chaos topology lists them)"},
		{[]api.WatchedClient{{Connects: 1, Commands: 1}}, "watched: 1 client, 1 connection, 1 command"},
		{[]api.WatchedClient{{Connects: 3, Commands: 1200}, {Connects: 2, Commands: 34}}, "watched: 2 clients, 5 connections, 1234 commands"},
	} {
		if got := watched(tc.cs); got != tc.want {
			t.Errorf("watched(%+v) = %q, want %q", tc.cs, got, tc.want)
		}
	}
}

func TestPrintTopologyWithoutEngine(t *testing.T) {
	top := &api.Topology{
		Nodes: []proxy.NodeInfo{{ID: strings.Repeat("a", 40), Addr: "10.0.0.1:6379", Announce: "127.0.0.1:7001", Role: "master"}},
		Real: &topology.Topology{Nodes: []topology.Node{{ID: strings.Repeat("a", 40), Addr: "10.0.0.1:6379", Role: "master",
			Flags: []string{"master"}, Slots: []topology.Range{{From: 0, To: 16383}}}}},
	}
	var b bytes.Buffer
	if err := printTopology(&b, top); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"no chaos engine", "127.0.0.1:7001", "10.0.0.1:6379", "0-16383", "aaaaaaaaaaaa ", "open"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("topology lacks %q:\n%s", want, b.String())
		}
	}
}

func TestPrintFaults(t *testing.T) {
	now := time.Now()
	an := announcer{"10.0.0.1:6379": "127.0.0.1:7001"}
	fs := []*chaos.Fault{{ID: "f1", Spec: fault.Spec{Action: "latency", Latency: fault.Duration(time.Millisecond), Jitter: fault.Duration(time.Millisecond),
		Target: "master", Match: fault.Match{Categories: []string{"write"}, Clients: "10.0.0.0/8", ClientName: "a*", LibName: "l", Slots: "1-2"}},
		Nodes: []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379", "10.0.0.4:6379", "10.0.0.5:6379"},
		State: "active", Expires: now.Add(time.Minute), Injected: 3, Source: "api", Error: "boom"}}
	var b bytes.Buffer
	if err := printFaults(&b, fs, an, now, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"latency 1ms±1ms", "127.0.0.1:7001,10.0.0.2:6379,10.0.0.3:6379 +2 more",
		"@write slots=1-2 clients=10.0.0.0/8 name=a* lib=l", "active (error: boom)", "1m0s", " 3 "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("faults lack %q:\n%s", want, b.String())
		}
	}
}
