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

// TestK8sSidecarRuns runs configs/k8s-sidecar.yaml's sidecar as shipped
// (test/deploy_test.go checks how its parts fit): its own arguments in front
// of a test cluster, with the upstream and the ports replaced by the test's
// and the ConfigMap's file as --config, then scrapes it where the pod's
// prometheus.io annotations say, and probes it as the kubelet would, without
// a token.
func TestK8sSidecarRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	raw, err := os.ReadFile("../../configs/k8s-sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
		} `yaml:"httpGet"`
	}
	var args []string
	var ann map[string]string
	var probes []probe
	var configText string
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	for {
		var o struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
			Spec struct {
				Template struct {
					Metadata struct {
						Annotations map[string]string `yaml:"annotations"`
					} `yaml:"metadata"`
					Spec struct {
						Containers []struct {
							Name           string   `yaml:"name"`
							Args           []string `yaml:"args"`
							ReadinessProbe probe    `yaml:"readinessProbe"`
							LivenessProbe  probe    `yaml:"livenessProbe"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch o.Kind {
		case "ConfigMap":
			configText = o.Data["config.yaml"]
		case "Deployment":
			ann = o.Spec.Template.Metadata.Annotations
			for _, c := range o.Spec.Template.Spec.Containers {
				if c.Name == "redis-chaos" {
					args, probes = c.Args, []probe{c.ReadinessProbe, c.LivenessProbe}
				}
			}
		}
	}
	if len(args) == 0 || configText == "" || ann["prometheus.io/port"] == "" {
		t.Fatalf("no sidecar args %v, ConfigMap config.yaml or prometheus.io/port %v", args, ann)
	}
	c := testenv.StartCluster(t, testenv.ClusterOptions{Replicas: -1}) // 3 shards: the ConfigMap's faults target shard:1
	conf := filepath.Join(t.TempDir(), "config.yaml")
	writeFile(t, conf, configText)
	metricsPort := strconv.Itoa(testenv.FreeBasePort(t, 1))
	run := []string{args[0]}
	for i := 1; i+1 < len(args); i += 2 {
		f, v := args[i], args[i+1]
		switch f {
		case "--upstream":
			v = c.Seed()
		case "--base-port":
			v = strconv.Itoa(testenv.FreeBasePort(t, 3))
		case "--api":
			v = "127.0.0.1:0"
		case "--metrics":
			host, port, err := net.SplitHostPort(v)
			if err != nil || port != ann["prometheus.io/port"] {
				t.Fatalf("--metrics %s: not the port Prometheus scrapes (%s)", v, ann["prometheus.io/port"])
			}
			v = net.JoinHostPort(host, metricsPort) // the same interface, a free port
		case "--config":
			v = conf
		}
		run = append(run, f, v)
	}
	b := startCLI(t, append(run, "--log-level", "warn")...)
	base := "http://127.0.0.1:" + metricsPort
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
	for _, p := range probes {
		if code, body, err := get(p.HTTPGet.Path); err != nil || code != 200 {
			t.Errorf("probe %s: %d %v %s", p.HTTPGet.Path, code, err, body)
		}
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
