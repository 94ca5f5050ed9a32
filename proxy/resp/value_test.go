package resp

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// Every RESP2 and RESP3 type, as Redis and the RESP3 spec write them.
var roundTrips = []struct {
	name string
	wire string
	want *Value // checked when set
}{
	// RESP2
	{"simple string", "+OK\r\n", &Value{Type: '+', Str: []byte("OK")}},
	{"empty simple string", "+\r\n", nil},
	{"error", "-ERR unknown command 'x', with args beginning with: \r\n", nil},
	{"moved", "-MOVED 3999 127.0.0.1:6381\r\n", nil},
	{"integer", ":1000\r\n", &Value{Type: ':', Int: 1000}},
	{"zero", ":0\r\n", nil},
	{"negative", ":-1\r\n", &Value{Type: ':', Int: -1}},
	{"max int", ":9223372036854775807\r\n", &Value{Type: ':', Int: math.MaxInt64}},
	{"min int", ":-9223372036854775808\r\n", &Value{Type: ':', Int: math.MinInt64}},
	{"bulk", "$5\r\nhello\r\n", &Value{Type: '$', Str: []byte("hello")}},
	{"empty bulk", "$0\r\n\r\n", nil},
	{"bulk with CRLF inside", "$6\r\na\r\nb\r\n\r\n", &Value{Type: '$', Str: []byte("a\r\nb\r\n")}},
	{"binary bulk", "$4\r\n\x00\xff\r\x01\r\n", nil},
	{"null bulk", "$-1\r\n", &Value{Type: '$', Null: true}},
	{"array", "*2\r\n$3\r\nfoo\r\n:42\r\n", &Value{Type: '*', Elems: []Value{{Type: '$', Str: []byte("foo")}, {Type: ':', Int: 42}}}},
	{"empty array", "*0\r\n", nil},
	{"null array", "*-1\r\n", &Value{Type: '*', Null: true}},
	{"nested arrays", "*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n", nil},
	{"array with null", "*3\r\n$3\r\nfoo\r\n$-1\r\n$3\r\nbar\r\n", nil},
	// RESP3
	{"null", "_\r\n", &Value{Type: '_', Null: true}},
	{"double", ",1.23\r\n", &Value{Type: ',', Str: []byte("1.23")}},
	{"double inf", ",inf\r\n", nil},
	{"double -inf", ",-inf\r\n", nil},
	{"double nan", ",nan\r\n", nil},
	{"double exponent", ",1.5e+10\r\n", nil},
	{"true", "#t\r\n", &Value{Type: '#', Bool: true}},
	{"false", "#f\r\n", &Value{Type: '#'}},
	{"big number", "(3492890328409238509324850943850943825024385\r\n", nil},
	{"negative big number", "(-3492890328409238509324850943850943825024385\r\n", nil},
	{"blob error", "!21\r\nSYNTAX invalid syntax\r\n", &Value{Type: '!', Str: []byte("SYNTAX invalid syntax")}},
	{"verbatim", "=15\r\ntxt:Some string\r\n", &Value{Type: '=', Format: "txt", Str: []byte("Some string")}},
	{"empty verbatim", "=4\r\nmkd:\r\n", &Value{Type: '=', Format: "mkd", Str: []byte{}}},
	{"map", "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", nil},
	{"empty map", "%0\r\n", nil},
	{"set", "~5\r\n+orange\r\n+apple\r\n#t\r\n:100\r\n:999\r\n", nil},
	{"push", ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", nil},
	{"attribute", "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n", nil},
	{"attribute in array", "*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n", nil},
	{"chained attributes", "|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n:5\r\n", nil},
	{"attribute on attribute value", "|1\r\n+k\r\n|1\r\n+x\r\n+y\r\n+v\r\n:5\r\n", nil},
	{"cluster slots resp3", "*1\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:30001\r\n$2\r\nid\r\n%1\r\n$8\r\nhostname\r\n$4\r\nhost\r\n*4\r\n_\r\n:30004\r\n$3\r\nid2\r\n%0\r\n", nil},
	// Null forms the Scanner accepts for every length-prefixed type.
	{"null blob error", "!-1\r\n", nil},
	{"null verbatim", "=-1\r\n", nil},
	{"null set", "~-1\r\n", nil},
	{"null push", ">-1\r\n", nil},
}

func TestRoundTrip(t *testing.T) {
	for _, tt := range roundTrips {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.wire + "+next\r\n") // bytes after the value are not used
			v, n, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if n != len(tt.wire) {
				t.Fatalf("Parse used %d bytes, want %d", n, len(tt.wire))
			}
			if tt.want != nil && !equal(v, *tt.want) {
				t.Errorf("Parse = %+v, want %+v", v, *tt.want)
			}
			if out := v.Append(nil); string(out) != tt.wire {
				t.Errorf("Append = %q, want %q", out, tt.wire)
			}
			if l, err := Len(in); l != n || err != nil {
				t.Errorf("Len = %d, %v; Parse used %d", l, err, n)
			}
			for i := range len(tt.wire) {
				if _, _, err := Parse([]byte(tt.wire[:i])); err != ErrIncomplete {
					t.Fatalf("Parse of the first %d bytes: %v, want ErrIncomplete", i, err)
				}
			}
		})
	}
}

func TestParseAttributes(t *testing.T) {
	v, _, err := Parse([]byte("|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n:5\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Type != ':' || v.Int != 5 || v.Attr == nil || string(v.Attr.Elems[0].Str) != "c" ||
		v.Attr.Attr == nil || string(v.Attr.Attr.Elems[0].Str) != "a" || v.Attr.Attr.Attr != nil {
		t.Fatalf("chained attributes: %+v", v)
	}
}

func TestParseErrors(t *testing.T) {
	deep := strings.Repeat("*1\r\n", maxDepth+2) + ":1\r\n"
	for _, in := range []string{
		"?x\r\n", "\r\n", ":abc\r\n", ":+5\r\n", ":007\r\n", ":-0\r\n", ":\r\n", ":-\r\n",
		":99999999999999999999\r\n", "_x\r\n", "#x\r\n", "#\r\n", "#tt\r\n",
		"$2\r\nabc\r\n", "$x\r\n", "$-2\r\n", "$01x\r\n", "*-2\r\n", "%-1\r\n", "|-1\r\n",
		"=3\r\ntxt\r\n", "=5\r\ntxtx:\r\n", "$99999999999999999999\r\n", "*1\r\n?\r\n",
		deep,
	} {
		if _, _, err := Parse([]byte(in)); !errors.Is(err, ErrProtocol) {
			t.Errorf("Parse(%.40q): %v, want a protocol error", in, err)
		}
	}
}

func equal(a, b Value) bool {
	return bytes.Equal(a.Append(nil), b.Append(nil)) && a.Type == b.Type && a.Null == b.Null
}

// randValue returns a random value; RESP2 types only unless resp3.
func randValue(rng *rand.Rand, depth int, resp3 bool) Value {
	types := "+-:$*"
	if resp3 {
		types += "_,#(!=%~>|"
	}
	typ := types[rng.IntN(len(types))]
	if depth > 3 && strings.IndexByte("*%~>|", typ) >= 0 {
		typ = '$'
	}
	v := Value{Type: typ}
	switch typ {
	case '+', '-':
		v.Str = randText(rng, 20, false)
	case ':':
		switch rng.IntN(4) {
		case 0:
			v.Int = int64(rng.IntN(100))
		case 1:
			v.Int = -int64(rng.IntN(1 << 20))
		case 2:
			v.Int = int64(rng.Uint64())
		default:
			v.Int = math.MinInt64
		}
	case '$', '!':
		if rng.IntN(10) == 0 {
			v.Null = true
			break
		}
		n := 30
		if rng.IntN(50) == 0 {
			n = 100 << 10 // large bodies cross many chunks
		}
		v.Str = randText(rng, n, true)
	case '=':
		v.Format = []string{"txt", "mkd"}[rng.IntN(2)]
		v.Str = randText(rng, 40, true)
	case '_':
		v.Null = true
	case ',':
		v.Str = []byte([]string{"inf", "-inf", "nan", "0", "1.5", strconv.FormatFloat(rng.NormFloat64()*1e6, 'g', -1, 64)}[rng.IntN(6)])
	case '#':
		v.Bool = rng.IntN(2) == 0
	case '(':
		v.Str = []byte(strconv.FormatUint(rng.Uint64(), 10) + strconv.FormatUint(rng.Uint64(), 10))
	case '*', '~', '>':
		if typ == '*' && rng.IntN(10) == 0 {
			v.Null = true
			break
		}
		n := rng.IntN(6)
		v.Elems = make([]Value, n)
		for i := range v.Elems {
			v.Elems[i] = randValue(rng, depth+1, resp3)
		}
	case '%':
		n := rng.IntN(4)
		v.Elems = make([]Value, 2*n)
		for i := range v.Elems {
			v.Elems[i] = randValue(rng, depth+1, resp3)
		}
	case '|':
		attr := Value{Type: '|', Elems: []Value{{Type: '+', Str: []byte("ttl")}, {Type: ':', Int: 3600}}}
		v = randValue(rng, depth+1, resp3)
		last := &v
		for last.Attr != nil {
			last = last.Attr
		}
		last.Attr = &attr
	}
	return v
}

// randText returns up to n random bytes; binary ones may hold CR and LF.
func randText(rng *rand.Rand, n int, binary bool) []byte {
	b := make([]byte, rng.IntN(n+1))
	for i := range b {
		if binary {
			b[i] = byte(rng.IntN(256))
		} else {
			b[i] = byte(' ' + rng.IntN(95))
		}
	}
	return b
}

func TestRandomRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 5000 {
		v := randValue(rng, 0, i%2 == 0)
		wire := v.Append(nil)
		got, n, err := Parse(wire)
		if err != nil || n != len(wire) {
			t.Fatalf("Parse(%q): %d, %v", wire, n, err)
		}
		if out := got.Append(nil); !bytes.Equal(out, wire) {
			t.Fatalf("round trip:\n%q\n%q", wire, out)
		}
	}
}
