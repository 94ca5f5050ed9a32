package proxy

import (
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// CommandInfo describes a command as the cluster's COMMAND reply does.
type CommandInfo struct {
	Name      string // upper case
	Write     bool   // may modify data ("write" flag)
	ReadOnly  bool   // "readonly" flag
	Admin     bool   // "admin" flag or @dangerous category
	Blocking  bool   // @blocking category
	PubSub    bool   // "pubsub" flag
	OkLoading bool   // "loading" flag: allowed while the dataset loads
	OkStale   bool   // "stale" flag: allowed on a replica with a broken master link
	AllowBusy bool   // "allow_busy" flag: allowed while a script runs
	FirstKey  int    // position of the first key; 0 for keyless commands
	LastKey   int
	Step      int
	Keyless   bool
}

// commandTable maps upper-case names to their info. It is built once from the
// cluster's COMMAND reply and never modified afterwards.
type commandTable map[string]*CommandInfo

func newCommandTable(infos map[string]*redis.CommandInfo) commandTable {
	t := make(commandTable, len(infos)+len(builtinCommands))
	for name, ci := range builtinCommands {
		t[name] = ci
	}
	for _, in := range infos {
		ci := &CommandInfo{
			Name:     strings.ToUpper(in.Name),
			ReadOnly: in.ReadOnly,
			FirstKey: int(in.FirstKeyPos),
			LastKey:  int(in.LastKeyPos),
			Step:     int(in.StepCount),
		}
		for _, f := range in.Flags {
			switch f {
			case "write":
				ci.Write = true
			case "readonly":
				ci.ReadOnly = true
			case "admin":
				ci.Admin = true
			case "pubsub":
				ci.PubSub = true
			case "loading":
				ci.OkLoading = true
			case "stale":
				ci.OkStale = true
			case "allow_busy":
				ci.AllowBusy = true
			}
		}
		for _, c := range in.ACLFlags {
			switch c {
			case "@blocking":
				ci.Blocking = true
			case "@dangerous":
				ci.Admin = true
			}
		}
		ci.Keyless = ci.FirstKey <= 0
		t[ci.Name] = ci
	}
	return t
}

// builtinCommands is used until (or when) COMMAND cannot be read from the cluster.
var builtinCommands = func() commandTable {
	t := commandTable{}
	add := func(kind string, names ...string) {
		for _, n := range names {
			ci := &CommandInfo{Name: n, FirstKey: 1, LastKey: 1, Step: 1}
			switch kind {
			case "read":
				ci.ReadOnly = true
			case "write":
				ci.Write = true
			case "keyless":
				ci.FirstKey, ci.LastKey, ci.Step, ci.Keyless = 0, 0, 0, true
				ci.OkLoading, ci.OkStale = true, true
			case "blocking":
				ci.Blocking, ci.Write = true, true
			}
			t[n] = ci
		}
	}
	add("read", "GET", "MGET", "EXISTS", "TTL", "PTTL", "TYPE", "STRLEN", "HGET", "HGETALL", "HMGET",
		"LRANGE", "LLEN", "SMEMBERS", "SISMEMBER", "SCARD", "ZRANGE", "ZSCORE", "ZCARD", "GETRANGE", "XRANGE", "XLEN")
	add("write", "SET", "SETEX", "PSETEX", "SETNX", "MSET", "DEL", "UNLINK", "INCR", "INCRBY", "DECR", "DECRBY",
		"APPEND", "EXPIRE", "PEXPIRE", "HSET", "HDEL", "HINCRBY", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD",
		"SREM", "ZADD", "ZREM", "ZINCRBY", "XADD", "GETSET", "GETDEL")
	add("blocking", "BLPOP", "BRPOP", "BLMOVE", "BZPOPMIN", "BZPOPMAX")
	add("keyless", "PING", "ECHO", "INFO", "CLUSTER", "CLIENT", "HELLO", "AUTH", "SELECT", "QUIT", "COMMAND",
		"CONFIG", "DBSIZE", "TIME", "ROLE", "READONLY", "READWRITE", "MULTI", "EXEC", "DISCARD", "UNWATCH",
		"SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "PUBLISH", "KEYS", "SCAN", "FLUSHALL",
		"FLUSHDB", "RESET", "MONITOR", "ASKING", "WAIT", "SCRIPT", "FUNCTION", "MEMORY", "LATENCY", "SLOWLOG",
		"SYNC", "PSYNC", "REPLCONF")
	for _, n := range []string{"SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "PUBLISH"} {
		t[n].PubSub = true
	}
	for _, n := range []string{"KEYS", "FLUSHALL", "FLUSHDB", "CONFIG", "MONITOR"} {
		t[n].Admin = true
	}
	t["SSUBSCRIBE"] = &CommandInfo{Name: "SSUBSCRIBE", PubSub: true, FirstKey: 1, LastKey: -1, Step: 1}
	t["SUNSUBSCRIBE"] = &CommandInfo{Name: "SUNSUBSCRIBE", PubSub: true, FirstKey: 1, LastKey: -1, Step: 1}
	t["SPUBLISH"] = &CommandInfo{Name: "SPUBLISH", PubSub: true, FirstKey: 1, LastKey: 1, Step: 1}
	t["MGET"].LastKey = -1
	t["DEL"].LastKey = -1
	t["EXISTS"].LastKey = -1
	t["MSET"].LastKey, t["MSET"].Step = -1, 2
	t["BLPOP"].LastKey, t["BRPOP"].LastKey = -2, -2
	t["EVAL"] = &CommandInfo{Name: "EVAL", Write: true}       // keys follow numkeys
	t["EVALSHA"] = &CommandInfo{Name: "EVALSHA", Write: true} // keys follow numkeys
	return t
}()

// lookup finds a command by its name in any case without allocating.
func (t *commandTable) lookup(name []byte) *CommandInfo {
	var buf [24]byte
	if len(name) > len(buf) {
		return nil
	}
	for i, c := range name {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	return (*t)[string(buf[:len(name)])]
}

// firstKey returns the first key of a command, or nil.
func firstKey(ci *CommandInfo, args [][]byte) []byte {
	if ci == nil {
		return nil
	}
	switch ci.Name {
	case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
		// EVAL script numkeys key…: the key follows numkeys when numkeys > 0.
		if len(args) > 3 && string(args[2]) != "0" {
			return args[3]
		}
		return nil
	}
	if ci.FirstKey <= 0 || ci.FirstKey >= len(args) {
		return nil
	}
	return args[ci.FirstKey]
}

// slotOf returns the slot of a command's first key, or -1.
func slotOf(ci *CommandInfo, args [][]byte) int {
	if k := firstKey(ci, args); k != nil {
		return topology.Slot(k)
	}
	return -1
}
