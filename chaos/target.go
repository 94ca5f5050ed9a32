package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
	"github.com/redis-chaos/redis-chaos/proxy/topology"
)

// shards returns the virtual shards: each master (ordered by first slot) with
// its replicas. Shard numbers count from 0.
func (v *virtual) shards() [][]*vnode {
	var out [][]*vnode
	ms := slices.Clone(v.masters())
	sort.Slice(ms, func(i, j int) bool { return v.firstSlot(ms[i].idx) < v.firstSlot(ms[j].idx) })
	for _, m := range ms {
		out = append(out, append([]*vnode{m}, v.replicasOf(m.idx)...))
	}
	return out
}

func (v *virtual) firstSlot(i int) int {
	for s, o := range v.owner {
		if int(o) == i {
			return s
		}
	}
	return topology.NumSlots
}

// resolveLocked turns a target into real node addresses, from live (virtual)
// roles; random picks use the engine's seeded source.
func (e *Engine) resolveLocked(target string, a action) ([]string, error) {
	target = strings.TrimSpace(target)
	v := e.vc
	if target == "" {
		d, ok := a.(targetDefaulter)
		if !ok {
			return nil, &fault.FieldError{Field: "target", Reason: "required for action " + a.Name()}
		}
		target = d.defaultTarget()
	}
	seen := map[string]bool{}
	var out []string
	add := func(ns ...*vnode) {
		for _, n := range ns {
			if !seen[n.addr] {
				seen[n.addr] = true
				out = append(out, n.addr)
			}
		}
	}
	for _, t := range strings.Split(target, ",") {
		t = strings.TrimSpace(t)
		shards := v.shards()
		var masters, replicas []*vnode
		for _, sh := range shards {
			masters = append(masters, sh[0])
			replicas = append(replicas, sh[1:]...)
		}
		switch {
		case t == "all":
			add(v.nodes...)
		case t == "masters" || t == "masters:all":
			add(masters...)
		case t == "replicas":
			add(replicas...)
		case t == "master" || t == "master:random":
			add(e.pickNodesLocked(masters, 1)...)
		case t == "replica" || t == "replica:random":
			add(e.pickNodesLocked(replicas, 1)...)
		case t == "masters:majority":
			add(e.pickNodesLocked(masters, len(masters)/2+1)...)
		case strings.HasPrefix(t, "replicas-of:shard:"):
			n, _ := strconv.Atoi(strings.TrimPrefix(t, "replicas-of:shard:"))
			if n < 0 || n >= len(shards) {
				return nil, &fault.FieldError{Field: "target", Reason: fmt.Sprintf("no shard %d (shards are 0-%d)", n, len(shards)-1)}
			}
			add(shards[n][1:]...)
		case strings.HasPrefix(t, "shard:"):
			n, _ := strconv.Atoi(strings.TrimPrefix(t, "shard:"))
			if n < 0 || n >= len(shards) {
				return nil, &fault.FieldError{Field: "target", Reason: fmt.Sprintf("no shard %d (shards are 0-%d)", n, len(shards)-1)}
			}
			add(shards[n]...)
		default:
			found := false
			for _, n := range v.nodes {
				if n.addr == t || n.announce == t || n.id == t {
					add(n)
					found = true
				}
			}
			if !found {
				return nil, &fault.FieldError{Field: "target", Reason: fmt.Sprintf("%q matches no node (addresses, node ids and selectors are listed by GET /v1/topology)", t)}
			}
		}
	}
	if len(out) == 0 {
		return nil, &fault.FieldError{Field: "target", Reason: fmt.Sprintf("%q matches no node", target)}
	}
	return out, nil
}

func (e *Engine) pickNodesLocked(ns []*vnode, n int) []*vnode {
	addrs := make([]string, len(ns))
	by := map[string]*vnode{}
	for i, x := range ns {
		addrs[i] = x.addr
		by[x.addr] = x
	}
	var out []*vnode
	for _, a := range e.pickLocked(addrs, n) {
		out = append(out, by[a])
	}
	return out
}
