package checker

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
)

func TestFastPath(t *testing.T) {
	now := time.Now()
	k := New(Config{Now: func() time.Time { return now }})
	k.Flush(context.Background()) // first tick: quiet
	info := proxy.ConnInfo{ID: 7, Node: "10.0.0.1:30001", Listen: "127.0.0.1:7001",
		Client: &net.TCPAddr{IP: net.IPv4(10, 1, 1, 1), Port: 5000}, LibName: "app", LibVer: "1", Since: now.Add(-time.Minute)}
	k.Observe(proxy.Event{Type: proxy.EventConnect, Time: info.Since, Conn: info, Slot: -1})
	for i := 0; i < 100; i++ {
		k.Observe(proxy.Event{Type: proxy.EventCommand, Time: now, Conn: info, Command: "GET", Key: "k", Slot: 5,
			Reply: '$', Latency: time.Millisecond})
	}
	if n := len(k.ch); n != 1 {
		t.Fatalf("%d events queued, want only the connect (plain commands tallied)", n)
	}
	k.Flush(context.Background())
	cs := k.Clients()
	if len(cs) != 1 || cs[0].Commands != 100 {
		t.Fatalf("clients %+v", cs)
	}
	var total int
	for _, s := range k.Series(now.Add(-time.Second), now.Add(time.Second)) {
		for _, p := range s.Points {
			total += p.Commands
		}
	}
	if total != 100 {
		t.Fatalf("series counted %d commands", total)
	}
	// An error turns the fast path off at once, from the producer's side.
	k.Observe(proxy.Event{Type: proxy.EventCommand, Time: now, Conn: info, Command: "GET", Key: "k", Slot: 5,
		Reply: '-', Err: "MOVED 5 127.0.0.1:7002"})
	k.Observe(proxy.Event{Type: proxy.EventCommand, Time: now, Conn: info, Command: "GET", Key: "k", Slot: 5, Reply: '$'})
	if n := len(k.ch); n != 2 {
		t.Fatalf("%d events queued after an error, want 2", n)
	}
}

func TestFastPathSlowHandshake(t *testing.T) {
	// A PING answered after 1 s, then a GET read while it was outstanding:
	// the GET must reach the rules (reply-desync-risk), not a tally.
	now := time.Now()
	k := New(Config{Now: func() time.Time { return now }})
	k.Flush(context.Background())
	info := proxy.ConnInfo{ID: 9, Node: "10.0.0.1:30001", Listen: "127.0.0.1:7001",
		Client: &net.TCPAddr{IP: net.IPv4(10, 1, 1, 1), Port: 5001}, Since: now.Add(-time.Minute)}
	k.Observe(proxy.Event{Type: proxy.EventCommand, Time: now, Conn: info, Command: "PING", Slot: -1, Reply: '+',
		Latency: time.Second + time.Millisecond})
	k.Observe(proxy.Event{Type: proxy.EventCommand, Time: now.Add(time.Second), Conn: info, Command: "GET", Key: "k",
		Slot: 5, Reply: '$', Queued: 1})
	if n := len(k.ch); n != 2 {
		t.Fatalf("%d events queued, want 2", n)
	}
}
