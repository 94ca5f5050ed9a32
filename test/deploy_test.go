package test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// No Docker engine or Kubernetes cluster runs here: these tests parse
// docker-compose.yml and configs/k8s-sidecar.yaml and check that services,
// containers, ports and the proxy's flags agree with one another.

// flagValues reads "--name value" and "--name=value" pairs of an argument list.
func flagValues(args []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			val = args[i+1]
			i++
		}
		out[name] = val
	}
	return out
}

// expandDefaults replaces ${VAR:-default} and ${VAR} with the default (or "").
var envRef = regexp.MustCompile(`\$\{([A-Z0-9_]+)(:-([^}]*))?\}`)

func expandDefaults(s string) string {
	return envRef.ReplaceAllString(s, "$3")
}

func portOf(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatalf("%q: %v", hostPort, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%q: %v", hostPort, err)
	}
	return n
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// portRange parses "7001-7009" or "7001".
func portRange(t *testing.T, s string) (int, int) {
	t.Helper()
	lo, hi, ok := strings.Cut(s, "-")
	a, err := strconv.Atoi(lo)
	if err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	if !ok {
		return a, a
	}
	b, err := strconv.Atoi(hi)
	if err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return a, b
}

// published parses a compose short port syntax "[IP:]HOST:CONTAINER".
type published struct {
	ip                 string
	hostLo, hostHi     int
	contLo, contHi     int
	containerPortsText string
}

func parsePublished(t *testing.T, s string) published {
	t.Helper()
	s = strings.TrimSuffix(s, "/tcp")
	parts := strings.Split(s, ":")
	var p published
	switch len(parts) {
	case 2:
	case 3:
		p.ip, parts = parts[0], parts[1:]
	default:
		t.Fatalf("port %q: want [IP:]HOST:CONTAINER", s)
	}
	p.hostLo, p.hostHi = portRange(t, parts[0])
	p.contLo, p.contHi = portRange(t, parts[1])
	p.containerPortsText = parts[1]
	return p
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     any               `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	DependsOn   any               `yaml:"depends_on"`
	Profiles    []string          `yaml:"profiles"`
	Volumes     []any             `yaml:"volumes"`
	Entrypoint  any               `yaml:"entrypoint"`
}

func commandArgs(c any) []string {
	switch c := c.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		var out []string
		for _, x := range c {
			out = append(out, expandDefaults(toString(x)))
		}
		return out
	}
	return nil
}

func toString(x any) string {
	switch x := x.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	}
	b, _ := json.Marshal(x)
	return string(b)
}

func TestComposeFile(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Name     string                    `yaml:"name"`
		Services map[string]composeService `yaml:"services"`
		Networks map[string]any            `yaml:"networks"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}

	// The reference topology: 9 cluster nodes, each with its port.
	nodePort := map[string]int{}
	for name, s := range doc.Services {
		args := commandArgs(s.Command)
		if len(args) == 0 || !strings.Contains(strings.Join(args, " "), "--cluster-enabled yes") {
			continue
		}
		p := flagValues(args)["port"]
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Errorf("service %s: --port %q", name, p)
		}
		nodePort[name] = n
	}
	if len(nodePort) != 9 {
		t.Fatalf("%d cluster-enabled redis services, want 9 (3 shards × 3): %v", len(nodePort), nodePort)
	}

	proxy, ok := doc.Services["proxy"]
	if !ok {
		t.Fatal("no proxy service")
	}
	args := commandArgs(proxy.Command)
	if len(args) == 0 || args[0] != "proxy" {
		t.Fatalf("proxy command %v: want the proxy subcommand", args)
	}
	flags := flagValues(args)

	// --upstream names the cluster's services on their ports.
	up := strings.Split(flags["upstream"], ",")
	if len(up) == 0 || up[0] == "" {
		t.Fatal("proxy: no --upstream")
	}
	for _, a := range up {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			t.Errorf("--upstream %q: %v", a, err)
			continue
		}
		want, ok := nodePort[host]
		if !ok {
			t.Errorf("--upstream %s: no such cluster service", a)
		} else if port != strconv.Itoa(want) {
			t.Errorf("--upstream %s: the service listens on %d", a, want)
		}
	}

	// Published proxy ports: base-port .. base-port+8, the same on the host
	// (clients are told the announce host with the container's ports).
	base, err := strconv.Atoi(flags["base-port"])
	if err != nil {
		t.Fatalf("--base-port %q: %v", flags["base-port"], err)
	}
	if h := flags["listen-host"]; loopback(h) || h == "" {
		t.Errorf("--listen-host %q: a container must listen off loopback for published ports", h)
	}
	apiPort := portOf(t, flags["api"])
	var proxyPorts, apiPublished bool
	for _, s := range proxy.Ports {
		p := parsePublished(t, expandDefaults(s))
		switch {
		case p.contLo == apiPort && p.contHi == apiPort:
			apiPublished = true
		case p.contLo == base:
			proxyPorts = true
			if p.contHi != base+len(nodePort)-1 {
				t.Errorf("port %q: want one proxy port per node, %d-%d", s, base, base+len(nodePort)-1)
			}
			if p.hostLo != p.contLo || p.hostHi != p.contHi {
				t.Errorf("port %q: host ports must equal the container's (they are announced to clients)", s)
			}
			if ann := flags["announce-host"]; loopback(ann) && p.ip != "" && !loopback(p.ip) {
				t.Errorf("port %q: announce host %s but published on %s", s, ann, p.ip)
			}
		default:
			t.Errorf("proxy port %q matches neither --base-port %d nor --api %s", s, base, flags["api"])
		}
	}
	if !proxyPorts || !apiPublished {
		t.Errorf("proxy ports %v: want the proxy range and the API port published", proxy.Ports)
	}

	// Off loopback, the API needs its token.
	if host, _, _ := net.SplitHostPort(flags["api"]); !loopback(host) {
		tok := expandDefaults(proxy.Environment["REDIS_CHAOS_API_TOKEN"])
		if tok == "" && flags["api-token"] == "" {
			t.Errorf("--api %s is off loopback: REDIS_CHAOS_API_TOKEN must be set", flags["api"])
		}
	}

	// Monitoring: Prometheus scrapes the proxy's token-free metrics listener,
	// bound where the Prometheus container reaches it; Grafana mounts the dashboard.
	metricsHost, _, _ := net.SplitHostPort(flags["metrics"])
	metricsPort := portOf(t, flags["metrics"])
	if loopback(metricsHost) {
		t.Errorf("--metrics %s: Prometheus, another container, cannot reach loopback", flags["metrics"])
	}
	prom, err := os.ReadFile("../configs/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var pc struct {
		ScrapeConfigs []struct {
			MetricsPath   string         `yaml:"metrics_path"`
			Authorization map[string]any `yaml:"authorization"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(prom, &pc); err != nil {
		t.Fatal(err)
	}
	scraped := false
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				if target == "proxy:"+strconv.Itoa(metricsPort) {
					scraped = true
					if sc.MetricsPath != "/metrics" || sc.Authorization != nil {
						t.Errorf("the scrape of %s: path %q, authorization %v (the metrics listener takes no token)", target, sc.MetricsPath, sc.Authorization)
					}
				}
			}
		}
	}
	if !scraped {
		t.Errorf("configs/prometheus.yml does not scrape the metrics listener proxy:%d", metricsPort)
	}

	// What the file needs and how its users point containers at the proxy
	// agree with the README.
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if doc.Name == "" || !bytes.Contains(b, []byte("Compose v2")) || !bytes.Contains(readme, []byte("Docker Compose v2")) {
		t.Error("the top-level name: needs Docker Compose v2: docker-compose.yml and the README must say so")
	}
	if !regexp.MustCompile(`--announce-host\s*\n\s*- \$\{REDIS_CHAOS_ANNOUNCE_HOST:-`).Match(b) ||
		!bytes.Contains(readme, []byte("REDIS_CHAOS_ANNOUNCE_HOST=proxy docker compose up")) {
		t.Error("the proxy's --announce-host must be ${REDIS_CHAOS_ANNOUNCE_HOST:-…}, the variable the README tells compose users to set")
	}
	graf, ok := doc.Services["grafana"]
	if !ok {
		t.Fatal("no grafana service")
	}
	mounted := false
	for _, v := range graf.Volumes {
		if strings.Contains(toString(v), "configs/grafana-dashboard.json") {
			mounted = true
		}
	}
	if !mounted {
		t.Error("grafana does not mount configs/grafana-dashboard.json")
	}
}

// k8sDocs reads every document of a multi-document YAML file.
func k8sDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// at walks a parsed YAML tree: at(d, "spec", "template", "spec").
func at(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func list(v any) []map[string]any {
	xs, _ := v.([]any)
	var out []map[string]any
	for _, x := range xs {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func TestK8sSidecar(t *testing.T) {
	docs := k8sDocs(t, "../configs/k8s-sidecar.yaml")
	byKind := map[string][]map[string]any{}
	for _, d := range docs {
		k := toString(d["kind"])
		byKind[k] = append(byKind[k], d)
	}
	for _, k := range []string{"ConfigMap", "Deployment", "Service"} {
		if len(byKind[k]) != 1 {
			t.Fatalf("%d %s documents, want 1", len(byKind[k]), k)
		}
	}
	if len(byKind["Secret"]) != 0 {
		t.Error("the manifest holds a Secret: kubectl apply would overwrite the one its users create")
	}
	cm, dep, svc := byKind["ConfigMap"][0], byKind["Deployment"][0], byKind["Service"][0]
	pod := at(dep, "spec", "template", "spec")
	var app, chaos map[string]any
	for _, c := range list(at(pod, "containers")) {
		switch c["name"] {
		case "redis-chaos":
			chaos = c
		default:
			app = c
		}
	}
	if chaos == nil || app == nil {
		t.Fatal("the Deployment needs the app container and the redis-chaos sidecar")
	}
	var args []string
	for _, a := range chaos["args"].([]any) {
		args = append(args, toString(a))
	}
	if len(args) == 0 || args[0] != "proxy" {
		t.Fatalf("sidecar args %v: want proxy", args)
	}
	flags := flagValues(args)
	if flags["upstream"] == "" {
		t.Error("sidecar: no --upstream")
	}
	for _, a := range strings.Split(flags["upstream"], ",") {
		if _, _, err := net.SplitHostPort(a); err != nil {
			t.Errorf("--upstream %q: %v", a, err)
		}
	}
	base, err := strconv.Atoi(flags["base-port"])
	if err != nil {
		t.Fatalf("--base-port: %v", err)
	}
	if !loopback(flags["listen-host"]) || !loopback(flags["announce-host"]) {
		t.Errorf("sidecar: listen %q announce %q: the app reaches the proxy on the pod's loopback", flags["listen-host"], flags["announce-host"])
	}

	// The app's seeds are the sidecar's ports.
	seeds := ""
	for _, e := range list(app["env"]) {
		if e["name"] == "REDIS_CLUSTER_ADDRS" {
			seeds = toString(e["value"])
		}
	}
	if seeds == "" {
		t.Error("app: no REDIS_CLUSTER_ADDRS")
	}
	for _, a := range strings.Split(seeds, ",") {
		host, _, _ := net.SplitHostPort(a)
		if p := portOf(t, a); host != flags["announce-host"] || p < base || p >= base+9 {
			t.Errorf("app seed %s: not a sidecar port (%s:%d-%d)", a, flags["announce-host"], base, base+8)
		}
	}

	// The metrics listener is on the pod's address, exposed, probed, served and
	// scraped; it needs no token.
	metricsHost, _, _ := net.SplitHostPort(flags["metrics"])
	metricsPort := portOf(t, flags["metrics"])
	if metricsHost != "0.0.0.0" && metricsHost != "" && metricsHost != "::" {
		t.Errorf("--metrics %s: Prometheus and the kubelet reach the pod's address, not its loopback", flags["metrics"])
	}
	portName := ""
	for _, p := range list(chaos["ports"]) {
		if p["containerPort"] == metricsPort {
			portName = toString(p["name"])
		}
	}
	if portName == "" {
		t.Errorf("sidecar: --metrics port %d is not a containerPort", metricsPort)
	}
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		if p := toString(at(chaos, probe, "httpGet", "port")); p != portName && p != strconv.Itoa(metricsPort) {
			t.Errorf("%s port %s: want %s (the kubelet probes the pod's address)", probe, p, portName)
		}
	}
	for _, p := range list(at(svc, "spec", "ports")) {
		if tp := toString(p["targetPort"]); tp != portName && tp != strconv.Itoa(metricsPort) {
			t.Errorf("service targetPort %s: want %s", tp, portName)
		}
	}
	ann := at(dep, "spec", "template", "metadata", "annotations")
	if toString(at(ann, "prometheus.io/scrape")) != "true" || toString(at(ann, "prometheus.io/port")) != strconv.Itoa(metricsPort) ||
		toString(at(ann, "prometheus.io/path")) != "/metrics" {
		t.Errorf("pod annotations %v: want Prometheus to scrape :%d/metrics", ann, metricsPort)
	}

	// The API: on loopback it needs no token (kubectl port-forward reaches
	// it); off loopback its token comes from a Secret this file does not hold.
	if apiHost, _, _ := net.SplitHostPort(flags["api"]); !loopback(apiHost) {
		ok := false
		for _, e := range list(chaos["env"]) {
			if e["name"] == "REDIS_CHAOS_API_TOKEN" && toString(at(e, "valueFrom", "secretKeyRef", "name")) != "" {
				ok = true
			}
		}
		if !ok {
			t.Errorf("--api %s is off loopback: REDIS_CHAOS_API_TOKEN must come from a Secret", flags["api"])
		}
	}

	// --config is the ConfigMap, mounted as a directory so that updates reach
	// the file (subPath mounts are never updated: no hot reload).
	cfg := flags["config"]
	var mountVolume string
	for _, m := range list(chaos["volumeMounts"]) {
		mp := toString(m["mountPath"])
		if filepath.Dir(cfg) == filepath.Clean(mp) {
			mountVolume = toString(m["name"])
			if m["subPath"] != nil {
				t.Error("the config is mounted with subPath: ConfigMap updates would never reach it")
			}
		}
	}
	if mountVolume == "" {
		t.Fatalf("--config %s: no volume mounted at %s", cfg, filepath.Dir(cfg))
	}
	cmName := ""
	for _, v := range list(at(pod, "volumes")) {
		if v["name"] == mountVolume {
			cmName = toString(at(v, "configMap", "name"))
		}
	}
	if cmName != toString(at(cm, "metadata", "name")) {
		t.Fatalf("volume %s: configMap %q, want %q", mountVolume, cmName, at(cm, "metadata", "name"))
	}
	text, ok := at(cm, "data", filepath.Base(cfg)).(string)
	if !ok {
		t.Fatalf("ConfigMap has no key %s", filepath.Base(cfg))
	}
	var conf struct {
		Faults []map[string]any `yaml:"faults"`
	}
	if err := yaml.Unmarshal([]byte(text), &conf); err != nil {
		t.Fatalf("ConfigMap %s: %v", filepath.Base(cfg), err)
	}
	if len(conf.Faults) == 0 {
		t.Error("the ConfigMap has no faults")
	}
	for i, f := range conf.Faults {
		if f["action"] == nil || f["target"] == nil || f["ttl"] == nil {
			t.Errorf("faults[%d]: want action, target and ttl: %v", i, f)
		}
	}
}

// TestGrafanaDashboard checks that the dashboard parses, uses the data
// source of configs/grafana/provisioning and only metrics the code defines.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../configs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title      string `json:"title"`
			Type       string `json:"type"`
			Datasource *struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	defined := map[string]bool{}
	name := regexp.MustCompile(`Name:\s*"(redis_chaos_[a-z_]+)"`)
	for _, dir := range []string{"../proxy", "../chaos", "../chaos/checker"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range name.FindAllSubmatch(src, -1) {
				defined[string(m[1])] = true
			}
		}
	}
	if len(defined) < 5 {
		t.Fatalf("found only %d metric definitions: %v", len(defined), defined)
	}
	used := regexp.MustCompile(`redis_chaos_[a-z_]+`)
	seen := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "prometheus" {
			t.Errorf("panel %q: data source uid must be prometheus", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range used.FindAllString(tg.Expr, -1) {
				m = strings.TrimSuffix(m, "_bucket")
				seen[m] = true
				if !defined[m] {
					t.Errorf("panel %q: %s is not a metric of redis-chaos", p.Title, m)
				}
			}
		}
	}
	for _, want := range []string{"redis_chaos_commands_total", "redis_chaos_faults_active", "redis_chaos_findings_total"} {
		if !seen[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}
