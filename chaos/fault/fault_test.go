package fault_test

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestValidate(t *testing.T) {
	limits := fault.Limits{DefaultTTL: time.Minute, MaxTTL: 10 * time.Minute}
	tests := []struct {
		name   string
		spec   fault.Spec
		fields []string // every field named by the error; nil: valid
	}{
		{"error by name", fault.Spec{Action: "error", Error: "misconf", Target: "master"}, nil},
		{"custom error", fault.Spec{Action: "error", Error: "ERR chaos says no"}, nil},
		{"latency", fault.Spec{Action: "latency", Latency: fault.Duration(time.Millisecond)}, nil},
		{"jitter only", fault.Spec{Action: "latency", Jitter: fault.Duration(time.Millisecond)}, nil},
		{"down by address", fault.Spec{Action: "down", Target: "127.0.0.1:7002"}, nil},
		{"down by node id", fault.Spec{Action: "down", Target: strings.Repeat("ab", 20)}, nil},
		{"selectors", fault.Spec{Action: "hang", Target: "replicas-of:shard:2,masters:majority"}, nil},
		{"reset after", fault.Spec{Action: "reset", After: 3}, nil},
		{"migrate", fault.Spec{Action: "migrate", Target: "shard:0", To: "shard:1", AskFor: fault.Duration(time.Second), TTL: fault.Duration(time.Minute)}, nil},
		{"full match", fault.Spec{Action: "error", Error: "OOM", Match: fault.Match{Commands: []string{"set"}, Categories: []string{"@write"},
			Keys: "user:*", Slots: "0-5460,6000", Clients: "10.0.0.0/8,127.0.0.1", ClientName: "app-*", LibName: "go-redis", Probability: 0.5, Count: 3}}, nil},
		{"ttl at the maximum", fault.Spec{Action: "down", Target: "all", TTL: fault.Duration(10 * time.Minute)}, nil},

		{"no action", fault.Spec{}, []string{"action"}},
		{"unknown action", fault.Spec{Action: "explode"}, []string{"action"}},
		{"error without name", fault.Spec{Action: "error"}, []string{"error"}},
		{"unknown error name", fault.Spec{Action: "error", Error: "NOPE"}, []string{"error"}},
		{"custom error lower-case prefix", fault.Spec{Action: "error", Error: "err lower"}, []string{"error"}},
		{"error with CRLF", fault.Spec{Action: "error", Error: "ERR a\r\nb"}, []string{"error"}},
		{"latency zero", fault.Spec{Action: "latency"}, []string{"latency"}},
		{"negative latency", fault.Spec{Action: "latency", Latency: -1, Jitter: 1}, []string{"latency"}},
		{"migrate without to", fault.Spec{Action: "migrate", Target: "shard:0"}, []string{"to"}},
		{"bad selector", fault.Spec{Action: "down", Target: "shard:x"}, []string{"target"}},
		{"bad replicas-of", fault.Spec{Action: "down", Target: "replicas-of:shard:"}, []string{"target"}},
		{"unknown target", fault.Spec{Action: "down", Target: "somewhere"}, []string{"target"}},
		{"ttl above the maximum", fault.Spec{Action: "down", Target: "all", TTL: fault.Duration(11 * time.Minute)}, []string{"ttl"}},
		{"negative ttl", fault.Spec{Action: "down", Target: "all", TTL: -1}, []string{"ttl"}},
		{"negative delay", fault.Spec{Action: "down", Target: "all", Delay: -1}, []string{"delay"}},
		{"ask_for above ttl", fault.Spec{Action: "migrate", Target: "shard:0", To: "shard:1", TTL: fault.Duration(time.Second), AskFor: fault.Duration(time.Minute)}, []string{"ask_for"}},
		{"bad mode", fault.Spec{Action: "down", Target: "all", Mode: "pretend"}, []string{"mode"}},
		{"bad command", fault.Spec{Action: "error", Error: "OOM", Match: fault.Match{Commands: []string{"SET X"}}}, []string{"match.commands[0]"}},
		{"bad category", fault.Spec{Action: "error", Error: "OOM", Match: fault.Match{Categories: []string{"writes"}}}, []string{"match.categories[0]"}},
		{"bad glob", fault.Spec{Action: "error", Error: "OOM", Match: fault.Match{Keys: "user:["}}, []string{"match.keys"}},
		{"bad slots", fault.Spec{Action: "error", Error: "OOM", Match: fault.Match{Slots: "10-5"}}, []string{"match.slots"}},
		{"slot out of range", fault.Spec{Action: "error", Error: "OOM", Match: fault.Match{Slots: "16384"}}, []string{"match.slots"}},
		{"bad clients", fault.Spec{Action: "error", Error: "OOM", Match: fault.Match{Clients: "10.0.0.0/33"}}, []string{"match.clients"}},
		{"bad probability", fault.Spec{Action: "error", Error: "OOM", Match: fault.Match{Probability: 1.5}}, []string{"match.probability"}},
		{"negative count", fault.Spec{Action: "error", Error: "OOM", Match: fault.Match{Count: -1}}, []string{"match.count"}},
		{"every problem at once", fault.Spec{Action: "nope", Target: "shard:y", TTL: fault.Duration(time.Hour), Match: fault.Match{Keys: "[", Probability: -1}},
			[]string{"action", "target", "ttl", "match.keys", "match.probability"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.spec
			err := s.Validate(limits)
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var es fault.Errors
			if !errors.As(err, &es) {
				t.Fatalf("Validate = %v, want fault.Errors naming %v", err, tt.fields)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Field)
				if e.Reason == "" {
					t.Errorf("field %s has no reason", e.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("fields = %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
}

func TestValidateDefaults(t *testing.T) {
	s := fault.Spec{Action: " ERROR ", Error: "oom", Match: fault.Match{Commands: []string{"get"}, Categories: []string{"@Write"}}}
	if err := s.Validate(fault.Limits{}); err != nil {
		t.Fatal(err)
	}
	if s.Action != "error" || s.TTL.D() != 5*time.Minute || s.Mode != "simulate" {
		t.Errorf("defaults: action %q ttl %v mode %q", s.Action, s.TTL.D(), s.Mode)
	}
	if s.Match.Commands[0] != "GET" || s.Match.Categories[0] != "write" {
		t.Errorf("normalised match: %+v", s.Match)
	}
	if s.ErrorName() != "OOM" {
		t.Errorf("ErrorName = %q", s.ErrorName())
	}
	big := fault.Spec{Action: "down", Target: "all", TTL: fault.Duration(2 * time.Hour)}
	if err := big.Validate(fault.Limits{}); err == nil || !strings.Contains(err.Error(), "maximum") {
		t.Errorf("2h TTL with the default 1h maximum: %v", err)
	}
}

func TestErrorTexts(t *testing.T) {
	// Redis 7's texts, exactly.
	want := map[string]string{
		"CLUSTERDOWN":          "CLUSTERDOWN The cluster is down",
		"CLUSTERDOWN_READONLY": "CLUSTERDOWN The cluster is down and only accepts read commands",
		"CLUSTERDOWN_UNBOUND":  "CLUSTERDOWN Hash slot not served",
		"CROSSSLOT":            "CROSSSLOT Keys in request don't hash to the same slot",
		"TRYAGAIN":             "TRYAGAIN Multiple keys request during rehashing of slot",
		"MISCONF":              "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.",
		"LOADING":              "LOADING Redis is loading the dataset in memory",
		"READONLY":             "READONLY You can't write against a read only replica.",
		"MASTERDOWN":           "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
		"BUSY":                 "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
		"NOREPLICAS":           "NOREPLICAS Not enough good replicas to write.",
		"OOM":                  "OOM command not allowed when used memory > 'maxmemory'.",
	}
	for name, text := range want {
		s := fault.Spec{Error: strings.ToLower(name)}
		got, err := s.ErrorText()
		if err != nil || got != text {
			t.Errorf("%s: %q, %v; want %q", name, got, err, text)
		}
	}
	names := fault.ErrorNames()
	if len(names) != len(fault.ErrorTexts) {
		t.Errorf("ErrorNames lists %d names, ErrorTexts has %d", len(names), len(fault.ErrorTexts))
	}
	for _, n := range names {
		if _, ok := fault.ErrorTexts[n]; !ok {
			t.Errorf("ErrorNames has %s, ErrorTexts does not", n)
		}
	}
	custom := fault.Spec{Error: "ERR custom failure"}
	if got, err := custom.ErrorText(); err != nil || got != "ERR custom failure" || custom.ErrorName() != "ERR" {
		t.Errorf("custom: %q %v %q", got, err, custom.ErrorName())
	}
}

func TestParseSlots(t *testing.T) {
	tests := []struct {
		in   string
		want []fault.Range
		ok   bool
	}{
		{"0-5460", []fault.Range{{0, 5460}}, true},
		{"1, 2-3 ,16383", []fault.Range{{1, 1}, {2, 3}, {16383, 16383}}, true},
		{"", nil, false},
		{"x", nil, false},
		{"5-4", nil, false},
		{"0-16384", nil, false},
		{"-1", nil, false},
	}
	for _, tt := range tests {
		got, err := fault.ParseSlots(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseSlots(%q) error %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && len(got) != len(tt.want) {
			t.Errorf("ParseSlots(%q) = %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range tt.want {
			if got[i] != tt.want[i] {
				t.Errorf("ParseSlots(%q) = %v, want %v", tt.in, got, tt.want)
			}
		}
	}
}

func TestParseClients(t *testing.T) {
	ns, err := fault.ParseClients("10.0.0.0/8, 127.0.0.1, ::1")
	if err != nil || len(ns) != 3 {
		t.Fatalf("ParseClients: %v %v", ns, err)
	}
	for _, ip := range []string{"10.1.2.3", "127.0.0.1", "::1"} {
		in := false
		for _, n := range ns {
			if n.Contains(mustIP(t, ip)) {
				in = true
			}
		}
		if !in {
			t.Errorf("%s not matched", ip)
		}
	}
	if ns[1].Contains(mustIP(t, "127.0.0.2")) {
		t.Error("a single IP matches only itself")
	}
	for _, bad := range []string{"", "host", "1.2.3.4/40", "1.2.3"} {
		if _, err := fault.ParseClients(bad); err == nil {
			t.Errorf("ParseClients(%q) accepted", bad)
		}
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		json string
		want time.Duration
		ok   bool
	}{
		{`"1.5s"`, 1500 * time.Millisecond, true},
		{`"200ms"`, 200 * time.Millisecond, true},
		{`"2"`, 0, false}, // a number needs its unit: 2ms? 2s?
		{`3`, 0, false},
		{`0.25`, 0, false},
		{`0`, 0, true},
		{`"0"`, 0, true},
		{`""`, 0, true},
		{`"soon"`, 0, false},
		{`true`, 0, false},
	}
	for _, tt := range tests {
		var d fault.Duration
		err := json.Unmarshal([]byte(tt.json), &d)
		if (err == nil) != tt.ok || (tt.ok && d.D() != tt.want) {
			t.Errorf("%s → %v, %v; want %v ok=%v", tt.json, d.D(), err, tt.want, tt.ok)
		}
	}
	b, _ := json.Marshal(fault.Duration(90 * time.Second))
	if string(b) != `"1m30s"` {
		t.Errorf("MarshalJSON = %s", b)
	}
	// YAML, as in the config file and plans: a bare number other than 0 is
	// refused, with the units it may have meant.
	var y struct {
		A fault.Duration `yaml:"a"`
		B fault.Duration `yaml:"b"`
	}
	if err := yaml.Unmarshal([]byte("a: 250ms\nb: 0\n"), &y); err != nil || y.A.D() != 250*time.Millisecond || y.B.D() != 0 {
		t.Errorf("YAML durations: %v %v %v", y.A.D(), y.B.D(), err)
	}
	err := yaml.Unmarshal([]byte("a: 100\n"), &y)
	if err == nil || !strings.Contains(err.Error(), `a number needs a unit ("100ms" or "100s"?)`) {
		t.Errorf("YAML a: 100: %v, want the missing unit named", err)
	}
}

func TestSpecJSONRoundTrip(t *testing.T) {
	in := `{"action":"error","error":"MISCONF","target":"127.0.0.1:7002","match":{"commands":["SET"],"categories":["write"],"keys":"user:*","slots":"0-5460","clients":"10.0.0.0/8","probability":0.5,"count":10},"delay":"2s","ttl":"30s"}`
	var s fault.Spec
	dec := json.NewDecoder(strings.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(fault.Limits{}); err != nil {
		t.Fatal(err)
	}
	if s.Delay.D() != 2*time.Second || s.TTL.D() != 30*time.Second || s.Match.Count != 10 {
		t.Errorf("decoded %+v", s)
	}
	out, _ := json.Marshal(s)
	var back fault.Spec
	if err := json.Unmarshal(out, &back); err != nil || back.TTL != s.TTL || back.Match.Keys != s.Match.Keys {
		t.Errorf("round trip: %s → %+v %v", out, back, err)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add(`{"action":"error","error":"OOM","target":"shard:1","match":{"slots":"0-10","clients":"10.0.0.0/8"}}`)
	f.Add(`{"action":"latency","latency":"1s","jitter":2}`)
	f.Add(`{"action":"migrate","target":"shard:0","to":"shard:1","ask_for":"1s"}`)
	f.Fuzz(func(t *testing.T, in string) {
		var s fault.Spec
		if json.Unmarshal([]byte(in), &s) != nil {
			return
		}
		err := s.Validate(fault.Limits{})
		if err == nil {
			// A valid spec stays valid, and its TTL is within bounds.
			if s.TTL <= 0 || s.TTL.D() > time.Hour {
				t.Fatalf("valid spec with TTL %v", s.TTL.D())
			}
			if err := s.Validate(fault.Limits{}); err != nil {
				t.Fatalf("valid once, not twice: %v", err)
			}
		}
	})
}

func mustIP(t *testing.T, s string) net.IP {
	t.Helper()
	ip := net.ParseIP(s)
	if ip == nil {
		t.Fatalf("bad IP %q", s)
	}
	return ip
}
