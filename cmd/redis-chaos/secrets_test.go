package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redis-chaos/redis-chaos/test/testenv"
)

// TestSecretsNeverLeak sends passwords through the proxy (AUTH right and
// wrong, HELLO 3 AUTH with an ACL user), makes the checker record findings,
// then greps the log, the metrics and every API answer for them.
func TestSecretsNeverLeak(t *testing.T) {
	const (
		master = "S3cr3t-pw-XYZ"
		acl    = "Acl-pw-QRS"
		wrong  = "Wr0ng-pw-LMN"
	)
	c := testenv.StartCluster(t, testenv.ClusterOptions{Shards: 3, Replicas: -1, Password: master,
		ExtraConfig: []string{"requirepass " + master, "user app on >" + acl + " ~* &* +@all"}})
	logs := &syncBuffer{}
	logOutput = logs
	t.Cleanup(func() { logOutput = os.Stderr })
	_, addr := startProxyCLI(t, c.Seed(), "--password", master, "--log-level", "debug")
	seed := ""
	for _, line := range strings.Split(logs.String(), "\n") {
		if i := strings.Index(line, "announce="); i >= 0 && seed == "" {
			seed = strings.Fields(line[i+len("announce="):])[0]
		}
	}
	if seed == "" {
		t.Fatalf("no proxy address in the log:\n%s", logs.String())
	}

	// Raw AUTH, wrong then right, and HELLO 3 with AUTH, then a dangerous
	// command so that the checker records evidence for this client.
	conn, err := net.Dial("tcp", seed)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	send := func(args ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		conn.Write([]byte(b.String()))
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, _ := r.ReadString('\n')
		return l
	}
	if l := send("AUTH", wrong); !strings.HasPrefix(l, "-WRONGPASS") {
		t.Fatalf("AUTH wrong: %q", l)
	}
	if l := send("AUTH", master); l != "+OK\r\n" {
		t.Fatalf("AUTH: %q", l)
	}
	send("HELLO", "3", "AUTH", "app", acl, "SETNAME", "secrets-test")
	io.CopyN(io.Discard, r, int64(r.Buffered()))
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{seed}, Username: "app", Password: acl, Protocol: 3})
	defer cc.Close()
	for i := 0; i < 20; i++ {
		cc.Set(ctx, fmt.Sprintf("s:%d", i), "v", 0)
	}
	cc.Do(ctx, "KEYS", "*")
	time.Sleep(1500 * time.Millisecond) // the checker evaluates in the background

	var seen []string
	for _, path := range []string{"/metrics", "/v1/findings", "/v1/clients", "/v1/topology", "/v1/faults", "/v1/runs"} {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen = append(seen, path+":\n"+string(b))
	}
	seen = append(seen, "log:\n"+logs.String())
	all := strings.Join(seen, "\n")
	if !strings.Contains(all, "dangerous-command") {
		t.Fatalf("the checker saw nothing of the client; the test would prove nothing:\n%s", all)
	}
	for _, secret := range []string{master, acl, wrong} {
		if strings.Contains(all, secret) {
			i := strings.Index(all, secret)
			t.Errorf("secret %q found: …%s…", secret, all[max(0, i-200):min(len(all), i+100)])
		}
	}
}
