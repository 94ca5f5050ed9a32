package topology

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestSlot(t *testing.T) {
	tests := []struct {
		key  string
		want int
	}{
		{"foo", 12182},
		{"bar", 5061},
		{"123456789", 0x31C3 & 16383}, // the CRC-16/XMODEM check value
		{"", 0},
		{"user1000", 3443},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", Slot([]byte("foo{}{bar}"))}, // "{}" is empty: the whole key
		{"{}", 15257},
		{"{bar", Slot([]byte("{bar"))},
		{"foo{{bar}}zap", Slot([]byte("{bar"))}, // the tag is "{bar"
		{"foo{bar}{zap}", Slot([]byte("bar"))},
		{"x{a}", Slot([]byte("a"))},
	}
	for _, tt := range tests {
		if got := Slot([]byte(tt.key)); got != tt.want {
			t.Errorf("Slot(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
	if Slot([]byte("foo{}{bar}")) == Slot([]byte("bar")) {
		t.Error(`"foo{}{bar}" must hash the whole key, not "bar"`)
	}
	if Slot([]byte("{bar")) == Slot([]byte("bar")) {
		t.Error(`"{bar" has no closing brace: it must hash the whole key`)
	}
}

// TestSlotKeyslot compares Slot with CLUSTER KEYSLOT on a real redis-server.
func TestSlotKeyslot(t *testing.T) {
	port, _ := startNode(t)
	c, err := dialRaw(port, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"foo", "{user1000}.following", "{}", "{}{x}", "a{b", "a}b{c}", "{{}}", "\x00{\xff}", ""}
	alphabet := "ab{}\x00\xff"
	for range 500 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		keys = append(keys, string(b))
	}
	for i := range 500 {
		keys = append(keys, fmt.Sprintf("key:%d:%x", i, rng.Uint64()))
	}
	for _, k := range keys {
		reply := c.mustDo(t, "CLUSTER", "KEYSLOT", k)
		want, err := strconv.Atoi(string(reply[1 : len(reply)-2]))
		if err != nil || reply[0] != ':' {
			t.Fatalf("KEYSLOT %q: %q", k, reply)
		}
		if got := Slot([]byte(k)); got != want {
			t.Errorf("Slot(%q) = %d, CLUSTER KEYSLOT says %d", k, got, want)
		}
	}
}
