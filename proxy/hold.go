package proxy

import (
	"bytes"
	"hash/maphash"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// holdPoll is how often a held connection's socket is looked at.
const holdPoll = 50 * time.Millisecond

// hold waits for a hang's release. The node does not answer, but the client
// goes on: it may write more commands, or give up and close the connection.
// hold watches the client's socket without reading it (holdPoll), so that
// the Observer learns of every command the client sent behind the held one
// (as held: those of the same read at once, later ones when they arrive)
// and of a client that closes: the connection then ends, as a node frees a
// client that has gone, and the held commands are dropped (the node never
// had them). It reports false when the connection is ending.
func (cl *clientSide) hold(e *entry, release <-chan struct{}) bool {
	r := &cl.read
	var w *hangWatch
	var tick <-chan time.Time
	held := 0 // commands reported as held
	if w = newHangWatch(cl.c); w != nil {
		t := time.NewTicker(holdPoll)
		defer t.Stop()
		tick = t.C
	}
	if r.observing {
		cl.s.observe(cl.event(e, 0, EventHeld, nil))
		held++
		for j := r.cur + 1; j < len(r.cmds); j++ {
			if len(r.cmds[j].Args) > 0 {
				cl.observeHeld(&r.cmds[j], r.start, held)
				held++
			}
		}
	}
	arrived := 0 // commands seen in the socket so far
	for {
		select {
		case <-release:
			return true
		case <-cl.done:
			return false
		case <-tick:
			pending, closed := w.peek()
			if r.observing {
				arrived = cl.observeArrived(pending, arrived, held)
			}
			if closed {
				cl.close("client closed")
				return false
			}
		}
	}
}

// observeArrived reports as held the complete commands in the bytes the
// client sent while its connection was held (after what the client loop
// has read: its incomplete command's start comes first), beyond the first
// seen of them. It returns how many it has seen.
func (cl *clientSide) observeArrived(pending []byte, seen, held int) int {
	partial := cl.rd.Pending()
	if len(pending) == 0 && len(partial) == 0 {
		return seen
	}
	in := append(append(make([]byte, 0, len(partial)+len(pending)), partial...), pending...)
	rd := resp.NewCommandReader(bytes.NewReader(in))
	n := 0
	now := time.Now()
	for {
		cmds, err := rd.Read()
		if err != nil {
			return max(n, seen)
		}
		for i := range cmds {
			if len(cmds[i].Args) == 0 {
				continue
			}
			if n >= seen {
				cl.observeHeld(&cmds[i], now, held+n)
			}
			n++
		}
	}
}

// observeHeld reports a command the client sent behind a held one.
func (cl *clientSide) observeHeld(cmd *resp.Command, sent time.Time, queued int) {
	ci := cl.names.lookup(cl.read.table, cmd.Args[0])
	d := cmdDetail{args: int32(len(cmd.Args)), hash: maphash.Bytes(hashSeed, cmd.Raw), slot: -1}
	if k := firstKey(ci, cmd.Args); k != nil {
		d.key, d.slot = k, int32(topology.Slot(k))
	}
	e := entry{cmd: ci, info: cl.info.Load(), start: sent, sub: subcommand(ci, cmd.Args), det: []cmdDetail{d}, queued: queued}
	cl.s.observe(cl.event(&e, 0, EventHeld, nil))
}
