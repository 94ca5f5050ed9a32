package proxy

import (
	"bufio"
	"io"
)

// replyWriter is where the reply loop writes for the client: a buffered
// writer, and a run of the primary upstream's read buffer that passes
// unchanged (pass), which is sent from there, without a copy, when nothing
// else is buffered. The run is valid until the next read from the node: the
// reply loop flushes before it reads.
type replyWriter struct {
	bw      *bufio.Writer // made at the first Write (an error, a rewritten, injected or streamed reply): passed replies never need it
	conn    io.Writer     // what bw writes to
	pending []byte
}

func (w *replyWriter) buf() *bufio.Writer {
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(w.conn, 16<<10)
	}
	return w.bw
}

// pass adds bytes of the upstream's read buffer, sent in order after what
// was written before.
func (w *replyWriter) pass(p []byte) {
	if len(p) == 0 {
		return
	}
	if n := len(w.pending); n > 0 {
		if cap(w.pending) >= n+len(p) && &w.pending[:n+1][n] == &p[0] {
			w.pending = w.pending[:n+len(p)]
			return
		}
		w.buf().Write(w.pending)
	}
	w.pending = p
}

func (w *replyWriter) Write(p []byte) (int, error) {
	bw := w.buf()
	if len(w.pending) > 0 {
		bw.Write(w.pending)
		w.pending = nil
	}
	return bw.Write(p)
}

func (w *replyWriter) Buffered() int {
	if w.bw == nil {
		return len(w.pending)
	}
	return w.bw.Buffered() + len(w.pending)
}

func (w *replyWriter) Flush() error {
	if p := w.pending; len(p) > 0 {
		w.pending = nil
		if w.bw == nil || w.bw.Buffered() == 0 {
			if w.bw != nil {
				if err := w.bw.Flush(); err != nil {
					return err // an earlier write failed: bufio keeps its error
				}
			}
			n, err := w.conn.Write(p)
			if err == nil && n < len(p) {
				err = io.ErrShortWrite
			}
			return err
		}
		w.bw.Write(p)
	}
	if w.bw == nil {
		return nil
	}
	return w.bw.Flush()
}

// outBuf collects the commands of a batch for the node. Commands that follow
// each other in the reader's buffer (a pipeline forwarded as it came) are sent
// from there, without a copy; the others are copied. Everything is sent
// before the reader reads again (send at the end of each batch).
type outBuf struct {
	own  []byte // copied commands
	span []byte // a run of the reader's buffer, while own is empty
	n    int    // commands
}

func (o *outBuf) add(raw []byte) {
	if len(raw) == 0 {
		return
	}
	o.n++
	if len(o.own) == 0 {
		n := len(o.span)
		if n == 0 {
			o.span = raw
			return
		}
		if cap(o.span) >= n+len(raw) && &o.span[:n+1][n] == &raw[0] {
			o.span = o.span[:n+len(raw)]
			return
		}
		o.own = append(o.own, o.span...)
		o.span = nil
	}
	o.own = append(o.own, raw...)
}

func (o *outBuf) size() int { return len(o.own) + len(o.span) }

func (o *outBuf) bytes() []byte {
	if len(o.own) > 0 {
		return o.own
	}
	return o.span
}

func (o *outBuf) reset() {
	o.span, o.n = nil, 0
	if cap(o.own) > 1<<20 {
		o.own = nil
	} else {
		o.own = o.own[:0]
	}
}
