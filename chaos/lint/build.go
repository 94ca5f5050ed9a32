package lint

import (
	"bytes"
	"encoding/json"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Client names, as used in Client.Name and in the rule ids' prefixes.
const (
	Lettuce        = "lettuce"
	Jedis          = "jedis"
	GoRedis        = "go-redis"
	Rueidis        = "rueidis"
	NodeRedis      = "node-redis"
	IORedis        = "ioredis"
	RedisPy        = "redis-py"
	RedisPyCluster = "redis-py-cluster"
	Spring         = "spring-data-redis"
)

// actuator is the pseudo-client a build declares with Spring Boot Actuator.
const actuator = "spring-boot-actuator"

// coordinates of the artifacts the lint knows, by ecosystem.
var (
	mavenClients = map[string]string{
		"io.lettuce:lettuce-core": Lettuce, "biz.paluch.redis:lettuce": Lettuce,
		"redis.clients:jedis": Jedis,
		"org.springframework.boot:spring-boot-starter-data-redis":          Spring,
		"org.springframework.boot:spring-boot-starter-data-redis-reactive": Spring,
		"org.springframework.data:spring-data-redis":                       Spring,
		"org.springframework.boot:spring-boot-starter-actuator":            actuator,
	}
	npmClients = map[string]string{"ioredis": IORedis, "redis": NodeRedis, "@redis/client": NodeRedis}
	pyClients  = map[string]string{"redis": RedisPy, "redis-py-cluster": RedisPyCluster}
	goClients  = regexp.MustCompile(`^(github\.com/(?:redis/go-redis|go-redis/redis)(?:/v\d+)?|github\.com/redis/rueidis)$`)
)

// decl is one client declaration in a build file.
type decl struct {
	client string
	pkg    string // the artifact or package as declared
	spec   vspec
	file   string
	indir  bool // a Go "// indirect" requirement
}

// module is a directory with build files: what they declare and what the
// lint needs to resolve versions there.
type module struct {
	dir      string // slash path relative to the scan root ("" for the root)
	files    []string
	decls    []decl
	props    map[string]string // Maven properties, Gradle variables
	boot     string            // Spring Boot version, if the build names one
	bootFrom string            // where the Boot version comes from
	name     string            // Maven artifactId or Gradle project directory name
	uses     []string          // in-repo modules it depends on (artifactIds or project paths)
	parent   string            // Maven parent artifactId, if in the repository
	// noLettuce: the build excludes Lettuce from the starter
	noLettuce bool
}

func newModule(dir string) *module { return &module{dir: dir, props: map[string]string{}} }

// buildKind reports whether a file name is a build or lock file the lint reads.
func buildKind(rel string) bool {
	base := path.Base(rel)
	switch {
	case base == "go.mod", base == "package.json", base == "package-lock.json", base == "npm-shrinkwrap.json",
		base == "yarn.lock", base == "pnpm-lock.yaml",
		base == "pyproject.toml", base == "Pipfile", base == "Pipfile.lock", base == "setup.py", base == "setup.cfg",
		base == "poetry.lock", base == "uv.lock", base == "pdm.lock",
		base == "pom.xml", base == "gradle.properties", base == "libs.versions.toml",
		strings.HasSuffix(base, ".gradle"), strings.HasSuffix(base, ".gradle.kts"),
		strings.HasPrefix(base, "requirements") && strings.HasSuffix(base, ".txt"):
		return true
	}
	return false
}

// isLock reports whether a build file only pins versions (it declares nothing).
func isLock(base string) bool {
	switch base {
	case "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "Pipfile.lock", "poetry.lock", "uv.lock", "pdm.lock":
		return true
	}
	return false
}

// read parses one build file into its module.
func (m *module) read(rel string, data []byte) {
	m.files = append(m.files, rel)
	if bytes.Contains(data, []byte("io.lettuce")) && excludeLettuceRE.Match(data) {
		m.noLettuce = true
	}
	base := path.Base(rel)
	switch {
	case base == "go.mod":
		m.readGoMod(rel, data)
	case base == "package.json":
		m.readPackageJSON(rel, data)
	case base == "pom.xml":
		m.readPom(rel, data)
	case base == "gradle.properties":
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(strings.TrimSpace(l), "#") {
				m.props[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	case base == "libs.versions.toml":
		m.readCatalog(rel, data)
	case strings.HasSuffix(base, ".gradle"), strings.HasSuffix(base, ".gradle.kts"):
		m.readGradle(rel, data)
	case base == "pyproject.toml", base == "Pipfile", base == "setup.py", base == "setup.cfg",
		strings.HasPrefix(base, "requirements"):
		m.readPython(rel, data)
	}
}

var goRequireRE = regexp.MustCompile(`(?m)^\s*(?:require\s+)?(\S+)\s+(v[0-9]\S*)(.*)$`)

var goModuleRE = regexp.MustCompile(`(?m)^module\s+(\S+)`)

func (m *module) readGoMod(rel string, data []byte) {
	if g := goModuleRE.FindSubmatch(data); g != nil {
		m.name = string(g[1])
	}
	for _, g := range goRequireRE.FindAllSubmatch(data, -1) {
		mod := string(g[1])
		if !goClients.MatchString(mod) {
			continue
		}
		name := GoRedis
		if strings.Contains(mod, "rueidis") {
			name = Rueidis
		}
		v := strings.TrimPrefix(strings.TrimSuffix(string(g[2]), "+incompatible"), "v")
		m.decls = append(m.decls, decl{client: name, pkg: mod, spec: vspec{exact: v}, file: rel, indir: strings.Contains(string(g[3]), "indirect")})
	}
}

func (m *module) readPackageJSON(rel string, data []byte) {
	var pkg struct {
		Name    string            `json:"name"`
		Deps    map[string]string `json:"dependencies"`
		DevDeps map[string]string `json:"devDependencies"`
		Opt     map[string]string `json:"optionalDependencies"`
		Peer    map[string]string `json:"peerDependencies"`
	}
	if json.Unmarshal(data, &pkg) != nil {
		return
	}
	m.name = pkg.Name
	for _, deps := range []map[string]string{pkg.Deps, pkg.Opt, pkg.Peer, pkg.DevDeps} {
		for name, r := range deps {
			client, ok := npmClients[name]
			if !ok {
				if strings.HasPrefix(r, "workspace:") || strings.HasPrefix(r, "file:") {
					m.uses = append(m.uses, name)
				}
				continue
			}
			spec := vspec{rng: r}
			if v, ok := parseVersion(r); ok && v.String() == strings.TrimSpace(r) {
				spec = vspec{exact: r}
			}
			m.decls = append(m.decls, decl{client: client, pkg: name, spec: spec, file: rel})
		}
	}
}

// Python requirement lines: redis, redis[hiredis]>=4.2.2,<8 ; markers.
var (
	pyReqRE    = regexp.MustCompile(`(?m)^\s*["']?(redis|redis-py-cluster)(\[[^\]]*\])?\s*((?:[<>=!~^]=?|===)\s*[0-9][^;"'#\s,]*(?:\s*,\s*(?:[<>=!~]=?)\s*[0-9][^;"'#\s,]*)*)?\s*(?:["',;#\\]|$)`)
	pyPoetryRE = regexp.MustCompile(`(?m)^\s*(redis|redis-py-cluster)\s*=\s*(?:"([^"]*)"|\{[^}]*version\s*=\s*"([^"]*)")`)
)

func (m *module) readPython(rel string, data []byte) {
	seen := map[string]bool{}
	add := func(pkg, r string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		r = strings.TrimSpace(r)
		spec := vspec{rng: r}
		if strings.HasPrefix(r, "==") && !strings.ContainsAny(r, ",*") {
			spec = vspec{exact: strings.TrimSpace(strings.TrimPrefix(r, "=="))}
		} else if r == "*" || r == "" {
			spec = vspec{}
		}
		m.decls = append(m.decls, decl{client: pyClients[pkg], pkg: pkg, spec: spec, file: rel})
	}
	for _, g := range pyPoetryRE.FindAllStringSubmatch(string(data), -1) {
		add(g[1], g[2]+g[3])
	}
	for _, g := range pyReqRE.FindAllStringSubmatch(string(data), -1) {
		add(g[1], g[3])
	}
}

var (
	xmlCommentRE   = regexp.MustCompile(`(?s)<!--.*?-->`)
	pomBlockRE     = func(tag string) *regexp.Regexp { return regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`) }
	pomParentRE    = pomBlockRE("parent")
	pomPropsRE     = pomBlockRE("properties")
	pomDepRE       = pomBlockRE("dependency")
	pomDepMgmtRE   = regexp.MustCompile(`(?s)<dependencyManagement>.*?</dependencyManagement>`)
	pomPluginRE    = pomBlockRE("plugin")
	pomPropRE      = regexp.MustCompile(`<([A-Za-z0-9_.-]+)>\s*([^<]*?)\s*</[A-Za-z0-9_.-]+>`)
	pomStripRE     = regexp.MustCompile(`(?s)<(parent|dependencies|dependencyManagement|build|profiles|reporting|properties|modules)>.*?</(parent|dependencies|dependencyManagement|build|profiles|reporting|properties|modules)>`)
	propertyRefRE  = regexp.MustCompile(`\$\{([^}]+)\}`)
	gradleVarRefRE = regexp.MustCompile(`\$\{?([A-Za-z_][\w.]*?)\}?(?:["'\s]|$)`)
)

// pomTags are the element patterns pomTag reads.
var pomTags = func() map[string]*regexp.Regexp {
	m := map[string]*regexp.Regexp{}
	for _, tag := range []string{"groupId", "artifactId", "version", "scope"} {
		m[tag] = regexp.MustCompile(`<` + tag + `>\s*([^<]*?)\s*</` + tag + `>`)
	}
	return m
}()

// pomTag is the text of the first <tag> element in a block of a pom.
func pomTag(block, tag string) string {
	if g := pomTags[tag].FindStringSubmatch(block); g != nil {
		return g[1]
	}
	return ""
}

func (m *module) readPom(rel string, data []byte) {
	text := xmlCommentRE.ReplaceAllString(string(data), "")
	if p := pomPropsRE.FindStringSubmatch(text); p != nil {
		for _, g := range pomPropRE.FindAllStringSubmatch(p[1], -1) {
			m.props[g[1]] = g[2]
		}
	}
	top := pomStripRE.ReplaceAllString(text, "")
	m.name = pomTag(top, "artifactId")
	if v := pomTag(top, "version"); v != "" {
		m.props["project.version"] = v
	}
	if p := pomParentRE.FindStringSubmatch(text); p != nil {
		art, ver := pomTag(p[1], "artifactId"), pomTag(p[1], "version")
		m.props["project.parent.version"] = ver
		if m.props["project.version"] == "" {
			m.props["project.version"] = ver
		}
		if art == "spring-boot-starter-parent" || art == "spring-boot-dependencies" {
			m.boot, m.bootFrom = ver, rel
		} else {
			m.parent = art
		}
	}
	managed := ""
	if dm := pomDepMgmtRE.FindString(text); dm != "" {
		managed = dm
		text = strings.Replace(text, dm, "", 1)
	}
	for _, g := range pomDepRE.FindAllStringSubmatch(managed, -1) {
		group, art, ver := pomTag(g[1], "groupId"), pomTag(g[1], "artifactId"), pomTag(g[1], "version")
		if art == "spring-boot-dependencies" && pomTag(g[1], "scope") == "import" {
			m.boot, m.bootFrom = ver, rel
		}
		m.props["managed."+group+":"+art] = ver
	}
	for _, g := range pomDepRE.FindAllStringSubmatch(text, -1) {
		group, art, ver := pomTag(g[1], "groupId"), pomTag(g[1], "artifactId"), pomTag(g[1], "version")
		if ver == "" {
			ver = "${managed." + group + ":" + art + "}"
		}
		if client, ok := mavenClients[group+":"+art]; ok {
			if pomTag(g[1], "scope") == "test" {
				continue
			}
			m.decls = append(m.decls, decl{client: client, pkg: group + ":" + art, spec: vspec{exact: ver}, file: rel})
			continue
		}
		m.uses = append(m.uses, art)
	}
	if m.boot == "" {
		for _, g := range pomPluginRE.FindAllStringSubmatch(text, -1) {
			if pomTag(g[1], "artifactId") == "spring-boot-maven-plugin" && pomTag(g[1], "version") != "" {
				m.boot, m.bootFrom = pomTag(g[1], "version"), rel
			}
		}
	}
}

var (
	gradleCoordRE   = regexp.MustCompile(`["']([\w.-]+):([\w.-]+)(?::([^"'@:]+))?(?:@\w+)?["']`)
	gradleMapRE     = regexp.MustCompile(`group\s*[:=]\s*["']([\w.-]+)["']\s*,\s*name\s*[:=]\s*["']([\w.-]+)["'](?:\s*,\s*version\s*[:=]\s*(["'][^"']+["']|[\w.]+))?`)
	gradleAssignRE  = regexp.MustCompile(`(?m)(?:^|[\s{;(,])(?:(?:def|val|var|ext\.|project\.ext\.)\s*)?["']?([A-Za-z_][\w.]*)["']?\]?\s*(?:=|:)\s*["']([0-9][^"'$]*)["']`)
	gradleExtraRE   = regexp.MustCompile(`(?:extra|ext|set)\s*[\[(]\s*["']([\w.]+)["']\s*[\])]?\s*(?:=|,)\s*["']([^"']+)["']`)
	gradleBootRE    = regexp.MustCompile(`["']org\.springframework\.boot["']\s*\)?\s*version\s*\(?\s*["']([^"']+)["']|spring-boot-(?:gradle-plugin|dependencies):([^"')\s]+)`)
	gradleProjectRE = regexp.MustCompile(`project\s*\(\s*(?:path\s*[:=]\s*)?["']([:\w.-]+)["']`)
	gradleLibsRE    = regexp.MustCompile(`\blibs\.((?:[a-z][\w]*)(?:\.[a-z][\w]*)*)`)
	gradleTestConf  = regexp.MustCompile(`^\s*(?:test\w*|androidTest\w*)\s*[\s(]`)
)

func (m *module) readGradle(rel string, data []byte) {
	text := string(newSource(data, synC).code)
	for _, g := range gradleAssignRE.FindAllStringSubmatch(text, -1) {
		m.props[g[1]] = g[2]
	}
	for _, g := range gradleExtraRE.FindAllStringSubmatch(text, -1) {
		m.props[g[1]] = g[2]
	}
	for _, g := range gradleBootRE.FindAllStringSubmatch(text, -1) {
		if v := g[1] + g[2]; v != "" {
			m.boot, m.bootFrom = v, rel
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if gradleTestConf.MatchString(line) {
			continue
		}
		for _, g := range gradleCoordRE.FindAllStringSubmatch(line, -1) {
			m.addGradleDep(rel, g[1], g[2], g[3])
		}
		for _, g := range gradleMapRE.FindAllStringSubmatch(line, -1) {
			m.addGradleDep(rel, g[1], g[2], strings.Trim(g[3], `"'`))
		}
		for _, g := range gradleLibsRE.FindAllStringSubmatch(line, -1) {
			if !strings.HasPrefix(g[1], "versions.") && !strings.HasPrefix(g[1], "plugins.") && !strings.HasPrefix(g[1], "bundles.") {
				m.uses = append(m.uses, "libs:"+g[1])
			}
		}
		for _, g := range gradleProjectRE.FindAllStringSubmatch(line, -1) {
			m.uses = append(m.uses, "project:"+g[1])
		}
	}
}

func (m *module) addGradleDep(rel, group, art, ver string) {
	client, ok := mavenClients[group+":"+art]
	if !ok {
		return
	}
	if ver != "" && isIdentStart(ver[0]) {
		ver = "${" + ver + "}" // version: revJedis
	}
	m.decls = append(m.decls, decl{client: client, pkg: group + ":" + art, spec: vspec{exact: ver}, file: rel})
}

// A version catalog entry: alias = "g:a:v" or { module = "g:a", version.ref = "x" }.
var (
	tomlSectionRE = regexp.MustCompile(`^\s*\[([\w.-]+)\]\s*$`)
	tomlKVRE      = regexp.MustCompile(`^\s*([\w.-]+)\s*=\s*(.+?)\s*$`)
	tomlFieldRE   = regexp.MustCompile(`([\w.]+)\s*=\s*"([^"]*)"`)
)

func (m *module) readCatalog(rel string, data []byte) {
	section := ""
	versions := map[string]string{}
	type lib struct{ alias, coord, ver, ref string }
	var libs []lib
	for _, l := range strings.Split(string(data), "\n") {
		if g := tomlSectionRE.FindStringSubmatch(l); g != nil {
			section = g[1]
			continue
		}
		g := tomlKVRE.FindStringSubmatch(l)
		if g == nil {
			continue
		}
		key, val := g[1], g[2]
		switch section {
		case "versions":
			versions[key] = strings.Trim(val, `"`)
		case "libraries":
			e := lib{alias: key}
			if strings.HasPrefix(val, `"`) {
				parts := strings.Split(strings.Trim(val, `"`), ":")
				if len(parts) >= 2 {
					e.coord = parts[0] + ":" + parts[1]
				}
				if len(parts) == 3 {
					e.ver = parts[2]
				}
			} else {
				f := map[string]string{}
				for _, fg := range tomlFieldRE.FindAllStringSubmatch(val, -1) {
					f[fg[1]] = fg[2]
				}
				e.coord = f["module"]
				if f["group"] != "" {
					e.coord = f["group"] + ":" + f["name"]
				}
				e.ver, e.ref = f["version"], f["version.ref"]
			}
			libs = append(libs, e)
		case "plugins":
			if strings.Contains(val, "org.springframework.boot") {
				f := map[string]string{}
				for _, fg := range tomlFieldRE.FindAllStringSubmatch(val, -1) {
					f[fg[1]] = fg[2]
				}
				m.props["catalog.plugin.spring-boot"] = f["version"] + versions[f["version.ref"]]
			}
		}
	}
	for k, v := range versions {
		m.props["catalog.version."+k] = v
	}
	for _, e := range libs {
		ver := e.ver
		if e.ref != "" {
			ver = versions[e.ref]
		}
		alias := strings.NewReplacer("-", ".", "_", ".").Replace(e.alias)
		m.props["catalog.lib."+alias] = e.coord + ":" + ver
	}
	if v := m.props["catalog.plugin.spring-boot"]; v != "" && m.boot == "" {
		m.boot, m.bootFrom = v, rel
	}
}

// lockVersions reads the exact versions a lock file pins, by package name.
// For npm lock files with workspaces the key is "dir/name" for a package
// installed under a workspace directory.
func lockVersions(base string, data []byte) map[string]string {
	out := map[string]string{}
	switch base {
	case "package-lock.json", "npm-shrinkwrap.json":
		var lock struct {
			Packages map[string]struct {
				Version string `json:"version"`
			} `json:"packages"`
			Dependencies map[string]struct {
				Version string `json:"version"`
			} `json:"dependencies"`
		}
		if json.Unmarshal(data, &lock) != nil {
			return out
		}
		for p, v := range lock.Packages {
			dir, name, ok := strings.Cut(p, "node_modules/")
			if !ok || strings.Contains(name, "node_modules/") {
				continue
			}
			out[strings.TrimSuffix(dir, "/")+"|"+name] = v.Version
		}
		for n, v := range lock.Dependencies {
			if _, ok := out["|"+n]; !ok {
				out["|"+n] = v.Version
			}
		}
	case "yarn.lock":
		re := regexp.MustCompile(`(?m)^"?((?:@[\w.-]+/)?[\w.-]+)@[^\n]*:\n\s+version:?\s+"?([0-9][^"\s]*)`)
		for _, g := range re.FindAllStringSubmatch(string(data), -1) {
			if _, ok := out["|"+g[1]]; !ok {
				out["|"+g[1]] = g[2]
			}
		}
	case "pnpm-lock.yaml":
		re := regexp.MustCompile(`(?m)^\s+['"]?/?((?:@[\w.-]+/)?[\w.-]+)@([0-9][^:('"\s]*)`)
		for _, g := range re.FindAllStringSubmatch(string(data), -1) {
			if _, ok := out["|"+g[1]]; !ok {
				out["|"+g[1]] = g[2]
			}
		}
	case "poetry.lock", "uv.lock", "pdm.lock":
		re := regexp.MustCompile(`(?m)^name\s*=\s*"([\w.-]+)"\s*\nversion\s*=\s*"([^"]+)"`)
		for _, g := range re.FindAllStringSubmatch(string(data), -1) {
			out["|"+strings.ToLower(g[1])] = g[2]
		}
	case "Pipfile.lock":
		var lock map[string]map[string]struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(data, &lock) == nil {
			for _, sect := range []string{"develop", "default"} {
				for n, v := range lock[sect] {
					out["|"+n] = strings.TrimPrefix(v.Version, "==")
				}
			}
		}
	}
	return out
}

// resolve expands ${prop} references with the module's properties and its
// ancestors'; an unresolved reference leaves the version unknown.
func (s *scan) resolve(m *module, v string) string {
	for i := 0; i < 5 && strings.Contains(v, "$"); i++ {
		v = propertyRefRE.ReplaceAllStringFunc(v, func(ref string) string {
			name := strings.TrimSuffix(strings.TrimPrefix(ref, "${"), "}")
			if val := s.prop(m, name); val != "" {
				return val
			}
			return ref
		})
		v = gradleVarRefRE.ReplaceAllStringFunc(v, func(ref string) string {
			name := strings.Trim(ref, `${}"' `)
			if val := s.prop(m, name); val != "" {
				return val
			}
			return ref
		})
	}
	if strings.Contains(v, "$") {
		return ""
	}
	return v
}

// prop looks a property up in the module, its Maven parents and the
// directories above it.
func (s *scan) prop(m *module, name string) string {
	name = strings.TrimPrefix(name, "rootProject.")
	name = strings.TrimPrefix(name, "project.ext.")
	for _, a := range s.lineage(m) {
		if v, ok := a.props[name]; ok {
			return v
		}
		if v, ok := a.props["catalog.version."+strings.TrimPrefix(name, "libs.versions.")]; ok {
			return v
		}
	}
	return ""
}

// lineage is the module, its in-repository Maven parents, then the modules in
// the directories above it (nearest first), then buildSrc.
func (s *scan) lineage(m *module) []*module {
	var out []*module
	seen := map[*module]bool{}
	add := func(a *module) {
		if a != nil && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for a := m; a != nil; a = s.byName[a.parent] {
		add(a)
		if len(out) > 20 {
			break
		}
	}
	for dir := m.dir; ; {
		add(s.modules[dir])
		if dir == "" {
			break
		}
		dir = parentDir(dir)
	}
	for _, b := range s.buildSrc {
		add(b)
	}
	return out
}

func parentDir(dir string) string {
	if p := path.Dir(dir); p != "." {
		return p
	}
	return ""
}

// moduleOf is the nearest module at or above a file's directory.
func (s *scan) moduleOf(rel string) *module {
	for dir := parentDir(rel); ; dir = parentDir(dir) {
		if m := s.modules[dir]; m != nil && len(m.files) > 0 && !onlyLocks(m) {
			return m
		}
		if dir == "" {
			if m := s.modules[""]; m != nil {
				return m
			}
			return newModule("")
		}
	}
}

func onlyLocks(m *module) bool {
	for _, f := range m.files {
		if !isLock(path.Base(f)) {
			return false
		}
	}
	return true
}

// bootVersion is the Spring Boot version a module builds with, and where it
// is declared: a Maven parent or BOM, the Gradle plugin, a version catalog,
// or a springBootVersion-like property that the build applies to the plugin.
func (s *scan) bootVersion(m *module) (string, string) {
	for _, a := range s.lineage(m) {
		if a.boot != "" {
			if v := s.resolve(a, a.boot); v != "" {
				return v, a.bootFrom
			}
		}
	}
	for _, a := range s.lineage(m) {
		for k, v := range a.props {
			if bootPropRE.MatchString(k) {
				if v = s.resolve(a, v); v != "" {
					return v, a.dir
				}
			}
		}
	}
	return "", ""
}

var bootPropRE = regexp.MustCompile(`(?i)^(?:catalog\.version\.)?spring[._-]?boot(?:[._-]?version)?$`)

// related is every module whose declarations reach a module's code: the
// module's lineage, the in-repository modules it uses (transitively) and
// those that use it (transitively: an application that includes a library
// module puts the library's beans next to its own dependencies).
func (s *scan) related(m *module) []*module {
	if r, ok := s.relatedCache[m]; ok {
		return r
	}
	seen := map[*module]bool{}
	var out []*module
	var visit func(a *module, down bool)
	visit = func(a *module, down bool) {
		if a == nil || seen[a] {
			return
		}
		seen[a] = true
		out = append(out, a)
		for _, l := range s.lineage(a) {
			visit(l, down)
		}
		for _, u := range a.uses {
			for _, t := range s.lookupUse(a, u) {
				visit(t, true)
			}
		}
		if !down {
			for _, user := range s.usedBy[a] {
				visit(user, false)
			}
		}
	}
	visit(m, false)
	s.relatedCache[m] = out
	return out
}

// codeScope is the modules whose code can use a client built in module m:
// m, the modules it uses and the modules that use it (transitively each way,
// without turning around: a sibling library of an application that uses m
// does not see m's beans unless it uses m itself).
func (s *scan) codeScope(m *module) []*module {
	if r, ok := s.scopeModules[m]; ok {
		return r
	}
	seen := map[*module]bool{}
	var out []*module
	var walk func(a *module, up bool)
	walk = func(a *module, up bool) {
		if a == nil || seen[a] {
			return
		}
		seen[a] = true
		out = append(out, a)
		if up {
			for _, u := range s.usedBy[a] {
				walk(u, true)
			}
			return
		}
		for _, u := range a.uses {
			for _, t := range s.lookupUse(a, u) {
				walk(t, false)
			}
		}
	}
	walk(m, false)
	delete(seen, m)
	walk2 := func(a *module) {
		for _, u := range s.usedBy[a] {
			walk(u, true)
		}
	}
	walk2(m)
	s.scopeModules[m] = out
	return out
}

// lookupUse resolves a "uses" entry to modules of the repository.
func (s *scan) lookupUse(from *module, u string) []*module {
	switch {
	case strings.HasPrefix(u, "project:"):
		p := strings.Trim(strings.TrimPrefix(u, "project:"), ":")
		dir := strings.ReplaceAll(p, ":", "/")
		if m := s.modules[dir]; m != nil {
			return []*module{m}
		}
		if m := s.byName[path.Base(dir)]; m != nil {
			return []*module{m}
		}
		// settings.gradle often renames projects: ":app-cache" for cache/
		for _, m := range s.allModules() {
			if b := path.Base(m.dir); m.dir != "" && strings.HasSuffix(path.Base(dir), "-"+b) {
				return []*module{m}
			}
		}
	case strings.HasPrefix(u, "libs:"):
		return nil
	default:
		if m := s.byName[u]; m != nil && m != from {
			return []*module{m}
		}
	}
	return nil
}

// clientDecls returns the declarations of a client that reach a module, the
// module's own first.
func (s *scan) clientDecls(m *module, client string) []decl {
	var out []decl
	for _, a := range s.related(m) {
		for _, d := range a.decls {
			if d.client == client {
				out = append(out, d)
			}
		}
		for _, u := range a.uses {
			if strings.HasPrefix(u, "libs:") {
				if coord := s.catalogLib(strings.TrimPrefix(u, "libs:")); coord != "" {
					parts := strings.SplitN(coord, ":", 3)
					if c := mavenClients[parts[0]+":"+parts[1]]; c == client {
						out = append(out, decl{client: c, pkg: parts[0] + ":" + parts[1], spec: vspec{exact: parts[2]}, file: a.dir + "/libs.versions.toml"})
					}
				}
			}
		}
	}
	return out
}

// catalogLib is the "group:artifact:version" a version catalog gives an alias.
func (s *scan) catalogLib(alias string) string {
	for _, a := range s.allModules() {
		if v, ok := a.props["catalog.lib."+alias]; ok {
			return v
		}
	}
	return ""
}

func (s *scan) allModules() []*module {
	if s.sortedModules == nil {
		for _, m := range s.modules {
			s.sortedModules = append(s.sortedModules, m)
		}
		sort.Slice(s.sortedModules, func(i, j int) bool { return s.sortedModules[i].dir < s.sortedModules[j].dir })
	}
	return s.sortedModules
}

// declares reports whether a client reaches the module.
func (s *scan) declares(m *module, client string) bool { return len(s.clientDecls(m, client)) > 0 }

// version is what the build says about a client's version for code in module m:
// an exact version (from the declaration, its properties, a lock file or a
// Spring Boot BOM), else the declared range, else unknown.
func (s *scan) version(m *module, client string) vspec {
	var rng vspec
	for _, d := range s.clientDecls(m, client) {
		if d.indir {
			continue
		}
		if d.spec.exact != "" {
			if v := s.resolve(s.moduleOfBuild(d.file), d.spec.exact); v != "" {
				return vspec{exact: v}
			}
		}
		if v := s.locked(m, d.pkg); v != "" {
			if d.pkg == "@redis/client" {
				return vspec{exact: nodeRedisLine(v), via: "@redis/client " + v}
			}
			return vspec{exact: v}
		}
		if d.spec.rng != "" && !rng.known() {
			rng = d.spec
			if d.pkg == "@redis/client" {
				if lo, ok := rangeLow(d.spec.rng); ok {
					rng = vspec{exact: nodeRedisLine(lo.String()), via: "@redis/client " + d.spec.rng}
				}
			}
		}
	}
	if rng.known() {
		return rng
	}
	if client == Lettuce || client == Jedis || client == Spring {
		if boot, _ := s.bootVersion(m); boot != "" {
			if v := bootManagedVersion(boot, client); v != "" {
				return vspec{exact: v, via: "Spring Boot " + boot}
			}
		}
	}
	return vspec{}
}

func (s *scan) moduleOfBuild(file string) *module {
	if m := s.modules[parentDir(file)]; m != nil {
		return m
	}
	return newModule(parentDir(file))
}

// locked is the version a lock file at or above the module pins for a package.
func (s *scan) locked(m *module, pkg string) string {
	key := strings.ToLower(pkg)
	for dir := m.dir; ; dir = parentDir(dir) {
		if l := s.locks[dir]; l != nil {
			rel := strings.TrimPrefix(strings.TrimPrefix(m.dir, dir), "/")
			if v := l[rel+"|"+pkg]; v != "" {
				return v
			}
			if v := l["|"+pkg]; v != "" {
				return v
			}
			if v := l["|"+key]; v != "" {
				return v
			}
		}
		if dir == "" {
			return ""
		}
	}
}
