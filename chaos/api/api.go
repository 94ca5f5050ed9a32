// Package api is the HTTP control API of redis-chaos: health, topology,
// faults, scenarios, runs and findings under /v1, and Prometheus metrics.
//
//	mux := api.New(api.Config{Proxy: srv, Gatherer: reg})
//	http.Serve(ln, mux)
//
// Every route is in one table (routes); errors map to HTTP status codes in
// one place (writeError).
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/checker"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// ActorHeader is the request header in which a client declares who acts
// (the CLI sends $USER@hostname); the audit log records it.
const ActorHeader = "X-Redis-Chaos-Actor"

// ErrTokenRequired is returned when the API would listen off loopback without a token.
var ErrTokenRequired = errors.New("api: a bearer token is required when the API is bound to a non-loopback address")

// Topologist is what the API needs of the proxy.
type Topologist interface {
	Nodes() []proxy.NodeInfo
	Topology() *topology.Topology
}

// Config configures the API handler.
type Config struct {
	Proxy    Topologist
	Gatherer prometheus.Gatherer // /metrics; nil serves none
	Token    string              // bearer token; empty means no auth (loopback only)
	// Ready reports readiness for /readyz; nil means ready once Proxy has a topology.
	Ready func(context.Context) error
	// Engine holds the faults, scenarios and runs; nil serves no /v1/faults, /v1/scenarios or /v1/runs.
	Engine *chaos.Engine
	// Checker serves the findings, the clients it watched and its rules;
	// nil serves no /v1/findings, /v1/clients or /v1/rules.
	Checker *checker.Checker
	// ConfigFile serves GET /v1/config, the state of a config file's faults;
	// nil serves none.
	ConfigFile http.Handler
	Logger     *slog.Logger // audit log of fault changes; nil logs nothing
}

// Handler serves the control API.
type Handler struct {
	cfg     Config
	mux     *http.ServeMux
	metrics *http.ServeMux // the probes and /metrics (Metrics)
	open    map[string]bool
}

// route is one entry of the route table.
type route struct {
	pattern string
	handler http.Handler
	// open routes are served without the token (probes); metrics routes
	// are also served by Metrics.
	open, metrics bool
}

// routes is the API's one route table.
func (h *Handler) routes() []route {
	f := func(pattern string, fn http.HandlerFunc) route { return route{pattern: pattern, handler: fn} }
	rs := []route{
		{pattern: "GET /healthz", handler: http.HandlerFunc(h.healthz), open: true, metrics: true},
		{pattern: "GET /readyz", handler: http.HandlerFunc(h.readyz), open: true, metrics: true},
		f("GET /v1/topology", h.topology),
	}
	if h.cfg.Engine != nil {
		rs = append(rs,
			f("GET /v1/faults", h.listFaults),
			f("POST /v1/faults", h.addFault),
			f("DELETE /v1/faults", h.clearFaults),
			f("GET /v1/faults/{id}", h.getFault),
			f("DELETE /v1/faults/{id}", h.removeFault),
			f("GET /v1/scenarios", h.listScenarios),
			f("POST /v1/scenarios/{name}", h.startScenario),
			f("GET /v1/runs", h.listRuns),
			f("GET /v1/runs/{id}", h.getRun))
	}
	if k := h.cfg.Checker; k != nil {
		rs = append(rs,
			f("GET /v1/findings", k.ServeFindings), // ?severity=high,medium ?min_severity=medium ?rule=… ?client=…
			f("DELETE /v1/findings", k.DeleteFindings),
			f("GET /v1/clients", k.ServeClients),
			f("GET /v1/rules", k.ServeRules))
	}
	if h.cfg.ConfigFile != nil {
		rs = append(rs, route{pattern: "GET /v1/config", handler: h.cfg.ConfigFile})
	}
	if h.cfg.Gatherer != nil {
		rs = append(rs, route{pattern: "GET /metrics", handler: promhttp.HandlerFor(h.cfg.Gatherer, promhttp.HandlerOpts{}), metrics: true})
	}
	return rs
}

// New returns the API handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), metrics: http.NewServeMux(), open: map[string]bool{}}
	for _, r := range h.routes() {
		h.mux.Handle(r.pattern, r.handler)
		if r.open {
			_, path, _ := strings.Cut(r.pattern, " ")
			h.open[path] = true
		}
		if r.metrics {
			h.metrics.Handle(r.pattern, r.handler)
		}
	}
	return h
}

// Metrics serves the routes meant for a listener of their own, without the
// token: /metrics (when there is a Gatherer), /healthz and /readyz.
func (h *Handler) Metrics() http.Handler { return h.metrics }

// ServeHTTP checks the token, bounds the body and dispatches.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Token != "" && !h.open[r.URL.Path] {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.cfg.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="redis-chaos"`)
			WriteError(w, http.StatusUnauthorized, "authorization", "missing or wrong bearer token")
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if _, pattern := h.mux.Handler(r); pattern == "" {
		// No route: the mux answers 404 or 405 (or redirects to a cleaned
		// path); its plain-text errors become JSON error bodies.
		w = &noRouteWriter{ResponseWriter: w, r: r}
	}
	h.mux.ServeHTTP(w, r)
}

// noRouteWriter turns the mux's plain-text 404 and 405 into JSON error bodies
// that name the path or the method.
type noRouteWriter struct {
	http.ResponseWriter
	r       *http.Request
	swallow bool // the mux's own body
}

func (w *noRouteWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		w.swallow = true
		w.Header().Del("X-Content-Type-Options")
		WriteError(w.ResponseWriter, code, "path", "no route for "+w.r.URL.Path)
	case http.StatusMethodNotAllowed:
		w.swallow = true
		w.Header().Del("X-Content-Type-Options")
		WriteError(w.ResponseWriter, code, "method", w.r.Method+" "+w.r.URL.Path+" is not served; allowed: "+w.Header().Get("Allow"))
	default:
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *noRouteWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	var err error
	if h.cfg.Ready != nil {
		err = h.cfg.Ready(r.Context())
	} else if h.cfg.Proxy == nil || h.cfg.Proxy.Topology() == nil {
		err = errors.New("no topology yet")
	}
	if err != nil {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// TopologyView is the body of GET /v1/topology.
type TopologyView struct {
	Nodes   []proxy.NodeInfo   `json:"nodes"` // port map
	Real    *topology.Topology `json:"real"`
	Virtual any                `json:"virtual"`
}

func (h *Handler) topology(w http.ResponseWriter, r *http.Request) {
	v := TopologyView{Nodes: h.cfg.Proxy.Nodes(), Real: h.cfg.Proxy.Topology()}
	v.Virtual = v.Real
	if h.cfg.Engine != nil {
		v.Virtual = h.cfg.Engine.Topology()
	}
	WriteJSON(w, http.StatusOK, v)
}

// WriteJSON writes v as JSON with the status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error  string `json:"error"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// WriteError writes an error response that names the field at fault.
func WriteError(w http.ResponseWriter, code int, field, reason string) {
	WriteJSON(w, code, ErrorBody{Error: http.StatusText(code), Field: field, Reason: reason})
}

// CheckBind refuses a non-loopback address without a token.
func CheckBind(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if token != "" {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return ErrTokenRequired
	}
	return nil
}
