package proxy

import (
	"bytes"
	"net"
	"strconv"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
)

// Client ids and addresses.
//
// CLIENT LIST and CLIENT INFO show each client of the proxy as the node
// would if it were connected directly: addr= is the client's own address
// (not the proxy's upstream socket) and laddr= the proxy port it is
// connected to (see topology's rewrite). CLIENT KILL takes what they show:
// ADDR (and the old form CLIENT KILL addr) with a client's address, LADDR
// with a proxy address, which the client loop turns into the addresses the
// node knows before it forwards the command.
//
// Every client of a sharing proxy has the proxy's id (proxyID), whether it
// shares or has been pinned: HELLO and CLIENT ID give it, so CLIENT KILL ID,
// CLIENT LIST and CLIENT INFO take and show it too. The node's replies to
// those commands are translated:
//
//   - CLIENT ID and HELLO of a pinned client: its own connection's id → its
//     proxy id;
//   - CLIENT LIST and CLIENT INFO: a line of a client's own connection gets
//     the client's id; a line of a shared connection becomes one line per
//     client on it, with the client's id, address, name, library, protocol
//     and age;
//   - CLIENT KILL ID with a proxy id, or ADDR with the address of a client
//     that shares: the node kills none (no connection of its own has such an
//     id or address) but checks the caller may kill; then the proxy closes
//     that client (if it is on the same node and matches the other filters)
//     and counts it in the reply.
//
// In 1:1 mode the ids are the node's own: they need no translation.

// idXlate is how the reply to one command is translated.
type idXlate struct {
	kind   xlKind
	kill   uint64 // xlKill: the proxy id to kill
	skipme bool   // xlKill: SKIPME yes (the default)
	old    bool   // xlKill: CLIENT KILL addr, answered +OK or an error
}

type xlKind uint8

const (
	xlID    xlKind = iota // an integer reply: CLIENT ID
	xlHello               // HELLO's id field
	xlList                // CLIENT LIST, CLIENT INFO
	xlKill                // CLIENT KILL's count
)

// translate marks the commands whose replies show or act on ids and
// addresses (with shared upstreams, those of a pinned client or of a client
// about to be, with the command that pins it). It returns the command as
// the node must get it: raw, or a copy whose CLIENT KILL arguments name
// what the node knows.
func (cl *clientSide) translate(e *entry, ci *CommandInfo, args [][]byte, raw []byte) []byte {
	if ci == nil || (ci.Name != "HELLO" && ci.Name != "CLIENT") {
		return raw
	}
	if ci.Name == "HELLO" {
		if cl.shared != nil {
			e.xl = &idXlate{kind: xlHello}
		}
		return raw
	}
	if len(args) < 2 {
		return raw
	}
	switch sub := args[1]; {
	case eqFold(sub, "ID") && len(args) == 2 && cl.shared != nil:
		e.xl = &idXlate{kind: xlID}
	case eqFold(sub, "LIST") || eqFold(sub, "INFO"):
		e.xl = &idXlate{kind: xlList}
	case eqFold(sub, "KILL"):
		return cl.kill(e, args, raw)
	}
	return raw
}

// kill translates CLIENT KILL: see the top of this file.
func (cl *clientSide) kill(e *entry, args [][]byte, raw []byte) []byte {
	out := args[:len(args):len(args)] // copied before the first change
	set := func(i int, v string) {
		if &out[0] == &args[0] {
			out = append([][]byte(nil), args...)
		}
		out[i] = []byte(v)
	}
	xl := &idXlate{kind: xlKill, skipme: true}
	var victim *clientConn // a client that shares, which the node cannot see
	victims := true        // the proxy may close it: no filter it cannot judge
	if len(args) == 3 {
		// The old form: CLIENT KILL addr.
		xl.old = true
		if c := cl.s.clientByAddr(cl.nd, string(args[2])); c != nil {
			if up := c.upAddr.Load(); up != nil {
				set(2, *up)
			} else {
				victim = c
			}
		}
	} else {
		if len(args)%2 != 0 {
			return raw // the node's syntax error
		}
		for i := 2; i+1 < len(args); i += 2 {
			switch v := args[i+1]; {
			case eqFold(args[i], "ID"):
				id, err := strconv.ParseUint(string(v), 10, 64)
				if err != nil {
					return raw // the node's error
				}
				xl.kill = id
			case eqFold(args[i], "ADDR"):
				if c := cl.s.clientByAddr(cl.nd, string(v)); c != nil {
					if up := c.upAddr.Load(); up != nil {
						set(i+1, *up)
					} else {
						victim = c
					}
				}
			case eqFold(args[i], "LADDR"):
				real, own, ok := cl.laddr(string(v))
				if ok {
					set(i+1, real)
				}
				victims = victims && own // the clients of the proxy are on this node's port
			case eqFold(args[i], "SKIPME"):
				xl.skipme = !eqFold(v, "no")
			default:
				// TYPE, USER, MAXAGE…: the node's to match, on its own
				// connections only.
				victims = false
			}
		}
	}
	// The proxy closes a client the node cannot see when the filters name
	// it: its proxy id, or the address of a client that shares.
	switch {
	case !victims || cl.shared == nil:
	case victim != nil && (xl.kill == 0 || xl.kill == victim.proxyID()):
		xl.kill = victim.proxyID()
		e.xl = xl
	case victim == nil && xl.kill >= proxyIDBase:
		e.xl = xl
	}
	if xl.old && e.xl != nil {
		// The node checks the caller may kill with a form it answers
		// whatever the client: it knows no such id.
		out = [][]byte{args[0], args[1], []byte("ID"), []byte(strconv.FormatUint(xl.kill, 10))}
	}
	if &out[0] == &args[0] {
		return raw
	}
	b := []byte("*" + strconv.Itoa(len(out)) + "\r\n")
	for _, a := range out {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// laddr returns the address the node knows for a proxy address it showed
// as laddr=, and whether it is the port of the connection's own node: then
// the node's end of its upstream connection (what the node shows as laddr=
// for the proxy's connections).
func (cl *clientSide) laddr(shown string) (real string, own, ok bool) {
	if shown == net.JoinHostPort(cl.nd.announce.Host, strconv.Itoa(cl.nd.announce.Port)) {
		return cl.up.c.RemoteAddr().String(), true, true
	}
	for _, n := range cl.s.Nodes() {
		if n.Announce == shown {
			return n.Addr, false, true
		}
	}
	return "", false, false
}

// translate applies xl to a reply of the node that is not an error.
func (r *replySide) translate(xl *idXlate, reply []byte) []byte {
	own := uint64(r.ownID.Load())
	switch xl.kind {
	case xlID:
		v, _, err := resp.Parse(reply)
		if err == nil && v.Type == ':' && own != 0 && uint64(v.Int) == own {
			return resp.Integer(int64(r.proxyID())).Append(nil)
		}
	case xlHello:
		st := groupState{hello: reply}
		st.findHelloFields()
		if st.hello != nil && own != 0 && string(reply[st.idAt:st.idEnd]) == strconv.FormatUint(own, 10) {
			return st.helloReply(r.proxyID(), "")
		}
	case xlKill:
		v, _, err := resp.Parse(reply)
		if err != nil || v.Type != ':' {
			return reply
		}
		n := v.Int
		if victim := r.s.clientByProxyID(xl.kill); victim != nil && victim.nd == r.nd &&
			!(victim == r.clientConn && xl.skipme) {
			if victim == r.clientConn {
				r.killSelf = true // after the reply, as Redis does
			} else {
				victim.close("killed by CLIENT KILL ID")
			}
			n++
		}
		switch {
		case !xl.old:
			return resp.Integer(n).Append(nil)
		case n > 0:
			return []byte("+OK\r\n")
		}
		return []byte("-ERR No such client\r\n")
	case xlList:
		v, _, err := resp.Parse(reply)
		if err != nil || !v.IsString() {
			return reply
		}
		v.Str = r.s.translateClientList(r.nd, v.Str)
		return v.Append(nil)
	}
	return reply
}

// clientByAddr finds a client of the proxy connected to node nd's port from
// addr (its address as CLIENT LIST shows it).
func (s *Server) clientByAddr(nd *node, addr string) *clientConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.nd == nd && c.info.Load().Client.String() == addr {
			return c
		}
	}
	return nil
}

// clientByProxyID finds a client of the proxy by its proxy id.
func (s *Server) clientByProxyID(id uint64) *clientConn {
	if id < proxyIDBase {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.proxyID() == id {
			return c
		}
	}
	return nil
}

// translateClientList rewrites the lines of CLIENT LIST (or INFO) from node
// nd: see the top of this file.
func (s *Server) translateClientList(nd *node, text []byte) []byte {
	own := map[int64]*clientConn{}
	shared := map[int64][]*clientConn{}
	byUp := map[string]*clientConn{} // clients with their own upstream connection, by its addr=
	s.mu.Lock()
	for c := range s.conns {
		if c.nd != nd {
			continue
		}
		if a := c.upAddr.Load(); a != nil {
			byUp[*a] = c
		}
		if c.shared == nil {
			continue
		}
		if id := c.ownID.Load(); id != 0 {
			own[id] = c
			continue
		}
		if su := c.shared.group(); su != nil && su.state.nodeID != 0 && c.shared.pinned() == nil {
			shared[su.state.nodeID] = append(shared[su.state.nodeID], c)
		}
	}
	s.mu.Unlock()
	var out []byte
	for len(text) > 0 {
		line := text
		rest := []byte(nil)
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, rest = text[:i], text[i+1:]
		}
		text = rest
		nl := rest != nil
		id, ok := lineID(line)
		addr, _ := field(line, "addr")
		switch {
		case !ok:
			out = append(out, line...)
		case own[id] != nil:
			out = clientLine(out, line, own[id], lineOwn)
		case shared[id] != nil:
			for i, c := range shared[id] {
				if i > 0 {
					out = append(out, '\n')
				}
				out = clientLine(out, line, c, lineShared)
			}
		case byUp[string(addr)] != nil:
			out = clientLine(out, line, byUp[string(addr)], lineAddr)
		default:
			out = append(out, line...)
		}
		if nl {
			out = append(out, '\n')
		}
	}
	return out
}

// lineID is the id= field of a CLIENT LIST line.
func lineID(line []byte) (int64, bool) {
	v, ok := field(line, "id")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(string(v), 10, 64)
	return id, err == nil
}

// field returns the value of the field name= in a CLIENT LIST line.
func field(line []byte, name string) ([]byte, bool) {
	for f := range bytes.FieldsSeq(line) {
		if k, v, ok := bytes.Cut(f, []byte("=")); ok && string(k) == name {
			return v, true
		}
	}
	return nil, false
}

// lineKind is what clientLine shows of a client in a CLIENT LIST line.
type lineKind uint8

const (
	lineAddr   lineKind = iota // its address (1:1: the node's id is the client's)
	lineOwn                    // its address and proxy id (pinned: the line of its own connection)
	lineShared                 // its address, proxy id, name, library, protocol and age (the line of the shared connection it is on)
)

// clientLine appends line for client c, with what kind says is c's; the
// other fields are the line's own.
func clientLine(out, line []byte, c *clientConn, kind lineKind) []byte {
	info := c.info.Load()
	first := true
	for f := range bytes.FieldsSeq(line) {
		if !first {
			out = append(out, ' ')
		}
		first = false
		k, _, ok := bytes.Cut(f, []byte("="))
		if !ok {
			out = append(out, f...)
			continue
		}
		out = append(out, k...)
		out = append(out, '=')
		switch key := string(k); {
		case key == "addr":
			out = append(out, info.Client.String()...)
		case key == "id" && kind != lineAddr:
			out = strconv.AppendUint(out, c.proxyID(), 10)
		case kind != lineShared:
			out = append(out, f[len(k)+1:]...)
		case key == "name":
			out = append(out, info.Name...)
		case key == "lib-name":
			out = append(out, info.LibName...)
		case key == "lib-ver":
			out = append(out, info.LibVer...)
		case key == "age":
			out = strconv.AppendInt(out, int64(time.Since(info.Since)/time.Second), 10)
		case key == "resp":
			if info.RESP3 {
				out = append(out, '3')
			} else {
				out = append(out, '2')
			}
		default:
			out = append(out, f[len(k)+1:]...)
		}
	}
	return out
}
