package resp

import (
	"errors"
	"strconv"
)

// Value is one parsed RESP2 or RESP3 value.
//
// Which fields are used depends on Type:
//
//	'+' simple string, '-' error   Str (the line, without the type byte and CRLF)
//	'$' bulk string, '!' blob error Str, or Null for a RESP2 null ("$-1")
//	'=' verbatim string             Format (3 bytes, e.g. "txt") and Str (the text after "txt:")
//	':' integer                     Int
//	',' double, '(' big number      Str (the number as sent; kept exactly)
//	'#' boolean                     Bool
//	'_' null                        Null (always true)
//	'*' array, '~' set, '>' push    Elems, or Null for a RESP2 null array ("*-1")
//	'%' map, '|' attribute          Elems: key, value, key, value, ...
//
// An attribute ('|') is not a value of its own on the wire: it precedes the
// value it describes, so Parse stores it in that value's Attr.
//
// Str and the strings inside Elems alias the buffer given to Parse.
type Value struct {
	Type   byte
	Str    []byte
	Int    int64
	Bool   bool
	Null   bool
	Format string
	Elems  []Value
	Attr   *Value // attribute sent before this value (Type '|'), or nil
}

// ErrIncomplete is returned by Parse when b holds only the start of a value.
var ErrIncomplete = errors.New("resp: incomplete value")

// maxDepth bounds the nesting of aggregates Parse accepts (Redis replies nest
// a few levels; a deeper value is garbage or an attack on the stack).
const maxDepth = 512

// Parse parses the one complete value at the start of b and returns it with
// the number of bytes it used. It returns ErrIncomplete when b ends before the
// value does, and an error wrapping ErrProtocol when b is not valid RESP.
//
// Parse accepts what Scanner accepts, with the same lengths, except that it
// also checks the contents of integers (':', canonical form only), booleans
// and nulls, verbatim strings' "fmt:" prefix, and nesting depth.
func Parse(b []byte) (Value, int, error) {
	p := parser{b: b}
	v, err := p.value(0)
	if err != nil {
		return Value{}, 0, err
	}
	return v, p.i, nil
}

type parser struct {
	b []byte
	i int
}

// line returns the header line at p.i (without the type byte and CRLF) and
// moves past it.
func (p *parser) line() ([]byte, error) {
	nl := indexCRLF(p.b, p.i+1)
	if nl < 0 {
		return nil, ErrIncomplete
	}
	l := p.b[p.i+1 : nl]
	p.i = nl + 2
	return l, nil
}

func (p *parser) value(depth int) (Value, error) {
	if depth > maxDepth {
		return Value{}, protoErr("value nested too deep")
	}
	if p.i >= len(p.b) {
		return Value{}, ErrIncomplete
	}
	typ := p.b[p.i]
	switch typ {
	case '+', '-', ':', '_', ',', '#', '(', '$', '!', '=', '*', '~', '>', '%', '|':
	default:
		return Value{}, protoErr("unexpected reply type " + strconv.QuoteRune(rune(typ)))
	}
	line, err := p.line()
	if err != nil {
		return Value{}, err
	}
	v := Value{Type: typ}
	switch typ {
	case '+', '-', ',', '(':
		v.Str = line
	case ':':
		n, ok := parseInt(line)
		if !ok {
			return Value{}, protoErr("invalid integer")
		}
		v.Int = n
	case '_':
		if len(line) != 0 {
			return Value{}, protoErr("invalid null")
		}
		v.Null = true
	case '#':
		if len(line) != 1 || (line[0] != 't' && line[0] != 'f') {
			return Value{}, protoErr("invalid boolean")
		}
		v.Bool = line[0] == 't'
	case '$', '!', '=':
		n, err := parseLen(line, DefaultMaxBulk)
		if err != nil {
			return Value{}, err
		}
		if n < 0 {
			v.Null = true
			break
		}
		if len(p.b)-p.i < n+2 {
			return Value{}, ErrIncomplete
		}
		body := p.b[p.i : p.i+n]
		if p.b[p.i+n] != '\r' || p.b[p.i+n+1] != '\n' {
			return Value{}, protoErr("bulk string not terminated by CRLF")
		}
		p.i += n + 2
		if typ == '=' {
			if n < 4 || body[3] != ':' {
				return Value{}, protoErr("invalid verbatim string")
			}
			v.Format, body = string(body[:3]), body[4:]
		}
		v.Str = body
	case '*', '~', '>', '%', '|':
		n, err := parseLen(line, DefaultMaxElems)
		if err != nil {
			return Value{}, err
		}
		if n < 0 {
			if typ == '%' || typ == '|' {
				return Value{}, protoErr("invalid map length")
			}
			v.Null = true
			break
		}
		if typ == '%' || typ == '|' {
			n *= 2
		}
		// Every element takes at least 3 bytes: do not trust n for the
		// allocation before the bytes are there.
		v.Elems = make([]Value, 0, min(n, (len(p.b)-p.i)/3))
		for range n {
			e, err := p.value(depth + 1)
			if err != nil {
				return Value{}, err
			}
			v.Elems = append(v.Elems, e)
		}
		if typ == '|' {
			// The attribute belongs to the value that follows. Attributes
			// before attributes chain: the first one sent is the innermost.
			next, err := p.value(depth + 1)
			if err != nil {
				return Value{}, err
			}
			last := &next
			for last.Attr != nil {
				last = last.Attr
			}
			last.Attr = &v
			return next, nil
		}
	}
	return v, nil
}

// parseInt parses a RESP integer in the canonical form Redis sends (no sign
// other than '-', no leading zeros, no "-0"), so that Append gives back the
// same bytes.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, false
	}
	d := b
	if d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || d[0] == '+' || (d[0] == '0' && len(b) > 1) {
		return 0, false
	}
	return n, true
}

// Append appends the RESP encoding of v to dst. For a value parsed from
// canonical RESP (as Redis sends it) the bytes are identical to the input.
// A map or attribute with an odd number of Elems is encoded with its last
// element dropped.
func (v Value) Append(dst []byte) []byte {
	if v.Attr != nil {
		dst = v.Attr.Append(dst)
	}
	dst = append(dst, v.Type)
	switch v.Type {
	case '+', '-', ',', '(':
		dst = append(dst, v.Str...)
	case ':':
		dst = strconv.AppendInt(dst, v.Int, 10)
	case '_':
	case '#':
		if v.Bool {
			dst = append(dst, 't')
		} else {
			dst = append(dst, 'f')
		}
	case '$', '!', '=':
		if v.Null {
			return append(dst, "-1\r\n"...)
		}
		n := len(v.Str)
		if v.Type == '=' {
			n += 4
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, '\r', '\n')
		if v.Type == '=' {
			f := v.Format + "   "
			dst = append(dst, f[:3]...)
			dst = append(dst, ':')
		}
		dst = append(dst, v.Str...)
	case '*', '~', '>', '%', '|':
		if v.Null {
			return append(dst, "-1\r\n"...)
		}
		elems := v.Elems
		n := len(elems)
		if v.Type == '%' || v.Type == '|' {
			n /= 2
			elems = elems[:2*n]
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, '\r', '\n')
		for _, e := range elems {
			dst = e.Append(dst)
		}
		return dst
	}
	return append(dst, '\r', '\n')
}

// Bulk returns a bulk string value holding s.
func Bulk(s string) Value { return Value{Type: '$', Str: []byte(s)} }

// Integer returns an integer value.
func Integer(n int64) Value { return Value{Type: ':', Int: n} }

// IsString reports whether v carries text in Str: a simple, bulk or verbatim
// string that is not null.
func (v Value) IsString() bool {
	return (v.Type == '+' || v.Type == '$' || v.Type == '=') && !v.Null
}

// IsAggregate reports whether v is an array, set, push or map that is not null.
func (v Value) IsAggregate() bool {
	switch v.Type {
	case '*', '~', '>', '%':
		return !v.Null
	}
	return false
}

// Pairs reports whether v holds key/value pairs: a map (RESP3), or an array
// with an even number of elements that RESP2 uses for a map.
func (v Value) Pairs() bool {
	return v.Type == '%' || (v.Type == '*' && !v.Null && len(v.Elems)%2 == 0)
}
