package topology

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
)

// This file describes replies independently of the rewriter, for the tests'
// invariants: what must not change (node ids, slots, flags, roles, offsets,
// the shape) and the addresses a client can learn from the reply.

// addr is one address in a reply. port is -1 for a host without a port
// (metadata ip or hostname); host is "" for a port without a host.
type addr struct {
	host string
	port int
}

type summary struct {
	facts []string // everything that must survive a rewrite unchanged
	addrs []addr
}

func (s *summary) fact(format string, a ...any) { s.facts = append(s.facts, fmt.Sprintf(format, a...)) }

// keyOf returns the text of a map key, or "" for a key that is not a string.
func keyOf(v resp.Value) string {
	if !v.IsString() {
		return ""
	}
	return string(v.Str)
}

func str(v resp.Value) string {
	switch v.Type {
	case ':':
		return strconv.FormatInt(v.Int, 10)
	case '#':
		return strconv.FormatBool(v.Bool)
	}
	if v.Null {
		return "<null>"
	}
	if v.IsAggregate() {
		return fmt.Sprintf("<%c%d>", v.Type, len(v.Elems))
	}
	return string(v.Str)
}

// describe summarises a raw reply of the given kind. It returns an error for a
// reply it cannot parse at all.
func describe(kind RewriteKind, reply []byte) (summary, error) {
	var s summary
	v, n, err := resp.Parse(reply)
	if err != nil {
		return s, err
	}
	if n != len(reply) {
		return s, fmt.Errorf("%d trailing bytes", len(reply)-n)
	}
	s.fact("type %c null=%v attr=%v", v.Type, v.Null, v.Attr != nil)
	if v.Type == '-' || v.Type == '!' || v.Null {
		s.describeError(v)
		return s, nil
	}
	switch kind {
	case KindClusterSlots:
		s.describeSlots(v)
	case KindClusterShards:
		s.describeShards(v)
	case KindClusterNodes:
		if v.Type == '$' || v.Type == '=' {
			s.fact("format %q", v.Format)
			s.describeNodes(v.Str)
		}
	case KindClusterReplicas:
		for _, e := range v.Elems {
			s.fact("line type %c", e.Type)
			s.describeNodes(e.Str)
		}
	case KindRole:
		s.describeRole(v)
	case KindInfo:
		s.fact("format %q", v.Format)
		s.describeInfo(v.Str)
	case KindClientList:
		s.fact("format %q", v.Format)
		for line := range strings.SplitSeq(string(v.Str), "\n") {
			for _, f := range strings.Split(line, " ") {
				a, ok := strings.CutPrefix(f, "laddr=")
				if !ok {
					s.fact("%s", f)
					continue
				}
				if k := strings.IndexByte(a, '\r'); k >= 0 { // the address ends there, as for the rewriter ("…:36431\rfd=11", found by FuzzRewriteClient)
					s.fact("%s", a[k:])
					a = a[:k]
				}
				c := strings.LastIndexByte(a, ':')
				p, _ := strconv.Atoi(a[c+1:])
				host := a[:max(c, 0)]
				if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' { // IPv6, as Redis shows it
					host = host[1 : len(host)-1]
				}
				s.addrs = append(s.addrs, addr{host, p})
			}
		}
	case KindExec:
		for _, e := range v.Elems {
			if e.Type == '-' || e.Type == '!' {
				s.describeError(e)
			} else {
				s.fact("%s", e.Append(nil))
			}
		}
	default:
		s.fact("%s", reply)
	}
	return s, nil
}

func (s *summary) describeError(v resp.Value) {
	f := strings.Split(string(v.Str), " ")
	if len(f) == 3 && (f[0] == "MOVED" || f[0] == "ASK") {
		if c := strings.LastIndexByte(f[2], ':'); c >= 0 {
			s.fact("%s %s", f[0], f[1])
			p, _ := strconv.Atoi(f[2][c+1:])
			s.addrs = append(s.addrs, addr{f[2][:c], p})
			return
		}
	}
	s.fact("error %q", v.Str)
}

func (s *summary) describeSlots(v resp.Value) {
	s.fact("ranges %d", len(v.Elems))
	for i, r := range v.Elems {
		s.fact("range %d: %c %d", i, r.Type, len(r.Elems))
		for j, n := range r.Elems {
			if j < 2 || !n.IsAggregate() {
				s.fact("range %d.%d: %s", i, j, str(n))
				continue
			}
			s.fact("range %d node %d: %d elems", i, j, len(n.Elems))
			if len(n.Elems) >= 2 {
				s.addrs = append(s.addrs, addr{string(n.Elems[0].Str), int(n.Elems[1].Int)})
			}
			for k := 2; k < len(n.Elems); k++ {
				if k == 3 {
					s.describeMeta(n.Elems[k], fmt.Sprintf("range %d node %d meta", i, j))
					continue
				}
				s.fact("range %d node %d.%d: %s", i, j, k, str(n.Elems[k]))
			}
		}
	}
}

func (s *summary) describeMeta(m resp.Value, where string) {
	kv, ok := pairs(&m)
	if !ok {
		s.fact("%s: %s", where, str(m))
		return
	}
	for k := 0; k < len(kv); k += 2 {
		switch keyOf(kv[k]) {
		case "ip", "hostname":
			s.addrs = append(s.addrs, addr{str(kv[k+1]), -1})
		default:
			s.fact("%s: %s=%s", where, str(kv[k]), str(kv[k+1]))
		}
	}
}

func (s *summary) describeShards(v resp.Value) {
	for i, sh := range v.Elems {
		kv, _ := pairs(&sh)
		for k := 0; k+1 < len(kv); k += 2 {
			key, val := keyOf(kv[k]), kv[k+1]
			if key != "nodes" {
				s.fact("shard %d: %s=%s", i, str(kv[k]), str(val))
				for _, e := range val.Elems {
					s.fact("shard %d: %s: %s", i, key, str(e))
				}
				continue
			}
			for j, n := range val.Elems {
				nkv, _ := pairs(&n)
				for k := 0; k+1 < len(nkv); k += 2 {
					switch key, val := keyOf(nkv[k]), nkv[k+1]; key {
					case "ip", "endpoint", "hostname":
						s.addrs = append(s.addrs, addr{str(val), -1})
					case "port", "tls-port":
						s.addrs = append(s.addrs, addr{"", int(val.Int)})
					default:
						s.fact("shard %d node %d: %s=%s", i, j, str(nkv[k]), str(val))
					}
				}
			}
		}
	}
}

func (s *summary) describeNodes(text []byte) {
	for line := range strings.SplitSeq(string(text), "\n") {
		f := strings.Split(line, " ")
		if len(f) < 2 {
			s.fact("line %q", line)
			continue
		}
		s.fact("line %s %s", f[0], strings.Join(f[2:], " "))
		a, extra, _ := strings.Cut(f[1], ",")
		a, _, _ = strings.Cut(a, "@")
		c := strings.LastIndexByte(a, ':')
		p, _ := strconv.Atoi(a[max(c, 0):][min(c+1, 1):])
		if p != 0 && c >= 0 {
			s.addrs = append(s.addrs, addr{a[:c], p})
		}
		for i, e := range strings.Split(extra, ",") {
			k, v, aux := strings.Cut(e, "=")
			switch {
			case i == 0 && !aux: // the hostname
				if e != "" {
					s.addrs = append(s.addrs, addr{e, -1})
				}
			case k == "hostname":
				if v != "" {
					s.addrs = append(s.addrs, addr{v, -1})
				}
			case k == "tls-port":
				p, _ := strconv.Atoi(v)
				if p != 0 {
					s.addrs = append(s.addrs, addr{"", p})
				}
			default:
				s.fact("aux %s", e)
			}
		}
	}
}

func (s *summary) describeRole(v resp.Value) {
	if len(v.Elems) < 3 || !v.Elems[0].IsString() {
		s.fact("%s", v.Append(nil))
		return
	}
	role := str(v.Elems[0])
	s.fact("role %s, %d elems", role, len(v.Elems))
	switch role {
	case "master":
		s.fact("offset %s", str(v.Elems[1]))
		for _, r := range v.Elems[2].Elems {
			if len(r.Elems) < 2 {
				s.fact("replica %s", r.Append(nil))
				continue
			}
			p, _ := strconv.Atoi(str(r.Elems[1]))
			if p == 0 { // a replica without a listening port is no node
				s.fact("replica %s:0", str(r.Elems[0]))
			} else {
				s.addrs = append(s.addrs, addr{str(r.Elems[0]), p})
			}
			for _, e := range r.Elems[2:] {
				s.fact("replica %s", str(e))
			}
		}
	case "slave", "replica":
		s.addrs = append(s.addrs, addr{str(v.Elems[1]), int(v.Elems[2].Int)})
		for _, e := range v.Elems[3:] {
			s.fact("%s", str(e))
		}
	default:
		for _, e := range v.Elems[1:] {
			s.fact("%s", str(e))
		}
	}
}

func (s *summary) describeInfo(text []byte) {
	var host string
	for line := range strings.SplitSeq(string(text), "\n") {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\r"), ":")
		switch {
		case k == "master_host":
			host = v
		case k == "master_port", k == "tcp_port":
			p, _ := strconv.Atoi(v)
			if k == "tcp_port" {
				if p == 0 { // no TCP port (TLS only): nothing to rewrite
					continue
				}
				host = ""
			}
			s.addrs = append(s.addrs, addr{host, p})
		case isSlaveKey(k):
			a, named := addr{port: -1}, false
			for _, f := range strings.Split(v, ",") {
				if h, ok := strings.CutPrefix(f, "ip="); ok {
					a.host, named = h, true
				} else if p, ok := strings.CutPrefix(f, "port="); ok {
					a.port, _ = strconv.Atoi(p)
					named = true
				} else {
					s.fact("%s %s", k, f)
				}
			}
			switch {
			case a.port == 0: // a replica without a listening port is no node
				s.fact("%s %s:0", k, a.host)
			case named: // a line without ip= or port= ("slave00", found by FuzzRewriteInfo) names no address
				s.addrs = append(s.addrs, a)
			}
		default:
			s.fact("%s", line)
		}
	}
}

// checkRewritten compares a reply and its rewritten form: the facts are the
// same, and every address in the output is announced (host announce, a port
// in ports; a port-less host may also be dropped). It returns a description
// of the first difference, or "".
func checkRewritten(kind RewriteKind, in, out []byte, announce string, ports map[int]bool) string {
	a, err := describe(kind, in)
	if err != nil {
		return "input: " + err.Error()
	}
	b, err := describe(kind, out)
	if err != nil {
		return fmt.Sprintf("output does not parse: %v\n%q", err, out)
	}
	if !slices.Equal(a.facts, b.facts) {
		for i := range min(len(a.facts), len(b.facts)) {
			if a.facts[i] != b.facts[i] {
				return fmt.Sprintf("fact %d changed: %q → %q", i, a.facts[i], b.facts[i])
			}
		}
		return fmt.Sprintf("facts changed: %d → %d", len(a.facts), len(b.facts))
	}
	for _, x := range b.addrs {
		if x.host != "" && x.host != announce {
			return fmt.Sprintf("address %q left in output", x.host)
		}
		if x.port >= 0 && !ports[x.port] {
			return fmt.Sprintf("port %d left in output", x.port)
		}
	}
	return ""
}

// noPorts reports the first of ports found in b as a word, or 0.
func noPorts(b []byte, ports []int) int {
	for _, p := range ports {
		if containsPort(b, p) {
			return p
		}
	}
	return 0
}

// isSlaveKey reports whether an INFO key is "slave<N>".
func isSlaveKey(k string) bool {
	n, ok := strings.CutPrefix(k, "slave")
	if !ok || n == "" {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
