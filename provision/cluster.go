package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// File names inside Config.Dir and the node directories.
const (
	// StateFile is the JSON state of a cluster, in Config.Dir.
	StateFile = "cluster.json"
	// MarkerFile marks a node directory as provisioned by this package.
	MarkerFile = "redis-chaos-node.json"
	confFile   = "redis.conf"
	logFile    = "redis.log"
)

// stopGrace is how long Stop and StopNode wait for SHUTDOWN before SIGKILL.
const stopGrace = 5 * time.Second

// Node is a node as provisioned. Role and Shard do not change with failovers;
// NodeStatus has the live role.
type Node struct {
	Index int    `json:"index"`
	Shard int    `json:"shard"`
	Role  Role   `json:"role"`
	Addr  string `json:"addr"` // host:port
	ID    string `json:"id"`   // cluster node id (CLUSTER MYID)
	PID   int    `json:"pid"`  // 0 when not running
	Dir   string `json:"dir"`
}

// node is a Node with its process and control connection.
type node struct {
	Node
	proc   *proc
	client *redis.Client
}

func (n *node) confPath() string { return filepath.Join(n.Dir, confFile) }
func (n *node) logPath() string  { return filepath.Join(n.Dir, logFile) }

// Cluster is a provisioned Redis Cluster: the nodes it started (or attached to with
// Open) and the real fault actions on them. Its methods are safe for concurrent use.
// Let one Cluster value act on a cluster at a time: fault state (paused nodes, MISCONF
// settings, migrations, PIDs) is kept in it and mirrored to the state file, which
// Open reads; a node restarted through another value is not seen by this one.
type Cluster struct {
	cfg         Config // defaulted; Dir is absolute
	redisServer string
	daemon      bool
	temp        bool // Dir was created by Start; Stop removes it
	token       string
	log         *slog.Logger

	wg     sync.WaitGroup // reap goroutines
	saveMu sync.Mutex     // serialises writes of the state file

	mu         sync.Mutex
	nodes      []*node
	stopped    bool
	misconf    map[int]misconfSaved // by node index
	migrations map[int]Migration    // by slot
	partition  *Partition           // the partition this value made, while in place
	foreign    *partitionRecord     // a partition the state file records, made by another process
	busMoved   bool                 // the cluster bus went through relays once: nodes.conf may hold their ports
}

// state is the JSON of StateFile.
type state struct {
	Version     int                  `json:"version"`
	Token       string               `json:"token"`
	Host        string               `json:"host"`
	BasePort    int                  `json:"base_port"`
	Shards      int                  `json:"shards"`
	Replicas    int                  `json:"replicas"`
	NodeTimeout string               `json:"node_timeout"`
	RedisServer string               `json:"redis_server"`
	Daemon      bool                 `json:"daemon"`
	Temp        bool                 `json:"temp"`
	Username    string               `json:"username,omitempty"`
	Nodes       []Node               `json:"nodes"`
	Misconf     map[int]misconfSaved `json:"misconf,omitempty"`
	Migrations  []Migration          `json:"migrations,omitempty"`
	Partition   *partitionRecord     `json:"partition,omitempty"`
	BusMoved    bool                 `json:"bus_moved,omitempty"`
}

// marker is the JSON of MarkerFile.
type marker struct {
	Token      string `json:"token"`
	ClusterDir string `json:"cluster_dir"`
	Index      int    `json:"index"`
	ID         string `json:"id"`
}

// Start provisions a cluster: it checks the config and every port, writes one
// directory and redis.conf per node, starts the redis-server processes, forms the
// cluster with the deterministic layout described in the package documentation, and
// returns once every node agrees that the cluster is healthy. On failure it stops
// whatever it started. ctx bounds the start-up only, not the life of the nodes.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	server, err := cfg.redisServerPath()
	if err != nil {
		return nil, err
	}
	if err := cfg.checkPorts(); err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:         cfg,
		redisServer: server,
		daemon:      cfg.Daemon,
		token:       randomToken(),
		log:         cfg.Logger,
		misconf:     map[int]misconfSaved{},
		migrations:  map[int]Migration{},
	}
	if err := c.prepareDir(); err != nil {
		return nil, err
	}
	begin := time.Now()
	if err := c.start(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), 2*stopGrace)
		defer cancel()
		if serr := c.Stop(stopCtx); serr != nil {
			c.log.Warn("stop after failed start", "err", serr)
		}
		if !c.temp {
			if rerr := c.Remove(); rerr != nil {
				c.log.Warn("remove after failed start", "err", rerr)
			}
		}
		return nil, err
	}
	c.log.Info("cluster ready", "nodes", len(c.nodes), "seed", c.Seed(), "dir", c.cfg.Dir, "took", time.Since(begin).Round(time.Millisecond))
	return c, nil
}

// prepareDir creates or cleans Config.Dir and the node directories.
func (c *Cluster) prepareDir() error {
	if c.cfg.Dir == "" {
		d, err := os.MkdirTemp("", "redis-chaos-*")
		if err != nil {
			return fmt.Errorf("provision: create temp dir: %w", err)
		}
		c.cfg.Dir, c.temp = d, true
	} else {
		abs, err := filepath.Abs(c.cfg.Dir)
		if err != nil {
			return fmt.Errorf("provision: dir %s: %w", c.cfg.Dir, err)
		}
		c.cfg.Dir = abs
		if old, err := readState(abs); err == nil {
			for _, n := range old.Nodes {
				if pidAlive(n.PID, n.Dir) {
					return fmt.Errorf("%w: node %d (pid %d) of the cluster in %s; stop it first (redis-chaos cluster down --dir %s)",
						ErrRunning, n.Index, n.PID, abs, abs)
				}
			}
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return fmt.Errorf("provision: create dir: %w", err)
		}
	}
	if d, err := filepath.EvalSymlinks(c.cfg.Dir); err == nil {
		c.cfg.Dir = d
	}
	n := c.cfg.nodeCount()
	c.nodes = make([]*node, n)
	for i := range n {
		shard, role, _ := layoutNode(i, c.cfg.Shards, c.cfg.Replicas)
		nd := &node{Node: Node{
			Index: i,
			Shard: shard,
			Role:  role,
			Addr:  net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.BasePort+i)),
			Dir:   filepath.Join(c.cfg.Dir, fmt.Sprintf("node-%d", i)),
		}}
		if err := os.RemoveAll(nd.Dir); err != nil {
			return fmt.Errorf("provision: clean %s: %w", nd.Dir, err)
		}
		if err := os.MkdirAll(nd.Dir, 0o755); err != nil {
			return fmt.Errorf("provision: create %s: %w", nd.Dir, err)
		}
		if err := os.WriteFile(nd.confPath(), []byte(c.redisConf(nd)), 0o600); err != nil {
			return fmt.Errorf("provision: write %s: %w", nd.confPath(), err)
		}
		c.nodes[i] = nd
	}
	return nil
}

// redisConf renders a node's redis.conf.
func (c *Cluster) redisConf(n *node) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Written by redis-chaos (provision). Node %d, shard %d, %s.", n.Index, n.Shard, n.Role)
	w("bind %s", c.cfg.Host)
	w("port %d", c.cfg.BasePort+n.Index)
	w("protected-mode no")
	w("daemonize no")
	w("dir %s", quoteConf(n.Dir))
	w("logfile %s", quoteConf(n.logPath()))
	w("cluster-enabled yes")
	w("cluster-config-file nodes.conf")
	w("cluster-node-timeout %d", c.cfg.NodeTimeout.Milliseconds())
	// A deterministic layout: replicas stay with the shard they were given.
	w("cluster-allow-replica-migration no")
	w("appendonly no")
	w(`save ""`)
	w("repl-diskless-sync yes")
	w("repl-diskless-sync-delay 0")
	if c.cfg.Password != "" {
		w("masterauth %s", quoteConf(c.cfg.Password))
		if c.cfg.Username != "" {
			w("masteruser %s", quoteConf(c.cfg.Username))
		}
	}
	for _, l := range c.cfg.ExtraConfig {
		w("%s", l)
	}
	return b.String()
}

// quoteConf quotes a redis.conf argument.
func quoteConf(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// start runs the processes and forms the cluster.
func (c *Cluster) start(ctx context.Context) error {
	for _, n := range c.nodes {
		p, err := c.spawn(n)
		if err != nil {
			return err
		}
		c.mu.Lock()
		n.proc, n.PID = p, p.pid
		c.mu.Unlock()
	}
	// Record the PIDs at once, so a crashed start can still be cleaned up.
	if err := c.saveState(); err != nil {
		return err
	}
	if err := c.form(ctx); err != nil {
		return err
	}
	if err := c.writeMarkers(); err != nil {
		return err
	}
	return c.saveState()
}

// Open attaches to the cluster recorded in dir by a Start with Config.Dir = dir
// (usually a daemonised one, from another process). The returned Cluster can stop
// the nodes, report their status and run fault actions.
func Open(dir string) (*Cluster, error) { return OpenConfig(Config{Dir: dir}) }

// OpenConfig is Open with the credentials (Username, Password) and Logger of cfg;
// cfg.Dir names the directory. Other fields come from the state file.
func OpenConfig(cfg Config) (*Cluster, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: Open needs a directory", ErrInvalidConfig)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("provision: dir %s: %w", cfg.Dir, err)
	}
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	nt, err := time.ParseDuration(st.NodeTimeout)
	if err != nil {
		nt = DefaultNodeTimeout
	}
	full := Config{
		Host:        st.Host,
		BasePort:    st.BasePort,
		Shards:      st.Shards,
		Replicas:    st.Replicas,
		NodeTimeout: nt,
		RedisServer: st.RedisServer,
		Dir:         dir,
		Username:    cfg.Username,
		Password:    cfg.Password,
		Daemon:      st.Daemon,
		Logger:      cfg.Logger,
	}
	if full.Replicas == 0 {
		full.Replicas = -1
	}
	full = full.withDefaults()
	c := &Cluster{
		cfg:         full,
		redisServer: st.RedisServer,
		daemon:      st.Daemon,
		temp:        st.Temp,
		token:       st.Token,
		log:         full.Logger,
		misconf:     st.Misconf,
		migrations:  map[int]Migration{},
		foreign:     st.Partition,
		busMoved:    st.BusMoved,
	}
	if c.misconf == nil {
		c.misconf = map[int]misconfSaved{}
	}
	for _, m := range st.Migrations {
		c.migrations[m.Slot] = m
	}
	for _, sn := range st.Nodes {
		n := &node{Node: sn}
		if pidAlive(sn.PID, sn.Dir) {
			n.proc = &proc{pid: sn.PID, dir: sn.Dir}
		} else {
			n.PID = 0
		}
		c.nodes = append(c.nodes, n)
	}
	if len(c.nodes) != full.nodeCount() {
		return nil, fmt.Errorf("provision: state file in %s lists %d nodes, want %d", dir, len(c.nodes), full.nodeCount())
	}
	return c, nil
}

func readState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoState, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("provision: read state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("provision: parse %s: %w", filepath.Join(dir, StateFile), err)
	}
	return &st, nil
}

// saveState writes the state file atomically.
func (c *Cluster) saveState() error {
	c.saveMu.Lock() // held across snapshot and write: the last write is the newest state
	defer c.saveMu.Unlock()
	c.mu.Lock()
	st := state{
		Version:     1,
		Token:       c.token,
		Host:        c.cfg.Host,
		BasePort:    c.cfg.BasePort,
		Shards:      c.cfg.Shards,
		Replicas:    c.cfg.Replicas,
		NodeTimeout: c.cfg.NodeTimeout.String(),
		RedisServer: c.redisServer,
		Daemon:      c.daemon,
		Temp:        c.temp,
		Username:    c.cfg.Username,
		Misconf:     c.misconf,
		Partition:   c.foreign,
		BusMoved:    c.busMoved,
	}
	if c.partition != nil && c.partition.rec != nil {
		st.Partition = c.partition.record()
	}
	for _, n := range c.nodes {
		st.Nodes = append(st.Nodes, n.Node)
	}
	for _, m := range c.migrations {
		st.Migrations = append(st.Migrations, m)
	}
	c.mu.Unlock()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("provision: encode state: %w", err)
	}
	return writeFileAtomic(filepath.Join(c.cfg.Dir, StateFile), b)
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("provision: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("provision: write %s: %w", path, err)
	}
	return nil
}

// writeMarkers writes MarkerFile into every node directory.
func (c *Cluster) writeMarkers() error {
	for _, n := range c.snapshot() {
		b, err := json.MarshalIndent(marker{Token: c.token, ClusterDir: c.cfg.Dir, Index: n.Index, ID: n.ID}, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(n.Dir, MarkerFile), b); err != nil {
			return err
		}
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Dir is the cluster's directory (state file and one directory per node).
func (c *Cluster) Dir() string { return c.cfg.Dir }

// NodeTimeout is the cluster-node-timeout the nodes were given.
func (c *Cluster) NodeTimeout() time.Duration { return c.cfg.NodeTimeout }

// Nodes returns the nodes as provisioned, by index.
func (c *Cluster) Nodes() []Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Node
	}
	return out
}

func (c *Cluster) snapshot() []Node { return c.Nodes() }

// Addrs returns every node's address, by index.
func (c *Cluster) Addrs() []string {
	nodes := c.Nodes()
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Addr
	}
	return out
}

// Seed returns the address of node 0, a good seed for cluster clients.
func (c *Cluster) Seed() string { return c.Addrs()[0] }

// Index resolves a node reference: a node address ("127.0.0.1:21002"), a node ID, or
// a decimal index. Anything that is not a node of this cluster gets ErrNotProvisioned.
func (c *Cluster) Index(ref string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if ref == n.Addr || (n.ID != "" && ref == n.ID) {
			return n.Index, nil
		}
	}
	if i, err := strconv.Atoi(ref); err == nil && i >= 0 && i < len(c.nodes) {
		return i, nil
	}
	return -1, fmt.Errorf("%w: %q is not a node of the cluster in %s", ErrNotProvisioned, ref, c.cfg.Dir)
}

// node returns node i.
func (c *Cluster) node(i int) (*node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, ErrStopped
	}
	if i < 0 || i >= len(c.nodes) {
		return nil, fmt.Errorf("%w: %d (the cluster has nodes 0-%d)", ErrNodeIndex, i, len(c.nodes)-1)
	}
	return c.nodes[i], nil
}

// client returns the control connection pool of n.
func (c *Cluster) client(n *node) *redis.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.client == nil {
		n.client = c.newClient(n.Addr)
	}
	return n.client
}

func (c *Cluster) newClient(addr string) *redis.Client {
	return newClient(addr, c.cfg.Username, c.cfg.Password)
}

// newClient returns a control client: RESP2, no retries, short timeouts that
// follow the context's deadline.
func newClient(addr, username, password string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:                  addr,
		Username:              username,
		Password:              password,
		Protocol:              2,
		DisableIdentity:       true,
		DialTimeout:           time.Second,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          time.Second,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		PoolSize:              4,
	})
}

// proc returns n's process, or nil if it is not running.
func (c *Cluster) procOf(n *node) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.proc
}

// Stop stops every node: SHUTDOWN NOSAVE, then SIGKILL of the node's process group
// when it has not exited after a grace period (or when ctx ends). It removes Dir when
// Start created it. Stop is idempotent; after it, fault actions return ErrStopped.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	nodes := append([]*node(nil), c.nodes...)
	c.mu.Unlock()

	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.stopProc(ctx, n)
		}()
	}
	wg.Wait()
	c.wg.Wait()
	c.mu.Lock()
	p := c.partition
	c.partition, c.foreign = nil, nil // no node left to partition
	c.mu.Unlock()
	if p != nil && p.relays != nil {
		p.release()
	}
	c.mu.Lock()
	for _, n := range nodes {
		if n.client != nil {
			_ = n.client.Close()
			n.client = nil
		}
	}
	c.mu.Unlock()
	err := errors.Join(errs...)
	if c.temp {
		if rerr := os.RemoveAll(c.cfg.Dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("provision: remove %s: %w", c.cfg.Dir, rerr))
		}
	} else if _, serr := os.Stat(filepath.Join(c.cfg.Dir, StateFile)); serr == nil {
		if serr := c.saveState(); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	c.log.Info("cluster stopped", "dir", c.cfg.Dir)
	return err
}

// stopProc stops one node's process gracefully, then by force.
func (c *Cluster) stopProc(ctx context.Context, n *node) error {
	p := c.procOf(n)
	if p == nil || p.exited() {
		c.clearProc(n, p)
		return nil
	}
	_ = p.signal(syscall.SIGCONT) // a paused node cannot shut down
	graceCtx, cancel := context.WithTimeout(ctx, stopGrace)
	defer cancel()
	cl := c.newClient(n.Addr)
	shutCtx, cancelShut := context.WithTimeout(graceCtx, time.Second)
	_ = cl.Do(shutCtx, "SHUTDOWN", "NOSAVE").Err() // the reply is the closed connection
	cancelShut()
	_ = cl.Close()
	if err := p.wait(graceCtx); err != nil {
		c.log.Warn("node did not shut down, killing it", "node", n.Index, "pid", p.pid)
		_ = p.signal(syscall.SIGKILL)
		killCtx, cancelKill := context.WithTimeout(context.Background(), stopGrace)
		defer cancelKill()
		if err := p.wait(killCtx); err != nil {
			return fmt.Errorf("provision: node %d (pid %d) did not exit after SIGKILL", n.Index, p.pid)
		}
	}
	c.clearProc(n, p)
	return nil
}

// clearProc records that n's process p has ended.
func (c *Cluster) clearProc(n *node, p *proc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.proc == p {
		n.proc, n.PID = nil, 0
	}
}

// Close releases the Cluster's connections without stopping the nodes (for a
// daemonised cluster, or one attached with Open). A partition this value made
// is healed first: its relays carry the cluster bus and close with it.
func (c *Cluster) Close() error {
	var err error
	c.mu.Lock()
	p := c.partition
	c.mu.Unlock()
	if p != nil && p.relays != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*c.actionTimeout())
		_, err = p.Heal(ctx)
		cancel()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.client != nil {
			err = errors.Join(err, n.client.Close())
			n.client = nil
		}
	}
	return err
}

// Remove deletes what the cluster wrote into Dir: the node directories and the
// state file, then Dir itself if it is empty. It refuses while a node runs.
func (c *Cluster) Remove() error {
	c.mu.Lock()
	nodes := append([]*node(nil), c.nodes...)
	c.mu.Unlock()
	for _, n := range nodes {
		if p := c.procOf(n); p != nil && !p.exited() {
			return fmt.Errorf("%w: node %d (pid %d); stop the cluster first", ErrRunning, n.Index, p.pid)
		}
	}
	var err error
	for _, n := range nodes {
		err = errors.Join(err, os.RemoveAll(n.Dir))
	}
	err = errors.Join(err, os.Remove(filepath.Join(c.cfg.Dir, StateFile)))
	_ = os.Remove(c.cfg.Dir) // only if empty
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("provision: remove: %w", err)
	}
	return nil
}
