package provision

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"time"
)

// Sentinel errors. Errors returned by this package wrap one of these where the
// caller may need to tell cases apart; test them with errors.Is.
var (
	// ErrInvalidConfig reports a Config value that cannot work (e.g. zero shards).
	ErrInvalidConfig = errors.New("provision: invalid config")
	// ErrPortInUse reports that a node port or cluster bus port is already taken.
	ErrPortInUse = errors.New("provision: port in use")
	// ErrRedisServerNotFound reports that no redis-server binary could be found.
	ErrRedisServerNotFound = errors.New("provision: redis-server not found (bash scripts/install-redis.sh installs it with apt, dnf, apk or Homebrew; or give its path)")
	// ErrRunning reports that a cluster (or node) recorded in the directory is still running.
	ErrRunning = errors.New("provision: already running")
	// ErrNotProvisioned reports a node or cluster this package did not provision.
	// Real fault actions refuse such targets.
	ErrNotProvisioned = errors.New("provision: not a cluster provisioned by redis-chaos")
	// ErrNoState reports a directory without a state file.
	ErrNoState = errors.New("provision: no cluster state in directory")
	// ErrNodeIndex reports a node index out of range.
	ErrNodeIndex = errors.New("provision: no such node")
	// ErrNodeDown reports an action that needs a running node on a node that is not running.
	ErrNodeDown = errors.New("provision: node is not running")
	// ErrRole reports an action on a node with the wrong live role (e.g. failover of a master).
	ErrRole = errors.New("provision: node has the wrong role for this action")
	// ErrStopped reports use of a Cluster after Stop.
	ErrStopped = errors.New("provision: cluster stopped")
	// ErrMigration reports a slot migration that cannot be started or finished.
	ErrMigration = errors.New("provision: slot migration")
)

// Defaults used for zero Config fields.
const (
	DefaultHost = "127.0.0.1"
	// DefaultBasePort puts nodes 0..N on 21001+ and their cluster bus ports on
	// 31001+: both below Linux's default ephemeral port range (32768-60999),
	// from which the kernel picks the local ports of outgoing connections, so a
	// busy machine's connections cannot take a node's port before it starts.
	DefaultBasePort    = 21001
	DefaultShards      = 3
	DefaultReplicas    = 2
	DefaultNodeTimeout = 2 * time.Second

	// busPortOffset is the distance between a node's port and its cluster bus port.
	busPortOffset = 10000
	// maxPort is the highest TCP port.
	maxPort = 65535
)

// Config describes a cluster to provision. The zero value is a 3-shard cluster with
// 2 replicas per shard (9 nodes) on 127.0.0.1:21001-21009 in a temporary directory.
type Config struct {
	// Host is the address the nodes bind to and announce. If empty, 127.0.0.1.
	Host string
	// BasePort is the port of node 0; node i listens on BasePort+i and uses
	// BasePort+i+10000 as its cluster bus port. If zero, DefaultBasePort.
	BasePort int
	// Shards is the number of masters. If zero, 3.
	Shards int
	// Replicas is the number of replicas per master. If zero, 2; if negative, none.
	Replicas int
	// NodeTimeout is written as cluster-node-timeout. If zero, 2s.
	NodeTimeout time.Duration
	// RedisServer is the path of the redis-server binary. If empty, it is looked up in PATH.
	RedisServer string
	// Dir holds one directory per node and the state file. If empty, a temporary
	// directory is created, and Stop removes it.
	Dir string
	// ExtraConfig lines are appended to every node's redis.conf, e.g.
	// "cluster-require-full-coverage no", "requirepass x",
	// "user app on >pw ~* &* +@all", "cluster-allow-reads-when-down yes".
	// Later lines override earlier ones, so they can override this package's choices.
	ExtraConfig []string
	// Username and Password are the credentials the provisioner uses when the
	// cluster requires them (requirepass or ACL users in ExtraConfig). When Password is
	// set, masterauth (and masteruser) are written so replicas can sync.
	Username string
	Password string
	// Daemon makes the node processes outlive this process: each runs in its own
	// session, and their PIDs are recorded so another process can Open and Stop them.
	Daemon bool
	// Logger receives progress and fault logs. If nil, logs are discarded.
	Logger *slog.Logger
}

// withDefaults returns c with zero fields replaced by defaults.
func (c Config) withDefaults() Config {
	if c.Host == "" {
		c.Host = DefaultHost
	}
	if c.BasePort == 0 {
		c.BasePort = DefaultBasePort
	}
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	switch {
	case c.Replicas == 0:
		c.Replicas = DefaultReplicas
	case c.Replicas < 0:
		c.Replicas = 0
	}
	if c.NodeTimeout == 0 {
		c.NodeTimeout = DefaultNodeTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// nodeCount is the number of nodes of a defaulted config.
func (c Config) nodeCount() int { return c.Shards * (1 + c.Replicas) }

// validate checks a defaulted config.
func (c Config) validate() error {
	if c.Shards < 1 {
		return fmt.Errorf("%w: shards must be at least 1, got %d", ErrInvalidConfig, c.Shards)
	}
	if c.Shards > SlotCount {
		return fmt.Errorf("%w: shards must be at most %d, got %d", ErrInvalidConfig, SlotCount, c.Shards)
	}
	if c.BasePort < 1 {
		return fmt.Errorf("%w: base port must be between 1 and %d, got %d", ErrInvalidConfig, maxPort, c.BasePort)
	}
	last := c.BasePort + c.nodeCount() - 1
	if last+busPortOffset > maxPort {
		return fmt.Errorf("%w: ports %d-%d need cluster bus ports %d-%d, beyond %d; use a base port of at most %d",
			ErrInvalidConfig, c.BasePort, last, c.BasePort+busPortOffset, last+busPortOffset, maxPort,
			maxPort-busPortOffset-c.nodeCount()+1)
	}
	if c.NodeTimeout < 100*time.Millisecond {
		return fmt.Errorf("%w: node timeout must be at least 100ms, got %s", ErrInvalidConfig, c.NodeTimeout)
	}
	if ip := net.ParseIP(c.Host); ip == nil || ip.IsUnspecified() {
		return fmt.Errorf("%w: host must be the IP address the nodes bind to and announce (e.g. 127.0.0.1), got %q", ErrInvalidConfig, c.Host)
	}
	return nil
}

// Validate reports whether c (with defaults applied) describes a cluster that can be
// provisioned, without starting anything or touching the network.
func (c Config) Validate() error { return c.withDefaults().validate() }

// redisServerPath resolves the redis-server binary.
func (c Config) redisServerPath() (string, error) {
	name := c.RedisServer
	if name == "" {
		name = "redis-server"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrRedisServerNotFound, name, err)
	}
	return p, nil
}

// checkPorts reports the first node or bus port that cannot be bound.
func (c Config) checkPorts() error {
	for i := range c.nodeCount() {
		for _, p := range []int{c.BasePort + i, c.BasePort + i + busPortOffset} {
			if err := portFree(c.Host, p); err != nil {
				kind := fmt.Sprintf("port of node %d", i)
				if p != c.BasePort+i {
					kind = fmt.Sprintf("cluster bus port of node %d", i)
				}
				return fmt.Errorf("%w: %s %s:%d: %v", ErrPortInUse, kind, c.Host, p, err)
			}
		}
	}
	return nil
}

// portFree reports whether host:port can be bound now.
func portFree(host string, port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return ln.Close()
}

// CheckPorts reports ErrPortInUse for the first port of the cluster described by c
// (node ports and cluster bus ports) that is already taken.
func (c Config) CheckPorts() error {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return err
	}
	return c.checkPorts()
}
