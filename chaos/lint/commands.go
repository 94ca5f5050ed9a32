package lint

import (
	"bytes"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Commands whose second execution is not a no-op: a retry after a timeout or
// a reset connection, when the first attempt did run, counts, pushes, pops or
// runs a script twice. Keys are client method names, lower-cased.
var nonIdempotent = map[string]string{
	"incr": "INCR", "incrby": "INCRBY", "incrbyfloat": "INCRBYFLOAT", "decr": "DECR", "decrby": "DECRBY",
	"hincrby": "HINCRBY", "hincrbyfloat": "HINCRBYFLOAT", "zincrby": "ZINCRBY",
	"lpush": "LPUSH", "rpush": "RPUSH", "lpushx": "LPUSHX", "rpushx": "RPUSHX", "linsert": "LINSERT",
	"lpop": "LPOP", "rpop": "RPOP", "blpop": "BLPOP", "brpop": "BRPOP", "rpoplpush": "RPOPLPUSH",
	"brpoplpush": "BRPOPLPUSH", "lmove": "LMOVE", "blmove": "BLMOVE", "spop": "SPOP",
	"zpopmin": "ZPOPMIN", "zpopmax": "ZPOPMAX", "bzpopmin": "BZPOPMIN", "bzpopmax": "BZPOPMAX",
	"xadd": "XADD", "eval": "EVAL", "evalsha": "EVALSHA", "fcall": "FCALL", "getdel": "GETDEL",
	// Spring Data Redis operations
	"increment": "INCRBY", "decrement": "DECRBY", "leftpush": "LPUSH", "rightpush": "RPUSH",
	"leftpushall": "LPUSH", "rightpushall": "RPUSH", "leftpop": "LPOP", "rightpop": "RPOP",
	"rightpopandleftpush": "RPOPLPUSH", "incrementandget": "INCRBY", "getandincrement": "INCRBY",
	"addandget": "INCRBY", "getandadd": "INCRBY", "decrementandget": "DECRBY",
}

var (
	cmdNames = func() string {
		var names []string
		for k := range nonIdempotent {
			names = append(names, k)
		}
		sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
		return strings.Join(names, "|")
	}()
	// a method call on a receiver: client.incr(, pipe.XAdd(ctx
	cmdCallRE = regexp.MustCompile(`([\w)\]]+)\s*\.\s*([A-Za-z]\w*)\s*\(`)
	// a command sent by name: .Do(ctx, "incr", …), .call("INCR", …), sendCommand(["XADD", …
	cmdByNameRE = regexp.MustCompile(`(?i)\.\s*(?:do|call|send_?command|execute_command|sendCommand|executeCommand)\s*\(\s*(?:\w+\s*,\s*)?\[?\s*["'](` + cmdNames + `)["']`)
	// Lua scripts: EVALSHA through a script object
	scriptRE = map[kind]*regexp.Regexp{
		kindGo:  regexp.MustCompile(`\bNewScript\s*\(`),
		kindJVM: regexp.MustCompile(`\b(?:Default)?RedisScript\b|scriptingCommands\s*\(|\bscriptLoad\s*\(`),
		kindJS:  regexp.MustCompile(`\.defineCommand\s*\(`),
		kindPy:  regexp.MustCompile(`\.register_script\s*\(`),
	}
	// receivers that are not Redis clients even in a file that mentions Redis
	notRedisReceiverRE = regexp.MustCompile(`(?i)^(?:counter|count|metrics?|stats|atomic\w*|sb|builder|stringbuilder|str|buf|buffer|list|queue|deque|stack|array|arr|ids|items|result|results|i|n|it|this\.count\w*|prometheus|gauge|histogram|meter|registry|wg|b|sw|writer)$`)
)

// commandsSent lists the non-idempotent commands the files send, by Redis
// command name, each with the first file and line where it appears.
func commandsSent(files []*file) map[string]string {
	out := map[string]string{}
	for _, f := range files {
		for cmd, at := range f.commands() {
			if _, ok := out[cmd]; !ok {
				out[cmd] = at
			}
		}
	}
	return out
}

// commands are the non-idempotent commands one file sends (computed once).
func (f *file) commands() map[string]string {
	if f.cmds != nil {
		return f.cmds
	}
	out := map[string]string{}
	f.cmds = out
	note := func(cmd string, f *file, off int) {
		if _, ok := out[cmd]; !ok {
			out[cmd] = f.disp + ":" + strconv.Itoa(f.src.lineAt(off))
		}
	}
	{
		if lc := bytes.ToLower(f.src.code); !bytes.Contains(lc, []byte("redis")) && !bytes.Contains(lc, []byte("lettuce")) {
			return out
		}
		for _, m := range f.src.find(cmdCallRE) {
			method := strings.ToLower(string(f.src.code[m[4]:m[5]]))
			if _, ok := nonIdempotent[method]; !ok {
				continue
			}
			recv := string(f.src.code[m[2]:m[3]])
			if notRedisReceiverRE.MatchString(recv) {
				continue
			}
			if (method == "increment" || method == "decrement") && !springOpsLine(f, m[0]) {
				continue // Micrometer counters and friends
			}
			if f.kind == kindGo && !goCommandCase(string(f.src.code[m[4]:m[5]])) {
				continue
			}
			note(nonIdempotent[method], f, m[0])
		}
		for _, m := range cmdByNameRE.FindAllSubmatchIndex(f.src.code, -1) {
			note(nonIdempotent[strings.ToLower(string(f.src.code[m[2]:m[3]]))], f, m[0])
		}
		if re := scriptRE[f.kind]; re != nil {
			if locs := f.src.find(re); len(locs) > 0 {
				note("EVALSHA", f, locs[0][0])
			}
		}
	}
	return out
}

// springOpsLine reports whether an increment/decrement call at off works on
// a Spring Data Redis operations object or a Redis atomic counter.
func springOpsLine(f *file, off int) bool {
	start := off
	for start > 0 && f.src.code[start-1] != '\n' {
		start--
	}
	end := lineEnd(f.src.code, off)
	l := string(f.src.code[start:end])
	return strings.Contains(l, "opsFor") || strings.Contains(l, "Ops") || strings.Contains(l, "Operations") ||
		strings.Contains(strings.ToLower(l), "redis") || strings.Contains(l, "valueOps") || strings.Contains(l, "template")
}

// goCommandCase: go-redis methods are exported (Incr, XAdd, EvalSha).
func goCommandCase(name string) bool { return name != "" && name[0] >= 'A' && name[0] <= 'Z' }

// commandList formats commands for a message: "INCR, LPUSH and EVAL".
func commandList(cmds map[string]string) string {
	var names []string
	for c := range cmds {
		names = append(names, c)
	}
	sort.Strings(names)
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	if len(names) > 6 {
		names = append(names[:6], "…")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// firstUse is where the first command of the list is sent, for a message.
func firstUse(cmds map[string]string) string {
	var names []string
	for c := range cmds {
		names = append(names, c)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return cmds[names[0]]
}
