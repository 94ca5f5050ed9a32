package topology

import (
	"bytes"
	"errors"
	"testing"

	"github.com/redis-chaos/redis-chaos/proxy/resp"
)

// fuzzPort is the one port the fuzz resolver announces: after a rewrite that
// succeeds, every port a client can learn from the reply must be it.
const fuzzPort = 65535

// fuzzResolver maps every address to one announced endpoint (a name when
// mode&1, TLS when mode&2), except host "bad", which it does not know.
func fuzzResolver(mode uint8) (Resolver, string) {
	announce := "10.9.9.9"
	if mode&1 != 0 {
		announce = "proxy.example"
	}
	return func(host string, port int) (Endpoint, bool) {
		if host == "bad" {
			return Endpoint{}, false
		}
		return Endpoint{Host: announce, Port: fuzzPort, TLS: mode&2 != 0}, true
	}, announce
}

// fuzzRewrite: for replies of one kind (seeded with real replies), Rewrite
// never panics, fails only with ErrUnknownNode or ErrBadReply, and when it
// succeeds the output parses, node ids, slots, flags, roles and offsets are
// unchanged, and every address in it is the announced one.
func fuzzRewrite(f *testing.F, kind RewriteKind) {
	replies, _ := capturedReplies(f)
	for name, b := range replies {
		if kindOfFile(name) == kind {
			f.Add(b, uint8(0))
			f.Add(b, uint8(3))
		}
	}
	for _, c := range rewriteCases() {
		if c.kind == kind {
			f.Add([]byte(c.in), uint8(1))
		}
	}
	f.Add([]byte("-MOVED 1 127.0.0.1:30001\r\n"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		r, announce := fuzzResolver(mode)
		out, err := Rewrite(kind, data, r)
		if err != nil {
			if !errors.Is(err, ErrUnknownNode) && !errors.Is(err, ErrBadReply) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if len(data) > 0 && data[0] == '>' { // pushes pass as they are
			return
		}
		if _, err := describe(kind, data); err != nil {
			return // not one valid reply: nothing to compare
		}
		if d := checkRewritten(kind, data, out, announce, map[int]bool{fuzzPort: true}); d != "" {
			t.Fatalf("%s\nin:  %q\nout: %q", d, data, out)
		}
	})
}

func FuzzRewriteSlots(f *testing.F)    { fuzzRewrite(f, KindClusterSlots) }
func FuzzRewriteShards(f *testing.F)   { fuzzRewrite(f, KindClusterShards) }
func FuzzRewriteNodes(f *testing.F)    { fuzzRewrite(f, KindClusterNodes) }
func FuzzRewriteReplicas(f *testing.F) { fuzzRewrite(f, KindClusterReplicas) }
func FuzzRewriteRole(f *testing.F)     { fuzzRewrite(f, KindRole) }
func FuzzRewriteInfo(f *testing.F)     { fuzzRewrite(f, KindInfo) }
func FuzzRewriteClient(f *testing.F)   { fuzzRewrite(f, KindClientList) }

// FuzzRewriteExec: EXEC replies with results of other kinds (kinds[i] is the
// kind of the i-th queued command); every element is checked as above.
func FuzzRewriteExec(f *testing.F) {
	replies, _ := capturedReplies(f)
	var elems [][]byte
	var kinds []byte
	for name, b := range replies {
		elems = append(elems, b)
		kinds = append(kinds, byte(kindOfFile(name)))
	}
	elems = append(elems, []byte("-MOVED 1 127.0.0.1:30001\r\n"), []byte("+OK\r\n"), []byte("-ASK 2 ?:30002\r\n"))
	kinds = append(kinds, 0, 0, 0)
	for i := 0; i+3 <= len(elems); i += 3 {
		exec := append([]byte("*3\r\n"), bytes.Join(elems[i:i+3], nil)...)
		f.Add(exec, kinds[i:i+3], uint8(i))
		f.Add(exec, []byte(nil), uint8(i))
	}
	f.Add([]byte("*3\r\n+OK\r\n-MOVED 1 127.0.0.1:30002\r\n-ASK 2 127.0.0.1:30003\r\n"), []byte(nil), uint8(0))
	f.Fuzz(func(t *testing.T, data, kindBytes []byte, mode uint8) {
		r, announce := fuzzResolver(mode)
		var ks []RewriteKind
		for _, b := range kindBytes {
			ks = append(ks, RewriteKind(b%9))
		}
		out, err := RewriteExec(ks, data, r)
		if err != nil {
			if !errors.Is(err, ErrUnknownNode) && !errors.Is(err, ErrBadReply) {
				t.Fatalf("error %v", err)
			}
			return
		}
		in, n, err := resp.Parse(data)
		if err != nil || n != len(data) || in.Type != '*' {
			return
		}
		got, n, err := resp.Parse(out)
		if err != nil || n != len(out) || len(got.Elems) != len(in.Elems) {
			t.Fatalf("output does not parse as the same array: %v\nin:  %q\nout: %q", err, data, out)
		}
		for i := range in.Elems {
			k := KindNone
			if i < len(ks) {
				k = ks[i]
			}
			if k == KindExec || in.Elems[i].Type == '>' {
				continue // not rewritten inside EXEC
			}
			a, b := in.Elems[i].Append(nil), got.Elems[i].Append(nil)
			if d := checkRewritten(k, a, b, announce, map[int]bool{fuzzPort: true}); d != "" {
				t.Fatalf("element %d (%v): %s\nin:  %q\nout: %q", i, k, d, a, b)
			}
		}
	})
}

// FuzzRewriteRedirect: RewriteRedirect never panics; a rewritten redirect is
// one error reply with the same kind and slot and the announced address;
// Rewrite agrees with it for every kind.
func FuzzRewriteRedirect(f *testing.F) {
	for _, s := range []string{
		"-MOVED 3999 127.0.0.1:30002\r\n", "-ASK 3999 127.0.0.1:30002\r\n", "-MOVED 0 ?:30001\r\n",
		"-MOVED 12 :30001\r\n", "-MOVED 12 ::1:30001\r\n", "-ASK 1 node-1.example:6379\r\n",
		"!26\r\nMOVED 3999 127.0.0.1:30002\r\n", "-ERR unknown command\r\n", "-MOVED 1 bad:1\r\n",
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		r, announce := fuzzResolver(mode)
		out, ok, err := RewriteRedirect(data, r)
		if err != nil {
			if ok || out != nil || (!errors.Is(err, ErrUnknownNode) && !errors.Is(err, ErrBadReply)) {
				t.Fatalf("%q, %v, %v", out, ok, err)
			}
			return
		}
		if !ok {
			if out != nil {
				t.Fatalf("not rewritten but output %q", out)
			}
			return
		}
		v, n, err := resp.Parse(out)
		if err != nil || n != len(out) || (v.Type != '-' && v.Type != '!') {
			t.Fatalf("output %q: %v", out, err)
		}
		in := data
		if data[0] == '!' {
			iv, _, _ := resp.Parse(data)
			in = iv.Str
		} else {
			in = data[1 : len(data)-2]
		}
		kindSlot := in[:bytes.LastIndexByte(in, ' ')+1]
		want := string(kindSlot) + announce + ":65535"
		if string(v.Str) != want {
			t.Fatalf("rewritten %q to %q, want %q", data, v.Str, want)
		}
		if rw, err := Rewrite(KindNone, data, r); err != nil || !bytes.Equal(rw, out) {
			t.Fatalf("Rewrite disagrees: %q, %v", rw, err)
		}
	})
}
