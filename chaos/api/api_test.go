package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/chaos/stack"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).reaper"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// apiEnv is a real cluster, a proxy with a chaos engine, and the API over HTTP.
type apiEnv struct {
	proxy   *proxy.Server
	engine  *chaos.Engine
	handler *api.Handler
	srv     *httptest.Server
	log     *syncBuffer // the API's log, when started by startAPI
	client  *api.Client
}

const testMaxTTL = 10 * time.Minute

// startAPI starts the stack the API tests share: one cluster per test file.
// The API's log (JSON) is kept in env.log.
func startAPI(t testing.TB) *apiEnv {
	log := &syncBuffer{}
	env := startAPIWith(t, testenv.ClusterOptions{NodeTimeout: time.Second}, slog.New(slog.NewJSONHandler(log, nil)))
	env.log = log
	return env
}

// syncBuffer is a log written by the API's handlers while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAPIWith starts the stack on a cluster of the given shape; logger, when
// not nil, receives the API's audit log.
func startAPIWith(t testing.TB, o testenv.ClusterOptions, logger *slog.Logger) *apiEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	c := testenv.StartCluster(t, o)
	s, err := stack.Start(context.Background(), stack.Config{
		Proxy:    testenv.ProxyConfig(c.Addrs()),
		Engine:   chaos.Config{Seed: 7, Limits: fault.Limits{MaxTTL: testMaxTTL}},
		API:      api.Config{Logger: logger},
		Registry: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	srv := httptest.NewServer(s.API)
	t.Cleanup(srv.Close)
	return &apiEnv{proxy: s.Proxy, engine: s.Engine, handler: s.API, srv: srv, client: api.NewClient(srv.URL, "")}
}

// raw sends a request and returns the status and body.
func (env *apiEnv) raw(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, env.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// wantError checks an error answer: its status and the field its JSON body names.
func wantError(t *testing.T, code int, body string, wantCode int, wantField string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("status %d, want %d (body %s)", code, wantCode, body)
		return
	}
	var eb api.ErrorBody
	if err := json.Unmarshal([]byte(body), &eb); err != nil {
		t.Errorf("error body is not JSON: %q", body)
		return
	}
	if eb.Field != wantField || eb.Reason == "" || eb.Error == "" {
		t.Errorf("error body %+v, want field %q and a reason", eb, wantField)
	}
}

func TestAPI(t *testing.T) {
	env := startAPI(t)
	ctx := context.Background()
	c := env.client

	t.Run("health", func(t *testing.T) {
		if err := c.Healthy(ctx); err != nil {
			t.Fatal(err)
		}
		if code, body := env.raw(t, "GET", "/readyz", ""); code != 200 || !strings.Contains(body, "ready") {
			t.Errorf("readyz: %d %s", code, body)
		}
	})

	t.Run("topology", func(t *testing.T) {
		top, err := c.Topology(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(top.Nodes) != 9 || top.Real == nil || len(top.Real.Nodes) != 9 {
			t.Fatalf("topology: %d port-map nodes, real %+v", len(top.Nodes), top.Real)
		}
		if top.Virtual == nil || top.Virtual.State != "ok" || len(top.Virtual.Nodes) != 9 || top.Virtual.Differ {
			t.Fatalf("virtual view: %+v", top.Virtual)
		}
		for _, n := range top.Nodes {
			if n.Announce == "" || n.Addr == "" || n.ID == "" || n.Announce == n.Addr {
				t.Errorf("port map entry %+v", n)
			}
		}
	})

	t.Run("faults", func(t *testing.T) {
		defer c.ClearFaults(ctx)
		f, err := c.AddFault(ctx, fault.Spec{Action: "error", Error: "MISCONF", Target: "master",
			Match: fault.Match{Commands: []string{"set"}}, TTL: fault.Duration(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if f.ID == "" || len(f.Nodes) != 1 || f.State != "active" || f.Source != "api" || f.Spec.Match.Commands[0] != "SET" {
			t.Fatalf("added fault %+v", f)
		}
		if d := f.Expires.Sub(f.Starts); d != time.Minute {
			t.Errorf("expires %v after start, want 1m", d)
		}
		// A real-address target and a proxy-address target name the same node.
		top, _ := c.Topology(ctx)
		n := top.Nodes[0]
		for _, target := range []string{n.Addr, n.Announce, n.ID} {
			g, err := c.AddFault(ctx, fault.Spec{Action: "latency", Latency: fault.Duration(time.Millisecond), Target: target})
			if err != nil {
				t.Fatalf("target %s: %v", target, err)
			}
			if len(g.Nodes) != 1 || g.Nodes[0] != n.Addr {
				t.Errorf("target %s resolved to %v, want %s", target, g.Nodes, n.Addr)
			}
			if g.Expires.Sub(g.Starts) != 5*time.Minute {
				t.Errorf("default TTL: %v", g.Expires.Sub(g.Starts))
			}
		}
		// Delayed faults are pending.
		d, err := c.AddFault(ctx, fault.Spec{Action: "error", Error: "OOM", Delay: fault.Duration(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if d.State != "pending" || len(d.Nodes) != 9 {
			t.Errorf("delayed fault %+v", d)
		}
		list, err := c.Faults(ctx)
		if err != nil || len(list) != 5 || list[0].ID != f.ID {
			t.Fatalf("Faults = %d faults, %v", len(list), err)
		}
		got, err := c.Fault(ctx, f.ID)
		if err != nil || got.ID != f.ID || got.Spec.Error != "MISCONF" {
			t.Fatalf("Fault(%s) = %+v, %v", f.ID, got, err)
		}
		if err := c.RemoveFault(ctx, f.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Fault(ctx, f.ID); !api.IsNotFound(err) {
			t.Errorf("removed fault: %v, want 404", err)
		}
		if err := c.RemoveFault(ctx, f.ID); !api.IsNotFound(err) {
			t.Errorf("removing twice: %v, want 404", err)
		}
		if code, body := env.raw(t, "DELETE", "/v1/faults/f9999", ""); code != 404 {
			t.Errorf("DELETE unknown: %d %s", code, body)
		}
		n2, err := c.ClearFaults(ctx)
		if err != nil || n2 != 4 {
			t.Errorf("ClearFaults = %d, %v; want 4", n2, err)
		}
		if list, _ := c.Faults(ctx); len(list) != 0 {
			t.Errorf("after clear: %d faults", len(list))
		}
		if code, body := env.raw(t, "GET", "/v1/faults", ""); code != 200 || strings.TrimSpace(body) != "[]" {
			t.Errorf("empty list: %d %q", code, body)
		}
	})

	t.Run("bad faults", func(t *testing.T) {
		defer c.ClearFaults(ctx)
		tests := []struct {
			name, body  string
			code        int
			field       string
			reasonMatch string
		}{
			{"bad JSON", `{"action": "error",`, 400, "body", "bad JSON"},
			{"not an object", `[1,2]`, 400, "", ""},
			{"empty body", ``, 400, "body", "empty"},
			{"trailing data", `{"action":"down","target":"all"} {}`, 400, "body", "trailing"},
			{"unknown field", `{"action":"error","error":"OOM","actoin":"x"}`, 400, "actoin", "unknown field"},
			{"unknown match field", `{"action":"error","error":"OOM","match":{"command":["GET"]}}`, 400, "command", "unknown field"},
			{"wrong type", `{"action":"error","error":"OOM","match":{"count":"ten"}}`, 400, "match.count", "want int"},
			{"unknown action", `{"action":"explode","target":"all"}`, 400, "action", "unknown action"},
			{"missing action", `{"target":"all"}`, 400, "action", "required"},
			{"unknown error", `{"action":"error","error":"WRONG"}`, 400, "error", "unknown error"},
			{"bad selector", `{"action":"down","target":"shard:x"}`, 400, "target", "shard:N"},
			{"unknown target", `{"action":"down","target":"nowhere"}`, 400, "target", "unknown target"},
			{"no such shard", `{"action":"down","target":"shard:9"}`, 400, "target", "no shard 9"},
			{"no such node", `{"action":"down","target":"127.0.0.1:1"}`, 400, "target", "matches no node"},
			{"down needs a target", `{"action":"down"}`, 400, "target", "required"},
			{"TTL above the maximum", `{"action":"down","target":"all","ttl":"11m"}`, 400, "ttl", "above the maximum"},
			{"TTL not a duration", `{"action":"down","target":"all","ttl":"forever"}`, 400, "ttl", "want a duration"},
			{"latency not a duration", `{"action":"latency","target":"all","latency":true}`, 400, "latency", "want a duration"},
			{"match not a duration", `{"action":"down","target":"all","delay":"soon"}`, 400, "delay", "want a duration"},
			{"bad slots", `{"action":"error","error":"OOM","match":{"slots":"9-1"}}`, 400, "match.slots", "slot range"},
			{"bad probability", `{"action":"error","error":"OOM","match":{"probability":2}}`, 400, "match.probability", "between 0 and 1"},
			{"migrate to two masters", `{"action":"migrate","target":"shard:0","to":"masters:all"}`, 400, "to", "exactly one master"},
			{"real mode refused", `{"action":"down","target":"replica","mode":"real"}`, 409, "mode", "provisioned"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, body := env.raw(t, "POST", "/v1/faults", tt.body)
				if tt.field == "" && tt.code == 400 {
					if code != 400 {
						t.Errorf("status %d, want 400: %s", code, body)
					}
					return
				}
				wantError(t, code, body, tt.code, tt.field)
				if !strings.Contains(body, tt.reasonMatch) {
					t.Errorf("reason lacks %q: %s", tt.reasonMatch, body)
				}
			})
		}
		if list, _ := c.Faults(ctx); len(list) != 0 {
			t.Errorf("rejected faults were added: %d", len(list))
		}
		// The client carries the status and the JSON body.
		_, err := c.AddFault(ctx, fault.Spec{Action: "down", Target: "all", TTL: fault.Duration(time.Hour)})
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != 400 || ae.Body.Field != "ttl" || !strings.Contains(ae.Error(), "above the maximum") {
			t.Errorf("client error: %#v", err)
		}
		_, err = c.AddFaultJSON(ctx, json.RawMessage(`{"action":"error","error":"OOM","bogus":1}`))
		if !errors.As(err, &ae) || ae.Body.Field != "bogus" {
			t.Errorf("client error for an unknown field: %v", err)
		}
	})

	t.Run("body too large", func(t *testing.T) {
		big := `{"action":"error","error":"ERR ` + strings.Repeat("x", 2<<20) + `"}`
		code, body := env.raw(t, "POST", "/v1/faults", big)
		wantError(t, code, body, 413, "body")
	})

	t.Run("scenarios", func(t *testing.T) {
		scs, err := c.Scenarios(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]api.ScenarioInfo{}
		for _, s := range scs {
			names[s.Name] = s
			if s.Summary == "" || s.Expect == "" || s.Hold == "" {
				t.Errorf("scenario %+v lacks a summary, expectation or hold", s)
			}
		}
		for _, n := range []string{"replica-down", "master-down", "shard-replicas-down", "majority-masters-down",
			"all-masters-down", "shard-down", "all-down", "misconf", "clusterdown", "migrate", "loading", "readonly",
			"oom", "latency", "hang", "tryagain"} {
			if _, ok := names[n]; !ok {
				t.Errorf("scenario %s missing", n)
			}
		}
	})

	t.Run("runs", func(t *testing.T) {
		run, err := c.StartScenario(ctx, "loading", api.ScenarioRequest{Hold: fault.Duration(300 * time.Millisecond), Recover: fault.Duration(100 * time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		if run.ID == "" || run.Scenario != "loading" || run.Mode != "simulate" || run.Seed != 7 || len(run.Nodes) != 1 || len(run.Faults) != 1 || run.State != "running" {
			t.Fatalf("run %+v", run)
		}
		if len(run.Phases) != 2 || run.Phases[0].Name != "inject" || run.Phases[1].Name != "hold" {
			t.Errorf("phases at start: %+v", run.Phases)
		}
		var final *chaos.Run
		testenv.Eventually(t, 10*time.Second, func() error {
			r, err := c.Run(ctx, run.ID)
			if err != nil {
				return err
			}
			if r.State != "done" {
				return errors.New("state " + r.State)
			}
			final = r
			return nil
		})
		var phases []string
		for _, p := range final.Phases {
			phases = append(phases, p.Name)
			if p.End.IsZero() {
				t.Errorf("phase %s never ended", p.Name)
			}
		}
		if strings.Join(phases, ",") != "inject,hold,recover" {
			t.Errorf("phases %v", phases)
		}
		if list, _ := c.Faults(ctx); len(list) != 0 {
			t.Errorf("faults left after the run: %d", len(list))
		}
		runs, err := c.Runs(ctx)
		if err != nil || len(runs) == 0 || runs[len(runs)-1].ID != run.ID {
			t.Errorf("Runs = %v, %v", runs, err)
		}
		if _, err := c.Run(ctx, "r999"); !api.IsNotFound(err) {
			t.Errorf("unknown run: %v", err)
		}
		// An empty body takes the scenario's defaults.
		code, body := env.raw(t, "POST", "/v1/scenarios/oom", "")
		if code != 201 || !strings.Contains(body, `"scenario": "oom"`) {
			t.Errorf("POST with no body: %d %s", code, body)
		}
		env.engine.StopRuns()
	})

	t.Run("bad scenarios", func(t *testing.T) {
		tests := []struct {
			name, path, body string
			code             int
			field            string
		}{
			{"unknown scenario", "/v1/scenarios/nope", `{}`, 404, ""},
			{"bad JSON", "/v1/scenarios/oom", `{"hold":`, 400, "body"},
			{"unknown field", "/v1/scenarios/oom", `{"hodl":"1s"}`, 400, "hodl"},
			{"bad mode", "/v1/scenarios/oom", `{"mode":"pretend"}`, 400, "mode"},
			{"negative hold", "/v1/scenarios/oom", `{"hold":"-1s"}`, 400, "hold"},
			{"hold above the maximum TTL", "/v1/scenarios/oom", `{"hold":"11m"}`, 400, "hold"},
			{"another seed", "/v1/scenarios/oom", `{"seed":8}`, 400, "seed"},
			{"real mode refused", "/v1/scenarios/master-down", `{"mode":"real"}`, 409, "mode"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, body := env.raw(t, "POST", tt.path, tt.body)
				wantError(t, code, body, tt.code, tt.field)
			})
		}
		if list, _ := c.Faults(ctx); len(list) != 0 {
			t.Errorf("rejected scenarios added faults: %d", len(list))
		}
	})

	t.Run("metrics", func(t *testing.T) {
		code, body := env.raw(t, "GET", "/metrics", "")
		if code != 200 || !strings.Contains(body, "redis_chaos_faults_started_total") {
			t.Errorf("metrics: %d, %d bytes", code, len(body))
		}
	})

	t.Run("findings without a checker", func(t *testing.T) {
		if _, err := c.Findings(ctx); !api.IsNotFound(err) {
			t.Errorf("Findings: %v, want 404", err)
		}
		if err := c.ClearFindings(ctx); !api.IsNotFound(err) {
			t.Errorf("ClearFindings: %v, want 404", err)
		}
	})

	t.Run("audit log", func(t *testing.T) {
		// Who (remote address, declared actor, token used), what and when
		// for every change: add, remove, clear, scenario start.
		defer c.ClearFaults(ctx)
		defer env.engine.StopRuns()
		alice := api.NewClient(env.srv.URL, "")
		alice.Actor = "alice@ci-runner"
		tokSrv := httptest.NewServer(api.New(api.Config{Proxy: env.proxy, Engine: env.engine, Token: "s3cret-token",
			Logger: slog.New(slog.NewJSONHandler(env.log, nil))}))
		defer tokSrv.Close()
		bob := api.NewClient(tokSrv.URL, "s3cret-token")
		bob.Actor = "bob\x1b[31m@evil" + strings.Repeat("x", 300) // control bytes and length are tamed
		anon := api.NewClient(env.srv.URL, "")

		from := len(env.log.String())
		start := time.Now().UTC()
		f, err := alice.AddFault(ctx, fault.Spec{Action: "latency", Latency: fault.Duration(time.Millisecond), Target: "replica"})
		if err != nil {
			t.Fatal(err)
		}
		if err := bob.RemoveFault(ctx, f.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.AddFault(ctx, fault.Spec{Action: "error", Error: "OOM"}); err != nil {
			t.Fatal(err)
		}
		if _, err := anon.ClearFaults(ctx); err != nil {
			t.Fatal(err)
		}
		run, err := alice.StartScenario(ctx, "oom", api.ScenarioRequest{Hold: fault.Duration(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Faults(ctx); err != nil { // a read: not audited
			t.Fatal(err)
		}
		end := time.Now().UTC()

		type who struct {
			Remote, Actor string
			Token         bool
		}
		type entry struct {
			Msg                       string
			Who                       who
			At                        time.Time
			ID, Action, Run, Scenario string
			Count                     int
		}
		var got []entry
		logged := env.log.String()[from:]
		for line := range strings.SplitSeq(strings.TrimSpace(logged), "\n") {
			var e entry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if strings.HasPrefix(e.Msg, "audit: ") {
				got = append(got, e)
			}
		}
		if strings.Contains(logged, "s3cret-token") {
			t.Errorf("the token is in the log:\n%s", logged)
		}
		bobActor := "bob?[31m@evil" + strings.Repeat("x", 128-len("bob?[31m@evil")) + "…"
		want := []struct {
			msg   string
			who   who
			check func(entry) bool
		}{
			{"audit: fault added", who{Actor: "alice@ci-runner"}, func(e entry) bool { return e.ID == f.ID && e.Action == "latency" }},
			{"audit: fault removed", who{Actor: bobActor, Token: true}, func(e entry) bool { return e.ID == f.ID && e.Action == "latency" }},
			{"audit: fault added", who{Actor: bobActor, Token: true}, func(e entry) bool { return e.ID != "" && e.Action == "error" }},
			{"audit: faults cleared", who{Actor: "undeclared"}, func(e entry) bool { return e.Count == 1 }},
			{"audit: scenario started", who{Actor: "alice@ci-runner"}, func(e entry) bool { return e.Run == run.ID && e.Scenario == "oom" }},
		}
		if len(got) != len(want) {
			t.Fatalf("%d audit entries, want %d:\n%s", len(got), len(want), logged)
		}
		for i, w := range want {
			e := got[i]
			host, _, err := net.SplitHostPort(e.Who.Remote)
			if e.Msg != w.msg || e.Who.Actor != w.who.Actor || e.Who.Token != w.who.Token || err != nil || host != "127.0.0.1" || !w.check(e) {
				t.Errorf("audit entry %d: %+v, want %q by %+v from 127.0.0.1", i, e, w.msg, w.who)
			}
			if e.At.Before(start) || e.At.After(end) {
				t.Errorf("audit entry %d at %v, not between %v and %v", i, e.At, start, end)
			}
		}
	})

	t.Run("unknown routes", func(t *testing.T) {
		// JSON error bodies, like every other error of the API.
		for _, r := range []struct {
			method, path string
			code         int
			field        string
		}{{"GET", "/v1/nothing", 404, "path"}, {"PUT", "/v1/faults", 405, "method"}, {"GET", "/v1/scenarios/oom", 405, "method"}} {
			code, body := env.raw(t, r.method, r.path, "")
			wantError(t, code, body, r.code, r.field)
		}
	})
}

// TestFindingsClient checks the client against the shape of GET /v1/findings
// (a list, or an object holding one), served by a handler in front of the API.
func TestFindingsClient(t *testing.T) {
	finding := `{"rule":"retry-storm","severity":"high","title":"retries without backoff",
		"client":{"addr":"10.0.0.7","lib_name":"go-redis","lib_ver":"9.23.0","name":"app"},
		"first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:01Z","count":3,
		"nodes":["127.0.0.1:30001"],"explanation":"why","correct":"how","remedy":"fix","extra":{"kept":true}}`
	for _, body := range []string{"[" + finding + "]", `{"findings":[` + finding + `]}`} {
		h := http.NewServeMux()
		h.Handle("/", api.New(api.Config{Token: "s3cret"}))
		cleared := false
		h.Handle("GET /v1/findings", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		}))
		h.Handle("DELETE /v1/findings", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cleared = true
			w.WriteHeader(http.StatusNoContent)
		}))
		srv := httptest.NewServer(h)
		c := api.NewClient(strings.TrimPrefix(srv.URL, "http://"), "s3cret")
		fs, err := c.Findings(context.Background())
		if err != nil || len(fs) != 1 {
			t.Fatalf("Findings = %v, %v", fs, err)
		}
		f := fs[0]
		if f.Rule != "retry-storm" || f.Severity != "high" || f.Client.LibName != "go-redis" || f.Count != 3 ||
			f.LastSeen.Sub(f.FirstSeen) != time.Second || !strings.Contains(string(f.Raw), `"extra"`) {
			t.Errorf("finding %+v", f)
		}
		if err := c.ClearFindings(context.Background()); err != nil || !cleared {
			t.Errorf("ClearFindings: %v (cleared %v)", err, cleared)
		}
		srv.Close()
	}
}

func TestToken(t *testing.T) {
	h := api.New(api.Config{Token: "s3cret"})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx := context.Background()
	for _, tok := range []string{"", "wrong"} {
		_, err := api.NewClient(srv.URL, tok).Topology(ctx)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != 401 || ae.Body.Field != "authorization" {
			t.Errorf("token %q: %v, want 401 naming authorization", tok, err)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/topology", nil)
	req.Header.Set("Authorization", "Basic s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("basic auth: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// Health checks need no token.
	if err := api.NewClient(srv.URL, "").Healthy(ctx); err != nil {
		t.Errorf("healthz without a token: %v", err)
	}
	// The right token passes the check (no engine: no /v1/faults route).
	if _, err := api.NewClient(srv.URL, "s3cret").Faults(ctx); api.StatusOf(err) != 404 {
		t.Errorf("right token: %v, want 404 from the mux", err)
	}
}

func TestCheckBind(t *testing.T) {
	tests := []struct {
		addr, token string
		err         error
	}{
		{"127.0.0.1:8470", "", nil},
		{"[::1]:8470", "", nil},
		{"localhost:8470", "", nil},
		{"127.0.0.2:0", "", nil},
		{"0.0.0.0:8470", "", api.ErrTokenRequired},
		{":8470", "", api.ErrTokenRequired},
		{"10.1.2.3:8470", "", api.ErrTokenRequired},
		{"[::]:8470", "", api.ErrTokenRequired},
		{"api.example.com:8470", "", api.ErrTokenRequired},
		{"0.0.0.0:8470", "tok", nil},
	}
	for _, tt := range tests {
		if err := api.CheckBind(tt.addr, tt.token); !errors.Is(err, tt.err) {
			t.Errorf("CheckBind(%q, %q) = %v, want %v", tt.addr, tt.token, err, tt.err)
		}
	}
	if err := api.CheckBind("no-port", ""); err == nil {
		t.Error("CheckBind accepted an address without a port")
	}
}

func TestClientUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := api.NewClient(url, "").Faults(context.Background())
	if err == nil || api.StatusOf(err) != 0 {
		t.Errorf("closed server: %v", err)
	}
}
