package proxy

import (
	"testing"
	"time"
)

func TestLatencyBucket(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{0, 0}, {100 * time.Microsecond, 0}, {100*time.Microsecond + 1, 1},
		{time.Millisecond, 3}, {10 * time.Second, 15}, {10*time.Second + 1, 16}, {time.Hour, 16},
	} {
		if got := latencyBucket(tc.d); got != tc.want {
			t.Errorf("latencyBucket(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
	var l localLatency
	var nl nodeLatency
	l.observe(time.Millisecond, 3)
	l.observe(time.Hour, 1)
	l.flush(&nl)
	if nl.counts[3].Load() != 3 || nl.counts[16].Load() != 1 || nl.sumNs.Load() != int64(3*time.Millisecond+time.Hour) {
		t.Errorf("flush: counts %d/%d sum %d", nl.counts[3].Load(), nl.counts[16].Load(), nl.sumNs.Load())
	}
	if l.n != 0 || l.counts[3] != 0 || l.sumNs != 0 {
		t.Errorf("flush left %+v", l)
	}
}
