package topology

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
)

// Endpoint is the address the proxy announces for one node: where clients
// reach the proxy's listener for it.
type Endpoint struct {
	Host string // an IP or a host name; "" leaves the host to the client (its seed's host)
	Port int
	TLS  bool // Port serves TLS: reported as tls-port where a reply has one
}

// Resolver maps a node address as the cluster sent it to its announced
// Endpoint. host is passed exactly as the cluster sent it: an IP, a host name,
// "?" or "" (a NULL endpoint in CLUSTER SLOTS is passed as ""; both mean "the
// host this connection is to", as for cluster-preferred-endpoint-type
// unknown-endpoint). It reports false for a node it does not know.
type Resolver func(host string, port int) (Endpoint, bool)

// ErrUnknownNode is matched (errors.Is) by every UnknownNodeError.
var ErrUnknownNode = errors.New("topology: unknown node")

// ErrBadReply is wrapped by errors about a reply that does not have the shape
// its command gives it: it cannot be rewritten, and must not be sent on as it
// is (it may hold a real address).
var ErrBadReply = errors.New("topology: reply cannot be rewritten")

// UnknownNodeError reports a node address in a reply that the Resolver does
// not know. The reply was not rewritten: sending it on would leak the address.
type UnknownNodeError struct {
	Host string
	Port int
}

func (e *UnknownNodeError) Error() string {
	return "topology: unknown node " + net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}

// Is makes errors.Is(err, ErrUnknownNode) true.
func (e *UnknownNodeError) Is(target error) bool { return target == ErrUnknownNode }

func badReply(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadReply}, a...)...)
}

// RewriteKind is how a command's reply must be rewritten before a client
// sees it: which node addresses it carries, and where.
type RewriteKind uint8

// Rewrite kinds: the commands whose replies carry node addresses.
const (
	KindNone            RewriteKind = iota // no address (MOVED/ASK errors aside)
	KindClusterSlots                       // CLUSTER SLOTS
	KindClusterShards                      // CLUSTER SHARDS
	KindClusterNodes                       // CLUSTER NODES
	KindClusterReplicas                    // CLUSTER REPLICAS, CLUSTER SLAVES
	KindRole                               // ROLE
	KindInfo                               // INFO (replication: master and replica addresses; server: tcp_port)
	KindExec                               // EXEC: MOVED/ASK errors among the results
	KindClientList                         // CLIENT LIST, CLIENT INFO: laddr= is the node's own address
)

var kindNames = [...]string{"none", "cluster-slots", "cluster-shards", "cluster-nodes", "cluster-replicas", "role", "info", "exec", "client-list"}

func (k RewriteKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// RewriteKindOf classifies a client command (its name and arguments). It is
// cheap for ordinary commands: a length and a first-letter check.
func RewriteKindOf(args [][]byte) RewriteKind {
	if len(args) == 0 {
		return KindNone
	}
	a := args[0]
	switch len(a) {
	case 4:
		switch a[0] | 0x20 {
		case 'e':
			if eqFold(a, "exec") {
				return KindExec
			}
		case 'i':
			if eqFold(a, "info") {
				return KindInfo
			}
		case 'r':
			if eqFold(a, "role") {
				return KindRole
			}
		}
	case 6:
		if a[0]|0x20 == 'c' && len(args) >= 2 && len(args[1]) == 4 && eqFold(a, "client") &&
			(eqFold(args[1], "list") || eqFold(args[1], "info")) {
			return KindClientList
		}
	case 7:
		if a[0]|0x20 != 'c' || len(args) < 2 || !eqFold(a, "cluster") {
			return KindNone
		}
		s := args[1]
		switch len(s) {
		case 5:
			if eqFold(s, "slots") {
				return KindClusterSlots
			}
			if eqFold(s, "nodes") {
				return KindClusterNodes
			}
		case 6:
			if eqFold(s, "shards") {
				return KindClusterShards
			}
			if eqFold(s, "slaves") {
				return KindClusterReplicas
			}
		case 8:
			if eqFold(s, "replicas") {
				return KindClusterReplicas
			}
		}
	}
	return KindNone
}

// eqFold reports whether b equals the lower-case ASCII word s, ignoring case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != s[i] {
			return false
		}
	}
	return true
}

// RewriteRedirect rewrites the address in a raw -MOVED or -ASK error reply
// ("-MOVED 3999 10.0.0.5:6381\r\n", or the same text as a RESP3 blob error
// '!') to the announced one. It returns (nil, false, nil) for any other reply.
// The host is passed to r as sent (an IP, a name, "?" or ""); an address r
// does not know gives an *UnknownNodeError.
func RewriteRedirect(reply []byte, r Resolver) ([]byte, bool, error) {
	if len(reply) < 8 {
		return nil, false, nil
	}
	switch reply[0] {
	case '-':
		if !isRedirect(reply[1:]) {
			return nil, false, nil
		}
		if reply[len(reply)-2] != '\r' || reply[len(reply)-1] != '\n' {
			return nil, false, badReply("error reply not terminated by CRLF")
		}
		text := reply[1 : len(reply)-2]
		out := make([]byte, 1, len(reply)+24)
		out[0] = '-'
		out, err := appendRedirect(out, text, r)
		if err != nil {
			return nil, false, err
		}
		return append(out, '\r', '\n'), true, nil
	case '!':
		v, n, err := resp.Parse(reply)
		if err != nil || n != len(reply) || v.Null || v.Attr != nil || !isRedirect(v.Str) {
			return nil, false, nil
		}
		text, err := appendRedirect(nil, v.Str, r)
		if err != nil {
			return nil, false, err
		}
		v.Str = text
		return v.Append(make([]byte, 0, len(text)+8)), true, nil
	}
	return nil, false, nil
}

func isRedirect(text []byte) bool {
	return bytes.HasPrefix(text, []byte("MOVED ")) || bytes.HasPrefix(text, []byte("ASK "))
}

// appendRedirect appends the text "MOVED <slot> <host>:<port>" (or ASK) with
// the announced address to dst. Like Redis, it writes an IPv6 host without
// brackets.
func appendRedirect(dst, text []byte, r Resolver) ([]byte, error) {
	sp := bytes.IndexByte(text, ' ')
	sp2 := bytes.IndexByte(text[sp+1:], ' ') + sp + 1
	if sp2 <= sp+1 {
		return nil, badReply("redirect %q: no slot", text)
	}
	slot, addr := text[sp+1:sp2], text[sp2+1:]
	if n, ok := atoi(slot); !ok || n >= NumSlots {
		return nil, badReply("redirect %q: bad slot", text)
	}
	if bytes.ContainsAny(addr, " \r\n") {
		return nil, badReply("redirect %q: bad address", text)
	}
	c := bytes.LastIndexByte(addr, ':')
	if c < 0 {
		return nil, badReply("redirect %q: no port", text)
	}
	port, ok := atoi(addr[c+1:])
	if !ok || port > 65535 {
		return nil, badReply("redirect %q: bad port", text)
	}
	host := string(addr[:c])
	ep, ok := r(host, port)
	if !ok {
		return nil, &UnknownNodeError{Host: host, Port: port}
	}
	dst = append(dst, text[:sp2+1]...)
	dst = append(dst, ep.Host...)
	dst = append(dst, ':')
	return strconv.AppendInt(dst, int64(ep.Port), 10), nil
}

// atoi parses a non-negative decimal number of at most 9 digits.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// Rewrite rewrites the node addresses in one complete raw reply to a command
// of the given kind, in RESP2 or RESP3 form, and returns the new reply (or
// reply itself when nothing changed). An error reply gets RewriteRedirect's
// treatment whatever the kind; a push ('>') and a null are returned as they
// are. An address the Resolver does not know gives an *UnknownNodeError, a
// reply of an unexpected shape an error wrapping ErrBadReply: the caller must
// then not send the reply on.
//
// How announced addresses are written (Endpoint.Host is an IP or a name):
//
//   - The address clients connect to (MOVED/ASK, the CLUSTER SLOTS endpoint,
//     CLUSTER SHARDS "endpoint", the ip in CLUSTER NODES lines, ROLE, INFO,
//     CLIENT LIST laddr)
//     is always Endpoint.Host and Endpoint.Port. go-redis, redis-py,
//     Jedis, node-redis, ioredis and redis-rs connect to the CLUSTER SLOTS
//     endpoint; Lettuce and StackExchange.Redis to the CLUSTER NODES
//     ip:port, which they parse as host:port and so accept a name there.
//     go-redis replaces a loopback endpoint with its seed's host
//     (replaceLoopbackHost): with announce host 127.0.0.1 a client that
//     reaches the proxy by another name keeps using that name.
//   - A hostname field says Endpoint.Host when it is a name and is dropped
//     when it is an IP (Redis only reports a hostname that is set).
//   - An ip field: CLUSTER SLOTS metadata "ip" is optional and is dropped
//     when the announced host is a name; the mandatory ones (CLUSTER SHARDS
//     "ip", the CLUSTER NODES address) say Endpoint.Host even when it is a
//     name: never the real IP, and a name works wherever clients dial it.
//   - Ports: the cluster bus port (@cport) becomes @0 (clients never dial
//     it). "port" says Endpoint.Port; "tls-port" is dropped (CLUSTER SHARDS)
//     or set to 0 (CLUSTER NODES aux field) unless Endpoint.TLS, in which case
//     Endpoint.Port is reported as the tls-port and "port" is dropped: the
//     proxy serves one protocol per listener, and a client must see only the
//     port that matches its own connection.
//   - Node ids, flags, slots, migration markers, health, role and offsets are
//     kept byte for byte.
func Rewrite(kind RewriteKind, reply []byte, r Resolver) ([]byte, error) {
	if len(reply) == 0 {
		return reply, nil
	}
	switch reply[0] {
	case '-', '!':
		out, ok, err := RewriteRedirect(reply, r)
		if err != nil {
			return nil, err
		}
		if !ok {
			return reply, nil
		}
		return out, nil
	case '>', '_':
		return reply, nil
	}
	switch kind {
	case KindNone:
		return reply, nil
	case KindExec:
		return RewriteExec(nil, reply, r)
	}
	v, n, err := resp.Parse(reply)
	if err != nil {
		return nil, badReply("%s: %v", kind, err)
	}
	if n != len(reply) {
		return nil, badReply("%s: %d bytes after the reply", kind, len(reply)-n)
	}
	if v.Null {
		return reply, nil
	}
	if err := rewriteValue(kind, &v, r); err != nil {
		return nil, err
	}
	return v.Append(make([]byte, 0, len(reply)+64)), nil
}

// RewriteExec rewrites the reply to EXEC: MOVED/ASK errors among the results,
// and, when kinds is given (kinds[i] is the RewriteKind of the i-th command queued
// in the transaction), the results of those commands. It walks the raw reply
// and copies it only when something changes.
func RewriteExec(kinds []RewriteKind, reply []byte, r Resolver) ([]byte, error) {
	if len(reply) == 0 || reply[0] != '*' {
		return Rewrite(KindNone, reply, r)
	}
	nl := bytes.Index(reply, []byte("\r\n"))
	if nl < 0 {
		return nil, badReply("exec: incomplete")
	}
	if bytes.Equal(reply[1:nl], []byte("-1")) {
		return reply, nil
	}
	n, ok := atoi(reply[1:nl])
	if !ok {
		return nil, badReply("exec: bad array length")
	}
	i := nl + 2
	var out []byte // nil until something changes
	for k := range n {
		l, err := resp.Len(reply[i:])
		if err != nil || l == 0 {
			return nil, badReply("exec: element %d: incomplete or invalid", k)
		}
		elem := reply[i : i+l]
		kind := KindNone
		if k < len(kinds) {
			kind = kinds[k]
		}
		rw := elem
		if kind != KindNone || elem[0] == '-' || elem[0] == '!' {
			if rw, err = Rewrite(kind, elem, r); err != nil {
				return nil, err
			}
		}
		if out == nil && !sameSlice(rw, elem) {
			out = append(make([]byte, 0, len(reply)+64), reply[:i]...)
		}
		if out != nil {
			out = append(out, rw...)
		}
		i += l
	}
	if i != len(reply) {
		return nil, badReply("exec: %d bytes after the reply", len(reply)-i)
	}
	if out == nil {
		return reply, nil
	}
	return out, nil
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func rewriteValue(kind RewriteKind, v *resp.Value, r Resolver) error {
	switch kind {
	case KindClusterSlots:
		return rewriteSlots(v, r)
	case KindClusterShards:
		return rewriteShards(v, r)
	case KindClusterNodes:
		return rewriteTextValue(v, r, rewriteNodesText)
	case KindClusterReplicas:
		if !isArray(v) {
			return badReply("cluster replicas: not an array")
		}
		for i := range v.Elems {
			if err := rewriteTextValue(&v.Elems[i], r, rewriteNodesText); err != nil {
				return err
			}
		}
		return nil
	case KindRole:
		return rewriteRole(v, r)
	case KindInfo:
		return rewriteTextValue(v, r, rewriteInfoText)
	case KindClientList:
		return rewriteTextValue(v, r, rewriteClientText)
	}
	return nil
}

func isArray(v *resp.Value) bool { return (v.Type == '*' || v.Type == '~') && !v.Null }

// pairs returns the key/value pairs of a map (RESP3) or of a flat array
// (RESP2).
func pairs(v *resp.Value) ([]resp.Value, bool) {
	if v.Null || (v.Type != '%' && v.Type != '*') || len(v.Elems)%2 != 0 {
		return nil, false
	}
	return v.Elems, true
}

func isKey(v *resp.Value, key string) bool { return v.IsString() && string(v.Str) == key }

func isIP(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// resolve resolves host:port, or alt:port (the node's ip from the same
// reply) when r does not know host. When host is unknown ("?", "" or NULL)
// alt is tried first: "the host of this connection" is right only when every
// node has its own port (in Kubernetes they all listen on 6379).
func resolve(r Resolver, host string, port int, alt string) (Endpoint, error) {
	first, second, two := host, alt, alt != "" && alt != host
	if two && (host == "" || host == "?") {
		first, second = alt, host
	}
	if ep, ok := r(first, port); ok {
		return ep, nil
	}
	if two {
		if ep, ok := r(second, port); ok {
			return ep, nil
		}
	}
	return Endpoint{}, &UnknownNodeError{Host: host, Port: port}
}
