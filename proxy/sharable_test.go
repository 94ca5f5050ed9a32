package proxy

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
)

// SharedPerNode is what the external tests may expect at most per node.
const SharedPerNode = sharedPerNode

func TestSharable(t *testing.T) {
	table := builtinCommands
	enc := func(args ...string) []byte {
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
		{"GET", enc("GET", "k"), true},
		{"SET", enc("SET", "k", "v"), true},
		{"MSET", enc("MSET", "{a}1", "v", "{a}2", "v"), true},
		{"PING", enc("PING"), true},
		{"ECHO", enc("ECHO", "x"), true},
		{"CLUSTER", enc("CLUSTER", "slots"), true},
		{"CLUSTER SHARDS", enc("CLUSTER", "SHARDS"), true},
		{"INFO", enc("INFO", "server"), true},
		{"CLUSTER FAILOVER", enc("CLUSTER", "FAILOVER"), false},
		{"CLIENT LIST", enc("CLIENT", "LIST"), false},
		// connection state, or replies that are not one per command
		{"MULTI", enc("MULTI"), false},
		{"EXEC", enc("EXEC"), false},
		{"AUTH", enc("AUTH", "p"), false},
		{"HELLO", enc("HELLO", "3"), false},
		{"SELECT", enc("SELECT", "0"), false},
		{"READONLY", enc("READONLY"), false},
		{"ASKING", enc("ASKING"), false},
		{"CLIENT", enc("CLIENT", "SETNAME", "x"), false},
		{"SUBSCRIBE", enc("SUBSCRIBE", "c"), false},
		{"SSUBSCRIBE", enc("SSUBSCRIBE", "c"), false},
		{"SPUBLISH", enc("SPUBLISH", "c", "m"), false},
		{"MONITOR", enc("MONITOR"), false},
		{"WAIT", enc("WAIT", "1", "0"), false},
		{"BLPOP", enc("BLPOP", "k", "0"), false},
		{"EVAL", enc("EVAL", "return 1", "1", "k"), false},
		{"KEYS", enc("KEYS", "*"), false},
		{"NOSUCHCOMMAND", enc("NOSUCHCOMMAND", "k"), false},
		{"inline GET", []byte("GET k\r\n"), false},
		{"large SET", enc("SET", "k", strings.Repeat("x", sharedMaxCommand)), false},
	} {
		name, _, _ := strings.Cut(tc.name, " ")
		ci := table[name]
		if name == "inline" || name == "large" {
			ci = table[strings.Fields(tc.name)[1]]
		}
		var args [][]byte
		if cmds, err := resp.NewCommandReader(bytes.NewReader(tc.raw)).Read(); err == nil && len(cmds) == 1 {
			args = cmds[0].Args
		}
		if got := sharable(ci, args, tc.raw); got != tc.want {
			t.Errorf("%s: sharable = %v, want %v", tc.name, got, tc.want)
		}
	}
	// WATCH is keyed but changes connection state.
	if sharable(&CommandInfo{Name: "WATCH", FirstKey: 1, LastKey: -1, Step: 1}, [][]byte{[]byte("WATCH"), []byte("k")}, enc("WATCH", "k")) {
		t.Error("WATCH: sharable")
	}
}

// Pinned counts the clients of a sharing proxy that have their own upstream
// connection, and those that share.
func Pinned(s *Server) (pinned, sharing int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		switch {
		case c.shared == nil:
		case c.shared.pinned() != nil:
			pinned++
		default:
			sharing++
		}
	}
	return pinned, sharing
}
