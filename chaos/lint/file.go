package lint

import (
	"bytes"
	"path/filepath"
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
	kindSpring // application*.properties / .yml / .yaml
)

func kindOf(base string) kind {
	ext := filepath.Ext(base)
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
	case ".properties", ".yml", ".yaml":
		if strings.HasPrefix(base, "application") || strings.HasPrefix(base, "bootstrap") {
			return kindSpring
		}
	}
	return kindNone
}

// file is one source or config file under inspection.
type file struct {
	path  string
	kind  kind
	data  []byte
	scan  *scan
	lines []string
}

// hit is where a rule fired, with an optional detail for the message.
type hit struct {
	line   int
	detail string
}

func (h hit) msg(r *Rule) string {
	if h.detail == "" {
		return r.Short + ": " + r.Explanation
	}
	return r.Short + " (" + h.detail + "): " + r.Explanation
}

func (f *file) getLines() []string {
	if f.lines == nil {
		f.lines = strings.Split(string(f.data), "\n")
	}
	return f.lines
}

func (f *file) contains(s string) bool { return bytes.Contains(f.data, []byte(s)) }

func (f *file) lineAt(off int) int { return bytes.Count(f.data[:off], []byte("\n")) + 1 }

// isComment reports whether a line is a whole-line comment in any of the
// languages the rules read.
func isComment(l string) bool {
	l = strings.TrimSpace(l)
	return strings.HasPrefix(l, "//") || strings.HasPrefix(l, "/*") || strings.HasPrefix(l, "*") ||
		strings.HasPrefix(l, "#") || strings.HasPrefix(l, "!")
}

// matchLines returns a hit for every non-comment line matching re.
func (f *file) matchLines(re *regexp.Regexp) []hit {
	var hs []hit
	for i, l := range f.getLines() {
		if re.MatchString(l) && !isComment(l) {
			hs = append(hs, hit{line: i + 1})
		}
	}
	return hs
}

// call is a call or composite literal found by its opening pattern: the line
// of the match and the text between the brackets.
type call struct {
	line int
	body string
}

// blocks finds every match of re (which must end with an opening bracket) that
// is not on a comment line, and the text up to the matching closing bracket.
func (f *file) blocks(re *regexp.Regexp) []call {
	var cs []call
	for _, m := range re.FindAllIndex(f.data, -1) {
		line := f.lineAt(m[0])
		if isComment(f.getLines()[line-1]) {
			continue
		}
		open := f.data[m[1]-1]
		closeB := map[byte]byte{'(': ')', '{': '}', '[': ']'}[open]
		depth, end := 0, len(f.data)
		var quote byte
	scan:
		for i := m[1] - 1; i < len(f.data); i++ {
			c := f.data[i]
			switch {
			case quote != 0:
				if c == '\\' {
					i++
				} else if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'' || c == '`':
				quote = c
			case c == open:
				depth++
			case c == closeB:
				depth--
				if depth == 0 {
					end = i
					break scan
				}
			}
		}
		cs = append(cs, call{line: line, body: string(f.data[m[1]:end])})
	}
	return cs
}

// splitArgs splits a call body at top-level commas.
func splitArgs(s string) []string {
	var args []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '{' || c == '[' || c == '<':
			depth++
		case c == ')' || c == '}' || c == ']' || c == '>':
			depth--
		case c == ',' && depth == 0:
			args = append(args, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if last := strings.TrimSpace(s[start:]); last != "" || len(args) > 0 {
		args = append(args, last)
	}
	return args
}
