package lint

import (
	"regexp"
	"strconv"
	"strings"
)

// version is a dotted release number; missing parts are 0 ("6.1.5.RELEASE"
// is 6.1.5).
type version []int

func parseVersion(s string) (version, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	m := leadingVersionRE.FindString(s)
	if m == "" {
		return nil, false
	}
	var v version
	for _, p := range strings.Split(m, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

var leadingVersionRE = regexp.MustCompile(`^[0-9]+(?:\.[0-9]+)*`)

func (v version) cmp(w version) int {
	for i := 0; i < max(len(v), len(w)); i++ {
		a, b := 0, 0
		if i < len(v) {
			a = v[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			if a < b {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (v version) String() string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ".")
}

// vspec is what a build says about a client's version: an exact version, a
// range (reported as written), or nothing.
type vspec struct {
	exact string // "6.1.5.RELEASE"
	rng   string // ">=4.2.2,<8", "^5.0.1", "~=4.3"
	via   string // where a managed version comes from: "Spring Boot 3.1.6"
}

func (s vspec) known() bool { return s.exact != "" || s.rng != "" }

// String is how a finding names the version.
func (s vspec) String() string {
	switch {
	case s.exact != "" && s.via != "":
		return s.exact + " (managed by " + s.via + ")"
	case s.exact != "":
		return s.exact
	case s.rng != "":
		return s.rng
	}
	return "version unknown"
}

// mayBeBelow reports whether the spec admits a version older than limit. An
// unknown version admits anything.
func (s vspec) mayBeBelow(limit string) bool {
	lim, _ := parseVersion(limit)
	if s.exact != "" {
		v, ok := parseVersion(s.exact)
		return !ok || v.cmp(lim) < 0
	}
	if s.rng == "" {
		return true
	}
	lo, ok := rangeLow(s.rng)
	return !ok || lo.cmp(lim) < 0
}

// mayBeAtLeast reports whether the spec admits limit or a later version.
func (s vspec) mayBeAtLeast(limit string) bool {
	lim, _ := parseVersion(limit)
	if s.exact != "" {
		v, ok := parseVersion(s.exact)
		return !ok || v.cmp(lim) >= 0
	}
	if s.rng == "" {
		return true
	}
	hi, inclusive, ok := rangeHigh(s.rng)
	if !ok {
		return true
	}
	c := hi.cmp(lim)
	return c > 0 || c == 0 && inclusive
}

var (
	constraintRE = regexp.MustCompile(`(===|==|~=|!=|>=|<=|>|<|\^|~|=)?\s*v?([0-9][0-9A-Za-z.*+-]*)`)
	mavenRangeRE = regexp.MustCompile(`^[\[(]\s*([^,]*)\s*,\s*([^\])]*)\s*([\])])$`)
)

// rangeLow is the lowest version a range admits (PEP 440, npm, Poetry and
// Maven range syntax); ok is false when the range has no lower bound.
func rangeLow(r string) (version, bool) {
	if m := mavenRangeRE.FindStringSubmatch(strings.TrimSpace(r)); m != nil {
		return parseVersion(m[1])
	}
	var low version
	found := false
	for _, alt := range strings.Split(r, "||") {
		var altLow version
		altOK := false
		for _, m := range constraintRE.FindAllStringSubmatch(alt, -1) {
			switch m[1] {
			case "<", "<=", "!=":
				continue
			}
			v, ok := parseVersion(strings.TrimSuffix(m[2], ".*"))
			if !ok {
				continue
			}
			if !altOK || v.cmp(altLow) > 0 {
				altLow, altOK = v, true
			}
		}
		if !altOK {
			return nil, false // an alternative without a lower bound
		}
		if !found || altLow.cmp(low) < 0 {
			low, found = altLow, true
		}
	}
	return low, found
}

// rangeHigh is the highest version a range admits, and whether that bound is
// itself admitted; ok is false when the range is unbounded above.
func rangeHigh(r string) (version, bool, bool) {
	if m := mavenRangeRE.FindStringSubmatch(strings.TrimSpace(r)); m != nil {
		v, ok := parseVersion(m[2])
		return v, m[3] == "]", ok
	}
	var high version
	inclusive, found := false, false
	for _, alt := range strings.Split(r, "||") {
		var altHigh version
		altIncl, altOK := false, false
		for _, m := range constraintRE.FindAllStringSubmatch(alt, -1) {
			raw := m[2]
			v, ok := parseVersion(strings.TrimSuffix(raw, ".*"))
			if !ok {
				continue
			}
			var h version
			incl := false
			switch m[1] {
			case "<":
				h = v
			case "<=":
				h, incl = v, true
			case "==", "===", "=", "":
				if strings.HasSuffix(raw, ".*") || strings.Contains(raw, "x") {
					h = bumpAt(v, len(v)-1)
				} else if m[1] == "" && !strings.Contains(alt, ">") && !strings.Contains(alt, "<") {
					h, incl = v, true // a bare npm version is exact
				} else if m[1] != "" {
					h, incl = v, true
				} else {
					continue
				}
			case "^":
				i := 0
				for i < len(v)-1 && v[i] == 0 {
					i++
				}
				h = bumpAt(v, i)
			case "~":
				h = bumpAt(v, min(1, len(v)-1))
			case "~=":
				h = bumpAt(v, max(0, len(v)-2))
			default:
				continue
			}
			if !altOK || h.cmp(altHigh) < 0 {
				altHigh, altIncl, altOK = h, incl, true
			}
		}
		if !altOK {
			return nil, false, false
		}
		if !found || altHigh.cmp(high) > 0 {
			high, inclusive, found = altHigh, altIncl, true
		}
	}
	return high, inclusive, found
}

// bumpAt increments part i and drops the parts after it: bumpAt(4.3.1, 1) = 4.4.
func bumpAt(v version, i int) version {
	out := append(version(nil), v[:i+1]...)
	out[i]++
	return out
}

// majorMinor is "6.2" for "6.2.5.RELEASE".
func majorMinor(s string) string {
	v, ok := parseVersion(s)
	if !ok {
		return ""
	}
	if len(v) == 1 {
		v = append(v, 0)
	}
	return v[:2].String()
}

// bootManaged is the Lettuce, Jedis and Spring Data Redis lines each Spring
// Boot release line manages (its spring-boot-dependencies BOM).
var bootManaged = map[string][3]string{
	"2.0": {"5.0", "2.9", "2.0"},
	"2.1": {"5.1", "2.9", "2.1"},
	"2.2": {"5.2", "3.1", "2.2"},
	"2.3": {"5.3", "3.3", "2.3"},
	"2.4": {"6.0", "3.3", "2.4"},
	"2.5": {"6.1", "3.6", "2.5"},
	"2.6": {"6.1", "3.7", "2.6"},
	"2.7": {"6.1", "3.8", "2.7"},
	"3.0": {"6.2", "4.3", "3.0"},
	"3.1": {"6.2", "4.3", "3.1"},
	"3.2": {"6.3", "5.0", "3.2"},
	"3.3": {"6.3", "5.1", "3.3"},
	"3.4": {"6.4", "5.2", "3.4"},
	"3.5": {"6.6", "6.0", "3.5"},
	"4.0": {"6.8", "7.0", "4.0"},
}

// bootManagedVersion is the version of a client (Lettuce, Jedis, Spring Data
// Redis) that a Spring Boot version manages, or "" if the line is unknown.
func bootManagedVersion(boot, client string) string {
	row, ok := bootManaged[majorMinor(boot)]
	if !ok {
		return ""
	}
	switch client {
	case Lettuce:
		return row[0]
	case Jedis:
		return row[1]
	case Spring:
		return row[2]
	}
	return ""
}

// nodeRedisLine maps an @redis/client version to the node-redis release line
// it ships in: @redis/client 1.x is node-redis 4; from 5 on the numbers agree.
func nodeRedisLine(clientVersion string) string {
	v, ok := parseVersion(clientVersion)
	if ok && v[0] < 5 {
		return "4"
	}
	return clientVersion
}
