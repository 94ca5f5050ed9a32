package proxy

import (
	"strconv"
	"strings"
	"testing"
)

// SharedPerNode is what the external tests may expect at most per node.
const SharedPerNode = sharedPerNode

func TestSharable(t *testing.T) {
	table := builtinCommands
	resp := func(args ...string) []byte {
		var b strings.Builder
		b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
		for _, a := range args {
			b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
		}
		return []byte(b.String())
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		want bool
	}{
		{"GET", resp("GET", "k"), true},
		{"SET", resp("SET", "k", "v"), true},
		{"MSET", resp("MSET", "{a}1", "v", "{a}2", "v"), true},
		{"PING", resp("PING"), true},
		{"ECHO", resp("ECHO", "x"), true},
		// connection state, or replies that are not one per command
		{"MULTI", resp("MULTI"), false},
		{"EXEC", resp("EXEC"), false},
		{"AUTH", resp("AUTH", "p"), false},
		{"HELLO", resp("HELLO", "3"), false},
		{"SELECT", resp("SELECT", "0"), false},
		{"READONLY", resp("READONLY"), false},
		{"ASKING", resp("ASKING"), false},
		{"CLIENT", resp("CLIENT", "SETNAME", "x"), false},
		{"SUBSCRIBE", resp("SUBSCRIBE", "c"), false},
		{"SSUBSCRIBE", resp("SSUBSCRIBE", "c"), false},
		{"SPUBLISH", resp("SPUBLISH", "c", "m"), false},
		{"MONITOR", resp("MONITOR"), false},
		{"WAIT", resp("WAIT", "1", "0"), false},
		{"BLPOP", resp("BLPOP", "k", "0"), false},
		{"EVAL", resp("EVAL", "return 1", "1", "k"), false},
		{"KEYS", resp("KEYS", "*"), false},
		{"NOSUCHCOMMAND", resp("NOSUCHCOMMAND", "k"), false},
		{"inline GET", []byte("GET k\r\n"), false},
		{"large SET", resp("SET", "k", strings.Repeat("x", sharedMaxCommand)), false},
	} {
		name, _, _ := strings.Cut(tc.name, " ")
		ci := table[name]
		if name == "inline" || name == "large" {
			ci = table[strings.Fields(tc.name)[1]]
		}
		if got := sharable(ci, tc.raw); got != tc.want {
			t.Errorf("%s: sharable = %v, want %v", tc.name, got, tc.want)
		}
	}
	// WATCH is keyed but changes connection state.
	if sharable(&CommandInfo{Name: "WATCH", FirstKey: 1, LastKey: -1, Step: 1}, resp("WATCH", "k")) {
		t.Error("WATCH: sharable")
	}
}
