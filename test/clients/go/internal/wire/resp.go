package wire

import (
	"bytes"
	"strconv"
)

// Value is one top-level RESP value: a command (an array of bulk strings, or
// an inline command) or a reply.
type Value struct {
	Type byte     // '+', '-', ':', '$', '*', '%', '~', '>', '_', ',', '#', '(', '!', '=', or 'i' (inline)
	Str  string   // simple string, error line (first line of a blob error), integer
	Args []string // a top-level array's first MaxArgs bulk strings (commands)
	N    int      // the top-level array's length
}

// Parser frames a byte stream into RESP values. Feed may be called with any
// split of the stream; values are emitted once complete.
type Parser struct {
	buf    []byte
	broken bool // a framing error: stop parsing this stream
}

// Feed adds bytes and emits every value completed by them.
func (p *Parser) Feed(b []byte, emit func(Value)) {
	if p.broken {
		return
	}
	p.buf = append(p.buf, b...)
	pos := 0
	for pos < len(p.buf) {
		v, next, st := parse(p.buf, pos, true)
		if st == incomplete {
			break
		}
		if st == bad {
			p.broken = true
			p.buf = nil
			return
		}
		if v.Type == '|' { // an attribute belongs to the value after it
			pos = next
			continue
		}
		emit(v)
		pos = next
	}
	if pos == len(p.buf) {
		p.buf = p.buf[:0]
	} else if pos > 0 {
		p.buf = append(p.buf[:0], p.buf[pos:]...)
	}
}

type status int

const (
	ok status = iota
	incomplete
	bad
)

// line returns the line starting at pos (without CRLF) and the position
// after it.
func line(b []byte, pos int) ([]byte, int, status) {
	i := bytes.Index(b[pos:], []byte("\r\n"))
	if i < 0 {
		return nil, 0, incomplete
	}
	return b[pos : pos+i], pos + i + 2, ok
}

func parse(b []byte, pos int, top bool) (Value, int, status) {
	if pos >= len(b) {
		return Value{}, 0, incomplete
	}
	t := b[pos]
	switch t {
	case '+', '-', ':', '_', ',', '#', '(':
		l, next, st := line(b, pos+1)
		if st != ok {
			return Value{}, 0, st
		}
		return Value{Type: t, Str: string(l)}, next, ok
	case '$', '!', '=':
		l, next, st := line(b, pos+1)
		if st != ok {
			return Value{}, 0, st
		}
		n, err := strconv.Atoi(string(l))
		if err != nil {
			return Value{}, 0, bad
		}
		if n < 0 {
			return Value{Type: t}, next, ok
		}
		if len(b) < next+n+2 {
			return Value{}, 0, incomplete
		}
		s := b[next : next+n]
		v := Value{Type: t, Str: string(s)}
		if t == '!' {
			if i := bytes.IndexByte(s, '\n'); i >= 0 {
				v.Str = string(bytes.TrimRight(s[:i], "\r"))
			}
		}
		return v, next + n + 2, ok
	case '*', '%', '~', '>', '|':
		l, next, st := line(b, pos+1)
		if st != ok {
			return Value{}, 0, st
		}
		n, err := strconv.Atoi(string(l))
		if err != nil {
			return Value{}, 0, bad
		}
		v := Value{Type: t, N: max(n, 0)}
		items := n
		if t == '%' || t == '|' {
			items = 2 * n
		}
		for i := 0; i < items; i++ {
			var e Value
			e, next, st = parse(b, next, false)
			if st != ok {
				return Value{}, 0, st
			}
			if top && t == '*' && e.Type == '$' && len(v.Args) < MaxArgs {
				v.Args = append(v.Args, clip(e.Str, i == 0))
			}
		}
		if t == '|' && !top {
			// an attribute inside an aggregate precedes the element it describes
			return parse(b, next, false)
		}
		return v, next, ok
	}
	if !top {
		return Value{}, 0, bad
	}
	// An inline command: words up to CRLF.
	l, next, st := line(b, pos)
	if st != ok {
		return Value{}, 0, st
	}
	words := bytes.Fields(l)
	v := Value{Type: 'i', N: len(words)}
	for i, w := range words {
		if i == MaxArgs {
			break
		}
		v.Args = append(v.Args, clip(string(w), i == 0))
	}
	return v, next, ok
}

// clip shortens an argument for the log; the command name is upper-cased.
func clip(s string, name bool) string {
	if len(s) > MaxArgLen {
		s = s[:MaxArgLen]
	}
	if name {
		return string(bytes.ToUpper([]byte(s)))
	}
	return s
}
