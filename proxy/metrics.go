package proxy

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the data path, on the registerer the caller gives (never the
// global one).
type metrics struct {
	commands       *prometheus.CounterVec
	latency        *latencyVec
	conns          *prometheus.GaugeVec
	upstreams      *prometheus.GaugeVec
	upstreamErrors *prometheus.CounterVec
	refreshes      *prometheus.CounterVec
	timed          bool // latency is measured

	cache sync.Map // cmdKey → *cmdCounters
}

type cmdKey struct{ node, cmd, outcome string }

type cmdCounters struct {
	count prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_chaos_commands_total",
			Help: "Commands answered, by real node, command and outcome (ok, error, injected).",
		}, []string{"node", "command", "outcome"}),
		latency: newLatencyVec(),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redis_chaos_client_connections",
			Help: "Open client connections, by real node.",
		}, []string{"node"}),
		upstreams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redis_chaos_upstream_connections",
			Help: "Open connections to real nodes carrying client commands, by node and kind: own (one client's: 1:1, or pinned) or shared (--share-upstreams).",
		}, []string{"node", "kind"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_chaos_upstream_errors_total",
			Help: "Errors talking to real nodes, by node and kind (dial, read, write, protocol, rewrite).",
		}, []string{"node", "kind"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_chaos_topology_refreshes_total",
			Help: "Topology refreshes, by result.",
		}, []string{"result"}),
	}
	if reg != nil {
		m.timed = true
		reg.MustRegister(m.commands, m.latency, m.conns, m.upstreams, m.upstreamErrors, m.refreshes)
	}
	return m
}

// counters returns the counters of one node, command and outcome.
func (m *metrics) counters(node, cmd, outcome string) *cmdCounters {
	k := cmdKey{node, cmd, outcome}
	v, ok := m.cache.Load(k)
	if !ok {
		v, _ = m.cache.LoadOrStore(k, &cmdCounters{
			count: m.commands.WithLabelValues(node, cmd, outcome),
		})
	}
	return v.(*cmdCounters)
}
