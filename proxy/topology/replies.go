package topology

import (
	"bytes"
	"net"
	"strconv"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
)

// The rewriters of each RewriteKind: they replace every node address in a
// parsed reply (or in the text of one) with its announced Endpoint.

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
			if port == 0 {
				continue // a replica without a listening port: see appendSlaveLine
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
	if p == 0 {
		// A replica that announced no listening port (redis-cli --rdb, a
		// replication tool) is no node: nothing anyone could dial, and ip=
		// is its client address.
		return append(dst, line...), nil
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
		if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' { // IPv6
			host = host[1 : len(host)-1]
		}
		ep, found := r(host, port)
		if !found && host != "" {
			ep, found = r("", port)
		}
		if !found {
			return nil, &UnknownNodeError{Host: host, Port: port}
		}
		out = append(out, net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port))...) // [ip]:port for IPv6, as Redis shows it
		text = text[end:]
	}
	return append(out, text...), nil
}
