"""The conformance app's own wire log, for Python: every TCP socket the
library opens is a WireSocket, which writes one JSON line per event
(connection opened, refused, closed by the app or by the peer; each command
written; each reply read), in the format of test/clients/go/internal/wire.

Install it before the library opens any connection: wire.install(path).
"""

import errno
import itertools
import json
import socket
import threading
import time

MAX_ARGS = 16
MAX_ARG_LEN = 64


def now_us():
    return time.time_ns() // 1000


class Recorder:
    def __init__(self, path):
        self.f = open(path, "w", buffering=1 << 16)
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.on = True

    def log(self, **ev):
        if not self.on:
            return
        ev.setdefault("t", now_us())
        line = json.dumps(ev, separators=(",", ":"))
        with self.lock:
            self.f.write(line + "\n")

    def stop(self):
        self.on = False

    def close(self):
        self.stop()
        with self.lock:
            self.f.close()


class Parser:
    """Frames a byte stream into top-level RESP values."""

    def __init__(self):
        self.buf = b""
        self.broken = False

    def feed(self, data, emit):
        if self.broken or not data:
            return
        self.buf += data
        pos = 0
        while pos < len(self.buf):
            try:
                r = _parse(self.buf, pos, True)
            except ValueError:
                self.broken, self.buf = True, b""
                return
            if r is None:
                break
            v, pos = r
            if v["type"] != "|":
                emit(v)
        self.buf = self.buf[pos:]


def _line(b, pos):
    i = b.find(b"\r\n", pos)
    if i < 0:
        return None
    return b[pos:i], i + 2


def _clip(s, name):
    s = s[:MAX_ARG_LEN].decode("utf-8", "replace")
    return s.upper() if name else s


def _parse(b, pos, top):
    if pos >= len(b):
        return None
    t = chr(b[pos])
    if t in "+-:_,#(":
        r = _line(b, pos + 1)
        if r is None:
            return None
        return {"type": t, "str": r[0].decode("utf-8", "replace")}, r[1]
    if t in "$!=":
        r = _line(b, pos + 1)
        if r is None:
            return None
        n = int(r[0])
        nxt = r[1]
        if n < 0:
            return {"type": t, "str": ""}, nxt
        if len(b) < nxt + n + 2:
            return None
        s = b[nxt:nxt + n]
        v = {"type": t, "str": s.decode("utf-8", "replace"), "raw": s}
        if t == "!":
            v["str"] = s.split(b"\n")[0].rstrip(b"\r").decode("utf-8", "replace")
        return v, nxt + n + 2
    if t in "*%~>|":
        r = _line(b, pos + 1)
        if r is None:
            return None
        n = int(r[0])
        nxt = r[1]
        v = {"type": t, "n": max(n, 0), "args": []}
        items = 2 * n if t in "%|" else n
        for i in range(max(items, 0)):
            r = _parse(b, nxt, False)
            if r is None:
                return None
            e, nxt = r
            if top and t == "*" and e["type"] == "$" and len(v["args"]) < MAX_ARGS:
                v["args"].append(_clip(e.get("raw", b""), i == 0))
        if t == "|" and not top:
            return _parse(b, nxt, False)
        return v, nxt
    if not top:
        raise ValueError("bad RESP type %r" % t)
    r = _line(b, pos)
    if r is None:
        return None
    words = r[0].split()
    return {"type": "i", "n": len(words), "args": [_clip(w, i == 0) for i, w in enumerate(words[:MAX_ARGS])]}, r[1]


REC = None


def _dial_class(e):
    if isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED:
        return "refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    return "other"


class WireSocket(socket.socket):
    """A socket that logs what crosses it (TCP connections only)."""

    def connect(self, address):
        rec = REC
        if rec is None or self.type != socket.SOCK_STREAM:
            return super().connect(address)
        self._w_id = next(rec.ids)
        self._w_port = address[1]
        try:
            super().connect(address)
        except OSError as e:
            rec.log(c=self._w_id, k="dialerr", p=self._w_port, e=_dial_class(e))
            self._w_id = None
            raise
        self._w_out, self._w_in, self._w_closed = Parser(), Parser(), False
        rec.log(c=self._w_id, k="open", p=self._w_port)

    def _w(self):
        return getattr(self, "_w_id", None) is not None

    def _log_out(self, data):
        if self._w() and REC is not None:
            def emit(v):
                ev = {"c": self._w_id, "k": "cmd", "a": v.get("args", []), "th": threading.get_ident()}
                if v.get("n", 0) > len(ev["a"]) and len(ev["a"]) >= MAX_ARGS:
                    ev["n"] = v["n"]
                REC.log(**ev)
            self._w_out.feed(bytes(data), emit)

    def _log_in(self, data):
        def emit(v):
            ev = {"c": self._w_id, "k": "rep", "r": v["type"]}
            if v["type"] in "-!":
                ev["e"] = v["str"]
            elif v["type"] in ":+":
                ev["v"] = v["str"]
            REC.log(**ev)
        self._w_in.feed(bytes(data), emit)

    def _log_err(self, e):
        if not self._w() or REC is None or self._w_closed:
            return
        if isinstance(e, (socket.timeout, TimeoutError)):
            REC.log(c=self._w_id, k="rto")
        elif isinstance(e, ConnectionResetError):
            self._w_closed = True
            REC.log(c=self._w_id, k="reset")

    def sendall(self, data, *args):
        self._log_out(data)
        return super().sendall(data, *args)

    def send(self, data, *args):
        n = super().send(data, *args)
        self._log_out(memoryview(data)[:n])
        return n

    def recv(self, bufsize, *args):
        try:
            data = super().recv(bufsize, *args)
        except OSError as e:
            self._log_err(e)
            raise
        if self._w() and REC is not None:
            if data:
                self._log_in(data)
            elif not self._w_closed:
                self._w_closed = True
                REC.log(c=self._w_id, k="eof")
        return data

    def recv_into(self, buffer, nbytes=0, *args):
        try:
            n = super().recv_into(buffer, nbytes, *args)
        except OSError as e:
            self._log_err(e)
            raise
        if self._w() and REC is not None:
            if n:
                self._log_in(memoryview(buffer)[:n])
            elif not self._w_closed:
                self._w_closed = True
                REC.log(c=self._w_id, k="eof")
        return n

    def _app_close(self):
        if self._w() and REC is not None and not self._w_closed:
            self._w_closed = True
            REC.log(c=self._w_id, k="close")

    def shutdown(self, how):
        self._app_close()
        return super().shutdown(how)

    def close(self):
        self._app_close()
        return super().close()


def install(path):
    """Starts the log at path; every socket created afterwards is logged."""
    global REC
    REC = Recorder(path)
    socket.socket = WireSocket
    return REC
