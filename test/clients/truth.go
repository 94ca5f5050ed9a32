package clients

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Event is one line of an app's wire log (the format is described in
// test/clients/go/internal/wire and shared by every app).
type Event struct {
	T    int64    `json:"t"` // µs since the Unix epoch
	C    int64    `json:"c"`
	K    string   `json:"k"`
	P    int      `json:"p"`
	A    []string `json:"a"`
	N    int      `json:"n"`
	R    string   `json:"r"`
	E    string   `json:"e"`
	V    string   `json:"v"`
	D    int64    `json:"d"`
	OK   *bool    `json:"ok"`
	Note string   `json:"note"`
	Th   int64    `json:"th"` // the sending thread, where the app has several per connection (Python)
}

// Summary is an app's own account of its run (every app writes the same
// fields).
type Summary struct {
	Library       string         `json:"library"`
	Version       string         `json:"version"`
	Config        string         `json:"config"`
	Desc          string         `json:"desc"`
	StartUS       int64          `json:"start_us"`
	EndUS         int64          `json:"end_us"`
	OpsOK         int64          `json:"ops_ok"`
	OpsFailed     int64          `json:"ops_failed"`
	Errors        map[string]int `json:"errors"`
	AppRetries    int64          `json:"app_retries"`
	Restarts      int64          `json:"restarts"`
	Mismatched    int64          `json:"mismatched"`
	Missing       int64          `json:"missing"`
	IncrSent      int64          `json:"incr_sent"`
	IncrAbove1    int64          `json:"incr_above_1"`
	Probes        int64          `json:"probes"`
	ProbeFailures int64          `json:"probe_failures"`
	BreakerOpenMS int64          `json:"breaker_open_ms"`
	MaxOpMS       int64          `json:"max_op_ms"`
	Stuck         int64          `json:"stuck"`
}

// ReadWire reads a wire log, sorted by time (stable).
func ReadWire(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var evs []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].T < evs[j].T })
	return evs, nil
}

// Window is the fault of a cell as the run played it.
type Window struct {
	Start, End  int64 // µs: the first fault's start, the hold's end (recovery starts)
	RecoverEnd  int64 // µs: the end of the recovery phase
	Nodes       int   // distinct nodes the faults touched
	Served      bool  // slots of the healthy shards kept being served (shard-down, coverage off)
	Uncovered   bool  // some slots were not served during the fault
	ClusterSize int
}

// Env is what the analysis needs besides the app's own records.
type Env struct {
	Window       Window
	ReplicaPorts map[int]bool // ports of the nodes that were replicas before the fault
	Dups         int          // INCR keys read back above 1 from the real cluster
	IncrKeys     int          // INCR keys read back
}

// Command is one command as the app wrote it, paired with its reply.
type Command struct {
	T     int64
	Th    int64
	Conn  int64
	Port  int
	Args  []string
	Reply *Event // nil: no reply read
	Index int    // position on its connection
}

// Conn is one connection the app opened.
type Conn struct {
	ID        int64
	Port      int
	Open      int64
	Close     int64  // 0: still open when the log ends
	By        string // app, eof, reset, rto (the app's read deadline)
	FirstRepl int64  // 0: no reply ever read
	Cmds      []*Command
}

// Wire is a wire log, organised.
type Wire struct {
	Conns    map[int64]*Conn
	Order    []*Conn
	Cmds     []*Command // in send order
	DialErrs []Event
	App      []Event // op, retry, restart, probe, breaker, mismatch, missing
}

// Organise pairs replies with commands (in order, per connection; RESP3
// pushes are out of band) and groups events by connection.
func Organise(evs []Event) *Wire {
	w := &Wire{Conns: map[int64]*Conn{}}
	pending := map[int64][]*Command{}
	for i := range evs {
		e := &evs[i]
		switch e.K {
		case "open":
			c := &Conn{ID: e.C, Port: e.P, Open: e.T}
			w.Conns[e.C] = c
			w.Order = append(w.Order, c)
		case "dialerr":
			w.DialErrs = append(w.DialErrs, *e)
		case "cmd":
			c := w.Conns[e.C]
			if c == nil || len(e.A) == 0 {
				continue
			}
			cmd := &Command{T: e.T, Th: e.Th, Conn: e.C, Port: c.Port, Args: e.A, Index: len(c.Cmds)}
			c.Cmds = append(c.Cmds, cmd)
			w.Cmds = append(w.Cmds, cmd)
			pending[e.C] = append(pending[e.C], cmd)
		case "rep":
			if e.R == ">" {
				continue
			}
			c := w.Conns[e.C]
			if c == nil {
				continue
			}
			if c.FirstRepl == 0 {
				c.FirstRepl = e.T
			}
			if q := pending[e.C]; len(q) > 0 {
				q[0].Reply = e
				pending[e.C] = q[1:]
			}
		case "close", "eof", "reset", "rto":
			c := w.Conns[e.C]
			if c == nil {
				continue
			}
			if e.K == "rto" {
				// The app's read deadline fired; the connection is closed
				// by the app right after (or reused, which the log shows).
				continue
			}
			if c.Close == 0 {
				c.Close, c.By = e.T, map[string]string{"close": "app", "eof": "eof", "reset": "reset"}[e.K]
			}
		default:
			w.App = append(w.App, *e)
		}
	}
	return w
}

// Name is a command's name with its subcommand for the commands that have
// one ("CLUSTER SLOTS").
func (c *Command) Name() string {
	n := strings.ToUpper(c.Args[0])
	switch n {
	case "CLUSTER", "CONFIG", "CLIENT", "SCRIPT", "FUNCTION", "DEBUG", "OBJECT", "MEMORY", "XINFO", "COMMAND":
		if len(c.Args) > 1 {
			n += " " + strings.ToUpper(c.Args[1])
		}
	}
	return n
}

// Key is the command's first key, for the single-key data commands the
// apps send.
func (c *Command) Key() (string, bool) {
	if len(c.Args) < 2 {
		return "", false
	}
	switch strings.ToUpper(c.Args[0]) {
	case "GET", "SET", "INCR", "INCRBY", "DECR", "DEL", "EXPIRE", "MGET", "LPUSH", "RPUSH", "XADD", "HSET", "HGET", "EXISTS", "TTL", "SETEX", "GETSET", "APPEND":
		return c.Args[1], true
	}
	return "", false
}

func (c *Command) identity() string { return strings.Join(c.Args, "\x00") }

func (c *Command) errLine() string {
	if c.Reply == nil || (c.Reply.R != "-" && c.Reply.R != "!") {
		return ""
	}
	return c.Reply.E
}

// Expectation is whether a rule should fire in a cell, and why.
type Expectation struct {
	Expected  bool   `json:"expected"`
	Undecided bool   `json:"undecided,omitempty"` // the definition does not settle it: not scored
	Why       string `json:"why"`
}

// Rules the matrix judges (the checker's catalogue).
var Rules = []string{
	"moved-ignored", "stale-slot-map", "ask-without-asking", "ask-updates-map",
	"topology-refresh-storm", "reconnect-storm", "no-backoff-retry", "no-command-timeout",
	"unsafe-retry", "health-check-fanout", "restart-on-single-fault", "full-coverage-required",
	"unbounded-pipeline", "write-to-replica", "crossslot", "select-nonzero",
	"dangerous-command", "reply-desync-risk",
}

// Derive decides, from what the app did, which rules a correct checker
// reports for the cell. Each rule's derivation is the rule's definition
// applied to the app's own records (docs/clients.md lists them).
func Derive(s *Summary, w *Wire, env Env) map[string]Expectation {
	out := map[string]Expectation{}
	set := func(rule string, ok bool, why string, args ...any) {
		out[rule] = Expectation{Expected: ok, Why: fmt.Sprintf(why, args...)}
	}
	// undecided marks a cell the rule's definition does not settle: it is
	// listed, not scored.
	undecided := func(rule, why string) {
		e := out[rule]
		e.Undecided, e.Why = true, e.Why+" ("+why+": not judged)"
		out[rule] = e
	}
	ignored, followed := movedFollow(w)
	quick := 0 // operations that failed with MOVED within 1 s of their start
	for _, e := range w.App {
		if e.K == "op" && e.E == "moved" && e.D < sec {
			quick++
		}
	}
	set("moved-ignored", ignored > 0 && quick > 0,
		"%d MOVED replies to a first attempt neither followed nor resent within 2 s, %d MOVED followed; %d operations failed with MOVED within 1 s of their start",
		ignored, followed, quick)

	n, why := staleMoved(w)
	set("stale-slot-map", n > 0, "%s", why)
	a, u := askFollow(w)
	set("ask-without-asking", a > 0, "%d ASK redirects resent to the target without ASKING", a)
	set("ask-updates-map", u > 0, "%d later commands for an ASKed slot sent straight to the ASK target", u)
	ok, why := refreshStorm(w, env)
	set("topology-refresh-storm", ok, "%s", why)
	rate, row, why := reconnectStorm(w)
	set("reconnect-storm", rate || row, "%s", why)
	if row && !rate {
		undecided("reconnect-storm", "only 5 failures in a row at short gaps, from several workers interleaved")
	}
	ok, why = noBackoff(w)
	set("no-backoff-retry", ok, "%s", why)
	wait, why := noTimeout(w, s)
	set("no-command-timeout", wait >= 10*time.Second, "%s", why)
	if wait >= 9500*time.Millisecond && wait < 10500*time.Millisecond {
		undecided("no-command-timeout", "within 0.5 s of the 10 s threshold")
	}
	r := unsafeResends(w)
	set("unsafe-retry", env.Dups > 0 || r > 0, "%d of %d INCR keys read back above 1; %d non-idempotent commands resent after an unknown outcome", env.Dups, env.IncrKeys, r)
	ok, why = fanout(w, env)
	set("health-check-fanout", ok, "%s", why)
	rs := restartsIn(w, env.Window)
	set("restart-on-single-fault", rs > 0 && env.Window.Nodes <= 1,
		"%d client rebuilds during the fault or its recovery; the fault touched %d node(s)", rs, env.Window.Nodes)
	ok, why = coverage(w, env)
	set("full-coverage-required", ok, "%s", why)
	ok, why = pipeline(w)
	set("unbounded-pipeline", ok, "%s", why)
	n = replicaWrites(w, env)
	set("write-to-replica", n > 0, "%d writes answered MOVED/READONLY by a node that was a replica", n)
	ok, why = crossSlot(w)
	set("crossslot", ok, "%s", why)
	n = selects(w)
	set("select-nonzero", n > 0, "%d SELECT of a non-zero database refused", n)
	n, why = dangerous(w)
	set("dangerous-command", n > 0, "%s", why)
	d, sh := desync(w)
	set("reply-desync-risk", s.Mismatched > 0 || d > 0 || sh > 0,
		"%d replies paired with the wrong request; %d connections used while their handshake reply was 500 ms late; %d connections written by two threads while a reply was outstanding",
		s.Mismatched, d, sh)
	return out
}

const (
	sec = int64(time.Second / time.Microsecond)
	ms  = int64(time.Millisecond / time.Microsecond)
)

func isTopology(c *Command) bool {
	switch c.Name() {
	case "CLUSTER SLOTS", "CLUSTER NODES", "CLUSTER SHARDS":
		return true
	}
	return false
}

// movedOf parses "MOVED 3999 127.0.0.1:7002" (or ASK).
func movedOf(errLine, kind string) (slot int, port int, ok bool) {
	f := strings.Fields(errLine)
	if len(f) != 3 || f[0] != kind {
		return 0, 0, false
	}
	s, err1 := strconv.Atoi(f[1])
	i := strings.LastIndexByte(f[2], ':')
	if err1 != nil || i < 0 {
		return 0, 0, false
	}
	p, err2 := strconv.Atoi(f[2][i+1:])
	return s, p, err2 == nil
}

// movedFollow counts the MOVED replies the app followed (a command for the
// slot, or the same command, sent to the named node within 2 s), and those
// it ignored: not followed nor resent anywhere within 2 s, though the MOVED
// answered the command's first attempt within 1 s. (A client that gives up
// after its redirect limit, reads a MOVED only after abandoning a command
// held by a hung node, or resends the command elsewhere, handles
// redirects; so does one whose deadline had passed when the MOVED came,
// which Derive tells from the operation's length.)
func movedFollow(w *Wire) (ignored, followed int) {
	f := followedMoved(w)
	sends := map[string][]int64{} // identity → send times, in order
	for _, c := range w.Cmds {
		sends[c.identity()] = append(sends[c.identity()], c.T)
	}
	resent := func(c *Command) bool {
		ts := sends[c.identity()]
		i := sort.Search(len(ts), func(i int) bool { return ts[i] > c.Reply.T })
		return i < len(ts) && ts[i] <= c.Reply.T+2*sec
	}
	seen := map[string]int64{} // identity → first send
	for _, c := range w.Cmds {
		id := c.identity()
		if _, ok := seen[id]; !ok {
			seen[id] = c.T
		}
		ok, moved := f[c]
		switch {
		case !moved:
		case ok:
			followed++
		case seen[id] == c.T && c.Reply.T-c.T <= sec && !resent(c):
			ignored++
		}
	}
	return ignored, followed
}

// followedMoved tells, for each command answered MOVED, whether the app
// followed it.
func followedMoved(w *Wire) map[*Command]bool {
	out := map[*Command]bool{}
	type target struct{ slot, port int }
	sent := map[target][]int64{} // commands by (slot, port), in time order
	same := map[string][]int64{} // identical command + port
	for _, c := range w.Cmds {
		if key, ok := c.Key(); ok {
			t := target{Slot(key), c.Port}
			sent[t] = append(sent[t], c.T)
		}
		id := c.identity() + "\x00" + strconv.Itoa(c.Port)
		same[id] = append(same[id], c.T)
	}
	within := func(ts []int64, a, b int64) bool {
		i := sort.Search(len(ts), func(i int) bool { return ts[i] > a })
		return i < len(ts) && ts[i] <= b
	}
	for _, c := range w.Cmds {
		slot, port, ok := movedOf(c.errLine(), "MOVED")
		if !ok {
			continue
		}
		t0 := c.Reply.T
		out[c] = within(sent[target{slot, port}], t0, t0+2*sec) || within(same[c.identity()+"\x00"+strconv.Itoa(port)], t0, t0+2*sec)
	}
	return out
}

// staleMoved: three MOVED for one slot from one node within 10 s of the
// first, each followed (a client that follows none ignores MOVED, which is
// another rule), with no topology read sent in between.
func staleMoved(w *Wire) (int, string) {
	type key struct{ slot, port int }
	var reads []int64
	for _, c := range w.Cmds {
		if isTopology(c) {
			reads = append(reads, c.T)
		}
	}
	readBetween := func(a, b int64) bool {
		i := sort.Search(len(reads), func(i int) bool { return reads[i] > a })
		return i < len(reads) && reads[i] < b
	}
	seen := map[key][]int64{}
	followed := followedMoved(w)
	for _, c := range w.Cmds {
		slot, _, ok := movedOf(c.errLine(), "MOVED")
		if !ok || !followed[c] {
			continue
		}
		k := key{slot, c.Port}
		seen[k] = append(seen[k], c.Reply.T)
	}
	n := 0
	for _, ts := range seen {
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		for i := 0; i+2 < len(ts); i++ {
			if ts[i+2]-ts[i] <= 10*sec && !readBetween(ts[i], ts[i+2]) {
				n++
				break
			}
		}
	}
	return n, fmt.Sprintf("%d slots got 3 followed MOVED from one node within 10 s without a topology read in between", n)
}

// askFollow counts ASK redirects resent to the target without ASKING just
// before them on that connection, and later commands for the ASKed slot
// sent to the target (not after ASKING, no MOVED to the target since,
// within 10 s).
func askFollow(w *Wire) (withoutAsking, updates int) {
	type ask struct {
		t       int64
		slot    int
		port    int
		id      string
		resent  bool
		counted bool
	}
	var asks []*ask
	movedTo := map[[2]int]int64{} // slot, port → latest MOVED pointing there
	prevAsking := func(c *Command) bool {
		conn := w.Conns[c.Conn]
		return c.Index > 0 && conn.Cmds[c.Index-1].Name() == "ASKING"
	}
	for _, c := range w.Cmds {
		if key, ok := c.Key(); ok {
			slot := Slot(key)
			for _, a := range asks {
				if a.slot != slot || a.port != c.Port || c.T <= a.t || c.T-a.t > 10*sec {
					continue
				}
				if !a.resent && c.identity() == a.id {
					a.resent = true
					if !prevAsking(c) {
						withoutAsking++
					}
					continue
				}
				if !prevAsking(c) && !a.counted && movedTo[[2]int{slot, c.Port}] < a.t {
					a.counted = true
					updates++
				}
			}
		}
		if slot, port, ok := movedOf(c.errLine(), "ASK"); ok {
			asks = append(asks, &ask{t: c.Reply.T, slot: slot, port: port, id: c.identity()})
		}
		if slot, port, ok := movedOf(c.errLine(), "MOVED"); ok {
			movedTo[[2]int{slot, port}] = c.Reply.T
		}
	}
	return withoutAsking, updates
}

// refreshStorm: more than 5 topology reads in some 10 s, or reads at least
// 0.8 × the errors the app met (error replies to data commands, failed
// dials, connections lost) with at least 5 errors, start-up excluded
// (until the first reply to a data command, 3 s at most).
func refreshStorm(w *Wire, env Env) (bool, string) {
	var start int64
	for _, c := range w.Cmds {
		if _, ok := c.Key(); ok && c.Reply != nil {
			start = c.Reply.T
			break
		}
	}
	if len(w.Order) > 0 && (start == 0 || start > w.Order[0].Open+3*sec) {
		start = w.Order[0].Open + 3*sec
	}
	var reads []int64
	for _, c := range w.Cmds {
		if isTopology(c) && c.T > start {
			reads = append(reads, c.T)
		}
	}
	maxIn := maxInWindow(reads, 10*sec)
	errs := 0
	for _, c := range w.Cmds {
		if _, keyed := c.Key(); keyed && c.errLine() != "" && c.T > start {
			errs++
		}
	}
	for _, e := range w.DialErrs {
		if e.T > start {
			errs++
		}
	}
	for _, c := range w.Order {
		if c.By == "eof" || c.By == "reset" {
			errs++
		}
	}
	ratio := errs >= 5 && float64(len(reads)) >= 0.8*float64(errs)
	return maxIn > 5 || ratio, fmt.Sprintf("%d topology reads after start-up (at most %d in 10 s), %d errors", len(reads), maxIn, errs)
}

// maxInWindow is the largest number of sorted times within one window.
func maxInWindow(ts []int64, win int64) int {
	best, j := 0, 0
	for i := range ts {
		for ts[i]-ts[j] > win {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// reconnectStorm: connections to one node that failed before any reply
// (the TCP connection accepted, then closed) at more than 5/s over 5 s, or
// 5 in a row at gaps under 500 ms that do not grow (the last at most twice
// the first). Refused dials are counted apart: the proxy cannot see them.
func reconnectStorm(w *Wire) (rate, row bool, why string) {
	fails := map[int][]int64{}
	for _, c := range w.Order {
		if c.Close != 0 && (c.FirstRepl == 0 || c.FirstRepl > c.Close) {
			fails[c.Port] = append(fails[c.Port], c.Open)
		}
	}
	for _, e := range w.DialErrs {
		if e.E == "timeout" {
			fails[e.P] = append(fails[e.P], e.T)
		}
	}
	refused := 0
	for _, e := range w.DialErrs {
		if e.E == "refused" {
			refused++
		}
	}
	most, port := 0, 0
	for p, ts := range fails {
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		m := maxInWindow(ts, 5*sec)
		if m > most {
			most, port = m, p
		}
		if m > 25 {
			rate = true
		}
		for i := 0; i+4 < len(ts) && !row; i++ {
			first, last, okGaps := ts[i+1]-ts[i], ts[i+4]-ts[i+3], true
			for k := i; k < i+4; k++ {
				if ts[k+1]-ts[k] >= 500*ms {
					okGaps = false
				}
			}
			if okGaps && last <= 2*max(first, ms) {
				row = true
			}
		}
	}
	return rate, row, fmt.Sprintf("at most %d failed connections in 5 s to one node (port %d); %d refused dials (not visible to a proxy)", most, port, refused)
}

// noBackoff: the identical command resent under 10 ms after CLUSTERDOWN,
// TRYAGAIN, LOADING or MASTERDOWN, more than 10 times in some second, and
// at least half of the resends after those errors.
func noBackoff(w *Wire) (bool, string) {
	byID := map[string][]*Command{}
	for _, c := range w.Cmds {
		byID[c.identity()] = append(byID[c.identity()], c)
	}
	var fast []int64
	all := 0
	for _, cs := range byID {
		for i, c := range cs {
			e := c.errLine()
			if !(strings.HasPrefix(e, "CLUSTERDOWN") || strings.HasPrefix(e, "TRYAGAIN") ||
				strings.HasPrefix(e, "LOADING") || strings.HasPrefix(e, "MASTERDOWN")) || i+1 >= len(cs) {
				continue
			}
			all++
			if cs[i+1].T-c.Reply.T < 10*ms {
				fast = append(fast, cs[i+1].T)
			}
		}
	}
	sort.Slice(fast, func(i, j int) bool { return fast[i] < fast[j] })
	m := maxInWindow(fast, sec)
	return m > 10 && 2*len(fast) >= all, fmt.Sprintf("%d of %d resends after CLUSTERDOWN/TRYAGAIN/LOADING/MASTERDOWN came within 10 ms (at most %d in 1 s)", len(fast), all, m)
}

var blocking = map[string]bool{"BLPOP": true, "BRPOP": true, "BLMOVE": true, "BRPOPLPUSH": true, "BZPOPMIN": true,
	"BZPOPMAX": true, "BLMPOP": true, "BZMPOP": true, "XREAD": true, "XREADGROUP": true, "WAIT": true, "WAITAOF": true,
	"SUBSCRIBE": true, "PSUBSCRIBE": true, "SSUBSCRIBE": true, "MONITOR": true}

// noTimeout: the app waited 10 s or more on one command. Both must hold:
// a command left without a reply for 10 s on a connection the app kept
// open for those 10 s (the wire), and an operation of the app that lasted
// 10 s (a library that gives up on a command after its own timeout, even
// keeping the connection, has a timeout). It returns the shorter of the
// two longest waits.
func noTimeout(w *Wire, s *Summary) (time.Duration, string) {
	var wire int64
	for _, c := range w.Cmds {
		if blocking[strings.ToUpper(c.Args[0])] {
			continue
		}
		end := s.EndUS
		if c.Reply != nil {
			end = min(end, c.Reply.T)
		}
		if conn := w.Conns[c.Conn]; conn.Close != 0 {
			end = min(end, conn.Close)
		}
		wire = max(wire, end-c.T)
	}
	var op int64
	for _, e := range w.App {
		if e.K == "op" {
			op = max(op, e.D)
		}
	}
	d := time.Duration(min(wire, op)) * time.Microsecond
	return d, fmt.Sprintf("longest wait for a reply on an open connection %.1f s; longest operation %.1f s",
		float64(wire)/float64(sec), float64(op)/float64(sec))
}

var nonIdempotent = map[string]bool{"INCR": true, "INCRBY": true, "INCRBYFLOAT": true, "DECR": true, "DECRBY": true,
	"LPUSH": true, "RPUSH": true, "LPOP": true, "RPOP": true, "XADD": true, "EVAL": true, "EVALSHA": true,
	"HINCRBY": true, "ZINCRBY": true, "APPEND": true, "SETRANGE": true, "FCALL": true}

// unsafeResends: a non-idempotent command without a reply (its connection
// lost or abandoned) and the identical command sent again within 5 s.
func unsafeResends(w *Wire) int {
	last := map[string]*Command{}
	n := 0
	for _, c := range w.Cmds {
		if !nonIdempotent[strings.ToUpper(c.Args[0])] {
			continue
		}
		id := c.identity()
		if p, ok := last[id]; ok && p.Reply == nil && c.T-p.T <= 5*sec {
			n++
		}
		last[id] = c
	}
	return n
}

// fanout: the app's own health check (not a library's keepalive) probed at
// least max(3, half the cluster's nodes) nodes at 1/s or more over 5 s.
func fanout(w *Wire, env Env) (bool, string) {
	probes := map[int][]int64{}
	for _, e := range w.App {
		if e.K == "probe" && e.Note == "" {
			probes[e.P] = append(probes[e.P], e.T)
		}
	}
	need := max(3, int(math.Ceil(0.5*float64(env.Window.ClusterSize))))
	// Slide a 5 s window over every probe time; count the nodes probed 5
	// times in it.
	var all []int64
	for _, ts := range probes {
		all = append(all, ts...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	best := 0
	for _, t0 := range all {
		nodes := 0
		for _, ts := range probes {
			k := 0
			for _, t := range ts {
				if t >= t0 && t < t0+5*sec {
					k++
				}
			}
			if k >= 5 {
				nodes++
			}
		}
		best = max(best, nodes)
		if best >= need {
			break
		}
	}
	return best >= need, fmt.Sprintf("the app's health check probed %d nodes at 1/s or more over 5 s (%d needed); %d nodes probed in all", best, need, len(probes))
}

func restartsIn(w *Wire, win Window) int {
	n := 0
	for _, e := range w.App {
		if e.K == "restart" && e.T >= win.Start && e.T <= win.RecoverEnd {
			n++
		}
	}
	return n
}

// coverage: while some slots were not served and the others were (one
// shard down, the cluster not requiring full coverage), the app sent no
// data command for 5 s, having sent at least 5 in the 5 s before.
func coverage(w *Wire, env Env) (bool, string) {
	win := env.Window
	if !win.Uncovered || !win.Served {
		return false, "no fault left some slots unserved while the others served"
	}
	var data []int64
	for _, c := range w.Cmds {
		if _, ok := c.Key(); ok {
			data = append(data, c.T)
		}
	}
	before := 0
	for _, t := range data {
		if t >= win.Start-5*sec && t < win.Start {
			before++
		}
	}
	gap, prev := int64(0), win.Start
	for _, t := range data {
		if t <= win.Start {
			continue
		}
		if t > win.End {
			break
		}
		gap = max(gap, t-prev)
		prev = t
	}
	gap = max(gap, win.End-prev)
	return before >= 5 && gap >= 5*sec, fmt.Sprintf("%d data commands in the 5 s before the fault; longest silence during it %.1f s", before, float64(gap)/float64(sec))
}

// pipeline: more than 1000 commands outstanding on one connection, or at
// least 100 sent within 200 ms of opening a connection that replaced one
// the peer dropped.
func pipeline(w *Wire) (bool, string) {
	most := 0
	for _, c := range w.Order {
		out := 0
		type ev struct {
			t int64
			d int
		}
		var evs []ev
		for _, cmd := range c.Cmds {
			evs = append(evs, ev{cmd.T, 1})
			if cmd.Reply != nil {
				evs = append(evs, ev{cmd.Reply.T, -1})
			}
		}
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].t < evs[j].t })
		for _, e := range evs {
			out += e.d
			most = max(most, out)
		}
	}
	burst := 0
	lost := map[int]int64{} // port → latest connection dropped by the peer
	for _, c := range w.Order {
		if t, ok := lost[c.Port]; ok && c.Open >= t {
			n := 0
			for _, cmd := range c.Cmds {
				if cmd.T-c.Open <= 200*ms {
					n++
				}
			}
			burst = max(burst, n)
		}
		if c.By == "eof" || c.By == "reset" {
			lost[c.Port] = c.Close
		}
	}
	return most > 1000 || burst >= 100, fmt.Sprintf("at most %d commands outstanding on one connection; at most %d sent in the first 200 ms of a reconnection", most, burst)
}

var writes = map[string]bool{"SET": true, "INCR": true, "INCRBY": true, "DECR": true, "DEL": true, "LPUSH": true,
	"RPUSH": true, "XADD": true, "HSET": true, "EXPIRE": true, "SETEX": true, "APPEND": true, "MSET": true}

func replicaWrites(w *Wire, env Env) int {
	n := 0
	for _, c := range w.Cmds {
		e := c.errLine()
		if writes[strings.ToUpper(c.Args[0])] && env.ReplicaPorts[c.Port] &&
			(strings.HasPrefix(e, "MOVED") || strings.HasPrefix(e, "READONLY")) {
			n++
		}
	}
	return n
}

func crossSlot(w *Wire) (bool, string) {
	var ts []int64
	for _, c := range w.Cmds {
		if strings.HasPrefix(c.errLine(), "CROSSSLOT") {
			ts = append(ts, c.Reply.T)
		}
	}
	m := maxInWindow(ts, 10*sec)
	return m >= 3, fmt.Sprintf("%d CROSSSLOT replies (at most %d in 10 s)", len(ts), m)
}

func selects(w *Wire) int {
	n := 0
	for _, c := range w.Cmds {
		if c.Name() == "SELECT" && len(c.Args) > 1 && c.Args[1] != "0" && c.errLine() != "" {
			n++
		}
	}
	return n
}

var dangerousCmds = map[string]bool{"KEYS": true, "FLUSHALL": true, "FLUSHDB": true, "CONFIG SET": true,
	"CONFIG REWRITE": true, "CONFIG RESETSTAT": true, "CLUSTER RESET": true, "CLUSTER FAILOVER": true,
	"CLUSTER FORGET": true, "CLUSTER SETSLOT": true, "CLUSTER ADDSLOTS": true, "CLUSTER DELSLOTS": true,
	"CLUSTER MEET": true, "SHUTDOWN": true, "MONITOR": true, "SWAPDB": true, "REPLICAOF": true,
	"SLAVEOF": true, "SCRIPT FLUSH": true, "FUNCTION FLUSH": true}

func dangerous(w *Wire) (int, string) {
	n := 0
	names := map[string]bool{}
	for _, c := range w.Cmds {
		name := c.Name()
		if dangerousCmds[name] || strings.HasPrefix(name, "DEBUG") {
			n++
			names[name] = true
		}
	}
	var l []string
	for k := range names {
		l = append(l, k)
	}
	sort.Strings(l)
	return n, fmt.Sprintf("%d administrative commands sent %v", n, l)
}

var handshake = map[string]bool{"HELLO": true, "AUTH": true, "PING": true, "CLIENT SETNAME": true,
	"CLIENT SETINFO": true, "SELECT": true, "READONLY": true}

// desync: a handshake command (among a connection's first 8) left
// unanswered for 500 ms or more, and a data command sent on that
// connection after those 500 ms, before the reply; and (apps that log the
// sending thread) a connection written by a second thread while the first
// one's reply was still outstanding: whichever reads first takes the
// other's reply.
func desync(w *Wire) (late, shared int) {
	for _, c := range w.Order {
		for i, h := range c.Cmds {
			if i >= 8 || !handshake[h.Name()] {
				continue
			}
			replyAt := int64(math.MaxInt64)
			if h.Reply != nil {
				replyAt = h.Reply.T
			}
			found := false
			for _, d := range c.Cmds[i+1:] {
				if _, ok := d.Key(); ok && d.T-h.T >= 500*ms && d.T < replyAt {
					found = true
					break
				}
			}
			if found {
				late++
				break
			}
		}
		for i, a := range c.Cmds {
			if a.Th == 0 || i+1 >= len(c.Cmds) {
				continue
			}
			b := c.Cmds[i+1]
			if b.Th != 0 && b.Th != a.Th && (a.Reply == nil || a.Reply.T > b.T) {
				shared++
				break
			}
		}
	}
	return late, shared
}

// Resends counts the data commands the app sent again, identical (every
// operation uses fresh keys and values, so a repeat is a retry, by the
// library or by the app).
func Resends(w *Wire) int {
	seen := map[string]bool{}
	n := 0
	for _, c := range w.Cmds {
		if _, ok := c.Key(); !ok {
			continue
		}
		id := c.identity()
		if seen[id] {
			n++
		}
		seen[id] = true
	}
	return n
}

// Slot is a key's cluster hash slot (CRC16/XMODEM of the key or its hash
// tag, mod 16384).
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}
