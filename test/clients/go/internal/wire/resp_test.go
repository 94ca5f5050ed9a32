package wire

import (
	"reflect"
	"testing"
)

func TestParserSplits(t *testing.T) {
	stream := "*3\r\n$3\r\nset\r\n$1\r\nk\r\n$2\r\nvv\r\n" + // a command
		"-MOVED 12 127.0.0.1:7002\r\n:42\r\n+OK\r\n$-1\r\n_\r\n" +
		"*2\r\n*3\r\n:0\r\n:5460\r\n*2\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nab\r\n" + // nested
		"%1\r\n+k\r\n:1\r\n|1\r\n+ttl\r\n:3\r\n#t\r\n" + // a map, an attribute before a boolean
		"!21\r\nSYNTAX invalid syntax\r\n>2\r\n$7\r\nmessage\r\n$1\r\nx\r\n" +
		"PING\r\n"
	want := []Value{
		{Type: '*', N: 3, Args: []string{"SET", "k", "vv"}},
		{Type: '-', Str: "MOVED 12 127.0.0.1:7002"},
		{Type: ':', Str: "42"},
		{Type: '+', Str: "OK"},
		{Type: '$'},
		{Type: '_'},
		{Type: '*', N: 2, Args: []string{"ab"}}, // bulk elements of a reply are kept too
		{Type: '%', N: 1},
		{Type: '#', Str: "t"},
		{Type: '!', Str: "SYNTAX invalid syntax"},
		{Type: '>', N: 2, Args: nil},
		{Type: 'i', N: 1, Args: []string{"PING"}},
	}
	// Every split of the stream into two feeds gives the same values.
	for cut := 0; cut <= len(stream); cut++ {
		var p Parser
		var got []Value
		emit := func(v Value) { got = append(got, v) }
		p.Feed([]byte(stream[:cut]), emit)
		p.Feed([]byte(stream[cut:]), emit)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("cut %d:\n got %+v\nwant %+v", cut, got, want)
		}
	}
}

func TestParserBadFraming(t *testing.T) {
	var p Parser
	n := 0
	p.Feed([]byte("*x\r\n+OK\r\n"), func(Value) { n++ })
	p.Feed([]byte("+OK\r\n"), func(Value) { n++ })
	if n != 0 {
		t.Fatalf("values after a framing error: %d", n)
	}
}
