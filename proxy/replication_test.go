package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/proxy"
	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// upstreamModes runs f with a proxy of its own in each upstream mode.
func upstreamModes(t *testing.T, f func(t *testing.T, p *proxy.Server)) {
	c, _ := env(t)
	for _, mode := range []string{"own", "shared"} {
		t.Run(mode, func(t *testing.T) {
			p := testenv.StartProxy(t, c.Addrs(), func(cfg *proxy.Config) { cfg.ShareUpstreams = mode == "shared" })
			f(t, p)
		})
	}
}

// TestReplicationThroughProxy: redis-cli --rdb and a raw PSYNC get the
// node's replication stream through the proxy (an RDB payload that is a
// bulk string without its CRLF, then the commands the node replicates),
// and the replica's REPLCONF ACK reaches the node.
func TestReplicationThroughProxy(t *testing.T) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed")
	}
	upstreamModes(t, func(t *testing.T, p *proxy.Server) {
		ctx := context.Background()
		key := "repl:" + t.Name()
		addr := proxyAddrFor(t, p, key)
		rc := redis.NewClient(&redis.Options{Addr: addr})
		defer rc.Close()
		if err := rc.Set(ctx, key, "in the rdb", 0).Err(); err != nil {
			t.Fatal(err)
		}

		// redis-cli --rdb: SYNC, then the payload until its end.
		host, port, _ := net.SplitHostPort(addr)
		file := filepath.Join(t.TempDir(), "dump.rdb")
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(cctx, "redis-cli", "-h", host, "-p", port, "--rdb", file).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("redis-cli --rdb through the proxy: %v\n%s", err, out)
		}
		rdb, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(rdb, []byte("REDIS")) || len(rdb) < 18 || rdb[len(rdb)-9] != 0xff || !bytes.Contains(rdb, []byte(key)) {
			t.Fatalf("redis-cli --rdb wrote %d bytes (%.20q…): want an RDB file with %s in it", len(rdb), rdb, key)
		}

		// PSYNC: +FULLRESYNC, the payload, then what the node replicates.
		rp := dialRaw(t, addr)
		rp.send("PSYNC", "?", "-1")
		full := rp.line(t)
		for full == "" { // keep-alives
			full = rp.line(t)
		}
		if !strings.HasPrefix(full, "+FULLRESYNC ") {
			t.Fatalf("PSYNC: %q, want +FULLRESYNC", full)
		}
		head := rp.line(t)
		for head == "" {
			head = rp.line(t)
		}
		n, err := strconv.Atoi(strings.TrimPrefix(head, "$"))
		if err != nil || head[0] != '$' {
			t.Fatalf("PSYNC payload header %q", head)
		}
		if _, err := io.CopyN(io.Discard, rp.r, int64(n)); err != nil {
			t.Fatalf("PSYNC payload: %v", err)
		}
		if err := rc.Set(ctx, key, "replicated", 0).Err(); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("$%d\r\n%s\r\n$10\r\nreplicated\r\n", len(key), key)
		var stream []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(stream, []byte(want)) {
			n, err := rp.r.Read(buf)
			stream = append(stream, buf[:n]...)
			if err != nil {
				t.Fatalf("replication stream %q: %v (want the SET of %s)", stream, err, key)
			}
		}
		rp.send("REPLCONF", "ACK", "12345")
		testenv.Eventually(t, 5*time.Second, func() error {
			info, err := rc.Info(ctx, "replication").Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, ",port=0,state=online,offset=12345,") {
				return fmt.Errorf("the node has not seen REPLCONF ACK 12345:\n%s", info)
			}
			return nil
		})
	})
}

// TestSyncRefusedInMulti: SYNC inside MULTI is the node's error, and the
// connection goes on as a client's.
func TestSyncRefusedInMulti(t *testing.T) {
	_, p := env(t)
	rc := dialRaw(t, testenv.Seeds(p)[0])
	rc.send("MULTI")
	rc.send("SYNC")
	rc.send("EXEC")
	rc.send("PING")
	for _, want := range []string{"+OK", "-ERR Command not allowed inside a transaction", "-EXECABORT Transaction discarded because of previous errors.", "+PONG"} {
		if l := rc.line(t); l != want {
			t.Fatalf("reply %q, want %q", l, want)
		}
	}
}
