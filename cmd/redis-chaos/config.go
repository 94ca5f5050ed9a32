package main

// The config file's faults: list. The file is read through viper for every
// other key; the list is read here, strictly, so that a typo in a fault is an
// error that names its line, and it is hot-reloaded: viper watches the file
// (a Kubernetes ConfigMap swap included) and every change is reconciled with
// the engine, so that one ConfigMap change reaches every sidecar.
//
//	file ──viper WatchConfig──▶ OnConfigChange ──(debounce)──▶ reload
//	                                                            │ parse + validate all (keep the old faults if bad)
//	                                                            ▼
//	           engine: remove what left the file, add what is new, replace what changed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"

	"github.com/redis-chaos/redis-chaos/chaos"
	"github.com/redis-chaos/redis-chaos/chaos/api"
	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

// configFault is one entry of the faults: list: the fields of a fault as the
// API takes them, and an optional name that identifies the entry across
// reloads (without one, an entry is identified by its content).
type configFault struct {
	Name       string `yaml:"name,omitempty" json:"name,omitempty"`
	fault.Spec `yaml:",inline"`
}

// ConfigError lists every problem of a config file.
type ConfigError struct {
	File     string
	Problems fault.Errors
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File == "" {
		fmt.Fprintf(&b, "settings: %d problem(s):", len(e.Problems))
	} else {
		fmt.Fprintf(&b, "config file %s: %d problem(s):", e.File, len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.Error())
	}
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Problems }

// configKeys are the keys a config file may hold: faults, checker (its
// thresholds, read by checkerThresholds), ports (pinned proxy ports, read by
// pinnedPorts), and every flag of
// the commands that run something (up, proxy, run, cluster …). The flags of
// the API clients (fault add --ttl …) are not settings, except --api and
// --api-token, which the proxy commands share.
func configKeys() map[string]bool {
	keys := map[string]bool{"faults": true, "checker": true, "ports": true, "api": true, "api-token": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		switch c.Name() {
		case "fault", "scenario", "topology", "findings", "help", "completion":
			return
		}
		add := func(f *pflag.Flag) {
			if f.Name != "help" {
				keys[f.Name] = true
			}
		}
		c.Flags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	return keys
}

// specKeys are the keys of a fault entry, and of its match.
var specKeys, matchKeys = yamlKeys(configFault{}), yamlKeys(fault.Match{})

func yamlKeys(v any) map[string]bool {
	keys := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			switch {
			case strings.Contains(opts, "inline"):
				walk(f.Type)
			case name == "-" || !f.IsExported():
			case name != "":
				keys[name] = true
			default:
				keys[strings.ToLower(f.Name)] = true
			}
		}
	}
	walk(reflect.TypeOf(v))
	return keys
}

// readConfigFaults reads and checks the faults: list of a config file, and
// the file's top-level keys against known. It returns every problem at once.
func readConfigFaults(file string, known map[string]bool, limits fault.Limits) ([]configFault, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var problems fault.Errors
	bad := func(field string, line int, format string, a ...any) {
		reason := fmt.Sprintf(format, a...)
		if line > 0 {
			reason += " (line " + strconv.Itoa(line) + ")"
		}
		problems = append(problems, &fault.FieldError{Field: field, Reason: reason})
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, &ConfigError{File: file, Problems: fault.Errors{syntaxProblem(b, err)}}
	}
	if len(doc.Content) == 0 { // empty file
		return nil, nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, &ConfigError{File: file, Problems: fault.Errors{{Field: "file", Reason: "want a mapping of keys to values"}}}
	}
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k := top.Content[i]
		key := strings.ToLower(k.Value)
		switch {
		case key == "faults":
			list = top.Content[i+1]
		case known != nil && !known[key]:
			hint := ""
			if alt := strings.ReplaceAll(key, "_", "-"); known[alt] {
				hint = fmt.Sprintf(": did you mean %q?", alt)
			}
			bad(keyName(k), k.Line, "unknown key%s", hint)
		}
	}
	var out []configFault
	if list != nil && !(list.Kind == yaml.ScalarNode && list.Tag == "!!null") {
		if list.Kind != yaml.SequenceNode {
			bad("faults", list.Line, "want a list of faults")
		} else {
			names := map[string]int{}
			for i, item := range list.Content {
				field := fmt.Sprintf("faults[%d]", i)
				n := len(problems)
				if !checkKeys(item, field, specKeys, bad) {
					continue
				}
				cf, failed := decodeFault(item, field, bad)
				if err := cf.Spec.Validate(limits); err != nil {
					var fes fault.Errors
					if errors.As(err, &fes) {
						for _, fe := range fes {
							top, _, _ := strings.Cut(fe.Field, ".")
							if !failed[top] { // not a value that could not be read at all
								bad(field+"."+fe.Field, fieldLine(item, fe.Field), "%s", fe.Reason)
							}
						}
					} else {
						bad(field, item.Line, "%v", err)
					}
					continue
				}
				if len(problems) > n {
					continue
				}
				if cf.Name != "" {
					if j, dup := names[cf.Name]; dup {
						bad(field+".name", item.Line, "name %q is already used by faults[%d]", cf.Name, j)
						continue
					}
					names[cf.Name] = i
				}
				out = append(out, cf)
			}
		}
	}
	if len(problems) > 0 {
		return nil, &ConfigError{File: file, Problems: problems}
	}
	return out, nil
}

// decodeFault reads a fault entry one field at a time, so that a value that
// cannot be read (a bad duration, a list for a string) is reported with its
// field and line and does not hide the problems of the other fields. It
// returns the fields that could not be read. Unknown keys are ignored here
// (checkKeys reports them).
func decodeFault(item *yaml.Node, field string, bad func(string, int, string, ...any)) (configFault, map[string]bool) {
	var cf configFault
	failed := map[string]bool{}
	for _, b := range fault.DecodeByField(item, &cf, func(k string) bool { return specKeys[k] }) {
		failed[b.Key] = true
		bad(field+"."+b.Key, b.Value.Line, "%s", b.Reason)
	}
	return cf, failed
}

// fieldLine is the line of a field ("ttl", "match.keys") of a fault entry,
// or of the entry when it does not name it.
func fieldLine(item *yaml.Node, path string) int {
	line, n := item.Line, item
	for _, name := range strings.Split(path, ".") {
		if n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				line, next = n.Content[i].Line, n.Content[i+1]
				break
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return line
}

// checkKeys reports the unknown keys of a fault entry (and of its match).
// It reports false when item is not a mapping at all.
func checkKeys(item *yaml.Node, field string, keys map[string]bool, bad func(string, int, string, ...any)) bool {
	if item.Kind != yaml.MappingNode {
		bad(field, item.Line, "want a mapping (action, target, match, ttl…)")
		return false
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		k, v := item.Content[i], item.Content[i+1]
		if !keys[k.Value] {
			hint := ""
			if alt := strings.ReplaceAll(k.Value, "-", "_"); keys[alt] {
				hint = fmt.Sprintf(": did you mean %q?", alt)
			} else if matchKeys[k.Value] && keys["match"] {
				hint = fmt.Sprintf(": %s belongs under match:", k.Value)
			}
			bad(field+"."+keyName(k), k.Line, "unknown field%s", hint)
			continue
		}
		if k.Value == "match" && keys["match"] && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			checkKeys(v, field+".match", matchKeys, bad)
		}
	}
	return true
}

// keyName names a mapping key in a problem: an empty key, or one that is not a
// plain scalar (a YAML complex key such as "? [a, b]"), still gets a name.
func keyName(k *yaml.Node) string {
	switch {
	case k.Kind == yaml.ScalarNode && k.Value != "":
		return k.Value
	case k.Kind == yaml.ScalarNode:
		return `""`
	}
	return "(a key that is not a name)"
}

// identity keys an entry across reloads; sum tells whether it changed.
func (cf *configFault) identity() (key, sum string) {
	b, _ := json.Marshal(cf.Spec)
	sum = string(b)
	if cf.Name != "" {
		return "name:" + cf.Name, sum
	}
	return "spec:" + sum, sum
}

// configFaults keeps the engine's faults in step with the config file.
type configFaults struct {
	ctx    context.Context
	file   string
	known  map[string]bool
	limits fault.Limits
	eng    *chaos.Engine
	log    *slog.Logger

	mu      sync.Mutex
	applied map[string]appliedFault // identity → the engine's fault
	timer   *time.Timer
	status  configStatus
	metrics *reloadMetrics
}

// configStatus is the body of GET /v1/config: whether the config file's
// faults: list in force is the file's current one. After a failed reload the
// faults are those of the last good version (stale).
type configStatus struct {
	File       string    `json:"file"`
	OK         bool      `json:"ok"`              // the last load or reload applied the file as it is
	LoadedAt   time.Time `json:"loaded_at"`       // the last load or reload attempt
	LastOKAt   time.Time `json:"last_ok_at"`      // the last one that succeeded: the faults in force are from then
	Error      string    `json:"error,omitempty"` // why the last attempt failed
	FaultCount int       `json:"faults"`          // faults in force from the file
}

// reloadMetrics tell Prometheus whether the config file's faults are current.
type reloadMetrics struct {
	ok      prometheus.Gauge
	reloads *prometheus.CounterVec
	okAt    prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) *reloadMetrics {
	m := &reloadMetrics{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redis_chaos_config_last_reload_successful",
			Help: "1 when the config file's faults: list was last loaded or reloaded without a problem, 0 when the faults in force are stale.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_chaos_config_reloads_total",
			Help: "Reloads of the config file's faults: list, by result (ok, error).",
		}, []string{"result"}),
		okAt: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redis_chaos_config_last_reload_success_timestamp_seconds",
			Help: "When the config file's faults: list was last loaded or reloaded without a problem (Unix time).",
		}),
	}
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	if reg != nil {
		reg.MustRegister(m.ok, m.reloads, m.okAt)
	}
	return m
}

// recordLocked notes the result of a load or reload.
func (cf *configFaults) recordLocked(err error, faults int) {
	now := time.Now()
	cf.status.LoadedAt = now
	result := "ok"
	if err != nil {
		result = "error"
		cf.status.OK, cf.status.Error = false, err.Error()
		cf.metrics.ok.Set(0)
	} else {
		cf.status.OK, cf.status.Error, cf.status.LastOKAt, cf.status.FaultCount = true, "", now, faults
		cf.metrics.ok.Set(1)
		cf.metrics.okAt.Set(float64(now.UnixNano()) / 1e9)
	}
	if !cf.status.LastOKAt.IsZero() || err == nil { // the first load's failure stops start-up: not a reload
		cf.metrics.reloads.WithLabelValues(result).Inc()
	}
}

func (cf *configFaults) serveStatus(w http.ResponseWriter, _ *http.Request) {
	cf.mu.Lock()
	st := cf.status
	cf.mu.Unlock()
	api.WriteJSON(w, http.StatusOK, st)
}

type appliedFault struct{ id, sum string }

// configFaultsDebounce lets an editor finish writing before a reload.
const configFaultsDebounce = 150 * time.Millisecond

// newConfigFaults returns the config file's faults: list, not yet applied;
// nil without a config file. Its status (GET /v1/config, served by
// serveStatus, and the redis_chaos_config_* metrics on reg) tells whether the
// faults in force are the file's current ones.
func newConfigFaults(v *viper.Viper, reg prometheus.Registerer, log *slog.Logger) *configFaults {
	file := v.ConfigFileUsed()
	if file == "" {
		return nil
	}
	cf := &configFaults{file: file, known: configKeys(), log: log,
		limits:  fault.Limits{DefaultTTL: v.GetDuration("default-ttl"), MaxTTL: v.GetDuration("max-ttl")},
		applied: map[string]appliedFault{}, status: configStatus{File: file}, metrics: newReloadMetrics(reg)}
	if !strictConfig(file) {
		cf.known = nil
	}
	return cf
}

// start adds the config file's faults (source "config") and watches the
// file until ctx ends. A bad file, or a fault the engine refuses, is an
// error that lists every problem.
func (cf *configFaults) start(ctx context.Context, v *viper.Viper, eng *chaos.Engine) error {
	cf.ctx, cf.eng = ctx, eng
	file, log := cf.file, cf.log
	list, err := readConfigFaults(file, cf.known, cf.limits)
	if err != nil {
		return err
	}
	cf.mu.Lock()
	problems := cf.reconcileLocked(list)
	cf.mu.Unlock()
	if len(problems) > 0 {
		for _, a := range cf.applied {
			_ = eng.Remove(a.id)
		}
		return &ConfigError{File: file, Problems: problems}
	}
	if len(list) > 0 {
		log.Info("faults added from the config file", "file", file, "count", len(list))
	}
	cf.mu.Lock()
	cf.recordLocked(nil, len(list))
	cf.mu.Unlock()
	v.OnConfigChange(func(fsnotify.Event) { cf.changed() })
	v.WatchConfig()
	context.AfterFunc(ctx, func() {
		cf.mu.Lock()
		if cf.timer != nil {
			cf.timer.Stop()
		}
		cf.mu.Unlock()
	})
	return nil
}

// strictConfig reports whether the file is YAML (or JSON), which this file
// reads itself; other formats viper reads are not checked for unknown keys.
func strictConfig(file string) bool {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// changed schedules a reload once the file has been quiet for a moment.
func (cf *configFaults) changed() {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if cf.ctx.Err() != nil {
		return
	}
	if cf.timer != nil {
		cf.timer.Stop()
	}
	cf.timer = time.AfterFunc(configFaultsDebounce, cf.reload)
}

// reload re-reads the file and reconciles; a bad file keeps the faults as they are.
func (cf *configFaults) reload() {
	list, err := readConfigFaults(cf.file, cf.known, cf.limits)
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if cf.ctx.Err() != nil {
		return
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// A ConfigMap swap removes the file for a moment; the next event re-reads it.
			cf.log.Warn("config file gone; faults kept", "file", cf.file)
			return
		}
		cf.log.Error("config file not reloaded: faults kept as they were", "err", err)
		cf.recordLocked(err, 0)
		return
	}
	if problems := cf.reconcileLocked(list); len(problems) > 0 {
		err := &ConfigError{File: cf.file, Problems: problems}
		cf.log.Error("config file reloaded with problems", "err", err)
		cf.recordLocked(err, 0)
		return
	}
	cf.log.Info("config file reloaded", "file", cf.file, "faults", len(list))
	cf.recordLocked(nil, len(list))
}

// reconcileLocked makes the engine's config faults those of list: faults that
// left the file are removed, new ones added, changed ones replaced; unchanged
// entries keep their fault (and its TTL) as it is.
func (cf *configFaults) reconcileLocked(list []configFault) fault.Errors {
	type entry struct {
		i   int
		cf  configFault
		sum string
	}
	want := map[string]entry{}
	var order []string
	for i, c := range list {
		key, sum := c.identity()
		for n := 2; ; n++ { // identical unnamed entries are distinct faults
			if _, dup := want[key]; !dup {
				break
			}
			k, _ := c.identity()
			key = k + "#" + strconv.Itoa(n)
		}
		want[key] = entry{i, c, sum}
		order = append(order, key)
	}
	gone := make([]string, 0)
	for key, a := range cf.applied {
		if w, ok := want[key]; !ok || w.sum != a.sum {
			gone = append(gone, key)
		}
	}
	sort.Strings(gone)
	for _, key := range gone {
		a := cf.applied[key]
		if err := cf.eng.Remove(a.id); err != nil && !errors.Is(err, chaos.ErrFaultNotFound) {
			cf.log.Warn("config: remove fault", "id", a.id, "err", err)
		}
		delete(cf.applied, key)
		cf.audit("fault removed", "id", a.id)
	}
	var problems fault.Errors
	for _, key := range order {
		if _, ok := cf.applied[key]; ok {
			continue // unchanged
		}
		w := want[key]
		spec := w.cf.Spec
		spec.Match.Commands = append([]string(nil), spec.Match.Commands...)
		spec.Match.Categories = append([]string(nil), spec.Match.Categories...)
		f, err := cf.eng.Add(spec, "config")
		if err != nil {
			field := fmt.Sprintf("faults[%d]", w.i)
			var fe *fault.FieldError
			var fes fault.Errors
			switch {
			case errors.As(err, &fes):
				for _, e := range fes {
					problems = append(problems, &fault.FieldError{Field: field + "." + e.Field, Reason: e.Reason})
				}
			case errors.As(err, &fe):
				problems = append(problems, &fault.FieldError{Field: field + "." + fe.Field, Reason: fe.Reason})
			default:
				problems = append(problems, &fault.FieldError{Field: field, Reason: err.Error()})
			}
			continue
		}
		cf.applied[key] = appliedFault{id: f.ID, sum: w.sum}
		cf.audit("fault added", "id", f.ID, "action", f.Spec.Action, "target", f.Spec.Target, "nodes", f.Nodes, "ttl", f.Spec.TTL.D(), "name", w.cf.Name)
	}
	return problems
}

// audit logs a fault change the config file made, in the control API's
// audit format (who: the file).
func (cf *configFaults) audit(what string, args ...any) {
	who := slog.Group("who", "config", cf.file)
	cf.log.Info("audit: "+what, append([]any{who, "at", time.Now().UTC().Format(time.RFC3339Nano)}, args...)...)
}
