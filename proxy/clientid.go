package proxy

import (
	"bytes"
	"strconv"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
)

// Client ids with shared upstream connections.
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
//     client on it, with the client's id, name, library, protocol and age;
//   - CLIENT KILL ID with a proxy id: the node kills none (no connection has
//     such an id) but checks the caller may kill; then the proxy closes that
//     client (if it is on the same node) and counts it in the reply.

// idXlate is how the reply to one command is translated.
type idXlate struct {
	kind   xlKind
	kill   uint64 // xlKill: the proxy id to kill
	skipme bool   // xlKill: SKIPME yes (the default)
}

type xlKind uint8

const (
	xlID    xlKind = iota // an integer reply: CLIENT ID
	xlHello               // HELLO's id field
	xlList                // CLIENT LIST, CLIENT INFO
	xlKill                // CLIENT KILL's count
)

// translate marks the commands of a pinned client (or of a client about to
// be, with the command that pins it) whose replies show or act on ids.
func (cl *clientSide) translate(e *entry, ci *CommandInfo, args [][]byte) {
	if ci == nil || (ci.Name != "HELLO" && ci.Name != "CLIENT") {
		return
	}
	if ci.Name == "HELLO" {
		e.xl = &idXlate{kind: xlHello}
		return
	}
	if len(args) < 2 {
		return
	}
	switch sub := args[1]; {
	case eqFold(sub, "ID") && len(args) == 2:
		e.xl = &idXlate{kind: xlID}
	case eqFold(sub, "LIST") || eqFold(sub, "INFO"):
		e.xl = &idXlate{kind: xlList}
	case eqFold(sub, "KILL") && len(args) >= 4 && len(args)%2 == 0:
		xl := &idXlate{kind: xlKill, skipme: true}
		for i := 2; i+1 < len(args); i += 2 {
			switch v := args[i+1]; {
			case eqFold(args[i], "ID"):
				id, err := strconv.ParseUint(string(v), 10, 64)
				if err != nil {
					return // the node's error
				}
				xl.kill = id
			case eqFold(args[i], "SKIPME"):
				xl.skipme = !eqFold(v, "no")
			default:
				// Other filters (TYPE, USER, ADDR…) are the node's to
				// match: only its own connections are killed.
				return
			}
		}
		if xl.kill >= proxyIDBase {
			e.xl = xl
		}
	}
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
		if victim := r.s.clientByProxyID(xl.kill); victim != nil && victim.nd == r.nd &&
			!(victim == r.clientConn && xl.skipme) {
			if victim == r.clientConn {
				r.killSelf = true // after the reply, as Redis does
			} else {
				victim.close("killed by CLIENT KILL ID")
			}
			v.Int++
		}
		return v.Append(nil)
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
	s.mu.Lock()
	for c := range s.conns {
		if c.nd != nd || c.shared == nil {
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
		switch {
		case !ok:
			out = append(out, line...)
		case own[id] != nil:
			out = clientLine(out, line, own[id], false)
		case shared[id] != nil:
			for i, c := range shared[id] {
				if i > 0 {
					out = append(out, '\n')
				}
				out = clientLine(out, line, c, true)
			}
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

// clientLine appends line for client c: its proxy id and, for a line of the
// shared connection it is on (all), its own name, library, protocol and
// age; the other fields are the shared connection's.
func clientLine(out, line []byte, c *clientConn, all bool) []byte {
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
		case key == "id":
			out = strconv.AppendUint(out, c.proxyID(), 10)
		case !all:
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
