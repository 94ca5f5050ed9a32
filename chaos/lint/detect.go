package lint

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

// Client names, as used in Client.Name and in the rule ids' prefixes.
const (
	Lettuce   = "lettuce"
	Jedis     = "jedis"
	GoRedis   = "go-redis"
	NodeRedis = "node-redis"
	IORedis   = "ioredis"
	RedisPy   = "redis-py"
	Spring    = "spring-data-redis"
)

// detectFunc returns the client detector for a build file name, or nil.
func detectFunc(base string) func([]byte) []Client {
	switch {
	case base == "go.mod":
		return detectGoMod
	case base == "package.json":
		return detectPackageJSON
	case base == "package-lock.json":
		return detectPackageLock
	case strings.HasPrefix(base, "requirements") && strings.HasSuffix(base, ".txt"),
		base == "pyproject.toml", base == "Pipfile":
		return detectPython
	case base == "pom.xml":
		return detectPom
	case base == "build.gradle", base == "build.gradle.kts":
		return detectGradle
	}
	return nil
}

var goModRE = regexp.MustCompile(`(?m)^\s*(?:require\s+)?(github\.com/(?:redis/go-redis|go-redis/redis)(?:/v\d+)?)\s+(v[0-9][^\s]*)`)

func detectGoMod(data []byte) []Client {
	var cs []Client
	for _, m := range goModRE.FindAllSubmatch(data, -1) {
		cs = append(cs, Client{Name: GoRedis, Version: strings.TrimPrefix(string(m[2]), "v")})
	}
	return cs
}

var npmNames = map[string]string{"redis": NodeRedis, "@redis/client": NodeRedis, "ioredis": IORedis}

func detectPackageJSON(data []byte) []Client {
	var pkg struct {
		Dependencies    map[string]string `json:"dependencies"`
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if json.Unmarshal(data, &pkg) != nil {
		return nil
	}
	var cs []Client
	for _, deps := range []map[string]string{pkg.Dependencies, pkg.DevDependencies} {
		for _, n := range []string{"redis", "@redis/client", "ioredis"} {
			if v, ok := deps[n]; ok {
				cs = append(cs, Client{Name: npmNames[n], Version: strings.TrimLeft(v, "^~=>< ")})
			}
		}
	}
	return cs
}

func detectPackageLock(data []byte) []Client {
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
		Dependencies map[string]struct {
			Version string `json:"version"`
		} `json:"dependencies"`
	}
	if json.Unmarshal(data, &lock) != nil {
		return nil
	}
	var cs []Client
	for _, n := range []string{"redis", "@redis/client", "ioredis"} {
		if p, ok := lock.Packages["node_modules/"+n]; ok {
			cs = append(cs, Client{Name: npmNames[n], Version: p.Version})
		} else if p, ok := lock.Dependencies[n]; ok {
			cs = append(cs, Client{Name: npmNames[n], Version: p.Version})
		}
	}
	return cs
}

// redis, redis[hiredis], redis-py-cluster in requirements, pyproject (PEP 621
// strings or poetry tables) and Pipfile: one declaration per line.
var (
	pyLineRE = regexp.MustCompile(`^\s*["']?(redis|redis-py-cluster)(?:\[[^\]]*\])?\s*(?:["']?\s*=|["',]|[<>=~!^;]|$)`)
	pyVerRE  = regexp.MustCompile(`[0-9]+(?:\.[0-9]+)*`)
)

func detectPython(data []byte) []Client {
	var cs []Client
	for _, l := range strings.Split(string(data), "\n") {
		m := pyLineRE.FindStringSubmatchIndex(l)
		if m == nil {
			continue
		}
		cs = append(cs, Client{Name: RedisPy, Version: pyVerRE.FindString(l[m[1]-1:])})
	}
	return cs
}

var (
	pomDepRE     = regexp.MustCompile(`(?s)<dependency>(.*?)</dependency>`)
	pomArtRE     = regexp.MustCompile(`<artifactId>\s*([^<\s]+)\s*</artifactId>`)
	pomVerRE     = regexp.MustCompile(`<version>\s*([^<\s]+)\s*</version>`)
	pomPropRE    = regexp.MustCompile(`<([A-Za-z0-9_.-]+)>\s*([^<\s]+)\s*</[A-Za-z0-9_.-]+>`)
	javaArtifact = map[string]string{"lettuce-core": Lettuce, "jedis": Jedis, "spring-boot-starter-data-redis": Spring, "spring-data-redis": Spring}
)

func detectPom(data []byte) []Client {
	props := map[string]string{}
	for _, m := range pomPropRE.FindAllSubmatch(data, -1) {
		props[string(m[1])] = string(m[2])
	}
	var cs []Client
	for _, dep := range pomDepRE.FindAllSubmatch(data, -1) {
		a := pomArtRE.FindSubmatch(dep[1])
		if a == nil || javaArtifact[string(a[1])] == "" {
			continue
		}
		c := Client{Name: javaArtifact[string(a[1])]}
		if v := pomVerRE.FindSubmatch(dep[1]); v != nil {
			c.Version = string(v[1])
			if strings.HasPrefix(c.Version, "${") {
				c.Version = props[strings.Trim(c.Version, "${}")]
			}
		}
		cs = append(cs, c)
	}
	return cs
}

var gradleRE = regexp.MustCompile(`["'](io\.lettuce:lettuce-core|redis\.clients:jedis|org\.springframework\.boot:spring-boot-starter-data-redis|org\.springframework\.data:spring-data-redis)(?::([^"':]+))?`)

func detectGradle(data []byte) []Client {
	var cs []Client
	for _, m := range gradleRE.FindAllSubmatch(data, -1) {
		art := string(m[1])
		cs = append(cs, Client{Name: javaArtifact[art[strings.IndexByte(art, ':')+1:]], Version: string(m[2])})
	}
	return cs
}

// major is the leading number of a version ("6.1.5.RELEASE" → 6), -1 if none.
func major(v string) int {
	v = strings.TrimLeft(v, "v^~=>< ")
	end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(v)
	}
	n, err := strconv.Atoi(v[:end])
	if err != nil {
		return -1
	}
	return n
}
