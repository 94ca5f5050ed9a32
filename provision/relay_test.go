package provision

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// busHeader is the start of a cluster bus message from the node with this id.
func busHeader(id string) []byte {
	h := make([]byte, busHeaderLen)
	copy(h, busSig)
	copy(h[busSenderOffset:], id)
	return h
}

// fakeNode accepts connections on a cluster bus port and hands them over.
func fakeNode(t *testing.T) (string, chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	})
	return ln.Addr().String(), accepted
}

// readWithin reads what arrives on c within d: the bytes, and whether the
// connection was closed.
func readWithin(c net.Conn, d time.Duration) ([]byte, bool) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	var got []byte
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			return got, !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

func TestRelay(t *testing.T) {
	idA, idB := strings.Repeat("a", 40), strings.Repeat("b", 40)
	addrA, _ := fakeNode(t)
	addrB, atB := fakeNode(t)
	rs, err := startRelays("127.0.0.1", []string{idA, idB}, []string{addrA, addrB},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.close()
	relayB := "127.0.0.1:" + strconv.Itoa(rs.ports()[1])
	dialAsA := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", relayB)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write(append(busHeader(idA), "ping"...)); err != nil {
			t.Fatal(err)
		}
		return c
	}

	// Before any cut: forwarded both ways, header included, and counted as a
	// link from node 0 to node 1.
	a1 := dialAsA()
	var b1 net.Conn
	select {
	case b1 = <-atB:
	case <-time.After(5 * time.Second):
		t.Fatal("the relay did not connect to node B")
	}
	defer b1.Close()
	want := append(busHeader(idA), "ping"...)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(b1, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("node B got %q, %v", got, err)
	}
	if _, err := b1.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if got, closed := readWithin(a1, time.Second); string(got) != "pong" || closed {
		t.Fatalf("node A got %q (closed %v), want pong", got, closed)
	}
	if l := rs.links(); l[[2]int{0, 1}] != 1 || len(l) != 1 {
		t.Fatalf("links %v, want one from 0 to 1", l)
	}

	// The cut: silence both ways on the open connection, and nothing reaches
	// node B of a new one; nothing is closed.
	rs.setSides([]int{0, 1})
	a1.Write([]byte("lost"))
	if got, closed := readWithin(b1, 200*time.Millisecond); len(got) != 0 || closed {
		t.Errorf("across the cut node B got %q (closed %v), want silence", got, closed)
	}
	b1.Write([]byte("lost"))
	if got, closed := readWithin(a1, 200*time.Millisecond); len(got) != 0 || closed {
		t.Errorf("across the cut node A got %q (closed %v), want silence", got, closed)
	}
	a2 := dialAsA()
	select {
	case c := <-atB:
		c.Close()
		t.Error("a connection across the cut reached node B")
	case <-time.After(200 * time.Millisecond):
	}
	if l := rs.links(); len(l) != 0 {
		t.Errorf("links across the cut %v, want none", l)
	}
	if n := rs.open(); n != 2 {
		t.Errorf("%d connections held during the cut, want 2", n)
	}

	// The heal closes what the cut silenced; new connections are forwarded.
	rs.heal()
	for i, c := range []net.Conn{a1, a2} {
		if _, closed := readWithin(c, 2*time.Second); !closed {
			t.Errorf("silenced connection %d still open after the heal", i+1)
		}
	}
	dialAsA()
	select {
	case c := <-atB:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("no connection reached node B after the heal")
	}

	// An unknown sender is never cut off.
	rs.setSides([]int{0, 1})
	u, err := net.Dial("tcp", relayB)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write(busHeader(strings.Repeat("z", 40)))
	select {
	case c := <-atB:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a connection from an unknown node was not forwarded")
	}
}

func TestSideOf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sides [][]int
		want  []int
		err   string
	}{
		{"one node isolated", [][]int{{0}}, []int{1, 0, 0, 0}, ""},
		{"two sides named", [][]int{{0, 1}, {2, 3}}, []int{1, 1, 2, 2}, ""},
		{"three sides", [][]int{{0}, {1}}, []int{1, 2, 0, 0}, ""},
		{"no side", nil, nil, "every node is on one side"},
		{"all on one side", [][]int{{0, 1, 2, 3}}, nil, "every node is on one side"},
		{"empty side", [][]int{{0}, {}}, nil, "side 2 is empty"},
		{"twice", [][]int{{0}, {0, 1}}, nil, "node 0 is on two sides"},
		{"out of range", [][]int{{4}}, nil, "no such node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sideOf(4, tc.sides)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
		})
	}
}

func TestExposedMasters(t *testing.T) {
	// Masters 0, 1, 2 (of 3): the side holding 2 keeps a majority.
	if got := exposedMasters([]int{0, 1, 2}, []int{1, 0, 0, 0}); !slices.Equal(got, []int{0}) {
		t.Errorf("isolated master 0: exposed %v", got)
	}
	if got := exposedMasters([]int{0, 1, 2}, []int{1, 1, 0, 0}); !slices.Equal(got, []int{2}) {
		t.Errorf("masters 0 and 1 apart: exposed %v", got)
	}
	// 4 masters split 2/2: no side has a majority.
	if got := exposedMasters([]int{0, 1, 2, 3}, []int{1, 1, 0, 0}); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Errorf("2/2: exposed %v", got)
	}
}

func TestConfValue(t *testing.T) {
	path := t.TempDir() + "/redis.conf"
	conf := "# comment\nport 1\nmasterauth \"p w\\\"x\"\nmasteruser 'ap'\nmasterauth plain\n  cluster-port 4\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want string }{
		{"masterauth", "plain"}, // the last one counts
		{"masteruser", "ap"},
		{"cluster-port", "4"},
		{"MASTERUSER", "ap"},
	} {
		if got, ok := confValue(path, tc.name); !ok || got != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, got, ok, tc.want)
		}
	}
	if _, ok := confValue(path, "masterport"); ok {
		t.Error("a directive that is not there was found")
	}
	if got := splitConfArgs(`masterauth "p w\"x" 'it\'s' bare`); len(got) != 4 || got[1] != `p w"x` || got[2] != "it's" || got[3] != "bare" {
		t.Errorf("splitConfArgs: %q", got)
	}
}
