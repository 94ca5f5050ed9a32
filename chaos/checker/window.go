package checker

import "time"

// counter counts events over a sliding window in fixed buckets: count is
// exact to one bucket (window/16), never counting beyond the window (the
// oldest bucket is left out once the window no longer covers all of it).
// Its memory does not depend on the rate.
type counter struct {
	width int64 // bucket width in ns
	n     int64 // buckets per window
	idx   [17]int64
	cnt   [17]uint32
}

func newCounter(window time.Duration) *counter {
	w := int64(window) / 16
	if w <= 0 {
		w = 1
	}
	return &counter{width: w, n: 16}
}

func (c *counter) add(t time.Time, n int) {
	b := t.UnixNano() / c.width
	i := b % int64(len(c.idx))
	if c.idx[i] != b {
		c.idx[i], c.cnt[i] = b, 0
	}
	c.cnt[i] += uint32(n)
}

// count returns the events in the window that ends at t.
func (c *counter) count(t time.Time) int {
	b := t.UnixNano() / c.width
	total := 0
	for i := range c.idx {
		if d := b - c.idx[i]; d >= 0 && d < c.n && c.cnt[i] > 0 {
			total += int(c.cnt[i])
		}
	}
	return total
}

// ring keeps the last n values.
type ring[T any] struct {
	buf  []T
	next int
	full bool
}

func newRing[T any](n int) *ring[T] { return &ring[T]{buf: make([]T, n)} }

func (r *ring[T]) push(v T) {
	r.buf[r.next] = v
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

func (r *ring[T]) len() int {
	if r.full {
		return len(r.buf)
	}
	return r.next
}

// at returns the i-th value, oldest first.
func (r *ring[T]) at(i int) T {
	if r.full {
		return r.buf[(r.next+i)%len(r.buf)]
	}
	return r.buf[i]
}

// last returns the i-th most recent value (0 is the newest).
func (r *ring[T]) last(i int) T { return r.at(r.len() - 1 - i) }

func (r *ring[T]) reset() {
	clear(r.buf)
	r.next, r.full = 0, false
}
