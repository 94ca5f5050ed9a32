package proxy

import (
	"bytes"
	"hash/maphash"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// What the Observer learns of commands. The client loop records the details
// of each read of commands (details) in arenas it reuses; the entries carry
// slices of them to the reply loop, which builds the Events (event) once the
// replies are in (see record.go).

// cmdDetail is what the Observer learns of one command beyond its entry.
// The details of one read are consecutive in an arena (detailArena).
type cmdDetail struct {
	key  []byte // first key, nil if keyless (in the connection's arena: copy to keep)
	hash uint64 // of the command's exact bytes
	slot int32  // -1 if keyless; slotLater if not computed yet
	args int32
}

var hashSeed = maphash.MakeSeed()

// slotLater marks a keyed command whose slot is computed only if needed
// (an event reported one by one): no Policy needed it.
const slotLater = -2

// details is the client loop's record of the commands it reads when an
// Observer is set. It belongs to the client loop; the reply loop reads the
// details of the entries it is given, never the arenas themselves.
type details struct {
	cis    []*CommandInfo // the last read's commands
	arenas [2]*detailArena
	arena  int // the one in use
}

// read looks up the commands of one read (into d.cis) and returns what the
// Observer learns of each: hash, argument count, first key, and the slot if
// withSlot (else for blocking commands only). pushed and delivered are the
// queue's counts, which tell which arena is free again.
func (d *details) read(names *commandCache, table *commandTable, cmds []resp.Command, withSlot bool, pushed, delivered int64) []cmdDetail {
	a := d.arenaFor(len(cmds), pushed, delivered)
	n := len(a.dets)
	a.dets = a.dets[:n+len(cmds)]
	dets := a.dets[n : n+len(cmds) : n+len(cmds)]
	d.cis = d.cis[:0]
	for i := range cmds {
		cmd := &cmds[i]
		var ci *CommandInfo
		if len(cmd.Args) > 0 {
			ci = names.lookup(table, cmd.Args[0])
		}
		d.cis = append(d.cis, ci)
		dt := &dets[i]
		*dt = cmdDetail{args: int32(len(cmd.Args)), hash: maphash.Bytes(hashSeed, cmd.Raw), slot: -1}
		if k := firstKey(ci, cmd.Args); k != nil {
			dt.key = a.keep(k)
			if withSlot || ci.Blocking {
				dt.slot = int32(topology.Slot(k))
			} else {
				dt.slot = slotLater
			}
		}
	}
	return dets
}

// A detailArena holds the details and keys of consecutive reads, so that
// observing costs no allocation per read. A connection has two and switches
// when one is full; a full one is written again only once every command it
// describes has been answered and delivered (the reply loop's delivered
// count reaches its fence): until then nothing of it is overwritten, and
// what an Event needs of it (the key) is copied.
type detailArena struct {
	dets  []cmdDetail
	keys  []byte
	fence int64 // commands pushed when it filled
}

const (
	arenaDetails    = 32
	arenaKeys       = 512
	maxArenaDetails = 4096 // a larger one (a huge pipeline) is not kept
)

// arenaFor returns an arena with room for n more details.
func (d *details) arenaFor(n int, pushed, delivered int64) *detailArena {
	a := d.arenas[d.arena]
	if a != nil && cap(a.dets)-len(a.dets) >= n {
		return a
	}
	if a != nil {
		a.fence = pushed // every command before this read is pushed
	}
	d.arena ^= 1
	b := d.arenas[d.arena]
	if b != nil && b.fence <= delivered && cap(b.dets) >= n && cap(b.dets) <= maxArenaDetails {
		b.dets, b.keys = b.dets[:0], b.keys[:0]
		return b
	}
	// Still in use (or too small): leave it to the garbage collector.
	b = &detailArena{dets: make([]cmdDetail, 0, max(n, arenaDetails)), keys: make([]byte, 0, arenaKeys)}
	d.arenas[d.arena] = b
	return b
}

// keep copies k into the arena (or, when it has no room, to the heap).
func (a *detailArena) keep(k []byte) []byte {
	if cap(a.keys)-len(a.keys) < len(k) {
		return bytes.Clone(k)
	}
	n := len(a.keys)
	a.keys = append(a.keys, k...)
	return a.keys[n:len(a.keys):len(a.keys)]
}

// subcommand is the upper-case subcommand of a container command, for the
// Observer.
func subcommand(ci *CommandInfo, args [][]byte) string {
	if ci == nil || len(args) < 2 {
		return ""
	}
	switch ci.Name {
	case "CLIENT", "CLUSTER", "CONFIG", "COMMAND", "SCRIPT", "FUNCTION", "OBJECT", "MEMORY", "XINFO", "ACL":
		return string(bytes.ToUpper(args[1]))
	}
	return ""
}

// event builds the Observer's record of e's command i. Any goroutine may
// call it: it reads only e and the connection's info snapshot.
func (c *clientConn) event(e *entry, i int, typ EventType, reply []byte) Event {
	info := e.info
	if info == nil {
		info = c.info.Load()
	}
	ev := Event{Type: typ, Time: e.start, Conn: *info, Sub: e.sub, Slot: -1,
		Queued: e.queued + i, Fault: e.fault}
	if i < len(e.det) {
		d := &e.det[i]
		ev.Key, ev.Slot, ev.Hash, ev.Args = string(d.key), int(d.slot), d.hash, int(d.args)
		if d.slot == slotLater {
			ev.Slot = topology.Slot(d.key)
		}
	}
	if e.cmd != nil {
		ev.Command = e.cmd.Name
	}
	if len(reply) > 0 {
		ev.Reply = reply[0]
	}
	if ev.Reply == '-' {
		line := reply[1:]
		if i := bytes.IndexByte(line, '\r'); i >= 0 {
			line = line[:i]
		}
		if len(line) > 200 {
			line = line[:200]
		}
		ev.Err = string(line)
	}
	return ev
}

func (s *Server) observe(ev Event) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.Observe(ev)
	}
}
