package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// Client is a first-party client of the control API, used by the CLI and the
// tests:
//
//	c := api.NewClient("127.0.0.1:8470", os.Getenv("REDIS_CHAOS_API_TOKEN"))
//	f, err := c.AddFault(ctx, fault.Spec{Action: "error", Error: "MISCONF", Target: "master", TTL: fault.Duration(30 * time.Second)})
//
// Every method returns an *Error when the API answers with an error status.
type Client struct {
	// BaseURL is the API's root, e.g. "http://127.0.0.1:8470".
	BaseURL string
	// Token is sent as a bearer token when not empty.
	Token string
	// Actor names who acts (e.g. "alice@laptop"), sent in ActorHeader when
	// not empty; the API's audit log records it.
	Actor string
	// HTTP is the client used for requests; if nil, one with a 30 s timeout.
	HTTP *http.Client
}

// NewClient returns a client of the API at baseURL ("127.0.0.1:8470" or
// "http://host:port"); token may be empty.
func NewClient(baseURL, token string) *Client {
	baseURL = strings.TrimSpace(baseURL)
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token}
}

// Error is an error status from the API, with its JSON body.
type Error struct {
	Method, Path string
	Status       int
	Body         ErrorBody // Reason holds the raw body when it was not JSON
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Body.Field != "" && !strings.HasPrefix(e.Body.Reason, e.Body.Field+": ") {
		b.WriteString(": " + e.Body.Field)
	}
	if e.Body.Reason != "" {
		b.WriteString(": " + e.Body.Reason)
	}
	return b.String()
}

// IsNotFound reports whether err is a 404 from the API.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// StatusOf returns the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// AddFault adds a fault (POST /v1/faults) and returns it with its id and the
// nodes its target resolved to.
func (c *Client) AddFault(ctx context.Context, spec fault.Spec) (*chaos.Fault, error) {
	var f chaos.Fault
	if err := c.do(ctx, http.MethodPost, "/v1/faults", spec, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// AddFaultJSON adds a fault given as raw JSON, as a user wrote it.
func (c *Client) AddFaultJSON(ctx context.Context, spec json.RawMessage) (*chaos.Fault, error) {
	var f chaos.Fault
	if err := c.do(ctx, http.MethodPost, "/v1/faults", spec, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Faults lists the pending and active faults (GET /v1/faults).
func (c *Client) Faults(ctx context.Context) ([]*chaos.Fault, error) {
	var fs []*chaos.Fault
	if err := c.do(ctx, http.MethodGet, "/v1/faults", nil, &fs); err != nil {
		return nil, err
	}
	return fs, nil
}

// Fault returns one fault (GET /v1/faults/{id}).
func (c *Client) Fault(ctx context.Context, id string) (*chaos.Fault, error) {
	var f chaos.Fault
	if err := c.do(ctx, http.MethodGet, "/v1/faults/"+url.PathEscape(id), nil, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// RemoveFault ends a fault now (DELETE /v1/faults/{id}).
func (c *Client) RemoveFault(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/faults/"+url.PathEscape(id), nil, nil)
}

// ClearFaults ends every fault (DELETE /v1/faults) and returns how many there were.
func (c *Client) ClearFaults(ctx context.Context) (int, error) {
	var out struct {
		Removed int `json:"removed"`
	}
	err := c.do(ctx, http.MethodDelete, "/v1/faults", nil, &out)
	return out.Removed, err
}

// Scenarios lists the built-in scenarios (GET /v1/scenarios).
func (c *Client) Scenarios(ctx context.Context) ([]ScenarioInfo, error) {
	var out []ScenarioInfo
	if err := c.do(ctx, http.MethodGet, "/v1/scenarios", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// StartScenario starts a scenario (POST /v1/scenarios/{name}) and returns its run.
func (c *Client) StartScenario(ctx context.Context, name string, req ScenarioRequest) (*chaos.Run, error) {
	var r chaos.Run
	if err := c.do(ctx, http.MethodPost, "/v1/scenarios/"+url.PathEscape(name), req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Run returns a run (GET /v1/runs/{id}).
func (c *Client) Run(ctx context.Context, id string) (*chaos.Run, error) {
	var r chaos.Run
	if err := c.do(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(id), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Runs lists every run (GET /v1/runs).
func (c *Client) Runs(ctx context.Context) ([]*chaos.Run, error) {
	var rs []*chaos.Run
	if err := c.do(ctx, http.MethodGet, "/v1/runs", nil, &rs); err != nil {
		return nil, err
	}
	return rs, nil
}

// Topology is GET /v1/topology as the client reads it.
type Topology struct {
	Nodes []proxy.NodeInfo   `json:"nodes"` // port map
	Real  *topology.Topology `json:"real"`
	// Virtual is the cluster as clients see it; nil when the proxy has no
	// chaos engine (then it equals Real).
	Virtual *chaos.VirtualView `json:"virtual"`
}

// Topology returns the port map and the real and virtual views (GET /v1/topology).
func (c *Client) Topology(ctx context.Context) (*Topology, error) {
	var raw struct {
		Nodes   []proxy.NodeInfo   `json:"nodes"`
		Real    *topology.Topology `json:"real"`
		Virtual json.RawMessage    `json:"virtual"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/topology", nil, &raw); err != nil {
		return nil, err
	}
	t := Topology{Nodes: raw.Nodes, Real: raw.Real}
	// Without an engine the "virtual" view is the real topology: only an
	// engine's view has a cluster state.
	var probe struct {
		State *string `json:"cluster_state"`
	}
	if len(raw.Virtual) > 0 && json.Unmarshal(raw.Virtual, &probe) == nil && probe.State != nil {
		var v chaos.VirtualView
		if err := json.Unmarshal(raw.Virtual, &v); err != nil {
			return nil, fmt.Errorf("GET /v1/topology: virtual view: %w", err)
		}
		t.Virtual = &v
	}
	return &t, nil
}

// FindingClient names the client of a finding.
type FindingClient struct {
	Addr    string `json:"addr"`
	LibName string `json:"lib_name"`
	LibVer  string `json:"lib_ver"`
	Name    string `json:"name"`
}

// Finding is one finding of the checker as GET /v1/findings serves it. Fields
// the client does not know are kept in Raw.
type Finding struct {
	Rule        string            `json:"rule"`
	Severity    string            `json:"severity"`
	Title       string            `json:"title"`
	Client      FindingClient     `json:"client"`
	FirstSeen   time.Time         `json:"first_seen"`
	LastSeen    time.Time         `json:"last_seen"`
	Count       int               `json:"count"`
	Nodes       []string          `json:"nodes"`
	Explanation string            `json:"explanation"`
	Correct     string            `json:"correct"`
	Remedy      string            `json:"remedy"`
	Remedies    map[string]string `json:"remedies,omitempty"`
	Raw         json.RawMessage   `json:"-"`
}

// Findings returns the checker's findings (GET /v1/findings). A proxy without
// a checker answers 404: IsNotFound(err) tells.
func (c *Client) Findings(ctx context.Context) ([]Finding, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/v1/findings", nil, &raw); err != nil {
		return nil, err
	}
	// Either a bare list or an object holding the list under "findings".
	list := []json.RawMessage{}
	if err := json.Unmarshal(raw, &list); err != nil {
		var obj struct {
			Findings []json.RawMessage `json:"findings"`
		}
		if err2 := json.Unmarshal(raw, &obj); err2 != nil {
			return nil, fmt.Errorf("GET /v1/findings: %w", err)
		}
		list = obj.Findings
	}
	out := make([]Finding, 0, len(list))
	for _, r := range list {
		var f Finding
		if err := json.Unmarshal(r, &f); err != nil {
			return nil, fmt.Errorf("GET /v1/findings: %w", err)
		}
		f.Raw = r
		out = append(out, f)
	}
	return out, nil
}

// WatchedClient is one client the checker watched, as GET /v1/clients
// serves it.
type WatchedClient struct {
	FindingClient
	Conns    int    `json:"conns"`    // open now
	Connects uint64 `json:"connects"` // connections opened
	Commands uint64 `json:"commands"` // commands answered or failed
	Findings int    `json:"findings"` // rules broken
}

// Clients returns the clients the checker watched (GET /v1/clients).
func (c *Client) Clients(ctx context.Context) ([]WatchedClient, error) {
	var body struct {
		Clients []WatchedClient `json:"clients"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/clients", nil, &body); err != nil {
		return nil, err
	}
	return body.Clients, nil
}

// ClearFindings forgets every finding (DELETE /v1/findings).
func (c *Client) ClearFindings(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/v1/findings", nil, nil)
}

// Get decodes the JSON answer of GET path into out: for routes other parts
// add to the control API (checker.Routes, the config file's status).
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// Healthy checks /healthz.
func (c *Client) Healthy(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
}

// do sends a request with body as JSON (a json.RawMessage is sent as is) and
// decodes a 2xx answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, ok := body.(json.RawMessage)
		if !ok {
			var err error
			if b, err = json.Marshal(body); err != nil {
				return fmt.Errorf("%s %s: %w", method, path, err)
			}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.Actor != "" {
		req.Header.Set(ActorHeader, strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f { // not allowed in a header value
				return '?'
			}
			return r
		}, c.Actor))
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Method: method, Path: path, Status: resp.StatusCode}
		if json.Unmarshal(data, &e.Body) != nil || (e.Body.Error == "" && e.Body.Reason == "") {
			e.Body = ErrorBody{Error: http.StatusText(resp.StatusCode), Reason: strings.TrimSpace(string(data))}
		}
		return e
	}
	if out == nil || resp.StatusCode == http.StatusNoContent || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}
