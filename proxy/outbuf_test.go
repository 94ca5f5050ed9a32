package proxy

import (
	"bytes"
	"testing"
)

// TestOutBuf: commands that follow each other in the reader's buffer are sent
// from it, without a copy; any other order is copied; the bytes are always
// the commands in the order added.
func TestOutBuf(t *testing.T) {
	buf := []byte("*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n")
	a, b, c := buf[:14], buf[14:36], buf[36:]
	aliases := func(x []byte) bool { return len(x) > 0 && &x[0] == &buf[0] }

	var o outBuf
	o.add(a)
	o.add(b)
	o.add(c)
	if got := o.bytes(); !bytes.Equal(got, buf) || !aliases(got) {
		t.Fatalf("contiguous: %q (aliases the buffer: %v), want the buffer itself", got, aliases(got))
	}
	o.reset()
	if o.size() != 0 || o.bytes() != nil {
		t.Fatalf("after reset: %q", o.bytes())
	}

	// A gap (a command answered by a fault is not sent), then the rest.
	o.add(a)
	o.add(c)
	o.add([]byte("*1\r\n$4\r\nQUIT\r\n"))
	want := string(a) + string(c) + "*1\r\n$4\r\nQUIT\r\n"
	if got := o.bytes(); string(got) != want || aliases(got) {
		t.Fatalf("with a gap: %q, want a copy of %q", got, want)
	}
	if string(buf[14:36]) != string(b) {
		t.Fatal("the reader's buffer was written to")
	}
	o.reset()
	o.add(b)
	o.add(a) // out of order: before in the buffer
	if got := o.bytes(); string(got) != string(b)+string(a) {
		t.Fatalf("out of order: %q", got)
	}
	if string(buf) != string(a)+string(b)+string(c) {
		t.Fatal("the reader's buffer was written to")
	}
}
