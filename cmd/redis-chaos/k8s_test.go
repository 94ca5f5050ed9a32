package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// k8sObject is the part of a Kubernetes object the manifest test reads.
type k8sObject struct {
	Kind     string            `yaml:"kind"`
	Metadata k8sMeta           `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
	Spec     struct {
		Template struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				Containers []k8sContainer `yaml:"containers"`
				Volumes    []struct {
					Name      string `yaml:"name"`
					ConfigMap struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
		Ports []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type k8sMeta struct {
	Name        string            `yaml:"name"`
	Annotations map[string]string `yaml:"annotations"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Args  []string `yaml:"args"`
	Env   []k8sEnv `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  k8sProbe `yaml:"livenessProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
}

type k8sEnv struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// TestK8sSidecarManifest: configs/k8s-sidecar.yaml applies as one file without
// overwriting a Secret, and Prometheus can scrape the sidecar as shipped: the
// pod's prometheus.io annotations and the Service name a token-free metrics
// listener bound on the pod's address, the probes use it, and the API either
// stays on loopback (no token needed) or takes its token from a Secret the file
// does not hold. Then the sidecar's own arguments are run (the upstream and
// the ports replaced by a test cluster's and free ones, the ConfigMap's file
// as --config), and its metrics, readiness and health answer without a token.
func TestK8sSidecarManifest(t *testing.T) {
	raw, err := os.ReadFile("../../configs/k8s-sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var objs []k8sObject
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	var deploy, svc *k8sObject
	configMaps := map[string]*k8sObject{}
	for i := range objs {
		switch o := &objs[i]; o.Kind {
		case "Secret":
			t.Errorf("the manifest holds Secret %s: kubectl apply would overwrite the one its users create", o.Metadata.Name)
		case "Deployment":
			deploy = o
		case "Service":
			svc = o
		case "ConfigMap":
			configMaps[o.Metadata.Name] = o
		}
	}
	if deploy == nil || svc == nil {
		t.Fatalf("no Deployment or Service in %v", objs)
	}
	var rc *k8sContainer
	for i, c := range deploy.Spec.Template.Spec.Containers {
		if c.Name == "redis-chaos" {
			rc = &deploy.Spec.Template.Spec.Containers[i]
		}
	}
	if rc == nil || len(rc.Args) == 0 || rc.Args[0] != "proxy" {
		t.Fatalf("no redis-chaos proxy container: %+v", deploy.Spec.Template.Spec.Containers)
	}
	flags := map[string]string{}
	for i := 1; i+1 < len(rc.Args); i += 2 {
		flags[rc.Args[i]] = rc.Args[i+1]
	}

	// The metrics listener: on the pod's address, where the annotations and
	// the Service point, and the probes use it.
	mhost, mport, err := net.SplitHostPort(flags["--metrics"])
	if err != nil {
		t.Fatalf("--metrics %q: %v", flags["--metrics"], err)
	}
	if mhost != "0.0.0.0" && mhost != "" && mhost != "::" && mhost != "$(POD_IP)" {
		t.Errorf("--metrics %s: not on the pod's address (Prometheus and the kubelet come from outside the pod)", flags["--metrics"])
	}
	ann := deploy.Spec.Template.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != mport || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("prometheus.io annotations %v do not point at --metrics %s /metrics", ann, flags["--metrics"])
	}
	portName := ""
	for _, p := range rc.Ports {
		if strconv.Itoa(p.ContainerPort) == mport {
			portName = p.Name
		}
	}
	if portName == "" {
		t.Errorf("the container declares no port %s: %+v", mport, rc.Ports)
	}
	isMetrics := func(port any) bool { return fmt.Sprint(port) == portName || fmt.Sprint(port) == mport }
	for _, p := range []struct {
		probe k8sProbe
		path  string
	}{{rc.ReadinessProbe, "/readyz"}, {rc.LivenessProbe, "/healthz"}} {
		if p.probe.HTTPGet.Path != p.path || !isMetrics(p.probe.HTTPGet.Port) {
			t.Errorf("probe %+v: want %s on the metrics port (the kubelet probes the pod's address)", p.probe.HTTPGet, p.path)
		}
	}
	served := false
	for _, p := range svc.Spec.Ports {
		served = served || isMetrics(p.TargetPort)
	}
	if !served {
		t.Errorf("Service %s does not expose the metrics port: %+v", svc.Metadata.Name, svc.Spec.Ports)
	}

	// The API: on loopback needs no token; elsewhere its token comes from a
	// Secret this file does not hold.
	ahost, _, err := net.SplitHostPort(flags["--api"])
	if err != nil {
		t.Fatalf("--api %q: %v", flags["--api"], err)
	}
	if ip := net.ParseIP(ahost); ip == nil || !ip.IsLoopback() {
		ok := false
		for _, e := range rc.Env {
			ok = ok || e.Name == "REDIS_CHAOS_API_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil
		}
		if !ok {
			t.Errorf("--api %s off loopback without REDIS_CHAOS_API_TOKEN from a secretKeyRef", flags["--api"])
		}
	}

	// The config file is the ConfigMap's, mounted as a directory (hot reload).
	var configText string
	for _, m := range rc.VolumeMounts {
		if m.SubPath != "" {
			t.Errorf("volume %s mounted with subPath: kubelet would not update it, no hot reload", m.Name)
		}
		for _, v := range deploy.Spec.Template.Spec.Volumes {
			if v.Name != m.Name || configMaps[v.ConfigMap.Name] == nil {
				continue
			}
			for key, text := range configMaps[v.ConfigMap.Name].Data {
				if filepath.Join(m.MountPath, key) == flags["--config"] {
					configText = text
				}
			}
		}
	}
	if configText == "" {
		t.Fatalf("--config %s is no key of a mounted ConfigMap", flags["--config"])
	}

	if testing.Short() {
		return
	}
	// Run the sidecar's arguments in front of a test cluster.
	c := testenv.StartCluster(t, testenv.ClusterOptions{Replicas: -1}) // 3 shards: the ConfigMap's faults target shard:1
	conf := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, conf, configText)
	metricsPort := testenv.FreeBasePort(t, 1)
	args := []string{"proxy"}
	for i := 1; i+1 < len(rc.Args); i += 2 {
		f, v := rc.Args[i], rc.Args[i+1]
		switch f {
		case "--upstream":
			v = c.Seed()
		case "--base-port":
			v = strconv.Itoa(testenv.FreeBasePort(t, 3))
		case "--api":
			v = "127.0.0.1:0"
		case "--metrics":
			v = net.JoinHostPort(mhost, strconv.Itoa(metricsPort))
		case "--config":
			v = conf
		}
		args = append(args, f, v)
	}
	b := startCLI(t, append(args, "--log-level", "warn")...)
	base := "http://127.0.0.1:" + strconv.Itoa(metricsPort)
	get := func(path string) (int, string, error) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), nil
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		code, body, err := get(ann["prometheus.io/path"])
		if err != nil || code != 200 || !strings.Contains(body, "redis_chaos_faults_active") {
			return fmt.Errorf("scrape %s%s: %d %v\n%s", base, ann["prometheus.io/path"], code, err, b.out.String())
		}
		return nil
	})
	for _, p := range []string{rc.ReadinessProbe.HTTPGet.Path, rc.LivenessProbe.HTTPGet.Path} {
		if code, body, err := get(p); err != nil || code != 200 {
			t.Errorf("probe %s: %d %v %s", p, code, err, body)
		}
	}
	if code, _, err := get("/v1/faults"); err != nil || code != 404 {
		t.Errorf("the metrics listener serves /v1/faults: %d %v", code, err)
	}
}

// TestMetricsListenerNoToken: with an API token, the --metrics listener
// still serves /metrics and the probes without one, and nothing else; the
// banner names it.
func TestMetricsListenerNoToken(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{Shards: 1, Replicas: -1})
	port := testenv.FreeBasePort(t, 1)
	b, apiAddr := startProxyCLI(t, c.Seed(), "--api-token", "s3cret", "--metrics", "127.0.0.1:"+strconv.Itoa(port))
	if want := "metrics and health, no token: http://127.0.0.1:" + strconv.Itoa(port); !strings.Contains(b.out.String(), want) {
		t.Errorf("banner lacks %q:\n%s", want, b.out.String())
	}
	status := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	m := "http://127.0.0.1:" + strconv.Itoa(port)
	for path, want := range map[string]int{"/metrics": 200, "/healthz": 200, "/readyz": 200, "/v1/faults": 404, "/v1/topology": 404} {
		if got := status(m + path); got != want {
			t.Errorf("metrics listener %s: %d, want %d", path, got, want)
		}
	}
	if got := status("http://" + apiAddr + "/metrics"); got != 401 {
		t.Errorf("API /metrics without the token: %d, want 401", got)
	}
}
