package proxy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The latency histogram of the data path. A prometheus Histogram costs an
// Observe (bucket search, three atomic adds) per command; here each
// connection counts its replies' latencies in a local array and adds it to
// the node's shared counts once per batch of replies (flushStats), and the
// shared counts are turned into a histogram only when /metrics is scraped.

// latencyBounds are the bucket upper bounds, in seconds (le).
var latencyBounds = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// latencyBoundsNs are the same bounds in nanoseconds.
var latencyBoundsNs = func() []int64 {
	ns := make([]int64, len(latencyBounds))
	for i, b := range latencyBounds {
		ns[i] = int64(b * 1e9)
	}
	return ns
}()

const latencyBuckets = 17 // len(latencyBounds) + the +Inf bucket

// latencyBucket is the index of the first bucket whose bound is ≥ d.
func latencyBucket(d time.Duration) int {
	ns := int64(d)
	for i, b := range latencyBoundsNs {
		if ns <= b {
			return i
		}
	}
	return len(latencyBoundsNs)
}

// nodeLatency is one node's shared counts (not cumulative; index =
// latencyBucket).
type nodeLatency struct {
	counts [latencyBuckets]atomic.Uint64
	sumNs  atomic.Int64
}

// localLatency is one connection's counts since its last flush.
type localLatency struct {
	counts [latencyBuckets]uint32
	sumNs  int64
	n      int
}

func (l *localLatency) observe(d time.Duration, n int) {
	l.counts[latencyBucket(d)] += uint32(n)
	l.sumNs += int64(d) * int64(n)
	l.n += n
}

// flush adds the local counts to the node's and clears them.
func (l *localLatency) flush(to *nodeLatency) {
	if l.n == 0 {
		return
	}
	for i, c := range l.counts {
		if c != 0 {
			to.counts[i].Add(uint64(c))
			l.counts[i] = 0
		}
	}
	to.sumNs.Add(l.sumNs)
	l.sumNs, l.n = 0, 0
}

// latencyVec is the redis_chaos_command_duration_seconds family, a
// prometheus.Collector.
type latencyVec struct {
	desc  *prometheus.Desc
	nodes sync.Map // node address → *nodeLatency
}

func newLatencyVec() *latencyVec {
	opts := prometheus.HistogramOpts{
		Name:    "redis_chaos_command_duration_seconds",
		Help:    "Time from a command read to its reply sent on, by real node.",
		Buckets: latencyBounds,
	}
	return &latencyVec{desc: prometheus.NewDesc(opts.Name, opts.Help, []string{"node"}, nil)}
}

func (v *latencyVec) node(addr string) *nodeLatency {
	if nl, ok := v.nodes.Load(addr); ok {
		return nl.(*nodeLatency)
	}
	nl, _ := v.nodes.LoadOrStore(addr, new(nodeLatency))
	return nl.(*nodeLatency)
}

func (v *latencyVec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

func (v *latencyVec) Collect(ch chan<- prometheus.Metric) {
	v.nodes.Range(func(k, val any) bool {
		nl := val.(*nodeLatency)
		buckets := make(map[float64]uint64, len(latencyBounds))
		var cum uint64
		for i, b := range latencyBounds {
			cum += nl.counts[i].Load()
			buckets[b] = cum
		}
		cum += nl.counts[len(latencyBounds)].Load()
		ch <- prometheus.MustNewConstHistogram(v.desc, cum, float64(nl.sumNs.Load())/1e9, buckets, k.(string))
		return true
	})
}
