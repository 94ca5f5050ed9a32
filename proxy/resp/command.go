package resp

import (
	"errors"
	"io"
	"strconv"
	"sync"
)

// Redis's limits for client input (server.h and config.c defaults).
const (
	DefaultMaxInline    = 64 << 10  // PROTO_INLINE_MAX_SIZE
	DefaultMaxMultibulk = 1<<31 - 1 // INT_MAX
	DefaultMaxQuery     = 1 << 30   // client-query-buffer-limit
)

// ErrQueryBuffer is returned when a client's incomplete input exceeds the
// query buffer limit; Redis closes such a client without a reply.
var ErrQueryBuffer = errors.New("resp: query buffer limit exceeded")

// Command is one client command. Args and Raw point into the reader's buffer
// and stay valid until the next call to Read.
type Command struct {
	Args [][]byte // the command name and its arguments
	Raw  []byte   // the exact bytes the client sent (RESP or an inline line)
}

// CommandReader reads client commands the way Redis does (processMultibulkBuffer
// and processInlineBuffer in networking.c): RESP multibulk or inline commands,
// with Redis's error texts and limits. It does not copy: every command of a
// batch points into one buffer.
//
// When input turns bad after some good commands, Read first returns the good
// ones and then, on the next call, the protocol error: a client gets the
// replies to everything it sent before the bad bytes, as from Redis.
type CommandReader struct {
	MaxBulk      int // if zero, DefaultMaxBulk (proto-max-bulk-len)
	MaxMultibulk int // if zero, DefaultMaxMultibulk
	MaxQuery     int // bytes of one incomplete command; if zero, DefaultMaxQuery

	r     io.Reader
	buf   []byte
	start int // first unconsumed byte
	end   int
	// The batch's commands and arguments, from scratchPool while a batch is
	// out (see Read).
	cmds []Command
	args [][]byte
	sc   *scratch // the pooled holder of cmds and args, nil when none is taken
	err  error    // deferred error, returned once the commands before it are out
}

// scratch is the memory of one batch's Commands and Args. Connections take
// it from a pool for the time they handle a batch and give it back before
// they wait for more input: the connections a processor serves in turn
// reuse memory that is still in its cache, rather than each writing to its
// own (a cache miss per line: most of the cost of reading the commands of a
// pipeline, with 50 connections, in a CPU profile).
type scratch struct {
	cmds []Command
	args [][]byte
}

var scratchPool = sync.Pool{New: func() any { return &scratch{cmds: make([]Command, 0, 16), args: make([][]byte, 0, 64)} }}

// maxPooled caps what goes back to the pool: a huge pipeline's arrays are
// left to the garbage collector.
const maxPooled = 1024

// take gets scratch memory for a batch.
func (cr *CommandReader) take() {
	sc := scratchPool.Get().(*scratch)
	cr.cmds, cr.args = sc.cmds[:0], sc.args[:0]
	sc.cmds, sc.args = nil, nil
	cr.sc = sc
}

// release gives the batch's memory back (the batch is no longer used).
func (cr *CommandReader) release() {
	sc := cr.sc
	if sc == nil {
		return
	}
	cr.sc = nil
	if len(cr.buf) > 64<<10 {
		// The arrays point into this reader's buffer, and the pool lets other
		// connections keep them: a large buffer must not stay reachable
		// through them once this connection is gone (found in review).
		clear(cr.cmds[:cap(cr.cmds)])
		clear(cr.args[:cap(cr.args)])
	}
	if cap(cr.cmds) <= maxPooled && cap(cr.args) <= 4*maxPooled {
		sc.cmds, sc.args = cr.cmds[:0], cr.args[:0]
		scratchPool.Put(sc)
	}
	cr.cmds, cr.args = nil, nil
}

// NewCommandReader returns a reader of client commands from r.
func NewCommandReader(r io.Reader) *CommandReader {
	return &CommandReader{r: r, buf: make([]byte, 4<<10)}
}

// Read returns the next batch: every complete command in the buffer, reading
// from the connection when there is none. The batch is valid until the next call.
func (cr *CommandReader) Read() ([]Command, error) {
	cr.release() // the previous batch is done with
	for {
		if cr.err != nil {
			return nil, cr.err
		}
		if cr.start < cr.end {
			cr.take()
			cmds, err := cr.parse()
			if err != nil {
				cr.err = err
				if len(cmds) == 0 {
					cr.release()
					return nil, err
				}
			}
			if len(cmds) > 0 {
				return cmds, nil
			}
			cr.release() // not held while waiting for input
		}
		if err := cr.fill(); err != nil {
			cr.err = err
			return nil, err
		}
	}
}

// Buffered reports how many bytes are read and not yet returned as commands.
func (cr *CommandReader) Buffered() int { return cr.end - cr.start }

// Pending returns the bytes read and not yet returned as commands (the start
// of an incomplete one), valid until the next Read.
func (cr *CommandReader) Pending() []byte { return cr.buf[cr.start:cr.end] }

func (cr *CommandReader) fill() error {
	maxQuery := cr.MaxQuery
	if maxQuery == 0 {
		maxQuery = DefaultMaxQuery
	}
	if cr.start == cr.end {
		cr.start, cr.end = 0, 0
		if len(cr.buf) > 64<<10 { // give back the memory of a large command
			cr.buf = make([]byte, 4<<10)
		}
	} else if cr.start > 0 {
		n := copy(cr.buf, cr.buf[cr.start:cr.end])
		cr.start, cr.end = 0, n
	}
	if cr.end == len(cr.buf) {
		if cr.end >= maxQuery {
			return ErrQueryBuffer
		}
		nb := make([]byte, min(2*len(cr.buf), maxQuery+1))
		copy(nb, cr.buf[:cr.end])
		cr.buf = nb
	}
	n, err := cr.r.Read(cr.buf[cr.end:])
	cr.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// parse returns the complete commands at the start of the unconsumed buffer,
// and the protocol error that stopped it, if any.
func (cr *CommandReader) parse() ([]Command, error) {
	cr.cmds = cr.cmds[:0]
	cr.args = cr.args[:0]
	for cr.start < cr.end {
		b := cr.buf[cr.start:cr.end]
		var n int
		var err error
		argStart := len(cr.args)
		if b[0] == '*' {
			n, err = cr.multibulk(b)
		} else {
			n, err = cr.inline(b)
		}
		if err != nil || n == 0 {
			cr.args = cr.args[:argStart]
			return cr.fix(), err
		}
		if len(cr.args) > argStart {
			cr.cmds = append(cr.cmds, Command{Raw: b[:n], Args: cr.args[argStart:len(cr.args):len(cr.args)]})
		}
		cr.start += n
	}
	return cr.fix(), nil
}

// fix re-points the commands' Args at the final args array (append may have
// moved it while the batch was parsed).
func (cr *CommandReader) fix() []Command {
	i := 0
	for k := range cr.cmds {
		n := len(cr.cmds[k].Args)
		cr.cmds[k].Args = cr.args[i : i+n : i+n]
		i += n
	}
	return cr.cmds
}

// fastArgs turns on multibulk's one-pass path (tests compare both paths).
var fastArgs = true

// multibulk parses "*<n>\r\n" followed by n "$<len>\r\n<data>\r\n". It returns
// 0 and no error when the command is incomplete.
func (cr *CommandReader) multibulk(b []byte) (int, error) {
	maxBulk, maxMulti := cr.MaxBulk, cr.MaxMultibulk
	if maxBulk == 0 {
		maxBulk = DefaultMaxBulk
	}
	if maxMulti == 0 {
		maxMulti = DefaultMaxMultibulk
	}
	var count int64
	var i int
	if len(b) > 3 && b[1] >= '1' && b[1] <= '9' && b[2] == '\r' && b[3] == '\n' && fastArgs && int64(b[1]-'0') <= int64(maxMulti) {
		count, i = int64(b[1]-'0'), 4 // "*1\r\n" to "*9\r\n": the common case in one step
	} else {
		nl := indexCRLF(b, 1)
		if nl < 0 {
			if len(b) > DefaultMaxInline {
				return 0, protoErr("too big mbulk count string")
			}
			return 0, nil
		}
		n, ok := parseRedisInt(b[1:nl])
		if !ok || n > int64(maxMulti) {
			return 0, protoErr("invalid multibulk length")
		}
		count, i = n, nl+2
	}
	if count <= 0 { // "*0" and "*-1" are empty commands: nothing to run
		return i, nil
	}
	for j := int64(0); j < count; j++ {
		if i >= len(b) {
			return 0, nil
		}
		// The common case in one pass: "$<1-9 digits, no leading zero>\r\n"
		// with the whole argument in the buffer. Anything else (and every
		// error) takes the general path below, which has Redis's checks.
		if b[i] == '$' && fastArgs {
			k, size := i+1, 0
			for k < len(b) && k-i <= 9 && b[k] >= '0' && b[k] <= '9' {
				size = size*10 + int(b[k]-'0')
				k++
			}
			if k > i+1 && (b[i+1] != '0' || k == i+2) && k+1 < len(b) && b[k] == '\r' && b[k+1] == '\n' &&
				size <= maxBulk && len(b)-(k+2) >= size+2 {
				i = k + 2
				cr.args = append(cr.args, b[i:i+size])
				i += size + 2
				continue
			}
		}
		if b[i] != '$' {
			return 0, protoErr("expected '$', got '" + string(b[i]) + "'")
		}
		nl := indexCRLF(b, i+1)
		if nl < 0 {
			if len(b)-i > DefaultMaxInline {
				return 0, protoErr("too big bulk count string")
			}
			return 0, nil
		}
		size, ok := parseRedisInt(b[i+1 : nl])
		if !ok || size < 0 || size > int64(maxBulk) {
			return 0, protoErr("invalid bulk length")
		}
		i = nl + 2
		if int64(len(b)-i) < size+2 {
			return 0, nil
		}
		cr.args = append(cr.args, b[i:i+int(size)])
		i += int(size) + 2 // like Redis, the two bytes after the data are not checked
	}
	return i, nil
}

// inline parses one inline command line, with Redis's quoting (sdssplitargs).
func (cr *CommandReader) inline(b []byte) (int, error) {
	nl := -1
	for i, c := range b {
		if c == '\n' {
			nl = i
			break
		}
	}
	if nl < 0 {
		if len(b) > DefaultMaxInline {
			return 0, protoErr("too big inline request")
		}
		return 0, nil
	}
	line := b[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if err := cr.splitArgs(line); err != nil {
		return 0, err
	}
	return nl + 1, nil
}

// splitArgs splits an inline line like sdssplitargs: spaces separate
// arguments; "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes;
// 'single quotes' take \'; a closing quote must be followed by a space or the end.
func (cr *CommandReader) splitArgs(line []byte) error {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			return nil
		}
		var arg []byte
		inDQ, inSQ := false, false
		for done := false; !done; {
			if inDQ {
				switch {
				case i >= len(line):
					return protoErr("unbalanced quotes in request")
				case line[i] == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					arg = append(arg, hexVal(line[i+2])<<4|hexVal(line[i+3]))
					i += 3
				case line[i] == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						arg = append(arg, '\n')
					case 'r':
						arg = append(arg, '\r')
					case 't':
						arg = append(arg, '\t')
					case 'b':
						arg = append(arg, '\b')
					case 'a':
						arg = append(arg, '\a')
					default:
						arg = append(arg, line[i])
					}
				case line[i] == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return protoErr("unbalanced quotes in request")
					}
					done = true
				default:
					arg = append(arg, line[i])
				}
			} else if inSQ {
				switch {
				case i >= len(line):
					return protoErr("unbalanced quotes in request")
				case line[i] == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					arg = append(arg, '\'')
				case line[i] == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return protoErr("unbalanced quotes in request")
					}
					done = true
				default:
					arg = append(arg, line[i])
				}
			} else {
				switch {
				case i >= len(line) || isSpace(line[i]):
					done = true
				case line[i] == '"':
					inDQ = true
				case line[i] == '\'':
					inSQ = true
				default:
					arg = append(arg, line[i])
				}
			}
			if i < len(line) {
				i++
			}
		}
		if arg == nil {
			arg = []byte{}
		}
		cr.args = append(cr.args, arg)
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// parseRedisInt parses like Redis's string2ll: optional '-', digits, no '+',
// no leading zeros except "0" itself, no spaces.
func parseRedisInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	if len(b) < 19 { // cannot overflow: the common case, without a conversion
		var v int64
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		return v, true
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}
