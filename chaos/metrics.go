package chaos

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/redis-chaos/redis-chaos/chaos/fault"
)

type engineMetrics struct {
	active   *prometheus.GaugeVec
	injected *prometheus.CounterVec
	commands *prometheus.CounterVec
}

func newEngineMetrics(reg prometheus.Registerer) *engineMetrics {
	m := &engineMetrics{
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redis_chaos_faults_active",
			Help: "Faults active now, by action (every action is listed, 0 when none is active).",
		}, []string{"action"}),
		injected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_chaos_faults_started_total",
			Help: "Faults started, by action.",
		}, []string{"action"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_chaos_fault_commands_total",
			Help: "Commands a fault acted on (error, reset, latency), by action.",
		}, []string{"action"}),
	}
	for _, a := range fault.Actions {
		m.active.WithLabelValues(a).Set(0)
	}
	if reg != nil {
		reg.MustRegister(m.active, m.injected, m.commands)
	}
	return m
}

// setActive sets redis_chaos_faults_active to the count of active faults of
// each action, every action included.
func (m *engineMetrics) setActive(byAction map[string]int) {
	for _, a := range fault.Actions {
		m.active.WithLabelValues(a).Set(float64(byAction[a]))
	}
}
