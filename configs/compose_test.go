package configs

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// interpolate replaces Compose's ${VAR:-default} with its default.
func interpolate(s string) string {
	return regexp.MustCompile(`\$\{\w+:-([^}]*)\}`).ReplaceAllString(s, "$1")
}

// TestCompose: docker-compose.yml states the Compose it needs, matches what
// the README tells its users (the announce host's variable), and its
// Prometheus scrapes the proxy's token-free metrics listener as shipped.
func TestCompose(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Name     string `yaml:"name"`
		Services map[string]struct {
			Command  any      `yaml:"command"` // a list, or a string
			Ports    []string `yaml:"ports"`
			Volumes  []any    `yaml:"volumes"`
			Profiles []string `yaml:"profiles"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(interpolate(string(raw))), &compose); err != nil {
		t.Fatal(err)
	}
	// The top-level name needs Compose v2: the file and the README say so.
	if compose.Name == "" || !strings.Contains(string(raw), "Compose v2") || !strings.Contains(string(readme), "Docker Compose v2") {
		t.Error("docker-compose.yml and the README must state that the file needs Docker Compose v2")
	}

	proxy, ok := compose.Services["proxy"]
	if !ok {
		t.Fatal("no proxy service")
	}
	var args []string
	if list, ok := proxy.Command.([]any); ok {
		for _, a := range list {
			args = append(args, a.(string))
		}
	}
	flags := map[string]string{}
	for i := 0; i+1 < len(args); i++ {
		if strings.HasPrefix(args[i], "--") {
			flags[args[i]] = args[i+1]
		}
	}
	// The README's way to serve containers on the compose network is the
	// variable the file reads for --announce-host.
	if !strings.Contains(string(raw), "--announce-host\n      - ${REDIS_CHAOS_ANNOUNCE_HOST:-127.0.0.1}") {
		t.Error("the proxy's --announce-host is not ${REDIS_CHAOS_ANNOUNCE_HOST:-127.0.0.1}")
	}
	if !strings.Contains(string(readme), "REDIS_CHAOS_ANNOUNCE_HOST=proxy docker compose up") {
		t.Error("the README does not tell compose users REDIS_CHAOS_ANNOUNCE_HOST=proxy")
	}
	if strings.Contains(string(readme), "(set `--announce-host proxy`)") {
		t.Error("the README tells compose users a flag the compose file does not take from them")
	}

	// Prometheus scrapes the metrics listener, which needs no token.
	host, port, err := net.SplitHostPort(flags["--metrics"])
	if err != nil || host != "0.0.0.0" {
		t.Fatalf("proxy --metrics %q: want 0.0.0.0:PORT (Prometheus is another container)", flags["--metrics"])
	}
	prom, err := os.ReadFile("prometheus.yml")
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
	found := false
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, "proxy:"+port) {
				found = true
				if sc.MetricsPath != "/metrics" || sc.Authorization != nil {
					t.Errorf("the scrape of proxy:%s: path %q, authorization %v", port, sc.MetricsPath, sc.Authorization)
				}
			}
		}
	}
	if !found {
		t.Errorf("prometheus.yml does not scrape proxy:%s", port)
	}

	// The files the services mount exist.
	for name, s := range compose.Services {
		for _, v := range s.Volumes {
			src := ""
			switch v := v.(type) {
			case string:
				src, _, _ = strings.Cut(v, ":")
			case map[string]any:
				src, _ = v["source"].(string)
			}
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}
}
