package lint

// Rule is one static check. Ids are stable: CI baselines and SARIF viewers key
// on them.
type Rule struct {
	ID          string
	Client      string
	Severity    Severity
	Checker     string // the runtime checker rule this one predicts, if any
	Short       string
	Explanation string
	Fix         string // the default remedy; a finding may carry one fitted to the version in use
}

// Rules returns the rule catalogue in a stable order.
func Rules() []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = *r
	}
	return out
}

var ruleByID = func() map[string]*Rule {
	m := map[string]*Rule{}
	for _, r := range rules {
		m[r.ID] = r
	}
	return m
}()

var rules = []*Rule{
	{
		ID: "spring-redis-health-cluster", Client: Spring, Severity: High, Checker: "health-check-fanout",
		Short:       "Spring Boot Actuator's Redis health check runs against a cluster",
		Explanation: "Actuator's Redis health indicator asks one node for CLUSTER INFO and reports DOWN when that node is unreachable or, from Spring Boot 2.4.9/2.5.3, when cluster_state is fail: one failed node can turn /actuator/health DOWN on every instance at once, and a probe on it restarts them all (restart-on-single-fault).",
		Fix:         "set management.health.redis.enabled=false (or MANAGEMENT_HEALTH_REDIS_ENABLED=false in the deployment) and watch Redis with its own monitoring; if readiness must include Redis, use a check that tolerates one failed shard.",
	},
	{
		ID: "lettuce-topology-refresh-off", Client: Lettuce, Severity: Medium, Checker: "stale-slot-map",
		Short:       "Lettuce cluster topology refresh is off",
		Explanation: "before Lettuce 7 neither adaptive nor periodic topology refresh is on by default: after a failover or resharding the client keeps routing slots to the old nodes until restarted (lettuce #2806, #2080, #1154).",
		Fix:         "enable adaptive and periodic refresh: ClusterTopologyRefreshOptions.builder().enableAllAdaptiveRefreshTriggers().enablePeriodicRefresh(Duration.ofSeconds(60)).build() in ClusterClientOptions.",
	},
	{
		ID: "lettuce-cancel-on-reconnect-failure", Client: Lettuce, Severity: High, Checker: "reply-desync-risk",
		Short:       "Lettuce cancelCommandsOnReconnectFailure(true)",
		Explanation: "after a failed reconnect Lettuce cancels the queued commands but can keep the connection, so later replies are paired with the wrong requests (lettuce #1787); the option was deprecated in 6.2 and removed in 7.",
		Fix:         "remove cancelCommandsOnReconnectFailure(true) (keep the default false) and bound the queue with requestQueueSize and a command timeout instead.",
	},
	{
		ID: "lettuce-unbounded-request-queue", Client: Lettuce, Severity: Medium, Checker: "unbounded-pipeline",
		Short:       "Lettuce requestQueueSize(Integer.MAX_VALUE)",
		Explanation: "the per-connection queue grows without bound while a node is down and is replayed in one burst on reconnect; memory grows and the replay floods the recovering node.",
		Fix:         "use a bounded requestQueueSize (for example 1000-10000) so callers fail fast with RedisException when the node is gone.",
	},
	{
		ID: "jedis-cluster-retry-non-idempotent", Client: Jedis, Severity: Medium, Checker: "unsafe-retry",
		Short:       "JedisCluster retries non-idempotent commands",
		Explanation: "JedisCluster resends a command after a read timeout or a reset connection, up to maxAttempts times (5 by default, and Spring's JedisConnectionFactory passes maxRedirects as maxAttempts), whether or not it ran: increments, pushes, pops and scripts can run twice (jedis #3187, #1812).",
		Fix:         "Jedis has no setting that follows redirects but does not retry timeouts (maxAttempts counts both, so 1 also stops MOVED handling): make these writes idempotent (a request id checked in a Lua script, SET NX on a dedupe key), or treat their JedisConnectionException as an unknown outcome and reconcile instead of sending again.",
	},
	{
		ID: "goredis-retry-non-idempotent", Client: GoRedis, Severity: Medium, Checker: "unsafe-retry",
		Short:       "go-redis cluster client re-sends non-idempotent commands after a timeout",
		Explanation: "go-redis's ClusterClient resends a command after a read timeout or a dropped connection, first to the same node and then to another, up to MaxRedirects times (3 by default), whether or not it ran; only MaxRedirects -1 stops it, and that also stops MOVED/ASK handling.",
		Fix:         "make these writes idempotent (an idempotency key checked in a Lua script, SET NX on a request id), or call them with a context whose deadline is at most ReadTimeout: a call whose context is done is not retried.",
	},
	{
		ID: "goredis-read-timeout-disabled", Client: GoRedis, Severity: High, Checker: "no-command-timeout",
		Short:       "go-redis ReadTimeout disabled (-1/-2)",
		Explanation: "with no read deadline a command sent to a hung node waits forever, holding its pool connection; the pool drains and the whole client stalls.",
		Fix:         "leave ReadTimeout at its default (3 s) or set a positive duration, and pass contexts with deadlines.",
	},
	{
		ID: "goredis-redirects-disabled", Client: GoRedis, Severity: High, Checker: "moved-ignored",
		Short:       "go-redis MaxRedirects: -1 disables MOVED/ASK handling",
		Explanation: "with MaxRedirects -1 the cluster client returns MOVED and ASK to the caller instead of following them: every resharding or failover surfaces as errors (0 means the default, 3).",
		Fix:         "remove MaxRedirects or set a small positive value (3-8).",
	},
	{
		ID: "goredis-readonly-no-fallback", Client: GoRedis, Severity: Low,
		Short:       "go-redis ReadOnly: true without RouteByLatency or RouteRandomly",
		Explanation: "reads go to a replica of the slot only; a lagging or failing replica serves stale data or errors until it is marked failing, with no spreading over the master.",
		Fix:         "add RouteByLatency: true (or RouteRandomly: true), which imply ReadOnly and fall back across master and replicas.",
	},
	{
		ID: "noderedis-no-socket-timeout", Client: NodeRedis, Severity: Medium, Checker: "no-command-timeout",
		Short:       "node-redis createCluster without a socket timeout",
		Explanation: "node-redis has no socket timeout by default: commands to a hung node wait forever and rediscovery happens only on MOVED/ASK (node-redis #2806).",
		Fix:         "set defaults: { socket: { socketTimeout: 5000 } } (node-redis 5.1 and later).",
	},
	{
		ID: "noderedis-unbounded-offline-queue", Client: NodeRedis, Severity: Medium, Checker: "unbounded-pipeline",
		Short:       "node-redis offline queue without commandsQueueMaxLength",
		Explanation: "by default node-redis queues every command while a node is unreachable, without limit, and replays the queue on reconnect (node-redis #1039): memory grows and the recovering node gets a burst.",
		Fix:         "set commandsQueueMaxLength (for example 1000) in defaults, or disableOfflineQueue: true so callers fail fast.",
	},
	{
		ID: "ioredis-no-command-timeout", Client: IORedis, Severity: Medium, Checker: "no-command-timeout",
		Short:       "ioredis Cluster without commandTimeout",
		Explanation: "ioredis has no command timeout by default: a command to a hung node never settles and its promise never resolves.",
		Fix:         "set redisOptions: { commandTimeout: 5000 } in the Cluster options (ioredis 4.25 and later).",
	},
	{
		ID: "ioredis-auto-resend", Client: IORedis, Severity: Medium, Checker: "unsafe-retry",
		Short:       "ioredis resends unanswered commands on reconnect",
		Explanation: "autoResendUnfulfilledCommands is true by default: commands in flight when a connection dropped are sent again after the reconnect whether or not they ran, so increments, pushes and scripts can run twice.",
		Fix:         "set redisOptions: { autoResendUnfulfilledCommands: false } and retry only idempotent commands in the application, or make these writes idempotent.",
	},
	{
		ID: "ioredis-redirections-disabled", Client: IORedis, Severity: High, Checker: "moved-ignored",
		Short:       "ioredis maxRedirections: 0",
		Explanation: "the cluster client gives up on the first MOVED/ASK (and on TRYAGAIN/CLUSTERDOWN retries): every resharding or failover surfaces as errors.",
		Fix:         "remove maxRedirections (default 16) or keep it above 3.",
	},
	{
		ID: "ioredis-scale-reads-replica", Client: IORedis, Severity: Medium,
		Short:       "ioredis scaleReads sends reads to replicas",
		Explanation: "with scaleReads \"slave\" or \"all\" reads go to replicas, which lag the master: a read right after a write can miss it, and during a failover reads keep going to a replica that is being promoted or resynced.",
		Fix:         "keep scaleReads: \"master\" (the default) for reads that must see the latest writes; send only reads that tolerate stale data to replicas, through a separate client.",
	},
	{
		ID: "redispy-socket-timeout-none", Client: RedisPy, Severity: High, Checker: "no-command-timeout",
		Short:       "redis-py client without a socket timeout",
		Explanation: "before redis-py 8 socket_timeout defaults to None: a command to a hung node blocks the calling thread (or task) forever.",
		Fix:         "pass socket_timeout (and socket_connect_timeout) of a few seconds; redis-py 8 defaults both to 5 s.",
	},
	{
		ID: "redispy-require-full-coverage", Client: RedisPy, Severity: Medium, Checker: "full-coverage-required",
		Short:       "redis-py RedisCluster(require_full_coverage=True)",
		Explanation: "the client refuses to work when any slot is uncovered: one shard down stops all traffic although the other slots still serve.",
		Fix:         "pass require_full_coverage=False so the slots that are served keep working.",
	},
	{
		ID: "cluster-client-per-call", Client: "any", Severity: Medium, Checker: "topology-refresh-storm",
		Short:       "Redis Cluster client built for each call",
		Explanation: "a cluster client discovers the topology (CLUSTER SLOTS/NODES) and opens a connection to every node it uses before its first command: building one per request multiplies connections and topology queries by the request rate, and in a failover every request repeats the discovery against the failing nodes.",
		Fix:         "build the cluster client once (at start-up, as a singleton or bean) and share it; it is safe for concurrent use in every client this lint knows.",
	},
}
