package checker

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redis-chaos/redis-chaos/proxy"
)

// FaultWindow is one fault as the checker needs to know it: which nodes it
// touches and when. The chaos engine provides them through a FaultSource.
type FaultWindow struct {
	ID     string    `json:"id"`
	Action string    `json:"action"` // down, hang, latency, reset, error, failover, migrate, …
	Nodes  []string  `json:"nodes"`  // real addresses of the nodes the fault touches
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"` // zero while open-ended
	Detail string    `json:"detail,omitempty"`
}

// ActiveAt reports whether the window covers t.
func (w FaultWindow) ActiveAt(t time.Time) bool {
	return !t.Before(w.Start) && (w.End.IsZero() || t.Before(w.End))
}

// FaultSource tells the checker which faults are active. Active is called
// from the checker's goroutine about once per Config.Tick and per event that
// needs it; it must be cheap and must not block.
type FaultSource interface {
	Active(now time.Time) []FaultWindow
}

// FaultFunc adapts a function to FaultSource.
type FaultFunc func(now time.Time) []FaultWindow

// Active calls f.
func (f FaultFunc) Active(now time.Time) []FaultWindow { return f(now) }

// NodeSource tells the checker the nodes, their roles and proxy ports, as
// clients see them. *proxy.Server implements it (the real roles); the chaos
// engine can pass the virtual cluster's view.
type NodeSource interface {
	Nodes() []proxy.NodeInfo
}

// Thresholds holds every threshold of the catalogue. If zero, a default is
// used (shown in brackets).
type Thresholds struct {
	MovedFollow time.Duration // moved-ignored: a MOVED must be followed within this [2s]

	StaleMoved  int           // stale-slot-map: MOVED for one slot from one node … [3]
	StaleWindow time.Duration // … within this of the first [10s]

	AskWindow time.Duration // ask-updates-map: how long an ASK is remembered [10s]

	RefreshInterval   time.Duration // topology-refresh-storm: at most one read per this, sustained [2s]
	RefreshWindow     time.Duration // … over this window [10s]
	RefreshErrorRatio float64       // … or reads ≥ this × errors [0.8]
	RefreshMinErrors  int           // … with at least this many errors in the window [10]

	ReconnectRate     float64       // reconnect-storm: failed attempts per second to one node … [5]
	ReconnectWindow   time.Duration // … over this window [5s]
	ReconnectFailures int           // … or this many failures in a row at gaps that do not grow … [5]
	ReconnectMinGap   time.Duration // … all shorter than this [500ms]

	ImmediateResend time.Duration // no-backoff-retry: a resend this soon after the error is immediate [10ms]
	ResendRate      float64       // … more than this many immediate resends per second [10]
	ResendShare     float64       // … making up at least this share of the client's resends [0.5]

	CommandTimeout time.Duration // no-command-timeout [10s]

	RetryWindow time.Duration // unsafe-retry: an identical command this soon after an unknown outcome [5s]

	ProbeRate      float64       // health-check-fanout: probes per second per node … [1]
	ProbeWindow    time.Duration // … over this window [5s]
	FanoutMinNodes int           // … on at least this many nodes … [3]
	FanoutShare    float64       // … and at least this share of the known nodes [0.5]

	RestartShare         float64       // restart-on-single-fault: share of the client's connections closed … [0.8]
	RestartWindow        time.Duration // … within this window … [2s]
	RestartMinConns      int           // … out of at least this many [3]
	RestartMaxFaultNodes int           // … while faults touch at most this many nodes [1]
	RestartHandshake     time.Duration // … followed by a handshake within this [10s]

	CoverageWindow      time.Duration // full-coverage-required: no data command for this long … [5s]
	CoverageMinCommands int           // … from a client that sent at least this many in the window before [5]

	PipelineMax  int           // unbounded-pipeline: outstanding commands on one connection [1000]
	ReplayBurst  int           // … or this many outstanding … [100]
	ReplayWindow time.Duration // … within this of a reconnect [200ms]

	CrossSlotCount  int           // crossslot: this many CROSSSLOT replies … [3]
	CrossSlotWindow time.Duration // … within this window [10s]

	DesyncGap         time.Duration // reply-desync-risk: a handshake reply outstanding this long [500ms]
	HandshakeCommands int           // … among the first this many commands of a connection [8]
}

func (t *Thresholds) setDefaults() {
	dur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	num := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	flt := func(p *float64, d float64) {
		if *p == 0 {
			*p = d
		}
	}
	dur(&t.MovedFollow, 2*time.Second)
	num(&t.StaleMoved, 3)
	dur(&t.StaleWindow, 10*time.Second)
	dur(&t.AskWindow, 10*time.Second)
	dur(&t.RefreshInterval, 2*time.Second)
	dur(&t.RefreshWindow, 10*time.Second)
	flt(&t.RefreshErrorRatio, 0.8)
	num(&t.RefreshMinErrors, 10)
	flt(&t.ReconnectRate, 5)
	dur(&t.ReconnectWindow, 5*time.Second)
	num(&t.ReconnectFailures, 5)
	dur(&t.ReconnectMinGap, 500*time.Millisecond)
	dur(&t.ImmediateResend, 10*time.Millisecond)
	flt(&t.ResendRate, 10)
	flt(&t.ResendShare, 0.5)
	dur(&t.CommandTimeout, 10*time.Second)
	dur(&t.RetryWindow, 5*time.Second)
	flt(&t.ProbeRate, 1)
	dur(&t.ProbeWindow, 5*time.Second)
	num(&t.FanoutMinNodes, 3)
	flt(&t.FanoutShare, 0.5)
	flt(&t.RestartShare, 0.8)
	dur(&t.RestartWindow, 2*time.Second)
	num(&t.RestartMinConns, 3)
	num(&t.RestartMaxFaultNodes, 1)
	dur(&t.RestartHandshake, 10*time.Second)
	dur(&t.CoverageWindow, 5*time.Second)
	num(&t.CoverageMinCommands, 5)
	num(&t.PipelineMax, 1000)
	num(&t.ReplayBurst, 100)
	dur(&t.ReplayWindow, 200*time.Millisecond)
	num(&t.CrossSlotCount, 3)
	dur(&t.CrossSlotWindow, 10*time.Second)
	dur(&t.DesyncGap, 500*time.Millisecond)
	num(&t.HandshakeCommands, 8)
}

// Limits bound the checker's memory. If zero, a default is used.
type Limits struct {
	QueueSize      int           // events buffered between the data path and the checker [2048]
	MaxClients     int           // clients tracked; the least recently active without findings go first [1024]
	MaxConns       int           // connections tracked; events of others still count in the time series [65536]
	MaxSlots       int           // redirected slots remembered per client [256]
	MaxPending     int           // recent commands remembered per client for the retry rules [256]
	MaxEvidence    int           // evidence events per finding (the first half and the latest) [10]
	MaxFindings    int           // findings kept; later ones are counted in metrics only [4096]
	SeriesLength   time.Duration // time series kept per node, in 1 s buckets [1h]
	MaxSeriesNodes int           // nodes with a time series [256]
	ClientIdle     time.Duration // a client without connections or findings is forgotten after this [10m]
}

func (l *Limits) setDefaults() {
	if l.QueueSize == 0 {
		l.QueueSize = 2048
	}
	if l.MaxClients == 0 {
		l.MaxClients = 1024
	}
	if l.MaxConns == 0 {
		l.MaxConns = 65536
	}
	if l.MaxSlots == 0 {
		l.MaxSlots = 256
	}
	if l.MaxPending == 0 {
		l.MaxPending = 256
	}
	if l.MaxEvidence == 0 {
		l.MaxEvidence = 10
	}
	if l.MaxFindings == 0 {
		l.MaxFindings = 4096
	}
	if l.SeriesLength == 0 {
		l.SeriesLength = time.Hour
	}
	if l.MaxSeriesNodes == 0 {
		l.MaxSeriesNodes = 256
	}
	if l.ClientIdle == 0 {
		l.ClientIdle = 10 * time.Minute
	}
}

// Config configures a Checker. The zero value works: every rule on, default
// thresholds, no fault source (faults are then inferred from the events).
type Config struct {
	Thresholds Thresholds
	Limits     Limits
	// Disabled lists rule ids that are not evaluated.
	Disabled []string
	// Severities overrides the catalogue's severity of some rules.
	Severities map[string]Severity
	// RedactKeys drops keys from evidence (slots are kept).
	RedactKeys bool

	Faults FaultSource // active faults; nil infers them from fault-decided events and proxy-side closes
	Nodes  NodeSource  // roles and ports; nil learns ports from events and roles from READONLY+MOVED
	// FullCoverage reports the cluster's cluster-require-full-coverage:
	// when yes, a shard without a live node takes the whole cluster down
	// and no client can serve the other shards (full-coverage-required
	// does not apply). Nil: inferred from the replies (CLUSTERDOWN from a
	// node whose shard is up).
	FullCoverage func() bool

	Tick       time.Duration    // how often time-based rules are evaluated; if zero, 250ms
	Now        func() time.Time // clock of the time-based rules; if nil, time.Now
	Logger     *slog.Logger     // if nil, logs are discarded
	Registerer prometheus.Registerer
}
