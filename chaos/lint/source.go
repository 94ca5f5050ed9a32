package lint

import (
	"bytes"
	"path"
	"regexp"
	"strings"
)

// kind is a bit set of file kinds a rule applies to.
type kind int

const (
	kindNone kind = 0
	kindGo   kind = 1 << iota
	kindJVM       // Java, Kotlin, Groovy, Scala
	kindJS        // JavaScript and TypeScript
	kindPy
	kindConfig // .properties, .yml/.yaml, .env: Spring configuration and deployment values
)

// kindOf classifies a file by its name.
func kindOf(base string) kind {
	ext := path.Ext(base)
	switch ext {
	case ".go":
		return kindGo
	case ".java", ".kt", ".groovy", ".scala":
		return kindJVM
	case ".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".jsx", ".tsx":
		if strings.HasSuffix(base, ".min.js") || strings.HasSuffix(base, ".d.ts") {
			return kindNone
		}
		return kindJS
	case ".py":
		return kindPy
	case ".properties", ".yml", ".yaml", ".env":
		return kindConfig
	}
	if base == ".env" || strings.HasPrefix(base, ".env.") {
		return kindConfig
	}
	return kindNone
}

// syntax is how comments and strings are written in a file.
type syntax int

const (
	synC      syntax = iota // //, /* */, "", '', `` (Go, JVM, JS)
	synPython               // #, '', "", ''' ''', """ """
	synHash                 // # comments to the end of the line, no strings (config files)
)

func syntaxOf(fp string) syntax {
	switch kindOf(path.Base(fp)) {
	case kindPy:
		return synPython
	case kindConfig:
		return synHash
	}
	return synC
}

// source is one file's text with its comments blanked out: code keeps every
// byte offset and line of data, so findings point at the original lines, and
// inString tells whether an offset of code lies inside a string literal.
type source struct {
	data  []byte // the file as read
	code  []byte // data with comments replaced by spaces (newlines kept)
	str   []bool // str[i]: code[i] is inside a string literal
	lines []int  // offsets where lines start
}

func newSource(data []byte, syn syntax) *source {
	s := &source{data: data, code: make([]byte, len(data)), str: make([]bool, len(data))}
	copy(s.code, data)
	blank := func(from, to int) {
		for i := from; i < to && i < len(s.code); i++ {
			if s.code[i] != '\n' {
				s.code[i] = ' '
			}
		}
	}
	mark := func(from, to int) {
		for i := from; i < to && i < len(s.str); i++ {
			s.str[i] = true
		}
	}
	n := len(data)
	for i := 0; i < n; i++ {
		c := data[i]
		switch syn {
		case synHash:
			if c == '#' && (i == 0 || data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '\n') {
				end := lineEnd(data, i)
				blank(i, end)
				i = end - 1
			} else if c == '!' && (i == 0 || data[i-1] == '\n') {
				end := lineEnd(data, i)
				blank(i, end)
				i = end - 1
			}
		case synPython:
			switch {
			case c == '#':
				end := lineEnd(data, i)
				blank(i, end)
				i = end - 1
			case c == '"' || c == '\'':
				end := pyStringEnd(data, i)
				mark(i, end)
				i = end - 1
			}
		case synC:
			switch {
			case c == '/' && i+1 < n && data[i+1] == '/':
				end := lineEnd(data, i)
				blank(i, end)
				i = end - 1
			case c == '/' && i+1 < n && data[i+1] == '*':
				end := bytes.Index(data[i+2:], []byte("*/"))
				if end < 0 {
					end = n
				} else {
					end += i + 4
				}
				blank(i, end)
				i = end - 1
			case c == '"' && i+2 < n && data[i+1] == '"' && data[i+2] == '"':
				end := bytes.Index(data[i+3:], []byte(`"""`))
				if end < 0 {
					end = n
				} else {
					end += i + 6
				}
				mark(i, end)
				i = end - 1
			case c == '"' || c == '\'' || c == '`':
				end := quotedEnd(data, i, c != '`')
				mark(i, end)
				i = end - 1
			}
		}
	}
	s.lines = append(s.lines, 0)
	for i, c := range data {
		if c == '\n' {
			s.lines = append(s.lines, i+1)
		}
	}
	return s
}

func lineEnd(data []byte, i int) int {
	if e := bytes.IndexByte(data[i:], '\n'); e >= 0 {
		return i + e
	}
	return len(data)
}

// quotedEnd returns the offset after the literal opened at data[i]. A literal
// that may not span lines ends at the end of its line at the latest, so a
// stray quote (a Kotlin char, a JS regex) costs one line, not the file.
func quotedEnd(data []byte, i int, oneLine bool) int {
	q := data[i]
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case q:
			return j + 1
		case '\n':
			if oneLine {
				return j
			}
		}
	}
	return len(data)
}

func pyStringEnd(data []byte, i int) int {
	q := data[i]
	if i+2 < len(data) && data[i+1] == q && data[i+2] == q {
		end := bytes.Index(data[i+3:], []byte{q, q, q})
		if end < 0 {
			return len(data)
		}
		return i + 3 + end + 3
	}
	return quotedEnd(data, i, true)
}

// lineAt is the 1-based line of an offset.
func (s *source) lineAt(off int) int {
	lo, hi := 0, len(s.lines)
	for lo+1 < hi {
		m := (lo + hi) / 2
		if s.lines[m] <= off {
			lo = m
		} else {
			hi = m
		}
	}
	return lo + 1
}

// inString reports whether the code offset is inside a string literal.
func (s *source) inString(off int) bool { return off < len(s.str) && s.str[off] }

// find returns the code offsets of every match of re outside strings.
func (s *source) find(re *regexp.Regexp) [][]int {
	var out [][]int
	for _, m := range re.FindAllSubmatchIndex(s.code, -1) {
		if !s.inString(m[0]) {
			out = append(out, m)
		}
	}
	return out
}

// call is a call or literal found by its opening pattern: where it starts, the
// offsets of its body (between the brackets) and the body's text.
type call struct {
	start, open, end int
	body             string
}

// line is the 1-based line where the call starts.
func (c call) line(s *source) int { return s.lineAt(c.start) }

// calls finds every match of re (ending with an opening bracket) outside
// strings and comments, with the text up to the matching closing bracket. If
// re has a group, the call starts where the group matched.
func (s *source) calls(re *regexp.Regexp) []call {
	var cs []call
	for _, m := range s.find(re) {
		open := m[1] - 1
		end := s.closing(open)
		start := m[0]
		if len(m) > 2 && m[2] >= 0 {
			start = m[2] // the pattern's first group marks where the call is named
		}
		cs = append(cs, call{start: start, open: open, end: end, body: string(s.code[open+1 : end])})
	}
	return cs
}

// closing returns the offset of the bracket that closes the one at open, or the
// end of the file.
func (s *source) closing(open int) int {
	pair := map[byte]byte{'(': ')', '{': '}', '[': ']'}
	o := s.code[open]
	c, ok := pair[o]
	if !ok {
		return open
	}
	depth := 0
	for i := open; i < len(s.code); i++ {
		if s.str[i] {
			continue
		}
		switch s.code[i] {
		case o:
			depth++
		case c:
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(s.code)
}

// enclosing returns the offsets of the innermost {…} block around off (the
// whole file when there is none).
func (s *source) enclosing(off int) (int, int) {
	depth := 0
	for i := off; i >= 0; i-- {
		if s.str[i] {
			continue
		}
		switch s.code[i] {
		case '}':
			depth++
		case '{':
			if depth == 0 {
				return i, s.closing(i)
			}
			depth--
		}
	}
	return 0, len(s.code)
}

// splitArgs splits a call body at top-level commas.
func splitArgs(body string) []string {
	var args []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '{' || c == '[':
			depth++
		case c == ')' || c == '}' || c == ']':
			depth--
		case c == '<' && i+1 < len(body) && isIdentStart(body[i+1]) && i > 0 && isIdent(body[i-1]):
			depth++ // generic type arguments: Foo<K, V>
		case c == '>' && depth > 0 && i > 0 && (isIdent(body[i-1]) || body[i-1] == '>'):
			depth--
		case c == ',' && depth == 0:
			args = append(args, strings.TrimSpace(body[start:i]))
			start = i + 1
		}
	}
	if last := strings.TrimSpace(body[start:]); last != "" || len(args) > 0 {
		args = append(args, last)
	}
	return args
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
