package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
)

// Connection state with shared upstream connections.
//
// A client that shares has no connection of its own on the node to keep its
// connection state in, so the proxy keeps it, and answers in the node's
// place the commands that only set or read it: HELLO, AUTH, SELECT 0,
// READONLY, READWRITE, CLIENT SETNAME, GETNAME, ID and SETINFO. The replies
// are the node's own: each shared connection, when it opens, runs those
// commands in its own state (start) and the proxy answers a client only
// with what the node answered there. A command it cannot answer so (a
// wrong password, a name with a space, a command the user may not run)
// pins the client, whose own connection is first put in the client's state
// (replay): the node then answers it as in 1:1.
//
// The state that changes what the node does with later commands (the
// protocol, the ACL user, READONLY) is a shareKey: shared connections are
// grouped by it, and a client whose key changes moves to a shared
// connection in the new state (regroup). The rest (the name, the library)
// is the proxy's alone until the client pins.
//
// Every client of a sharing proxy has the proxy's own client id (proxyID):
// HELLO and CLIENT ID give it, CLIENT KILL ID, CLIENT LIST and CLIENT INFO
// take and show it, also once the client is pinned (translations of the
// node's replies: see idXlate).

// shareKey is the connection state a shared upstream connection is in, and
// that a client's must equal for the client to share it.
type shareKey struct {
	proto    uint8  // 2 or 3
	user     string // AUTH's user; "" with pass set: AUTH with the password alone
	pass     string
	readonly bool
}

// initialState is a new connection's: RESP2, not authenticated, READWRITE.
var initialState = shareKey{proto: 2}

func (k shareKey) authed() bool { return k.user != "" || k.pass != "" }

// groupState is what the start-up of a shared connection learned from the
// node: which state commands the proxy may answer for the clients on it,
// and with what. It is never changed.
type groupState struct {
	hello        []byte // the node's HELLO reply in the group's protocol; nil if HELLO failed
	idAt, idEnd  int    // hello[idAt:idEnd]: the id's digits
	roleAt       int    // hello[roleAt:roleEnd]: the role's bulk string ("$6\r\nmaster\r\n"); 0 if none
	roleEnd      int
	nodeID       int64 // the connection's client id on the node (0: unknown)
	setname      bool  // CLIENT SETNAME answered +OK
	getname      bool  // CLIENT GETNAME answered a null
	clientID     bool  // CLIENT ID answered an integer
	select0      bool  // SELECT 0 answered +OK
	readonlyCmd  bool  // READONLY or READWRITE (the group's) answered +OK
	setinfo      setinfoSupport
	setinfoReply []byte
	clientSubs   map[string]bool // the node's CLIENT subcommands, lower case ("setinfo"); nil if unknown
}

// subcommands reads the subcommand names of a COMMAND INFO reply for one
// command ("client|setinfo" → "setinfo"); nil if there are none.
func subcommands(reply []byte) map[string]bool {
	v, _, err := resp.Parse(reply)
	if err != nil || !v.IsAggregate() || len(v.Elems) != 1 || len(v.Elems[0].Elems) < 10 {
		return nil
	}
	subs := map[string]bool{}
	for _, sc := range v.Elems[0].Elems[9].Elems {
		if len(sc.Elems) > 0 {
			if _, name, ok := bytes.Cut(sc.Elems[0].Str, []byte("|")); ok {
				subs[string(bytes.ToLower(name))] = true
			}
		}
	}
	if len(subs) == 0 {
		return nil
	}
	return subs
}

type setinfoSupport uint8

const (
	setinfoPin     setinfoSupport = iota // any other reply (no permission…): the client pins
	setinfoOK                            // +OK: answered by the proxy
	setinfoUnknown                       // the node has no CLIENT SETINFO: it answers an error and changes nothing
)

var okReply = []byte("+OK\r\n")

// groupRefused: the node refused a shared connection's state (AUTH, HELLO 3
// or READONLY answered an error).
type groupRefused struct{ reply []byte }

func (e *groupRefused) Error() string {
	return "node refused the connection state: " + string(bytes.TrimRight(e.reply, "\r\n"))
}

// nodeSaid: the node answered a new connection with an error and closed it
// (at maxclients, before reading any command).
type nodeSaid struct{ reply []byte }

func (e *nodeSaid) Error() string { return string(bytes.TrimRight(e.reply, "\r\n")) }

// start puts a new shared connection in the state k and runs the state
// commands the proxy may answer, to learn the node's replies.
func start(nc net.Conn, k shareKey, timeout time.Duration) (*groupState, error) {
	var b []byte
	n := 0
	add := func(args ...string) {
		b = appendCommand(b, args...)
		n++
	}
	if k.user != "" {
		add("AUTH", k.user, k.pass)
	} else if k.pass != "" {
		add("AUTH", k.pass)
	}
	add("HELLO", strconv.Itoa(int(k.proto)))
	add("CLIENT", "SETNAME", "")
	add("CLIENT", "GETNAME")
	add("CLIENT", "SETINFO", "LIB-NAME", "redis-chaos")
	add("CLIENT", "ID")
	add("SELECT", "0")
	add("COMMAND", "INFO", "CLIENT")
	if k.readonly {
		add("READONLY")
	} else {
		add("READWRITE")
	}
	raws, err := roundTrip(nc, b, n, timeout)
	if err != nil {
		if len(raws) > 0 && isError(raws[0]) {
			return nil, &nodeSaid{raws[0]}
		}
		return nil, err
	}
	if k.authed() {
		if isError(raws[0]) {
			return nil, &groupRefused{raws[0]}
		}
		raws = raws[1:]
	}
	st := &groupState{}
	if hello := raws[0]; !isError(hello) {
		st.hello = hello
		st.findHelloFields()
	} else if k.proto == 3 {
		return nil, &groupRefused{hello}
	}
	st.setname = bytes.Equal(raws[1], okReply)
	st.getname = string(raws[2]) == string(nullReply(k.proto))
	switch r := raws[3]; {
	case bytes.Equal(r, okReply):
		st.setinfo = setinfoOK
	case len(r) > 24 && bytes.EqualFold(r[:24], []byte("-ERR unknown subcommand ")):
		st.setinfo = setinfoUnknown
	}
	st.setinfoReply = raws[3]
	if r := raws[4]; len(r) > 3 && r[0] == ':' {
		if id, err := strconv.ParseInt(string(r[1:len(r)-2]), 10, 64); err == nil {
			st.clientID, st.nodeID = true, id
		}
	}
	st.select0 = bytes.Equal(raws[5], okReply)
	st.clientSubs = subcommands(raws[6])
	st.readonlyCmd = bytes.Equal(raws[7], okReply)
	if k.readonly && !st.readonlyCmd {
		return nil, &groupRefused{raws[7]}
	}
	return st, nil
}

// findHelloFields finds the id and the role in the HELLO reply.
func (st *groupState) findHelloFields() {
	h := st.hello
	if i := bytes.Index(h, []byte("$2\r\nid\r\n:")); i >= 0 {
		st.idAt = i + len("$2\r\nid\r\n:")
		if j := bytes.Index(h[st.idAt:], []byte("\r\n")); j > 0 {
			st.idEnd = st.idAt + j
		}
	}
	if st.idEnd == 0 {
		st.hello = nil // not a reply the proxy can give with another id
		return
	}
	if i := bytes.Index(h, []byte("$4\r\nrole\r\n$")); i > st.idEnd {
		at := i + len("$4\r\nrole\r\n")
		if _, n, err := resp.Parse(h[at:]); err == nil {
			st.roleAt, st.roleEnd = at, at+n
		}
	}
}

// helloReply is the node's HELLO reply with the client's id, and the
// node's current role (it changes in a failover).
func (st *groupState) helloReply(id uint64, role string) []byte {
	h := st.hello
	out := make([]byte, 0, len(h)+16)
	out = append(out, h[:st.idAt]...)
	out = strconv.AppendUint(out, id, 10)
	if st.roleAt == 0 || role == "" {
		return append(out, h[st.idEnd:]...)
	}
	out = append(out, h[st.idEnd:st.roleAt]...)
	out = resp.Bulk(role).Append(out)
	return append(out, h[st.roleEnd:]...)
}

// nullReply is a null bulk string in protocol proto.
func nullReply(proto uint8) []byte {
	if proto == 3 {
		return []byte("_\r\n")
	}
	return []byte("$-1\r\n")
}

func isError(reply []byte) bool { return len(reply) > 0 && (reply[0] == '-' || reply[0] == '!') }

// appendCommand appends args as a RESP array of bulk strings.
func appendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// roundTrip writes b (n commands) to a connection nothing else uses yet and
// reads their n replies, each returned whole, within timeout.
func roundTrip(nc net.Conn, b []byte, n int, timeout time.Duration) ([][]byte, error) {
	nc.SetDeadline(time.Now().Add(timeout))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(b); err != nil {
		return nil, err
	}
	var rb replyBuf
	rb.buf = make([]byte, upstreamBufSize)
	out := make([][]byte, 0, n)
	for len(out) < n {
		if rb.start < rb.end {
			k, err := rb.sc.Scan(rb.buf[rb.start:rb.end])
			if err != nil {
				return nil, err
			}
			if k > 0 {
				out = append(out, bytes.Clone(rb.buf[rb.start:rb.start+k]))
				rb.start += k
				continue
			}
		}
		if _, err := rb.readFrom(nc); err != nil {
			return out, err // the replies read before: the node's error, then its close
		}
	}
	if rb.start < rb.end {
		return nil, errUnasked
	}
	return out, nil
}

// validName reports whether Redis takes b as a client name or library
// attribute: no spaces, newlines or other special characters.
func validName(b []byte) bool {
	for _, c := range b {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

// The client loop's side: the state of a client that shares, and the
// commands answered for it.

// shareState is the connection state the proxy keeps for a client that
// shares (the client loop's).
type shareState struct {
	key     shareKey
	name    string
	libName string
	libVer  string
}

// answerKind is what the client loop does with a state command of a
// client that shares.
type answerKind uint8

const (
	answerPin   answerKind = iota // pin the client, then forward the command
	answerLocal                   // the proxy answers it in the node's place
	answerShare                   // forward it on the shared connection (no state read or changed)
	answerEnd                     // the connection is ending
)

// answer decides what to do with a command of a client that shares which
// may not simply go on the shared connection, and gives the reply when
// the proxy answers it.
func (cl *clientSide) answer(e *entry, ci *CommandInfo, args [][]byte) (answerKind, []byte) {
	if ci == nil {
		return answerPin, nil
	}
	st := cl.shared.su.state // the client loop's own: no lock
	switch ci.Name {
	case "HELLO":
		return cl.hello(args)
	case "AUTH":
		k := cl.ss.key
		switch {
		case len(args) == 2:
			k.user, k.pass = "", string(args[1])
		case len(args) == 3 && len(args[1]) > 0:
			k.user, k.pass = string(args[1]), string(args[2])
		default:
			return answerPin, nil
		}
		if a, _ := cl.moveTo(k, nil); a != answerLocal {
			return a, nil
		}
		return answerLocal, okReply
	case "SELECT":
		if len(args) == 2 && string(args[1]) == "0" && st.select0 {
			return answerLocal, okReply
		}
	case "READONLY", "READWRITE":
		if len(args) != 1 {
			break
		}
		k := cl.ss.key
		k.readonly = ci.Name == "READONLY"
		a, _ := cl.moveTo(k, func(g *groupState) bool { return g.readonlyCmd })
		if a != answerLocal {
			return a, nil
		}
		return answerLocal, okReply
	case "CLIENT":
		if len(args) < 2 {
			break
		}
		sub := args[1]
		if st.clientSubs != nil && len(sub) <= 32 && !st.clientSubs[string(bytes.ToLower(sub))] {
			// A subcommand the node does not have: its error, from any
			// connection (go-redis sends CLIENT MAINT_NOTIFICATIONS, which
			// only recent nodes know).
			return answerShare, nil
		}
		switch {
		case eqFold(sub, "SETNAME") && len(args) == 3 && validName(args[2]) && st.setname:
			cl.ss.name = string(args[2])
			return answerLocal, okReply
		case eqFold(sub, "GETNAME") && len(args) == 2 && st.getname:
			if cl.ss.name == "" {
				return answerLocal, nullReply(cl.ss.key.proto)
			}
			return answerLocal, resp.Bulk(cl.ss.name).Append(nil)
		case eqFold(sub, "ID") && len(args) == 2 && st.clientID:
			return answerLocal, resp.Integer(int64(cl.proxyID())).Append(nil)
		case eqFold(sub, "SETINFO") && len(args) == 4:
			switch st.setinfo {
			case setinfoUnknown:
				return answerShare, nil
			case setinfoOK:
				if len(args[3]) == 0 || !validName(args[3]) {
					break
				}
				switch {
				case eqFold(args[2], "LIB-NAME"):
					cl.ss.libName = string(args[3])
				case eqFold(args[2], "LIB-VER"):
					cl.ss.libVer = string(args[3])
				default:
					return answerPin, nil
				}
				return answerLocal, okReply
			}
		case eqFold(sub, "LIST"):
			// The node lists the shared connection: the translation shows
			// the clients on it instead.
			e.xl = &idXlate{kind: xlList}
			return answerShare, nil
		}
	}
	return answerPin, nil
}

// hello answers HELLO [protover [AUTH user pass] [SETNAME name]].
func (cl *clientSide) hello(args [][]byte) (answerKind, []byte) {
	k := cl.ss.key
	var name []byte
	setname := false
	if len(args) >= 2 {
		switch string(args[1]) {
		case "2":
			k.proto = 2
		case "3":
			k.proto = 3
		default:
			return answerPin, nil // the node's error
		}
		for j := 2; j < len(args); j++ {
			more := len(args) - 1 - j
			switch {
			case eqFold(args[j], "AUTH") && more >= 2 && len(args[j+1]) > 0:
				k.user, k.pass = string(args[j+1]), string(args[j+2])
				j += 2
			case eqFold(args[j], "SETNAME") && more >= 1 && validName(args[j+1]):
				name, setname = args[j+1], true
				j++
			default:
				return answerPin, nil
			}
		}
	}
	a, st := cl.moveTo(k, func(g *groupState) bool { return g.hello != nil && (!setname || g.setname) })
	if a != answerLocal {
		return a, nil
	}
	if setname {
		cl.ss.name = string(name)
	}
	role := ""
	if t := cl.s.topo.Load(); t != nil {
		if n, ok := t.ByAddr(cl.nd.addr); ok {
			role = n.Role
		}
	}
	return answerLocal, st.helloReply(cl.proxyID(), role)
}

// moveTo moves the client to a shared connection in state k if accept
// (nil: any) takes what the node answered there, and returns its state;
// it reports answerPin if the node refuses the state or accept does not
// take it, answerEnd if the node cannot be reached or the connection ended.
func (cl *clientSide) moveTo(k shareKey, accept func(*groupState) bool) (answerKind, *groupState) {
	if accept == nil {
		accept = func(*groupState) bool { return true }
	}
	if !cl.send() {
		return answerEnd, nil
	}
	moved, err := cl.shared.regroup(k, accept)
	if err != nil {
		var gr *groupRefused
		if errors.As(err, &gr) {
			return answerPin, nil
		}
		var said *nodeSaid
		switch {
		case errors.As(err, &said):
			cl.push([]entry{{kind: entLocal, data: said.reply}, {kind: entClose}})
		case !errors.Is(err, net.ErrClosed):
			cl.s.metrics.upstreamErrors.WithLabelValues(cl.nd.addr, "dial").Inc()
			cl.s.log.Debug("shared upstream dial failed", "node", cl.nd.addr, "err", err)
			cl.push([]entry{{kind: entClose}})
		}
		return answerEnd, nil
	}
	if !moved {
		return answerPin, nil
	}
	cl.ss.key = k
	return answerLocal, cl.shared.su.state
}

// replay is what puts the client's own connection, when it pins, in the
// state the proxy kept for it: its commands and how many, the last one
// CLIENT ID (its id on the node, for the translations).
func (cl *clientSide) replay() ([]byte, int) {
	var b []byte
	n := 0
	add := func(args ...string) {
		b = appendCommand(b, args...)
		n++
	}
	k := cl.ss.key
	if k.user != "" {
		add("AUTH", k.user, k.pass)
	} else if k.pass != "" {
		add("AUTH", k.pass)
	}
	if k.proto == 3 {
		add("HELLO", "3")
	}
	if cl.ss.name != "" {
		add("CLIENT", "SETNAME", cl.ss.name)
	}
	if cl.ss.libName != "" {
		add("CLIENT", "SETINFO", "LIB-NAME", cl.ss.libName)
	}
	if cl.ss.libVer != "" {
		add("CLIENT", "SETINFO", "LIB-VER", cl.ss.libVer)
	}
	if k.readonly {
		add("READONLY")
	}
	add("CLIENT", "ID")
	return b, n
}

// firstError returns the first error reply among replies but the last
// (CLIENT ID: a user may not be allowed it, and the client has no use for
// it), as an error.
func firstError(replies [][]byte) error {
	for _, r := range replies[:len(replies)-1] {
		if isError(r) {
			return fmt.Errorf("node refused the client's connection state: %s", bytes.TrimRight(r, "\r\n"))
		}
	}
	return nil
}

// proxyIDBase is where the proxy's client ids start: far above any id a
// node gives (one per connection since it started), below 2^53 (clients in
// JavaScript read ids as doubles).
const proxyIDBase = 1_000_000_000_000

// proxyID is the client's id with a sharing proxy.
func (c *clientConn) proxyID() uint64 { return proxyIDBase + c.info.Load().ID }

func eqFold(b []byte, s string) bool { return len(b) == len(s) && bytes.EqualFold(b, []byte(s)) }
