package checker

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	findings *prometheus.CounterVec
	dropped  prometheus.Counter
	events   prometheus.Counter
}

// newMetrics registers the checker's metrics; with a nil Registerer they are
// kept but not exported.
func newMetrics(reg prometheus.Registerer, clients func() float64) *metrics {
	m := &metrics{
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redis_chaos_findings_total",
			Help: "Occurrences of unsafe client behaviour, by rule and severity.",
		}, []string{"rule", "severity"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redis_chaos_checker_events_dropped_total",
			Help: "Proxy events the checker dropped because its queue was full.",
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redis_chaos_checker_events_total",
			Help: "Proxy events the checker evaluated.",
		}),
	}
	// Every rule at its severity starts at zero, so rates work from the start.
	for _, r := range catalogue {
		m.findings.WithLabelValues(r.ID, string(r.Severity))
	}
	if reg == nil {
		return m
	}
	m.findings = register(reg, m.findings)
	m.dropped = register(reg, m.dropped)
	m.events = register(reg, m.events)
	register(reg, prometheus.Collector(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "redis_chaos_checker_clients",
		Help: "Clients the checker tracks.",
	}, clients)))
	return m
}

// register registers c, or returns the collector already registered under
// the same name (two checkers on one registry share their series).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
	}
	return c
}

func (m *metrics) finding(rule string, sev Severity) {
	m.findings.WithLabelValues(rule, string(sev)).Inc()
}
