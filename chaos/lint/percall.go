package lint

import (
	"regexp"
	"strings"
)

var (
	assignedToRE = mustRE(`([A-Za-z_$][\w$]*)\s*(?::=|=)\s*(?:await\s+)?(?:new\s+)?[\w.$]*$`)
	withAsRE     = mustRE(`^\s*as\s+(\w+)`)
	tryResRE     = mustRE(`\btry\s*\(\s*(?:final\s+)?[\w.<>]*\s*(\w+)\s*=\s*(?:new\s+)?[\w.]*$`)
	controlRE    = mustRE(`(?s)(?:^|[;{}])\s*(?:\}\s*)?(?:if|else|for|while|try|catch|finally|switch|do|synchronized|else\s+if)\b[^;{}]*$`)
	handlerSigRE = mustRE(`http\.ResponseWriter|\*gin\.Context|echo\.Context|\*fiber\.Ctx|\(\s*req\w*\s*(?::\s*\w+)?\s*,\s*res\w*\b|\(\s*request\s*,\s*response\b|\bctx\s*:\s*Context\b`)
	handlerAnnRE = mustRE(`@(?:Get|Post|Put|Delete|Patch|Request)Mapping\b|@(?:app|router|bp|blueprint|api)\.(?:route|get|post|put|delete|patch)\b|@api_view\b`)
	setupNameRE  = mustRE(`(?i)^(?:main|init|__init__|setup\w*|setUp\w*|start\w*|constructor)$`)
	funcNameRE   = mustRE(`(?:\bfunc\s*(?:\([^)]*\)\s*)?|\bdef\s+|\bfun\s+|\bfunction\s+|\b)(\w+)\s*(?:<[^>]*>)?\s*\(`)
)

// perCall reports a cluster client built inside a function that also closes
// it, or inside a request handler: one client (and one topology discovery)
// per call.
func (s *scan) perCall(f *file, c call) {
	start, end, header := s.funcAround(f, c.start)
	if start == 0 && end == len(f.src.code) {
		return // module level: built once
	}
	if g := funcNameRE.FindStringSubmatch(header); g != nil && setupNameRE.MatchString(g[1]) {
		return
	}
	body := string(f.src.code[start:end])
	before := string(f.src.code[max(start, c.start-160):c.start])
	after := string(f.src.code[min(c.end+1, len(f.src.code)):min(c.end+40, len(f.src.code))])
	closed := false
	if g := withAsRE.FindStringSubmatch(after); g != nil {
		closed = true // Python: with RedisCluster(...) as rc
	} else if tryResRE.MatchString(before) {
		closed = true // Java: try (JedisCluster jc = new JedisCluster(...))
	} else if g := assignedToRE.FindStringSubmatch(before); g != nil {
		closer := mustRE(`\b` + regexp.QuoteMeta(g[1]) + `\s*\.\s*(?:close|Close|quit|disconnect|shutdown|aclose|destroy)\s*\(`)
		closed = closer.MatchString(body[c.end-start:])
	}
	handler := handlerSigRE.MatchString(header) || handlerAnnRE.MatchString(s.annotationsBefore(f, start))
	if !closed && !handler {
		return
	}
	how := "closed before the function returns"
	if !closed {
		how = "built in a request handler"
	}
	s.add("cluster-client-per-call", f, c.line(f.src), how, "")
}

// funcAround returns the body span and the header of the function around off
// (0, len, "" at module level).
func (s *scan) funcAround(f *file, off int) (int, int, string) {
	code := f.src.code
	switch f.kind {
	case kindPy:
		start, end := pyFunc(f, off)
		return start, end, string(code[start:min(end, start+300)])
	case kindGo:
		start, end := s.goFunc(f, off)
		if start == 0 && !strings.HasPrefix(string(code), "func") {
			return 0, len(code), ""
		}
		return start, end, string(code[start:min(end, lineEnd(code, start))])
	}
	for pos := off; ; {
		open, close := f.src.enclosing(pos)
		if open == 0 && close == len(code) {
			return 0, len(code), ""
		}
		hs := open
		for hs > 0 && !strings.ContainsRune(";{}", rune(code[hs-1])) {
			hs--
		}
		header := string(code[hs:open])
		if controlRE.MatchString(strings.TrimSpace(header)) || strings.TrimSpace(header) == "" ||
			strings.HasSuffix(strings.TrimSpace(header), "=") {
			pos = open - 1
			if pos < 0 {
				return 0, len(code), ""
			}
			continue
		}
		if regexp.MustCompile(`\b(?:class|interface|object|enum)\b`).MatchString(header) {
			return 0, len(code), "" // a field initialiser: built once per instance
		}
		return open, close, header
	}
}

// annotationsBefore is the text of the lines just above a function (where its
// annotations or decorators are).
func (s *scan) annotationsBefore(f *file, start int) string {
	code := f.src.code
	from := start
	for n := 0; n < 6 && from > 0; n++ {
		from--
		for from > 0 && code[from-1] != '\n' {
			from--
		}
	}
	return string(code[from:start])
}
