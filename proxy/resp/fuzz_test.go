package resp

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds adds the round-trip table, random values and the replies
// captured from a real cluster (../topology/testdata/replies).
func fuzzSeeds(f *testing.F, add func(b []byte)) {
	for _, tt := range roundTrips {
		add([]byte(tt.wire))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 50 {
		add(randValue(rng, 0, i%2 == 0).Append(nil))
	}
	files, _ := filepath.Glob(filepath.Join("..", "topology", "testdata", "replies", "*.resp*"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

// FuzzScanner: the Scanner never panics; scanning in chunks, passing on and
// dropping the scanned bytes, gives what scanning at once gives; and the
// Scanner agrees with Parse on where a value ends. Parse may reject what the
// Scanner frames (it checks the contents of integers, booleans, nulls and
// verbatim strings, and nesting depth), never the other way round.
func FuzzScanner(f *testing.F) {
	fuzzSeeds(f, func(b []byte) { f.Add(b, uint16(len(b)/2), uint16(3)) })
	f.Fuzz(func(t *testing.T, data []byte, cut1, cut2 uint16) {
		var sc Scanner
		n, err := sc.Scan(data)
		if n < 0 || n > len(data) || (err != nil && n != 0) {
			t.Fatalf("Scan = %d, %v for %d bytes", n, err, len(data))
		}
		for _, shift := range []bool{false, true} {
			n2, err2 := scanChunks(data, []int{int(cut1), int(cut2)}, shift)
			if n2 != n || (err2 == nil) != (err == nil) {
				t.Fatalf("in chunks %d,%d (shift %v): %d, %v; at once: %d, %v", cut1, cut2, shift, n2, err2, n, err)
			}
		}
		_, pn, perr := Parse(data)
		switch {
		case perr == nil:
			if err != nil || n != pn {
				t.Fatalf("Parse used %d bytes, Scan says %d, %v", pn, n, err)
			}
		case errors.Is(perr, ErrIncomplete):
			if n != 0 {
				t.Fatalf("Parse says incomplete, Scan says %d", n)
			}
		}
		if err != nil && perr == nil {
			t.Fatalf("Scan error %v on a value Parse accepts", err)
		}
		if n > 0 {
			if _, pn, perr := Parse(data[:n]); errors.Is(perr, ErrIncomplete) || (perr == nil && pn != n) {
				t.Fatalf("Parse of the %d bytes Scan framed: %d, %v", n, pn, perr)
			}
		}
	})
}

// FuzzParse: Parse never panics, and Parse, Append, Parse is stable: the
// re-encoded value parses whole and encodes to the same bytes again.
func FuzzParse(f *testing.F) {
	fuzzSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrIncomplete) && !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is neither incomplete nor a protocol error", err)
			}
			return
		}
		if n <= 0 || n > len(data) {
			t.Fatalf("Parse used %d of %d bytes", n, len(data))
		}
		out := v.Append(nil)
		v2, n2, err := Parse(out)
		if err != nil || n2 != len(out) {
			t.Fatalf("re-encoded %q: %d, %v", out, n2, err)
		}
		if out2 := v2.Append(nil); !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%q\n%q", out, out2)
		}
		if len(out) > n {
			t.Fatalf("re-encoding grew the value: %q → %q", data[:n], out)
		}
	})
}
