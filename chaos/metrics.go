package chaos

import "github.com/prometheus/client_golang/prometheus"

type engineMetrics struct {
	active   prometheus.Gauge
	injected *prometheus.CounterVec
	commands *prometheus.CounterVec
}

func newEngineMetrics(reg prometheus.Registerer) *engineMetrics {
	m := &engineMetrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redis_chaos_faults_active",
			Help: "Faults active now.",
		}),
		injected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_chaos_faults_started_total",
			Help: "Faults started, by action.",
		}, []string{"action"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_chaos_fault_commands_total",
			Help: "Commands a fault acted on (error, reset, latency), by action.",
		}, []string{"action"}),
	}
	if reg != nil {
		reg.MustRegister(m.active, m.injected, m.commands)
	}
	return m
}
