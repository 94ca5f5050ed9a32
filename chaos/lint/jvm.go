package lint

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

var (
	usesLettuce = mustRE(`\bio\.lettuce\.|\bcom\.lambdaworks\.redis\b`)
	usesJedis   = mustRE(`\bredis\.clients\.jedis\b`)
	usesSDR     = mustRE(`\borg\.springframework\.data\.redis\b`)

	beanRE       = mustRE(`@Bean\b`)
	stereotypeRE = mustRE(`@(?:Configuration|Component|Service|Repository|SpringBootApplication|AutoConfiguration|Controller|RestController|EnableAutoConfiguration)\b`)
	importRE     = mustRE(`@Import\s*\(([^)]*)\)`)
	classNameRE  = mustRE(`\b(?:class|object)\s+(\w+)`)

	// A construction: "new X(" in Java and Groovy; in Kotlin and Scala a call
	// after "=", "(", ",", "return" or at the start of a statement.
	lettuceFactoryRE = ctorRE(`LettuceConnectionFactory`)
	jedisFactoryRE   = ctorRE(`JedisConnectionFactory`)
	jedisClusterRE   = ctorRE(`JedisCluster`)
	clusterClientRE  = mustRE(`\bRedisClusterClient\s*\.\s*create\s*\(`)

	refreshOnRE       = mustRE(`enableAllAdaptiveRefreshTriggers\s*\(|enableAdaptiveRefreshTrigger\s*\(|enablePeriodicRefresh\s*\(\s*(?:[^f)\s]|\))|adaptiveRefreshTriggers\s*\(`)
	refreshBuilderRE  = mustRE(`ClusterTopologyRefreshOptions\s*\.\s*(?:builder|create)\s*\(`)
	cancelOnFailRE    = mustRE(`cancelCommandsOnReconnectFailure\s*\(\s*true\s*\)`)
	unboundedQueueRE  = mustRE(`requestQueueSize\s*\(\s*Integer\s*\.\s*MAX_VALUE\s*\)`)
	customizerRE      = mustRE(`LettuceClientConfigurationBuilderCustomizer\b`)
	clientBuilderRE   = mustRE(`(?:LettuceClientConfiguration|LettucePoolingClientConfiguration)\s*\.\s*builder\s*\(`)
	setMaxRedirectsRE = mustRE(`\.\s*(?:setMaxRedirects|maxRedirects)\s*\(\s*([^)]*)\)`)
	attemptsArgRE     = mustRE(`(?i)attempt|redirect|retr`)
)

func ctorRE(name string) *regexp.Regexp {
	return mustRE(`(?m)(?:\bnew\s+|(?:^|[=(,:?{]|\breturn|\bval\s+\w+\s*=|->)\s*)((?:[\w.]+\.)?` + name + `)\s*\(`)
}

// jvmFile is what the JVM rules need to know about one source file.
type jvmFile struct {
	*file
	spring    bool // a Spring-managed class (stereotype annotation)
	live      bool // its code runs: not a @Bean class that nothing registers
	refresh   bool // enables Lettuce topology refresh somewhere
	builder   bool // builds a Lettuce client configuration itself
	factories []factoryBean
}

// checkJVM applies the Lettuce and Jedis rules to Java, Kotlin, Groovy and
// Scala sources, and collects what the Spring rules need.
func (s *scan) checkJVM() {
	files := s.filesOf(kindJVM)
	imported := map[string]bool{}
	for _, f := range files {
		if !bytes.Contains(f.src.code, []byte("@Import")) {
			continue
		}
		for _, g := range importRE.FindAllSubmatch(f.src.code, -1) {
			for _, w := range regexp.MustCompile(`\w+`).FindAll(g[1], -1) {
				imported[string(w)] = true
			}
		}
	}
	for _, f := range files {
		jf := s.jvmFacts(f, imported)
		s.jvm = append(s.jvm, jf)
	}
	for _, jf := range s.jvm {
		if !jf.live {
			continue
		}
		s.lettuceRules(jf)
		s.jedisRules(jf)
		if bytes.Contains(jf.src.code, []byte("JedisCluster")) && usesJedis.Match(jf.src.code) {
			for _, c := range jf.src.calls(jedisClusterRE) {
				s.perCall(jf.file, c)
			}
		}
		if bytes.Contains(jf.src.code, []byte("RedisClusterClient")) && usesLettuce.Match(jf.src.code) {
			for _, c := range jf.src.calls(clusterClientRE) {
				s.perCall(jf.file, c)
			}
		}
	}
}

func (s *scan) jvmFacts(f *file, imported map[string]bool) *jvmFile {
	jf := &jvmFile{file: f}
	code := f.src.code
	jf.spring = stereotypeRE.Match(code)
	jf.live = !beanRE.Match(code) || jf.spring
	if !jf.live && len(imported) > 0 {
		for _, g := range classNameRE.FindAllSubmatch(code, -1) {
			if imported[string(g[1])] {
				jf.live = true
			}
		}
	}
	jf.refresh = bytes.Contains(code, []byte("ClusterTopologyRefreshOptions")) && refreshBuilderRE.Match(code) && refreshOnRE.Match(code)
	jf.builder = bytes.Contains(code, []byte("ClientConfiguration")) && clientBuilderRE.Match(code)
	if bytes.Contains(code, []byte("ConnectionFactory")) {
		for _, kind := range []struct {
			re      *regexp.Regexp
			lettuce bool
		}{{lettuceFactoryRE, true}, {jedisFactoryRE, false}} {
			for _, c := range f.src.calls(kind.re) {
				args := splitArgs(c.body)
				cluster := len(args) > 0 && s.argIsCluster(jf, c, args[0])
				jf.factories = append(jf.factories, factoryBean{f, c.line(f.src), cluster, kind.lettuce, c})
			}
		}
	}
	return jf
}

// moduleRefresh reports whether code of a module (or the modules it is part
// of) enables topology refresh.
func (s *scan) moduleRefresh(m *module) bool {
	rel := map[*module]bool{}
	for _, r := range s.related(m) {
		rel[r] = true
	}
	for _, jf := range s.jvm {
		if jf.refresh && jf.live && rel[jf.mod] {
			return true
		}
	}
	return false
}

func (s *scan) lettuceRules(jf *jvmFile) {
	code := jf.src.code
	if !bytes.Contains(code, []byte("RedisClusterClient")) && len(jf.factories) == 0 &&
		!bytes.Contains(code, []byte("cancelCommandsOnReconnectFailure")) && !bytes.Contains(code, []byte("requestQueueSize")) {
		return
	}
	if !usesLettuce.Match(code) && !usesSDR.Match(code) {
		return
	}
	v := s.version(jf.mod, Lettuce)
	if !v.known() {
		if sdr := s.version(jf.mod, Spring); sdr.exact != "" {
			v = vspec{rng: "< 7 (Spring Data Redis " + sdr.exact + ")"}
		}
	}
	before7 := v.mayBeBelow("7")
	if before7 {
		for _, m := range jf.src.find(cancelOnFailRE) {
			s.add("lettuce-cancel-on-reconnect-failure", jf.file, jf.src.lineAt(m[0]), "Lettuce "+v.String(), "")
		}
	}
	for _, m := range jf.src.find(unboundedQueueRE) {
		s.add("lettuce-unbounded-request-queue", jf.file, jf.src.lineAt(m[0]), "", "")
	}
	if !before7 {
		return
	}
	refreshed := jf.refresh || !jf.builder && s.moduleRefresh(jf.mod)
	if refreshed {
		return
	}
	detail := "Lettuce " + v.String()
	for _, c := range jf.src.calls(clusterClientRE) {
		s.add("lettuce-topology-refresh-off", jf.file, c.line(jf.src), detail+", RedisClusterClient without ClusterTopologyRefreshOptions", s.refreshFix(jf.mod, false))
	}
	for _, fb := range jf.factories {
		if !fb.lettuce || !fb.cluster {
			continue
		}
		c := fb.c
		d := detail + ", LettuceConnectionFactory for a cluster without topology refresh options"
		if k := s.yamlRefresh(jf.mod); k != "" {
			d += "; this bean replaces Spring Boot's, so " + k + " is ignored"
		}
		s.add("lettuce-topology-refresh-off", jf.file, c.line(jf.src), d, s.refreshFix(jf.mod, true))
	}
}

// refreshFix names the remedy for the module's Spring Boot and Lettuce lines.
func (s *scan) refreshFix(m *module, bean bool) string {
	code := "build the client options with ClusterClientOptions.builder().topologyRefreshOptions(ClusterTopologyRefreshOptions.builder().enableAllAdaptiveRefreshTriggers().enablePeriodicRefresh(Duration.ofSeconds(60)).build())"
	if bean {
		code += " and pass them with LettuceClientConfiguration.builder().clientOptions(…) as this factory's second argument"
	} else {
		code += " and set them on the client with setOptions(…)"
	}
	boot, _ := s.bootVersion(m)
	switch {
	case boot == "":
		return code + "; or upgrade to Lettuce 7, where adaptive refresh is on by default."
	case !bean && (vspec{exact: boot}).mayBeAtLeast("2.3"):
		prefix := "spring.redis"
		if !(vspec{exact: boot}).mayBeBelow("3.0") {
			prefix = "spring.data.redis"
		}
		return "set " + prefix + ".lettuce.cluster.refresh.adaptive=true and " + prefix + ".lettuce.cluster.refresh.period=60s (Spring Boot " + boot + "); or " + code + "."
	case (vspec{exact: boot}).mayBeBelow("2.3"):
		return code + " (Spring Boot " + boot + " has no refresh properties; a LettuceClientConfigurationBuilderCustomizer bean can set them)."
	}
	return code + " (a bean like this one replaces Spring Boot's auto-configuration, so the spring.data.redis.lettuce.cluster.refresh.* properties do not apply to it)."
}

// yamlRefresh returns the refresh property a module's configuration sets, if
// any (a custom factory bean silently drops it).
func (s *scan) yamlRefresh(m *module) string {
	for _, k := range s.scopeKeys(m) {
		for _, p := range []string{"spring.data.redis.lettuce.cluster.refresh.adaptive", "spring.redis.lettuce.cluster.refresh.adaptive"} {
			if keyIs(k.key, p) && isTrue(k.value) {
				return p
			}
		}
	}
	return ""
}

var declRE = func(name string) *regexp.Regexp {
	q := regexp.QuoteMeta(name)
	return regexp.MustCompile(`RedisClusterConfiguration(?:<[^>]*>)?\s+` + q + `\b|\b` + q + `\s*(?::\s*RedisClusterConfiguration)?\s*=\s*(?:new\s+)?RedisClusterConfiguration\s*\(|\b` + q + `\s*:\s*RedisClusterConfiguration\b`)
}

// argIsCluster reports whether a connection factory's first argument is a
// cluster configuration.
func (s *scan) argIsCluster(jf *jvmFile, c call, arg string) bool {
	if strings.Contains(arg, "Cluster") || strings.Contains(arg, "cluster") {
		return true
	}
	if !regexp.MustCompile(`^\w+$`).MatchString(arg) {
		return false
	}
	return declRE(arg).Match(jf.src.code)
}

func (s *scan) jedisRules(jf *jvmFile) {
	code := jf.src.code
	if !bytes.Contains(code, []byte("JedisCluster")) && len(jf.factories) == 0 {
		return
	}
	if !usesJedis.Match(code) && !usesSDR.Match(code) {
		return
	}
	type site struct {
		line     int
		attempts int // 0: not known from the code
		expr     string
	}
	var sites []site
	if bytes.Contains(code, []byte("JedisCluster")) && usesJedis.Match(code) {
		for _, c := range jf.src.calls(jedisClusterRE) {
			n, expr := s.jedisAttempts(jf, splitArgs(c.body))
			sites = append(sites, site{c.line(jf.src), n, expr})
		}
	}
	for _, fb := range jf.factories {
		if fb.lettuce || !fb.cluster {
			continue
		}
		c := fb.c
		n, expr := 5, "maxRedirects 5 (the default) used as maxAttempts"
		if g := setMaxRedirectsRE.FindSubmatch(code); g != nil {
			if v, ok := s.intValue(jf, strings.TrimSpace(string(g[1]))); ok {
				n, expr = v, "maxRedirects "+strconv.Itoa(v)+" used as maxAttempts"
			} else {
				n, expr = 0, "maxRedirects "+strings.TrimSpace(string(g[1]))+" used as maxAttempts"
			}
		}
		sites = append(sites, site{c.line(jf.src), n, expr})
	}
	if len(sites) == 0 {
		return
	}
	cmds := commandsSent(s.relatedFiles(jf.mod, kindJVM))
	if len(cmds) == 0 {
		return
	}
	for _, st := range sites {
		if st.attempts == 1 {
			continue
		}
		detail := st.expr + "; the code sends " + commandList(cmds) + " (" + firstUse(cmds) + ")"
		s.add("jedis-cluster-retry-non-idempotent", jf.file, st.line, detail, "")
	}
}

// jedisAttempts reads maxAttempts from a JedisCluster constructor's arguments.
func (s *scan) jedisAttempts(jf *jvmFile, args []string) (int, string) {
	intish := func(a string) bool {
		_, ok := s.intValue(jf, a)
		return ok || regexp.MustCompile(`(?i)(timeout|attempts|millis|ms|redirect\w*|retries)$`).MatchString(a)
	}
	idx := -1
	for i := 1; i < len(args); i++ {
		if attemptsArgRE.MatchString(args[i]) && !strings.Contains(strings.ToLower(args[i]), "duration") {
			idx = i
			break
		}
	}
	if idx < 0 {
		switch {
		case len(args) >= 4 && intish(args[1]) && intish(args[2]) && intish(args[3]):
			idx = 3
		case len(args) >= 3 && intish(args[2]):
			idx = 2
		}
	}
	if idx < 0 {
		return 5, "maxAttempts 5 (the default)"
	}
	if n, ok := s.intValue(jf, args[idx]); ok {
		return n, "maxAttempts " + strconv.Itoa(n)
	}
	return 0, "maxAttempts " + args[idx]
}

// intValue resolves a literal or a constant assigned a literal in the file.
func (s *scan) intValue(jf *jvmFile, a string) (int, bool) {
	a = strings.TrimSuffix(strings.TrimSpace(a), "L")
	if n, err := strconv.Atoi(a); err == nil {
		return n, true
	}
	if !regexp.MustCompile(`^[A-Za-z_][\w.]*$`).MatchString(a) {
		return 0, false
	}
	name := a[strings.LastIndex(a, ".")+1:]
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\s*(?::\s*Int\s*)?=\s*(\d+)\b`).FindSubmatch(jf.src.code)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(string(m[1]))
	return n, err == nil
}

// relatedFiles are the loaded files of a kind whose code can use a client
// built in module m.
func (s *scan) relatedFiles(m *module, k kind) []*file {
	rel := map[*module]bool{}
	for _, r := range s.codeScope(m) {
		rel[r] = true
	}
	var out []*file
	for _, f := range s.files {
		if f.kind&k != 0 && rel[f.mod] {
			out = append(out, f)
		}
	}
	return out
}
