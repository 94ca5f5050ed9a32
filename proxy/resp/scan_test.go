package resp

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestScannerStream is redcon's pipe test for replies: thousands of random
// RESP2 and RESP3 replies, concatenated, arrive in chunks of random sizes.
// Like a streaming proxy, the reader sometimes passes on the bytes scanned so
// far (Scanned) and drops them (Shift) before the reply is complete. Every
// reply must end exactly where it was written to end, with exactly its bytes.
func TestScannerStream(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		rng := rand.New(rand.NewPCG(seed, 99))
		var stream []byte
		var replies [][]byte
		for i := range 10000 {
			r := randValue(rng, 0, i%3 != 0).Append(nil)
			replies = append(replies, r)
			stream = append(stream, r...)
		}
		var (
			sc        Scanner
			buf       []byte
			forwarded []byte // bytes of the current reply passed on before it was complete
			got       int
		)
		for pos := 0; pos < len(stream); {
			var n int
			switch rng.IntN(4) {
			case 0:
				n = 1
			case 1:
				n = rng.IntN(16) + 1
			case 2:
				n = rng.IntN(4096) + 1
			default:
				n = rng.IntN(64<<10) + 1
			}
			n = min(n, len(stream)-pos)
			buf = append(buf, stream[pos:pos+n]...)
			pos += n
			for len(buf) > 0 {
				l, err := sc.Scan(buf)
				if err != nil {
					t.Fatalf("seed %d, reply %d: %v", seed, got, err)
				}
				if l == 0 {
					if rng.IntN(2) == 0 {
						k := sc.Scanned()
						if k > len(buf) {
							t.Fatalf("Scanned %d > buffer %d", k, len(buf))
						}
						forwarded = append(forwarded, buf[:k]...)
						buf = buf[k:]
						sc.Shift(k)
					}
					break
				}
				whole := append(forwarded, buf[:l]...)
				if !bytes.Equal(whole, replies[got]) {
					t.Fatalf("seed %d, reply %d: got %d bytes %.60q, want %d bytes %.60q", seed, got, len(whole), whole, len(replies[got]), replies[got])
				}
				if sc.InReply() {
					t.Fatal("InReply after a complete reply")
				}
				got++
				forwarded = forwarded[:0]
				buf = buf[l:]
			}
		}
		if got != len(replies) || len(buf) != 0 {
			t.Fatalf("seed %d: %d of %d replies, %d bytes left", seed, got, len(replies), len(buf))
		}
	}
}

// scanChunks scans b given in chunks of the sizes in cuts (then the rest),
// passing on and dropping the scanned bytes after every chunk when shift is
// set. It returns the reply's length as Scan would for all of b at once.
func scanChunks(b []byte, cuts []int, shift bool) (int, error) {
	var sc Scanner
	dropped, end := 0, 0
	for i := 0; ; i++ {
		if i < len(cuts) {
			end = min(end+cuts[i], len(b))
		} else {
			end = len(b)
		}
		n, err := sc.Scan(b[dropped:end])
		if err != nil || n > 0 {
			if n > 0 {
				n += dropped
			}
			return n, err
		}
		if end == len(b) {
			return 0, nil
		}
		if shift {
			k := sc.Scanned()
			dropped += k
			sc.Shift(k)
		}
	}
}

func TestScannerSplitCRLF(t *testing.T) {
	// The CRLF after a bulk body may be split by a Shift: "\r" in one read,
	// passed on and dropped, "\n" in the next.
	in := []byte("*2\r\n$3\r\nabc\r\n:1\r\n")
	for cut := 1; cut < len(in); cut++ {
		for _, shift := range []bool{false, true} {
			if n, err := scanChunks(in, []int{cut}, shift); n != len(in) || err != nil {
				t.Errorf("cut %d shift %v: %d, %v", cut, shift, n, err)
			}
		}
	}
	bad := []byte("$3\r\nabcX\n")
	for cut := 1; cut < len(bad); cut++ {
		if _, err := scanChunks(bad, []int{cut}, true); !errors.Is(err, ErrProtocol) {
			t.Errorf("bad CR, cut %d: %v", cut, err)
		}
	}
	bad = []byte("$3\r\nabc\rX")
	for cut := 1; cut < len(bad); cut++ {
		if _, err := scanChunks(bad, []int{cut}, true); !errors.Is(err, ErrProtocol) {
			t.Errorf("bad LF, cut %d: %v", cut, err)
		}
	}
}

func TestScannerErrorsAndLimits(t *testing.T) {
	tests := []struct {
		name string
		in   string
		sc   Scanner
	}{
		{"unknown type", "?x\r\n", Scanner{}},
		{"bad length", "$x\r\n", Scanner{}},
		{"empty length", "*\r\n", Scanner{}},
		{"negative length", "$-2\r\n", Scanner{}},
		{"length overflow", "$9999999999999999999\r\n", Scanner{}},
		{"array length overflow", "*9999999999999999999\r\n", Scanner{}},
		{"bulk over MaxBulk", "$11\r\n", Scanner{MaxBulk: 10}},
		{"array over MaxElems", "*11\r\n", Scanner{MaxElems: 10}},
		{"map over MaxElems", "%11\r\n", Scanner{MaxElems: 10}},
		{"null map", "%-1\r\n", Scanner{}},
		{"null attribute", "|-1\r\n", Scanner{}},
		{"bulk without CRLF", "$3\r\nabcde", Scanner{}},
		{"header too long", "*" + strings.Repeat("1", maxHeader+1), Scanner{}},
		{"simple string over MaxBulk", "+" + strings.Repeat("a", 20), Scanner{MaxBulk: 10}},
		{"bad element", "*2\r\n:1\r\n?\r\n", Scanner{}},
	}
	for _, tt := range tests {
		n, err := tt.sc.Scan([]byte(tt.in))
		if !errors.Is(err, ErrProtocol) || n != 0 {
			t.Errorf("%s: %d, %v; want a protocol error", tt.name, n, err)
		}
		if tt.sc.InReply() || tt.sc.Scanned() != 0 {
			t.Errorf("%s: the scanner is not reset after an error", tt.name)
		}
	}
	// At the limits, and below the header limit without its CRLF yet.
	for _, tt := range []struct {
		in   string
		want int
		sc   Scanner
	}{
		{"$10\r\n0123456789\r\n", 17, Scanner{MaxBulk: 10}},
		{"*2\r\n:1\r\n:2\r\n", 12, Scanner{MaxElems: 2}},
		{"+" + strings.Repeat("a", 100<<10), 0, Scanner{}}, // a long simple string is still allowed
		{"*" + strings.Repeat("1", 100), 0, Scanner{}},
	} {
		if n, err := tt.sc.Scan([]byte(tt.in)); n != tt.want || err != nil {
			t.Errorf("%.20q: %d, %v; want %d", tt.in, n, err, tt.want)
		}
	}
}

// TestScannerRandomCuts scans random replies in every 2-piece split, with
// and without Shift.
func TestScannerRandomCuts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		b := randValue(rng, 0, true).Append(nil)
		if len(b) > 2000 {
			continue
		}
		for cut := 0; cut <= len(b); cut++ {
			n, err := scanChunks(b, []int{cut}, cut%2 == 0)
			if n != len(b) || err != nil {
				t.Fatalf("%q cut at %d: %d, %v", b, cut, n, err)
			}
		}
	}
}

// A long simple string or error line arriving in pieces: found once complete,
// also when its CR and LF arrive in different reads.
func TestScannerLongLineInPieces(t *testing.T) {
	line := []byte("-ERR " + strings.Repeat("x", 200<<10) + "\r\n")
	for _, chunk := range []int{1 << 10, 4093, len(line) - 1} {
		var sc Scanner
		for end := chunk; ; end += chunk {
			end = min(end, len(line))
			n, err := sc.Scan(line[:end])
			if err != nil {
				t.Fatal(err)
			}
			if end < len(line) && n != 0 {
				t.Fatalf("chunk %d: complete at %d of %d bytes", chunk, end, len(line))
			}
			if end == len(line) {
				if n != len(line) {
					t.Fatalf("chunk %d: %d, want %d", chunk, n, len(line))
				}
				break
			}
		}
	}
}

func BenchmarkScanLongLineInPieces(b *testing.B) {
	line := []byte("-ERR " + strings.Repeat("x", 4<<20) + "\r\n")
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		var sc Scanner
		for end := 64 << 10; ; end += 64 << 10 {
			if n, _ := sc.Scan(line[:min(end, len(line))]); n > 0 {
				break
			}
		}
	}
}
