package checker

import (
	"strings"
	"testing"
	"time"
)

// Synthetic event streams for the rule logic: each case shows the behaviour
// and, where it matters, what a correct client does instead.

func TestMovedIgnored(t *testing.T) {
	t.Run("not followed", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "", "", "")
		slot := slotOf("foo")
		c.do(cmdSpec{name: "GET", key: "foo", reply: '-', err: moved(slot, 7002)})
		s.advance(time.Second)
		s.want(RuleMovedIgnored, 0)
		s.advance(1500 * time.Millisecond)
		f := s.want(RuleMovedIgnored, 1)
		if f.Severity != High || !strings.Contains(f.Evidence[0].Reply, "MOVED") {
			t.Fatalf("finding %+v", f)
		}
		if len(f.Remedies) != len(Libraries) || f.Remedy == "" {
			t.Fatalf("unidentified client: want every library's remedy, got %v", f.Remedies)
		}
	})
	t.Run("same MOVED again", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "go-redis(app,go1.26)", "9.23.0", "")
		slot := slotOf("foo")
		c.do(cmdSpec{name: "GET", key: "foo", reply: '-', err: moved(slot, 7002)})
		s.advance(100 * time.Millisecond)
		c.do(cmdSpec{name: "GET", key: "foo", reply: '-', err: moved(slot, 7002)})
		f := s.want(RuleMovedIgnored, 1)
		if f.Remedies != nil || !strings.Contains(f.Remedy, "NewClusterClient") {
			t.Fatalf("go-redis client: want the go-redis remedy only, got %q %v", f.Remedy, f.Remedies)
		}
	})
	t.Run("a cluster client's first MOVED replies", func(t *testing.T) {
		// ioredis read the topology at start-up: a cluster client. MOVED
		// replies it leaves unfollowed while a shard is down are only
		// possibly ignored.
		s := newSim(t, nil)
		c := s.conn(0, "ioredis", "5.9.2", "")
		c.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
		s.advance(2 * time.Second)
		c.do(cmdSpec{name: "GET", key: "foo", reply: '-', err: moved(slotOf("foo"), 7002)})
		s.advance(100 * time.Millisecond)
		c.do(cmdSpec{name: "GET", key: "foo", reply: '-', err: moved(slotOf("foo"), 7002)})
		if f := s.want(RuleMovedIgnored, 1); !f.Possible || f.Severity != Medium {
			t.Fatalf("%s, possible %v", f.Severity, f.Possible)
		}
	})
	t.Run("not followed, many slots a second", func(t *testing.T) {
		// A plain client writing fresh keys through a replica: a MOVED for
		// a new slot every few milliseconds, none followed. More of them
		// come within MovedFollow than the checker remembers.
		s := newSim(t, nil)
		c := s.conn(3, "go-redis", "9.23.0", "")
		for i := 0; i < 600; i++ {
			c.do(cmdSpec{name: "SET", key: "k" + itoa(i), reply: '-', err: moved(slotOf("k"+itoa(i)), 7001)})
			s.advance(3 * time.Millisecond)
		}
		if f := s.want(RuleMovedIgnored, 1); f.Severity != High {
			t.Fatalf("severity %s", f.Severity)
		}
	})
	t.Run("a pipelined burst, each followed", func(t *testing.T) {
		// A cluster client's queue of commands for one slot, written
		// together: their MOVED replies come in one burst, before the
		// client could learn from the first. Then it follows each.
		s := newSim(t, nil)
		a, b := s.conn(0, "node-redis", "4.7.0", ""), s.conn(1, "node-redis", "4.7.0", "")
		slot := slotOf("foo")
		for i := 0; i < 20; i++ {
			a.do(cmdSpec{name: "GET", key: "foo", reply: '-', err: moved(slot, 7002), lat: 2 * time.Millisecond, queued: i,
				raw: "GET foo " + itoa(i)})
		}
		s.advance(3 * time.Millisecond)
		for i := 0; i < 20; i++ {
			b.do(cmdSpec{name: "GET", key: "foo", reply: '$', queued: i, raw: "GET foo " + itoa(i)})
		}
		s.advance(5 * time.Second)
		s.only()
	})
	t.Run("followed", func(t *testing.T) {
		s := newSim(t, nil)
		a, b := s.conn(0, "x", "1", ""), s.conn(1, "x", "1", "")
		slot := slotOf("foo")
		a.do(cmdSpec{name: "GET", key: "foo", reply: '-', err: moved(slot, 7002)})
		s.advance(time.Millisecond)
		b.ok("GET", "foo")
		s.advance(5 * time.Second)
		s.only()
	})
	t.Run("attempts run out, then the slot map is reloaded", func(t *testing.T) {
		// go-redis counts every retry against MaxRedirects: a command that
		// failed through a failover can get its MOVED on its last attempt
		// and return it; the client reloads CLUSTER SLOTS at once.
		s := newSim(t, nil)
		c := s.conn(0, "go-redis(app,go1.26)", "9.23.0", "")
		c.do(cmdSpec{name: "SET", key: "foo", reply: '-', err: moved(slotOf("foo"), 7002)})
		s.advance(200 * time.Millisecond)
		c.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
		s.advance(5 * time.Second)
		s.only()
	})
	t.Run("sent again to the slot's newer owner", func(t *testing.T) {
		// ioredis refreshed its map meanwhile and sent the command where
		// the slot is now: it did not give up on it.
		s := newSim(t, nil)
		a, b, r := s.conn(1, "ioredis", "5", ""), s.conn(2, "ioredis", "5", ""), s.conn(4, "ioredis", "5", "ioredis-cluster(refresher)")
		a.do(cmdSpec{name: "INCR", key: "k", reply: '-', err: moved(slotOf("k"), 7001)})
		r.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
		s.advance(50 * time.Millisecond)
		b.do(cmdSpec{name: "INCR", key: "k", reply: ':'})
		s.advance(3 * time.Second)
		s.only()
	})
	t.Run("target down", func(t *testing.T) {
		s := newSim(t, nil)
		s.fault = []FaultWindow{{ID: "f1", Action: "down", Nodes: []string{s.nodes[1].Addr}, Start: s.now}}
		c := s.conn(0, "", "", "")
		c.do(cmdSpec{name: "GET", key: "foo", reply: '-', err: moved(slotOf("foo"), 7002)})
		s.advance(5 * time.Second)
		s.only()
	})
}

func TestStaleSlotMap(t *testing.T) {
	run := func(t *testing.T, refresh bool) *sim {
		s := newSim(t, nil)
		a, b := s.conn(0, "lettuce", "6.1", ""), s.conn(1, "lettuce", "6.1", "")
		for i := 0; i < 3; i++ {
			key := "k" + itoa(i) + "{x}"
			a.do(cmdSpec{name: "GET", key: key, reply: '-', err: moved(slotOf(key), 7002)})
			s.advance(time.Millisecond)
			b.ok("GET", key)
			if refresh {
				b.ok("CLUSTER", "")
			}
			s.advance(time.Second)
		}
		return s
	}
	t.Run("no refresh", func(t *testing.T) {
		s := run(t, false)
		f := s.want(RuleStaleSlotMap, 1)
		if !strings.Contains(f.Remedy, "enableAllAdaptiveRefreshTriggers") {
			t.Fatalf("Lettuce remedy: %q", f.Remedy)
		}
		s.only(RuleStaleSlotMap)
	})
	t.Run("refreshes", func(t *testing.T) {
		s := newSim(t, nil)
		a, b := s.conn(0, "go-redis", "9", ""), s.conn(1, "go-redis", "9", "")
		for i := 0; i < 4; i++ {
			key := "k" + itoa(i) + "{x}"
			a.do(cmdSpec{name: "GET", key: key, reply: '-', err: moved(slotOf(key), 7002)})
			b.ok("GET", key)
			b.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
			s.advance(time.Second)
		}
		s.only()
	})
	t.Run("a client without a slot map", func(t *testing.T) {
		// A plain client sends every key to one node: the same MOVED again
		// and again. Its map (none) is stale, and it never follows.
		s := newSim(t, nil)
		a := s.conn(0, "rueidis", "1.0.80", "")
		for i := 0; i < 4; i++ {
			a.do(cmdSpec{name: "GET", key: "k{x}", reply: '-', err: moved(slotOf("k{x}"), 7002)})
			s.advance(500 * time.Millisecond)
		}
		s.want(RuleStaleSlotMap, 1)
		s.want(RuleMovedIgnored, 1)
	})
	t.Run("one process per command", func(t *testing.T) {
		// redis-cli -c in a loop: each run connects, gets MOVED, follows
		// it and exits. No slot map to keep up to date.
		s := newSim(t, nil)
		for i := 0; i < 6; i++ {
			a := s.conn(0, "", "", "")
			a.do(cmdSpec{name: "GET", key: "k{x}", reply: '-', err: moved(slotOf("k{x}"), 7002)})
			a.close("client closed")
			b := s.conn(1, "", "", "")
			b.ok("GET", "k{x}")
			b.close("client closed")
			s.advance(300 * time.Millisecond)
		}
		s.only()
	})
	t.Run("refresher on its own connection", func(t *testing.T) {
		// ioredis reads the topology on a connection of its own, named by
		// the library: its reads are the data connections' client's.
		s := newSim(t, nil)
		a, b := s.conn(0, "ioredis", "5.11.1", ""), s.conn(1, "ioredis", "5.11.1", "")
		r := s.conn(4, "ioredis", "5.11.1", "ioredis-cluster(refresher)")
		for i := 0; i < 4; i++ {
			key := "k" + itoa(i) + "{x}"
			a.do(cmdSpec{name: "GET", key: key, reply: '-', err: moved(slotOf(key), 7002)})
			b.ok("GET", key)
			r.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
			s.advance(time.Second)
		}
		s.only()
		if cs := s.k.Clients(); len(cs) != 1 || cs[0].Name != "" || cs[0].Connects != 3 {
			t.Fatalf("clients %+v", cs)
		}
	})
}

func TestAsk(t *testing.T) {
	t.Run("without ASKING", func(t *testing.T) {
		s := newSim(t, nil)
		a, b := s.conn(0, "", "", ""), s.conn(1, "", "", "")
		slot := slotOf("foo")
		a.do(cmdSpec{name: "GET", key: "foo", reply: '-', err: ask(slot, 7002)})
		b.do(cmdSpec{name: "GET", key: "foo", reply: '-', err: moved(slot, 7001)})
		s.want(RuleAskWithoutAsking, 1)
	})
	t.Run("with ASKING, then map updated", func(t *testing.T) {
		s := newSim(t, nil)
		a, b := s.conn(0, "jedis", "2.9", ""), s.conn(1, "jedis", "2.9", "")
		slot := slotOf("{t}a")
		a.do(cmdSpec{name: "GET", key: "{t}a", reply: '-', err: ask(slot, 7002)})
		b.ok("ASKING", "")
		b.ok("GET", "{t}a")
		s.want(RuleAskWithoutAsking, 0)
		s.advance(100 * time.Millisecond)
		b.do(cmdSpec{name: "GET", key: "{t}b", reply: '-', err: moved(slot, 7001)})
		f := s.want(RuleAskUpdatesMap, 1)
		if !strings.Contains(f.Remedy, "jedis #716") {
			t.Fatalf("remedy %q", f.Remedy)
		}
	})
	t.Run("correct", func(t *testing.T) {
		s := newSim(t, nil)
		a, b := s.conn(0, "go-redis", "9", ""), s.conn(1, "go-redis", "9", "")
		slot := slotOf("{t}a")
		a.do(cmdSpec{name: "GET", key: "{t}a", reply: '-', err: ask(slot, 7002)})
		b.ok("ASKING", "")
		b.ok("GET", "{t}a")
		a.ok("GET", "{t}b") // the slot still belongs to the source
		s.advance(5 * time.Second)
		s.only()
	})
}

func TestTopologyRefreshStorm(t *testing.T) {
	t.Run("rate", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "redis-py", "5.0", "")
		for i := 0; i < 8; i++ {
			c.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
			s.advance(time.Second)
		}
		f := s.want(RuleTopologyRefreshStorm, 1)
		if !strings.Contains(f.Remedy, "redis-py #4074") {
			t.Fatalf("remedy %q", f.Remedy)
		}
	})
	t.Run("one per error", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "", "", "")
		for i := 0; i < 10; i++ {
			c.do(cmdSpec{name: "GET", key: "k", reply: '-', err: "CLUSTERDOWN The cluster is down"})
			s.advance(300 * time.Millisecond)
			c.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
		}
		s.want(RuleTopologyRefreshStorm, 1)
	})
	t.Run("start-up discovery, then a read per rebuild", func(t *testing.T) {
		// ioredis reads the slots from two nodes as it starts, then the
		// app rebuilds it every 2 s: five reads in 10 s after start-up.
		s := newSim(t, nil)
		r := s.conn(0, "ioredis", "5.9.2", "ioredis-cluster(refresher):app")
		r.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
		s.advance(230 * time.Millisecond)
		r.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
		for i := 0; i < 5; i++ {
			s.advance(2100 * time.Millisecond)
			r.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
		}
		s.only()
	})
	t.Run("a few errors, a few reads", func(t *testing.T) {
		// A client that stops after a few errors (a circuit breaker) and
		// re-reads the topology with each: five reads in 10 s is no storm.
		s := newSim(t, nil)
		c := s.conn(0, "", "", "")
		for i := 0; i < 6; i++ {
			c.do(cmdSpec{name: "GET", key: "k", reply: '-', err: "CLUSTERDOWN The cluster is down"})
			if i < 5 {
				s.advance(time.Second)
				c.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
			}
		}
		s.only()
	})
	t.Run("periodic", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "", "", "")
		for i := 0; i < 20; i++ {
			c.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
			c.ok("GET", "k")
			s.advance(5 * time.Second)
		}
		s.only()
	})
}

func TestReconnectStorm(t *testing.T) {
	t.Run("tight loop", func(t *testing.T) {
		s := newSim(t, nil)
		for i := 0; i < 40; i++ {
			c := s.conn(3, "", "", "")
			c.close("fault: f1")
			s.advance(50 * time.Millisecond)
		}
		f := s.want(RuleReconnectStorm, 1)
		if f.Nodes[0] != s.nodes[3].Addr {
			t.Fatalf("nodes %v", f.Nodes)
		}
	})
	t.Run("upstream unreachable is not judged", func(t *testing.T) {
		// The proxy accepted what the real node would have refused; a
		// client's reaction to that says nothing about its reconnects.
		s := newSim(t, nil)
		for i := 0; i < 40; i++ {
			c := s.conn(3, "go-redis", "9", "")
			c.close("upstream unreachable: dial tcp 10.0.0.1:30004: connect: connection refused")
			s.advance(5 * time.Millisecond)
		}
		s.only()
	})
	t.Run("constant gaps", func(t *testing.T) {
		s := newSim(t, nil)
		for i := 0; i < 7; i++ {
			c := s.conn(3, "", "", "")
			c.close("fault: down")
			s.advance(300 * time.Millisecond)
		}
		s.want(RuleReconnectStorm, 1)
	})
	t.Run("attempts to a hung node", func(t *testing.T) {
		// Each new connection's first command is held; the client gives
		// up after 20 ms and dials again: 44 attempts a second.
		s := newSim(t, nil)
		for i := 0; i < 150; i++ {
			c := s.conn(0, "node-redis", "4.7.0", "")
			c.held("PING", "")
			s.advance(20 * time.Millisecond)
			c.close("client closed")
			s.advance(3 * time.Millisecond)
		}
		f := s.want(RuleReconnectStorm, 1)
		if !strings.Contains(f.Evidence[len(f.Evidence)-1].Note, "above the rate limit") {
			t.Fatalf("evidence %v", f.Evidence)
		}
	})
	t.Run("concurrent callers, each after its timeout", func(t *testing.T) {
		// Four callers, each retrying after its 1 s timeout: even gaps of
		// 250 ms, four attempts a second. Not a storm.
		s := newSim(t, nil)
		var conns [4]*simConn
		for r := 0; r < 10; r++ {
			for i := range conns {
				if conns[i] != nil {
					conns[i].close("client closed")
				}
				conns[i] = s.conn(0, "go-redis", "9", "")
				conns[i].held("GET", "k")
				s.advance(250 * time.Millisecond)
			}
		}
		s.only(RuleNoCommandTimeout)
		s.want(RuleNoCommandTimeout, 0)
	})
	t.Run("exponential backoff", func(t *testing.T) {
		s := newSim(t, nil)
		gap := 50 * time.Millisecond
		for i := 0; i < 10; i++ {
			c := s.conn(3, "", "", "")
			c.close("fault: f1")
			s.advance(gap)
			gap *= 2
		}
		s.only()
	})
}

func TestNoBackoffRetry(t *testing.T) {
	t.Run("immediate", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "", "", "")
		for i := 0; i < 30; i++ {
			c.do(cmdSpec{name: "SET", key: "k", reply: '-', err: "TRYAGAIN Multiple keys request during rehashing of slot", lat: time.Millisecond})
			s.advance(2 * time.Millisecond)
		}
		s.want(RuleNoBackoffRetry, 1)
	})
	t.Run("backoff", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "", "", "")
		for i := 0; i < 30; i++ {
			c.do(cmdSpec{name: "SET", key: "k", reply: '-', err: "CLUSTERDOWN The cluster is down", lat: time.Millisecond})
			s.advance(time.Millisecond + 15*time.Millisecond)
		}
		s.only(RuleTopologyRefreshStorm)
	})
}

func TestNoCommandTimeout(t *testing.T) {
	t.Run("held", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "ioredis", "5", "")
		c.held("GET", "k")
		s.advance(9 * time.Second)
		s.want(RuleNoCommandTimeout, 0)
		s.advance(2 * time.Second)
		f := s.want(RuleNoCommandTimeout, 1)
		if !strings.Contains(f.Remedy, "commandTimeout") {
			t.Fatalf("remedy %q", f.Remedy)
		}
	})
	t.Run("client moves on", func(t *testing.T) {
		s := newSim(t, nil)
		for i := 0; i < 5; i++ {
			c := s.conn(0, "", "", "")
			c.held("GET", "k")
			s.advance(3 * time.Second)
		}
		// the latest connection is held, but it is younger than the limit
		s.only()
	})
	t.Run("closed after waiting the whole threshold", func(t *testing.T) {
		// rueidis's default: a connection without a reply for 10 s is
		// closed. Ten seconds is no command timeout.
		s := newSim(t, nil)
		c := s.conn(0, "rueidis", "1.0.80", "")
		c.held("GET", "k")
		s.advance(10*time.Second + 20*time.Millisecond)
		c.close("client closed")
		s.want(RuleNoCommandTimeout, 1)
	})
	t.Run("callers stuck together on one connection", func(t *testing.T) {
		// A client that multiplexes callers on one connection per node,
		// without a timeout: every caller gets stuck within moments.
		s := newSim(t, nil)
		c := s.conn(0, "ioredis", "5", "")
		c.held("GET", "k")
		for i := 0; i < 3; i++ {
			s.advance(20 * time.Millisecond)
			c.held("GET", "k"+itoa(i))
		}
		s.advance(11 * time.Second)
		s.want(RuleNoCommandTimeout, 1)
	})
	t.Run("a command timeout that keeps the connection", func(t *testing.T) {
		// ioredis's commandTimeout: each call gives up after 1 s and the
		// application sends the next one on the same connection.
		s := newSim(t, nil)
		c := s.conn(0, "ioredis", "5", "")
		start := s.now
		for i := 0; i < 15; i++ {
			c.held("GET", "k"+itoa(i))
			s.advance(time.Second)
		}
		s.tick()
		// The hang ends: the queue is answered, and the connection used again.
		for i := 0; i < 15; i++ {
			c.do(cmdSpec{name: "GET", key: "k" + itoa(i), reply: '$', lat: s.now.Sub(start) - time.Duration(i)*time.Second,
				raw: "GET  k" + itoa(i)})
		}
		s.advance(time.Millisecond)
		c.ok("GET", "x")
		s.only()
	})
	t.Run("gave up and closed, then the last attempt waits", func(t *testing.T) {
		// The client times out after 1 s and closes (go-redis with a read
		// timeout), reconnects a few times, then stops trying while its
		// last connection's handshake is held. It has a timeout.
		s := newSim(t, nil)
		for i := 0; i < 3; i++ {
			c := s.conn(0, "go-redis", "9", "")
			c.held("HELLO", "")
			s.advance(time.Second)
			c.close("client closed")
		}
		last := s.conn(0, "go-redis", "9", "")
		last.held("HELLO", "")
		s.advance(15 * time.Second)
		s.only()
	})
	t.Run("slow reply then reuse", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "", "", "")
		c.do(cmdSpec{name: "GET", key: "k", reply: '$', lat: 12 * time.Second})
		s.advance(12*time.Second + time.Millisecond)
		c.ok("GET", "k")
		s.want(RuleNoCommandTimeout, 1)
	})
	t.Run("blocking command", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "", "", "")
		c.do(cmdSpec{name: "BLPOP", key: "q", reply: '*', lat: 30 * time.Second})
		s.advance(30*time.Second + time.Millisecond)
		c.ok("GET", "k")
		s.only()
	})
}

func TestUnsafeRetry(t *testing.T) {
	t.Run("after reset", func(t *testing.T) {
		s := newSim(t, nil)
		a := s.conn(0, "go-redis", "9", "")
		a.do(cmdSpec{name: "INCR", key: "counter", reason: "no reply: fault: reset"})
		a.close("fault: reset")
		s.advance(20 * time.Millisecond)
		b := s.conn(0, "go-redis", "9", "")
		b.do(cmdSpec{name: "INCR", key: "counter", reply: ':'})
		f := s.want(RuleUnsafeRetry, 1)
		if len(f.Evidence) != 2 || f.Evidence[0].Reply != "none" {
			t.Fatalf("evidence %+v", f.Evidence)
		}
	})
	t.Run("after hold", func(t *testing.T) {
		s := newSim(t, nil)
		a := s.conn(0, "", "", "")
		a.held("LPUSH", "q")
		s.advance(time.Second)
		b := s.conn(0, "", "", "")
		b.held("LPUSH", "q")
		s.want(RuleUnsafeRetry, 1)
	})
	t.Run("gave up on a late reply", func(t *testing.T) {
		s := newSim(t, nil)
		a, b := s.conn(0, "", "", ""), s.conn(0, "", "", "")
		start := s.now
		s.advance(time.Second) // the client times out after 1s and resends on b
		b.do(cmdSpec{name: "XADD", key: "s", reply: '$', lat: 2 * time.Second})
		s.now = start
		a.do(cmdSpec{name: "XADD", key: "s", reply: '$', lat: 2 * time.Second})
		s.advance(2 * time.Second)
		a.close("client closed")
		s.want(RuleUnsafeRetry, 1)
	})
	t.Run("timed out as the late reply came", func(t *testing.T) {
		// go-redis under latency: its 500 ms read timeout ends the
		// connection just as the reply comes; it resends on another.
		s := newSim(t, nil)
		a, b := s.conn(0, "go-redis", "9", ""), s.conn(0, "go-redis", "9", "")
		a.do(cmdSpec{name: "INCR", key: "k", reply: ':', lat: 560 * time.Millisecond})
		s.advance(564 * time.Millisecond)
		a.close("client closed")
		s.advance(23 * time.Millisecond)
		b.do(cmdSpec{name: "INCR", key: "k", reply: ':'})
		s.want(RuleUnsafeRetry, 1)
	})
	t.Run("closed long after the reply", func(t *testing.T) {
		// A pool closing an idle connection, then the next increment.
		s := newSim(t, nil)
		a, b := s.conn(0, "go-redis", "9", ""), s.conn(0, "go-redis", "9", "")
		a.do(cmdSpec{name: "INCR", key: "k", reply: ':', lat: 200 * time.Millisecond})
		s.advance(2 * time.Second)
		a.close("client closed")
		s.advance(20 * time.Millisecond)
		b.do(cmdSpec{name: "INCR", key: "k", reply: ':'})
		s.only()
	})
	t.Run("held longer than the retry window", func(t *testing.T) {
		// The copy comes 5.2s after the first was held, on the promoted
		// replica: the first is still held, so its outcome is still unknown.
		s := newSim(t, nil)
		a := s.conn(0, "ioredis", "5", "")
		a.held("INCR", "k1")
		s.advance(5234 * time.Millisecond)
		b := s.conn(3, "ioredis", "5", "")
		b.do(cmdSpec{name: "INCR", key: "k1", reply: ':', raw: "INCR  k1"})
		s.want(RuleUnsafeRetry, 1)
	})
	t.Run("pipelined behind a hang, seen after the copy", func(t *testing.T) {
		// INCR k2 was pipelined behind the held INCR k1: the proxy reports
		// it only when the hang ends, after the copy the client sent on
		// another connection meanwhile.
		s := newSim(t, nil)
		a := s.conn(0, "ioredis", "5", "")
		start := s.now
		a.held("INCR", "k1")
		s.advance(5 * time.Second)
		b := s.conn(3, "ioredis", "5", "")
		b.do(cmdSpec{name: "INCR", key: "k2", reply: ':'})
		s.advance(5 * time.Second) // the hang ends: a's queue is answered
		s.now = start
		a.do(cmdSpec{name: "INCR", key: "k1", reply: ':', lat: 10 * time.Second, raw: "INCR  k1"})
		a.do(cmdSpec{name: "INCR", key: "k2", reply: ':', lat: 10 * time.Second, queued: 1})
		f := s.want(RuleUnsafeRetry, 1)
		if f.Evidence[0].Key != "k2" || f.Evidence[0].Conn != a.info.ID || f.Evidence[1].Conn != b.info.ID {
			t.Fatalf("evidence %+v", f.Evidence)
		}
	})
	t.Run("resent on the same connection", func(t *testing.T) {
		// A command timeout that keeps the connection (ioredis's
		// commandTimeout): the copy queues behind the first.
		s := newSim(t, nil)
		a := s.conn(0, "ioredis", "5", "")
		a.held("INCR", "k3")
		s.advance(time.Second)
		a.held("INCR", "k3")
		f := s.want(RuleUnsafeRetry, 1)
		if !f.Possible || f.Severity != Medium {
			t.Fatalf("a copy on the same connection (maybe another caller's): %s, possible %v", f.Severity, f.Possible)
		}
		// A copy on another connection later confirms it.
		b := s.conn(0, "ioredis", "5", "")
		a.held("INCR", "k4")
		s.advance(time.Second)
		b.held("INCR", "k4")
		if f := s.want(RuleUnsafeRetry, 1); f.Possible || f.Severity != High || f.Count != 2 {
			t.Fatalf("confirmed: %s, possible %v, count %d", f.Severity, f.Possible, f.Count)
		}
	})
	t.Run("concurrent counters", func(t *testing.T) {
		// Many callers increment one counter: identical commands, answered
		// at once, even under latency.
		s := newSim(t, nil)
		a, b := s.conn(0, "", "", ""), s.conn(0, "", "", "")
		for i := 0; i < 50; i++ {
			a.do(cmdSpec{name: "INCR", key: "views", reply: ':', lat: 150 * time.Millisecond})
			s.advance(30 * time.Millisecond)
			b.do(cmdSpec{name: "INCR", key: "views", reply: ':', lat: 150 * time.Millisecond})
			a.do(cmdSpec{name: "INCR", key: "views", reply: ':', lat: 150 * time.Millisecond, queued: 1})
		}
		s.only()
	})
	t.Run("safe errors and idempotent commands", func(t *testing.T) {
		s := newSim(t, nil)
		a := s.conn(0, "", "", "")
		a.do(cmdSpec{name: "INCR", key: "c", reply: '-', err: "CLUSTERDOWN The cluster is down"})
		s.advance(50 * time.Millisecond)
		a.do(cmdSpec{name: "INCR", key: "c", reply: ':'})
		a.do(cmdSpec{name: "SET", key: "k", reason: "no reply: node down"})
		a.close("node down")
		b := s.conn(0, "", "", "")
		b.ok("SET", "k")
		b.do(cmdSpec{name: "INCR", key: "c", reply: ':'}) // a second increment, not a retry
		s.only()
	})
}

func TestHealthCheckFanout(t *testing.T) {
	s := newSim(t, nil)
	var conns []*simConn
	for i := range s.nodes {
		conns = append(conns, s.conn(i, "lettuce", "6", "health"))
	}
	for r := 0; r < 6; r++ {
		for _, c := range conns {
			c.do(cmdSpec{name: "CLUSTER", sub: "INFO", reply: '$'})
		}
		s.advance(time.Second)
	}
	s.want(RuleHealthCheckFanout, 1)

	s2 := newSim(t, nil)
	c := s2.conn(0, "", "", "")
	for r := 0; r < 20; r++ {
		c.ok("PING", "")
		s2.advance(500 * time.Millisecond)
	}
	s2.only()

	// A keepalive: every idle connection (here a replica's, the masters'
	// being busy) pings once a second. Not a health check.
	s3 := newSim(t, nil)
	conns = nil
	for i := range s3.nodes {
		conns = append(conns, s3.conn(i, "rueidis", "1.0.80", ""))
	}
	for r := 0; r < 40; r++ {
		for i, c := range conns {
			if i < 3 {
				c.ok("GET", "k")
			} else if r%4 == 0 {
				c.ok("PING", "")
			}
		}
		s3.advance(250 * time.Millisecond)
	}
	s3.only()

	// The same PINGs every 250 ms on every node: a health check.
	s4 := newSim(t, nil)
	conns = nil
	for i := range s4.nodes {
		conns = append(conns, s4.conn(i, "go-redis", "9", ""))
	}
	for r := 0; r < 40; r++ {
		for _, c := range conns {
			c.ok("PING", "")
		}
		s4.advance(250 * time.Millisecond)
	}
	s4.want(RuleHealthCheckFanout, 1)
}

func TestRestartOnSingleFault(t *testing.T) {
	run := func(t *testing.T, faulted int) *sim {
		s := newSim(t, nil)
		var conns []*simConn
		for i := 0; i < 6; i++ {
			c := s.conn(i, "jedis", "5", "app")
			c.ok("SET", "k"+itoa(i))
			conns = append(conns, c)
		}
		var nodes []string
		for i := 0; i < faulted; i++ {
			nodes = append(nodes, s.nodes[3+i].Addr)
		}
		s.fault = []FaultWindow{{ID: "f", Action: "down", Nodes: nodes, Start: s.now}}
		s.advance(time.Second)
		for _, c := range conns {
			c.close("client closed")
			s.advance(10 * time.Millisecond)
		}
		s.advance(2 * time.Second)
		c := s.conn(0, "jedis", "5", "app")
		c.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
		return s
	}
	s := run(t, 1)
	s.want(RuleRestartOnSingleFault, 1)
	s = run(t, 3) // a large outage: restarting is not the client's bug
	s.only()

	t.Run("new client before the old one closes", func(t *testing.T) {
		// The application builds its new client, then closes the old
		// one: the new connections (working at once) open before the old
		// ones close.
		s := newSim(t, nil)
		var old []*simConn
		for i := 0; i < 3; i++ {
			c := s.conn(i, "rueidis", "1.0.80", "")
			c.ok("SET", "k"+itoa(i))
			old = append(old, c)
		}
		s.fault = []FaultWindow{{ID: "f", Action: "down", Nodes: []string{s.nodes[4].Addr}, Start: s.now}}
		s.advance(time.Second)
		s.conn(1, "rueidis", "1.0.80", "").do(cmdSpec{name: "CLUSTER", sub: "SHARDS", reply: '*'})
		for i := 0; i < 3; i++ {
			c := s.conn(i, "rueidis", "1.0.80", "")
			c.ok("GET", "k"+itoa(i))
		}
		s.advance(8 * time.Millisecond)
		for _, c := range old {
			c.close("client closed")
			s.advance(2 * time.Millisecond)
		}
		s.want(RuleRestartOnSingleFault, 1)
	})
	t.Run("new client, the old one left open", func(t *testing.T) {
		// redis-py's RedisCluster rebuilt on a failed health check: the new
		// instance reads the topology and connects to every master while
		// the old connections stay open (left to the garbage collector).
		s := newSim(t, nil)
		for i := 0; i < 3; i++ {
			c := s.conn(i, "", "", "app")
			c.ok("SET", "k"+itoa(i))
		}
		s.fault = []FaultWindow{{ID: "f", Action: "down", Nodes: []string{s.nodes[4].Addr}, Start: s.now}}
		s.advance(3 * time.Second)
		boot := s.conn(0, "", "", "app")
		boot.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
		boot.close("client closed")
		for i := 0; i < 3; i++ {
			c := s.conn(i, "", "", "app")
			c.ok("GET", "k"+itoa(i))
			s.advance(20 * time.Millisecond)
		}
		f := s.want(RuleRestartOnSingleFault, 1)
		if !strings.Contains(f.Evidence[0].Note, "3 of the 3 nodes") {
			t.Fatalf("evidence %v", f.Evidence)
		}
	})
	t.Run("a failover adds the promoted node", func(t *testing.T) {
		s := newSim(t, nil)
		for i := 0; i < 3; i++ {
			c := s.conn(i, "go-redis", "9", "")
			c.ok("SET", "k"+itoa(i))
		}
		s.fault = []FaultWindow{{ID: "f", Action: "down", Nodes: []string{s.nodes[0].Addr}, Start: s.now}}
		s.advance(3 * time.Second)
		c := s.conn(1, "go-redis", "9", "")
		c.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
		for _, i := range []int{3, 1, 2} { // the promoted replica, and the pools growing
			c := s.conn(i, "go-redis", "9", "")
			c.ok("GET", "k"+itoa(i))
			s.advance(300 * time.Millisecond)
		}
		s.only()
	})
	t.Run("the library reconnects by itself", func(t *testing.T) {
		// node-redis drops and reopens every node connection on its own,
		// keeping its slot map: no topology read on a new connection.
		s := newSim(t, nil)
		var old []*simConn
		for i := 0; i < 3; i++ {
			c := s.conn(i, "node-redis", "4.7.0", "")
			c.ok("SET", "k"+itoa(i))
			old = append(old, c)
		}
		s.fault = []FaultWindow{{ID: "f", Action: "down", Nodes: []string{s.nodes[4].Addr}, Start: s.now}}
		s.advance(3 * time.Second)
		for _, c := range old {
			c.close("client closed")
			s.advance(20 * time.Millisecond)
		}
		for i := 0; i < 3; i++ {
			c := s.conn(i, "node-redis", "4.7.0", "")
			c.ok("CLIENT", "")
			c.ok("GET", "k"+itoa(i))
		}
		s.advance(3 * time.Second)
		s.only()
	})
	t.Run("one connection replaced", func(t *testing.T) {
		// A client that replaces the connection it lost: not a restart.
		s := newSim(t, nil)
		var conns []*simConn
		for i := 0; i < 6; i++ {
			c := s.conn(i, "rueidis", "1.0.80", "")
			c.ok("SET", "k"+itoa(i))
			conns = append(conns, c)
		}
		s.fault = []FaultWindow{{ID: "f", Action: "down", Nodes: []string{s.nodes[4].Addr}, Start: s.now}}
		conns[4].close("node down")
		s.advance(time.Second)
		conns[0].close("client closed")
		c := s.conn(0, "rueidis", "1.0.80", "")
		c.ok("GET", "k0")
		s.only()
	})
}

func TestFullCoverageRequired(t *testing.T) {
	run := func(t *testing.T, keepServing bool, tweak func(*Config)) *sim {
		s := newSim(t, tweak)
		a, b := s.conn(0, "redis-py", "5", ""), s.conn(1, "redis-py", "5", "")
		for i := 0; i < 20; i++ {
			a.ok("GET", "a"+itoa(i))
			b.ok("GET", "b"+itoa(i))
			s.advance(100 * time.Millisecond)
		}
		// Shard 0 (node 0 and its replica 3) goes down.
		s.fault = []FaultWindow{{ID: "f", Action: "down", Nodes: []string{s.nodes[0].Addr, s.nodes[3].Addr}, Start: s.now}}
		a.close("node down")
		s.tick()
		for i := 0; i < 80; i++ {
			if keepServing {
				b.ok("GET", "b"+itoa(i))
			} else {
				b.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
			}
			s.advance(100 * time.Millisecond)
		}
		s.tick()
		return s
	}
	f := run(t, false, nil).want(RuleFullCoverage, 1)
	if !strings.Contains(f.Remedy, "require_full_coverage=False") {
		t.Fatalf("remedy %q", f.Remedy)
	}
	run(t, true, nil).only()
	// A client that goes silent (a circuit breaker that stops all work on
	// the first error): the live shards are not served either.
	s0 := newSim(t, nil)
	a0, b0 := s0.conn(0, "go-redis", "9", ""), s0.conn(1, "go-redis", "9", "")
	for i := 0; i < 20; i++ {
		a0.ok("GET", "a"+itoa(i))
		b0.ok("GET", "b"+itoa(i))
		s0.advance(100 * time.Millisecond)
	}
	s0.fault = []FaultWindow{{ID: "f", Action: "down", Nodes: []string{s0.nodes[0].Addr, s0.nodes[3].Addr}, Start: s0.now}}
	a0.close("node down")
	s0.tick()
	s0.advance(8 * time.Second)
	s0.want(RuleFullCoverage, 1)
	// A client that serves the live shards for a while, then stops (a
	// breaker that opens after a few errors): the silence counts from its
	// last answered command.
	s1 := newSim(t, nil)
	a1, b1 := s1.conn(0, "go-redis", "9", ""), s1.conn(1, "go-redis", "9", "")
	for i := 0; i < 20; i++ {
		a1.ok("GET", "a"+itoa(i))
		b1.ok("GET", "b"+itoa(i))
		s1.advance(100 * time.Millisecond)
	}
	s1.fault = []FaultWindow{{ID: "f", Action: "down", Nodes: []string{s1.nodes[0].Addr, s1.nodes[3].Addr}, Start: s1.now}}
	a1.close("node down")
	s1.tick()
	for i := 0; i < 30; i++ {
		b1.ok("GET", "b"+itoa(i))
		s1.advance(100 * time.Millisecond)
	}
	s1.tick()
	s1.advance(4 * time.Second)
	s1.want(RuleFullCoverage, 0)
	s1.advance(1500 * time.Millisecond)
	s1.want(RuleFullCoverage, 1)
	// cluster-require-full-coverage yes: every shard answers CLUSTERDOWN,
	// no client can serve any slot; not the client's doing.
	run(t, false, func(c *Config) { c.FullCoverage = func() bool { return true } }).only(RuleTopologyRefreshStorm)

	// Without the setting, the replies tell: the live shard answers
	// "CLUSTERDOWN The cluster is down".
	s := newSim(t, nil)
	a, b := s.conn(0, "redis-py", "5", ""), s.conn(1, "redis-py", "5", "")
	for i := 0; i < 20; i++ {
		a.ok("GET", "a"+itoa(i))
		b.ok("GET", "b"+itoa(i))
		s.advance(100 * time.Millisecond)
	}
	s.fault = []FaultWindow{{ID: "f", Action: "down", Nodes: []string{s.nodes[0].Addr, s.nodes[3].Addr}, Start: s.now}}
	a.close("node down")
	s.tick()
	for i := 0; i < 80; i++ {
		if i < 10 {
			b.do(cmdSpec{name: "GET", key: "b" + itoa(i), reply: '-', err: "CLUSTERDOWN The cluster is down"})
		} else {
			b.do(cmdSpec{name: "CLUSTER", sub: "SLOTS", reply: '*'})
		}
		s.advance(100 * time.Millisecond)
	}
	s.only(RuleTopologyRefreshStorm)
}

func TestUnboundedPipeline(t *testing.T) {
	s := newSim(t, nil)
	c := s.conn(0, "", "", "")
	c.do(cmdSpec{name: "GET", key: "k", reply: '$', queued: 1500})
	c.do(cmdSpec{name: "GET", key: "k", reply: '$', queued: 1501})
	f := s.want(RuleUnboundedPipeline, 1)
	if f.Count != 1 {
		t.Fatalf("count %d", f.Count)
	}
	// Replay after a reconnect.
	s = newSim(t, nil)
	a := s.conn(0, "ioredis", "5", "")
	a.ok("GET", "k")
	a.close("fault: reset")
	s.advance(100 * time.Millisecond)
	b := s.conn(0, "ioredis", "5", "")
	b.do(cmdSpec{name: "SET", key: "k", reply: '+', queued: 300})
	s.want(RuleUnboundedPipeline, 1)
	// A sane pipeline.
	s = newSim(t, nil)
	c = s.conn(0, "", "", "")
	for i := 0; i < 16; i++ {
		c.do(cmdSpec{name: "GET", key: "k", reply: '$', queued: i})
	}
	s.only()
}

func TestWriteToReplica(t *testing.T) {
	s := newSim(t, nil)
	s.tick() // roles from the node source
	c := s.conn(4, "", "", "")
	c.do(cmdSpec{name: "SET", key: "k", reply: '-', err: moved(slotOf("k"), 7001)})
	s.want(RuleWriteToReplica, 1)
	// After a failover the old master is back as a replica: a client that
	// lost it to the fault still has it in its slot map for a moment.
	s = newSim(t, nil)
	s.tick()
	c = s.conn(4, "go-redis", "9", "")
	c.close("node down")
	s.advance(3 * time.Second)
	c = s.conn(4, "go-redis", "9", "")
	c.do(cmdSpec{name: "SET", key: "k", reply: '-', err: moved(slotOf("k"), 7001)})
	s.want(RuleWriteToReplica, 0)
	// … but not with READONLY: that is replica routing applied to writes.
	c = s.conn(4, "go-redis", "9", "")
	c.ok("READONLY", "")
	c.info.Readonly = true // as the proxy marks the connection
	c.do(cmdSpec{name: "SET", key: "k", reply: '-', err: moved(slotOf("k"), 7001)})
	s.want(RuleWriteToReplica, 1)
	// The client never had a connection to the old master while it was
	// down (its dials were refused, which the proxy does not see): the
	// fault tells that the node's role may have changed.
	s = newSim(t, nil)
	s.fault = []FaultWindow{{ID: "f", Action: "down", Nodes: []string{s.nodes[4].Addr}, Start: s.now, End: s.now.Add(10 * time.Second)}}
	s.tick()
	s.advance(12 * time.Second)
	c = s.conn(4, "node-redis", "5.12.4", "")
	c.do(cmdSpec{name: "SET", key: "k", reply: '-', err: moved(slotOf("k"), 7001)})
	s.want(RuleWriteToReplica, 0)
	// Reads on a replica are fine.
	s = newSim(t, nil)
	s.tick()
	c = s.conn(4, "", "", "")
	c.ok("READONLY", "")
	c.ok("GET", "k")
	s.only()
}

func TestCommandRules(t *testing.T) {
	s := newSim(t, nil)
	c := s.conn(0, "go-redis", "9", "")
	c.do(cmdSpec{name: "SELECT", reply: '-', err: "ERR SELECT is not allowed in cluster mode"})
	c.do(cmdSpec{name: "SELECT", reply: '+'}) // SELECT 0
	c.ok("KEYS", "")
	c.do(cmdSpec{name: "CONFIG", sub: "SET", reply: '+'})
	c.do(cmdSpec{name: "CONFIG", sub: "GET", reply: '*'})
	for i := 0; i < 2; i++ {
		c.do(cmdSpec{name: "MGET", key: "a", reply: '-', err: "CROSSSLOT Keys in request don't hash to the same slot"})
	}
	s.want(RuleCrossSlot, 0)
	c.do(cmdSpec{name: "MGET", key: "a", reply: '-', err: "CROSSSLOT Keys in request don't hash to the same slot"})
	s.want(RuleCrossSlot, 1)
	if f := s.want(RuleSelectNonzero, 1); f.Count != 1 {
		t.Fatalf("select count %d", f.Count)
	}
	if f := s.want(RuleDangerousCommand, 1); f.Count != 2 {
		t.Fatalf("dangerous count %d", f.Count)
	}
}

func TestReplyDesyncRisk(t *testing.T) {
	t.Run("timed out handshake reused", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "app", "1", "")
		// PING held for 1s; the client gave up and sent GET, which the proxy
		// read while the PING's reply was outstanding (queued 1).
		c.do(cmdSpec{name: "PING", reply: '+', lat: time.Second + time.Millisecond})
		s.advance(time.Second)
		c.do(cmdSpec{name: "GET", key: "k", reply: '$', queued: 1})
		s.want(RuleReplyDesyncRisk, 1)
	})
	t.Run("failed AUTH reused", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "lettuce", "5.3", "")
		c.do(cmdSpec{name: "AUTH", reply: '-', err: "WRONGPASS", fault: "f1"})
		s.advance(time.Millisecond)
		c.ok("GET", "k")
		f := s.want(RuleReplyDesyncRisk, 1)
		if !strings.Contains(f.Remedy, "cancelCommandsOnReconnectFailure") {
			t.Fatalf("remedy %q", f.Remedy)
		}
	})
	t.Run("slow handshake waited for", func(t *testing.T) {
		s := newSim(t, nil)
		c := s.conn(0, "go-redis", "9", "")
		c.do(cmdSpec{name: "HELLO", reply: '%', lat: 2 * time.Second})
		s.advance(2*time.Second + time.Millisecond)
		c.do(cmdSpec{name: "GET", key: "k", reply: '$'})
		s.only()
	})
}

func TestSeverityOverrideAndDisable(t *testing.T) {
	s := newSim(t, func(c *Config) {
		c.Severities = map[string]Severity{RuleDangerousCommand: High}
		c.Disabled = []string{RuleSelectNonzero}
	})
	c := s.conn(0, "app", "1", "")
	c.ok("FLUSHALL", "")
	c.do(cmdSpec{name: "SELECT", reply: '-', err: "ERR SELECT is not allowed in cluster mode"})
	if f := s.want(RuleDangerousCommand, 1); f.Severity != High {
		t.Fatalf("severity %s", f.Severity)
	}
	s.want(RuleSelectNonzero, 0)
}
