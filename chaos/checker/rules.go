package checker

import "strings"

// Rule ids: the catalogue of unsafe client behaviours (docs/checker-rules.md).
const (
	RuleMovedIgnored         = "moved-ignored"
	RuleStaleSlotMap         = "stale-slot-map"
	RuleAskWithoutAsking     = "ask-without-asking"
	RuleAskUpdatesMap        = "ask-updates-map"
	RuleTopologyRefreshStorm = "topology-refresh-storm"
	RuleReconnectStorm       = "reconnect-storm"
	RuleNoBackoffRetry       = "no-backoff-retry"
	RuleNoCommandTimeout     = "no-command-timeout"
	RuleUnsafeRetry          = "unsafe-retry"
	RuleHealthCheckFanout    = "health-check-fanout"
	RuleRestartOnSingleFault = "restart-on-single-fault"
	RuleFullCoverage         = "full-coverage-required"
	RuleUnboundedPipeline    = "unbounded-pipeline"
	RuleWriteToReplica       = "write-to-replica"
	RuleCrossSlot            = "crossslot"
	RuleSelectNonzero        = "select-nonzero"
	RuleDangerousCommand     = "dangerous-command"
	RuleReplyDesyncRisk      = "reply-desync-risk"
	RuleWriteLost            = "acknowledged-write-lost"
)

// Client libraries with remedies, as Library names them.
const (
	LibGoRedis   = "go-redis"
	LibRedisPy   = "redis-py"
	LibJedis     = "jedis"
	LibLettuce   = "lettuce"
	LibNodeRedis = "node-redis"
	LibIORedis   = "ioredis"
)

// Libraries lists the libraries with remedies, in a stable order.
var Libraries = []string{LibGoRedis, LibRedisPy, LibJedis, LibLettuce, LibNodeRedis, LibIORedis}

// Library maps a CLIENT SETINFO LIB-NAME to one of the Lib… names, or "".
// go-redis sends "go-redis(<suffix>,<go version>)", the others their name.
func Library(libName string) string {
	n := strings.ToLower(strings.TrimSpace(libName))
	if i := strings.IndexAny(n, "(;/ "); i >= 0 {
		n = n[:i]
	}
	switch n {
	case "go-redis", "redis-py", "jedis", "lettuce", "node-redis", "ioredis":
		return n
	case "redis_py", "redispy":
		return LibRedisPy
	case "lettuce-core":
		return LibLettuce
	}
	return ""
}

// Rule is one entry of the catalogue.
type Rule struct {
	ID          string            `json:"id"`
	Severity    Severity          `json:"severity"`
	Title       string            `json:"title"`
	Signature   string            `json:"signature"`   // what the proxy sees
	Threshold   string            `json:"threshold"`   // the default threshold and its Config field
	Thresholds  map[string]string `json:"thresholds"`  // the rule's thresholds by name (ThresholdInfos), as in effect
	Explanation string            `json:"explanation"` // why it matters
	Correct     string            `json:"correct"`     // what a correct client does instead
	Remedy      string            `json:"remedy"`      // generic fix
	Remedies    map[string]string `json:"remedies"`    // by library (Lib… names)
}

// RemedyFor returns the remedy for a library name (as Library returns it),
// or the generic remedy.
func (r *Rule) RemedyFor(lib string) string {
	if s, ok := r.Remedies[lib]; ok {
		return s
	}
	return r.Remedy
}

// versionRemedies replace a library's remedy for some of its versions, where
// the library itself does what the rule sees: the generic advice would ask
// the application to stop doing what it does not do.
var versionRemedies = []struct {
	rule, lib string
	from, to  string // versions [from, to); "" is open
	text      string
}{
	{RuleTopologyRefreshStorm, LibGoRedis, "9.24.0", "",
		"go-redis 9.24 and later reload the cluster state on every retried command: space the retries (ClusterOptions MinRetryBackoff 50ms or more, MaxRetries 3), keep ClusterStateReloadInterval at 10s or more, and do not call ReloadState on errors."},
	{RuleReplyDesyncRisk, LibRedisPy, "", "5.0.0",
		"Upgrade redis-py: before 5.0 a connection that timed out can be put back into the pool twice, so two callers share it and read each other's replies. The application cannot work around it."},
}

// RemedyForVersion is RemedyFor with the library's version (CLIENT SETINFO
// LIB-VER), for remedies that depend on it.
func (r *Rule) RemedyForVersion(lib, ver string) string {
	for _, v := range versionRemedies {
		if v.rule == r.ID && v.lib == lib && ver != "" && (v.from == "" || !versionLess(ver, v.from)) &&
			(v.to == "" || versionLess(ver, v.to)) {
			return v.text
		}
	}
	return r.RemedyFor(lib)
}

// versionLess compares dotted versions numerically ("9.9.1" < "9.24.0");
// anything after the numbers ("-beta") is ignored.
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		x, y := 0, 0
		if i < len(pa) {
			x = leadingInt(pa[i])
		}
		if i < len(pb) {
			y = leadingInt(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

func leadingInt(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// Rules returns the catalogue in a stable order (a copy), with the default
// thresholds.
func Rules() []Rule { return rulesWith(Thresholds{}) }

// rulesWith returns the catalogue with the thresholds of t (zero fields:
// the defaults).
func rulesWith(t Thresholds) []Rule {
	t.setDefaults()
	byRule := ruleThresholds(t)
	out := make([]Rule, len(catalogue))
	for i, r := range catalogue {
		out[i] = r
		out[i].Remedies = make(map[string]string, len(r.Remedies))
		for k, v := range r.Remedies {
			out[i].Remedies[k] = v
		}
		out[i].Thresholds = byRule[r.ID]
		if out[i].Thresholds == nil {
			out[i].Thresholds = map[string]string{}
		}
	}
	return out
}

// RuleByID finds a rule of the catalogue.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules() {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

var catalogue = []Rule{
	{
		ID: RuleMovedIgnored, Severity: High,
		Title:       "MOVED redirects are not followed",
		Signature:   "a -MOVED reply, then no command for that slot (or the same command) to the MOVED target; or the same MOVED again from the same node",
		Threshold:   "any: a MOVED not followed within Thresholds.MovedFollow (2s), or repeated before being followed (a command sent after the first MOVED reached the client), by a client that has never followed a redirect (a cluster client that gives up after its redirect limit, or re-reads the topology right after the MOVED, is not flagged)",
		Explanation: "The client is not a cluster client, or has redirects switched off: every command for a slot its node does not own fails, so a resharding, a failover or simply a wrong seed makes the application fail.",
		Correct:     "A cluster client resends the command to the node named in the MOVED reply (at once, without backoff) and refreshes its slot map.",
		Remedy:      "Use the library's cluster client, not the single-node client, and keep redirects enabled.",
		Remedies: map[string]string{
			LibGoRedis:   "Use redis.NewClusterClient (or NewUniversalClient with the cluster's addresses), not redis.NewClient; ClusterOptions.MaxRedirects never -1, and above its default (3) when failovers use it up (every retry of a command counts against it, so its last attempt can end on a MOVED).",
			LibRedisPy:   "Use redis.cluster.RedisCluster (redis.RedisCluster), not redis.Redis.",
			LibJedis:     "Use JedisCluster (or UnifiedJedis with a ClusterConnectionProvider), not Jedis/JedisPool.",
			LibLettuce:   "Use RedisClusterClient, not RedisClient; keep ClusterClientOptions.maxRedirects above 0.",
			LibNodeRedis: "Use createCluster({ rootNodes }), not createClient; keep maxCommandRedirections above 0.",
			LibIORedis:   "Use new Redis.Cluster([...]), not new Redis(); keep maxRedirections above 0.",
		},
	},
	{
		ID: RuleStaleSlotMap, Severity: Medium,
		Title:       "The slot map is not refreshed after MOVED",
		Signature:   "the same client gets repeated -MOVED for one slot from the same node, with no topology read (CLUSTER SLOTS/NODES/SHARDS) in between",
		Threshold:   "Thresholds.StaleMoved (3) MOVED for one slot from one node within Thresholds.StaleWindow (10s) of the first",
		Explanation: "The client follows each redirect but keeps routing the slot to its old owner: every command pays an extra round trip (and fails if the old owner is gone) until the next periodic refresh, if there is one.",
		Correct:     "After a MOVED the client updates the slot's owner (or re-reads the topology) so the next command for that slot goes straight to the new owner.",
		Remedy:      "Enable topology refresh on MOVED (adaptive refresh) and a periodic refresh as a safety net.",
		Remedies: map[string]string{
			LibGoRedis:   "Do not give ClusterOptions a static ClusterSlots func; keep the default reload on MOVED and set ClusterStateReloadInterval (e.g. 10s) so failures that show only as refused connections (go-redis #3979) also lead to a reload.",
			LibRedisPy:   "Lower RedisCluster(reinitialize_steps=…) so a MOVED leads to a re-read of CLUSTER SLOTS sooner.",
			LibJedis:     "Upgrade Jedis (stale map after failover: jedis #4691) and, on Jedis 5.1+, pass a topologyRefreshPeriod to JedisCluster.",
			LibLettuce:   "ClusterClientOptions.topologyRefreshOptions(ClusterTopologyRefreshOptions.builder().enableAllAdaptiveRefreshTriggers().enablePeriodicRefresh(Duration.ofSeconds(30)).build()); adaptive refresh is off by default before Lettuce 7.",
			LibNodeRedis: "node-redis re-discovers only on MOVED/ASK (node-redis #2806): upgrade, and recreate the cluster client if a node stays unreachable.",
			LibIORedis:   "Keep slotsRefreshInterval enabled (e.g. 5000 ms) and do not raise slotsRefreshTimeout above your command timeout.",
		},
	},
	{
		ID: RuleAskWithoutAsking, Severity: High,
		Title:       "ASK redirects are followed without ASKING",
		Signature:   "after -ASK <slot> <target>, the command reaches the target without ASKING right before it on that connection; the target answers MOVED back (ping-pong)",
		Threshold:   "any",
		Explanation: "During a slot migration the importing node accepts a command for the slot only right after ASKING. Without it the client bounces between the two nodes until it gives up, so every key being migrated is unavailable for the whole resharding.",
		Correct:     "The client sends ASKING and then the command to the ASK target, once, and keeps its slot map unchanged.",
		Remedy:      "Use a maintained cluster client; if redirects are handled by hand, send ASKING immediately before the redirected command on the same connection.",
		Remedies: map[string]string{
			LibGoRedis:   "ClusterClient sends ASKING itself; do not follow ASK by hand in a hook or with a plain Client.",
			LibRedisPy:   "Use redis.cluster.RedisCluster (redis-py 4.1+); the old redis-py-cluster had this bug (redis-py-cluster #89).",
			LibJedis:     "Use JedisCluster, which sends ASKING; do not handle JedisAskDataException yourself.",
			LibLettuce:   "RedisClusterClient handles ASK; do not send redirected commands on a node connection by hand.",
			LibNodeRedis: "createCluster handles ASK; do not retry redirected commands on a node client by hand.",
			LibIORedis:   "Redis.Cluster handles ASK; do not retry redirected commands on a node client by hand.",
		},
	},
	{
		ID: RuleAskUpdatesMap, Severity: Medium,
		Title:       "ASK is treated like MOVED",
		Signature:   "after -ASK for slot S, later slot-S commands (other than the redirected one) go straight to the ASK target without ASKING, with no MOVED to it in between",
		Threshold:   "any, within Thresholds.AskWindow (10s) of the ASK",
		Explanation: "ASK is a one-shot redirect for a slot being migrated; the slot still belongs to the source node. A client that moves the whole slot to the target gets MOVED back for every key not yet migrated, and ping-pongs for the rest of the migration.",
		Correct:     "Only the one command that got ASK goes to the target (preceded by ASKING); later commands for the slot keep going to the source until a MOVED says otherwise.",
		Remedy:      "Upgrade the client; do not update the slot map on ASK.",
		Remedies: map[string]string{
			LibGoRedis:   "ClusterClient does not change its map on ASK; check custom hooks or a custom ClusterSlots.",
			LibRedisPy:   "Use redis.cluster.RedisCluster; do not patch the slot cache on AskError.",
			LibJedis:     "Upgrade Jedis (jedis #716); do not renew the slot cache on JedisAskDataException.",
			LibLettuce:   "Do not trigger a topology refresh that rewrites slots on ASK in custom code.",
			LibNodeRedis: "Upgrade node-redis; do not rediscover on ASK in custom code.",
			LibIORedis:   "Upgrade ioredis; do not refresh slots on ASK in custom code.",
		},
	},
	{
		ID: RuleTopologyRefreshStorm, Severity: Medium,
		Title:       "The topology is re-read too often",
		Signature:   "CLUSTER SLOTS/NODES/SHARDS from one client at more than one per 2 s, sustained; or about one topology read per error",
		Threshold:   "more than Thresholds.RefreshWindow/RefreshInterval (10s/2s) reads in 10s, or reads ≥ Thresholds.RefreshErrorRatio (0.8) × errors with at least Thresholds.RefreshMinErrors (10) errors",
		Explanation: "CLUSTER SLOTS and CLUSTER NODES are expensive on big clusters; when every instance of an application re-reads them on every error, a small fault turns into a CPU storm on the nodes that are still up (redis/redis #6534: 150 clients drove a node to 100% CPU).",
		Correct:     "The client re-reads the topology once per MOVED burst (coalesced, with a cooldown), plus a periodic refresh measured in tens of seconds; connection errors and CLUSTERDOWN do not each trigger a refresh.",
		Remedy:      "Rate-limit topology refreshes and do not refresh on every error.",
		Remedies: map[string]string{
			LibGoRedis:   "Do not call ReloadState on errors; keep ClusterStateReloadInterval at 10s or more (go-redis coalesces reloads on MOVED with a 200 ms cooldown).",
			LibRedisPy:   "redis-py re-initializes on every ConnectionError/TimeoutError/ClusterDownError (redis-py #4074): upgrade, and give RedisCluster a Retry with ExponentialWithJitterBackoff so retries (and refreshes) are spaced.",
			LibJedis:     "JedisCluster renews the slot cache on every MOVED: fix what causes the MOVED (wrong seeds, a long migration) and upgrade to a Jedis that renews under a lock.",
			LibLettuce:   "ClusterTopologyRefreshOptions: dynamicRefreshSources(false), adaptiveRefreshTriggersTimeout(Duration.ofSeconds(30)), and a periodic refresh of 30s or more (lettuce #1946).",
			LibNodeRedis: "Avoid calling rediscover on errors; node-redis re-discovers on MOVED/ASK only.",
			LibIORedis:   "Raise slotsRefreshInterval and retryDelayOnClusterDown; do not call refreshSlotsCache on every error.",
		},
	},
	{
		ID: RuleReconnectStorm, Severity: Medium,
		Title:       "Reconnects to a failed node without backoff",
		Signature:   "failed connection attempts (closed before any reply) from one client to one node at a high rate, or at gaps that do not grow",
		Threshold:   "more than Thresholds.ReconnectRate (5/s) over Thresholds.ReconnectWindow (5s), or Thresholds.ReconnectFailures (5) failures in a row at gaps that do not grow and stay under Thresholds.ReconnectMinGap (500ms)",
		Explanation: "Reconnecting in a tight loop burns CPU on both sides, floods the node (and its accept queue) the moment it comes back, and when many instances do it in lockstep they knock it over again.",
		Correct:     "Reconnect attempts back off exponentially with jitter (e.g. 50 ms doubling to a few seconds), and a node known to be down is skipped until the topology says it is back.",
		Remedy:      "Configure exponential backoff with jitter for reconnects.",
		Remedies: map[string]string{
			LibGoRedis:   "Keep MinRetryBackoff/MaxRetryBackoff positive (never -1) and DialerRetries small; go-redis backs off dials after PoolSize failures.",
			LibRedisPy:   "RedisCluster(retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=2), 3)) from redis.retry/redis.backoff.",
			LibJedis:     "Bound JedisCluster with maxAttempts and maxTotalRetriesDuration so attempts are spread out (jedis #2347: retrying the same down node).",
			LibLettuce:   "ClientResources.builder().reconnectDelay(Delay.fullJitter(Duration.ofMillis(100), Duration.ofSeconds(10), 100, TimeUnit.MILLISECONDS)); the default exponential delay has no jitter.",
			LibNodeRedis: "socket: { reconnectStrategy: retries => Math.min(2 ** retries * 50, 5000) + Math.random() * 100 }.",
			LibIORedis:   "clusterRetryStrategy and redisOptions.retryStrategy: times => Math.min(100 * 2 ** times, 5000) + Math.random() * 100.",
		},
	},
	{
		ID: RuleNoBackoffRetry, Severity: Medium,
		Title:       "Transient cluster errors are retried at once",
		Signature:   "the identical command resent less than 10 ms after -CLUSTERDOWN, -TRYAGAIN, -LOADING or -MASTERDOWN",
		Threshold:   "more than Thresholds.ResendRate (10/s) resends within Thresholds.ImmediateResend (10ms) of the error, making up at least Thresholds.ResendShare (50%) of the client's resends",
		Explanation: "These errors mean wait: a failover, a migration or a restart is in progress. Retrying at once multiplies the load exactly when the cluster is weakest and exhausts the retry budget before the condition can clear.",
		Correct:     "The client waits before each retry (exponential backoff with jitter, starting around 10–100 ms) and gives up after a bounded time.",
		Remedy:      "Add backoff between retries of CLUSTERDOWN/TRYAGAIN/LOADING/MASTERDOWN.",
		Remedies: map[string]string{
			LibGoRedis:   "Do not set MinRetryBackoff/MaxRetryBackoff to -1 (ClusterOptions defaults: 10 ms to 1 s).",
			LibRedisPy:   "Give RedisCluster a Retry with ExponentialWithJitterBackoff; TRYAGAIN's first retries are immediate otherwise.",
			LibJedis:     "Jedis throws CLUSTERDOWN at once: the application's retry loop must sleep with backoff.",
			LibLettuce:   "Lettuce retries only MOVED/ASK: the application's retry (e.g. reactor retryWhen(Retry.backoff(…))) must back off.",
			LibNodeRedis: "node-redis throws these errors: retry in the application with backoff.",
			LibIORedis:   "Keep retryDelayOnTryAgain and retryDelayOnClusterDown at 100 ms or more (never 0).",
		},
	},
	{
		ID: RuleNoCommandTimeout, Severity: High,
		Title:       "No command timeout",
		Signature:   "a command outstanding against an unresponsive node for 10 s while the client neither closes the connection nor sends anything new to that node; or a reply that took 10 s, after which the client keeps using the connection",
		Threshold:   "Thresholds.CommandTimeout (10s); blocking commands (BLPOP, XREAD, WAIT …) are exempt",
		Explanation: "A node that hangs (SIGSTOP, a network partition, a long script) does not close connections. Without a timeout every request routed to it waits forever: threads and pools fill up and the whole application stalls because of one node.",
		Correct:     "Every command has a timeout of a few seconds at most; on timeout the client closes the connection (its reply stream is no longer trustworthy) and reports the error.",
		Remedy:      "Set a command (read) timeout of a few seconds.",
		Remedies: map[string]string{
			LibGoRedis:   "Set ReadTimeout/WriteTimeout (never -1), or use contexts with deadlines and ContextTimeoutEnabled: true.",
			LibRedisPy:   "Pass socket_timeout=… (and socket_connect_timeout=…) to RedisCluster.",
			LibJedis:     "DefaultJedisClientConfig.builder().socketTimeoutMillis(2000).connectionTimeoutMillis(2000).",
			LibLettuce:   "ClientOptions.timeoutOptions(TimeoutOptions.enabled(Duration.ofSeconds(2))) or RedisURI.setTimeout; the 60 s default is too long.",
			LibNodeRedis: "Set socket.socketTimeout (node-redis 5), or pass an AbortSignal with a timeout per command.",
			LibIORedis:   "Set redisOptions.socketTimeout (it closes a connection that receives nothing for that long) as well as commandTimeout: commandTimeout alone rejects the call but leaves the connection waiting on the node, with every later command queued behind.",
		},
	},
	{
		ID: RuleUnsafeRetry, Severity: High,
		Title:       "Non-idempotent commands are resent after an unknown outcome",
		Signature:   "INCR/LPUSH/XADD/EVAL … sent, its reply withheld or its connection reset, then the identical command from the same client within 5 s",
		Threshold:   "any within Thresholds.RetryWindow (5s); retries after MOVED, ASK, CLUSTERDOWN, TRYAGAIN, LOADING, MASTERDOWN, READONLY, MISCONF, NOREPLICAS or BUSY are safe (the command did not run) and are not counted",
		Explanation: "When a connection breaks or a reply never comes, the command may or may not have run. Resending a counter increment, a list push, a stream append or a script applies it twice: silent data corruption.",
		Correct:     "Only idempotent commands are retried automatically after a timeout or a broken connection; non-idempotent ones surface the error to the application (or carry an idempotency key).",
		Remedy:      "Disable automatic retries for non-idempotent commands, or make them idempotent (SET NX with a request id, a Lua script with a dedupe key).",
		Remedies: map[string]string{
			LibGoRedis:   "go-redis retries timeouts and EOF for non-blocking commands: use a separate ClusterClient with MaxRedirects: -1 (and Options.MaxRetries: -1) for non-idempotent commands, or make them idempotent.",
			LibRedisPy:   "Use retry=Retry(NoBackoff(), 0) for the client that sends non-idempotent commands (redis-py #3559), or make them idempotent.",
			LibJedis:     "JedisCluster retries after read timeouts (jedis #3187, #1812): use maxAttempts=1 for non-idempotent commands, or make them idempotent.",
			LibLettuce:   "Lettuce is at-least-once by default: for non-idempotent commands use at-most-once (ClientOptions.autoReconnect(false) on a dedicated connection) or make them idempotent.",
			LibNodeRedis: "Set disableOfflineQueue: true so commands are not replayed after a reconnect, or make them idempotent.",
			LibIORedis:   "Set autoResendUnfulfilledCommands: false (default true), or make the commands idempotent.",
		},
	},
	{
		ID: RuleHealthCheckFanout, Severity: Medium,
		Title:       "The health check probes every node",
		Signature:   "PING/ECHO/INFO/CLUSTER INFO from one client to every node (at least half of the known nodes, and at least 3) at ≥ 1/s",
		Threshold:   "per node ≥ Thresholds.ProbeRate (1/s) over Thresholds.ProbeWindow (5s), on ≥ max(Thresholds.FanoutMinNodes (3), Thresholds.FanoutShare (0.5) × known nodes) nodes",
		Explanation: "A health check that requires every node to answer turns any single node failure (routine on a 9-node cluster) into 'Redis is down', and the probes themselves load every node. This is how an application gets restarted because one replica is down.",
		Correct:     "A health check sends one cheap command through the cluster client (which routes around failed nodes) and reports degraded, not down, when part of the cluster fails; it is never part of a liveness probe.",
		Remedy:      "Probe through the cluster client at a low rate and report partial failures as degraded.",
		Remedies: map[string]string{
			LibGoRedis:   "Do not run ForEachShard/ForEachMaster(PING) every second; PING once through the ClusterClient and treat errors on some nodes as degraded.",
			LibRedisPy:   "Do not ping target_nodes=RedisCluster.ALL_NODES from the health endpoint; keep health_check_interval per connection (it is not a fan-out).",
			LibJedis:     "Spring Boot Actuator's Redis health runs CLUSTER INFO and is DOWN on cluster_state:fail: keep it out of liveness (management.endpoint.health.group.liveness.include=livenessState).",
			LibLettuce:   "Spring Boot Actuator's Redis health runs CLUSTER INFO: keep it out of liveness, or write a health indicator that reports degraded.",
			LibNodeRedis: "Keep pingInterval per connection at 10s or more and do not PING every node from the health endpoint.",
			LibIORedis:   "Do not ping cluster.nodes('all') from the health endpoint; one command through the Cluster is enough.",
		},
	},
	{
		ID: RuleRestartOnSingleFault, Severity: High,
		Title:       "The application restarts when one node fails",
		Signature:   "≥ 80% of a client's connections (to several nodes) closed by the client within 2 s while faults touch at most one node, then a fresh handshake burst (HELLO, SETINFO, CLUSTER SLOTS)",
		Threshold:   "Thresholds.RestartShare (0.8) of at least Thresholds.RestartMinConns (3) connections within Thresholds.RestartWindow (2s), with faults on ≤ Thresholds.RestartMaxFaultNodes (1) node, then a handshake within Thresholds.RestartHandshake (10s)",
		Explanation: "One failed node is routine: a cluster client routes around it and the cluster fails over. An application that restarts instead (usually because a health check failed) drops all its in-flight work, cold-starts its pools, and loads the cluster with a reconnect burst — the outage is self-inflicted.",
		Correct:     "The application keeps its cluster client through a single node failure; only requests for the failed node's slots see errors, until the failover completes.",
		Remedy:      "Take Redis out of the liveness probe, and keep the cluster client alive across node failures.",
		Remedies: map[string]string{
			LibGoRedis:   "Do not Close and recreate the ClusterClient on errors; it reroutes after MOVED and reloads its state itself.",
			LibRedisPy:   "Do not recreate RedisCluster on errors; note that redis-py's initialize() closing the startup connections is not a restart.",
			LibJedis:     "Do not include Redis health in the liveness group (Spring Boot: management.endpoint.health.group.liveness.include=livenessState).",
			LibLettuce:   "Do not include Redis health in the liveness group; keep one RedisClusterClient for the application's lifetime.",
			LibNodeRedis: "Do not quit and recreate the cluster client on errors; handle them per command.",
			LibIORedis:   "Do not disconnect and recreate the Cluster on 'node error' events; ioredis reconnects by itself.",
		},
	},
	{
		ID: RuleFullCoverage, Severity: Medium,
		Title:       "Stops working when some slots are not served",
		Signature:   "while one shard is down (slots uncovered) the client stops getting data commands served although the other shards serve: it goes silent, closes its connections or loops on topology reads (not when the cluster requires full coverage: then no client can)",
		Threshold:   "a client with ≥ Thresholds.CoverageMinCommands (5) data commands answered in the Thresholds.CoverageWindow (5s) before slots became uncovered, then none for CoverageWindow while they are (after half a window to notice the outage)",
		Explanation: "When one shard is lost the other two thirds of the keyspace are still served. A client that insists on full coverage turns a partial outage into a total one.",
		Correct:     "The client keeps serving the covered slots and returns errors only for keys in the uncovered ones.",
		Remedy:      "Do not require full slot coverage in the client.",
		Remedies: map[string]string{
			LibGoRedis:   "go-redis serves covered slots; make sure the application does not stop all work on the first CLUSTERDOWN or connection error.",
			LibRedisPy:   "RedisCluster(require_full_coverage=False).",
			LibJedis:     "Catch per-command errors for uncovered slots ('Cluster slots have holes' / JedisClusterOperationException) instead of re-initializing in a loop; upgrade Jedis.",
			LibLettuce:   "Do not fail the application on partitions without full coverage; handle errors per command.",
			LibNodeRedis: "Handle errors per command; do not quit the cluster client when one shard fails.",
			LibIORedis:   "Handle errors per command; do not disconnect on 'node error'.",
		},
	},
	{
		ID: RuleUnboundedPipeline, Severity: Medium,
		Title:       "Unbounded pipeline or replay queue",
		Signature:   "more than 1000 commands outstanding on one connection, or a burst of queued commands right after a reconnect",
		Threshold:   "Thresholds.PipelineMax (1000) outstanding; or ≥ Thresholds.ReplayBurst (100) outstanding within Thresholds.ReplayWindow (200ms) of a connection that replaced one the proxy dropped",
		Explanation: "An unbounded queue grows without limit while a node is slow or away, holds the application's memory hostage, and is replayed as one huge burst when the node returns — often with stale or duplicated writes.",
		Correct:     "Pipelines are sent in bounded batches (tens to hundreds of commands); while disconnected, commands fail fast instead of queueing.",
		Remedy:      "Bound request queues and pipeline sizes; reject commands while disconnected.",
		Remedies: map[string]string{
			LibGoRedis:   "Split Pipelined batches (e.g. 100–500 commands each); go-redis has no offline queue.",
			LibRedisPy:   "Execute pipelines in chunks; redis-py has no offline queue.",
			LibJedis:     "Sync ClusterPipeline in batches.",
			LibLettuce:   "ClientOptions.requestQueueSize(…) (default Integer.MAX_VALUE) and disconnectedBehavior(REJECT_COMMANDS).",
			LibNodeRedis: "disableOfflineQueue: true (node-redis #1039), and bounded multi/pipeline batches.",
			LibIORedis:   "enableOfflineQueue: false and a finite maxRetriesPerRequest (ioredis #76).",
		},
	},
	{
		ID: RuleWriteToReplica, Severity: Medium,
		Title:       "Writes sent to a replica",
		Signature:   "a write command on a replica's port (Redis answers MOVED to the master, even after READONLY)",
		Threshold:   "any; a write without READONLY to a node the client lost to a fault within the last minute (an old master back as a replica after a failover, still in the client's slot map) is not counted",
		Explanation: "Replicas never accept writes in a cluster: every such write costs a redirect, or fails outright with a client that does not follow redirects. It usually means read-from-replica routing is applied to writes.",
		Correct:     "Writes go to the slot's master; only read-only commands are routed to replicas (after READONLY).",
		Remedy:      "Route only read-only commands to replicas.",
		Remedies: map[string]string{
			LibGoRedis:   "ReadOnly/RouteByLatency/RouteRandomly send only read-only commands to replicas: do not point a plain Client at a replica for writes.",
			LibRedisPy:   "read_from_replicas=True routes only reads; do not use a Redis() connection to a replica for writes.",
			LibJedis:     "Do not use a Jedis connection to a replica for writes; use JedisCluster.",
			LibLettuce:   "ReadFrom applies to reads only; do not send writes on a connection obtained with getConnection(replica).",
			LibNodeRedis: "useReplicas routes reads only; do not write through a replica client.",
			LibIORedis:   "Redis.Cluster sends writes to masters whatever scaleReads says: do not write through a node client (cluster.nodes('slave')) or a plain Redis() connected to a replica.",
		},
	},
	{
		ID: RuleCrossSlot, Severity: Low,
		Title:       "Multi-key commands across slots",
		Signature:   "-CROSSSLOT replies",
		Threshold:   "Thresholds.CrossSlotCount (3) within Thresholds.CrossSlotWindow (10s)",
		Explanation: "In a cluster a multi-key command (MGET, MSET, DEL, EVAL, a MULTI block) must touch one slot. These commands fail every time; the code was written for a single Redis.",
		Correct:     "Keys used together share a hash tag ({user:42}:cart, {user:42}:profile), or the client splits the command per slot.",
		Remedy:      "Use hash tags for keys used together, or split multi-key commands per slot.",
		Remedies: map[string]string{
			LibGoRedis:   "go-redis does not split MGET/MSET/DEL across slots: use hash tags or a pipeline of single-key commands.",
			LibRedisPy:   "Use hash tags, or RedisCluster.mget_nonatomic/mset_nonatomic.",
			LibJedis:     "Use hash tags; JedisCluster rejects cross-slot multi-key commands.",
			LibLettuce:   "Use hash tags, or the cluster API's MGET/MSET/DEL, which Lettuce splits per slot.",
			LibNodeRedis: "Use hash tags for keys used together.",
			LibIORedis:   "Use hash tags for keys used together.",
		},
	},
	{
		ID: RuleSelectNonzero, Severity: Low,
		Title:       "SELECT of a database other than 0",
		Signature:   "SELECT answered with an error (cluster mode accepts only SELECT 0)",
		Threshold:   "any",
		Explanation: "Redis Cluster has only database 0. A non-zero database in the client's configuration comes from a non-cluster setup; connections fail their handshake or the application expects data separation that does not exist.",
		Correct:     "No SELECT, or SELECT 0, in cluster mode; separate data with key prefixes.",
		Remedy:      "Remove the database number from the client configuration.",
		Remedies: map[string]string{
			LibGoRedis:   "Remove Options.DB (ClusterOptions has none: use a ClusterClient).",
			LibRedisPy:   "Use db=0 (RedisCluster takes no db).",
			LibJedis:     "Do not call select(n) and do not set a database in the URI or JedisClientConfig.",
			LibLettuce:   "Remove the database from the RedisURI.",
			LibNodeRedis: "Remove the database option.",
			LibIORedis:   "Remove the db option.",
		},
	},
	{
		ID: RuleDangerousCommand, Severity: Medium,
		Title:       "Administrative or dangerous commands from the application",
		Signature:   "KEYS, FLUSHALL, FLUSHDB, CONFIG SET/REWRITE/RESETSTAT, CLUSTER RESET/FAILOVER/FORGET/SETSLOT…, DEBUG, SHUTDOWN, MONITOR, SWAPDB, REPLICAOF, SCRIPT/FUNCTION FLUSH",
		Threshold:   "any (the value of SCAN COUNT is not observed: the proxy records no arguments)",
		Explanation: "These commands block a node (KEYS on a big keyspace), destroy data, or change the cluster's configuration. In application code they are either a latency bomb or an accident waiting to happen — and cluster clients often fan them out to every master.",
		Correct:     "Applications iterate with SCAN and a modest COUNT, and leave configuration and failover to operators.",
		Remedy:      "Remove administrative commands from application code; use SCAN with a bounded COUNT instead of KEYS.",
		Remedies: map[string]string{
			LibGoRedis:   "Replace Keys with Scan via ForEachMaster and a bounded count; keep FlushAll/ConfigSet out of application code.",
			LibRedisPy:   "RedisCluster sends FLUSHALL/FLUSHDB/SCAN/KEYS to all primaries: use scan_iter(count=…) and keep flush calls in tests only.",
			LibJedis:     "Use scan(cursor, new ScanParams().count(…)) instead of keys; keep flushAll out of application code.",
			LibLettuce:   "Use the SCAN iterator (ScanIterator) instead of KEYS; keep FLUSHALL out of application code.",
			LibNodeRedis: "Use scanIterator instead of KEYS; keep FLUSHALL out of application code.",
			LibIORedis:   "Use scanStream instead of KEYS; keep FLUSHALL out of application code.",
		},
	},
	{
		ID: RuleReplyDesyncRisk, Severity: High,
		Title:       "Keeps using a connection whose handshake failed",
		Signature:   "a handshake command (HELLO, AUTH, PING, CLIENT SETNAME/SETINFO, SELECT, READONLY) on a new connection gets no reply in time (or AUTH gets an injected error), and the client sends data commands on that connection before the late reply arrives",
		Threshold:   "any: data commands on the connection while its handshake reply has been outstanding for Thresholds.DesyncGap (500ms) or more",
		Explanation: "If a client gives up waiting for a reply but keeps the connection, the late reply is read as the answer to the next request: every reply after that is paired with the wrong request — wrong values returned to the application, silently.",
		Correct:     "A client that times out on a connection (and above all on its handshake) closes it and opens a new one; replies are always paired with requests in order.",
		Remedy:      "Close connections on timeouts and failed handshakes; never reuse them.",
		Remedies: map[string]string{
			LibGoRedis:   "go-redis discards a connection after a timeout; keep it that way (do not reuse connections from custom Dialer/hooks after errors).",
			LibRedisPy:   "redis-py disconnects on timeouts; do not catch the error and keep using the same Connection object.",
			LibJedis:     "Jedis marks a connection broken on errors: do not return broken connections to the pool yourself.",
			LibLettuce:   "Do not set cancelCommandsOnReconnectFailure(true) (lettuce #1787: replies paired with the wrong requests; removed in later versions); upgrade.",
			LibNodeRedis: "Let node-redis reconnect on socket errors; do not reuse a socket after a failed handshake.",
			LibIORedis:   "Let ioredis reconnect on errors; do not reuse a connection after a failed handshake.",
		},
	},
	{
		ID: RuleWriteLost, Severity: High,
		Title:       "Acknowledged writes were lost in a network partition",
		Signature:   "writes that a master cut off from the majority of masters acknowledged during a partition, gone once it healed because a replica on the other side had taken the master's slots (real mode; a simulated partition reports them at risk: possible, one severity lower)",
		Threshold:   "any",
		Explanation: "A master on the minority side of a partition keeps accepting writes until node-timeout; meanwhile the majority promotes one of its replicas, which never received them. When the partition heals the old master becomes a replica of the new one and drops what it acknowledged. Redis Cluster does not promise that acknowledged writes survive a failover; the application had an OK for each of these writes.",
		Correct:     "An application that cannot lose a write does not rely on its OK alone: it makes writes idempotent and replayable (a journal or outbox it can re-apply after a failover), or narrows the window with WAIT numreplicas on the same connection after the write, and knows the remaining window.",
		Remedy:      "Treat an acknowledged write as not yet durable across a failover: keep what you cannot lose replayable, or confirm it with WAIT 1 <timeout> on the master's connection (and handle a 0 reply); accept or document the loss otherwise.",
		Remedies: map[string]string{
			LibGoRedis:   "WAIT must follow the write on the same connection: node, _ := cc.MasterForKey(ctx, key); node.Pipelined(ctx, func(p redis.Pipeliner) error { p.Set(ctx, key, v, 0); p.Do(ctx, \"WAIT\", 1, 100); return nil }) and check WAIT's count; or keep such writes replayable.",
			LibRedisPy:   "Send the write and WAIT in one pipeline on the key's master: r = rc.get_redis_connection(rc.get_node_from_key(key)); p = r.pipeline(transaction=False); p.set(key, v); p.execute_command('WAIT', 1, 100); p.execute(); or keep such writes replayable.",
			LibJedis:     "On the key's master connection (cluster.getConnectionFromSlot(JedisClusterCRC16.getSlot(key))), write then waitReplicas(1, 100) and check the count; or keep such writes replayable.",
			LibLettuce:   "On the key's master connection (clusterConnection.getConnection(nodeId) for the slot's master), write then waitForReplication(1, 100) and check the count; or keep such writes replayable.",
			LibNodeRedis: "On the key's master client (cluster.nodeClient(cluster.getSlotMaster(slot))), write then sendCommand(['WAIT', '1', '100']) and check the count; or keep such writes replayable.",
			LibIORedis:   "Pipeline the write and WAIT (cluster.pipeline().set(key, v).call('WAIT', 1, 100).exec(): a pipeline goes to the key's master on one connection) and check the count; or keep such writes replayable.",
		},
	},
}
