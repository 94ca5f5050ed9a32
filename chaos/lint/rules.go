package lint

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Rule is one static check. Ids are stable: CI baselines and SARIF viewers key
// on them.
type Rule struct {
	ID          string
	Client      string
	Severity    Severity
	Checker     string // the runtime checker rule this one predicts, if any
	Short       string
	Explanation string
	Fix         string
	kinds       kind
	check       func(*file) []hit
}

// Rules returns the rule catalogue in a stable order.
func Rules() []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = *r
	}
	return out
}

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }

var (
	usesLettuce   = re(`\bio\.lettuce\.`)
	usesJedis     = re(`\bredis\.clients\.jedis\b`)
	usesGoRedis   = re(`"github\.com/(?:redis/go-redis|go-redis/redis)(?:/v\d+)?"`)
	usesNodeRedis = re(`(?:require\s*\(\s*|from\s+|import\s+)["'](?:redis|@redis/client)["']`)
	usesIORedis   = re(`(?:require\s*\(\s*|from\s+|import\s+)["']ioredis["']`)
	usesRedisPy   = re(`(?m)^\s*(?:import\s+redis\b|from\s+redis\b)`)
)

func gate(uses *regexp.Regexp, m *regexp.Regexp) func(*file) []hit {
	return func(f *file) []hit {
		if !uses.Match(f.data) {
			return nil
		}
		return f.matchLines(m)
	}
}

var rules = []*Rule{
	{
		ID: "lettuce-cancel-on-reconnect-failure", Client: Lettuce, Severity: High, Checker: "reply-desync-risk",
		Short:       "Lettuce cancelCommandsOnReconnectFailure(true)",
		Explanation: "after a failed reconnect Lettuce cancels the queued commands but can keep the connection, so later replies are paired with the wrong requests (lettuce #1787); the option was removed in later versions.",
		Fix:         "remove cancelCommandsOnReconnectFailure(true) (keep the default false) and bound the queue with requestQueueSize and a command timeout instead.",
		kinds:       kindJVM,
		check:       gate(usesLettuce, re(`cancelCommandsOnReconnectFailure\s*\(\s*true\s*\)`)),
	},
	{
		ID: "lettuce-topology-refresh-off", Client: Lettuce, Severity: Medium, Checker: "stale-slot-map",
		Short:       "Lettuce cluster topology refresh is off",
		Explanation: "before Lettuce 7 neither adaptive nor periodic topology refresh is on by default: after a failover or resharding the client keeps routing slots to the old nodes until restarted (lettuce #2806, #2080, #1154).",
		Fix:         "set ClusterClientOptions.topologyRefreshOptions(ClusterTopologyRefreshOptions.builder().enableAllAdaptiveRefreshTriggers().enablePeriodicRefresh(Duration.ofSeconds(30)).build()), or with Spring Boot spring.data.redis.lettuce.cluster.refresh.adaptive=true and .period=30s.",
		kinds:       kindJVM,
		check:       checkLettuceRefresh,
	},
	{
		ID: "lettuce-unbounded-request-queue", Client: Lettuce, Severity: Medium, Checker: "unbounded-pipeline",
		Short:       "Lettuce requestQueueSize(Integer.MAX_VALUE)",
		Explanation: "the per-connection queue grows without bound while a node is down and is replayed in one burst on reconnect; memory grows and the replay floods the recovering node.",
		Fix:         "use a bounded requestQueueSize (for example 1000-10000) so callers fail fast with RedisException when the node is gone.",
		kinds:       kindJVM,
		check:       gate(usesLettuce, re(`requestQueueSize\s*\(\s*Integer\s*\.\s*MAX_VALUE\s*\)`)),
	},
	{
		ID: "spring-redis-health-cluster", Client: Spring, Severity: High, Checker: "health-check-fanout",
		Short:       "Spring Boot Redis health indicator enabled against a cluster",
		Explanation: "Actuator's Redis health check runs CLUSTER INFO on one node and reports DOWN on cluster_state:fail: one failed node can mark every instance down and get the whole app restarted (restart-on-single-fault).",
		Fix:         "set management.health.redis.enabled=false and watch Redis with its own monitoring; if readiness must include Redis, use a check that tolerates one failed shard.",
		kinds:       kindSpring,
		check:       checkSpringHealth,
	},
	{
		ID: "jedis-cluster-no-timeout", Client: Jedis, Severity: Low, Checker: "no-command-timeout",
		Short:       "JedisCluster created without explicit timeouts",
		Explanation: "the connection and socket timeouts are left to the library default (2 s); nobody chose them against the service's latency budget, and a hung node holds a pooled connection for the whole timeout on every attempt.",
		Fix:         "pass connectionTimeout and soTimeout (or a DefaultJedisClientConfig with connectionTimeoutMillis and socketTimeoutMillis) sized to the latency budget.",
		kinds:       kindJVM,
		check:       checkJedisTimeout,
	},
	{
		ID: "jedis-cluster-retry-non-idempotent", Client: Jedis, Severity: Medium, Checker: "unsafe-retry",
		Short:       "JedisCluster maxAttempts > 1 retries non-idempotent commands",
		Explanation: "JedisCluster resends a command after a read timeout or a reset connection, whether or not it ran: INCR, LPUSH, XADD and EVAL can run twice (jedis #3187, #1812).",
		Fix:         "use maxAttempts 1 for clients that send non-idempotent commands (retry idempotent reads in the application), or make the writes idempotent.",
		kinds:       kindJVM,
		check:       checkJedisAttempts,
	},
	{
		ID: "goredis-read-timeout-disabled", Client: GoRedis, Severity: High, Checker: "no-command-timeout",
		Short:       "go-redis ReadTimeout disabled (-1/-2)",
		Explanation: "with no read deadline a command sent to a hung node waits forever, holding its pool connection; the pool drains and the whole client stalls.",
		Fix:         "leave ReadTimeout at its default (3 s) or set a positive duration, and pass contexts with deadlines.",
		kinds:       kindGo,
		check:       gate(usesGoRedis, re(`\bReadTimeout\s*(?::|=)\s*-\s*[12]\b`)),
	},
	{
		ID: "goredis-redirects-disabled", Client: GoRedis, Severity: High, Checker: "moved-ignored",
		Short:       "go-redis MaxRedirects: -1 disables MOVED/ASK handling",
		Explanation: "with MaxRedirects -1 the cluster client returns MOVED and ASK to the caller instead of following them: every resharding or failover surfaces as errors (0 means the default, 3).",
		Fix:         "remove MaxRedirects or set a small positive value (3-8).",
		kinds:       kindGo,
		check:       gate(usesGoRedis, re(`\bMaxRedirects\s*(?::|=)\s*-\s*1\b`)),
	},
	{
		ID: "goredis-readonly-no-fallback", Client: GoRedis, Severity: Low,
		Short:       "go-redis ReadOnly: true without RouteByLatency or RouteRandomly",
		Explanation: "reads go to a replica of the slot only; a lagging or failing replica serves stale data or errors until it is marked failing, with no spreading over the master.",
		Fix:         "add RouteByLatency: true (or RouteRandomly: true), which imply ReadOnly and fall back across master and replicas.",
		kinds:       kindGo,
		check:       checkGoRedisReadOnly,
	},
	{
		ID: "noderedis-no-socket-timeout", Client: NodeRedis, Severity: Medium, Checker: "no-command-timeout",
		Short:       "node-redis createCluster without socket.socketTimeout",
		Explanation: "node-redis has no socket timeout by default: commands to a hung node wait forever and rediscovery happens only on MOVED/ASK (node-redis #2806).",
		Fix:         "set defaults: { socket: { connectTimeout: 5000, socketTimeout: 5000 } } (or in each rootNodes entry).",
		kinds:       kindJS,
		check:       checkNodeRedisTimeout,
	},
	{
		ID: "noderedis-unbounded-offline-queue", Client: NodeRedis, Severity: Medium, Checker: "unbounded-pipeline",
		Short:       "node-redis offline queue without commandsQueueMaxLength",
		Explanation: "by default node-redis queues every command while a node is unreachable, without limit, and replays the queue on reconnect (node-redis #1039): memory grows and the recovering node gets a burst.",
		Fix:         "set commandsQueueMaxLength (for example 1000) in defaults, or disableOfflineQueue: true so callers fail fast.",
		kinds:       kindJS,
		check:       checkNodeRedisQueue,
	},
	{
		ID: "ioredis-no-command-timeout", Client: IORedis, Severity: Medium, Checker: "no-command-timeout",
		Short:       "ioredis Cluster without commandTimeout",
		Explanation: "ioredis has no command timeout by default: a command to a hung node never settles and its promise never resolves.",
		Fix:         "set redisOptions: { commandTimeout: 5000 } (and connectTimeout) in the Cluster options.",
		kinds:       kindJS,
		check:       checkIORedisTimeout,
	},
	{
		ID: "ioredis-auto-resend", Client: IORedis, Severity: Medium, Checker: "unsafe-retry",
		Short:       "ioredis autoResendUnfulfilledCommands: true",
		Explanation: "commands in flight when the connection dropped are resent on reconnect whether or not they ran: non-idempotent writes can run twice.",
		Fix:         "set autoResendUnfulfilledCommands: false and retry only idempotent commands in the application.",
		kinds:       kindJS,
		check:       gate(usesIORedis, re(`\bautoResendUnfulfilledCommands\s*:\s*true\b`)),
	},
	{
		ID: "ioredis-redirections-disabled", Client: IORedis, Severity: High, Checker: "moved-ignored",
		Short:       "ioredis maxRedirections: 0",
		Explanation: "the cluster client gives up on the first MOVED/ASK (and on TRYAGAIN/CLUSTERDOWN retries): every resharding or failover surfaces as errors.",
		Fix:         "remove maxRedirections (default 16) or keep it above 3.",
		kinds:       kindJS,
		check:       gate(usesIORedis, re(`\bmaxRedirections\s*:\s*0\b`)),
	},
	{
		ID: "redispy-require-full-coverage", Client: RedisPy, Severity: Medium, Checker: "full-coverage-required",
		Short:       "redis-py RedisCluster(require_full_coverage=True)",
		Explanation: "the client refuses to work when any slot is uncovered: one shard down stops all traffic although the other slots still serve.",
		Fix:         "pass require_full_coverage=False so the slots that are served keep working.",
		kinds:       kindPy,
		check:       gate(usesRedisPy, re(`\brequire_full_coverage\s*=\s*True\b`)),
	},
	{
		ID: "redispy-socket-timeout-none", Client: RedisPy, Severity: High, Checker: "no-command-timeout",
		Short:       "redis-py socket_timeout=None",
		Explanation: "with no socket timeout a command to a hung node blocks the calling thread forever.",
		Fix:         "set socket_timeout (and socket_connect_timeout) to a few seconds.",
		kinds:       kindPy,
		check:       gate(usesRedisPy, re(`\bsocket_timeout\s*=\s*None\b`)),
	},
}

var (
	refreshBuilderRE = re(`ClusterTopologyRefreshOptions\s*\.\s*builder\s*\(`)
	refreshOnRE      = re(`enableAllAdaptiveRefreshTriggers\s*\(|enableAdaptiveRefreshTrigger\s*\(|enablePeriodicRefresh\s*\(\s*(?:[^f)\s]|\))`)
	clusterCreateRE  = re(`RedisClusterClient\s*\.\s*create\s*\(`)
)

func checkLettuceRefresh(f *file) []hit {
	if !usesLettuce.Match(f.data) {
		return nil
	}
	v := f.scan.version(f.path, Lettuce)
	detail := "Lettuce " + v
	if v == "" {
		detail = "Lettuce version unknown, assumed < 7"
	} else if major(v) >= 7 {
		return nil
	}
	if f.contains("ClusterTopologyRefreshOptions") {
		if refreshOnRE.Match(f.data) {
			return nil
		}
		hs := f.matchLines(refreshBuilderRE)
		for i := range hs {
			hs[i].detail = detail
		}
		return hs
	}
	hs := f.matchLines(clusterCreateRE)
	for i := range hs {
		hs[i].detail = detail + ", no ClusterTopologyRefreshOptions"
	}
	return hs
}

var (
	jedisNewRE = re(`new\s+JedisCluster\s*\(`)
	intLitRE   = re(`^\d+$`)
	intNameRE  = re(`(?i)(timeout|attempts|millis|ms)$`)
	poolArgRE  = re(`(?i)pool`)
)

func checkJedisTimeout(f *file) []hit {
	if !usesJedis.Match(f.data) {
		return nil
	}
	var hs []hit
	for _, c := range f.blocks(f.jedisRE()) {
		args := splitArgs(c.body)
		if len(args) == 1 || len(args) == 2 && poolArgRE.MatchString(args[1]) {
			hs = append(hs, hit{line: c.line})
		}
	}
	return hs
}

// jedisRE matches a JedisCluster construction: "new JedisCluster(" in Java and
// Groovy, a call after "=", "(", "," or "return" in Kotlin and Scala.
func (f *file) jedisRE() *regexp.Regexp {
	if strings.HasSuffix(f.path, ".kt") || strings.HasSuffix(f.path, ".scala") {
		return jedisCallRE
	}
	return jedisNewRE
}

var jedisCallRE = re(`(?:\bnew\s+|[=(,]\s*|\breturn\s+)JedisCluster\s*\(`)

func isIntArg(a string) bool { return intLitRE.MatchString(a) || intNameRE.MatchString(a) }

// intValue resolves a literal or a constant assigned a literal in the file.
func (f *file) intValue(a string) (int, bool) {
	if n, err := strconv.Atoi(a); err == nil {
		return n, true
	}
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(a) + `\s*=\s*(\d+)\b`).FindSubmatch(f.data)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(string(m[1]))
	return n, err == nil
}

func checkJedisAttempts(f *file) []hit {
	if !usesJedis.Match(f.data) {
		return nil
	}
	var hs []hit
	for _, c := range f.blocks(f.jedisRE()) {
		args := splitArgs(c.body)
		// (nodes, conn, so, maxAttempts, …), (nodes, timeout, maxAttempts[, pool]),
		// (nodes, clientConfig, maxAttempts, …)
		idx := -1
		switch {
		case len(args) >= 4 && isIntArg(args[1]) && isIntArg(args[2]) && isIntArg(args[3]):
			idx = 3
		case len(args) >= 3 && isIntArg(args[2]):
			idx = 2
		}
		if idx < 0 {
			continue
		}
		if n, ok := f.intValue(args[idx]); ok && n > 1 {
			hs = append(hs, hit{line: c.line, detail: "maxAttempts " + strconv.Itoa(n)})
		}
	}
	return hs
}

var (
	goClusterOptsRE = re(`ClusterOptions\s*\{`)
	goReadOnlyRE    = re(`\bReadOnly\s*:\s*true\b`)
	goRouteRE       = re(`\bRoute(?:ByLatency|Randomly)\s*:\s*true\b`)
)

func checkGoRedisReadOnly(f *file) []hit {
	if !usesGoRedis.Match(f.data) {
		return nil
	}
	var hs []hit
	for _, c := range f.blocks(goClusterOptsRE) {
		loc := goReadOnlyRE.FindStringIndex(c.body)
		if loc == nil || goRouteRE.MatchString(c.body) {
			continue
		}
		hs = append(hs, hit{line: c.line + strings.Count(c.body[:loc[0]], "\n")})
	}
	return hs
}

var (
	createClusterRE = re(`\bcreateCluster\s*\(`)
	ioClusterRE     = re(`new\s+(?:\w+\s*\.\s*)?Cluster\s*\(`)
)

// optionMissing reports whether key is absent from a call's inline options, or
// from the whole file when the options are passed as a variable.
func (f *file) optionMissing(c call, key string) bool {
	if strings.Contains(c.body, "{") {
		return !strings.Contains(c.body, key)
	}
	return !f.contains(key)
}

func checkNodeRedisTimeout(f *file) []hit {
	if !usesNodeRedis.Match(f.data) {
		return nil
	}
	var hs []hit
	for _, c := range f.blocks(createClusterRE) {
		if f.optionMissing(c, "socketTimeout") {
			hs = append(hs, hit{line: c.line})
		}
	}
	return hs
}

func checkNodeRedisQueue(f *file) []hit {
	if !usesNodeRedis.Match(f.data) {
		return nil
	}
	var hs []hit
	for _, c := range f.blocks(createClusterRE) {
		if f.optionMissing(c, "commandsQueueMaxLength") && !offlineOffRE.MatchString(c.body) {
			hs = append(hs, hit{line: c.line})
		}
	}
	return hs
}

var offlineOffRE = re(`\bdisableOfflineQueue\s*:\s*true\b`)

func checkIORedisTimeout(f *file) []hit {
	if !usesIORedis.Match(f.data) {
		return nil
	}
	var hs []hit
	for _, c := range f.blocks(ioClusterRE) {
		if f.optionMissing(c, "commandTimeout") {
			hs = append(hs, hit{line: c.line})
		}
	}
	return hs
}

// springKey is one flattened configuration key and its line.
type springKey struct {
	key, value string
	line       int
}

// springKeys flattens application*.properties or *.yml into relaxed keys
// (lower case, no dashes or underscores).
func springKeys(name string, data []byte) []springKey {
	norm := func(k string) string {
		return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(strings.TrimSpace(k)))
	}
	var out []springKey
	if strings.HasSuffix(name, ".properties") {
		for i, l := range strings.Split(string(data), "\n") {
			if isComment(l) {
				continue
			}
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				k, v, ok = strings.Cut(l, ":")
			}
			if ok {
				out = append(out, springKey{norm(k), strings.TrimSpace(v), i + 1})
			}
		}
		return out
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	for {
		var doc yaml.Node
		if dec.Decode(&doc) != nil {
			return out
		}
		var walk func(n *yaml.Node, prefix string)
		walk = func(n *yaml.Node, prefix string) {
			switch n.Kind {
			case yaml.DocumentNode:
				for _, c := range n.Content {
					walk(c, prefix)
				}
			case yaml.MappingNode:
				for i := 0; i+1 < len(n.Content); i += 2 {
					k, v := n.Content[i], n.Content[i+1]
					key := norm(k.Value)
					if prefix != "" {
						key = prefix + "." + key
					}
					out = append(out, springKey{key, v.Value, k.Line})
					walk(v, key)
				}
			}
		}
		walk(&doc, "")
	}
}

func checkSpringHealth(f *file) []hit {
	var cluster, enabled *springKey
	keys := springKeys(f.path, f.data)
	for i, k := range keys {
		if strings.HasPrefix(k.key, "spring.data.redis.cluster.") || strings.HasPrefix(k.key, "spring.redis.cluster.") {
			if cluster == nil {
				cluster = &keys[i]
			}
		}
		if k.key == "management.health.redis.enabled" {
			enabled = &keys[i]
		}
		if k.key == "management.health.defaults.enabled" && isFalse(k.value) {
			return nil
		}
	}
	if cluster == nil {
		return nil
	}
	if enabled != nil {
		if isFalse(enabled.value) {
			return nil
		}
		return []hit{{line: enabled.line, detail: "set to " + enabled.value}}
	}
	// another application*.properties/yml beside this one may turn it off
	dir := filepath.Dir(filepath.FromSlash(f.path))
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		if name == filepath.Base(f.path) || kindOf(name) != kindSpring {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		for _, k := range springKeys(name, data) {
			if (k.key == "management.health.redis.enabled" || k.key == "management.health.defaults.enabled") && isFalse(k.value) {
				return nil
			}
		}
	}
	return []hit{{line: cluster.line, detail: "cluster configured, health indicator not disabled"}}
}

func isFalse(v string) bool {
	return strings.EqualFold(strings.Trim(strings.TrimSpace(v), `"'`), "false")
}
