package checker

import (
	"sort"
	"time"

	"github.com/redis-chaos/redis-chaos/proxy"
)

// Point is one second of one node's traffic.
type Point struct {
	Time      time.Time `json:"t"`         // start of the second
	Commands  int       `json:"commands"`  // commands completed (replies, and commands left without one)
	Errors    int       `json:"errors"`    // error replies other than redirects, commands left without a reply, connections reset
	Redirects int       `json:"redirects"` // MOVED and ASK replies (a cluster client follows them: not errors)
	Conns     int       `json:"conns"`     // connections opened
	Closes    int       `json:"closes"`    // connections closed
}

// NodeSeries is the traffic of one node in 1 s buckets.
type NodeSeries struct {
	Node   string  `json:"node"`   // real address
	Port   string  `json:"port"`   // proxy address clients used
	Points []Point `json:"points"` // one per second, without gaps
}

type bucket struct {
	sec                               int64
	cmds, errs, redirs, conns, closes uint32
}

type nodeBuckets struct {
	port string
	b    []bucket
}

// seriesStore keeps per-node rings of 1 s buckets.
type seriesStore struct {
	n     int
	max   int
	nodes map[string]*nodeBuckets
}

func newSeriesStore(length time.Duration, maxNodes int) *seriesStore {
	n := int(length / time.Second)
	if n < 1 {
		n = 1
	}
	return &seriesStore{n: n, max: maxNodes, nodes: map[string]*nodeBuckets{}}
}

// addCount adds n completed commands without errors at t.
func (s *seriesStore) addCount(node, port string, t time.Time, n int) {
	b := s.bucket(node, port, t)
	if b != nil {
		b.cmds += uint32(n)
	}
}

func (s *seriesStore) bucket(node, port string, t time.Time) *bucket {
	nb := s.nodes[node]
	if nb == nil {
		if len(s.nodes) >= s.max || node == "" {
			return nil
		}
		nb = &nodeBuckets{port: port, b: make([]bucket, s.n)}
		s.nodes[node] = nb
	}
	sec := t.Unix()
	b := &nb.b[int(sec%int64(s.n)+int64(s.n))%s.n]
	if b.sec != sec {
		*b = bucket{sec: sec}
	}
	return b
}

func (s *seriesStore) add(ev *proxy.Event) {
	t := ev.Time
	if ev.Type == proxy.EventCommand {
		t = t.Add(ev.Latency)
	}
	b := s.bucket(ev.Conn.Node, ev.Conn.Listen, t)
	if b == nil {
		return
	}
	switch ev.Type {
	case proxy.EventCommand:
		b.cmds++
		switch {
		case ev.Reply == '-' && isRedirect(ev.Err):
			b.redirs++
		case ev.Reply == '-' || ev.Reply == 0:
			b.errs++
		}
	case proxy.EventConnect:
		b.conns++
	case proxy.EventClose:
		b.closes++
		if proxySideFault(ev.Reason) {
			b.errs++ // reset by a fault, a down node or a failed upstream
		}
	}
}

// isRedirect reports MOVED and ASK error lines.
func isRedirect(errLine string) bool {
	return hasPrefix(errLine, "MOVED ") || hasPrefix(errLine, "ASK ")
}

// Series returns every node's traffic from from to to (whole seconds), one
// point per second, sorted by node address.
func (k *Checker) Series(from, to time.Time) []NodeSeries {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.series
	start, end := from.Unix(), to.Unix()
	if end-start+1 > int64(s.n) {
		start = end - int64(s.n) + 1
	}
	out := make([]NodeSeries, 0, len(s.nodes))
	for node, nb := range s.nodes {
		ns := NodeSeries{Node: node, Port: nb.port}
		for sec := start; sec <= end; sec++ {
			p := Point{Time: time.Unix(sec, 0).UTC()}
			b := nb.b[int(sec%int64(s.n)+int64(s.n))%s.n]
			if b.sec == sec {
				p.Commands, p.Errors, p.Redirects = int(b.cmds), int(b.errs), int(b.redirs)
				p.Conns, p.Closes = int(b.conns), int(b.closes)
			}
			ns.Points = append(ns.Points, p)
		}
		out = append(out, ns)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}
