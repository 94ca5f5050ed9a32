package resp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"testing/iotest"

	"github.com/tidwall/redcon"
)

// chunkReader returns its data in random small pieces.
type chunkReader struct {
	b   []byte
	rnd *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := 1 + c.rnd.IntN(min(len(c.b), len(p), 64))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

func encode(args [][]byte) []byte {
	var b []byte
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// TestCommandReaderRandomPipe is redcon's pipe test for our reader: 10,000
// random commands split and merged at random come out whole and in order,
// with Raw byte-identical to what was sent.
func TestCommandReaderRandomPipe(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	var all []byte
	var want [][][]byte
	for i := 0; i < 10000; i++ {
		n := 1 + rnd.IntN(6)
		args := make([][]byte, n)
		for j := range args {
			a := make([]byte, rnd.IntN(40))
			for k := range a {
				a[k] = byte(rnd.IntN(256))
			}
			args[j] = a
		}
		want = append(want, args)
		all = append(all, encode(args)...)
	}
	cr := NewCommandReader(&chunkReader{b: all, rnd: rnd})
	got := 0
	var raw []byte
	for {
		cmds, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cmds {
			if len(c.Args) != len(want[got]) {
				t.Fatalf("command %d: %d args, want %d", got, len(c.Args), len(want[got]))
			}
			for j := range c.Args {
				if !bytes.Equal(c.Args[j], want[got][j]) {
					t.Fatalf("command %d arg %d differs", got, j)
				}
			}
			raw = append(raw, c.Raw...)
			got++
		}
	}
	if got != len(want) {
		t.Fatalf("got %d commands, want %d", got, len(want))
	}
	if !bytes.Equal(raw, all) {
		t.Fatal("the Raw bytes are not what was sent")
	}
}

func TestCommandReaderErrorsAfterGoodCommands(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"*1\r\n$x\r\n", "Protocol error: invalid bulk length"},
		{"*x\r\n", "Protocol error: invalid multibulk length"},
		{"*1\r\n+PING\r\n", "Protocol error: expected '$', got '+'"},
		{"SET \"a b\r\n", "Protocol error: unbalanced quotes in request"},
		{"*1\r\n$600000000\r\n", "Protocol error: invalid bulk length"},
	} {
		in := "*1\r\n$4\r\nPING\r\nECHO hi\r\n" + tc.in
		cr := NewCommandReader(bytes.NewReader([]byte(in)))
		cmds, err := cr.Read()
		if err != nil || len(cmds) != 2 || string(cmds[1].Args[1]) != "hi" {
			t.Fatalf("%q: first batch %v, %v", tc.in, cmds, err)
		}
		_, err = cr.Read()
		if !errors.Is(err, ErrProtocol) || err.Error() != tc.want {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestCommandReaderInlineAndEmpty(t *testing.T) {
	cr := NewCommandReader(bytes.NewReader([]byte("\r\n*0\r\nset 'a b' \"c\\x41\\n\"\n")))
	cmds, err := cr.Read()
	if err != nil || len(cmds) != 1 {
		t.Fatalf("%v %v", cmds, err)
	}
	if got := cmds[0].Args; len(got) != 3 || string(got[1]) != "a b" || string(got[2]) != "cA\n" {
		t.Fatalf("args %q", got)
	}
}

func TestCommandReaderQueryLimit(t *testing.T) {
	cr := NewCommandReader(bytes.NewReader(append([]byte("*1\r\n$100000\r\n"), make([]byte, 50000)...)))
	cr.MaxQuery = 32 << 10
	if _, err := cr.Read(); !errors.Is(err, ErrQueryBuffer) {
		t.Fatalf("err %v, want ErrQueryBuffer", err)
	}
}

// FuzzCommandReader compares our reader with redcon's on the same bytes: when
// both parse a RESP command, the arguments agree; and ours never panics.
func FuzzCommandReader(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
	f.Add([]byte("PING\r\n"))
	f.Add([]byte("*1\r\n$x\r\n"))
	f.Add([]byte("set \"a\\x41\" 'b'\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		read := func(r io.Reader) (out [][][]byte, raws [][]byte, err error) {
			cr := NewCommandReader(r)
			for {
				cmds, err := cr.Read()
				if err != nil {
					return out, raws, err
				}
				for _, c := range cmds {
					args := make([][]byte, len(c.Args)) // Args are valid until the next Read
					for i, a := range c.Args {
						args[i] = bytes.Clone(a)
					}
					out = append(out, args)
					raws = append(raws, bytes.Clone(c.Raw))
				}
			}
		}
		ours, raws, err := read(bytes.NewReader(b))
		// The one-pass path for "$<len>\r\n" must read exactly what the
		// general path reads, whole or byte by byte.
		fastArgs = false
		slow, slowRaws, slowErr := read(iotest.OneByteReader(bytes.NewReader(b)))
		fastArgs = true
		pieces, piecesRaws, piecesErr := read(iotest.OneByteReader(bytes.NewReader(b)))
		if !reflect.DeepEqual(pieces, slow) || !reflect.DeepEqual(piecesRaws, slowRaws) || piecesErr.Error() != slowErr.Error() {
			t.Fatalf("one-pass path, byte by byte: %q %v; general path: %q %v", pieces, piecesErr, slow, slowErr)
		}
		if !reflect.DeepEqual(ours, slow) || !reflect.DeepEqual(raws, slowRaws) || err.Error() != slowErr.Error() {
			t.Fatalf("one-pass path: %q %q %v; general path: %q %q %v", ours, raws, err, slow, slowRaws, slowErr)
		}
		if len(b) == 0 || b[0] != '*' {
			return
		}
		// redcon spins through every declared element even past the data
		// ("*1000000001000\r\n" takes minutes): only ask it about small counts.
		if nl := bytes.IndexByte(b, '\r'); nl < 0 || nl > 8 {
			return
		}
		cmd, err := redcon.Parse(b)
		if err != nil || len(cmd.Args) == 0 {
			return
		}
		if len(ours) == 0 {
			return // we follow Redis's stricter rules (e.g. "$\r\n" is an invalid bulk length; redcon reads 0)
		}
		if len(ours[0]) != len(cmd.Args) {
			t.Fatalf("redcon parsed %q, we got %q", cmd.Args, ours)
		}
		for i := range cmd.Args {
			if !bytes.Equal(ours[0][i], cmd.Args[i]) {
				t.Fatalf("arg %d: redcon %q, ours %q", i, cmd.Args[i], ours[0][i])
			}
		}
	})
}

// BenchmarkCommandReader parses a pipeline of 16 SETs the way redis-benchmark
// -P 16 sends them (the client loop's per-command parsing cost).
func BenchmarkCommandReader(b *testing.B) {
	var pipe []byte
	for range 16 {
		pipe = append(pipe, "*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n"...)
	}
	r := &repeatReader{data: pipe}
	cr := NewCommandReader(r)
	b.SetBytes(int64(len(pipe)))
	b.ReportAllocs()
	for b.Loop() {
		cmds, err := cr.Read()
		if err != nil || len(cmds) != 16 {
			b.Fatalf("got %d commands, %v", len(cmds), err)
		}
	}
}

// repeatReader returns data on every Read.
type repeatReader struct{ data []byte }

func (r *repeatReader) Read(p []byte) (int, error) { return copy(p, r.data), nil }
