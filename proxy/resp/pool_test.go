package resp

import (
	"bytes"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"weak"
)

// TestPoolDoesNotKeepLargeBuffers: a batch's pooled Args keep pointing into
// the reader's buffer after release(); a later user of the same scratch that
// writes fewer args leaves the stale entries, so a (large) read buffer of a
// finished reader stays reachable from the pool.
func TestPoolDoesNotKeepLargeBuffers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one P: the pool's per-P cache is the one reused
	val := strings.Repeat("x", 200<<10)             // 200 KiB value: the reader's buffer grows to 256 KiB
	big := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + strconv.Itoa(len(val)) + "\r\n" + val + "\r\n"
	var wp weak.Pointer[byte]
	func() {
		cr := NewCommandReader(bytes.NewReader([]byte(big)))
		cmds, err := cr.Read()
		if err != nil || len(cmds) != 1 {
			t.Fatal(cmds, err)
		}
		wp = weak.Make(&cr.buf[0])
		if _, err := cr.Read(); err != io.EOF { // releases the scratch
			t.Fatal(err)
		}
	}()
	// Other connections keep using the pool with 2-argument commands only.
	for i := 0; i < 6; i++ {
		cr := NewCommandReader(bytes.NewReader([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")))
		if _, err := cr.Read(); err != nil {
			t.Fatal(err)
		}
		cr.Read()
		runtime.GC()
	}
	if wp.Value() != nil {
		t.Errorf("the finished reader's %d KiB buffer is still reachable (stale Args in a pooled scratch)", 256)
	}
}
