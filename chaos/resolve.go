package chaos

import "github.com/redis-chaos/redis-chaos/proxy/topology"

// mastersLocked keeps the virtual masters of addrs, in order: a migration's
// "to" may name a shard ("shard:1"), which resolves to its master and replicas.
func (e *Engine) mastersLocked(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		if n := e.vc.node(a); n != nil && n.role == topology.RoleMaster {
			out = append(out, a)
		}
	}
	return out
}
