package proxy

import (
	"bytes"
	"errors"
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

// writes records each Write it gets.
type writes struct{ got [][]byte }

func (w *writes) Write(p []byte) (int, error) {
	w.got = append(w.got, bytes.Clone(p))
	return len(p), nil
}

// TestReplyWriter: replies that pass unchanged go out from the upstream's
// buffer in one write when nothing else is buffered; mixed with written
// (injected, rewritten) replies, everything goes out in order.
func TestReplyWriter(t *testing.T) {
	up := []byte("+OK\r\n+OK\r\n$1\r\nv\r\n")
	var ws writes
	w := &replyWriter{conn: &ws}
	w.pass(up[:5])
	w.pass(up[5:10])
	w.pass(up[10:])
	if w.Buffered() != len(up) {
		t.Fatalf("Buffered = %d, want %d", w.Buffered(), len(up))
	}
	if err := w.Flush(); err != nil || len(ws.got) != 1 || !bytes.Equal(ws.got[0], up) {
		t.Fatalf("passed replies: writes %q (%v), want one write of %q", ws.got, err, up)
	}
	if w.bw != nil {
		t.Error("passed replies made the 16 KiB buffer")
	}

	ws.got = nil
	w.pass(up[:5])
	w.Write([]byte("-MOVED 1 h:1\r\n")) // a rewritten reply between two passed ones
	w.pass(up[5:10])
	w.pass(up[:5]) // not contiguous with the previous run
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "+OK\r\n-MOVED 1 h:1\r\n+OK\r\n+OK\r\n"
	if got := string(bytes.Join(ws.got, nil)); got != want {
		t.Fatalf("mixed: %q, want %q", got, want)
	}
	if w.Buffered() != 0 {
		t.Fatalf("Buffered after Flush = %d", w.Buffered())
	}
}

// failOnce fails its first Write (a transient error), then accepts.
type failOnce struct {
	failed bool
	got    bytes.Buffer
}

func (f *failOnce) Write(p []byte) (int, error) {
	if !f.failed {
		f.failed = true
		return 0, errors.New("transient")
	}
	return f.got.Write(p)
}

// TestReplyWriterKeepsWriteError: bufio.Writer keeps a write error and
// returns it from every later Flush; replyWriter.Flush's direct path (bw
// empty) bypasses it, so a reply lost to the failed write is followed by
// later replies and Flush reports success.
func TestReplyWriterKeepsWriteError(t *testing.T) {
	f := &failOnce{}
	w := &replyWriter{conn: f}
	big := bytes.Repeat([]byte("x"), 20<<10) // larger than the 16 KiB buffer: written directly, fails
	w.Write(big)                             // next() ignores this error (injected / routed reply)
	w.pass([]byte("+OK\r\n"))
	if err := w.Flush(); err == nil {
		t.Errorf("Flush = nil after a failed write; the client got %q only (the %d-byte reply before it was lost)", f.got.String(), len(big))
	}
}
