package topology

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// bulk and verb encode text as a bulk string and as a verbatim "txt" string.
func bulk(text string) string { return "$" + strconv.Itoa(len(text)) + "\r\n" + text + "\r\n" }
func verb(text string) string { return "=" + strconv.Itoa(len(text)+4) + "\r\ntxt:" + text + "\r\n" }

func args(s string) [][]byte {
	var a [][]byte
	for _, f := range strings.Fields(s) {
		a = append(a, []byte(f))
	}
	return a
}

func TestCommandKind(t *testing.T) {
	tests := []struct {
		cmd  string
		want RewriteKind
	}{
		{"CLUSTER SLOTS", KindClusterSlots},
		{"cluster slots", KindClusterSlots},
		{"Cluster Shards", KindClusterShards},
		{"CLUSTER NODES", KindClusterNodes},
		{"CLUSTER REPLICAS abc", KindClusterReplicas},
		{"cluster slaves abc", KindClusterReplicas},
		{"ROLE", KindRole},
		{"info", KindInfo},
		{"INFO replication", KindInfo},
		{"EXEC", KindExec},
		{"exec", KindExec},
		{"CLIENT LIST", KindClientList},
		{"client info", KindClientList},
		{"CLIENT LIST TYPE normal", KindClientList},
		{"CLIENT KILL x", KindNone},
		{"CLIENT", KindNone},
		{"CLUSTER", KindNone},
		{"CLUSTER INFO", KindNone},
		{"CLUSTER MYID", KindNone},
		{"CLUSTER KEYSLOT foo", KindNone},
		{"CLUSTERX SLOTS", KindNone},
		{"GET foo", KindNone},
		{"SET k v", KindNone},
		{"ECHO", KindNone},
		{"INFOS", KindNone},
		{"ROLF", KindNone},
		{"IXFO", KindNone},
		{"", KindNone},
		{"CLUSTER SLOTZ", KindNone},
		{"CLUSTER REPLICAZ", KindNone},
		{"XLUSTER SLOTS", KindNone},
		{"\x03LUSTER SLOTS", KindNone}, // 'C'|0x20 is 'c', and so is '\x03'|0x60: eqFold must still say no
	}
	for _, tt := range tests {
		if got := RewriteKindOf(args(tt.cmd)); got != tt.want {
			t.Errorf("RewriteKindOf(%q) = %v, want %v", tt.cmd, got, tt.want)
		}
	}
}

// resolver maps 127.0.0.1/"?"/""/"node-N.example":3000N to announce:700N.
func testResolver(announce string, tls bool) Resolver {
	return func(host string, port int) (Endpoint, bool) {
		if port < 30001 || port > 30009 {
			return Endpoint{}, false
		}
		n := port - 30000
		switch host {
		case "127.0.0.1", "?", "", "::1", "node-" + strconv.Itoa(n) + ".example":
			return Endpoint{Host: announce, Port: 7000 + n, TLS: tls}, true
		}
		return Endpoint{}, false
	}
}

func TestRewriteRedirect(t *testing.T) {
	ip := testResolver("10.1.1.1", false)
	name := testResolver("proxy", false)
	v6 := testResolver("fd00::1", false)
	tests := []struct {
		in, want string
		r        Resolver
		ok       bool
		err      error
	}{
		{"-MOVED 3999 127.0.0.1:30002\r\n", "-MOVED 3999 10.1.1.1:7002\r\n", ip, true, nil},
		{"-ASK 3999 127.0.0.1:30002\r\n", "-ASK 3999 10.1.1.1:7002\r\n", ip, true, nil},
		{"-MOVED 0 node-3.example:30003\r\n", "-MOVED 0 proxy:7003\r\n", name, true, nil},
		{"-MOVED 16383 ?:30001\r\n", "-MOVED 16383 proxy:7001\r\n", name, true, nil},
		{"-MOVED 12 :30001\r\n", "-MOVED 12 proxy:7001\r\n", name, true, nil},
		{"-MOVED 12 ::1:30001\r\n", "-MOVED 12 fd00::1:7001\r\n", v6, true, nil},
		{"!" + bulk("MOVED 3999 127.0.0.1:30002")[1:], "!" + bulk("MOVED 3999 10.1.1.1:7002")[1:], ip, true, nil},
		{"-MOVED 3999 127.0.0.1:30099\r\n", "", ip, false, ErrUnknownNode},
		{"-MOVED 3999 10.9.9.9:30001\r\n", "", ip, false, ErrUnknownNode},
		{"-MOVED 3999 127.0.0.1\r\n", "", ip, false, ErrBadReply},
		{"-MOVED 99999 127.0.0.1:30001\r\n", "", ip, false, ErrBadReply},
		{"-MOVED  127.0.0.1:30001\r\n", "", ip, false, ErrBadReply},
		{"-MOVED 1 127.0.0.1:x\r\n", "", ip, false, ErrBadReply},
		{"-ERR unknown command\r\n", "", ip, false, nil},
		{"-CLUSTERDOWN The cluster is down\r\n", "", ip, false, nil},
		{"-MOVEDX 1 127.0.0.1:30001\r\n", "", ip, false, nil},
		{"+MOVED 1 127.0.0.1:30001\r\n", "", ip, false, nil},
		{"!" + bulk("ERR something failed")[1:], "", ip, false, nil},
		{"-ASK", "", ip, false, nil},
	}
	for _, tt := range tests {
		got, ok, err := RewriteRedirect([]byte(tt.in), tt.r)
		if string(got) != tt.want || ok != tt.ok || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("RewriteRedirect(%q) = %q, %v, %v; want %q, %v, %v", tt.in, got, ok, err, tt.want, tt.ok, tt.err)
		}
	}
	_, _, err := RewriteRedirect([]byte("-MOVED 3999 10.9.9.9:30001\r\n"), ip)
	var ue *UnknownNodeError
	if !errors.As(err, &ue) || ue.Host != "10.9.9.9" || ue.Port != 30001 || err.Error() != "topology: unknown node 10.9.9.9:30001" {
		t.Errorf("unknown node error = %#v (%v)", err, err)
	}
}

func TestRewriteRedirectPassesHostAsSent(t *testing.T) {
	for _, host := range []string{"10.0.0.5", "redis-0.redis.svc", "?", "", "::1"} {
		var got string
		r := func(h string, p int) (Endpoint, bool) { got = h; return Endpoint{Host: "x", Port: 1}, true }
		if _, _, err := RewriteRedirect([]byte("-ASK 1 "+host+":6379\r\n"), r); err != nil || got != host {
			t.Errorf("host %q: resolver got %q (%v)", host, got, err)
		}
	}
}

// Redis 7 replies, edited where noted to show forms a default cluster does not
// send (hostnames, NULL and "?" endpoints, TLS, aux fields).
type rewriteCase struct {
	name string
	kind RewriteKind
	r    Resolver
	in   string
	want string
}

func rewriteCases() []rewriteCase {
	ip := testResolver("10.1.1.1", false)
	name := testResolver("proxy", false)
	tls := testResolver("10.1.1.1", true)
	return []rewriteCase{
		{"slots resp2, no metadata (Redis 6)", KindClusterSlots, ip,
			"*1\r\n*4\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:30001\r\n$3\r\nid1\r\n*3\r\n$9\r\n127.0.0.1\r\n:30002\r\n$3\r\nid2\r\n",
			"*1\r\n*4\r\n:0\r\n:16383\r\n*3\r\n$8\r\n10.1.1.1\r\n:7001\r\n$3\r\nid1\r\n*3\r\n$8\r\n10.1.1.1\r\n:7002\r\n$3\r\nid2\r\n"},
		{"slots resp2, hostname metadata, announce ip", KindClusterSlots, ip,
			"*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:30001\r\n$3\r\nid1\r\n*2\r\n$8\r\nhostname\r\n$14\r\nnode-1.example\r\n",
			"*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$8\r\n10.1.1.1\r\n:7001\r\n$3\r\nid1\r\n*0\r\n"},
		{"slots resp3, hostname endpoint with ip metadata, announce name", KindClusterSlots, name,
			"*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$14\r\nnode-1.example\r\n:30001\r\n$3\r\nid1\r\n%1\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n",
			"*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$5\r\nproxy\r\n:7001\r\n$3\r\nid1\r\n%0\r\n"},
		{"slots resp3, ip endpoint with hostname metadata, announce name", KindClusterSlots, name,
			"*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:30001\r\n$3\r\nid1\r\n%1\r\n$8\r\nhostname\r\n$14\r\nnode-1.example\r\n",
			"*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n$5\r\nproxy\r\n:7001\r\n$3\r\nid1\r\n%1\r\n$8\r\nhostname\r\n$5\r\nproxy\r\n"},
		{"slots, NULL endpoint (RESP2 and RESP3) and ?", KindClusterSlots, ip,
			"*1\r\n*5\r\n:0\r\n:16383\r\n*4\r\n$-1\r\n:30001\r\n$3\r\nid1\r\n*0\r\n*4\r\n_\r\n:30002\r\n$3\r\nid2\r\n%0\r\n*4\r\n$1\r\n?\r\n:30003\r\n$3\r\nid3\r\n%0\r\n",
			"*1\r\n*5\r\n:0\r\n:16383\r\n*4\r\n$8\r\n10.1.1.1\r\n:7001\r\n$3\r\nid1\r\n*0\r\n*4\r\n$8\r\n10.1.1.1\r\n:7002\r\n$3\r\nid2\r\n%0\r\n*4\r\n$8\r\n10.1.1.1\r\n:7003\r\n$3\r\nid3\r\n%0\r\n"},
		{"slots, endpoint unknown but metadata ip known", KindClusterSlots, ip,
			"*1\r\n*3\r\n:0\r\n:1\r\n*4\r\n$4\r\nnode\r\n:30001\r\n$3\r\nid1\r\n*2\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n",
			"*1\r\n*3\r\n:0\r\n:1\r\n*4\r\n$8\r\n10.1.1.1\r\n:7001\r\n$3\r\nid1\r\n*2\r\n$2\r\nip\r\n$8\r\n10.1.1.1\r\n"},
		{"slots, empty", KindClusterSlots, ip, "*0\r\n", "*0\r\n"},
		{"shards resp3 with tls-port and hostname, announce ip", KindClusterShards, ip,
			"*1\r\n%2\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n%9\r\n$2\r\nid\r\n$3\r\nid1\r\n$4\r\nport\r\n:30001\r\n$8\r\ntls-port\r\n:30005\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$8\r\nhostname\r\n$14\r\nnode-1.example\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n",
			"*1\r\n%2\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n%7\r\n$2\r\nid\r\n$3\r\nid1\r\n$4\r\nport\r\n:7001\r\n$2\r\nip\r\n$8\r\n10.1.1.1\r\n$8\r\nendpoint\r\n$8\r\n10.1.1.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"},
		{"shards resp2, announce name", KindClusterShards, name,
			"*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*8\r\n$2\r\nid\r\n$3\r\nid1\r\n$4\r\nport\r\n:30001\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$1\r\n?\r\n",
			"*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*8\r\n$2\r\nid\r\n$3\r\nid1\r\n$4\r\nport\r\n:7001\r\n$2\r\nip\r\n$5\r\nproxy\r\n$8\r\nendpoint\r\n$5\r\nproxy\r\n"},
		{"shards, TLS listener: tls-port only", KindClusterShards, tls,
			"*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*6\r\n$4\r\nport\r\n:30001\r\n$8\r\ntls-port\r\n:30005\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n",
			"*1\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n*4\r\n$8\r\ntls-port\r\n:7001\r\n$8\r\nendpoint\r\n$8\r\n10.1.1.1\r\n"},
		{"nodes resp2", KindClusterNodes, ip,
			bulk(
				"e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 [5461->-5d8e] [93-<-292f]\n" +
					"292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30002@40002 slave,fail e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 1 2 1 disconnected\n"),
			bulk(
				"e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 10.1.1.1:7001@0 myself,master - 0 0 1 connected 0-5460 [5461->-5d8e] [93-<-292f]\n" +
					"292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 10.1.1.1:7002@0 slave,fail e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 1 2 1 disconnected\n")},
		{"nodes resp3 with hostnames, announce name", KindClusterNodes, name,
			verb("id1 127.0.0.1:30001@40001,node-1.example myself,master - 0 0 1 connected 0-16383\nid2 :0@0 master,noaddr - 0 0 0 disconnected\n"),
			verb("id1 proxy:7001@0,proxy myself,master - 0 0 1 connected 0-16383\nid2 :0@0 master,noaddr - 0 0 0 disconnected\n")},
		{"nodes with hostname, announce ip", KindClusterNodes, ip,
			bulk("id1 127.0.0.1:30001@40001,node-1.example myself,master - 0\n"),
			bulk("id1 10.1.1.1:7001@0 myself,master - 0\n")},
		{"nodes aux fields (nodes.conf form), myself with empty ip", KindClusterNodes, ip,
			bulk("id1 :30001@40001,,tls-port=30005,shard-id=abc myself,master - 0 0 1 connected\n"),
			bulk("id1 10.1.1.1:7001@0,,tls-port=0,shard-id=abc myself,master - 0 0 1 connected\n")},
		{"replicas resp2", KindClusterReplicas, ip,
			"*1\r\n" + bulk("id2 127.0.0.1:30004@40004 slave id1 0 1795343875488 0 connected"),
			"*1\r\n" + bulk("id2 10.1.1.1:7004@0 slave id1 0 1795343875488 0 connected")},
		{"role master", KindRole, ip,
			"*3\r\n$6\r\nmaster\r\n:14\r\n*2\r\n*3\r\n$9\r\n127.0.0.1\r\n$5\r\n30004\r\n$2\r\n14\r\n*3\r\n$9\r\n127.0.0.1\r\n$5\r\n30005\r\n$1\r\n0\r\n",
			"*3\r\n$6\r\nmaster\r\n:14\r\n*2\r\n*3\r\n$8\r\n10.1.1.1\r\n$4\r\n7004\r\n$2\r\n14\r\n*3\r\n$8\r\n10.1.1.1\r\n$4\r\n7005\r\n$1\r\n0\r\n"},
		{"role replica, announce name", KindRole, name,
			"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:30001\r\n$9\r\nconnected\r\n:14\r\n",
			"*5\r\n$5\r\nslave\r\n$5\r\nproxy\r\n:7001\r\n$9\r\nconnected\r\n:14\r\n"},
		{"role sentinel", KindRole, ip, "*2\r\n$8\r\nsentinel\r\n*0\r\n", "*2\r\n$8\r\nsentinel\r\n*0\r\n"},
		{"info replica", KindInfo, ip,
			bulk("# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:30001\r\nmaster_link_status:up\r\n"),
			bulk("# Replication\r\nrole:slave\r\nmaster_host:10.1.1.1\r\nmaster_port:7001\r\nmaster_link_status:up\r\n")},
		{"info master resp3", KindInfo, ip,
			verb("# Server\r\ntcp_port:30001\r\n# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=30004,state=online,offset=14,lag=0\r\nmaster_repl_offset:14\r\n"),
			verb("# Server\r\ntcp_port:7001\r\n# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=10.1.1.1,port=7004,state=online,offset=14,lag=0\r\nmaster_repl_offset:14\r\n")},
		{"info master, a replica without a listening port (redis-cli --rdb) kept", KindInfo, ip,
			bulk("# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=30004,state=online,offset=14,lag=0\r\nslave1:ip=192.168.0.7,port=0,state=online,offset=14,lag=0\r\n"),
			bulk("# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=10.1.1.1,port=7004,state=online,offset=14,lag=0\r\nslave1:ip=192.168.0.7,port=0,state=online,offset=14,lag=0\r\n")},
		{"role master, a replica without a listening port kept", KindRole, ip,
			"*3\r\n$6\r\nmaster\r\n:14\r\n*2\r\n*3\r\n$9\r\n127.0.0.1\r\n$5\r\n30004\r\n$2\r\n14\r\n*3\r\n$11\r\n192.168.0.7\r\n$1\r\n0\r\n$2\r\n14\r\n",
			"*3\r\n$6\r\nmaster\r\n:14\r\n*2\r\n*3\r\n$8\r\n10.1.1.1\r\n$4\r\n7004\r\n$2\r\n14\r\n*3\r\n$11\r\n192.168.0.7\r\n$1\r\n0\r\n$2\r\n14\r\n"},
		{"exec with MOVED and ASK", KindExec, ip,
			"*3\r\n+OK\r\n-MOVED 1 127.0.0.1:30002\r\n-ASK 2 127.0.0.1:30003\r\n",
			"*3\r\n+OK\r\n-MOVED 1 10.1.1.1:7002\r\n-ASK 2 10.1.1.1:7003\r\n"},
		{"exec without redirects", KindExec, ip, "*2\r\n+OK\r\n$1\r\nx\r\n", "*2\r\n+OK\r\n$1\r\nx\r\n"},
		{"exec aborted by WATCH", KindExec, ip, "*-1\r\n", "*-1\r\n"},
		{"MOVED for any kind", KindClusterSlots, ip, "-MOVED 1 127.0.0.1:30002\r\n", "-MOVED 1 10.1.1.1:7002\r\n"},
		{"other error", KindClusterNodes, ip, "-ERR This instance has cluster support disabled\r\n", "-ERR This instance has cluster support disabled\r\n"},
		{"push passes", KindClusterSlots, ip, ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n", ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"},
		{"client list", KindClientList, ip,
			bulk("id=3 addr=127.0.0.1:50612 laddr=127.0.0.1:30001 fd=8 name= age=0\nid=4 addr=127.0.0.1:50613 laddr=127.0.0.1:30001 fd=9 name= age=0\n"),
			bulk("id=3 addr=127.0.0.1:50612 laddr=10.1.1.1:7001 fd=8 name= age=0\nid=4 addr=127.0.0.1:50613 laddr=10.1.1.1:7001 fd=9 name= age=0\n")},
		{"client info resp3, laddr on another interface", KindClientList, ip,
			verb("id=3 addr=10.0.0.9:50612 laddr=10.0.0.5:30002 fd=8\n"),
			verb("id=3 addr=10.0.0.9:50612 laddr=10.1.1.1:7002 fd=8\n")},
		{"client info, IPv6 announce: laddr in brackets, as Redis shows it", KindClientList, testResolver("fd00::1", false),
			bulk("id=3 addr=[::1]:50612 laddr=[::1]:30001 fd=8\n"),
			bulk("id=3 addr=[::1]:50612 laddr=[fd00::1]:7001 fd=8\n")},
		{"none", KindNone, ip, "$9\r\n127.0.0.1\r\n", "$9\r\n127.0.0.1\r\n"},
	}
}

func TestRewrite(t *testing.T) {
	for _, tt := range rewriteCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Rewrite(tt.kind, []byte(tt.in), tt.r)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tt.want)
			}
			host := "10.1.1.1"
			if strings.Contains(tt.name, "announce name") {
				host = "proxy"
			}
			if strings.Contains(tt.name, "IPv6 announce") {
				host = "fd00::1"
			}
			if d := checkRewritten(tt.kind, []byte(tt.in), got, host, map[int]bool{7001: true, 7002: true, 7003: true, 7004: true, 7005: true, 0: true}); d != "" && tt.kind != KindNone {
				t.Fatal(d)
			}
		})
	}
}

// An unknown endpoint ("?", "" or NULL) is resolved by the node's ip first:
// the nodes may all listen on the same port on different hosts.
func TestRewriteUnknownEndpointUsesIP(t *testing.T) {
	var calls []string
	r := func(host string, port int) (Endpoint, bool) {
		calls = append(calls, host)
		switch host {
		case "10.0.0.2":
			return Endpoint{Host: "proxy", Port: 7002}, true
		case "?", "":
			return Endpoint{Host: "proxy", Port: 7001}, true // the connection's node
		}
		return Endpoint{}, false
	}
	in := "*1\r\n*3\r\n:0\r\n:1\r\n*4\r\n$-1\r\n:6379\r\n$3\r\nid2\r\n*2\r\n$2\r\nip\r\n$8\r\n10.0.0.2\r\n"
	out, err := Rewrite(KindClusterSlots, []byte(in), r)
	if err != nil || !strings.Contains(string(out), ":7002\r\n") || calls[0] != "10.0.0.2" {
		t.Fatalf("%q, %v, calls %q", out, err, calls)
	}
	// A known endpoint is resolved as it is.
	calls = nil
	in = "*1\r\n*3\r\n:0\r\n:1\r\n*4\r\n$1\r\n?\r\n:6379\r\n$3\r\nid2\r\n*0\r\n"
	if out, err := Rewrite(KindClusterSlots, []byte(in), r); err != nil || !strings.Contains(string(out), ":7001\r\n") || len(calls) != 1 {
		t.Fatalf("%q, %v, calls %q", out, err, calls)
	}
}

func TestRewriteErrors(t *testing.T) {
	ip := testResolver("10.1.1.1", false)
	tests := []struct {
		name string
		kind RewriteKind
		in   string
		err  error
	}{
		{"slots unknown node", KindClusterSlots, "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$8\r\n10.0.0.9\r\n:6379\r\n", ErrUnknownNode},
		{"slots not an array", KindClusterSlots, "$3\r\nabc\r\n", ErrBadReply},
		{"slots node not an array", KindClusterSlots, "*1\r\n*3\r\n:0\r\n:1\r\n:5\r\n", ErrBadReply},
		{"slots port not an integer", KindClusterSlots, "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\n?\r\n$5\r\n30001\r\n", ErrBadReply},
		{"nodes unknown node", KindClusterNodes, bulk("id1 10.9.9.9:30001@40001 master - 0 0 1 c\n"), ErrUnknownNode},
		{"nodes bad line", KindClusterNodes, bulk("id1\n"), ErrBadReply},
		{"shards node without port", KindClusterShards, "*1\r\n*2\r\n$5\r\nnodes\r\n*1\r\n*2\r\n$2\r\nip\r\n$1\r\nx\r\n", ErrBadReply},
		{"role unknown replica", KindRole, "*3\r\n$6\r\nmaster\r\n:0\r\n*1\r\n*3\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\n0\r\n", ErrUnknownNode},
		{"info master_host without port", KindInfo, "$19\r\nmaster_host:1.2.3.4\r\n", ErrBadReply},
		{"trailing bytes", KindClusterSlots, "*0\r\n*0\r\n", ErrBadReply},
		{"incomplete", KindClusterSlots, "*1\r\n", ErrBadReply},
		{"exec with unknown MOVED", KindExec, "*1\r\n-MOVED 1 1.2.3.4:5\r\n", ErrUnknownNode},
	}
	for _, tt := range tests {
		if _, err := Rewrite(tt.kind, []byte(tt.in), ip); !errors.Is(err, tt.err) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.err)
		}
	}
}

func TestRewriteExecKinds(t *testing.T) {
	ip := testResolver("10.1.1.1", false)
	in := "*3\r\n+OK\r\n*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:30001\r\n*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:30001\r\n$9\r\nconnected\r\n:14\r\n"
	want := "*3\r\n+OK\r\n*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$8\r\n10.1.1.1\r\n:7001\r\n*5\r\n$5\r\nslave\r\n$8\r\n10.1.1.1\r\n:7001\r\n$9\r\nconnected\r\n:14\r\n"
	got, err := RewriteExec([]RewriteKind{KindNone, KindClusterSlots, KindRole}, []byte(in), ip)
	if err != nil || string(got) != want {
		t.Fatalf("got %q, %v\nwant %q", got, err, want)
	}
	// Without kinds, only redirects are rewritten.
	got, err = RewriteExec(nil, []byte(in), ip)
	if err != nil || string(got) != in {
		t.Fatalf("without kinds: %q, %v", got, err)
	}
}

// capturedReplies returns the replies captured from a real Redis 7 cluster
// (TestCapture) by file name, with the real ports they contain.
func capturedReplies(t testing.TB) (map[string][]byte, []int) {
	t.Helper()
	dir := filepath.Join("testdata", "replies")
	files, err := filepath.Glob(filepath.Join(dir, "*.resp*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured replies in %s", dir)
	}
	m := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(f)] = b
	}
	b, err := os.ReadFile(filepath.Join(dir, "ports"))
	if err != nil {
		t.Fatal(err)
	}
	var ports []int
	for _, f := range strings.Fields(string(b)) {
		p, _ := strconv.Atoi(f)
		ports = append(ports, p)
	}
	return m, ports
}

// kindOfFile maps a captured file's name to the kind of its command.
func kindOfFile(name string) RewriteKind {
	base, _, _ := strings.Cut(name, ".")
	base, _, _ = strings.Cut(base, "-")
	switch base {
	case "slots":
		return KindClusterSlots
	case "shards":
		return KindClusterShards
	case "nodes":
		return KindClusterNodes
	case "replicas", "slaves":
		return KindClusterReplicas
	case "role":
		return KindRole
	case "info":
		return KindInfo
	case "client":
		return KindClientList
	}
	return KindNone
}

// TestRewriteCaptured rewrites replies captured from a real cluster, RESP2
// and RESP3, to an IP and to a host name, and checks that no real port is
// left, that node ids, slots, flags and offsets are unchanged, and that every
// address in the output is announced.
func TestRewriteCaptured(t *testing.T) {
	replies, realPorts := capturedReplies(t)
	dataPorts := realPorts[:len(realPorts)/2]
	for _, announce := range []string{"127.0.0.1", "proxy.example"} {
		for _, tls := range []bool{false, true} {
			r, announced := portMap(dataPorts, announce, 7001, tls)
			for name, in := range replies {
				kind := kindOfFile(name)
				out, err := Rewrite(kind, in, r)
				if err != nil {
					t.Errorf("%s (%s, tls %v): %v", name, announce, tls, err)
					continue
				}
				if p := noPorts(out, realPorts); p != 0 {
					t.Errorf("%s (%s): real port %d left:\n%s", name, announce, p, out)
				}
				if d := checkRewritten(kind, in, out, announce, announced); d != "" {
					t.Errorf("%s (%s): %s", name, announce, d)
				}
			}
		}
	}
}

// The tests' oracle must see a reply that was not rewritten as a leak.
func TestCheckerCatchesLeaks(t *testing.T) {
	replies, realPorts := capturedReplies(t)
	for name, b := range replies {
		if d := checkRewritten(kindOfFile(name), b, b, "proxy", map[int]bool{7001: true}); d == "" {
			t.Errorf("%s: checkRewritten finds no address left in the original reply", name)
		}
		if noPorts(b, realPorts) == 0 {
			t.Errorf("%s: noPorts finds no real port in the original reply", name)
		}
	}
	for _, c := range rewriteCases() {
		if c.in == c.want {
			continue
		}
		if d := checkRewritten(c.kind, []byte(c.in), []byte(c.in), "proxy", map[int]bool{7001: true}); d == "" {
			t.Errorf("%s: checkRewritten finds no address left in the original reply", c.name)
		}
	}
}
