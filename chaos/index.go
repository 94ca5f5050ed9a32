package chaos

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"net"
	"net/netip"
	"sort"

	"github.com/redis-chaos/redis-chaos/proxy"
)

// faultIndex narrows a node's command faults to the candidates for one
// command with a few lookups, however many faults there are, so that faults
// that match nothing cost the data path next to nothing (100 of them cost
// at most 5%: BenchmarkProxyNonMatchingFaults). It is a conservative
// pre-filter: every fault
// it leaves out would not match; the candidates still go through their
// matcher, in Redis's order of checks.
//
//	command ─▶ byCmd[name] | noCmd        (commands filter)
//	first key ─▶ byFirst[key[0]] prefixes  (keys glob: its literal prefix)
//	client IP ─▶ byNet4/6[IP/len] per length (clients CIDR)
//	candidates = all ∧ cmd gate ∧ key gate ∧ client gate
type faultIndex struct {
	n     int
	all   faultSet
	noCmd faultSet            // faults without a commands filter
	byCmd map[string]faultSet // faults whose commands filter names the command

	keyGated faultSet                  // faults with a keys glob
	keyAny   faultSet                  // … whose glob starts with a wildcard
	byFirst  *[256][]keyPrefix         // literal prefixes by first byte
	cliGated faultSet                  // faults with a clients filter
	byNet4   map[uint64]faultSet       // IPv4 networks: address<<8 | prefix length
	byNet6   map[netip.Prefix]faultSet // IPv6 networks
	lens4    []int                     // prefix lengths in byNet4
	lens6    []int                     // and in byNet6
}

// net4Key is the byNet4 key of the network of a (IPv4, big endian) with bits.
func net4Key(a uint32, bits int) uint64 {
	return uint64(a&(^uint32(0)<<(32-bits)))<<8 | uint64(bits)
}

type keyPrefix struct {
	prefix []byte
	set    faultSet
}

// maxIndexed is the number of faults per node the index covers; a node with
// more is scanned in full.
const maxIndexed = 256

// faultSet is a set of positions in a node's fault list.
type faultSet [maxIndexed / 64]uint64

func (s *faultSet) add(i int)                { s[i/64] |= 1 << (i % 64) }
func (s *faultSet) or(o *faultSet)           { s[0] |= o[0]; s[1] |= o[1]; s[2] |= o[2]; s[3] |= o[3] }
func (s *faultSet) andNot(o *faultSet)       { s[0] &^= o[0]; s[1] &^= o[1]; s[2] &^= o[2]; s[3] &^= o[3] }
func (s *faultSet) empty() bool              { return s[0]|s[1]|s[2]|s[3] == 0 }
func (s faultSet) minus(o faultSet) faultSet { s.andNot(&o); return s }

// candidates are the positions of the faults that may match a command.
type candidates struct {
	set faultSet
	n   int // > 0: no index, every position below n
}

// next returns the first candidate at position i or after, or -1.
func (c *candidates) next(i int) int {
	if c.n > 0 {
		if i < c.n {
			return i
		}
		return -1
	}
	for w := i / 64; w < len(c.set); w++ {
		word := c.set[w]
		if w == i/64 {
			word &= ^uint64(0) << (i % 64)
		}
		if word != 0 {
			return w*64 + bits.TrailingZeros64(word)
		}
	}
	return -1
}

// newFaultIndex indexes a node's faults (in their order); nil when there are
// none or more than maxIndexed.
func newFaultIndex(fs []*Fault) *faultIndex {
	if len(fs) == 0 || len(fs) > maxIndexed {
		return nil
	}
	ix := &faultIndex{n: len(fs), byCmd: map[string]faultSet{}, byNet4: map[uint64]faultSet{}, byNet6: map[netip.Prefix]faultSet{}}
	lens := map[bool]map[int]bool{true: {}, false: {}}
	for i, f := range fs {
		ix.all.add(i)
		mt := f.matcher
		if mt == nil || mt.commands == nil {
			ix.noCmd.add(i)
		} else {
			for name := range mt.commands {
				s := ix.byCmd[name]
				s.add(i)
				ix.byCmd[name] = s
			}
		}
		if mt == nil {
			continue
		}
		if g := mt.m.Keys; g != "" {
			ix.keyGated.add(i)
			p := literalPrefix(g)
			if p == "" {
				ix.keyAny.add(i)
			} else {
				ix.addPrefix(p, i)
			}
		}
		if len(mt.clients) > 0 {
			prefixes, ok := netipPrefixes(mt.clients)
			if !ok {
				continue // not gated: always a candidate
			}
			ix.cliGated.add(i)
			for _, p := range prefixes {
				if p.Addr().Is4() {
					a4 := p.Addr().As4()
					k := net4Key(binary.BigEndian.Uint32(a4[:]), p.Bits())
					s := ix.byNet4[k]
					s.add(i)
					ix.byNet4[k] = s
				} else {
					s := ix.byNet6[p]
					s.add(i)
					ix.byNet6[p] = s
				}
				lens[p.Addr().Is4()][p.Bits()] = true
			}
		}
	}
	for l := range lens[true] {
		ix.lens4 = append(ix.lens4, l)
	}
	for l := range lens[false] {
		ix.lens6 = append(ix.lens6, l)
	}
	sort.Ints(ix.lens4)
	sort.Ints(ix.lens6)
	return ix
}

func (ix *faultIndex) addPrefix(p string, i int) {
	if ix.byFirst == nil {
		ix.byFirst = new([256][]keyPrefix)
	}
	list := ix.byFirst[p[0]]
	for j := range list {
		if string(list[j].prefix) == p {
			list[j].set.add(i)
			return
		}
	}
	var s faultSet
	s.add(i)
	ix.byFirst[p[0]] = append(list, keyPrefix{prefix: []byte(p), set: s})
}

// literalPrefix is what every key a path.Match glob matches starts with.
func literalPrefix(glob string) string {
	for i := 0; i < len(glob); i++ {
		switch glob[i] {
		case '*', '?', '[', '\\':
			return glob[:i]
		}
	}
	return glob
}

// netipPrefixes converts a clients filter; ok is false when a network has no
// exact netip form (then the fault is not gated on clients).
func netipPrefixes(nets []*net.IPNet) ([]netip.Prefix, bool) {
	out := make([]netip.Prefix, 0, len(nets))
	for _, n := range nets {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			return nil, false
		}
		a = a.Unmap()
		ones, size := n.Mask.Size()
		if (a.Is4() && size != 32) || (a.Is6() && size != 128) {
			return nil, false
		}
		p, err := a.Prefix(ones)
		if err != nil {
			return nil, false
		}
		out = append(out, p)
	}
	return out, true
}

// candidates returns the faults that may match cmd from c. A nil index
// (no faults, or too many to index) gives every position below n.
func (ix *faultIndex) candidates(c *proxy.ConnInfo, cmd *proxy.Command, n int) candidates {
	if ix == nil {
		return candidates{n: n}
	}
	set := ix.noCmd
	if len(ix.byCmd) > 0 {
		if s, ok := ix.byCmd[cmd.Name]; ok {
			set.or(&s)
		}
	}
	if !ix.keyGated.empty() {
		pass := faultSet{}
		if cmd.Slot >= 0 {
			pass = ix.keyAny
			if key := firstKeyOf(cmd); len(key) > 0 && ix.byFirst != nil {
				for _, kp := range ix.byFirst[key[0]] {
					if bytes.HasPrefix(key, kp.prefix) {
						pass.or(&kp.set)
					}
				}
			}
		}
		gated := ix.keyGated.minus(pass)
		set.andNot(&gated)
	}
	if !ix.cliGated.empty() {
		pass, ok := ix.clientPass(c.Client)
		if ok {
			gated := ix.cliGated.minus(pass)
			set.andNot(&gated)
		}
	}
	return candidates{set: set}
}

// clientPass returns the client-gated faults whose networks hold the client;
// ok is false when the address cannot be read (then no fault is left out).
func (ix *faultIndex) clientPass(a net.Addr) (pass faultSet, ok bool) {
	var addr netip.Addr
	switch t := a.(type) {
	case *net.TCPAddr:
		if ip4 := t.IP.To4(); ip4 != nil { // the common case, without netip
			a := binary.BigEndian.Uint32(ip4)
			for _, l := range ix.lens4 {
				if s, found := ix.byNet4[net4Key(a, l)]; found {
					pass.or(&s)
				}
			}
			return pass, true
		}
		addr, ok = netip.AddrFromSlice(t.IP)
	case nil:
		return pass, true // no address: no clients filter matches
	default:
		ap, err := netip.ParseAddrPort(a.String())
		addr, ok = ap.Addr(), err == nil
	}
	if !ok {
		return pass, false
	}
	addr = addr.Unmap()
	if addr.Is4() {
		a4 := addr.As4()
		a := binary.BigEndian.Uint32(a4[:])
		for _, l := range ix.lens4 {
			if s, found := ix.byNet4[net4Key(a, l)]; found {
				pass.or(&s)
			}
		}
		return pass, true
	}
	for _, l := range ix.lens6 {
		if p, err := addr.Prefix(l); err == nil {
			if s, found := ix.byNet6[p]; found {
				pass.or(&s)
			}
		}
	}
	return pass, true
}
