package provision

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SlotCount is the number of hash slots of a Redis Cluster.
const SlotCount = 16384

// Role is a node's role: as provisioned in Node, as seen live in NodeStatus.
type Role string

// Roles.
const (
	RoleMaster  Role = "master"
	RoleReplica Role = "replica"
)

// SlotRange is an inclusive range of hash slots.
type SlotRange struct {
	Start, End int
}

func (r SlotRange) String() string {
	if r.Start == r.End {
		return strconv.Itoa(r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}

// FormatSlots renders ranges as Redis does in CLUSTER NODES: "0-5460 5462".
func FormatSlots(rs []SlotRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, " ")
}

// ShardSlots returns the slot range of each of n shards, split as
// redis-cli --cluster create does: 0-5460, 5461-10922, 10923-16383 for 3 shards.
func ShardSlots(n int) []SlotRange {
	if n < 1 {
		return nil
	}
	per := float64(SlotCount) / float64(n)
	out := make([]SlotRange, n)
	first, cursor := 0, 0.0
	for i := range n {
		last := int(math.Round(cursor + per - 1))
		if last > SlotCount-1 || i == n-1 {
			last = SlotCount - 1
		}
		if last < first {
			last = first
		}
		out[i] = SlotRange{first, last}
		first = last + 1
		cursor += per
	}
	return out
}

// layoutNode describes node i of a cluster with the given shape: its shard, its
// provisioned role, and (for replicas) the index of its master.
//
// Node i listens on BasePort+i. Nodes 0..shards-1 are the masters of shards
// 0..shards-1; replica j of shard s is node shards + s*replicas + j.
func layoutNode(i, shards, replicas int) (shard int, role Role, master int) {
	if i < shards {
		return i, RoleMaster, i
	}
	s := (i - shards) / replicas
	return s, RoleReplica, s
}

// KeySlot returns the hash slot of key, honouring {hash tags}, as Redis does.
func KeySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key)) & (SlotCount - 1)
}

// crc16 is CRC-16/XMODEM, the checksum Redis Cluster uses for key slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// KeyInSlot returns a short key that hashes to slot, built from prefix and a hash tag.
func KeyInSlot(prefix string, slot int) string {
	for n := 0; ; n++ {
		tag := strconv.Itoa(n)
		if KeySlot(tag) == slot {
			return prefix + "{" + tag + "}"
		}
	}
}
