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

// Kind classifies a command by what its reply tells a client about nodes.
type Kind uint8

// Kinds of commands whose replies carry node addresses.
const (
	KindNone            Kind = iota // no address (MOVED/ASK errors aside)
	KindClusterSlots                // CLUSTER SLOTS
	KindClusterShards               // CLUSTER SHARDS
	KindClusterNodes                // CLUSTER NODES
	KindClusterReplicas             // CLUSTER REPLICAS, CLUSTER SLAVES
	KindRole                        // ROLE
	KindInfo                        // INFO (replication: master and replica addresses; server: tcp_port)
	KindExec                        // EXEC: MOVED/ASK errors among the results
	KindClientList                  // CLIENT LIST, CLIENT INFO: laddr= is the node's own address
)

var kindNames = [...]string{"none", "cluster-slots", "cluster-shards", "cluster-nodes", "cluster-replicas", "role", "info", "exec", "client-list"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// CommandKind classifies a client command (its name and arguments). It is
// cheap for ordinary commands: a length and a first-letter check.
func CommandKind(args [][]byte) Kind {
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
func Rewrite(kind Kind, reply []byte, r Resolver) ([]byte, error) {
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
// and, when kinds is given (kinds[i] is the Kind of the i-th command queued
// in the transaction), the results of those commands. It walks the raw reply
// and copies it only when something changes.
func RewriteExec(kinds []Kind, reply []byte, r Resolver) ([]byte, error) {
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

func rewriteValue(kind Kind, v *resp.Value, r Resolver) error {
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

// rewriteSlots rewrites CLUSTER SLOTS: [[from, to, node, node...], ...] with
// node = [endpoint, port, id?, metadata?]. The endpoint is resolved as sent
// (NULL as ""), and by the metadata ip if there is one (see resolve).
func rewriteSlots(v *resp.Value, r Resolver) error {
	if !isArray(v) {
		return badReply("cluster slots: not an array")
	}
	for i := range v.Elems {
		rng := &v.Elems[i]
		if !isArray(rng) || len(rng.Elems) < 3 {
			return badReply("cluster slots: range %d is not [from, to, nodes...]", i)
		}
		for j := 2; j < len(rng.Elems); j++ {
			if err := rewriteSlotsNode(&rng.Elems[j], r); err != nil {
				return err
			}
		}
	}
	return nil
}

func rewriteSlotsNode(n *resp.Value, r Resolver) error {
	if !isArray(n) || len(n.Elems) < 2 {
		return badReply("cluster slots: node is not [endpoint, port, ...]")
	}
	e, p := &n.Elems[0], &n.Elems[1]
	if !(e.IsString() || (e.Null && (e.Type == '$' || e.Type == '_'))) || p.Type != ':' {
		return badReply("cluster slots: node is not [endpoint, port, ...]")
	}
	host := string(e.Str)
	var meta []resp.Value
	alt := ""
	if len(n.Elems) >= 4 {
		var ok bool
		if meta, ok = pairs(&n.Elems[3]); !ok {
			return badReply("cluster slots: bad node metadata")
		}
		for k := 0; k < len(meta); k += 2 {
			if isKey(&meta[k], "ip") && meta[k+1].IsString() {
				alt = string(meta[k+1].Str)
			}
		}
	}
	ep, err := resolve(r, host, int(p.Int), alt)
	if err != nil {
		return err
	}
	*e = resp.Bulk(ep.Host)
	p.Int = int64(ep.Port)
	if meta == nil {
		return nil
	}
	name := !isIP(ep.Host) && ep.Host != ""
	out := meta[:0]
	for k := 0; k < len(meta); k += 2 {
		key, val := meta[k], meta[k+1]
		switch {
		case isKey(&key, "ip"):
			if name {
				continue
			}
			val = resp.Bulk(ep.Host)
		case isKey(&key, "hostname"):
			if !name {
				continue
			}
			val = resp.Bulk(ep.Host)
		}
		out = append(out, key, val)
	}
	n.Elems[3].Elems = out
	return nil
}

// rewriteShards rewrites CLUSTER SHARDS: [{slots: [...], nodes: [{id, port,
// tls-port, ip, endpoint, hostname, role, replication-offset, health}, ...]}]
// (maps in RESP3, flat arrays in RESP2). A node is resolved by its endpoint,
// then by its ip; by its port, or its tls-port when it has no port.
func rewriteShards(v *resp.Value, r Resolver) error {
	if !isArray(v) {
		return badReply("cluster shards: not an array")
	}
	for i := range v.Elems {
		shard, ok := pairs(&v.Elems[i])
		if !ok {
			return badReply("cluster shards: shard %d is not a map", i)
		}
		for k := 0; k < len(shard); k += 2 {
			if !isKey(&shard[k], "nodes") {
				continue
			}
			nodes := &shard[k+1]
			if !isArray(nodes) {
				return badReply("cluster shards: nodes is not an array")
			}
			for j := range nodes.Elems {
				if err := rewriteShardNode(&nodes.Elems[j], r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func rewriteShardNode(n *resp.Value, r Resolver) error {
	kv, ok := pairs(n)
	if !ok {
		return badReply("cluster shards: node is not a map")
	}
	var host, ip string
	port, tlsPort := -1, -1
	for k := 0; k < len(kv); k += 2 {
		key, val := &kv[k], &kv[k+1]
		switch {
		case isKey(key, "endpoint") && (val.IsString() || val.Null):
			host = string(val.Str)
		case isKey(key, "ip") && val.IsString():
			ip = string(val.Str)
		case isKey(key, "port") && val.Type == ':':
			port = int(val.Int)
		case isKey(key, "tls-port") && val.Type == ':':
			tlsPort = int(val.Int)
		}
	}
	if port <= 0 {
		port = tlsPort
	}
	if port < 0 {
		return badReply("cluster shards: node without a port")
	}
	ep, err := resolve(r, host, port, ip)
	if err != nil {
		return err
	}
	name := !isIP(ep.Host) && ep.Host != ""
	portKey := "port"
	if ep.TLS {
		portKey = "tls-port"
	}
	out := kv[:0]
	portDone := false
	for k := 0; k < len(kv); k += 2 {
		key, val := kv[k], kv[k+1]
		switch {
		case isKey(&key, "port") || isKey(&key, "tls-port"):
			if portDone {
				continue
			}
			portDone = true
			key, val = resp.Bulk(portKey), resp.Integer(int64(ep.Port))
		case isKey(&key, "ip") || isKey(&key, "endpoint"):
			val = resp.Bulk(ep.Host)
		case isKey(&key, "hostname"):
			if !name {
				continue
			}
			val = resp.Bulk(ep.Host)
		}
		out = append(out, key, val)
	}
	n.Elems = out
	return nil
}

// rewriteTextValue applies f to the text of a bulk or verbatim string.
func rewriteTextValue(v *resp.Value, r Resolver, f func([]byte, Resolver) ([]byte, error)) error {
	if (v.Type != '$' && v.Type != '=') || v.Null {
		return badReply("expected a bulk or verbatim string, got %q", v.Type)
	}
	text, err := f(v.Str, r)
	if err != nil {
		return err
	}
	v.Str = text
	return nil
}

// rewriteNodesText rewrites CLUSTER NODES text (also one CLUSTER REPLICAS
// line): in each line "<id> <ip>:<port>@<cport>[,<hostname>[,<aux>=<v>...]]
// <flags> ...", only the address field changes.
func rewriteNodesText(text []byte, r Resolver) ([]byte, error) {
	out := make([]byte, 0, len(text)+64)
	for len(text) > 0 {
		line := text
		if nl := bytes.IndexByte(text, '\n'); nl >= 0 {
			line = text[:nl+1]
		}
		text = text[len(line):]
		s1 := bytes.IndexByte(line, ' ')
		if s1 < 0 {
			if len(bytes.TrimSpace(line)) == 0 {
				out = append(out, line...)
				continue
			}
			return nil, badReply("cluster nodes: line %q has no address", line)
		}
		s2 := bytes.IndexByte(line[s1+1:], ' ')
		if s2 < 0 {
			return nil, badReply("cluster nodes: line %q has no flags", line)
		}
		s2 += s1 + 1
		out = append(out, line[:s1+1]...)
		var err error
		if out, err = appendNodeAddr(out, line[s1+1:s2], r); err != nil {
			return nil, err
		}
		out = append(out, line[s2:]...)
	}
	return out, nil
}

// appendNodeAddr appends the announced form of "ip:port@cport[,hostname[,aux...]]".
// A node without an address (port 0: noaddr) is written ":0@0", without a
// hostname.
func appendNodeAddr(dst, addr []byte, r Resolver) ([]byte, error) {
	hostPort, extra := addr, []byte(nil)
	if i := bytes.IndexByte(addr, ','); i >= 0 {
		hostPort, extra = addr[:i], addr[i+1:]
	}
	hasBus := false
	if i := bytes.IndexByte(hostPort, '@'); i >= 0 {
		if _, ok := atoi(hostPort[i+1:]); !ok {
			return nil, badReply("cluster nodes: bad bus port in %q", addr)
		}
		hostPort, hasBus = hostPort[:i], true
	}
	c := bytes.LastIndexByte(hostPort, ':')
	if c < 0 {
		return nil, badReply("cluster nodes: no port in %q", addr)
	}
	port, ok := atoi(hostPort[c+1:])
	if !ok || port > 65535 {
		return nil, badReply("cluster nodes: bad port in %q", addr)
	}
	var ep Endpoint // port 0: no address (noaddr), written ":0" with no hostname
	if port != 0 {
		host := string(hostPort[:c])
		if ep, ok = r(host, port); !ok {
			return nil, &UnknownNodeError{Host: host, Port: port}
		}
	}
	name := ""
	if !isIP(ep.Host) {
		name = ep.Host
	}
	dst = append(dst, ep.Host...)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, int64(ep.Port), 10)
	if hasBus {
		dst = append(dst, "@0"...)
	}
	if extra == nil {
		if name != "" {
			dst = append(dst, ',')
			dst = append(dst, name...)
		}
		return dst, nil
	}
	// extra: the hostname (maybe empty), then aux fields key=value (as
	// nodes.conf has them; Redis 7.0-7.2 do not show them to clients).
	aux := extra
	if first, after, _ := bytes.Cut(extra, []byte(",")); bytes.IndexByte(first, '=') < 0 {
		aux = after
	}
	if name == "" && len(aux) == 0 {
		return dst, nil
	}
	dst = append(dst, ',')
	dst = append(dst, name...)
	for len(aux) > 0 {
		var f []byte
		f, aux, _ = bytes.Cut(aux, []byte(","))
		dst = append(dst, ',')
		key, _, _ := bytes.Cut(f, []byte("="))
		switch string(key) {
		case "tls-port":
			p := 0
			if ep.TLS {
				p = ep.Port
			}
			dst = append(dst, "tls-port="...)
			dst = strconv.AppendInt(dst, int64(p), 10)
		case "hostname":
			dst = append(dst, "hostname="...)
			dst = append(dst, name...)
		default:
			dst = append(dst, f...)
		}
	}
	return dst, nil
}

// rewriteRole rewrites ROLE: ["master", offset, [[ip, port, offset], ...]]
// (ip, port and offset as bulk strings) or ["slave", ip, port, state,
// offset]. Other roles (sentinel) carry no node address.
func rewriteRole(v *resp.Value, r Resolver) error {
	if !isArray(v) || len(v.Elems) == 0 || !v.Elems[0].IsString() {
		return badReply("role: not [role, ...]")
	}
	switch string(v.Elems[0].Str) {
	case "master":
		if len(v.Elems) < 3 || !isArray(&v.Elems[2]) {
			return badReply("role: master without a replica list")
		}
		for i := range v.Elems[2].Elems {
			rep := &v.Elems[2].Elems[i]
			if !isArray(rep) || len(rep.Elems) < 2 || !rep.Elems[0].IsString() || !rep.Elems[1].IsString() {
				return badReply("role: replica is not [ip, port, offset]")
			}
			port, ok := atoi(rep.Elems[1].Str)
			if !ok {
				return badReply("role: bad replica port %q", rep.Elems[1].Str)
			}
			ep, err := resolve(r, string(rep.Elems[0].Str), port, "")
			if err != nil {
				return err
			}
			rep.Elems[0] = resp.Bulk(ep.Host)
			rep.Elems[1] = resp.Bulk(strconv.Itoa(ep.Port))
		}
	case "slave", "replica":
		if len(v.Elems) < 3 || !v.Elems[1].IsString() || v.Elems[2].Type != ':' {
			return badReply("role: replica is not [slave, ip, port, ...]")
		}
		ep, err := resolve(r, string(v.Elems[1].Str), int(v.Elems[2].Int), "")
		if err != nil {
			return err
		}
		v.Elems[1] = resp.Bulk(ep.Host)
		v.Elems[2].Int = int64(ep.Port)
	}
	return nil
}

// rewriteInfoText rewrites INFO text: master_host/master_port,
// slaveN:ip=...,port=...,... and tcp_port (the node's own port, resolved with
// host "": the host of this connection). Other lines are kept as they are.
func rewriteInfoText(text []byte, r Resolver) ([]byte, error) {
	var masterHost, masterPort []byte
	hasHost, hasPort := false, false
	for rest := text; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if v, ok := bytes.CutPrefix(line, []byte("master_host:")); ok {
			masterHost, hasHost = v, true
		} else if v, ok := bytes.CutPrefix(line, []byte("master_port:")); ok {
			masterPort, hasPort = v, true
		}
	}
	var master Endpoint
	if hasHost || hasPort {
		if !hasHost || !hasPort {
			return nil, badReply("info: master_host without master_port")
		}
		port, ok := atoi(masterPort)
		if !ok {
			return nil, badReply("info: bad master_port %q", masterPort)
		}
		var err error
		if master, err = resolve(r, string(masterHost), port, ""); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, len(text)+64)
	for rest := text; len(rest) > 0; {
		line, tail, found := bytes.Cut(rest, []byte("\n"))
		rest = tail
		eol := ""
		if found {
			eol = "\n"
			if bytes.HasSuffix(line, []byte("\r")) {
				line, eol = line[:len(line)-1], "\r\n"
			}
		}
		switch {
		case bytes.HasPrefix(line, []byte("master_host:")):
			out = append(out, "master_host:"...)
			out = append(out, master.Host...)
		case bytes.HasPrefix(line, []byte("master_port:")):
			out = append(out, "master_port:"...)
			out = strconv.AppendInt(out, int64(master.Port), 10)
		case bytes.HasPrefix(line, []byte("tcp_port:")):
			port, ok := atoi(line[len("tcp_port:"):])
			if !ok {
				return nil, badReply("info: bad tcp_port %q", line)
			}
			if port != 0 {
				ep, err := resolve(r, "", port, "")
				if err != nil {
					return nil, err
				}
				port = ep.Port
			}
			out = append(out, "tcp_port:"...)
			out = strconv.AppendInt(out, int64(port), 10)
		case isSlaveLine(line):
			var err error
			if out, err = appendSlaveLine(out, line, r); err != nil {
				return nil, err
			}
		default:
			out = append(out, line...)
		}
		out = append(out, eol...)
	}
	return out, nil
}

// isSlaveLine reports whether line is "slave<N>:...".
func isSlaveLine(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("slave"))
	if !ok {
		return false
	}
	c := bytes.IndexByte(rest, ':')
	_, digits := atoi(rest[:max(c, 0)])
	return c > 0 && digits
}

// appendSlaveLine rewrites "slaveN:ip=...,port=...,state=...,offset=...,lag=...".
func appendSlaveLine(dst, line []byte, r Resolver) ([]byte, error) {
	c := bytes.IndexByte(line, ':')
	var ip, port []byte
	hasIP, hasPort := false, false
	for f := range bytes.SplitSeq(line[c+1:], []byte(",")) {
		if v, ok := bytes.CutPrefix(f, []byte("ip=")); ok {
			ip, hasIP = v, true
		} else if v, ok := bytes.CutPrefix(f, []byte("port=")); ok {
			port, hasPort = v, true
		}
	}
	if !hasIP || !hasPort {
		return nil, badReply("info: %q has no ip and port", line)
	}
	p, ok := atoi(port)
	if !ok {
		return nil, badReply("info: bad replica port in %q", line)
	}
	ep, err := resolve(r, string(ip), p, "")
	if err != nil {
		return nil, err
	}
	dst = append(dst, line[:c+1]...)
	first := true
	for f := range bytes.SplitSeq(line[c+1:], []byte(",")) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		switch {
		case bytes.HasPrefix(f, []byte("ip=")):
			dst = append(dst, "ip="...)
			dst = append(dst, ep.Host...)
		case bytes.HasPrefix(f, []byte("port=")):
			dst = append(dst, "port="...)
			dst = strconv.AppendInt(dst, int64(ep.Port), 10)
		default:
			dst = append(dst, f...)
		}
	}
	return dst, nil
}

// rewriteClientText rewrites CLIENT LIST and CLIENT INFO text: the laddr=
// field of every line ("id=3 addr=10.0.0.9:50612 laddr=10.0.0.5:6379 fd=8
// ..."). laddr is the node's end of this connection: it is resolved as sent,
// then as "" (the host of this connection). addr= is the client's end (the
// proxy's upstream socket) and is kept.
func rewriteClientText(text []byte, r Resolver) ([]byte, error) {
	out := make([]byte, 0, len(text)+32)
	for len(text) > 0 {
		i := bytes.Index(text, []byte("laddr="))
		if i < 0 {
			break
		}
		if i > 0 && text[i-1] != ' ' && text[i-1] != '\n' { // e.g. "xladdr="
			out = append(out, text[:i+6]...)
			text = text[i+6:]
			continue
		}
		i += len("laddr=")
		out = append(out, text[:i]...)
		text = text[i:]
		end := bytes.IndexAny(text, " \r\n")
		if end < 0 {
			end = len(text)
		}
		a := text[:end]
		c := bytes.LastIndexByte(a, ':')
		port, ok := 0, false
		if c >= 0 {
			port, ok = atoi(a[c+1:])
		}
		if !ok || port > 65535 {
			return nil, badReply("client list: bad laddr %q", a)
		}
		host := string(a[:c])
		ep, found := r(host, port)
		if !found && host != "" {
			ep, found = r("", port)
		}
		if !found {
			return nil, &UnknownNodeError{Host: host, Port: port}
		}
		out = append(out, ep.Host...)
		out = append(out, ':')
		out = strconv.AppendInt(out, int64(ep.Port), 10)
		text = text[end:]
	}
	return append(out, text...), nil
}
