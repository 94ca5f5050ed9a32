package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// statusOf maps the engine's errors to HTTP: the one place where that happens.
func statusOf(err error) (int, string) {
	var fe *fault.FieldError
	var fes fault.Errors
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &fes) && len(fes) > 0:
		return http.StatusBadRequest, fes[0].Field
	case errors.As(err, &fe):
		return http.StatusBadRequest, fe.Field
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "body"
	case errors.Is(err, chaos.ErrFaultNotFound), errors.Is(err, chaos.ErrRunNotFound), errors.Is(err, chaos.ErrScenarioNotFound):
		return http.StatusNotFound, ""
	case errors.Is(err, chaos.ErrRealRefused):
		return http.StatusConflict, "mode"
	case errors.Is(err, chaos.ErrNotStarted):
		return http.StatusServiceUnavailable, ""
	}
	return http.StatusInternalServerError, ""
}

func writeErr(w http.ResponseWriter, err error) {
	code, field := statusOf(err)
	WriteError(w, code, field, err.Error())
}

// decode reads a JSON body strictly: unknown fields are errors naming the field.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			want := ute.Type.String()
			if ute.Type == reflect.TypeFor[fault.Duration]() {
				want = `a duration such as "1.5s"`
			}
			return &fault.FieldError{Field: ute.Field, Reason: fmt.Sprintf("want %s, got %s", want, ute.Value)}
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return &fault.FieldError{Field: strings.Trim(f, `"`), Reason: "unknown field"}
		}
		if errors.Is(err, io.EOF) {
			return &fault.FieldError{Field: "body", Reason: "empty body: want a JSON object"}
		}
		return &fault.FieldError{Field: "body", Reason: "bad JSON: " + err.Error()}
	}
	if dec.More() {
		return &fault.FieldError{Field: "body", Reason: "trailing data after the JSON object"}
	}
	return nil
}

// audit logs a change: who (the remote address, the actor the client
// declares in ActorHeader, and whether it passed the bearer token check:
// never the token itself), what (the message and args) and when.
func (h *Handler) audit(r *http.Request, what string, args ...any) {
	who := slog.Group("who", "remote", r.RemoteAddr, "actor", actorOf(r), "token", h.cfg.Token != "")
	h.cfg.Logger.Info("audit: "+what, append([]any{who, "at", time.Now().UTC().Format(time.RFC3339Nano)}, args...)...)
}

// maxActor bounds the actor a client declares (in runes).
const maxActor = 128

// actorOf returns the actor the request declares, printable and bounded, or
// "undeclared". It is the client's word: the remote address and the token
// check are what the API knows.
func actorOf(r *http.Request) string {
	a := strings.TrimSpace(r.Header.Get(ActorHeader))
	if a == "" {
		return "undeclared"
	}
	a = strings.Map(func(c rune) rune {
		if !unicode.IsPrint(c) {
			return '?'
		}
		return c
	}, a)
	if rs := []rune(a); len(rs) > maxActor {
		a = string(rs[:maxActor]) + "…"
	}
	return a
}

func (h *Handler) listFaults(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, h.cfg.Engine.List())
}

func (h *Handler) addFault(w http.ResponseWriter, r *http.Request) {
	var spec fault.Spec
	if err := decode(r, &spec); err != nil {
		writeErr(w, err)
		return
	}
	f, err := h.cfg.Engine.Add(spec, "api")
	if err != nil {
		writeErr(w, err)
		return
	}
	h.audit(r, "fault added", "id", f.ID, "action", f.Spec.Action, "target", f.Spec.Target, "nodes", f.Nodes, "ttl", f.Spec.TTL.D())
	WriteJSON(w, http.StatusCreated, f)
}

func (h *Handler) clearFaults(w http.ResponseWriter, r *http.Request) {
	n := h.cfg.Engine.Clear("api")
	h.audit(r, "faults cleared", "count", n)
	WriteJSON(w, http.StatusOK, map[string]int{"removed": n})
}

func (h *Handler) getFault(w http.ResponseWriter, r *http.Request) {
	f, err := h.cfg.Engine.Get(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, f)
}

func (h *Handler) removeFault(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f, _ := h.cfg.Engine.Get(id) // for the audit log: what is removed
	if err := h.cfg.Engine.Remove(id); err != nil {
		writeErr(w, err)
		return
	}
	if f != nil {
		h.audit(r, "fault removed", "id", id, "action", f.Spec.Action, "target", f.Spec.Target, "nodes", f.Nodes)
	} else {
		h.audit(r, "fault removed", "id", id)
	}
	w.WriteHeader(http.StatusNoContent)
}

// ScenarioInfo is one entry of GET /v1/scenarios.
type ScenarioInfo struct {
	Name    string `json:"name"`
	Summary string `json:"summary"`
	Expect  string `json:"expect"`
	Hold    string `json:"hold"`
	Real    bool   `json:"real"`
}

func (h *Handler) listScenarios(w http.ResponseWriter, r *http.Request) {
	var out []ScenarioInfo
	for _, s := range chaos.ScenarioList() {
		out = append(out, ScenarioInfo{Name: s.Name, Summary: s.Summary, Expect: s.Expect, Hold: s.Hold.String(), Real: s.Real})
	}
	WriteJSON(w, http.StatusOK, out)
}

// ScenarioRequest is the body of POST /v1/scenarios/{name}.
type ScenarioRequest struct {
	Mode    string         `json:"mode"`
	Hold    fault.Duration `json:"hold"`
	Recover fault.Duration `json:"recover"`
	Seed    uint64         `json:"seed"` // informational: the engine's seed is fixed at start (--seed)
	// Clients places clients on the cut-off side of a partition scenario
	// (match.clients, client_name, lib_name); absent: half of them, by identity.
	Clients *fault.Match `json:"clients,omitempty"`
}

func (h *Handler) startScenario(w http.ResponseWriter, r *http.Request) {
	var req ScenarioRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			writeErr(w, err)
			return
		}
	}
	if req.Hold < 0 {
		writeErr(w, &fault.FieldError{Field: "hold", Reason: "must not be negative"})
		return
	}
	if req.Seed != 0 && req.Seed != h.cfg.Engine.Seed() {
		writeErr(w, &fault.FieldError{Field: "seed", Reason: fmt.Sprintf("this proxy's picks use seed %d (set with --seed at start)", h.cfg.Engine.Seed())})
		return
	}
	run, err := h.cfg.Engine.StartScenario(r.PathValue("name"), chaos.RunOptions{Mode: req.Mode, Hold: req.Hold.D(), Recover: req.Recover.D(), Clients: req.Clients})
	if err != nil {
		writeErr(w, err)
		return
	}
	h.audit(r, "scenario started", "run", run.ID, "scenario", run.Scenario, "mode", run.Mode, "nodes", run.Nodes)
	WriteJSON(w, http.StatusCreated, run)
}

func (h *Handler) listRuns(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, h.cfg.Engine.Runs())
}

func (h *Handler) getRun(w http.ResponseWriter, r *http.Request) {
	run, err := h.cfg.Engine.GetRun(r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, run)
}
