package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/redis-chaos/redis-chaos/chaos/api"
)

// TestCLIActor checks that the API client commands declare who acts, for the
// API's audit log: $USER@hostname, or $REDIS_CHAOS_ACTOR.
func TestCLIActor(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get(api.ActorHeader))
		api.WriteJSON(w, http.StatusOK, map[string]int{"removed": 0})
	}))
	defer srv.Close()
	for _, tt := range []struct{ user, actor, want string }{
		{"carol", "", "carol@" + host},
		{"carol", "release-bot", "release-bot"},
	} {
		t.Setenv("USER", tt.user)
		t.Setenv("REDIS_CHAOS_ACTOR", tt.actor)
		got = nil
		if out, err := cli(t, "fault", "clear", "--api", srv.URL); err != nil {
			t.Fatalf("fault clear: %v\n%s", err, out)
		}
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("USER=%s REDIS_CHAOS_ACTOR=%s: actor header %q, want %q", tt.user, tt.actor, got, tt.want)
		}
	}
}
