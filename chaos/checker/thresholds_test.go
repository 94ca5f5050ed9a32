package checker

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestThresholdTable: every field of Thresholds has exactly one name, and
// its default is the one setDefaults gives.
func TestThresholdTable(t *testing.T) {
	var th Thresholds
	table := thresholdTable(&th)
	if n := reflect.TypeOf(th).NumField(); len(table) != n {
		t.Fatalf("%d named thresholds, Thresholds has %d fields", len(table), n)
	}
	seen := map[any]string{}
	names := map[string]bool{}
	for _, x := range table {
		var p any
		switch {
		case x.dur != nil:
			p = x.dur
		case x.num != nil:
			p = x.num
		default:
			p = x.flt
		}
		if prev, dup := seen[p]; dup {
			t.Errorf("%s and %s set the same field", prev, x.Name)
		}
		seen[p] = x.Name
		if names[x.Name] || x.Name != strings.ToLower(x.Name) || strings.ContainsAny(x.Name, "_ .") {
			t.Errorf("name %q: duplicate or not kebab-case", x.Name)
		}
		names[x.Name] = true
		if _, ok := RuleByID(x.Rule); !ok {
			t.Errorf("%s: unknown rule %q", x.Name, x.Rule)
		}
	}
	var def Thresholds
	def.setDefaults()
	var parsed Thresholds
	for _, x := range ThresholdInfos() {
		if err := parsed.Set(x.Name, x.Default); err != nil {
			t.Errorf("default of %s (%q) does not parse: %v", x.Name, x.Default, err)
		}
	}
	if parsed != def {
		t.Errorf("the defaults as text do not read back:\n%+v\n%+v", parsed, def)
	}
}

func TestThresholdSet(t *testing.T) {
	var th Thresholds
	for _, s := range [][2]string{
		{"command-timeout", "1s"}, {"reconnect-rate", "2.5"}, {"stale-moved", " 7 "}, {"fanout-share", "1"},
	} {
		if err := th.Set(s[0], s[1]); err != nil {
			t.Errorf("Set(%s, %q): %v", s[0], s[1], err)
		}
	}
	if th.CommandTimeout != time.Second || th.ReconnectRate != 2.5 || th.StaleMoved != 7 || th.FanoutShare != 1 {
		t.Errorf("after Set: %+v", th)
	}
	for _, c := range []struct{ name, value, want string }{
		{"command_timeout", "1s", `unknown threshold: did you mean "command-timeout"?`},
		{"CommandTimeout", "1s", `did you mean "command-timeout"?`},
		{"bogus", "1", "unknown threshold ("},
		{"command-timeout", "10", `"10" is not a duration`},
		{"command-timeout", "0s", "must be positive"},
		{"command-timeout", "-1s", "must be positive"},
		{"stale-moved", "2.5", "not a whole number"},
		{"stale-moved", "0", "must be 1 or more"},
		{"reconnect-rate", "fast", "not a number"},
		{"reconnect-rate", "NaN", "must be positive"},
		{"resend-share", "1.5", "a share must be in (0, 1]"},
	} {
		before := th
		err := th.Set(c.name, c.value)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Set(%s, %q) = %v, want an error with %q", c.name, c.value, err, c.want)
		}
		if th != before {
			t.Errorf("a refused Set(%s, %q) changed the thresholds", c.name, c.value)
		}
	}
}

// TestRulesInEffect: GET /v1/rules shows the checker's thresholds and
// severities, not the catalogue's defaults.
func TestRulesInEffect(t *testing.T) {
	k := New(Config{
		Thresholds: Thresholds{CommandTimeout: 1500 * time.Millisecond, ReconnectRate: 2},
		Severities: map[string]Severity{RuleCrossSlot: Medium},
	})
	rec := httptest.NewRecorder()
	k.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/rules", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/rules: %d %s", rec.Code, rec.Body)
	}
	var body RulesBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Rules) != len(catalogue) {
		t.Fatalf("%d rules", len(body.Rules))
	}
	if got := body.Thresholds["command-timeout"]; got != "1.5s" {
		t.Errorf("thresholds[command-timeout] = %q, want 1.5s", got)
	}
	if got := body.Thresholds["moved-follow"]; got != "2s" {
		t.Errorf("thresholds[moved-follow] = %q, want the default 2s", got)
	}
	if len(body.Thresholds) != len(ThresholdInfos()) {
		t.Errorf("%d thresholds, want %d", len(body.Thresholds), len(ThresholdInfos()))
	}
	for _, r := range body.Rules {
		switch r.ID {
		case RuleNoCommandTimeout:
			if r.Thresholds["command-timeout"] != "1.5s" {
				t.Errorf("%s thresholds %v", r.ID, r.Thresholds)
			}
		case RuleReconnectStorm:
			if r.Thresholds["reconnect-rate"] != "2" || r.Thresholds["reconnect-window"] != "5s" || len(r.Thresholds) != 4 {
				t.Errorf("%s thresholds %v", r.ID, r.Thresholds)
			}
		case RuleCrossSlot:
			if r.Severity != Medium {
				t.Errorf("%s severity %s, want the configured medium", r.ID, r.Severity)
			}
		}
	}
	// The package-level catalogue keeps the defaults.
	for _, r := range Rules() {
		if r.ID == RuleNoCommandTimeout && r.Thresholds["command-timeout"] != "10s" {
			t.Errorf("Rules(): %v", r.Thresholds)
		}
	}
}
