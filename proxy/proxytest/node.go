package proxytest

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tidwall/redcon"
)

// Node is one in-memory node.
type Node struct {
	ID   string // 40 hex digits, as CLUSTER MYID
	Addr string // 127.0.0.1:port, where it listens
	Port int

	cluster *Cluster
	master  *Node  // nil for a master
	data    *store // a replica shares its master's
	ln      net.Listener
	wg      sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	conns    map[*Conn]struct{}
	handlers map[string]Handler
	log      []Command
	nextID   int64
}

// Command is one command as a node received it.
type Command struct {
	Conn int64 // the id of the node's connection it came on (CLIENT ID)
	Args []string
}

// A Handler answers a command in the node's place, with what it writes to
// c. It returns false to let the node run the command after all (it must
// then have written nothing). It runs on the connection's goroutine: the
// connection reads nothing more until it returns.
type Handler func(c *Conn, args []string) bool

func newNode(c *Cluster, ln net.Listener, id string, master *Node) *Node {
	addr := ln.Addr().(*net.TCPAddr)
	n := &Node{ID: id, Addr: addr.String(), Port: addr.Port, cluster: c, master: master, ln: ln,
		conns: map[*Conn]struct{}{}, handlers: map[string]Handler{}}
	if master != nil {
		n.data = master.data
	} else {
		n.data = newStore()
	}
	return n
}

// Master returns the master of a replica, nil for a master.
func (n *Node) Master() *Node { return n.master }

// Handle makes h answer the commands named name (any case) from now on; a
// nil h removes the handler.
func (n *Node) Handle(name string, h Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	name = strings.ToUpper(name)
	if h == nil {
		delete(n.handlers, name)
	} else {
		n.handlers[name] = h
	}
}

// Commands returns every command the node received, in order.
func (n *Node) Commands() []Command {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Command(nil), n.log...)
}

// Conns returns the number of open connections.
func (n *Node) Conns() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.conns)
}

// Close stops the node as a crash does: its port refuses connections and
// every connection is closed at once. It waits for the node's goroutines.
func (n *Node) Close() {
	n.mu.Lock()
	n.closed = true
	conns := make([]*Conn, 0, len(n.conns))
	for c := range n.conns {
		conns = append(conns, c)
	}
	n.mu.Unlock()
	n.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	n.wg.Wait()
}

func (n *Node) acceptLoop() {
	defer n.wg.Done()
	for {
		nc, err := n.ln.Accept()
		if err != nil {
			return
		}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			nc.Close()
			return
		}
		n.nextID++
		c := &Conn{ID: n.nextID, node: n, nc: nc, unblock: make(chan string, 1), done: make(chan struct{})}
		n.conns[c] = struct{}{}
		n.wg.Add(1)
		n.mu.Unlock()
		go n.serve(c)
	}
}

// serve reads c's commands and answers them, as Redis does: in order, the
// replies of one read written together.
func (n *Node) serve(c *Conn) {
	defer n.wg.Done()
	defer func() {
		c.Close()
		n.unsubscribeAll(c)
		n.mu.Lock()
		delete(n.conns, c)
		n.mu.Unlock()
	}()
	rd := redcon.NewReader(c.nc)
	for {
		cmds, err := rd.ReadCommands()
		if err != nil {
			if strings.HasPrefix(err.Error(), "Protocol error") {
				c.Write("-ERR " + err.Error() + "\r\n")
				c.Flush()
			}
			return
		}
		for _, cmd := range cmds {
			args := make([]string, len(cmd.Args))
			for i, a := range cmd.Args {
				args[i] = string(a)
			}
			if len(args) == 0 {
				continue
			}
			if !n.exec(c, args) {
				c.Flush()
				return
			}
		}
		if c.Flush() != nil {
			return
		}
	}
}

// handler returns the Handler of a command, if any.
func (n *Node) handler(name string) Handler {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.handlers[name]
}

func (n *Node) record(c *Conn, args []string) {
	n.mu.Lock()
	n.log = append(n.log, Command{Conn: c.ID, Args: args})
	n.mu.Unlock()
}

// Conn is a node's side of one connection, as a Handler sees it.
type Conn struct {
	ID   int64
	node *Node
	nc   net.Conn

	wmu    sync.Mutex // guards what other connections' goroutines touch:
	out    []byte     // replies not yet flushed (PUBLISH adds messages)
	closed bool
	resp3  bool   // HELLO 3
	name   string // CLIENT SETNAME
	subs   int    // channels subscribed

	unblock chan string   // CLIENT UNBLOCK: "" (as a timeout) or an error reply
	blocked atomic.Bool   // in BLPOP, waiting
	done    chan struct{} // closed by Close

	// The connection's own goroutine only.
	readonly bool
	asking   bool
	inMulti  bool
	multiErr bool // a command queued in MULTI was refused: EXEC aborts
	queued   [][]string
}

// Write adds raw RESP to the connection's replies (sent by Flush, or when
// the command's read is answered).
func (c *Conn) Write(raw string) {
	c.wmu.Lock()
	c.out = append(c.out, raw...)
	c.wmu.Unlock()
}

func (c *Conn) write(b []byte) {
	c.wmu.Lock()
	c.out = append(c.out, b...)
	c.wmu.Unlock()
}

// Flush sends what was written.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.nc.Write(c.out)
	c.out = c.out[:0]
	return err
}

// Close closes the connection at once: what was written and not flushed is
// lost.
func (c *Conn) Close() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	close(c.done)
	c.nc.Close()
}

// Done is closed when the connection closes.
func (c *Conn) Done() <-chan struct{} { return c.done }

// RESP3 reports whether the connection speaks RESP3 (HELLO 3).
func (c *Conn) RESP3() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.resp3
}

func (c *Conn) isClosed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.closed
}

// clientLine is the connection's line in CLIENT LIST.
func (c *Conn) clientLine() string {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	proto := "2"
	if c.resp3 {
		proto = "3"
	}
	return "id=" + strconv.FormatInt(c.ID, 10) + " addr=" + c.nc.RemoteAddr().String() +
		" laddr=" + c.nc.LocalAddr().String() + " fd=8 name=" + c.name +
		" age=0 idle=0 flags=N db=0 sub=" + strconv.Itoa(c.subs) + " psub=0 ssub=0 multi=-1" +
		" qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=0" +
		" events=r cmd=client|list user=default redir=-1 resp=" + proto + "\n"
}
