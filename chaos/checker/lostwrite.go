package checker

import "time"

// LostWrite is an acknowledged write that a network partition lost: the
// master that acknowledged it lost its slots to a replica that never
// received it. The chaos engine finds them when a partition heals.
type LostWrite struct {
	Time    time.Time // when its acknowledgement reached the proxy
	Command string    // "SET"
	Key     string
	Node    string // real address of the master that acknowledged it
	Port    string // proxy address the client used
	Conn    uint64 // proxy connection id
	Client  ClientID
}

// AddLostWrites records writes a partition lost as findings of
// RuleWriteLost, one per client, each write an occurrence with its evidence.
// atRisk marks writes a simulated partition put at risk (a real cluster
// would have lost them; nothing was lost): the findings are possible and one
// severity lower. Safe for concurrent use.
func (k *Checker) AddLostWrites(writes []LostWrite, atRisk bool) {
	note := "acknowledged, then lost: its master lost its slots to a replica that never had it"
	if atRisk {
		note = "acknowledged by a master cut off from the majority, which a replica on the other side replaced: a real cluster loses this write"
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, w := range writes {
		c := k.writer(w)
		if c == nil {
			continue
		}
		ev := EvidenceEvent{Time: w.Time, Type: "command", Conn: w.Conn, Node: w.Node, Port: w.Port,
			Command: w.Command, Slot: -1, Reply: "+", Note: note}
		if !k.cfg.RedactKeys {
			ev.Key = truncate(w.Key, 128)
		}
		k.record(RuleWriteLost, c, w.Time, !atRisk, []EvidenceEvent{ev})
	}
}

// writer is the client that sent a write: its connection's, or the client
// its identity names when the connection is gone.
func (k *Checker) writer(w LostWrite) *clientState {
	if cn := k.conns[w.Conn]; cn != nil && cn.client != nil {
		return cn.client
	}
	name, _ := keyName(w.Client.Name)
	return k.clientFor(clientKey{ip: w.Client.Addr, lib: w.Client.LibName, ver: w.Client.LibVer, name: name}, w.Time)
}
