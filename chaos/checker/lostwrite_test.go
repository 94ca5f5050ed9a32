package checker

import (
	"strings"
	"testing"
	"time"
)

// TestAddLostWrites: the writes a partition lost are one finding per client,
// each write an occurrence with its evidence; writes a simulated partition
// put at risk are a possible finding, one severity lower; keys are left out
// when keys are redacted.
func TestAddLostWrites(t *testing.T) {
	t0 := time.Unix(1000, 0)
	app := ClientID{Addr: "10.0.0.7", LibName: "go-redis(,go1.26)", LibVer: "9.23.0", Name: "app"}
	other := ClientID{Addr: "10.0.0.8", LibName: "redis-py", LibVer: "5.0.1"}
	w := func(c ClientID, conn uint64, key string, at time.Duration) LostWrite {
		return LostWrite{Time: t0.Add(at), Command: "SET", Key: key, Node: "127.0.0.1:30001", Port: "127.0.0.1:7001", Conn: conn, Client: c}
	}
	for _, tc := range []struct {
		name     string
		atRisk   bool
		redact   bool
		severity Severity
	}{
		{"lost", false, false, High},
		{"at risk", true, false, Medium},
		{"keys redacted", false, true, High},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := New(Config{RedactKeys: tc.redact})
			k.AddLostWrites([]LostWrite{w(app, 1, "order:1", 0), w(other, 2, "cart:9", time.Second), w(app, 3, "order:2", 2*time.Second)}, tc.atRisk)
			got := map[string]Finding{}
			for _, f := range k.Findings() {
				if f.Rule != RuleWriteLost {
					t.Fatalf("finding of rule %s", f.Rule)
				}
				got[f.Client.Addr] = f
			}
			f, ok := got[app.Addr]
			if len(got) != 2 || !ok {
				t.Fatalf("findings for %v, want one per client", got)
			}
			if f.Count != 2 || f.Severity != tc.severity || f.Possible != tc.atRisk || f.Client.Name != "app" ||
				!f.FirstSeen.Equal(t0) || !f.LastSeen.Equal(t0.Add(2*time.Second)) {
				t.Errorf("finding %+v", f)
			}
			if len(f.Evidence) != 2 || f.Evidence[0].Command != "SET" || f.Evidence[0].Node != "127.0.0.1:30001" {
				t.Fatalf("evidence %+v", f.Evidence)
			}
			if key := f.Evidence[0].Key; (key == "") != tc.redact || (!tc.redact && key != "order:1") {
				t.Errorf("evidence key %q (redacted: %v)", key, tc.redact)
			}
			if !strings.Contains(f.Evidence[0].Note, map[bool]string{false: "then lost", true: "loses this write"}[tc.atRisk]) {
				t.Errorf("evidence note %q", f.Evidence[0].Note)
			}
		})
	}
}
