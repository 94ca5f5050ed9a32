package proxy

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// clientSide is the client loop's state: it reads the client's commands,
// asks the Policy about each, pushes their queue entries and writes the
// commands to the node. Its fields belong to the client loop; what it
// shares with the reply loop is in the embedded clientConn.
type clientSide struct {
	*clientConn
	rd    *resp.CommandReader
	read  readState
	batch []entry // entries of the commands in out, pushed before out is sent
	out   outBuf  // commands for the primary upstream, sent at the end of each read
	pc    Command // what the Policy sees: one per connection, reused (a fresh one handed to an interface would allocate)
	names commandCache
	obs   details // what the Observer learns of each read's commands

	sharing bool                 // commands still go on the shared upstream connection
	ss      shareState           // with shared upstreams: the connection state the proxy keeps for the client
	routes  map[string]*upstream // secondary upstreams (Action.Route), by real address

	// MULTI … EXEC: the rewrite kinds of the commands the node queued, so
	// that an address in any result of EXEC is rewritten too, and whether
	// one of them subscribes.
	inMulti   bool
	queued    []topology.RewriteKind
	queuedSub bool

	// The node accepted SYNC or PSYNC: the connection is a replication
	// stream, whose commands (REPLCONF ACK…) go to the node as they came,
	// with no entry, Policy or Observer.
	replica bool
}

// readState is what the client loop settles once per read of the client's
// commands (a pipeline read at once shares it).
type readState struct {
	table     *commandTable
	policy    Policy      // nil if none, or quiet
	tracking  bool        // a Policy is set (quiet or not): ConnInfo.Asking is kept up to date
	observing bool        // an Observer is set: every command's details are recorded
	start     time.Time   // when the read's commands were read (zero if nothing measures it)
	dets      []cmdDetail // observing: one per command of the read
	cmds      []resp.Command
	cur       int // the command being handled
}

// step is what the client loop does after a command's Action.
type step uint8

const (
	stepForward step = iota // forward the command
	stepNext                // the command is dealt with: on to the next
	stepStop                // the connection is ending
)

func newClientSide(c *clientConn) *clientSide {
	rd := resp.NewCommandReader(c.c)
	rd.MaxQuery = c.s.cfg.MaxQueryBuffer
	rd.MaxBulk = c.s.cfg.MaxBulk
	return &clientSide{clientConn: c, rd: rd, batch: make([]entry, 0, 64), sharing: c.shared != nil, ss: shareState{key: initialState}}
}

// run is the client loop: it reads commands from the client and forwards
// them until the client's input ends or the connection closes.
func (cl *clientSide) run() {
	for {
		cmds, err := cl.rd.Read()
		if err != nil {
			cl.readFailed(err)
			return
		}
		if !cl.replica {
			cl.startRead(cmds)
		}
		for i := range cmds {
			switch {
			case cl.replica:
				cl.out.add(cmds[i].Raw)
			case len(cmds[i].Args) == 0:
			case !cl.command(i, &cmds[i]):
				return
			}
		}
		if !cl.send() {
			return
		}
	}
}

// startRead settles the readState of one read.
func (cl *clientSide) startRead(cmds []resp.Command) {
	s, r := cl.s, &cl.read
	r.table = s.commands.Load()
	r.policy = s.cfg.Policy
	r.tracking = r.policy != nil
	if qp, ok := r.policy.(QuietPolicy); ok && qp.Quiet() {
		r.policy = nil
	}
	r.observing = s.cfg.Observer != nil
	// One clock read per read: every command of a pipeline read at once
	// shares its start time.
	r.start = time.Time{}
	if r.observing || r.policy != nil || s.metrics.timed {
		r.start = time.Now()
	}
	r.dets, r.cmds = nil, cmds
	if r.observing {
		r.dets = cl.obs.read(&cl.names, r.table, cmds, r.policy != nil, cl.q.pushedCount(), cl.q.delivered.Load())
	}
}

// command handles the read's command i. It reports false when the
// connection is ending.
func (cl *clientSide) command(i int, cmd *resp.Command) bool {
	r := &cl.read
	r.cur = i
	var ci *CommandInfo
	if r.observing {
		ci = cl.obs.cis[i]
	} else {
		ci = cl.names.lookup(r.table, cmd.Args[0])
	}
	e := entry{cmd: ci, rw: topology.RewriteKindOf(cmd.Args), info: cl.info.Load(), slot: -1, start: r.start}
	queued := cl.track(ci, cmd.Args, &e)
	if r.observing {
		e.det = r.dets[i : i+1]
		e.slot = int(r.dets[i].slot)
		e.sub = subcommand(ci, cmd.Args)
	} else if ci != nil && ci.Blocking {
		e.slot = slotOf(ci, cmd.Args)
	}
	route := ""
	if r.policy != nil {
		var st step
		if route, st = cl.ask(ci, cmd, &e); st != stepForward {
			return st == stepNext
		}
	} else if r.tracking {
		// A quiet Policy is not called, but must find Asking right when it
		// wakes.
		cl.trackAsking(ci, cl.info.Load())
	}
	if ci != nil && (ci.Name == "SYNC" || ci.Name == "PSYNC") && !cl.inMulti {
		// A replication stream comes from the connection's own node (a
		// replica serves one as well as its master), read by the reply
		// loop as it comes.
		started := make(chan bool, 1)
		e.repl = started
		if !cl.forward(&e, ci, cmd.Args, cmd.Raw) {
			return false
		}
		return !e.primary() || cl.awaitReplication(started)
	}
	if route != "" && route != cl.nd.addr {
		return cl.forwardTo(route, &e, cmd.Raw)
	}
	if queued {
		cl.queued = append(cl.queued, e.rw)
	}
	return cl.forward(&e, ci, cmd.Args, cmd.Raw)
}

// awaitReplication sends SYNC or PSYNC (the last command forwarded) and
// waits for the reply loop to see how the node answers it: with an error,
// the connection goes on as before; with a replication stream (an RDB
// payload, then the commands the node replicates), every later byte of the
// client goes to the node as it is, and the reply loop sends the stream on
// unparsed. It reports false when the connection is ending.
func (cl *clientSide) awaitReplication(started <-chan bool) bool {
	if !cl.send() {
		return false
	}
	select {
	case cl.replica = <-started:
		return true
	case <-cl.done:
		return false
	}
}

// ask calls the Policy and carries out its Action, up to forwarding: it
// returns where to forward the command ("" for the connection's own node).
func (cl *clientSide) ask(ci *CommandInfo, cmd *resp.Command, e *entry) (string, step) {
	pc := &cl.pc
	*pc = Command{Args: cmd.Args, Raw: cmd.Raw, Info: ci, Slot: -1}
	if ci != nil {
		pc.Name = ci.Name
		if cl.read.observing || ci.Blocking {
			pc.Slot = e.slot // computed once already
		} else {
			pc.Slot = slotOf(ci, cmd.Args)
		}
	}
	info := cl.info.Load()
	act := cl.read.policy.Command(info, pc)
	cl.trackAsking(ci, info)
	if act.Kind == Forward && act.Delay == 0 && act.Route == "" {
		return "", stepForward
	}
	// Send what is queued before waiting or answering.
	if !cl.send() {
		return "", stepStop
	}
	e.fault = act.Fault
	// A delay counts from when the command was read: the commands of one
	// read (a pipeline) are delayed together, as by a slow network, not
	// one after another.
	if d := act.Delay; d > 0 {
		if !cl.read.start.IsZero() {
			d = time.Until(cl.read.start.Add(d))
		}
		if d > 0 && !cl.sleep(d) {
			return "", stepStop
		}
	}
	switch act.Kind {
	case Reply:
		e.kind, e.data = entInjected, act.Reply
		cl.batch = append(cl.batch, *e)
		return "", stepNext
	case Close:
		cl.reset("fault: " + act.Fault)
		return "", stepStop
	case Hang:
		if !cl.hold(e, act.Release) {
			return "", stepStop
		}
	}
	return act.Route, stepForward
}

// forward sends a command to the primary upstream: its entry joins the
// batch (merged with the one before when it can be), its bytes join out.
func (cl *clientSide) forward(e *entry, ci *CommandInfo, args [][]byte, raw []byte) bool {
	if cl.shared != nil {
		var done, ok bool
		if raw, done, ok = cl.connState(e, ci, args, raw); done {
			return ok
		}
	} else if ci != nil && ci.Name == "CLIENT" {
		raw = cl.translate(e, ci, args, raw)
	}
	e.n = 1
	if k := len(cl.batch) - 1; k >= 0 && mergeable(&cl.batch[k], e) {
		prev := &cl.batch[k]
		prev.n++
		if e.det != nil {
			prev.det = prev.det[:len(prev.det)+1]
		}
	} else {
		cl.batch = append(cl.batch, *e)
	}
	if len(raw) >= 64<<10 {
		// A large command goes out as it is, without a copy.
		if !cl.send() {
			return false
		}
		if err := cl.writeUp(raw, 1); err != nil {
			cl.close("upstream write: " + err.Error())
			return false
		}
		return true
	}
	cl.out.add(raw)
	if cl.out.size() >= 64<<10 {
		return cl.send()
	}
	return true
}

// forwardTo sends a command to another node (Action.Route), whose reply
// the reply loop reads in the command's turn.
func (cl *clientSide) forwardTo(addr string, e *entry, raw []byte) bool {
	u, err := cl.route(addr)
	if err != nil {
		cl.s.metrics.upstreamErrors.WithLabelValues(addr, "dial").Inc()
		cl.reset("route to " + addr + " failed")
		return false
	}
	e.up = u
	if !cl.send() {
		return false
	}
	cl.batch = append(cl.batch, *e)
	cl.push(cl.batch)
	cl.batch = cl.batch[:0]
	if _, err := u.c.Write(raw); err != nil {
		cl.reset("write to " + addr + " failed")
		return false
	}
	return true
}

// mergeable reports whether e can be answered as part of prev: both plain
// commands of the same name for the primary upstream, nothing to rewrite,
// no fault; when observing, the next command of the same read (its details
// follow prev's in the read's array).
func mergeable(prev, e *entry) bool {
	if !(prev.kind == entUpstream && e.kind == entUpstream && prev.up == nil && e.up == nil &&
		prev.rw == topology.KindNone && e.rw == topology.KindNone && !prev.unpair && !e.unpair &&
		prev.exec == nil && e.exec == nil && prev.xl == nil && e.xl == nil && prev.fault == "" && e.fault == "" && e.repl == nil &&
		prev.cmd == e.cmd && prev.start == e.start && prev.info == e.info && prev.n < 1<<30 &&
		(e.cmd == nil || !e.cmd.Blocking) && prev.sub == e.sub) {
		return false
	}
	if e.det == nil || prev.det == nil {
		return e.det == nil && prev.det == nil
	}
	n := len(prev.det)
	return n < cap(prev.det) && &prev.det[:n+1][n] == &e.det[0]
}

// send pushes the batch's entries, then writes out's commands upstream.
// The entries go first so that a reply never arrives before its entry.
func (cl *clientSide) send() bool {
	if len(cl.batch) > 0 {
		cl.push(cl.batch)
		cl.batch = cl.batch[:0]
	}
	if cl.out.size() == 0 {
		return true
	}
	err := cl.writeUp(cl.out.bytes(), cl.out.n)
	cl.out.reset()
	if err != nil {
		cl.s.metrics.upstreamErrors.WithLabelValues(cl.nd.addr, "write").Inc()
		cl.close("upstream write: " + err.Error())
		return false
	}
	return true
}

// writeUp writes n commands to the primary upstream.
func (cl *clientSide) writeUp(b []byte, n int) error {
	if cl.shared != nil {
		return cl.shared.send(b, n)
	}
	_, err := cl.up.c.Write(b)
	return err
}

// connState handles a command of a client of a sharing proxy that may read
// or change its connection state: answered by the proxy (done), or to be
// forwarded on the client's shared connection or, once pinned, on its own,
// with the translations of ids its reply may need (and the command as the
// node must get it: see translate). ok is false when the connection is
// ending.
func (cl *clientSide) connState(e *entry, ci *CommandInfo, args [][]byte, raw []byte) (out []byte, done, ok bool) {
	if cl.sharing {
		if sharable(ci, args, raw) {
			return raw, false, true
		}
		switch a, reply := cl.answer(e, ci, args); a {
		case answerLocal:
			e.kind, e.data = entLocal, reply
			cl.batch = append(cl.batch, *e)
			return raw, true, true
		case answerShare:
			return raw, false, true
		case answerEnd:
			return raw, true, false
		}
		if !cl.send() || !cl.pin() {
			return raw, true, false
		}
	}
	return cl.translate(e, ci, args, raw), false, true
}

// pin moves a client that shares its upstream to its own connection, before
// its first command that may not be shared (see sharable). It reports false
// if the connection is ending: when the own connection cannot be dialed,
// the client gets the replies before and then a close, as when a node drops
// a connection; when the shared connection failed (or the client closed),
// the reply loop ends the connection after the replies it has.
func (cl *clientSide) pin() bool {
	b, n := cl.replay()
	replies, err := cl.shared.pin(func() (net.Conn, error) { return cl.s.dialNode(cl.nd.addr) }, b, n)
	if err == nil {
		if r := replies[len(replies)-1]; len(r) > 3 && r[0] == ':' {
			if id, err := strconv.ParseInt(string(r[1:len(r)-2]), 10, 64); err == nil {
				cl.ownID.Store(id)
			}
		}
		if own := cl.shared.pinned(); own != nil {
			a := own.LocalAddr().String()
			cl.upAddr.Store(&a)
		}
		cl.sharing = false
		cl.s.metrics.upstreams.WithLabelValues(cl.nd.addr, "own").Inc()
		return true
	}
	var de *pinDialError
	if errors.As(err, &de) {
		cl.s.metrics.upstreamErrors.WithLabelValues(cl.nd.addr, "dial").Inc()
		cl.s.log.Debug("upstream dial failed", "node", cl.nd.addr, "err", err)
		cl.push([]entry{{kind: entClose}})
	}
	return false
}

// route returns the connection to another node, dialed at first use.
func (cl *clientSide) route(addr string) (*upstream, error) {
	if u, ok := cl.routes[addr]; ok {
		return u, nil
	}
	nc, err := cl.s.dialNode(addr)
	if err != nil {
		return nil, err
	}
	if !cl.ups.add(nc) {
		return nil, net.ErrClosed
	}
	u := newUpstream(addr, nc)
	if cl.routes == nil {
		cl.routes = map[string]*upstream{}
	}
	cl.routes[addr] = u
	return u, nil
}

func (cl *clientSide) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-cl.done:
		return false
	}
}

// readFailed handles the end of the client's input.
func (cl *clientSide) readFailed(err error) {
	var ne net.Error
	switch {
	case cl.replica:
		// A replication stream has no replies in flight to deliver first.
		cl.close("replica closed: " + err.Error())
	case errors.As(err, &ne) && ne.Timeout() && cl.draining.Load():
		// Shutdown: stop reading, deliver what is in flight, then close.
		cl.push([]entry{{kind: entClose}})
	case errors.Is(err, resp.ErrQueryBuffer):
		cl.s.log.Warn("client closed: query buffer limit", "client", cl.info.Load().Client, "limit", cl.s.cfg.MaxQueryBuffer)
		cl.close("query buffer limit exceeded")
	case errors.Is(err, resp.ErrProtocol):
		// As Redis: an error reply after everything before it, then close.
		cl.push([]entry{{kind: entInjected, data: []byte("-ERR " + err.Error() + "\r\n")}, {kind: entClose}})
	default:
		// The client went away (or reset): Redis frees such a client at once.
		cl.close("client closed")
	}
}

// track follows the commands that change how replies must be handled. It
// reports whether the node queues the command for EXEC, when it gets it:
// in MULTI, every command but those Redis runs at once.
func (cl *clientSide) track(ci *CommandInfo, args [][]byte, e *entry) (queued bool) {
	if ci == nil {
		return cl.inMulti
	}
	// MULTI and DISCARD with arguments are refused (wrong number of
	// arguments) and change nothing; EXEC ends the transaction whatever
	// its arguments (refused, it aborts it).
	switch ci.Name {
	case "MULTI":
		if len(args) == 1 && !cl.inMulti { // a nested MULTI is refused: the transaction goes on
			cl.inMulti, cl.queued, cl.queuedSub = true, cl.queued[:0], false
		}
		return false
	case "EXEC":
		if cl.inMulti {
			e.exec = append([]topology.RewriteKind(nil), cl.queued...)
			e.unpair = cl.queuedSub && !cl.info.Load().RESP3 // RESP2 pub/sub from then on
			cl.inMulti = false
		}
		return false
	case "DISCARD":
		if len(args) == 1 {
			cl.inMulti = false
		}
		return false
	case "RESET":
		cl.inMulti = false
		return false
	case "WATCH", "QUIT":
		return false
	}
	if cl.inMulti {
		// The node runs it at EXEC: what it changes then is EXEC's.
		if ci.PubSub && ci.Name != "PUBLISH" && ci.Name != "SPUBLISH" {
			cl.queuedSub = true
		}
		return true
	}
	switch ci.Name {
	case "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE":
		if cl.info.Load().RESP3 {
			e.kind = entNone // RESP3: confirmations arrive as pushes
		} else {
			e.unpair = true
		}
	case "MONITOR":
		e.unpair = true
	case "HELLO":
		if len(args) > 1 {
			cl.update(func(ni *ConnInfo) {
				ni.RESP3 = string(args[1]) == "3"
				for j := 2; j+1 < len(args); j++ {
					if bytes.EqualFold(args[j], []byte("SETNAME")) {
						ni.Name = string(args[j+1])
					}
				}
			})
		}
	case "READONLY", "READWRITE":
		cl.update(func(ni *ConnInfo) { ni.Readonly = ci.Name == "READONLY" })
	case "CLIENT":
		if len(args) < 3 {
			return
		}
		switch {
		case bytes.EqualFold(args[1], []byte("SETNAME")):
			cl.update(func(ni *ConnInfo) { ni.Name = string(args[2]) })
		case bytes.EqualFold(args[1], []byte("SETINFO")) && len(args) > 3:
			cl.update(func(ni *ConnInfo) {
				switch {
				case bytes.EqualFold(args[2], []byte("LIB-NAME")):
					ni.LibName = string(args[3])
				case bytes.EqualFold(args[2], []byte("LIB-VER")):
					ni.LibVer = string(args[3])
				}
			})
		case bytes.EqualFold(args[1], []byte("REPLY")):
			e.unpair = true
		}
	}
	return false
}

// trackAsking records whether the command is ASKING, which holds for
// exactly the next command, as in Redis.
func (cl *clientSide) trackAsking(ci *CommandInfo, info *ConnInfo) {
	if asking := ci != nil && ci.Name == "ASKING"; asking != info.Asking {
		cl.update(func(ni *ConnInfo) { ni.Asking = asking })
	}
}

// update replaces the connection's info snapshot with a modified copy.
func (cl *clientSide) update(f func(*ConnInfo)) {
	ni := *cl.info.Load()
	f(&ni)
	cl.info.Store(&ni)
}

// commandCache remembers the last command looked up: a pipeline is mostly
// the same command again.
type commandCache struct {
	table *commandTable
	name  [16]byte
	n     uint8
	ci    *CommandInfo
}

// lookup finds a command by name in table.
func (cc *commandCache) lookup(table *commandTable, name []byte) *CommandInfo {
	if table == cc.table && len(name) == int(cc.n) && bytes.Equal(name, cc.name[:cc.n]) {
		return cc.ci
	}
	ci := table.lookup(name)
	if len(name) <= len(cc.name) {
		cc.table, cc.n, cc.ci = table, uint8(len(name)), ci
		copy(cc.name[:], name)
	}
	return ci
}
