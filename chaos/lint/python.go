package lint

import (
	"bytes"
	"regexp"
	"strings"
)

var (
	pyImportRE      = mustRE(`(?m)^\s*(?:import\s+(redis|rediscluster)\b|from\s+(redis|rediscluster)(?:\.[\w.]+)?\s+import\b)`)
	pyClusterRE     = mustRE(`(?:^|[^\w.])((?:[\w]+\.)*\w*RedisCluster)\s*(?:\.\s*from_url\s*)?\(`)
	pyClassDefRE    = mustRE(`\bclass\s+$`)
	pyTimeoutNoneRE = mustRE(`\bsocket_timeout\s*=\s*None\b`)
	pyTimeoutKeyRE  = mustRE(`["']socket_timeout["']\s*[\]:]|\bsocket_timeout\s*=`)
	pyFullCoverRE   = mustRE(`\brequire_full_coverage\s*=\s*True\b`)
	pyKwargsRE      = mustRE(`\*\*\s*(\w+)`)
)

// checkPython applies the redis-py rules.
func (s *scan) checkPython() {
	for _, f := range s.filesOf(kindPy) {
		if !bytes.Contains(f.src.code, []byte("redis")) {
			continue
		}
		g := pyImportRE.FindSubmatch(f.src.code)
		if g == nil {
			continue
		}
		client := RedisPy
		if string(g[1])+string(g[2]) == "rediscluster" {
			client = RedisPyCluster
		}
		for _, m := range f.src.find(pyTimeoutNoneRE) {
			s.add("redispy-socket-timeout-none", f, f.src.lineAt(m[0]), "socket_timeout=None", "")
		}
		for _, m := range f.src.find(pyFullCoverRE) {
			s.add("redispy-require-full-coverage", f, f.src.lineAt(m[0]), "", "")
		}
		for _, c := range f.src.calls(pyClusterRE) {
			if pyClassDefRE.Match(f.src.code[max(0, c.start-10):c.start]) {
				continue
			}
			s.perCall(f, c)
			if pyTimeoutKeyRE.MatchString(c.body) {
				continue
			}
			if kw := pyKwargsRE.FindStringSubmatch(c.body); kw != nil && s.pyKwargsTimeout(f, c, kw[1]) {
				continue
			}
			v := s.version(f.mod, client)
			if client == RedisPy && !v.mayBeBelow("8") {
				continue // redis-py 8 defaults socket_timeout to 5 s
			}
			name := "redis-py " + v.String()
			if client == RedisPyCluster {
				name = "redis-py-cluster " + v.String()
			}
			s.add("redispy-socket-timeout-none", f, c.line(f.src), name+", RedisCluster without socket_timeout", "")
		}
	}
}

// pyKwargsTimeout reports whether the dict passed as **name sets
// socket_timeout somewhere in the function that builds the client.
func (s *scan) pyKwargsTimeout(f *file, c call, name string) bool {
	start, end := pyFunc(f, c.start)
	body := string(f.src.code[start:end])
	return regexp.MustCompile(regexp.QuoteMeta(name)+`\s*\[\s*["']socket_timeout["']\s*\]|["']socket_timeout["']\s*:`).MatchString(body) ||
		strings.Contains(body, name+".setdefault(\"socket_timeout\"") || strings.Contains(body, name+".setdefault('socket_timeout'")
}

// pyFunc is the span of the def around off (the whole file at module level).
func pyFunc(f *file, off int) (int, int) {
	code := f.src.code
	ls := off
	for ls > 0 && code[ls-1] != '\n' {
		ls--
	}
	indent := func(at int) int {
		n := 0
		for at+n < len(code) && (code[at+n] == ' ' || code[at+n] == '\t') {
			n++
		}
		return n
	}
	my := indent(ls)
	for p := ls; p > 0; {
		p--
		for p > 0 && code[p-1] != '\n' {
			p--
		}
		ind := indent(p)
		rest := strings.TrimSpace(string(code[p+ind : lineEnd(code, p)]))
		if rest == "" || ind >= my {
			continue
		}
		if strings.HasPrefix(rest, "def ") || strings.HasPrefix(rest, "async def ") {
			end := lineEnd(code, p)
			for end < len(code) {
				next := end + 1
				if next >= len(code) {
					end = len(code)
					break
				}
				t := strings.TrimSpace(string(code[next:lineEnd(code, next)]))
				if t != "" && indent(next) <= ind {
					break
				}
				end = lineEnd(code, next)
			}
			return p, end
		}
		if ind == 0 {
			break
		}
		my = ind
	}
	return 0, len(code)
}
