package proxy

import (
	"net"
	"time"
)

// ConnInfo identifies one client connection. The data path owns it: a Policy
// may read it during Command, and must copy what it keeps.
type ConnInfo struct {
	ID       uint64
	Node     string // real address of the node this port stands for
	NodeID   string // cluster node id of that node, when known
	Listen   string // proxy address the client connected to
	Client   net.Addr
	Name     string // CLIENT SETNAME
	LibName  string // CLIENT SETINFO LIB-NAME
	LibVer   string // CLIENT SETINFO LIB-VER
	RESP3    bool   // HELLO 3 seen
	Readonly bool   // READONLY seen
	Asking   bool   // the previous command was ASKING
	Since    time.Time
}

// Command is what a Policy sees of one client command. Args and Raw are valid
// only during the call.
type Command struct {
	Name string   // upper-case command name; "" for an unknown command
	Args [][]byte // the command and its arguments
	Raw  []byte   // the exact bytes the client sent
	Info *CommandInfo
	Slot int // hash slot of the first key, -1 for keyless commands
}

// ActionKind is what the data path does with a command.
type ActionKind uint8

// Actions a Policy can return.
const (
	Forward ActionKind = iota // send to the node (or to Action.Route)
	Reply                     // answer with Action.Reply instead of forwarding
	Hang                      // hold this and every later command until Action.Release is closed
	Close                     // reset the connection (RST) without a reply
)

// Action tells the data path what to do with one command.
type Action struct {
	Kind    ActionKind
	Reply   []byte          // Reply: raw RESP sent to the client in the command's place
	Delay   time.Duration   // wait before acting (latency)
	Release <-chan struct{} // Hang: closed when the node answers again
	Route   string          // Forward: real address of the node that runs the command; "" for the connection's own node
	Fault   string          // id of the fault that decided this, for metrics and events
}

// Policy decides the fate of each command. The proxy calls it on the data path
// for every command, so it must be fast when nothing applies (read an
// immutable snapshot; take no locks) and safe for concurrent use.
type Policy interface {
	Command(c *ConnInfo, cmd *Command) Action
}

// QuietPolicy is a Policy that can tell it has nothing to do: while Quiet
// reports true, Command would forward every command as it is, and the proxy
// does not call it (nor compute the slots it would need).
type QuietPolicy interface {
	Policy
	Quiet() bool
}

// EventType says what an Event records.
type EventType uint8

// Event types.
const (
	EventConnect EventType = iota + 1
	EventCommand           // a command and its outcome (Reply 0: none came before the connection closed)
	EventClose
	EventHeld // a command held by a Hang action: sent, and no reply while the node hangs
)

// Event is one observation of the data path, handed to an Observer.
type Event struct {
	Type    EventType
	Time    time.Time // command sent, or connect/close time
	Conn    ConnInfo
	Command string // upper-case name ("" for connect/close)
	Sub     string // upper-case subcommand for container commands (CLIENT, CLUSTER, CONFIG…)
	Key     string // first key, if any (values are never recorded)
	Slot    int    // -1 if keyless
	Hash    uint64 // hash of the command's exact bytes: equal hashes mean a resent command
	Args    int    // number of arguments
	Reply   byte   // first byte of the reply: '+', '-', ':', '$', '*', …; 0 if none (closed, hung)
	Err     string // error reply's first line without the '-' (e.g. "MOVED 3999 127.0.0.1:7002"), redacted of nothing secret
	Latency time.Duration
	Queued  int    // commands outstanding on the connection when this one was sent
	Fault   string // fault that decided the outcome, if any
	Reason  string // EventClose: why the connection ended
}

// Observer receives events. Observe must not block: an implementation that
// cannot keep up drops events and counts the drops.
type Observer interface {
	Observe(Event)
}

// Bulk is a run of commands one connection sent in one read, all of the same
// name and answered by the node without error, none rewritten and none
// touched by a fault: the n commands a pipeline of GETs amounts to.
type Bulk struct {
	Conn    *ConnInfo // read-only
	Command string
	Time    time.Time     // when the commands were read
	Latency time.Duration // until their replies were read
	N       int           // commands
	Keyed   int           // of which had a key
	Queued  int           // commands outstanding when the last one was sent
	Reply   byte          // first byte of the replies
}

// BulkObserver is an Observer that can take plain commands in bulk. When
// ObserveBulk returns false, the proxy reports the commands one by one with
// Observe instead (with their keys, hashes and slots), in order. The Bulk is
// valid only during the call.
type BulkObserver interface {
	Observer
	ObserveBulk(*Bulk) bool
}
