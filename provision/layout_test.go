package provision

import (
	"reflect"
	"testing"
)

func TestShardSlots(t *testing.T) {
	tests := []struct {
		shards int
		want   []SlotRange
	}{
		{1, []SlotRange{{0, 16383}}},
		{2, []SlotRange{{0, 8191}, {8192, 16383}}},
		{3, []SlotRange{{0, 5460}, {5461, 10922}, {10923, 16383}}},
		{0, nil},
	}
	for _, tt := range tests {
		if got := ShardSlots(tt.shards); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ShardSlots(%d) = %v, want %v", tt.shards, got, tt.want)
		}
	}
	for n := 1; n <= 64; n++ {
		next := 0
		for _, r := range ShardSlots(n) {
			if r.Start != next || r.End < r.Start {
				t.Fatalf("ShardSlots(%d): gap or overlap at %v", n, r)
			}
			next = r.End + 1
		}
		if next != SlotCount {
			t.Fatalf("ShardSlots(%d) ends at %d", n, next)
		}
	}
}

func TestLayoutNode(t *testing.T) {
	type want struct {
		shard  int
		role   Role
		master int
	}
	tests := []struct {
		shards, replicas int
		want             []want
	}{
		{3, 2, []want{
			{0, RoleMaster, 0}, {1, RoleMaster, 1}, {2, RoleMaster, 2},
			{0, RoleReplica, 0}, {0, RoleReplica, 0}, {1, RoleReplica, 1},
			{1, RoleReplica, 1}, {2, RoleReplica, 2}, {2, RoleReplica, 2},
		}},
		{2, 1, []want{{0, RoleMaster, 0}, {1, RoleMaster, 1}, {0, RoleReplica, 0}, {1, RoleReplica, 1}}},
		{1, 0, []want{{0, RoleMaster, 0}}},
	}
	for _, tt := range tests {
		for i, w := range tt.want {
			s, r, m := layoutNode(i, tt.shards, tt.replicas)
			if (want{s, r, m}) != w {
				t.Errorf("%dx%d node %d: %v %v %v, want %v", tt.shards, tt.replicas, i, s, r, m, w)
			}
		}
	}
}

func TestKeySlot(t *testing.T) {
	tests := []struct {
		key  string
		want int
	}{
		{"foo", 12182},
		{"bar", 5061},
		{"hello", 866},
		{"{user1000}.following", KeySlot("user1000")},
		{"foo{}{bar}", KeySlot("foo{}{bar}")},
		{"{}foo", 9500},
	}
	for _, tt := range tests {
		if got := KeySlot(tt.key); got != tt.want {
			t.Errorf("KeySlot(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
	for _, slot := range []int{0, 100, 5460, 16383} {
		if got := KeySlot(KeyInSlot("p", slot)); got != slot {
			t.Errorf("KeyInSlot(%d) hashes to %d", slot, got)
		}
	}
}

func TestParseClusterNodes(t *testing.T) {
	in := "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host replica 0 1 0 4 connected\n" +
		"e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 5462 [100->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f] [5461-<-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]\n"
	got := parseClusterNodes(in)
	if len(got) != 2 {
		t.Fatalf("%d nodes", len(got))
	}
	if got[0].Addr != "127.0.0.1:30004" || got[0].Master != "0" && got[0].Master != "" {
		t.Errorf("node 0: %+v", got[0])
	}
	m := got[1]
	if !m.myself() || m.Master != "" || !reflect.DeepEqual(m.Slots, []SlotRange{{0, 5460}, {5462, 5462}}) {
		t.Errorf("node 1: %+v", m)
	}
	if m.Migrating[100] != "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f" || m.Importing[5461] != "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1" {
		t.Errorf("markers: %v %v", m.Migrating, m.Importing)
	}
	if FormatSlots(m.Slots) != "0-5460 5462" {
		t.Errorf("FormatSlots: %s", FormatSlots(m.Slots))
	}
}
