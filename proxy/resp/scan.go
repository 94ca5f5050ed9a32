// Package resp finds reply boundaries in a stream of RESP2/RESP3 data, parses
// replies into values and encodes them again. The proxy's data path only needs
// boundaries (Scanner); rewriting needs the parsed form (Parse, Value).
package resp

import (
	"errors"
	"strconv"
)

// Limits Redis itself uses by default (proto-max-bulk-len, and the largest
// aggregate the proxy accepts in a reply).
const (
	DefaultMaxBulk  = 512 << 20
	DefaultMaxElems = 1 << 30
)

// maxHeader bounds the header line of a value other than a simple string or
// error (whose line is its content and is bounded by MaxBulk instead).
const maxHeader = 64 << 10

// ErrProtocol is wrapped by every error about malformed RESP.
var ErrProtocol = errors.New("resp: protocol error")

type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "Protocol error: " + e.msg }
func (e *protocolError) Unwrap() error { return ErrProtocol }

func protoErr(msg string) error { return &protocolError{msg} }

// Scanner finds where one reply ends in a buffer that may hold only part of it.
// It keeps its place between calls, so a large reply that arrives in many reads
// is scanned once, and the caller may pass on (and drop) the part already
// scanned before the reply is complete (see Scanned and Shift).
//
// The zero value is ready to use, with Redis's default limits.
type Scanner struct {
	MaxBulk  int // largest bulk string; if zero, DefaultMaxBulk
	MaxElems int // largest aggregate; if zero, DefaultMaxElems

	off     int // bytes of the current reply already scanned, relative to the caller's buffer
	pending int // values still to scan in the current reply; 0 before the first header
	skip    int // bytes of a bulk body (and its CRLF) still to pass
	line    int // where to resume looking for the CRLF of an incomplete header line; 0 if none
}

// Scan looks for the end of the reply that starts at b[0] (or, after Shift, the
// reply whose first scanned bytes were dropped). It returns the reply's length
// within b when b holds all of it, and then resets itself for the next reply.
// It returns 0 and no error when more data is needed; the next call must pass
// the same bytes followed by more.
func (s *Scanner) Scan(b []byte) (int, error) {
	maxBulk, maxElems := s.MaxBulk, s.MaxElems
	if maxBulk == 0 {
		maxBulk = DefaultMaxBulk
	}
	if maxElems == 0 {
		maxElems = DefaultMaxElems
	}
	if s.pending == 0 && s.skip == 0 {
		s.pending = 1
	}
	i := s.off
	for {
		if s.skip > 0 {
			// The body, then its CRLF. The CRLF is checked byte by byte:
			// after a Shift, its first byte may already be gone.
			if s.skip > 2 {
				n := min(len(b)-i, s.skip-2)
				i += n
				s.skip -= n
			}
			for s.skip > 0 && i < len(b) {
				want := byte('\n')
				if s.skip == 2 {
					want = '\r'
				}
				if b[i] != want {
					s.reset()
					return 0, protoErr("bulk string not terminated by CRLF")
				}
				i++
				s.skip--
			}
			if s.skip > 0 {
				s.off = i
				return 0, nil
			}
			s.pending--
			if s.pending == 0 {
				s.reset()
				return i, nil
			}
			s.off = i
		}
		if i >= len(b) {
			s.off = i
			return 0, nil
		}
		// One header line: type byte, text, CRLF. A line that arrives in
		// pieces is searched once: the search resumes where it stopped.
		nl := indexCRLF(b, max(i+1, s.line))
		if nl < 0 {
			s.line = max(i+1, len(b)-1) // the last byte may be the CR
			if n := len(b) - i; (n > maxHeader && !isSimple(b[i])) || n > maxBulk {
				s.reset()
				return 0, protoErr("header line too long")
			}
			s.off = i
			return 0, nil
		}
		s.line = 0
		typ, line := b[i], b[i+1:nl]
		next := nl + 2
		switch typ {
		case '+', '-', ':', '_', ',', '#', '(':
			s.pending--
		case '$', '!', '=':
			n, err := parseLen(line, maxBulk)
			if err != nil {
				s.reset()
				return 0, err
			}
			if n < 0 { // null bulk string (RESP2)
				s.pending--
				break
			}
			s.skip = n + 2
			s.off = next
			i = next
			continue
		case '*', '~', '>':
			n, err := parseLen(line, maxElems)
			if err != nil {
				s.reset()
				return 0, err
			}
			s.pending-- // the aggregate itself
			if n > 0 {
				s.pending += n
			}
		case '%':
			n, err := parseLen(line, maxElems)
			if err != nil || n < 0 {
				s.reset()
				return 0, protoErrOr(err, "invalid map length")
			}
			s.pending += 2*n - 1
		case '|': // attribute: its pairs, then the value it describes
			n, err := parseLen(line, maxElems)
			if err != nil || n < 0 {
				s.reset()
				return 0, protoErrOr(err, "invalid attribute length")
			}
			s.pending += 2 * n
		default:
			s.reset()
			return 0, protoErr("unexpected reply type " + strconv.QuoteRune(rune(typ)))
		}
		i = next
		if s.pending == 0 {
			s.reset()
			return i, nil
		}
		s.off = i
	}
}

// Scanned reports how many bytes of the current, incomplete reply have been
// scanned. Those bytes will not be looked at again: the caller may send them on
// and then call Shift with that count.
func (s *Scanner) Scanned() int { return s.off }

// Shift tells the scanner that the first n bytes of the buffer (n ≤ Scanned)
// were dropped: the next Scan receives the buffer without them.
func (s *Scanner) Shift(n int) {
	s.off -= n
	if s.line > 0 {
		s.line -= n
	}
}

// InReply reports whether the scanner is inside a reply (some of it scanned).
func (s *Scanner) InReply() bool { return s.pending != 0 || s.skip != 0 }

func (s *Scanner) reset() { s.off, s.pending, s.skip, s.line = 0, 0, 0, 0 }

// Len returns the length of the complete reply at the start of b, 0 if b holds
// only part of it, or an error if b is not valid RESP.
func Len(b []byte) (int, error) {
	var s Scanner
	return s.Scan(b)
}

func isSimple(t byte) bool { return t == '+' || t == '-' }

func protoErrOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return protoErr(msg)
}

// indexCRLF returns the index of the first "\r\n" at or after from, or -1.
func indexCRLF(b []byte, from int) int {
	for j := from; j < len(b)-1; j++ {
		if b[j] == '\r' {
			if b[j+1] == '\n' {
				return j
			}
		}
	}
	return -1
}

// parseLen parses a RESP length: -1 (null) or 0..max.
func parseLen(b []byte, max int) (int, error) {
	if len(b) == 2 && b[0] == '-' && b[1] == '1' {
		return -1, nil
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, protoErr("invalid length")
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, protoErr("invalid length")
		}
		d := int(c - '0')
		if n > (max-d)/10 {
			return 0, protoErr("length " + string(b) + " over the limit")
		}
		n = n*10 + d
	}
	return n, nil
}
