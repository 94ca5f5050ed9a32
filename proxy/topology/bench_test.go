package topology

import "testing"

func benchResolver(host string, port int) (Endpoint, bool) {
	return Endpoint{Host: "127.0.0.1", Port: port - 23000}, true
}

func BenchmarkRewriteRedirect(b *testing.B) {
	in := []byte("-MOVED 3999 10.0.12.34:30002\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := RewriteRedirect(in, benchResolver); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// An error that is not a redirect: the common case on the error path.
func BenchmarkRewriteRedirectOther(b *testing.B) {
	in := []byte("-CLUSTERDOWN The cluster is down\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := RewriteRedirect(in, benchResolver); ok {
			b.Fatal()
		}
	}
}

func BenchmarkRewriteKindOf(b *testing.B) {
	for _, cmd := range []string{"GET key", "SET key value", "INFO", "CLUSTER SLOTS", "HSET h f v"} {
		a := args(cmd)
		b.Run(cmd, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				RewriteKindOf(a)
			}
		})
	}
}

func BenchmarkRewriteSlots(b *testing.B) {
	replies, _ := capturedReplies(b)
	in := replies["slots.resp2"]
	r := func(host string, port int) (Endpoint, bool) { return Endpoint{Host: "127.0.0.1", Port: 7001}, true }
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := Rewrite(KindClusterSlots, in, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRewriteExec(b *testing.B) {
	in := []byte("*4\r\n+OK\r\n$5\r\nhello\r\n:42\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Rewrite(KindExec, in, benchResolver); err != nil {
			b.Fatal(err)
		}
	}
}
