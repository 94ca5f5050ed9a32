package clients

import (
	"fmt"
	"testing"
)

// logb builds a wire log by hand: times in ms from 1,000 s.
type logb struct{ evs []Event }

func (l *logb) at(ms int64) int64 { return 1_000_000_000 + ms*1000 }

func (l *logb) open(ms int64, c int64, port int) {
	l.evs = append(l.evs, Event{T: l.at(ms), C: c, K: "open", P: port})
}

func (l *logb) cmd(ms int64, c int64, args ...string) {
	l.evs = append(l.evs, Event{T: l.at(ms), C: c, K: "cmd", A: args})
}

func (l *logb) rep(ms int64, c int64, typ, errLine string) {
	l.evs = append(l.evs, Event{T: l.at(ms), C: c, K: "rep", R: typ, E: errLine})
}

func (l *logb) ev(ms int64, c int64, kind string) {
	l.evs = append(l.evs, Event{T: l.at(ms), C: c, K: kind})
}

func (l *logb) derive(t *testing.T, env Env, endMS int64) map[string]Expectation {
	t.Helper()
	if env.Window.ClusterSize == 0 {
		env.Window.ClusterSize = 9
	}
	s := &Summary{Errors: map[string]int{}, StartUS: l.at(0), EndUS: l.at(endMS)}
	return Derive(s, Organise(l.evs), env)
}

func expect(t *testing.T, got map[string]Expectation, rule string, want bool) {
	t.Helper()
	if got[rule].Expected != want {
		t.Errorf("%s: expected=%v, want %v (%s)", rule, got[rule].Expected, want, got[rule].Why)
	}
}

func TestSlot(t *testing.T) {
	if got := Slot("foo"); got != 12182 {
		t.Errorf("Slot(foo) = %d, want 12182", got)
	}
	if Slot("{user1000}.following") != Slot("{user1000}.followers") || Slot("{user1000}.a") != Slot("user1000") {
		t.Error("hash tags not applied")
	}
	if Slot("{}x") == Slot("") {
		t.Error("an empty hash tag must hash the whole key")
	}
}

func TestDeriveUnsafeRetry(t *testing.T) {
	var l logb
	l.open(0, 1, 7001)
	l.cmd(10, 1, "INCR", "c:1")
	l.ev(500, 1, "close") // timed out: the outcome is unknown
	l.open(510, 2, 7001)
	l.cmd(520, 2, "INCR", "c:1")
	l.rep(530, 2, ":", "")
	expect(t, l.derive(t, Env{}, 20000), "unsafe-retry", true)

	var ok logb // resent after TRYAGAIN: the command did not run
	ok.open(0, 1, 7001)
	ok.cmd(10, 1, "INCR", "c:1")
	ok.rep(11, 1, "-", "TRYAGAIN Multiple keys request during rehashing of slot")
	ok.cmd(200, 1, "INCR", "c:1")
	ok.rep(201, 1, ":", "")
	expect(t, ok.derive(t, Env{}, 20000), "unsafe-retry", false)
	expect(t, ok.derive(t, Env{Dups: 1}, 20000), "unsafe-retry", true) // the data says it ran twice
}

func TestDeriveNoCommandTimeout(t *testing.T) {
	op := func(l *logb, endMS, dMS int64) {
		f := false
		l.evs = append(l.evs, Event{T: l.at(endMS), K: "op", D: dMS * 1000, OK: &f, E: "stuck"})
	}
	var l logb // stuck until the end of the run, 20 s
	l.open(0, 1, 7001)
	l.cmd(10, 1, "GET", "k")
	op(&l, 20000, 19990)
	expect(t, l.derive(t, Env{}, 20000), "no-command-timeout", true)

	var closed logb // the app gave up and closed after 1 s
	closed.open(0, 1, 7001)
	closed.cmd(10, 1, "GET", "k")
	closed.ev(1010, 1, "close")
	op(&closed, 1010, 1000)
	expect(t, closed.derive(t, Env{}, 20000), "no-command-timeout", false)

	var kept logb // a command timeout that keeps the connection (the reply comes 15 s later)
	kept.open(0, 1, 7001)
	kept.cmd(10, 1, "GET", "k")
	kept.rep(15010, 1, "$", "")
	op(&kept, 1010, 1000)
	expect(t, kept.derive(t, Env{}, 20000), "no-command-timeout", false)

	var edge logb // 10.2 s: too close to the threshold to judge
	edge.open(0, 1, 7001)
	edge.cmd(10, 1, "GET", "k")
	edge.ev(10210, 1, "close")
	op(&edge, 10210, 10200)
	if got := edge.derive(t, Env{}, 20000)["no-command-timeout"]; !got.Undecided {
		t.Errorf("a 10.2 s wait is judged: %+v", got)
	}
}

func TestDeriveReconnectStorm(t *testing.T) {
	var l logb
	for i := int64(0); i < 30; i++ { // 30 accepted connections closed before any reply in 3 s
		l.open(i*100, i+1, 7003)
		l.cmd(i*100+1, i+1, "HELLO", "3")
		l.ev(i*100+90, i+1, "close")
	}
	expect(t, l.derive(t, Env{}, 20000), "reconnect-storm", true)

	var b logb // 6 attempts backing off 100, 200, 400, 800, 1600 ms
	t0, gap := int64(0), int64(100)
	for i := int64(0); i < 6; i++ {
		b.open(t0, i+1, 7003)
		b.ev(t0+50, i+1, "close")
		t0 += gap
		gap *= 2
	}
	expect(t, b.derive(t, Env{}, 20000), "reconnect-storm", false)
}

func TestDeriveNoBackoff(t *testing.T) {
	var l logb
	l.open(0, 1, 7001)
	for i := int64(0); i < 15; i++ { // the same command resent 1 ms after each TRYAGAIN
		l.cmd(i*10, 1, "SET", "k", "v")
		l.rep(i*10+2, 1, "-", "TRYAGAIN Multiple keys request during rehashing of slot")
	}
	l.cmd(150, 1, "SET", "k", "v")
	l.rep(151, 1, "+", "")
	expect(t, l.derive(t, Env{}, 20000), "no-backoff-retry", true)

	var b logb
	b.open(0, 1, 7001)
	for i := int64(0); i < 15; i++ { // resent 100 ms later each time
		b.cmd(i*100, 1, "SET", "k", "v")
		b.rep(i*100+2, 1, "-", "TRYAGAIN Multiple keys request during rehashing of slot")
	}
	expect(t, b.derive(t, Env{}, 20000), "no-backoff-retry", false)
}

func TestDeriveStaleSlotMap(t *testing.T) {
	var l logb // follows each MOVED, keeps sending the slot to 7001
	l.open(0, 1, 7001)
	l.open(0, 2, 7003)
	for i := int64(0); i < 3; i++ {
		l.cmd(i*100, 1, "GET", "foo")
		l.rep(i*100+1, 1, "-", "MOVED 12182 127.0.0.1:7003")
		l.cmd(i*100+2, 2, "GET", "foo")
		l.rep(i*100+3, 2, "$", "")
	}
	got := l.derive(t, Env{}, 20000)
	expect(t, got, "stale-slot-map", true)
	expect(t, got, "moved-ignored", false)

	var p logb // a plain client: MOVEDs for the slot, never followed (fresh keys)
	p.open(0, 1, 7001)
	for i := int64(0); i < 3; i++ {
		p.cmd(i*100, 1, "GET", fmt.Sprintf("{foo}%d", i))
		p.rep(i*100+1, 1, "-", "MOVED 12182 127.0.0.1:7003")
	}
	movedOp(&p, 201, 1)
	got = p.derive(t, Env{}, 20000)
	expect(t, got, "stale-slot-map", false)
	expect(t, got, "moved-ignored", true)

	var r logb // the same, with a topology read after the first MOVED
	r.open(0, 1, 7001)
	r.open(0, 2, 7003)
	for i := int64(0); i < 3; i++ {
		r.cmd(i*100, 1, "GET", "foo")
		r.rep(i*100+1, 1, "-", "MOVED 12182 127.0.0.1:7003")
		r.cmd(i*100+2, 2, "GET", "foo")
		r.rep(i*100+3, 2, "$", "")
		if i == 0 {
			r.cmd(50, 1, "CLUSTER", "SLOTS")
			r.rep(51, 1, "*", "")
		}
	}
	expect(t, r.derive(t, Env{}, 20000), "stale-slot-map", false)
}

func TestDeriveAsk(t *testing.T) {
	var l logb
	l.open(0, 1, 7001)
	l.open(0, 2, 7003)
	l.cmd(10, 1, "GET", "foo")
	l.rep(11, 1, "-", "ASK 12182 127.0.0.1:7003")
	l.cmd(20, 2, "GET", "foo") // no ASKING before it
	l.rep(21, 2, "-", "MOVED 12182 127.0.0.1:7001")
	got := l.derive(t, Env{}, 20000)
	expect(t, got, "ask-without-asking", true)
	expect(t, got, "ask-updates-map", false)

	var u logb
	u.open(0, 1, 7001)
	u.open(0, 2, 7003)
	u.cmd(10, 1, "GET", "foo")
	u.rep(11, 1, "-", "ASK 12182 127.0.0.1:7003")
	u.cmd(20, 2, "ASKING")
	u.rep(21, 2, "+", "")
	u.cmd(22, 2, "GET", "foo")
	u.rep(23, 2, "$", "")
	u.cmd(500, 2, "SET", "{foo}x", "v") // the slot's next key straight to the target
	u.rep(501, 2, "-", "MOVED 12182 127.0.0.1:7001")
	got = u.derive(t, Env{}, 20000)
	expect(t, got, "ask-without-asking", false)
	expect(t, got, "ask-updates-map", true)
}

func TestDeriveRestartAndFanout(t *testing.T) {
	var l logb
	for i := int64(0); i < 30; i++ { // every 250 ms, every one of 9 nodes
		for p := 0; p < 9; p++ {
			l.evs = append(l.evs, Event{T: l.at(i * 250), K: "probe", P: 7001 + p})
		}
	}
	l.ev(3000, 0, "restart")
	one := Env{Window: Window{Start: l.at(2000), End: l.at(6000), RecoverEnd: l.at(8000), Nodes: 1}}
	got := l.derive(t, one, 20000)
	expect(t, got, "health-check-fanout", true)
	expect(t, got, "restart-on-single-fault", true)
	many := one
	many.Window.Nodes = 2
	expect(t, l.derive(t, many, 20000), "restart-on-single-fault", false)
}

func TestDeriveDesyncSharedConnection(t *testing.T) {
	var l logb
	l.open(0, 1, 7001)
	l.evs = append(l.evs, Event{T: l.at(1), C: 1, K: "cmd", A: []string{"CLIENT", "SETNAME", "x"}, Th: 1})
	l.evs = append(l.evs, Event{T: l.at(2), C: 1, K: "cmd", A: []string{"INCRBY", "c", "1"}, Th: 2})
	expect(t, l.derive(t, Env{}, 20000), "reply-desync-risk", true)

	var p logb // one thread pipelining its handshake: replies are read in order
	p.open(0, 1, 7001)
	p.cmd(1, 1, "HELLO", "3")
	p.cmd(2, 1, "GET", "k")
	p.rep(3, 1, "%", "")
	p.rep(4, 1, "$", "")
	expect(t, p.derive(t, Env{}, 20000), "reply-desync-risk", false)
}

func TestScores(t *testing.T) {
	cells := []CellResult{
		{Verdicts: map[string]string{"unsafe-retry": "tp"}},
		{Verdicts: map[string]string{"unsafe-retry": "fp", "moved-ignored": "tp"}},
		{Verdicts: map[string]string{"unsafe-retry": "fn"}},
		{Verdicts: map[string]string{}},
	}
	byRule := map[string]Score{}
	for _, s := range Scores(cells) {
		byRule[s.Rule] = s
	}
	u := byRule["unsafe-retry"]
	if u.TP != 1 || u.FP != 1 || u.FN != 1 || u.TN != 1 || u.Precision != 0.5 || u.Recall != 0.5 {
		t.Errorf("unsafe-retry: %+v", u)
	}
	o := byRule["overall"]
	if o.TP != 2 || o.FP != 1 || o.FN != 1 || o.TN != 4*len(Rules)-4 {
		t.Errorf("overall: %+v", o)
	}
	if s := byRule["crossslot"]; s.Precision != -1 || s.Recall != -1 {
		t.Errorf("a rule never expected nor found has no precision or recall: %+v", s)
	}
}

func TestDeriveMovedIgnored(t *testing.T) {
	var l logb // a plain client: every MOVED left unfollowed
	l.open(0, 1, 7001)
	l.cmd(10, 1, "GET", "foo")
	l.rep(11, 1, "-", "MOVED 12182 127.0.0.1:7003")
	l.cmd(500, 1, "GET", "bar")
	l.rep(501, 1, "-", "MOVED 5061 127.0.0.1:7002")
	movedOp(&l, 501, 1)
	expect(t, l.derive(t, Env{}, 20000), "moved-ignored", true)

	var c logb // a cluster client that follows, and gives up after its redirect limit
	c.open(0, 1, 7001)
	c.open(0, 2, 7003)
	c.cmd(10, 1, "GET", "foo")
	c.rep(11, 1, "-", "MOVED 12182 127.0.0.1:7003")
	c.cmd(12, 2, "GET", "foo")
	c.rep(13, 2, "-", "MOVED 12182 127.0.0.1:7001") // a redirect loop during a failover
	c.cmd(14, 1, "GET", "foo")
	c.rep(15, 1, "-", "MOVED 12182 127.0.0.1:7003") // the limit: returned to the app
	expect(t, c.derive(t, Env{}, 20000), "moved-ignored", false)

	var late logb // a MOVED read 5 s late, when a hung node released the command
	late.open(0, 1, 7001)
	late.cmd(10, 1, "GET", "foo")
	late.rep(5010, 1, "-", "MOVED 12182 127.0.0.1:7003")
	expect(t, late.derive(t, Env{}, 20000), "moved-ignored", false)

	var elsewhere logb // resent to another node at once (a slot map being rebuilt)
	elsewhere.open(0, 1, 7001)
	elsewhere.open(0, 2, 7002)
	elsewhere.cmd(10, 1, "GET", "foo")
	elsewhere.rep(11, 1, "-", "MOVED 12182 127.0.0.1:7003")
	elsewhere.cmd(600, 2, "GET", "foo")
	elsewhere.rep(601, 2, "-", "MOVED 12182 127.0.0.1:7003")
	expect(t, elsewhere.derive(t, Env{}, 20000), "moved-ignored", false)

	var off logb // a second client with redirects off, next to one that follows
	off.open(0, 1, 7001)
	off.open(0, 2, 7003)
	off.cmd(10, 1, "GET", "foo")
	off.rep(11, 1, "-", "MOVED 12182 127.0.0.1:7003")
	off.cmd(12, 2, "GET", "foo")
	off.rep(13, 2, "$", "")
	off.cmd(600, 1, "INCR", "bar")
	off.rep(601, 1, "-", "MOVED 5061 127.0.0.1:7002")
	movedOp(&off, 601, 2)
	expect(t, off.derive(t, Env{}, 20000), "moved-ignored", true)

	var expired logb // the same, but the MOVED came when the operation's 2 s deadline had passed
	expired.open(0, 1, 7001)
	expired.cmd(2000, 1, "INCR", "bar")
	expired.rep(2001, 1, "-", "MOVED 5061 127.0.0.1:7002")
	movedOp(&expired, 2001, 2001)
	expect(t, expired.derive(t, Env{}, 20000), "moved-ignored", false)
}

// movedOp logs an operation of the app that failed with MOVED.
func movedOp(l *logb, endMS, dMS int64) {
	f := false
	l.evs = append(l.evs, Event{T: l.at(endMS), K: "op", D: dMS * 1000, OK: &f, E: "moved"})
}
