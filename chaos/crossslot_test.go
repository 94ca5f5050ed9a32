package chaos

import (
	"strings"
	"testing"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

func TestCrossSlot(t *testing.T) {
	infos := map[string]*proxy.CommandInfo{
		"GET":  {Name: "GET", FirstKey: 1, LastKey: 1, Step: 1},
		"MSET": {Name: "MSET", FirstKey: 1, LastKey: -1, Step: 2},
		"MGET": {Name: "MGET", FirstKey: 1, LastKey: -1, Step: 1},
		"EVAL": {Name: "EVAL", FirstKey: 0, LastKey: 0, Step: 0},
		"PING": {Name: "PING", Keyless: true},
	}
	for _, tc := range []struct {
		cmd  string
		want bool
	}{
		{"GET {a}1", false},
		{"MSET {a}1 v {a}2 v", false},
		{"MSET {a}1 {b}1 {a}2 v", false}, // {b}1 is a value
		{"MSET {a}1 v {b}1 v", true},
		{"MGET {a}1 {a}1 {a}2", false},
		{"MGET {a}1 {a}2 {b}3", true},
		{"EVAL s 2 {a}1 {b}1", true},
		{"EVAL s 2 {a}1 {a}2 {b}1", false}, // {b}1 is an argument
		{"EVAL s 1 {a}1 {b}1", false},
		{"EVAL s 0", false},
		{"EVAL s 5 {a}1 {b}1", false}, // numkeys past the end: Redis finds no keys
		{"EVAL s 2 {a}1", false},
		{"PING", false},
	} {
		args := strings.Fields(tc.cmd)
		cmd := &proxy.Command{Name: args[0], Info: infos[args[0]], Slot: -1}
		for _, a := range args {
			cmd.Args = append(cmd.Args, []byte(a))
		}
		if k := firstKeyForTest(cmd); k != "" {
			cmd.Slot = topology.Slot([]byte(k))
		}
		if got := crossSlot(cmd); got != tc.want {
			t.Errorf("%s: crossSlot = %v, want %v", tc.cmd, got, tc.want)
		}
	}
}

// firstKeyForTest is the proxy's first key (Command.Slot is its slot).
func firstKeyForTest(cmd *proxy.Command) string {
	switch {
	case cmd.Name == "EVAL":
		if len(cmd.Args) > 3 && string(cmd.Args[2]) != "0" {
			return string(cmd.Args[3])
		}
	case cmd.Info.FirstKey > 0 && len(cmd.Args) > cmd.Info.FirstKey:
		return string(cmd.Args[cmd.Info.FirstKey])
	}
	return ""
}
