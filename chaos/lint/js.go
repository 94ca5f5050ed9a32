package lint

import (
	"bytes"
	"regexp"
	"strings"
)

var (
	jsDefaultImportRE = func(pkg string) *regexp.Regexp {
		q := regexp.QuoteMeta(pkg)
		return mustRE(`(?:import\s+(?:\*\s+as\s+)?(\w+)\s*(?:,\s*\{[^}]*\})?\s*from\s*|\b(\w+)\s*=\s*require\s*\(\s*)["']` + q + `["']`)
	}
	jsNamedImportRE = func(pkg string) *regexp.Regexp {
		q := regexp.QuoteMeta(pkg)
		return mustRE(`(?:import\s+(?:\w+\s*,\s*)?\{([^}]*)\}\s*from\s*|(?:const|let|var)\s*\{([^}]*)\}\s*=\s*require\s*\(\s*)["']` + q + `["']`)
	}
	ioredisImport   = jsDefaultImportRE("ioredis")
	ioredisNamed    = jsNamedImportRE("ioredis")
	nodeRedisImport = []*regexp.Regexp{jsDefaultImportRE("redis"), jsDefaultImportRE("@redis/client")}
	nodeRedisNamed  = []*regexp.Regexp{jsNamedImportRE("redis"), jsNamedImportRE("@redis/client")}

	jsAutoResendOffRE = mustRE(`\bautoResendUnfulfilledCommands\s*:\s*false\b`)
	jsRedirectsOffRE  = mustRE(`\bmaxRedirections\s*:\s*0\b`)
	jsScaleReadsRE    = mustRE(`\bscaleReads\s*:\s*["'](slave|all|replica)["']`)
	jsOfflineOffRE    = mustRE(`\bdisableOfflineQueue\s*:\s*true\b`)
	jsObjectVarRE     = func(name string) *regexp.Regexp {
		return mustRE(`(?:const|let|var)\s+` + regexp.QuoteMeta(name) + `\s*(?::\s*[\w.<>\[\], |]+)?=\s*\{`)
	}
	jsSpreadRE    = mustRE(`\.\.\.\s*([A-Za-z_$][\w$]*)\b`)
	jsShorthandRE = mustRE(`[{,]\s*([A-Za-z_$][\w$]*)\s*(?:[,}]|$)`)
	jsValueRefRE  = mustRE(`:\s*([A-Za-z_$][\w$]*)\s*(?:[,}]|$)`)
	jsIdentRE     = mustRE(`^[A-Za-z_$][\w$]*$`)
)

// bindings finds the names a file binds a package's default export and one of
// its named exports to.
func bindings(code []byte, def *regexp.Regexp, named *regexp.Regexp, export string) (defaults, exports []string) {
	for _, g := range def.FindAllSubmatch(code, -1) {
		if n := string(g[1]) + string(g[2]); n != "" {
			defaults = append(defaults, n)
		}
	}
	for _, g := range named.FindAllSubmatch(code, -1) {
		for _, item := range strings.Split(string(g[1])+string(g[2]), ",") {
			parts := strings.Fields(strings.ReplaceAll(item, ":", " as "))
			if len(parts) > 1 && parts[0] == "type" {
				continue // a type-only import binds no value
			}
			switch {
			case len(parts) == 0:
			case parts[0] == export:
				exports = append(exports, parts[len(parts)-1])
			case parts[0] == "default" || parts[0] == "Redis":
				// ioredis also exports its client class by name
				defaults = append(defaults, parts[len(parts)-1])
			}
		}
	}
	return
}

// span is a range of offsets in a file.
type span struct{ from, to int }

// options is the text of a construction's options: the inline object, plus
// the objects the file binds to the variables it names or spreads, with
// where each of them is.
type options struct {
	text  string
	spans []span
}

// matchLine is the line of the first match of re in the options, or def.
func (o options) matchLine(f *file, re *regexp.Regexp, def int) int {
	for _, sp := range o.spans {
		if loc := re.FindIndex(f.src.code[sp.from:sp.to]); loc != nil {
			return f.src.lineAt(sp.from + loc[0])
		}
	}
	return def
}

// optionsOf reads the options of a call whose options argument is arg.
func optionsOf(f *file, c call, arg string) options {
	o := options{text: arg, spans: []span{{c.open, c.end}}}
	var names []string
	if jsIdentRE.MatchString(strings.TrimSpace(arg)) {
		names = append(names, strings.TrimSpace(arg))
	}
	refs := func(obj string) []string {
		var out []string
		for _, re := range []*regexp.Regexp{jsSpreadRE, jsShorthandRE, jsValueRefRE} {
			for _, g := range re.FindAllStringSubmatch(obj, -1) {
				out = append(out, g[1])
			}
		}
		return out
	}
	names = append(names, refs(arg)...)
	seen := map[string]bool{}
	for depth := 0; depth < 3 && len(names) > 0; depth++ {
		var next []string
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			for _, v := range f.src.calls(jsObjectVarRE(n)) {
				o.text += "\n" + v.body
				o.spans = append(o.spans, span{v.open, v.end})
				next = append(next, refs(v.body)...)
			}
		}
		names = next
	}
	return o
}

// checkJS applies the ioredis and node-redis rules.
func (s *scan) checkJS() {
	for _, f := range s.filesOf(kindJS) {
		if bytes.Contains(f.src.code, []byte("ioredis")) {
			s.ioredisFile(f)
		}
		if bytes.Contains(f.src.code, []byte("createCluster")) {
			s.nodeRedisFile(f)
		}
	}
}

func (s *scan) ioredisFile(f *file) {
	defs, clusters := bindings(f.src.code, ioredisImport, ioredisNamed, "Cluster")
	if len(defs) == 0 && len(clusters) == 0 {
		return
	}
	var alts []string
	for _, d := range defs {
		alts = append(alts, regexp.QuoteMeta(d)+`\s*\.\s*Cluster`)
	}
	for _, c := range clusters {
		alts = append(alts, regexp.QuoteMeta(c))
	}
	ctor := mustRE(`\bnew\s+(?:` + strings.Join(alts, "|") + `)\s*\(`)
	for _, c := range f.src.calls(ctor) {
		args := splitArgs(c.body)
		o := options{}
		if len(args) > 1 {
			o = optionsOf(f, c, args[1])
		}
		opts := o.text
		line := c.line(f.src)
		v := s.version(f.mod, IORedis)
		if !strings.Contains(opts, "commandTimeout") {
			fix := ""
			if !v.mayBeAtLeast("4.25") {
				fix = "ioredis " + v.String() + " has no commandTimeout: upgrade to 4.25 or later and set redisOptions: { commandTimeout: 5000 }, or race each call against a timer."
			}
			s.add("ioredis-no-command-timeout", f, line, "ioredis "+v.String(), fix)
		}
		if m := jsRedirectsOffRE.FindStringIndex(opts); m != nil {
			s.add("ioredis-redirections-disabled", f, line, "", "")
		}
		if g := jsScaleReadsRE.FindStringSubmatch(opts); g != nil {
			s.add("ioredis-scale-reads-replica", f, o.matchLine(f, jsScaleReadsRE, line), "scaleReads \""+g[1]+"\"", "")
		}
		if !jsAutoResendOffRE.MatchString(opts) {
			if cmds := commandsSent(s.relatedFiles(f.mod, kindJS)); len(cmds) > 0 {
				s.add("ioredis-auto-resend", f, line, "the code sends "+commandList(cmds)+" ("+firstUse(cmds)+")", "")
			}
		}
		s.perCall(f, c)
	}
}

func (s *scan) nodeRedisFile(f *file) {
	var alts []string
	for i := range nodeRedisImport {
		defs, named := bindings(f.src.code, nodeRedisImport[i], nodeRedisNamed[i], "createCluster")
		for _, d := range defs {
			alts = append(alts, regexp.QuoteMeta(d)+`\s*\.\s*createCluster`)
		}
		for _, n := range named {
			alts = append(alts, regexp.QuoteMeta(n))
		}
	}
	if len(alts) == 0 {
		return
	}
	ctor := mustRE(`(?:^|[^\w.$])(?:` + strings.Join(alts, "|") + `)\s*\(`)
	for _, c := range f.src.calls(ctor) {
		opts := optionsOf(f, c, c.body).text
		line := c.line(f.src)
		v := s.version(f.mod, NodeRedis)
		if !strings.Contains(opts, "socketTimeout") {
			fix := ""
			if !v.mayBeAtLeast("5.1") {
				fix = "node-redis " + v.String() + " has no socketTimeout: upgrade to 5.1 or later and set defaults: { socket: { socketTimeout: 5000 } }; until then bound each call with an AbortSignal (commandOptions({ signal: AbortSignal.timeout(5000) }))."
			}
			s.add("noderedis-no-socket-timeout", f, line, "node-redis "+v.String(), fix)
		}
		if !strings.Contains(opts, "commandsQueueMaxLength") && !jsOfflineOffRE.MatchString(opts) {
			s.add("noderedis-unbounded-offline-queue", f, line, "", "")
		}
		s.perCall(f, c)
	}
}
