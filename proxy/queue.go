package proxy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

type entryKind uint8

const (
	entUpstream entryKind = iota // the reply comes from an upstream connection
	entInjected                  // the reply is entry.data (a fault's)
	entLocal                     // the reply is entry.data: the proxy answers in the node's place (connection state, shared upstreams)
	entNone                      // no reply (RESP3 subscribe family: pushes only)
	entClose                     // close the connection once everything before is sent
)

// entry is what one reply (or a run of n replies) will be. The client loop
// makes it, the queue carries it, the reply loop answers it; it is never
// shared: each goroutine has its own copy.
type entry struct {
	kind   entryKind
	n      int32     // entUpstream: replies this entry stands for (consecutive plain commands merge)
	up     *upstream // entUpstream: nil means the primary upstream
	rw     topology.RewriteKind
	exec   []topology.RewriteKind // EXEC: the rewrite kinds of the queued commands
	xl     *idXlate               // client ids in the reply to translate (shared upstreams)
	unpair bool                   // replies stop being paired after this command (RESP2 pub/sub, MONITOR, CLIENT REPLY)
	repl   chan<- bool            // SYNC, PSYNC: told whether the node started a replication stream
	cmd    *CommandInfo
	start  time.Time
	data   []byte
	info   *ConnInfo
	fault  string
	slot   int // blocking commands, and every command when observing
	// recorded for the Observer only
	sub    string
	det    []cmdDetail // one per command (n of them), from the read's details
	queued int
}

// primary reports whether e waits for a reply of the primary upstream.
func (e *entry) primary() bool { return e.kind == entUpstream && e.up == nil }

// replies is how many commands e answers (an entClose answers none).
func (e *entry) replies() int64 {
	if e.kind == entClose {
		return 0
	}
	return int64(max(e.n, 1))
}

// queue is the FIFO of entries between a connection's two loops: the client
// loop pushes an entry for each command before it writes the command to a
// node (so a reply never arrives before its entry), the reply loop pops
// them in order. It is the only state the two loops share, and everything
// in it is under mu but delivered, which the reply loop alone writes.
//
// Invariants, under mu:
//   - items[head:] are the entries not yet popped, in push order;
//   - primary is the number of them that wait for the primary upstream;
//   - pushed is the number of commands pushed (written by push only);
//   - pushed minus delivered is what a new command finds outstanding;
//   - once unpaired, replies of the primary upstream are no longer matched
//     to entries (push wakes the reply loop for every entry).
type queue struct {
	mu       sync.Mutex
	items    []entry
	head     int
	primary  int
	pushed   int64
	unpaired bool
	// Commands whose replies reached the client's socket: stored by the
	// reply loop after each flush, read by the client loop.
	delivered atomic.Int64
}

// push appends entries (the client loop's batch, cleared after) and
// reports whether the reply loop must be woken: it may be blocked reading
// the primary upstream while an entry it can answer on its own waits.
func (q *queue) push(es []entry) (wake bool) {
	q.mu.Lock()
	for i := range es {
		e := &es[i]
		if e.primary() {
			q.primary++
		} else if q.primary == 0 || q.unpaired {
			wake = true
		}
		if e.kind != entClose {
			e.queued = int(q.pushed - q.delivered.Load())
			q.pushed += e.replies()
		}
		q.items = append(q.items, *e)
	}
	q.mu.Unlock()
	// Drop references held by the batch's backing array.
	clear(es)
	return wake
}

// pushedCount is the number of commands pushed. Only the client loop (the
// one writer) may call it without holding mu.
func (q *queue) pushedCount() int64 { return q.pushed }

// pop takes the entry at the head; it reports false if the queue is empty.
func (q *queue) pop() (entry, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
		return entry{}, false
	}
	e := &q.items[q.head]
	out := *e
	if e.primary() {
		q.primary--
	}
	*e = entry{}
	q.head++
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		q.items = q.items[:n]
		q.head = 0
	}
	return out, true
}

// unpair records that the primary upstream's replies are no longer paired
// with entries (the reply loop calls it once).
func (q *queue) unpair() {
	q.mu.Lock()
	q.unpaired = true
	q.mu.Unlock()
}

// abandon empties the queue when the connection closes and returns the
// entries whose commands will never get a reply.
func (q *queue) abandon() []entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []entry
	for i := q.head; i < len(q.items); i++ {
		if k := q.items[i].kind; k == entUpstream || k == entInjected || k == entLocal {
			out = append(out, q.items[i])
		}
	}
	q.items, q.head, q.primary = q.items[:0], 0, 0
	return out
}
