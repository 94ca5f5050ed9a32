package checker

import (
	"strconv"
	"strings"

	"github.com/redis-chaos/redis-chaos/proxy"
)

// Command classes the rules need. The proxy's events carry only the command
// name (and subcommand), so the checker keeps its own small table.
type cmdFlag uint16

const (
	fWrite     cmdFlag = 1 << iota // may modify data
	fNonIdem                       // applying it twice differs from once
	fBlocking                      // may legitimately wait a long time for its reply
	fHandshake                     // sent while setting up a connection
	fProbe                         // a liveness probe
	fDangerous                     // administrative or destructive
	fContainer                     // the subcommand decides (CLUSTER, CONFIG, CLIENT …)
)

var cmdFlags = func() map[string]cmdFlag {
	t := map[string]cmdFlag{}
	set := func(f cmdFlag, names ...string) {
		for _, n := range names {
			t[n] |= f
		}
	}
	// Plain reads (no flag): listed so that they take the fast path.
	set(0, "GET", "MGET", "EXISTS", "TTL", "PTTL", "TYPE", "STRLEN", "GETRANGE", "HGET", "HMGET", "HGETALL", "HEXISTS",
		"HLEN", "HKEYS", "HVALS", "LRANGE", "LLEN", "LINDEX", "SMEMBERS", "SISMEMBER", "SCARD", "ZRANGE", "ZSCORE",
		"ZCARD", "ZRANK", "ZCOUNT", "ZRANGEBYSCORE", "XRANGE", "XLEN", "GETBIT", "BITCOUNT", "PFCOUNT", "DUMP")
	set(fWrite, "SET", "SETEX", "PSETEX", "SETNX", "MSET", "MSETNX", "GETSET", "GETDEL", "GETEX", "DEL", "UNLINK",
		"APPEND", "SETRANGE", "SETBIT", "BITOP", "BITFIELD", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "PERSIST",
		"RENAME", "RENAMENX", "MOVE", "COPY", "RESTORE", "HSET", "HSETNX", "HMSET", "HDEL", "HEXPIRE", "LSET", "LREM",
		"LTRIM", "SADD", "SREM", "SMOVE", "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE", "ZADD", "ZREM", "ZREMRANGEBYRANK",
		"ZREMRANGEBYSCORE", "ZREMRANGEBYLEX", "ZRANGESTORE", "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE", "PFADD",
		"PFMERGE", "GEOADD", "XDEL", "XTRIM", "XGROUP", "XACK", "XCLAIM", "XAUTOCLAIM", "XSETID", "FLUSHALL", "FLUSHDB",
		"SORT", "SWAPDB")
	nonIdem := []string{"INCR", "INCRBY", "INCRBYFLOAT", "DECR", "DECRBY", "HINCRBY", "HINCRBYFLOAT", "ZINCRBY",
		"LPUSH", "RPUSH", "LPUSHX", "RPUSHX", "LINSERT", "LPOP", "RPOP", "LMPOP", "LMOVE", "RPOPLPUSH", "SPOP",
		"ZPOPMIN", "ZPOPMAX", "ZMPOP", "XADD", "XREADGROUP", "APPEND", "PUBLISH", "SPUBLISH", "EVAL", "EVALSHA",
		"FCALL", "BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP"}
	set(fNonIdem|fWrite, nonIdem...)
	t["PUBLISH"] &^= fWrite
	t["SPUBLISH"] &^= fWrite
	set(fBlocking, "BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "XREAD",
		"XREADGROUP", "WAIT", "WAITAOF", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR")
	set(fHandshake, "HELLO", "AUTH", "PING", "SELECT", "READONLY", "READWRITE")
	set(fProbe, "PING", "ECHO", "INFO")
	set(fDangerous, "KEYS", "FLUSHALL", "FLUSHDB", "DEBUG", "SHUTDOWN", "MONITOR", "SWAPDB", "REPLICAOF", "SLAVEOF",
		"SAVE", "BGREWRITEAOF", "FAILOVER")
	set(fContainer, "CLIENT", "CLUSTER", "CONFIG", "SCRIPT", "FUNCTION")
	return t
}()

func flagsOf(ev *proxy.Event) cmdFlag {
	f := cmdFlags[ev.Command]
	if f&fContainer == 0 {
		return f
	}
	switch ev.Command {
	case "CLIENT":
		switch ev.Sub {
		case "SETNAME", "SETINFO":
			f |= fHandshake
		case "PAUSE", "KILL":
			f |= fDangerous
		}
	case "CLUSTER":
		switch ev.Sub {
		case "INFO", "MYID":
			f |= fProbe
		case "RESET", "FAILOVER", "FORGET", "SETSLOT", "ADDSLOTS", "ADDSLOTSRANGE", "DELSLOTS", "DELSLOTSRANGE",
			"FLUSHSLOTS", "MEET", "REPLICATE", "SAVECONFIG", "BUMPEPOCH", "SET-CONFIG-EPOCH":
			f |= fDangerous
		}
	case "CONFIG":
		switch ev.Sub {
		case "SET", "REWRITE", "RESETSTAT":
			f |= fDangerous
		}
	case "SCRIPT", "FUNCTION":
		if ev.Sub == "FLUSH" {
			f |= fDangerous
		}
	}
	return f
}

// topologyRead reports CLUSTER SLOTS, NODES and SHARDS.
func topologyRead(ev *proxy.Event) bool {
	if ev.Command != "CLUSTER" {
		return false
	}
	switch ev.Sub {
	case "SLOTS", "NODES", "SHARDS":
		return true
	}
	return false
}

// redirect parses "MOVED 3999 127.0.0.1:7002" and "ASK …".
func parseRedirect(errLine string) (ask bool, slot int, addr string, ok bool) {
	kind, rest, found := strings.Cut(errLine, " ")
	if !found || (kind != "MOVED" && kind != "ASK") {
		return false, 0, "", false
	}
	s, addr, found := strings.Cut(rest, " ")
	if !found {
		return false, 0, "", false
	}
	slot, err := strconv.Atoi(s)
	if err != nil || slot < 0 || slot > 16383 {
		return false, 0, "", false
	}
	return kind == "ASK", slot, addr, true
}

// errCode returns the first word of an error line ("CLUSTERDOWN").
func errCode(errLine string) string {
	if i := strings.IndexByte(errLine, ' '); i >= 0 {
		return errLine[:i]
	}
	return errLine
}

// waitError reports errors whose command did not run and that ask the client
// to wait before retrying.
func waitError(code string) bool {
	switch code {
	case "CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN":
		return true
	}
	return false
}
