package lint

import (
	"path"
	"regexp"
	"strings"
)

// confKey is one setting read from a configuration file: a Spring
// application*.properties/.yml, a Kubernetes or Helm manifest, a
// docker-compose file or a .env file. Keys are in Spring's relaxed form:
// lower case, no dashes, no list indexes, environment variable names
// (SPRING_DATA_REDIS_CLUSTER_NODES) turned into dotted keys.
type confKey struct {
	key     string
	value   string
	line    int
	profile string // the Spring profile the setting applies to, "" for all
}

// configKeys reads the settings of a configuration file. YAML is read line by
// line, so Helm templates ({{ … }}) and embedded files (data: application.yml: |)
// are read too.
func configKeys(rel string, src *source) []confKey {
	base := path.Base(rel)
	profile := ""
	if g := profileFileRE.FindStringSubmatch(base); g != nil {
		profile = g[1]
	}
	var out []confKey
	switch {
	case strings.HasSuffix(base, ".properties"):
		out = propertiesKeys(src)
	case strings.HasSuffix(base, ".yml"), strings.HasSuffix(base, ".yaml"):
		out = yamlKeys(src)
	default:
		out = propertiesKeys(src) // .env: KEY=value
	}
	for i := range out {
		if out[i].profile == "" {
			out[i].profile = profile
		}
	}
	return out
}

var profileFileRE = regexp.MustCompile(`^(?:application|bootstrap)-([\w.-]+)\.(?:properties|ya?ml)$`)

func propertiesKeys(src *source) []confKey {
	var out []confKey
	for i, l := range strings.Split(string(src.code), "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "export "))
		if l == "" {
			continue
		}
		k, v, ok := cutKV(l)
		if ok {
			out = append(out, confKey{key: normKey(k), value: unquote(v), line: i + 1})
		}
	}
	return out
}

// cutKV splits "k=v", "k: v" or "k v" (the first separator wins).
func cutKV(l string) (string, string, bool) {
	i := strings.IndexAny(l, "=: \t")
	if i <= 0 {
		return "", "", false
	}
	k := l[:i]
	v := strings.TrimSpace(l[i:])
	v = strings.TrimSpace(strings.TrimLeft(v, "=:"))
	return k, v, true
}

var (
	yamlKeyRE   = regexp.MustCompile(`^(?:"([^"]+)"|'([^']+)'|([^\s:{}\[\]#"'][^:#]*?))\s*:(?:\s+(.*))?$`)
	envAssignRE = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.\[\]-]*)=(.*)$`)
	templateRE  = regexp.MustCompile(`^\{\{.*\}\}$`)
	listIndexRE = regexp.MustCompile(`\[\d+\]`)
)

// yamlKeys flattens YAML into dotted keys, tolerating what a YAML parser
// rejects: Helm directives, template values, tabs in block scalars.
func yamlKeys(src *source) []confKey {
	type level struct {
		indent int
		key    string
	}
	var (
		out       []confKey
		stack     []level
		docStart  int
		pendName  = map[int]string{} // list item indent → env "name:" awaiting its "value:"
		docProfil string
	)
	finishDoc := func() {
		if docProfil != "" {
			for i := docStart; i < len(out); i++ {
				if out[i].profile == "" {
					out[i].profile = docProfil
				}
			}
		}
		docStart, docProfil, stack = len(out), "", nil
	}
	for i, raw := range strings.Split(string(src.code), "\n") {
		l := strings.TrimRight(raw, " \t\r")
		t := strings.TrimSpace(l)
		if t == "" || templateRE.MatchString(t) {
			continue
		}
		if t == "---" || strings.HasPrefix(t, "--- ") {
			finishDoc()
			continue
		}
		indent := len(l) - len(strings.TrimLeft(l, " \t"))
		item := false
		for strings.HasPrefix(t, "- ") || t == "-" {
			item = true
			t = strings.TrimSpace(strings.TrimPrefix(t, "-"))
			indent += 2
		}
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		prefix := ""
		for _, s := range stack {
			prefix += s.key + "."
		}
		if g := yamlKeyRE.FindStringSubmatch(t); g != nil && !strings.Contains(g[1]+g[2]+g[3], "{{") {
			key := g[1] + g[2] + g[3]
			val := unquote(strings.TrimSpace(g[4]))
			full := normKey(prefix + key)
			out = append(out, confKey{key: full, value: val, line: i + 1})
			if strings.HasSuffix(full, "spring.config.activate.onprofile") || full == "spring.profiles" {
				docProfil = val
			}
			lk := strings.ToLower(key)
			switch {
			case item && lk == "name":
				pendName[indent] = val
			case lk == "value" && pendName[indent] != "":
				out = append(out, confKey{key: normKey(pendName[indent]), value: val, line: i + 1})
				delete(pendName, indent)
			case envNameRE.MatchString(key) && val != "":
				out = append(out, confKey{key: normKey(key), value: val, line: i + 1})
			}
			if val == "" || val == "|" || val == ">" || val == "|-" || val == ">-" || val == "|+" {
				stack = append(stack, level{indent, key})
			}
			continue
		}
		if g := envAssignRE.FindStringSubmatch(t); g != nil {
			out = append(out, confKey{key: normKey(g[1]), value: unquote(g[2]), line: i + 1})
		} else if item && len(stack) > 0 {
			// a scalar list item: one more value of the enclosing key
			out = append(out, confKey{key: normKey(strings.TrimSuffix(prefix, ".")), value: unquote(t), line: i + 1})
		}
	}
	finishDoc()
	return out
}

var envNameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*_[A-Z0-9_]+$`)

// normKey puts a key in relaxed form: spring.data.redis.cluster.nodes[0],
// spring.data.redis.cluster.Nodes and SPRING_DATA_REDIS_CLUSTER_NODES all
// become spring.data.redis.cluster.nodes.
func normKey(k string) string {
	k = strings.Trim(strings.TrimSpace(k), `"'`)
	if envNameRE.MatchString(k) {
		k = strings.ReplaceAll(k, "_", ".")
	}
	k = listIndexRE.ReplaceAllString(k, "")
	return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(k))
}

func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}

// keyIs reports whether a flattened key is the setting name or ends with it
// (a manifest nests Spring settings under its own keys).
func keyIs(k, name string) bool { return k == name || strings.HasSuffix(k, "."+name) }

func isFalse(v string) bool {
	v = strings.ToLower(strings.Trim(strings.TrimSpace(v), `"'`))
	if i := strings.Index(v, ":"); strings.HasPrefix(v, "${") && i > 0 {
		v = strings.TrimSuffix(v[i+1:], "}") // ${MANAGEMENT_HEALTH_REDIS_ENABLED:false}
	}
	return v == "false"
}

func isTrue(v string) bool {
	v = strings.ToLower(strings.Trim(strings.TrimSpace(v), `"'`))
	if i := strings.Index(v, ":"); strings.HasPrefix(v, "${") && i > 0 {
		v = strings.TrimSuffix(v[i+1:], "}")
	}
	return v == "true"
}
