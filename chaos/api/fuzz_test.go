package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// FuzzHandler sends arbitrary requests (method, path, query, headers, body,
// with or without a token) to the real API handler with a chaos engine on a
// real cluster behind it, and checks that nothing panics, that no answer is a
// 5xx but the documented 503s (/readyz, engine not started), and that every
// 4xx carries a JSON body naming the problem. The engine's faults and runs
// are cleared after each input.
//
//	go test -run '^$' -fuzz '^FuzzHandler$' -fuzztime 30s ./chaos/api
func FuzzHandler(f *testing.F) {
	for _, s := range []struct {
		method, path, query, headers, body string
		token                              bool
	}{
		{"GET", "/healthz", "", "", "", false},
		{"GET", "/readyz", "", "", "", true},
		{"GET", "/v1/topology", "", "", "", false},
		{"GET", "/metrics", "", "Accept: application/openmetrics-text", "", false},
		{"GET", "/v1/faults", "", "", "", false},
		{"POST", "/v1/faults", "", "Content-Type: application/json",
			`{"action":"error","error":"MISCONF","target":"master","match":{"commands":["SET"],"categories":["write"],"keys":"user:*","slots":"0-5460","clients":"10.0.0.0/8","probability":0.5,"count":10},"delay":"2s","ttl":"30s"}`, false},
		{"POST", "/v1/faults", "", "", `{"action":"down","target":"masters:majority","ttl":"1m"}`, false},
		{"POST", "/v1/faults", "", "", `{"action":"latency","latency":"5ms","target":"replicas-of:shard:1"}`, false},
		{"POST", "/v1/faults", "", "", `{"action":"failover","target":"shard:0"}`, false},
		{"POST", "/v1/faults", "", "", `{"action":"migrate","target":"shard:0","to":"shard:1","match":{"slots":"0-100"}}`, false},
		{"POST", "/v1/faults", "", "", `{"action":"hang","target":"all","mode":"real"}`, false},
		{"POST", "/v1/faults", "", "", `{"action":"error","error":"ERR custom","match":{"count":"ten"}}`, false},
		{"POST", "/v1/faults", "", "", `{"action":"reset","target":"replica"} {}`, false},
		{"POST", "/v1/faults", "", "", `{"action":`, false},
		{"DELETE", "/v1/faults", "", "X-Redis-Chaos-Actor: ci@runner", "", false},
		{"GET", "/v1/faults/f1", "", "", "", false},
		{"DELETE", "/v1/faults/f1", "", "", "", false},
		{"GET", "/v1/scenarios", "", "", "", false},
		{"POST", "/v1/scenarios/master-down", "", "", `{"mode":"simulate","hold":"300ms","recover":"100ms","seed":7}`, false},
		{"POST", "/v1/scenarios/oom", "", "", "", false},
		{"POST", "/v1/scenarios/nope", "", "", `{}`, false},
		{"POST", "/v1/scenarios/latency", "", "", `{"hold":"-1s"}`, false},
		{"GET", "/v1/runs", "", "", "", false},
		{"GET", "/v1/runs/r1", "", "", "", false},
		{"GET", "/v1/faults", "", "Authorization: Bearer s3cret", "", true},
		{"POST", "/v1/faults", "", "Authorization: Bearer wrong", `{"action":"down","target":"all"}`, true},
		{"PUT", "/v1/faults", "", "", "", false},
		{"GET", "/v1/../v1/faults/", "a=b&c", "", "", false},
		{"GET", "/v1/nothing", "", "", "", false},
	} {
		f.Add(s.method, s.path, s.query, s.headers, []byte(s.body), s.token)
	}
	env := startAPIWith(f, testenv.ClusterOptions{Replicas: 1, NodeTimeout: time.Second},
		slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})))
	withToken := api.New(api.Config{Proxy: env.proxy, Engine: env.engine, Token: "s3cret",
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})

	f.Fuzz(func(t *testing.T, method, path, query, headers string, body []byte, token bool) {
		defer env.engine.StopRuns()
		defer env.engine.Clear("fuzz")
		// What net/http's server would refuse never reaches a handler.
		req, err := http.NewRequest(method, "http://127.0.0.1/", bytes.NewReader(body))
		if err != nil {
			return
		}
		req.URL = &url.URL{Path: "/" + strings.TrimPrefix(path, "/"), RawQuery: query}
		req.RequestURI = req.URL.RequestURI()
		req.RemoteAddr = "192.0.2.7:41234"
		for line := range strings.SplitSeq(headers, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		h := env.handler
		if token {
			h = withToken
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)

		code, b := w.Code, w.Body.Bytes()
		switch {
		case code >= 500 && code != http.StatusServiceUnavailable:
			t.Fatalf("%s %s: %d %s", method, req.URL, code, b)
		case code == http.StatusServiceUnavailable && req.URL.Path == "/readyz":
			var st struct{ Status, Reason string }
			if err := json.Unmarshal(b, &st); err != nil || st.Reason == "" {
				t.Fatalf("readyz: 503 without a reason: %q", b)
			}
		case code >= 400: // and the engine's 503 (no topology yet)
			var eb api.ErrorBody
			if err := json.Unmarshal(b, &eb); err != nil {
				t.Fatalf("%s %s: %d with a body that is not JSON: %q", method, req.URL, code, b)
			}
			if eb.Error == "" || eb.Reason == "" {
				t.Fatalf("%s %s: %d: the body does not name the problem: %s", method, req.URL, code, b)
			}
		}
	})
}
