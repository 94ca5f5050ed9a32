package checker

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redis-chaos/redis-chaos/proxy"
)

func TestObserveNeverBlocks(t *testing.T) {
	reg := prometheus.NewRegistry()
	k := New(Config{Limits: Limits{QueueSize: 4}, Registerer: reg})
	// Not running: the queue fills and the rest is dropped, at once.
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			k.Observe(proxy.Event{Type: proxy.EventConnect, Conn: proxy.ConnInfo{ID: uint64(i)}})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Observe blocked")
	}
	if k.Dropped() != 96 {
		t.Fatalf("dropped %d, want 96", k.Dropped())
	}
	if got := gathered(t, reg, "redis_chaos_checker_events_dropped_total", nil); got != 96 {
		t.Fatalf("metric dropped %v", got)
	}
	k.Start()
	defer k.Close()
	if err := k.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := k.Stats(); st.Processed != 4 {
		t.Fatalf("processed %d, want 4", st.Processed)
	}
}

func TestClientGrouping(t *testing.T) {
	s := newSim(t, nil)
	// go-redis identifies itself in three steps on every connection.
	for i := 0; i < 3; i++ {
		c := s.conn(i, "", "", "")
		c.ok("HELLO", "")
		c.info.LibName = "go-redis(app,go1.26)"
		c.ok("CLIENT", "") // SETINFO LIB-VER, seen with the lib-name only
		c.info.LibVer = "9.23.0"
		c.ok("GET", "k")
	}
	// A second application on the same host names its connections.
	d := s.conn(0, "go-redis(app,go1.26)", "9.23.0", "billing")
	d.ok("GET", "k")
	s.tick()
	cs := s.k.Clients()
	if len(cs) != 2 {
		t.Fatalf("clients %+v", cs)
	}
	if cs[0].Name == "billing" {
		cs[0], cs[1] = cs[1], cs[0]
	}
	if cs[1].Name != "billing" || cs[0].Conns != 3 || cs[0].Library != LibGoRedis || len(cs[0].Nodes) != 3 {
		t.Fatalf("clients %+v", cs)
	}
}

func TestBoundedState(t *testing.T) {
	s := newSim(t, func(c *Config) { c.Limits = Limits{MaxClients: 8, MaxConns: 16, MaxEvidence: 4} })
	for i := 0; i < 100; i++ {
		c := s.conn(i%6, "lib", itoa(i), "")
		c.ok("KEYS", "")
		c.close("client closed")
	}
	st := s.k.Stats()
	if st.Clients > 8 || st.Conns > 16 {
		t.Fatalf("state not bounded: %+v", st)
	}
	c := s.conn(0, "x", "1", "")
	for i := 0; i < 50; i++ {
		c.ok("KEYS", "")
	}
	for _, f := range s.k.Findings() {
		if len(f.Evidence) > 4 {
			t.Fatalf("evidence not bounded: %d", len(f.Evidence))
		}
		if f.Client.LibName == "x" && f.Count != 50 {
			t.Fatalf("count %d", f.Count)
		}
	}
}

func TestEvidenceRedaction(t *testing.T) {
	ev := &proxy.Event{Type: proxy.EventCommand, Time: time.Now(), Command: "AUTH", Key: "hunter2", Slot: 5,
		Reply: '-', Err: "ERR unknown command 'AUTHX', with args beginning with: 'hunter2' "}
	e := evidenceFrom(ev, false, "")
	if e.Key != "" || e.Slot != -1 || strings.Contains(e.Reply, "hunter2") || strings.Contains(e.String(), "hunter2") {
		t.Fatalf("secret in evidence: %+v", e)
	}
	ev = &proxy.Event{Type: proxy.EventCommand, Command: "CONFIG", Sub: "SET", Key: "requirepass", Slot: -1}
	if e := evidenceFrom(ev, false, ""); e.Key != "" {
		t.Fatalf("CONFIG SET argument kept: %+v", e)
	}
	ev = &proxy.Event{Type: proxy.EventCommand, Command: "GET", Key: "user:1", Slot: 7}
	if e := evidenceFrom(ev, true, ""); e.Key != "" || e.Slot != 7 {
		t.Fatalf("RedactKeys: %+v", e)
	}
}

func TestHTTP(t *testing.T) {
	s := newSim(t, nil)
	c := s.conn(0, "redis-py", "5.0", "")
	c.ok("FLUSHALL", "")
	c.do(cmdSpec{name: "SELECT", reply: '-', err: "ERR SELECT is not allowed in cluster mode"})
	s.tick()
	srv := httptest.NewServer(s.k.Handler())
	defer srv.Close()

	get := func(path string, v any) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if v != nil {
			if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	var body FindingsBody
	if code := get("/v1/findings", &body); code != 200 || len(body.Findings) != 2 {
		t.Fatalf("GET /v1/findings: %d %+v", code, body)
	}
	if code := get("/v1/findings?severity=medium", &body); code != 200 || len(body.Findings) != 1 ||
		body.Findings[0].Rule != RuleDangerousCommand || !strings.Contains(body.Findings[0].Remedy, "scan_iter") {
		t.Fatalf("?severity=medium: %d %+v", code, body)
	}
	if code := get("/v1/findings?min_severity=low", &body); code != 200 || len(body.Findings) != 2 {
		t.Fatalf("?min_severity=low: %d %+v", code, body)
	}
	var errBody struct{ Field, Reason string }
	if code := get("/v1/findings?severity=urgent", &errBody); code != 400 || errBody.Field != "severity" {
		t.Fatalf("bad severity: %d %+v", code, errBody)
	}
	var clients ClientsBody
	if code := get("/v1/clients", &clients); code != 200 || len(clients.Clients) != 1 || clients.Clients[0].Library != LibRedisPy {
		t.Fatalf("GET /v1/clients: %d %+v", code, clients)
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v1/findings", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || len(s.k.Findings()) != 0 {
		t.Fatalf("DELETE: %d, %d findings left", resp.StatusCode, len(s.k.Findings()))
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newSim(t, func(c *Config) { c.Registerer = reg })
	c := s.conn(0, "app", "1", "")
	c.ok("KEYS", "")
	c.ok("KEYS", "")
	s.tick()
	if got := gathered(t, reg, "redis_chaos_findings_total", map[string]string{"rule": RuleDangerousCommand, "severity": "medium"}); got != 2 {
		t.Fatalf("findings_total = %v", got)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "redis_chaos_findings_total" && len(mf.GetMetric()) != len(catalogue) {
			t.Fatalf("series %d, want one per rule", len(mf.GetMetric()))
		}
	}
	// A second checker on the same registry shares the collectors.
	New(Config{Registerer: reg})
}

func TestClientIP(t *testing.T) {
	if got := clientIP(&net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5}); got != "10.0.0.1" {
		t.Fatal(got)
	}
	if got := clientIP(nil); got != "" {
		t.Fatal(got)
	}
}

func TestLibrary(t *testing.T) {
	for in, want := range map[string]string{
		"go-redis(app,go1.26.8)": LibGoRedis, "redis-py": LibRedisPy, "Lettuce": LibLettuce, "jedis": LibJedis,
		"node-redis": LibNodeRedis, "ioredis": LibIORedis, "redis-rs": "", "": "",
	} {
		if got := Library(in); got != want {
			t.Errorf("Library(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCatalogue(t *testing.T) {
	ids := map[string]bool{}
	for _, r := range Rules() {
		if ids[r.ID] {
			t.Errorf("duplicate rule %s", r.ID)
		}
		ids[r.ID] = true
		if r.Severity.Rank() == 0 || r.Title == "" || r.Signature == "" || r.Explanation == "" || r.Correct == "" || r.Remedy == "" || r.Threshold == "" {
			t.Errorf("%s: incomplete entry", r.ID)
		}
		for _, lib := range Libraries {
			if r.Remedies[lib] == "" {
				t.Errorf("%s: no remedy for %s", r.ID, lib)
			}
		}
	}
	if len(ids) != 19 {
		t.Fatalf("%d rules, want 19", len(ids))
	}
}

// gathered returns the value of the counter with the given labels.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s %v not found", name, labels)
	return 0
}

func TestDeferredAttribution(t *testing.T) {
	// SELECT fails before the connection names its client: the finding goes
	// to the client once CLIENT SETINFO names it.
	s := newSim(t, nil)
	c := s.conn(0, "", "", "")
	c.do(cmdSpec{name: "SELECT", reply: '-', err: "ERR SELECT is not allowed in cluster mode"})
	c.info.LibName = "go-redis(,go1.26)"
	c.ok("CLIENT", "")
	c.info.LibVer = "9.23.0"
	c.ok("GET", "k")
	if f := s.want(RuleSelectNonzero, 1); f.Client.Library() != LibGoRedis {
		t.Fatalf("client %s", f.Client)
	}
	// A connection that never names itself settles after a second.
	s = newSim(t, nil)
	c = s.conn(0, "", "", "")
	c.do(cmdSpec{name: "SELECT", reply: '-', err: "ERR SELECT is not allowed in cluster mode"})
	s.want(RuleSelectNonzero, 0)
	s.advance(time.Second)
	if f := s.want(RuleSelectNonzero, 1); f.Client.LibName != "" {
		t.Fatalf("client %s", f.Client)
	}
}

// TestSeriesRedirectsApart: MOVED/ASK replies are counted as redirects, not
// errors; connections reset by a fault or a down node count as errors.
func TestSeriesRedirectsApart(t *testing.T) {
	s := newSim(t, nil)
	c := s.conn(0, "go-redis", "9", "")
	c.ok("GET", "a")
	c.do(cmdSpec{name: "GET", key: "b", reply: '-', err: moved(5, 7002)})
	c.do(cmdSpec{name: "GET", key: "c", reply: '-', err: ask(6, 7003)})
	c.do(cmdSpec{name: "GET", key: "d", reply: '-', err: "CLUSTERDOWN The cluster is down"})
	c.do(cmdSpec{name: "GET", key: "e", reason: "no reply: fault reset"})
	c.close("node down")
	d := s.conn(0, "go-redis", "9", "")
	d.close("client closed")
	s.tick()
	var p Point
	for _, ns := range s.k.Series(s.now, s.now) {
		if ns.Node == s.nodes[0].Addr {
			p = ns.Points[0]
		}
	}
	if p.Commands != 5 || p.Redirects != 2 || p.Errors != 3 || p.Closes != 2 {
		t.Fatalf("point %+v: want 5 commands, 2 redirects, 3 errors (CLUSTERDOWN, no reply, reset), 2 closes", p)
	}
	ci := s.k.Clients()
	if len(ci) != 1 || ci[0].Redirects != 2 || ci[0].Errors != 2 {
		t.Fatalf("clients %+v", ci)
	}
}

func TestRemedyForVersion(t *testing.T) {
	r, _ := RuleByID(RuleTopologyRefreshStorm)
	for ver, reloads := range map[string]bool{"9.23.0": false, "9.24.0": true, "9.100.1": true, "10.0.0-beta": true, "": false} {
		if got := strings.Contains(r.RemedyForVersion(LibGoRedis, ver), "every retried command"); got != reloads {
			t.Errorf("go-redis %q: %q", ver, r.RemedyForVersion(LibGoRedis, ver))
		}
	}
	d, _ := RuleByID(RuleReplyDesyncRisk)
	if !strings.HasPrefix(d.RemedyForVersion(LibRedisPy, "4.3.4"), "Upgrade redis-py") ||
		strings.HasPrefix(d.RemedyForVersion(LibRedisPy, "5.2.1"), "Upgrade redis-py") {
		t.Error("redis-py's desync remedy does not follow its version")
	}
	if d.RemedyForVersion(LibIORedis, "4.0.0") != d.Remedies[LibIORedis] {
		t.Error("another library's remedy changed")
	}
}
