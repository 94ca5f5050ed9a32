package proxy

import "time"

// What the reply loop records of each answered command: its count and
// latency in the metrics, and its Event (or its share of a Bulk) for the
// Observer.

type statKey struct {
	cmd     *CommandInfo
	outcome uint8
}

type localStat struct {
	cc *cmdCounters
	n  float64
}

var outcomes = [...]string{"ok", "error", "injected"}

// stat returns the connection's count of one command and outcome.
func (r *replySide) stat(ci *CommandInfo, outcome uint8) *localStat {
	key := statKey{ci, outcome}
	if r.lastStat != nil && r.lastKey == key {
		return r.lastStat
	}
	defer func() { r.lastKey, r.lastStat = key, r.stats[key] }()
	ls := r.stats[key]
	if ls == nil {
		name := "other"
		if ci != nil {
			name = ci.Name
		}
		if r.stats == nil {
			r.stats = map[statKey]*localStat{}
		}
		ls = &localStat{cc: r.s.metrics.counters(r.nd.addr, name, outcomes[outcome])}
		r.stats[key] = ls
	}
	return ls
}

// flushStats adds the connection's counts to the shared counters.
func (r *replySide) flushStats() {
	r.lat.flush(r.nodeLat)
	for _, ls := range r.dirty {
		ls.cc.count.Add(ls.n)
		ls.n = 0
	}
	r.dirty = r.dirty[:0]
}

// count adds one reply to a command's count and, if lat > 0 and latency is
// measured, to the latency histogram (both flushed by flushStats).
func (r *replySide) count(ls *localStat, lat time.Duration) {
	if ls.n == 0 {
		r.dirty = append(r.dirty, ls)
	}
	ls.n++
	if lat > 0 && r.s.metrics.timed {
		r.lat.observe(lat, 1)
	}
}

// countOK records one plain reply of the current entry on the fast path
// (no Observer).
func (r *replySide) countOK() {
	ls := r.cur.stat
	if ls == nil {
		ls = r.stat(r.cur.cmd, 0)
		r.cur.stat = ls
	}
	var lat time.Duration
	if r.s.metrics.timed && !r.cur.start.IsZero() {
		lat = r.replyNow.Sub(r.cur.start)
	}
	r.count(ls, lat)
	r.doneOne()
}

// countBulk counts one plain reply of the current entry for the
// BulkObserver.
func (r *replySide) countBulk(first byte) {
	b := &r.counted
	if b.n > 0 && b.reply != first {
		r.flushBulk()
	}
	if b.n == 0 {
		b.first, b.reply = r.curIndex(), first
	}
	b.n++
	r.countOK()
}

// flushBulk reports the counted replies of the current entry: in bulk if
// the Observer takes them so, else one by one.
func (r *replySide) flushBulk() {
	n := r.counted.n
	if n == 0 {
		return
	}
	r.counted.n = 0
	e := &r.cur.entry
	first, reply := r.counted.first, r.counted.reply
	if first+n > len(e.det) || e.info == nil {
		return // cannot happen: bulk entries carry one detail per command
	}
	lat := r.latency(e)
	b := &r.bulkRec
	*b = Bulk{Conn: e.info, Time: e.start, Latency: lat, N: n, Queued: e.queued + first + n - 1, Reply: reply}
	if e.cmd != nil {
		b.Command = e.cmd.Name
	}
	for i := first; i < first+n; i++ {
		if e.det[i].slot != -1 { // keyed (slotLater: not computed)
			b.Keyed++
		}
	}
	if r.s.bulk.ObserveBulk(b) {
		return
	}
	for i := first; i < first+n; i++ {
		ev := r.event(e, i, EventCommand, nil)
		ev.Reply, ev.Latency = reply, lat
		r.s.observe(ev)
	}
}

// latency is the time from e's read to the reply just read.
func (r *replySide) latency(e *entry) time.Duration {
	if e.start.IsZero() {
		return 0
	}
	now := r.replyNow
	if now.Before(e.start) {
		now = time.Now()
	}
	return now.Sub(e.start)
}

// finish records a completed command (e's command i) in metrics and events.
func (r *replySide) finish(e *entry, i int, reply []byte) {
	var outcome uint8 // ok
	var first byte
	if len(reply) > 0 {
		first = reply[0]
	}
	switch {
	case e.kind == entInjected:
		outcome = 2
	case first == '-' || first == '!':
		outcome = 1
	}
	lat := r.latency(e)
	r.count(r.stat(e.cmd, outcome), lat)
	if r.s.cfg.Observer == nil || e.info == nil {
		return
	}
	ev := r.event(e, i, EventCommand, reply)
	ev.Latency = lat
	r.s.observe(ev)
}

// reportCurrent reports the current entry's unanswered commands when the
// reply loop ends.
func (r *replySide) reportCurrent() {
	if r.cur.left == 0 || r.s.cfg.Observer == nil {
		return
	}
	r.flushBulk()
	for i := r.curIndex(); i < max(int(r.cur.n), 1); i++ {
		ev := r.event(&r.cur.entry, i, EventCommand, nil)
		ev.Reason = "no reply: connection closed"
		r.s.observe(ev)
	}
}
