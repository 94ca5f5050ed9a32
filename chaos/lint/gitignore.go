package lint

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"regexp"
	"strings"
)

// ignoreRule is one .gitignore pattern, compiled.
type ignoreRule struct {
	literal string         // a pattern without wildcards: compared, not matched
	base    bool           // literal applies to the last path element
	re      *regexp.Regexp // matches the path relative to the .gitignore's directory
	negate  bool           // "!pattern": re-include
	dirOnly bool           // "pattern/": directories only
}

// gitignore is the rules of one .gitignore file, in order.
type gitignore []ignoreRule

// parseGitignore reads .gitignore text with git's rules: blank lines and "#"
// comments are skipped, "\#" and "\!" escape, trailing spaces are dropped
// unless escaped, "!" negates, a trailing "/" matches directories only, a "/"
// at the start or in the middle anchors the pattern to the file's directory
// (otherwise it matches at any depth), and "*", "?", "[…]" and "**" glob.
func parseGitignore(data []byte) gitignore {
	var g gitignore
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		for strings.HasSuffix(l, " ") && !strings.HasSuffix(l, `\ `) {
			l = l[:len(l)-1]
		}
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		var r ignoreRule
		switch {
		case strings.HasPrefix(l, "!"):
			r.negate = true
			l = l[1:]
		case strings.HasPrefix(l, `\!`), strings.HasPrefix(l, `\#`):
			l = l[1:]
		}
		if strings.HasSuffix(l, "/") {
			r.dirOnly = true
			l = strings.TrimRight(l, "/")
		}
		if l == "" {
			continue
		}
		anchored := strings.Contains(l, "/")
		l = strings.TrimPrefix(l, "/")
		if !strings.ContainsAny(l, `*?[\`) {
			r.literal, r.base = l, !anchored
			g = append(g, r)
			continue
		}
		expr := globRegexp(l)
		if anchored {
			expr = "^" + expr + "$"
		} else {
			expr = "^(?:.*/)?" + expr + "$"
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			continue // a malformed pattern matches nothing, as in git
		}
		r.re = re
		g = append(g, r)
	}
	return g
}

// globRegexp translates a gitignore glob into a regular expression.
func globRegexp(glob string) string {
	var b strings.Builder
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch {
		case c == '*' && strings.HasPrefix(glob[i:], "**"):
			atStart := i == 0 || glob[i-1] == '/'
			rest := glob[i+2:]
			switch {
			case atStart && strings.HasPrefix(rest, "/"):
				b.WriteString("(?:.*/)?") // "**/": any leading directories
				i += 2
			case atStart && rest == "":
				b.WriteString(".*") // "/**" at the end: everything inside
				i++
			default:
				b.WriteString("[^/]*")
				i++
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			end := strings.IndexByte(glob[i+1:], ']')
			if end < 0 {
				b.WriteString(`\[`)
				continue
			}
			class := glob[i+1 : i+1+end]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i += end + 1
		case c == '\\' && i+1 < len(glob):
			i++
			b.WriteString(regexp.QuoteMeta(string(glob[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// match reports the last rule's verdict for rel (relative to the .gitignore's
// directory): ignored, re-included, or no rule matched (ok false).
func (g gitignore) match(rel string, isDir bool) (ignored, ok bool) {
	for i := len(g) - 1; i >= 0; i-- {
		r := g[i]
		if r.dirOnly && !isDir {
			continue
		}
		switch {
		case r.literal != "" && r.base:
			if path.Base(rel) != r.literal {
				continue
			}
		case r.literal != "":
			if rel != r.literal {
				continue
			}
		case !r.re.MatchString(rel):
			continue
		}
		return !r.negate, true
	}
	return false, false
}

// ignores holds the .gitignore files met in a walk, by directory relative to
// the walk's root ("" for the root).
type ignores map[string]gitignore

func readGitignore(fp string) gitignore {
	data, err := os.ReadFile(fp)
	if err != nil {
		return nil
	}
	return parseGitignore(data)
}

// ignored reports whether rel (a path relative to the walk's root) is ignored:
// the deepest .gitignore with a matching rule decides, each reading rel
// relative to its own directory. Directories above rel were checked on the
// way down (git does not look inside an ignored directory).
func (ig ignores) ignored(rel string, isDir bool) bool {
	for dir := path.Dir(rel); ; dir = path.Dir(dir) {
		key := dir
		if dir == "." {
			key = ""
		}
		if g := ig[key]; g != nil {
			sub := rel
			if key != "" {
				sub = strings.TrimPrefix(rel, key+"/")
			}
			if v, ok := g.match(sub, isDir); ok {
				return v
			}
		}
		if key == "" {
			return false
		}
	}
}
