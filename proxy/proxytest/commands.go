package proxytest

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/redcon"

	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// spec is what Redis's command table says of a command: its arity
// (negative: at least), its keys (first, last: -1 the last argument, -2
// the one before; step) and whether it writes.
type spec struct {
	arity             int
	first, last, step int
	write             bool
}

var commands = map[string]spec{
	"PING": {arity: -1}, "ECHO": {arity: 2}, "QUIT": {arity: -1}, "SELECT": {arity: 2},
	"GET": {2, 1, 1, 1, false}, "SET": {-3, 1, 1, 1, true}, "STRLEN": {2, 1, 1, 1, false},
	"DEL": {-2, 1, -1, 1, true}, "EXISTS": {-2, 1, -1, 1, false}, "INCR": {2, 1, 1, 1, true},
	"MGET": {-2, 1, -1, 1, false}, "LPUSH": {-3, 1, 1, 1, true}, "RPUSH": {-3, 1, 1, 1, true},
	"LPOP": {-2, 1, 1, 1, true}, "LLEN": {2, 1, 1, 1, false}, "LRANGE": {4, 1, 1, 1, false},
	"BLPOP": {-3, 1, -2, 1, true},
	"MULTI": {arity: 1}, "EXEC": {arity: 1}, "DISCARD": {arity: 1},
	"HELLO": {arity: -1}, "CLIENT": {arity: -2}, "ASKING": {arity: 1}, "READONLY": {arity: 1}, "READWRITE": {arity: 1},
	"CLUSTER": {arity: -2}, "ROLE": {arity: 1}, "INFO": {arity: -1}, "DEBUG": {arity: -2},
	"SUBSCRIBE": {arity: -2}, "UNSUBSCRIBE": {arity: -1}, "PUBLISH": {arity: 3},
}

// store is a master's data, shared with its replicas.
type store struct {
	mu      sync.Mutex
	strs    map[string]string
	lists   map[string][]string
	changed chan struct{} // closed (and replaced) when a list grows
}

func newStore() *store {
	return &store{strs: map[string]string{}, lists: map[string][]string{}, changed: make(chan struct{})}
}

// exec runs one command of c. It reports false when the connection must
// close once its replies are sent.
func (n *Node) exec(c *Conn, args []string) bool {
	n.record(c, args)
	name := strings.ToUpper(args[0])
	if h := n.handler(name); h != nil && h(c, args) {
		return !c.isClosed()
	}
	asking := c.asking
	c.asking = false
	switch {
	case c.inMulti && name != "EXEC" && name != "DISCARD" && name != "MULTI":
		if e := n.check(c, name, args, asking); e != "" {
			c.multiErr = true
			c.Write(e)
			return true
		}
		c.queued = append(c.queued, args)
		c.Write("+QUEUED\r\n")
		return true
	case name == "QUIT":
		c.Write("+OK\r\n")
		return false
	case name == "BLPOP":
		return n.blpop(c, args, asking)
	}
	c.write(n.run(c, name, args, asking))
	return true
}

// check returns the error a command gets before it runs, or "".
func (n *Node) check(c *Conn, name string, args []string, asking bool) string {
	sp, ok := commands[name]
	if !ok {
		var b strings.Builder
		for _, a := range args[1:] {
			b.WriteString("'" + a + "' ")
		}
		return fmt.Sprintf("-ERR unknown command '%s', with args beginning with: %s\r\n", args[0], b.String())
	}
	if (sp.arity > 0 && len(args) != sp.arity) || (sp.arity < 0 && len(args) < -sp.arity) {
		return "-ERR wrong number of arguments for '" + strings.ToLower(name) + "' command\r\n"
	}
	if c.subscribed() && !c.RESP3() {
		switch name {
		case "SUBSCRIBE", "UNSUBSCRIBE", "PING", "QUIT":
		default:
			return "-ERR Can't execute '" + strings.ToLower(name) + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
		}
	}
	if sp.first == 0 {
		return ""
	}
	keys := keysOf(sp, args)
	slot := topology.Slot([]byte(keys[0]))
	for _, k := range keys[1:] {
		if topology.Slot([]byte(k)) != slot {
			return "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
		}
	}
	exists := func() bool {
		n.data.mu.Lock()
		defer n.data.mu.Unlock()
		for _, k := range keys {
			_, s := n.data.strs[k]
			_, l := n.data.lists[k]
			if s || l {
				return true
			}
		}
		return false
	}
	return n.cluster.route(n, slot, exists, asking, c.readonly, sp.write)
}

func keysOf(sp spec, args []string) []string {
	last := sp.last
	if last < 0 {
		last += len(args)
	}
	var keys []string
	for i := sp.first; i <= last && i < len(args); i += sp.step {
		keys = append(keys, args[i])
	}
	return keys
}

// run runs a command that does not block and returns its reply.
func (n *Node) run(c *Conn, name string, args []string, asking bool) []byte {
	if e := n.check(c, name, args, asking); e != "" {
		return []byte(e)
	}
	resp3 := c.RESP3()
	d := n.data
	switch name {
	case "PING":
		if c.subscribed() && !resp3 {
			msg := ""
			if len(args) > 1 {
				msg = args[1]
			}
			return redcon.AppendBulkString(redcon.AppendBulkString(redcon.AppendArray(nil, 2), "pong"), msg)
		}
		if len(args) > 1 {
			return redcon.AppendBulkString(nil, args[1])
		}
		return []byte("+PONG\r\n")
	case "ECHO":
		return redcon.AppendBulkString(nil, args[1])
	case "SELECT":
		if args[1] == "0" {
			return []byte("+OK\r\n")
		}
		return []byte("-ERR SELECT is not allowed in cluster mode\r\n")
	case "GET", "STRLEN":
		d.mu.Lock()
		v, ok := d.strs[args[1]]
		_, isList := d.lists[args[1]]
		d.mu.Unlock()
		switch {
		case isList:
			return []byte(wrongType)
		case name == "STRLEN":
			return redcon.AppendInt(nil, int64(len(v)))
		case !ok:
			return null(resp3)
		}
		return redcon.AppendBulkString(nil, v)
	case "SET":
		d.mu.Lock()
		d.strs[args[1]] = args[2]
		delete(d.lists, args[1])
		d.mu.Unlock()
		return []byte("+OK\r\n")
	case "DEL", "EXISTS":
		d.mu.Lock()
		k := 0
		for _, key := range args[1:] {
			_, s := d.strs[key]
			_, l := d.lists[key]
			if s || l {
				k++
				if name == "DEL" {
					delete(d.strs, key)
					delete(d.lists, key)
				}
			}
		}
		d.mu.Unlock()
		return redcon.AppendInt(nil, int64(k))
	case "INCR":
		d.mu.Lock()
		defer d.mu.Unlock()
		v, err := strconv.ParseInt(d.strs[args[1]], 10, 64)
		if _, ok := d.strs[args[1]]; !ok {
			v, err = 0, nil
		}
		if err != nil {
			return []byte("-ERR value is not an integer or out of range\r\n")
		}
		d.strs[args[1]] = strconv.FormatInt(v+1, 10)
		return redcon.AppendInt(nil, v+1)
	case "MGET":
		out := redcon.AppendArray(nil, len(args)-1)
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, k := range args[1:] {
			if v, ok := d.strs[k]; ok {
				out = redcon.AppendBulkString(out, v)
			} else {
				out = append(out, null(resp3)...)
			}
		}
		return out
	case "LPUSH", "RPUSH":
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.strs[args[1]]; ok {
			return []byte(wrongType)
		}
		l := d.lists[args[1]]
		for _, v := range args[2:] {
			if name == "LPUSH" {
				l = append([]string{v}, l...)
			} else {
				l = append(l, v)
			}
		}
		d.lists[args[1]] = l
		close(d.changed)
		d.changed = make(chan struct{})
		return redcon.AppendInt(nil, int64(len(l)))
	case "LPOP":
		d.mu.Lock()
		defer d.mu.Unlock()
		v, ok := d.pop(args[1])
		if !ok {
			return null(resp3)
		}
		return redcon.AppendBulkString(nil, v)
	case "LLEN":
		d.mu.Lock()
		defer d.mu.Unlock()
		return redcon.AppendInt(nil, int64(len(d.lists[args[1]])))
	case "LRANGE":
		d.mu.Lock()
		l := append([]string(nil), d.lists[args[1]]...)
		d.mu.Unlock()
		from, _ := strconv.Atoi(args[2])
		to, _ := strconv.Atoi(args[3])
		if to < 0 {
			to += len(l)
		}
		to = min(to, len(l)-1)
		var out []byte
		if from > to {
			return redcon.AppendArray(nil, 0)
		}
		out = redcon.AppendArray(out, to-from+1)
		for _, v := range l[from : to+1] {
			out = redcon.AppendBulkString(out, v)
		}
		return out
	case "MULTI":
		if c.inMulti {
			return []byte("-ERR MULTI calls can not be nested\r\n")
		}
		c.inMulti, c.multiErr, c.queued = true, false, nil
		return []byte("+OK\r\n")
	case "EXEC":
		if !c.inMulti {
			return []byte("-ERR EXEC without MULTI\r\n")
		}
		c.inMulti = false
		if c.multiErr {
			return []byte("-EXECABORT Transaction discarded because of previous errors.\r\n")
		}
		out := redcon.AppendArray(nil, len(c.queued))
		for _, q := range c.queued {
			out = append(out, n.run(c, strings.ToUpper(q[0]), q, false)...)
		}
		c.queued = nil
		return out
	case "DISCARD":
		if !c.inMulti {
			return []byte("-ERR DISCARD without MULTI\r\n")
		}
		c.inMulti, c.queued = false, nil
		return []byte("+OK\r\n")
	case "ASKING":
		c.asking = true
		return []byte("+OK\r\n")
	case "READONLY", "READWRITE":
		c.readonly = name == "READONLY"
		return []byte("+OK\r\n")
	case "HELLO":
		return n.hello(c, args)
	case "CLIENT":
		return n.client(c, args)
	case "CLUSTER":
		return n.clusterCmd(c, args)
	case "ROLE":
		return n.role()
	case "INFO":
		return text(resp3, n.info())
	case "DEBUG":
		if strings.EqualFold(args[1], "SLEEP") && len(args) == 3 {
			secs, _ := strconv.ParseFloat(args[2], 64)
			time.Sleep(time.Duration(secs * float64(time.Second)))
			return []byte("+OK\r\n")
		}
		return []byte("-ERR unknown subcommand\r\n")
	case "SUBSCRIBE", "UNSUBSCRIBE":
		return n.cluster.subscribe(c, name == "SUBSCRIBE", args[1:])
	case "PUBLISH":
		return redcon.AppendInt(nil, int64(n.cluster.publish(args[1], args[2])))
	}
	return []byte("-ERR not implemented by proxytest\r\n")
}

const wrongType = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"

// pop takes the head of list key (under mu).
func (d *store) pop(key string) (string, bool) {
	l := d.lists[key]
	if len(l) == 0 {
		return "", false
	}
	if len(l) == 1 {
		delete(d.lists, key)
	} else {
		d.lists[key] = l[1:]
	}
	return l[0], true
}

// blpop runs BLPOP: the replies before it are sent, then it waits for one
// of its lists to get an element, its timeout, CLIENT UNBLOCK or the end of
// the connection.
func (n *Node) blpop(c *Conn, args []string, asking bool) bool {
	if e := n.check(c, "BLPOP", args, asking); e != "" {
		c.Write(e)
		return true
	}
	secs, err := strconv.ParseFloat(args[len(args)-1], 64)
	if err != nil || secs < 0 {
		c.Write("-ERR timeout is not a float or out of range\r\n")
		return true
	}
	keys := args[1 : len(args)-1]
	if c.Flush() != nil {
		return false
	}
	var timeout <-chan time.Time
	if secs > 0 {
		t := time.NewTimer(time.Duration(secs * float64(time.Second)))
		defer t.Stop()
		timeout = t.C
	}
	d := n.data
	c.blocked.Store(true)
	defer c.blocked.Store(false)
	for {
		d.mu.Lock()
		for _, k := range keys {
			if v, ok := d.pop(k); ok {
				d.mu.Unlock()
				out := redcon.AppendArray(nil, 2)
				out = redcon.AppendBulkString(out, k)
				c.write(redcon.AppendBulkString(out, v))
				return true
			}
		}
		changed := d.changed
		d.mu.Unlock()
		select {
		case <-changed:
			continue
		case <-timeout:
		case r := <-c.unblock:
			if r != "" {
				c.Write(r)
				return true
			}
		case <-c.done:
			return false
		}
		c.write(nullArray(c.RESP3()))
		return true
	}
}

func null(resp3 bool) []byte {
	if resp3 {
		return []byte("_\r\n")
	}
	return []byte("$-1\r\n")
}

func nullArray(resp3 bool) []byte {
	if resp3 {
		return []byte("_\r\n")
	}
	return []byte("*-1\r\n")
}

// text is a reply of text lines: a verbatim string in RESP3, as Redis
// sends INFO, CLUSTER NODES and CLIENT LIST.
func text(resp3 bool, s string) []byte {
	if !resp3 {
		return redcon.AppendBulkString(nil, s)
	}
	return []byte("=" + strconv.Itoa(len(s)+4) + "\r\ntxt:" + s + "\r\n")
}

func appendArray(b []byte, n int) []byte   { return redcon.AppendArray(b, n) }
func appendInt(b []byte, n int) []byte     { return redcon.AppendInt(b, int64(n)) }
func appendBulk(b []byte, s string) []byte { return redcon.AppendBulkString(b, s) }
