// Package api is the HTTP control API of redis-chaos: health, topology,
// faults, scenarios, runs and findings under /v1, and Prometheus metrics.
//
//	mux := api.New(api.Config{Proxy: srv, Gatherer: reg})
//	http.Serve(ln, mux)
//
// Every route is in Routes; errors map to HTTP status codes in one place
// (writeError).
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
	Logger *slog.Logger // audit log of fault changes; nil logs nothing
}

// Handler serves the control API.
type Handler struct {
	cfg Config
	mux *http.ServeMux
}

// New returns the API handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.Routes()
	return h
}

// Routes registers every route; it is the one route table of the API.
func (h *Handler) Routes() {
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.HandleFunc("GET /readyz", h.readyz)
	h.mux.HandleFunc("GET /v1/topology", h.topology)
	if h.cfg.Engine != nil {
		h.mux.HandleFunc("GET /v1/faults", h.listFaults)
		h.mux.HandleFunc("POST /v1/faults", h.addFault)
		h.mux.HandleFunc("DELETE /v1/faults", h.clearFaults)
		h.mux.HandleFunc("GET /v1/faults/{id}", h.getFault)
		h.mux.HandleFunc("DELETE /v1/faults/{id}", h.removeFault)
		h.mux.HandleFunc("GET /v1/scenarios", h.listScenarios)
		h.mux.HandleFunc("POST /v1/scenarios/{name}", h.startScenario)
		h.mux.HandleFunc("GET /v1/runs", h.listRuns)
		h.mux.HandleFunc("GET /v1/runs/{id}", h.getRun)
	}
	if h.cfg.Gatherer != nil {
		h.mux.Handle("GET /metrics", promhttp.HandlerFor(h.cfg.Gatherer, promhttp.HandlerOpts{}))
	}
}

// Handle adds a route (used by the packages that extend the API).
func (h *Handler) Handle(pattern string, handler http.Handler) { h.mux.Handle(pattern, handler) }

// ServeHTTP checks the token, bounds the body and dispatches.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Token != "" && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
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
