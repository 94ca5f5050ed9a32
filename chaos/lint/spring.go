package lint

import (
	"path"
	"strings"
)

// Spring Boot reads spring.redis.* before 3.0 and spring.data.redis.* from 3.0.
var (
	clusterNodeKeys = []string{"spring.data.redis.cluster.nodes", "spring.redis.cluster.nodes"}
	refreshKeys     = []string{"spring.data.redis.lettuce.cluster.refresh.adaptive", "spring.redis.lettuce.cluster.refresh.adaptive",
		"spring.data.redis.lettuce.cluster.refresh.period", "spring.redis.lettuce.cluster.refresh.period"}
	clientTypeKeys = []string{"spring.data.redis.clienttype", "spring.redis.clienttype"}
)

// confRef is a setting and the file it is in.
type confRef struct {
	confKey
	f *file
}

// keysOf parses a configuration file once.
func (s *scan) keysOf(f *file) []confKey {
	if k, ok := s.confCache[f]; ok {
		return k
	}
	var k []confKey
	if lc := strings.ToLower(string(f.src.code)); strings.Contains(lc, "redis") || strings.Contains(lc, "management") {
		k = configKeys(f.rel, f.src)
	}
	s.confCache[f] = k
	return k
}

// scopeKeys are the settings that reach a module's application: those in
// configuration files of the modules related to it, and deployment values
// (manifests, Helm charts, .env files) outside any JVM module.
func (s *scan) scopeKeys(m *module) []confRef {
	if r, ok := s.scopeCache[m]; ok {
		return r
	}
	rel := map[*module]bool{}
	for _, r := range s.related(m) {
		rel[r] = true
	}
	var out []confRef
	for _, f := range s.filesOf(kindConfig) {
		if !rel[f.mod] && jvmBuild(f.mod) {
			continue
		}
		for _, k := range s.keysOf(f) {
			out = append(out, confRef{k, f})
		}
	}
	s.scopeCache[m] = out
	return out
}

// jvmBuild reports whether a module is built by Maven or Gradle.
func jvmBuild(m *module) bool {
	for _, f := range m.files {
		b := path.Base(f)
		if b == "pom.xml" || strings.HasSuffix(b, ".gradle") || strings.HasSuffix(b, ".gradle.kts") {
			return true
		}
	}
	return false
}

// factoryBean is a Lettuce or Jedis connection factory construction.
type factoryBean struct {
	f       *file
	line    int
	cluster bool
	lettuce bool
	c       call
}

// factoryBeans lists the connection factories that live Spring-managed
// classes of the modules related to m build.
func (s *scan) factoryBeans(m *module) []factoryBean {
	rel := map[*module]bool{}
	for _, r := range s.related(m) {
		rel[r] = true
	}
	var out []factoryBean
	for _, jf := range s.jvm {
		if jf.live && jf.spring && rel[jf.mod] {
			out = append(out, jf.factories...)
		}
	}
	return out
}

// checkSpring applies the rules about Spring Boot's auto-configuration and
// Actuator to every module that uses Spring Data Redis.
func (s *scan) checkSpring() {
	for _, m := range s.allModules() {
		if !s.declares(m, Spring) || !jvmBuild(m) {
			continue
		}
		s.springModule(m)
	}
}

func (s *scan) springModule(m *module) {
	keys := s.scopeKeys(m)
	boot, _ := s.bootVersion(m)
	prefixes := clusterNodeKeys
	if boot != "" {
		if (vspec{exact: boot}).mayBeBelow("3.0") {
			prefixes = []string{"spring.redis.cluster.nodes"}
		} else {
			prefixes = []string{"spring.data.redis.cluster.nodes"}
		}
	}
	var clusterKeys []confRef
	refreshOn, healthOff := false, false
	driver := ""
	var exposure []string
	endpointOff, byDefaultOff, endpointOn := false, false, false
	clusterFiles := map[*file]bool{}
	for i, k := range keys {
		switch {
		case anyKey(k.key, prefixes):
			// the first cluster setting of each file (a YAML list's values
			// follow its key on later lines)
			set := strings.TrimSpace(k.value) != ""
			for j := i + 1; !set && j < len(keys) && keys[j].f == k.f; j++ {
				set = keys[j].key == k.key && strings.TrimSpace(keys[j].value) != ""
			}
			if set && !clusterFiles[k.f] {
				clusterFiles[k.f] = true
				clusterKeys = append(clusterKeys, k)
			}
		case anyKey(k.key, refreshKeys) && (strings.Contains(k.key, "adaptive") && isTrue(k.value) || strings.Contains(k.key, "period") && k.value != "" && !isFalse(k.value)):
			refreshOn = true
		case anyKey(k.key, clientTypeKeys):
			driver = strings.ToLower(k.value)
		case keyIs(k.key, "management.health.redis.enabled") && isFalse(k.value),
			keyIs(k.key, "management.health.defaults.enabled") && isFalse(k.value):
			healthOff = true
		case keyIs(k.key, "management.endpoints.web.exposure.include"):
			exposure = append(exposure, envDefault(k.value))
		case keyIs(k.key, "management.endpoint.health.enabled") && isFalse(k.value),
			keyIs(k.key, "management.endpoint.health.access") && strings.EqualFold(envDefault(k.value), "none"):
			endpointOff = true
		case keyIs(k.key, "management.endpoint.health.enabled") && isTrue(k.value):
			endpointOn = true
		case keyIs(k.key, "management.endpoints.enabledbydefault") && isFalse(k.value):
			byDefaultOff = true
		}
	}
	if driver == "" {
		driver = "lettuce"
		if s.declares(m, Jedis) && s.excludesLettuce(m) {
			driver = "jedis"
		}
	}
	beans := s.factoryBeans(m)
	custom := len(beans) > 0
	var clusterBeans []factoryBean
	for _, b := range beans {
		if b.cluster {
			clusterBeans = append(clusterBeans, b)
		}
	}

	// Spring Boot's own Lettuce factory, configured from properties.
	if !custom && len(clusterKeys) > 0 && driver == "lettuce" && !refreshOn && !s.customizerRefresh(m) {
		v := s.version(m, Lettuce)
		if v.mayBeBelow("7") {
			for _, k := range clusterKeys {
				s.add("lettuce-topology-refresh-off", k.f, k.line, "Lettuce "+v.String()+", cluster configured by "+k.key+", no refresh property", s.propertyRefreshFix(m))
			}
		}
	}
	// Spring Boot's own Jedis factory: JedisCluster with maxRedirects attempts.
	if !custom && len(clusterKeys) > 0 && driver == "jedis" {
		if cmds := commandsSent(s.relatedFiles(m, kindJVM)); len(cmds) > 0 {
			k := clusterKeys[0]
			s.add("jedis-cluster-retry-non-idempotent", k.f, k.line, "Spring Boot's JedisConnectionFactory, maxRedirects used as maxAttempts; the code sends "+commandList(cmds)+" ("+firstUse(cmds)+")", "")
		}
	}

	// Actuator's Redis health indicator.
	if !s.declares(m, actuator) || healthOff {
		return
	}
	if endpointOff || byDefaultOff && !endpointOn || !exposed(exposure) {
		return
	}
	var at *confRef
	switch {
	case custom && len(clusterBeans) == 0:
		return // the application's own factory is not a cluster one
	case len(clusterKeys) > 0:
		at = &clusterKeys[0]
	}
	detail := "Actuator on the classpath"
	if boot != "" {
		detail = "Spring Boot " + boot + " with Actuator"
	}
	if at != nil {
		s.add("spring-redis-health-cluster", at.f, at.line, detail+", cluster configured by "+at.key, "")
		return
	}
	if len(clusterBeans) > 0 {
		b := clusterBeans[0]
		s.add("spring-redis-health-cluster", b.f, b.line, detail+", cluster connection factory bean", "")
	}
}

// exposed reports whether the health endpoint is exposed over HTTP given the
// values of management.endpoints.web.exposure.include (health is by default).
func exposed(include []string) bool {
	if len(include) == 0 {
		return true
	}
	for _, v := range include {
		for _, id := range strings.Split(v, ",") {
			id = strings.Trim(strings.TrimSpace(id), `"'[]`)
			if id == "*" || id == "health" {
				return true
			}
		}
	}
	return false
}

// envDefault is the default of a "${VAR:default}" value, or the value.
func envDefault(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "${") && strings.HasSuffix(v, "}") {
		if i := strings.Index(v, ":"); i > 0 {
			return v[i+1 : len(v)-1]
		}
	}
	return v
}

func anyKey(k string, names []string) bool {
	for _, n := range names {
		if keyIs(k, n) {
			return true
		}
	}
	return false
}

// excludesLettuce reports whether a module's build excludes Lettuce from the
// starter (so Spring Boot configures Jedis).
func (s *scan) excludesLettuce(m *module) bool {
	for _, a := range s.related(m) {
		if a.noLettuce {
			return true
		}
	}
	return false
}

var excludeLettuceRE = mustRE(`(?s)<exclusion>\s*<groupId>io\.lettuce</groupId>|exclude\s*\(?\s*(?:group\s*[:=]\s*)?["']io\.lettuce`)

// customizerRefresh reports whether a LettuceClientConfigurationBuilderCustomizer
// bean of the module turns refresh on.
func (s *scan) customizerRefresh(m *module) bool {
	rel := map[*module]bool{}
	for _, r := range s.related(m) {
		rel[r] = true
	}
	for _, jf := range s.jvm {
		if jf.live && rel[jf.mod] && customizerRE.Match(jf.src.code) && jf.refresh {
			return true
		}
	}
	return false
}

// propertyRefreshFix names the refresh properties of the Spring Boot line in use.
func (s *scan) propertyRefreshFix(m *module) string {
	boot, _ := s.bootVersion(m)
	b := vspec{exact: boot}
	switch {
	case boot != "" && b.mayBeBelow("2.3"):
		return "Spring Boot " + boot + " has no refresh properties: add a LettuceClientConfigurationBuilderCustomizer bean that sets ClusterClientOptions with ClusterTopologyRefreshOptions.builder().enableAllAdaptiveRefreshTriggers().enablePeriodicRefresh(Duration.ofSeconds(60)).build(), or upgrade to Spring Boot 2.3+."
	case boot != "" && b.mayBeBelow("3.0"):
		return "set spring.redis.lettuce.cluster.refresh.adaptive=true and spring.redis.lettuce.cluster.refresh.period=60s (Spring Boot " + boot + ")."
	case boot != "":
		return "set spring.data.redis.lettuce.cluster.refresh.adaptive=true and spring.data.redis.lettuce.cluster.refresh.period=60s (Spring Boot " + boot + ")."
	}
	return "set spring.data.redis.lettuce.cluster.refresh.adaptive=true and .period=60s (Spring Boot 3; spring.redis.lettuce.cluster.refresh.* on 2.3-2.7)."
}
